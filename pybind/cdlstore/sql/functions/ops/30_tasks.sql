-- The task queue: priority then age, SKIP LOCKED claims, retries with exponential backoff.

CREATE OR REPLACE FUNCTION ops._task_json(t ops.task_executions)
RETURNS jsonb
LANGUAGE sql
STABLE  -- as to_jsonb is, so that it is inlined
AS $$
    SELECT to_jsonb(t)
$$;

COMMENT ON FUNCTION ops._task_json(ops.task_executions) IS 'A task as the API returns it.';

CREATE OR REPLACE FUNCTION ops._enqueue(
    p_name text, p_type text, p_input jsonb, p_priority integer, p_workflow uuid, p_max_retries integer,
    p_timeout integer, p_available_at timestamptz)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = ops, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    IF coalesce(btrim(p_name), '') = '' OR coalesce(btrim(p_type), '') = '' THEN
        RAISE EXCEPTION 'task_name and task_type must not be empty' USING ERRCODE = 'CD001';
    END IF;
    IF p_input IS NULL OR p_priority IS NULL OR p_max_retries IS NULL OR p_max_retries < 0
       OR p_timeout IS NULL OR p_timeout < 1 THEN
        RAISE EXCEPTION 'input_data and priority are required; max_retries >= 0; timeout_seconds >= 1'
            USING ERRCODE = 'CD001';
    END IF;
    -- the foreign key would see every tenant's runs (and refuse an unknown one with 23503)
    IF p_workflow IS NOT NULL AND NOT EXISTS (SELECT FROM ops.workflows w WHERE w.workflow_id = p_workflow) THEN
        RAISE EXCEPTION 'workflow % not found', p_workflow USING ERRCODE = 'CD002';
    END IF;
    INSERT INTO ops.task_executions (task_name, task_type, input_data, priority, workflow_id, max_retries,
                                     timeout_seconds, available_at)
    VALUES (p_name, p_type, p_input, p_priority, p_workflow, p_max_retries, p_timeout, coalesce(p_available_at, now()))
    RETURNING execution_id INTO v_id;
    PERFORM ops._event('task_enqueued', 'task', v_id::text, p_workflow, NULL, NULL, 'ops',
                       jsonb_build_object('task_type', p_type), 'info', false);
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION ops._enqueue(text, text, jsonb, integer, uuid, integer, integer, timestamptz) IS
    'Queue one task, checked, with its event.';

