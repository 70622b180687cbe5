-- Operational state of agent systems: workflow runs, a task queue, an append-only event log and
-- conversation messages.

CREATE TABLE ops.workflows (
    workflow_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- the listing's tie-breaker
    name text NOT NULL CHECK (name <> ''),
    description text,
    workflow_type text NOT NULL DEFAULT 'generic',
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    current_step integer NOT NULL DEFAULT 0 CHECK (current_step >= 0),
    total_steps integer CHECK (total_steps >= 0),
    completed_steps integer NOT NULL DEFAULT 0 CHECK (completed_steps >= 0),
    state_data jsonb NOT NULL DEFAULT '{}',
    step_results jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(step_results) = 'array'),
    assigned_agents text[] NOT NULL DEFAULT '{}',
    checkpoints jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(checkpoints) = 'array'),
    error text,
    error_count integer NOT NULL DEFAULT 0,
    metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    tags text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    completed_at timestamptz,
    deadline timestamptz
);
CREATE INDEX workflows_list_idx ON ops.workflows (created_at DESC, seq DESC);
CREATE INDEX workflows_status_idx ON ops.workflows (status, workflow_type, created_at DESC);
CREATE INDEX workflows_deadline_idx ON ops.workflows (deadline) WHERE status IN ('pending', 'running');

CREATE TABLE ops.task_executions (
    execution_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id uuid REFERENCES ops.workflows (workflow_id) ON DELETE SET NULL,
    agent_id text,
    task_name text NOT NULL CHECK (task_name <> ''),
    task_type text NOT NULL CHECK (task_type <> ''),
    priority integer NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    input_data jsonb NOT NULL DEFAULT '{}',
    output_data jsonb,
    error text,
    retry_count integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    max_retries integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    timeout_seconds integer NOT NULL DEFAULT 300 CHECK (timeout_seconds > 0),
    execution_time_ms integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    available_at timestamptz NOT NULL DEFAULT now(),  -- a retried task waits for its backoff
    started_at timestamptz,
    timeout_at timestamptz,
    completed_at timestamptz
);
-- a queue churns: vacuum it often, so that claims do not wade through claimed rows' index entries
ALTER TABLE ops.task_executions SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 500,
                                     autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX task_executions_queue_idx ON ops.task_executions (task_type, priority DESC, created_at)
    WHERE status = 'pending';
CREATE INDEX task_executions_timeout_idx ON ops.task_executions (timeout_at) WHERE status = 'running';
CREATE INDEX task_executions_workflow_idx ON ops.task_executions (workflow_id);
CREATE INDEX task_executions_completed_idx ON ops.task_executions (completed_at) WHERE status = 'completed';
CREATE INDEX task_executions_created_idx ON ops.task_executions (created_at);

CREATE TABLE ops.events (
    event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type text NOT NULL CHECK (event_type <> ''),
    entity_type text,
    entity_id text,
    workflow_id uuid,
    agent_id text,
    session_id text,
    source text,
    payload jsonb NOT NULL DEFAULT '{}',
    severity text NOT NULL DEFAULT 'info' CHECK (severity IN ('debug', 'info', 'warning', 'error', 'critical')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_created_idx ON ops.events (created_at);
CREATE INDEX events_type_idx ON ops.events (event_type, event_id);
CREATE INDEX events_workflow_idx ON ops.events (workflow_id, event_id) WHERE workflow_id IS NOT NULL;

CREATE TABLE ops.agent_playground_messages (
    message_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id text NOT NULL CHECK (instance_id <> ''),
    agent_id text,
    role text NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content text NOT NULL,
    tool_calls jsonb,
    is_error boolean NOT NULL DEFAULT false,
    metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_playground_messages_instance_idx ON ops.agent_playground_messages (instance_id, message_id);
CREATE INDEX agent_playground_messages_created_idx ON ops.agent_playground_messages (created_at);
