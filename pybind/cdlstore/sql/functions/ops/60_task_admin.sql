-- Looking at and steering the queue by hand (the CLI's `ops tasks`): list, retry, cancel.

CREATE OR REPLACE FUNCTION ops._task_for_change(p_id uuid, p_from text[], p_change text)
RETURNS ops.task_executions
LANGUAGE plpgsql
SET search_path = ops, pg_temp
AS $$
DECLARE
    t ops.task_executions;
BEGIN
    IF p_id IS NULL THEN
        RAISE EXCEPTION 'execution_id is required' USING ERRCODE = 'CD001';
    END IF;
    SELECT * INTO t FROM ops.task_executions x WHERE x.execution_id = p_id FOR UPDATE;
    IF t.execution_id IS NULL THEN
        RAISE EXCEPTION 'task % not found', p_id USING ERRCODE = 'CD002';
    ELSIF NOT t.status = ANY (p_from) THEN
        RAISE EXCEPTION 'task % is %: only a % task can be %', p_id, t.status,
            array_to_string(p_from, ' or '), p_change USING ERRCODE = 'CD004';
    END IF;
    RETURN t;
END
$$;

COMMENT ON FUNCTION ops._task_for_change(uuid, text[], text) IS
    'Lock a task that must be in one of the given states (CD001 without an id, CD002, CD004).';

CREATE OR REPLACE FUNCTION ops.list_tasks(
    status text DEFAULT NULL, task_type text DEFAULT NULL, workflow_id uuid DEFAULT NULL,
    max_count integer DEFAULT 50, before timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    result jsonb;
BEGIN
    PERFORM cdlstore_internal.check_page(max_count);
    IF status IS NOT NULL AND status NOT IN ('pending', 'running', 'completed', 'failed', 'cancelled') THEN
        RAISE EXCEPTION 'invalid status %', quote_literal(status) USING ERRCODE = 'CD001',
            DETAIL = 'Allowed: pending, running, completed, failed, cancelled.';
    END IF;
    SELECT coalesce(jsonb_agg(ops._task_json(t) ORDER BY t.created_at DESC, t.execution_id), '[]') INTO result
    FROM (SELECT * FROM ops.task_executions t
          WHERE (status IS NULL OR t.status = status)
            AND (task_type IS NULL OR t.task_type = task_type)
            AND (workflow_id IS NULL OR t.workflow_id = workflow_id)
            AND (before IS NULL OR t.created_at < before)
          ORDER BY t.created_at DESC, t.execution_id LIMIT max_count) AS t;
    RETURN result;
END
$$;

COMMENT ON FUNCTION ops.list_tasks(text, text, uuid, integer, timestamptz) IS
    'Tasks, newest first, by status, type and workflow run; at most max_count (1..1000), created before '
    '`before` when given (the created_at of the last one seen: the next page).';

CREATE OR REPLACE FUNCTION ops.retry_task(execution_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    t ops.task_executions;
BEGIN
    t := ops._task_for_change(execution_id, '{failed,cancelled}', 'retried');
    UPDATE ops.task_executions x
    SET status = 'pending', retry_count = 0, available_at = now(), agent_id = NULL, error = NULL,
        output_data = NULL, started_at = NULL, timeout_at = NULL, completed_at = NULL, execution_time_ms = NULL,
        lease_token = NULL
    WHERE x.execution_id = t.execution_id
    RETURNING * INTO t;
    PERFORM ops._event('task_retried', 'task', t.execution_id::text, t.workflow_id, NULL, NULL, 'ops',
                       jsonb_build_object('task_type', t.task_type), 'info', false);
    RETURN ops._task_json(t);
END
$$;

COMMENT ON FUNCTION ops.retry_task(uuid) IS
    'Queue a failed or cancelled task again, now, with its retries starting over. CD002 when unknown, '
    'CD004 when it is pending, running or completed.';

CREATE OR REPLACE FUNCTION ops.cancel_task(execution_id uuid, reason text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    t ops.task_executions;
BEGIN
    IF length(reason) > 1000 THEN
        RAISE EXCEPTION 'reason is longer than 1000 characters' USING ERRCODE = 'CD007';
    END IF;
    t := ops._task_for_change(execution_id, '{pending,running}', 'cancelled');
    UPDATE ops.task_executions x
    SET status = 'cancelled', error = coalesce(nullif(btrim(reason), ''), 'cancelled'), completed_at = now(),
        timeout_at = NULL, lease_token = NULL  -- its worker's lease ends: complete/fail get CD003
    WHERE x.execution_id = t.execution_id
    RETURNING * INTO t;
    PERFORM ops._event('task_cancelled', 'task', t.execution_id::text, t.workflow_id, NULL, NULL, 'ops',
                       jsonb_build_object('task_type', t.task_type, 'reason', t.error), 'info', false);
    RETURN ops._task_json(t);
END
$$;

COMMENT ON FUNCTION ops.cancel_task(uuid, text) IS
    'Cancel a pending or running task (its lease ends: the worker''s complete or fail gets CD003). '
    'CD002 when unknown, CD004 when it has ended already.';