CREATE OR REPLACE FUNCTION ops.enqueue_task(
    task_name text, task_type text, input_data jsonb DEFAULT '{}', priority integer DEFAULT 0,
    workflow_id uuid DEFAULT NULL, max_retries integer DEFAULT 3, timeout_seconds integer DEFAULT 300,
    available_at timestamptz DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN ops._enqueue(task_name, task_type, input_data, priority, workflow_id, max_retries, timeout_seconds,
                        available_at);
END
$$;

COMMENT ON FUNCTION ops.enqueue_task(text, text, jsonb, integer, uuid, integer, integer, timestamptz) IS
    'Queue a task (available now or at available_at). Returns its execution id.';

CREATE OR REPLACE FUNCTION ops.enqueue_tasks(tasks jsonb)
RETURNS uuid[]
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF tasks IS NULL OR jsonb_typeof(tasks) <> 'array' OR jsonb_array_length(tasks) > 1000
       OR EXISTS (SELECT FROM jsonb_array_elements(tasks) t WHERE jsonb_typeof(t) <> 'object') THEN
        RAISE EXCEPTION 'tasks must be a list of at most 1000 objects' USING ERRCODE = 'CD001';
    END IF;
    RETURN ARRAY(
        SELECT ops._enqueue(t.value ->> 'task_name', t.value ->> 'task_type', coalesce(t.value -> 'input_data', '{}'),
                            coalesce((t.value ->> 'priority')::integer, 0), (t.value ->> 'workflow_id')::uuid,
                            coalesce((t.value ->> 'max_retries')::integer, 3),
                            coalesce((t.value ->> 'timeout_seconds')::integer, 300),
                            (t.value ->> 'available_at')::timestamptz)
        FROM jsonb_array_elements(tasks) WITH ORDINALITY AS t ORDER BY t.ordinality);
EXCEPTION WHEN invalid_text_representation OR datetime_field_overflow OR invalid_datetime_format
               OR numeric_value_out_of_range THEN
    RAISE EXCEPTION 'a task has a field of the wrong type: %', SQLERRM USING ERRCODE = 'CD001';
END
$$;

COMMENT ON FUNCTION ops.enqueue_tasks(jsonb) IS
    'Queue a batch of tasks ([{task_name, task_type, input_data, priority, ...}]) in one transaction; '
    'all or none. Returns their ids in order.';

CREATE OR REPLACE FUNCTION ops.claim_tasks(agent_id text, task_types text[], max_count integer DEFAULT 1)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    claimed jsonb;
BEGIN
    IF coalesce(btrim(agent_id), '') = '' OR task_types IS NULL OR cardinality(task_types) = 0
       OR max_count IS NULL OR max_count NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'agent_id, at least one task type and max_count between 1 and 1000 are required'
            USING ERRCODE = 'CD001';
    END IF;
    -- highest priority first, then oldest; a row another worker holds is skipped, never waited for
    -- (one ordered index scan per type: "= ANY" would sort the whole queue)
    WITH next AS (
        SELECT t.execution_id
        FROM unnest(task_types) AS wanted (task_type)
        CROSS JOIN LATERAL (
            SELECT x.execution_id, x.priority, x.created_at FROM ops.task_executions x
            WHERE x.status = 'pending' AND x.task_type = wanted.task_type
              AND x.available_at <= clock_timestamp()  -- not now(): a task enqueued meanwhile counts
            ORDER BY x.priority DESC, x.created_at
            LIMIT max_count
            FOR UPDATE SKIP LOCKED) AS t
        ORDER BY t.priority DESC, t.created_at
        LIMIT max_count
    ), taken AS (
        UPDATE ops.task_executions t
        SET status = 'running', agent_id = claim_tasks.agent_id, started_at = clock_timestamp(),
            timeout_at = clock_timestamp() + make_interval(secs => t.timeout_seconds)
        FROM next WHERE t.execution_id = next.execution_id
        RETURNING ops._task_json(t) AS doc, t.execution_id, t.workflow_id, t.agent_id, t.retry_count,
                  t.priority, t.created_at
    ), logged AS (
        SELECT ops._event('task_claimed', 'task', x.execution_id::text, x.workflow_id, x.agent_id, NULL, 'ops',
                          jsonb_build_object('attempt', x.retry_count + 1), 'info', false) AS event_id, x.*
        FROM taken x
    )
    SELECT coalesce(jsonb_agg(l.doc ORDER BY l.priority DESC, l.created_at), '[]')
    INTO claimed FROM logged l;
    RETURN claimed;
END
$$;

COMMENT ON FUNCTION ops.claim_tasks(text, text[], integer) IS
    'Claim up to max_count pending tasks of these types (highest priority, then oldest) for an agent; '
    'concurrent workers never get the same task (FOR UPDATE SKIP LOCKED).';

CREATE OR REPLACE FUNCTION ops._running_task(p_id uuid)
RETURNS ops.task_executions
LANGUAGE plpgsql
SET search_path = ops, pg_temp
AS $$
DECLARE
    t ops.task_executions;
BEGIN
    SELECT * INTO t FROM ops.task_executions x WHERE x.execution_id = p_id FOR UPDATE;
    IF t.execution_id IS NULL THEN
        RAISE EXCEPTION 'task % not found', p_id USING ERRCODE = 'CD002';
    ELSIF t.status <> 'running' THEN
        RAISE EXCEPTION 'task % is %, not running', p_id, t.status USING ERRCODE = 'CD004';
    END IF;
    RETURN t;
END
$$;

COMMENT ON FUNCTION ops._running_task(uuid) IS 'Lock a task that must be running (CD002, CD004).';

CREATE OR REPLACE FUNCTION ops._complete(p_id uuid, p_output jsonb)
RETURNS ops.task_executions
LANGUAGE plpgsql
SET search_path = ops, pg_temp
AS $$
DECLARE
    t ops.task_executions := ops._running_task(p_id);
BEGIN
    UPDATE ops.task_executions x
    SET status = 'completed', output_data = p_output, completed_at = clock_timestamp(), timeout_at = NULL,
        execution_time_ms = round(extract(epoch FROM clock_timestamp() - x.started_at) * 1000)::integer
    WHERE x.execution_id = t.execution_id RETURNING * INTO t;
    PERFORM ops._event('task_completed', 'task', t.execution_id::text, t.workflow_id, t.agent_id, NULL, 'ops',
                       jsonb_build_object('execution_time_ms', t.execution_time_ms), 'info', false);
    RETURN t;
END
$$;

COMMENT ON FUNCTION ops._complete(uuid, jsonb) IS 'Complete one running task, timed by the database, with its event.';

CREATE OR REPLACE FUNCTION ops.complete_task(execution_id uuid, output jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN ops._task_json(ops._complete(execution_id, output));
END
$$;

COMMENT ON FUNCTION ops.complete_task(uuid, jsonb) IS
    'A running task is done; its execution time is measured by the database. CD004 if not running.';

CREATE OR REPLACE FUNCTION ops.complete_tasks(completions jsonb)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF completions IS NULL OR jsonb_typeof(completions) <> 'array' OR jsonb_array_length(completions) > 1000
       OR EXISTS (SELECT FROM jsonb_array_elements(completions) c
                  WHERE jsonb_typeof(c) <> 'object' OR c ->> 'execution_id' IS NULL) THEN
        RAISE EXCEPTION 'completions must be a list of at most 1000 {execution_id, output}' USING ERRCODE = 'CD001';
    END IF;
    PERFORM ops._complete((c ->> 'execution_id')::uuid, c -> 'output')
    FROM jsonb_array_elements(completions) c ORDER BY c ->> 'execution_id';  -- one lock order
    RETURN jsonb_array_length(completions);
EXCEPTION WHEN invalid_text_representation THEN
    RAISE EXCEPTION 'an execution_id is not a uuid: %', SQLERRM USING ERRCODE = 'CD001';
END
$$;

COMMENT ON FUNCTION ops.complete_tasks(jsonb) IS
    'Complete a batch of running tasks ([{execution_id, output}]) in one transaction; all or none.';

CREATE OR REPLACE FUNCTION ops._fail_task(t ops.task_executions, error text)
RETURNS ops.task_executions
LANGUAGE plpgsql
SET search_path = ops, pg_temp
AS $$
DECLARE
    retry boolean := t.retry_count < t.max_retries;
BEGIN
    UPDATE ops.task_executions x
    SET status = CASE WHEN retry THEN 'pending' ELSE 'failed' END,
        retry_count = x.retry_count + CASE WHEN retry THEN 1 ELSE 0 END,
        error = _fail_task.error, timeout_at = NULL,
        -- exponential backoff: 1, 2, 4 ... seconds, at most an hour
        available_at = CASE WHEN retry THEN clock_timestamp() + least(power(2, x.retry_count), 3600) * interval '1 second'
                            ELSE x.available_at END,
        completed_at = CASE WHEN retry THEN NULL ELSE clock_timestamp() END,
        execution_time_ms = round(extract(epoch FROM clock_timestamp() - x.started_at) * 1000)::integer
    WHERE x.execution_id = t.execution_id RETURNING * INTO t;
    PERFORM ops._event(CASE WHEN retry THEN 'task_retry_scheduled' ELSE 'task_failed' END, 'task',
                       t.execution_id::text, t.workflow_id, t.agent_id, NULL, 'ops',
                       jsonb_build_object('error', error, 'retry_count', t.retry_count),
                       CASE WHEN retry THEN 'warning' ELSE 'error' END, false);
    RETURN t;
END
$$;

COMMENT ON FUNCTION ops._fail_task(ops.task_executions, text) IS
    'A failed attempt of a locked running task: back to pending after a backoff, or failed after max_retries.';

CREATE OR REPLACE FUNCTION ops.fail_task(execution_id uuid, error text)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF coalesce(btrim(error), '') = '' THEN
        RAISE EXCEPTION 'error must say what went wrong' USING ERRCODE = 'CD001';
    END IF;
    RETURN ops._task_json(ops._fail_task(ops._running_task(execution_id), error));
END
$$;

COMMENT ON FUNCTION ops.fail_task(uuid, text) IS
    'A running task failed: retried with exponential backoff until max_retries, then failed.';

CREATE OR REPLACE FUNCTION ops.expire_tasks(as_of timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    t ops.task_executions;
    n integer := cdlstore_internal.sweep(
        $q$SELECT tenant FROM ops.task_executions WHERE status = 'running' AND timeout_at <= $1$q$,
        'SELECT ops.expire_tasks($1)', as_of);
BEGIN
    IF n IS NOT NULL THEN
        RETURN n;  -- an administrator's call: done for every tenant
    END IF;
    n := 0;
    FOR t IN SELECT * FROM ops.task_executions x WHERE x.status = 'running' AND x.timeout_at <= as_of
             FOR UPDATE SKIP LOCKED LOOP
        PERFORM ops._fail_task(t, 'timed out');
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION ops.expire_tasks(timestamptz) IS
    'Running tasks past their timeout count as a failed attempt (a worker that died): the '
    'caller''s tenant, every tenant for an administrator naming none. Returns how many.';

CREATE OR REPLACE FUNCTION ops.get_task(execution_id uuid)
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
    SELECT ops._task_json(t) INTO result FROM ops.task_executions t WHERE t.execution_id = execution_id;
    IF result IS NULL THEN
        RAISE EXCEPTION 'task % not found', execution_id USING ERRCODE = 'CD002';
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION ops.get_task(uuid) IS 'A task. CD002 when unknown.';
