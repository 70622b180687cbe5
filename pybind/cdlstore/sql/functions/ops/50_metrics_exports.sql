-- Metrics and the day-by-day training-data exports.

CREATE OR REPLACE FUNCTION ops.metrics()
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN jsonb_build_object(
        'workflows_by_status', (SELECT coalesce(jsonb_object_agg(s.status, s.n), '{}')
                                FROM (SELECT w.status, count(*) AS n FROM ops.workflows w GROUP BY 1) s),
        'tasks_by_status', (SELECT coalesce(jsonb_object_agg(s.status, s.n), '{}')
                            FROM (SELECT t.status, count(*) AS n FROM ops.task_executions t GROUP BY 1) s),
        'task_retries_total', (SELECT coalesce(sum(t.retry_count), 0) FROM ops.task_executions t),
        'task_error_rate', (SELECT coalesce(round(count(*) FILTER (WHERE t.status = 'failed')::numeric
                                                  / nullif(count(*), 0), 4), 0)
                            FROM ops.task_executions t WHERE t.status IN ('completed', 'failed')),
        'queue_depth', (SELECT count(*) FROM ops.task_executions t
                        WHERE t.status = 'pending'),
        'oldest_pending_age_seconds', (SELECT coalesce(extract(epoch FROM now() - min(t.created_at)), 0)
                                       FROM ops.task_executions t WHERE t.status = 'pending'),
        'task_execution_ms', (SELECT jsonb_build_object(
                                  'p50', percentile_cont(0.5) WITHIN GROUP (ORDER BY t.execution_time_ms),
                                  'p90', percentile_cont(0.9) WITHIN GROUP (ORDER BY t.execution_time_ms),
                                  'p99', percentile_cont(0.99) WITHIN GROUP (ORDER BY t.execution_time_ms))
                              FROM ops.task_executions t
                              WHERE t.status = 'completed' AND t.completed_at > now() - interval '1 hour'),
        -- event ids count up by one, on a shard by 1024 (cdl.set_shard_identity)
        'events_total', (SELECT coalesce(max(e.event_id) / CASE WHEN EXISTS (SELECT FROM cdlstore_internal.shard_identity) THEN 1024 ELSE 1 END, 0)
                         FROM ops.events e));
END
$$;

COMMENT ON FUNCTION ops.metrics() IS
    'Gauges and counters: runs and tasks by status, retries, error rate, queue depth, age of the '
    'oldest pending task, task execution time percentiles (last hour), events.';

CREATE OR REPLACE FUNCTION ops._day(day date)
RETURNS tstzrange
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = ops, pg_temp
AS $$
BEGIN
    IF day IS NULL THEN
        RAISE EXCEPTION 'an export needs a day' USING ERRCODE = 'CD001';
    END IF;
    RETURN tstzrange(day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
END
$$;

COMMENT ON FUNCTION ops._day(date) IS 'The UTC day an export covers.';

CREATE OR REPLACE FUNCTION ops.export_events(day date)
RETURNS SETOF ops.events
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
    SELECT * FROM ops.events e WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
      AND e.created_at <@ ops._day(day) ORDER BY e.event_id
$$;

COMMENT ON FUNCTION ops.export_events(date) IS 'The events of a UTC day, for COPY ... TO STDOUT.';

CREATE OR REPLACE FUNCTION ops.export_tasks(day date)
RETURNS SETOF ops.task_executions
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
    SELECT * FROM ops.task_executions t WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
      AND t.created_at <@ ops._day(day) ORDER BY t.created_at, t.execution_id
$$;

COMMENT ON FUNCTION ops.export_tasks(date) IS 'The tasks created on a UTC day, for COPY ... TO STDOUT.';

CREATE OR REPLACE FUNCTION ops.export_workflows(day date)
RETURNS SETOF ops.workflows
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
    SELECT * FROM ops.workflows w WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
      AND w.created_at <@ ops._day(day) ORDER BY w.seq
$$;

COMMENT ON FUNCTION ops.export_workflows(date) IS 'The workflow runs created on a UTC day, for COPY ... TO STDOUT.';

CREATE OR REPLACE FUNCTION ops.export_messages(day date)
RETURNS SETOF ops.agent_playground_messages
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
    SELECT * FROM ops.agent_playground_messages m WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
      AND m.created_at <@ ops._day(day) ORDER BY m.message_id
$$;

COMMENT ON FUNCTION ops.export_messages(date) IS 'The conversation messages of a UTC day, for COPY ... TO STDOUT.';

CREATE OR REPLACE FUNCTION ops.export_source(kind text, format text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    IF kind IS NULL OR kind <> ALL (ARRAY['events', 'tasks', 'workflows', 'messages']) THEN
        RAISE EXCEPTION 'unknown export kind: %', coalesce(kind, 'NULL') USING ERRCODE = 'CD001',
            HINT = 'The kinds are events, tasks, workflows and messages.';
    END IF;
    IF format IS NULL OR format <> ALL (ARRAY['csv', 'jsonl']) THEN
        RAISE EXCEPTION 'unknown export format: %', coalesce(format, 'NULL') USING ERRCODE = 'CD001',
            HINT = 'The formats are csv and jsonl.';
    END IF;
    RETURN 'ops.export_' || kind;
END
$$;

COMMENT ON FUNCTION ops.export_source(text, text) IS
    'The one list of exports: the function (ops.export_<kind>) whose rows an export of kind streams '
    'with COPY in format (csv or jsonl); CD001 for any other kind or format, before anything is read.';
