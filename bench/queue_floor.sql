-- The queue's floor (bench/peers.py installs it at run time, drops it at the end; never a migration).
-- The least a claim, a completion and an enqueue must do and keep the guarantees: the tenant guard first,
-- row level security that the application role cannot switch off, a SKIP LOCKED claim in key order
-- (priority, then age), a lease token set at the claim and checked at the completion, the attempt
-- number, the audit trail in an append-only event table with its feed (xid, id) and the feed's
-- announcement, the foreign key to a run. No input checks beyond the lease (the real API adds them).
--
-- Two layouts, one code: {tasks}/{events} are bench_floor's minimal tables (the same columns as
-- ops', only the indexes the guarantees need: queue, lease timeout, primary keys, the feed) or ops'
-- own tables (every index they have). Two trails: one event row per task and transition (ops'
-- design), or one row per statement carrying the task ids (the batch design the readers would have
-- to unpack). Called by a login of cdlstore_app with cdlstore.tenant set.

CREATE SCHEMA bench_floor AUTHORIZATION cdlstore_owner;
SET ROLE cdlstore_owner;

CREATE TABLE bench_floor.tasks (
    execution_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id uuid REFERENCES ops.workflows ON DELETE SET NULL,
    agent_id text,
    task_name text NOT NULL,
    task_type text NOT NULL,
    priority integer NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'pending',
    input_data jsonb NOT NULL DEFAULT '{}',
    output_data jsonb,
    error text,
    retry_count integer NOT NULL DEFAULT 0,
    max_retries integer NOT NULL DEFAULT 3,
    timeout_seconds integer NOT NULL DEFAULT 300,
    execution_time_ms bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    available_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    timeout_at timestamptz,
    completed_at timestamptz,
    tenant text NOT NULL DEFAULT cdlstore_internal.default_tenant(),
    lease_token uuid
);
CREATE INDEX ON bench_floor.tasks (task_type, priority DESC, created_at) WHERE status = 'pending';
CREATE INDEX ON bench_floor.tasks (timeout_at) WHERE status = 'running';  -- lapsed leases

CREATE TABLE bench_floor.events (
    event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type text NOT NULL,
    entity_type text,
    entity_id text,
    workflow_id uuid,
    agent_id text,
    session_id text,
    source text,
    payload jsonb NOT NULL DEFAULT '{}',
    severity text NOT NULL DEFAULT 'info',
    created_at timestamptz NOT NULL DEFAULT now(),
    tenant text NOT NULL DEFAULT cdlstore_internal.default_tenant(),
    xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX ON bench_floor.events (xid, event_id);  -- the committed-only feed
CREATE TRIGGER events_append_only BEFORE DELETE OR UPDATE ON bench_floor.events
    FOR EACH ROW EXECUTE FUNCTION ops._refuse_change();

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['bench_floor.tasks', 'bench_floor.events'] LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %s
            USING (tenant = cdlstore_internal.call_tenant() OR cdlstore_internal.call_tenant() = '*')
            WITH CHECK (tenant = nullif(cdlstore_internal.call_tenant(), '*'))$p$, t);
    END LOOP;
END
$$;
GRANT USAGE ON SCHEMA bench_floor TO cdlstore_app;

-- {name} {tasks} {events} {claim_event} {done_event} {enqueue_event}: filled in by bench/peers.py for each variant
-- (the text between the FUNCTIONS marker and the end, once per variant)
-- FUNCTIONS
CREATE FUNCTION bench_floor.claim_{name}(agent_id text, task_types text[], max_count integer)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = bench_floor, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();
    claimed jsonb;
BEGIN
    WITH taken AS (
        UPDATE {tasks} t
        SET status = 'running', agent_id = agent_id, started_at = clock_timestamp(),
            timeout_at = clock_timestamp() + make_interval(secs => t.timeout_seconds),
            lease_token = gen_random_uuid()
        WHERE t.execution_id = ANY (ARRAY(
            SELECT x.execution_id FROM {tasks} x
            WHERE x.status = 'pending' AND x.task_type = task_types[1] AND x.available_at <= clock_timestamp()
            ORDER BY x.priority DESC, x.created_at
            LIMIT max_count
            FOR UPDATE SKIP LOCKED))
        RETURNING t AS doc, t.execution_id, t.workflow_id, t.agent_id, t.retry_count, t.priority, t.created_at
    ), logged AS (
        INSERT INTO {events} (event_type, entity_type, entity_id, workflow_id, agent_id, source, payload, severity)
        {claim_event}
    )
    SELECT coalesce(jsonb_agg(x.doc ORDER BY x.priority DESC, x.created_at), '[]') INTO claimed FROM taken x;
    IF claimed <> '[]' THEN
        PERFORM cdlstore_internal.feed_announce();
    END IF;
    RETURN claimed;
