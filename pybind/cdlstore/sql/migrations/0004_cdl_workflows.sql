-- Character workflows: YAML-defined state machines with per-user instances.
-- Definitions (files, workflows, states, transitions, triggers, extractors, lookup tables) are
-- small and can be copied to every node; instances and the execution log are per user.

CREATE TABLE cdl.workflow_files (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    character_id bigint NOT NULL REFERENCES cdl.characters (id) ON DELETE CASCADE,
    file_version integer NOT NULL CHECK (file_version > 0),
    format_version varchar(20),
    description text,
    config jsonb NOT NULL,       -- workflow_priority, concurrent_workflows, max_pending_per_user, ...
    content_hash text NOT NULL,
    imported_by varchar(200),
    imported_at timestamptz NOT NULL DEFAULT now(),
    is_current boolean NOT NULL DEFAULT true,
    UNIQUE (character_id, file_version)
);
CREATE UNIQUE INDEX workflow_files_current_idx ON cdl.workflow_files (character_id) WHERE is_current;

CREATE TABLE cdl.character_workflows (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    character_id bigint NOT NULL REFERENCES cdl.characters (id) ON DELETE CASCADE,
    file_id bigint NOT NULL REFERENCES cdl.workflow_files (id),
    workflow_name varchar(100) NOT NULL,
    definition_version integer NOT NULL CHECK (definition_version > 0),
    content_hash text NOT NULL,
    description text,
    sort_order integer NOT NULL,          -- position in the file
    initial_state varchar(100) NOT NULL,
    on_trigger_action varchar(50),
    context_required jsonb NOT NULL DEFAULT '[]',
    validation_rules jsonb NOT NULL DEFAULT '[]',
    llm_validation jsonb NOT NULL DEFAULT '{"enabled": false}',
    system_prompt_addition text,
    keyword_regex text,                   -- all trigger keywords as one whole-word alternation
    definition jsonb NOT NULL,            -- the workflow as imported
    is_current boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (character_id, workflow_name, definition_version)
);
CREATE UNIQUE INDEX character_workflows_current_idx ON cdl.character_workflows (character_id, workflow_name)
    WHERE is_current;

CREATE TABLE cdl.workflow_triggers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id bigint NOT NULL REFERENCES cdl.character_workflows (id) ON DELETE CASCADE,
    trigger_type cdl.workflow_trigger_enum NOT NULL,
    trigger_value text NOT NULL,
    required_literal text,                -- lower-case text every match of the pattern contains
    sort_order integer NOT NULL,
    UNIQUE (workflow_id, trigger_type, sort_order)
);

CREATE TABLE cdl.workflow_states (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id bigint NOT NULL REFERENCES cdl.character_workflows (id) ON DELETE CASCADE,
    state_name varchar(100) NOT NULL,
    description text,
    prompt_injection text,
    is_final boolean NOT NULL DEFAULT false,
    timeout_seconds integer CHECK (timeout_seconds > 0),
    timeout_action varchar(50),
    timeout_message text,
    sort_order integer NOT NULL,
    UNIQUE (workflow_id, state_name)
);

CREATE TABLE cdl.workflow_transitions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id bigint NOT NULL REFERENCES cdl.character_workflows (id) ON DELETE CASCADE,
    from_state varchar(100) NOT NULL,
    to_state varchar(100) NOT NULL,
    patterns text[] NOT NULL DEFAULT '{}',
    keywords text[] NOT NULL DEFAULT '{}',
    pattern_regex text,
    keyword_regex text,
    action varchar(50),
    sort_order integer NOT NULL,
    UNIQUE (workflow_id, from_state, sort_order)
);

CREATE TABLE cdl.workflow_context_extractors (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id bigint NOT NULL REFERENCES cdl.character_workflows (id) ON DELETE CASCADE,
    context_key varchar(100) NOT NULL,
    extractor_type cdl.context_extractor_enum NOT NULL,
    config jsonb NOT NULL DEFAULT '{}',   -- group, default, transform, table, key, value
    sort_order integer NOT NULL,
    UNIQUE (workflow_id, context_key)
);

CREATE TABLE cdl.workflow_lookup_tables (
    file_id bigint NOT NULL REFERENCES cdl.workflow_files (id) ON DELETE CASCADE,
    table_name varchar(100) NOT NULL,
    entries jsonb NOT NULL CHECK (jsonb_typeof(entries) = 'object'),
    PRIMARY KEY (file_id, table_name)
);

CREATE TABLE cdl.workflow_instances (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id varchar(200) NOT NULL,
    character_id bigint NOT NULL REFERENCES cdl.characters (id) ON DELETE CASCADE,
    workflow_id bigint NOT NULL REFERENCES cdl.character_workflows (id),
    current_state varchar(100) NOT NULL,
    status cdl.workflow_status_enum NOT NULL DEFAULT 'active',
    context jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(context) = 'object'),
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    timeout_at timestamptz,
    completed_at timestamptz
);
CREATE INDEX workflow_instances_user_idx ON cdl.workflow_instances (user_id, character_id)
    WHERE status = 'active';
CREATE INDEX workflow_instances_timeout_idx ON cdl.workflow_instances (timeout_at)
    WHERE status = 'active' AND timeout_at IS NOT NULL;
CREATE INDEX workflow_instances_user_all_idx ON cdl.workflow_instances (user_id, id);

CREATE TABLE cdl.workflow_execution_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id bigint NOT NULL REFERENCES cdl.workflow_instances (id) ON DELETE CASCADE,
    user_id varchar(200) NOT NULL,
    event_type cdl.workflow_event_enum NOT NULL,
    from_state varchar(100),
    to_state varchar(100),
    message text,
    details jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_execution_log_instance_idx ON cdl.workflow_execution_log (instance_id, id);
CREATE INDEX workflow_execution_log_user_idx ON cdl.workflow_execution_log (user_id, id);

-- Analytics gain the workflow count.
DROP MATERIALIZED VIEW cdl.character_analytics;
CREATE MATERIALIZED VIEW cdl.character_analytics AS
SELECT c.id AS character_id,
       c.normalized_name,
       c.status,
       c.archetype,
       (SELECT count(*) FROM cdl.character_field_values v WHERE v.character_id = c.id) AS field_count,
       (SELECT count(*) FROM cdl.character_knowledge k WHERE k.character_id = c.id) AS knowledge_count,
       (SELECT count(*) FROM cdl.communication_patterns p WHERE p.character_id = c.id) AS pattern_count,
       (SELECT count(*) FROM cdl.response_templates t WHERE t.character_id = c.id) AS template_count,
       c.version_count,
       (SELECT count(*) FROM cdl.character_workflows w
        WHERE w.character_id = c.id AND w.is_current) AS workflow_count,
       greatest(c.updated_at, (SELECT max(l.created_at) FROM cdl.character_change_log l
                                WHERE l.character_id = c.id)) AS last_change_at
FROM cdl.characters c;
CREATE UNIQUE INDEX character_analytics_character_idx ON cdl.character_analytics (character_id);