END
$$;

CREATE FUNCTION bench_floor.complete_{name}(execution_id uuid, lease_token uuid, output jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = bench_floor, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();
    result jsonb;
BEGIN
    PERFORM cdlstore_internal.feed_announce();
    WITH done AS (
        UPDATE {tasks} x
        SET status = 'completed', output_data = output, completed_at = clock_timestamp(), timeout_at = NULL,
            lease_token = NULL,
            execution_time_ms = round(extract(epoch FROM clock_timestamp() - x.started_at) * 1000)::bigint
        WHERE x.execution_id = execution_id AND x.lease_token = lease_token
        RETURNING x.*
    ), logged AS (
        INSERT INTO {events} (event_type, entity_type, entity_id, workflow_id, agent_id, source, payload, severity)
        {done_event}
    )
    SELECT to_jsonb(d) - 'lease_token' INTO result FROM done d;
    IF result IS NULL THEN
        RAISE EXCEPTION 'the lease on task % is not held by this token', execution_id USING ERRCODE = 'CD003';
    END IF;
    RETURN result;
END
$$;

CREATE FUNCTION bench_floor.complete_batch_{name}(completions jsonb)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = bench_floor, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();
    held integer;
BEGIN
    PERFORM cdlstore_internal.feed_announce();
    WITH c AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset(completions) AS c (execution_id uuid, lease_token uuid, output jsonb)
    ), done AS (
        UPDATE {tasks} x
        SET status = 'completed', output_data = c.output, completed_at = clock_timestamp(), timeout_at = NULL,
            lease_token = NULL,
            execution_time_ms = round(extract(epoch FROM clock_timestamp() - x.started_at) * 1000)::bigint
        FROM c
        WHERE x.execution_id = c.execution_id AND x.lease_token = c.lease_token
        RETURNING x.*
    ), logged AS (
        INSERT INTO {events} (event_type, entity_type, entity_id, workflow_id, agent_id, source, payload, severity)
        {done_event}
    )
    SELECT count(*) INTO held FROM done;
    -- a stale token or a repeated id: fewer rows than asked for, and nothing stays
    IF held <> jsonb_array_length(completions) THEN
        RAISE EXCEPTION 'a lease in the batch is not held by its token' USING ERRCODE = 'CD003';
    END IF;
    RETURN held;
END
$$;

-- no input checks (the real one checks every field); ids drawn by gen_random_uuid() (the real
-- one's carry the creation time and the shard's routing hash), in no promised order
CREATE FUNCTION bench_floor.enqueue_{name}(tasks jsonb)
RETURNS uuid[]
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = bench_floor, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();
    ids uuid[];
BEGIN
    PERFORM cdlstore_internal.feed_announce();
    WITH queued AS (
        INSERT INTO {tasks} (execution_id, task_name, task_type, input_data, priority, max_retries,
                             timeout_seconds, available_at)
        SELECT gen_random_uuid(), t.task_name, t.task_type, coalesce(t.input_data, '{}'), coalesce(t.priority, 0),
               coalesce(t.max_retries, 3), coalesce(t.timeout_seconds, 300), coalesce(t.available_at, now())
        FROM jsonb_to_recordset(tasks) AS t (task_name text, task_type text, input_data jsonb, priority integer,
                                             max_retries integer, timeout_seconds integer, available_at timestamptz)
        RETURNING execution_id, workflow_id, task_type
    ), logged AS (
        INSERT INTO {events} (event_type, entity_type, entity_id, workflow_id, agent_id, source, payload, severity)
        {enqueue_event}
    )
    SELECT array_agg(q.execution_id) INTO ids FROM queued q;
    PERFORM pg_notify('cdlstore_tasks', '');
    RETURN ids;
END
$$;

REVOKE ALL ON FUNCTION bench_floor.claim_{name}(text, text[], integer),
    bench_floor.complete_{name}(uuid, uuid, jsonb), bench_floor.complete_batch_{name}(jsonb),
    bench_floor.enqueue_{name}(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bench_floor.claim_{name}(text, text[], integer),
    bench_floor.complete_{name}(uuid, uuid, jsonb), bench_floor.complete_batch_{name}(jsonb),
    bench_floor.enqueue_{name}(jsonb) TO cdlstore_app;
