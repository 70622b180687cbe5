-- The task queue: priority then age, SKIP LOCKED claims, retries with exponential backoff.

CREATE OR REPLACE FUNCTION ops._task_json(t ops.task_executions)
RETURNS jsonb
LANGUAGE sql
STABLE  -- as to_jsonb is, so that it is inlined
AS $$
    SELECT to_jsonb(t) - 'lease_token'
$$;

COMMENT ON FUNCTION ops._task_json(ops.task_executions) IS
    'A task as the API returns it: without its lease token, which only claim_tasks hands out.';

CREATE OR REPLACE FUNCTION ops._task_id(hash integer, bits bigint)
RETURNS uuid
LANGUAGE sql
VOLATILE
AS $$
    -- as ops._task_id(hash), from given random bits (0 <= bits < 2^62) instead of a
    -- gen_random_uuid() per task: the milliseconds, version 7 and 12 bits, then the variant,
    -- 52 bits and the routing hash; 32 hex digits, which uuid_in takes without hyphens.
    -- Inlined (no FROM, no SET clause)
    SELECT (lpad(to_hex(((extract(epoch FROM clock_timestamp()) * 1000)::bigint << 16) | 28672
                        | ((bits >> 50) & 4095)), 16, '0')
            || to_hex((-9223372036854775807 - 1) | ((bits & 4503599627370495) << 10) | (hash & 1023)))::uuid
$$;

COMMENT ON FUNCTION ops._task_id(integer, bigint) IS
    'A task id as ops._task_id(hash), its random part from bits: enqueue_tasks draws one random '
    'number per batch and adds each task''s place in it (ids of a batch never collide).';

CREATE OR REPLACE FUNCTION ops._task_problem(
    p_name text, p_type text, p_input jsonb, p_priority integer, p_max_retries integer, p_timeout integer)
RETURNS text
LANGUAGE sql
IMMUTABLE  -- inlined: enqueue_tasks checks a whole batch in one query
AS $$
    SELECT CASE
        WHEN coalesce(btrim(p_name), '') = '' OR coalesce(btrim(p_type), '') = ''
            THEN 'task_name and task_type must not be empty'
        WHEN length(p_name) > 200 OR length(p_type) > 200
            THEN 'task_name and task_type are at most 200 characters'
        WHEN p_input IS NULL OR p_priority IS NULL OR p_max_retries IS NULL OR p_max_retries < 0
             OR p_timeout IS NULL OR p_timeout < 1
            THEN 'input_data and priority are required; max_retries >= 0; timeout_seconds >= 1'
    END
$$;

COMMENT ON FUNCTION ops._task_problem(text, text, jsonb, integer, integer, integer) IS
    'What is wrong with a task to queue (NULL: nothing), for enqueue_task and enqueue_tasks alike.';

CREATE OR REPLACE FUNCTION ops._wake_workers()
RETURNS void
LANGUAGE sql
VOLATILE
-- no SET clause: the call is inlined (a SQL function with one is parsed and planned anew at
-- every call, 150 us); the body names nothing outside pg_catalog
AS $$
    -- one payload for every task: PostgreSQL folds equal notifications of a transaction into one,
    -- so a transaction wakes the workers once, however many tasks it queues
    SELECT pg_catalog.pg_notify('cdlstore_tasks', '')
$$;

COMMENT ON FUNCTION ops._wake_workers() IS
    'NOTIFY cdlstore_tasks (empty payload): workers LISTEN on it; sent once per transaction.';

CREATE OR REPLACE FUNCTION ops.enqueue_task(
    task_name text, task_type text, input_data jsonb DEFAULT '{}', priority integer DEFAULT 0,
    workflow_id uuid DEFAULT NULL, max_retries integer DEFAULT 3, timeout_seconds integer DEFAULT 300,
    available_at timestamptz DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    problem text := ops._task_problem(task_name, task_type, input_data, priority, max_retries, timeout_seconds);
    id uuid;
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = 'CD001';
    END IF;
    -- the foreign key would see every tenant's runs (and refuse an unknown one with 23503)
    IF workflow_id IS NOT NULL AND NOT EXISTS (SELECT FROM ops.workflows w WHERE w.workflow_id = workflow_id) THEN
        RAISE EXCEPTION 'workflow run % not found', workflow_id USING ERRCODE = 'CD002';
    END IF;
    PERFORM cdlstore_internal.feed_announce();  -- this transaction appends to the event feed
    -- the task and its event in one statement, as enqueue_tasks does for a batch
    WITH queued AS (
        INSERT INTO ops.task_executions AS t (task_name, task_type, input_data, priority, workflow_id,
                                              max_retries, timeout_seconds, available_at)
        VALUES (task_name, task_type, input_data, priority, workflow_id, max_retries, timeout_seconds,
                coalesce(available_at, now()))
        RETURNING t.execution_id, t.workflow_id
    ), logged AS (
        INSERT INTO ops.events (event_type, entity_type, entity_id, workflow_id, source, payload, severity)
        SELECT 'task_enqueued', 'task', q.execution_id::text, q.workflow_id, 'ops',
               jsonb_build_object('task_type', task_type), 'info'
        FROM queued q
    )
    SELECT q.execution_id INTO id FROM queued q;
    PERFORM ops._wake_workers();
    RETURN id;
END
$$;

COMMENT ON FUNCTION ops.enqueue_task(text, text, jsonb, integer, uuid, integer, integer, timestamptz) IS
    'Queue a task (available now or at available_at). Returns its execution id.';

CREATE OR REPLACE FUNCTION ops.enqueue_tasks(tasks jsonb)
RETURNS uuid[]
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
-- one generic plan per connection: the plan does not depend on the batch, and the plan cache
-- kept choosing a custom plan per call
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    problem text;
    run uuid;
    ids uuid[];
BEGIN
    IF tasks IS NULL OR jsonb_typeof(tasks) <> 'array' OR jsonb_array_length(tasks) > 1000
       OR EXISTS (SELECT FROM jsonb_array_elements(tasks) t WHERE jsonb_typeof(t) <> 'object') THEN
        RAISE EXCEPTION 'tasks must be a list of at most 1000 objects' USING ERRCODE = 'CD001';
    END IF;
    PERFORM cdlstore_internal.feed_announce();  -- this transaction appends to the event feed
    -- set-based, one statement: the batch is read once, checked, queued with its events; a
    -- problem in any task queues none of them. The batch's tasks share one routing hash of this
    -- shard, drawn once (cdlstore_internal.shard_hash is a function call per row: an eighth of the batch)
    WITH shard AS MATERIALIZED (
        -- and one strong random number below 2^62, to which each task adds its place: a
        -- gen_random_uuid() per task was 5% of a batch. The uuid's last 16 hex digits: their
        -- top two bits (the variant) are fixed and masked off, the other 62 are random (the
        -- first 16 hold the version digit)
        SELECT cdlstore_internal.shard_hash() AS hash,
               ('x' || right(replace(gen_random_uuid()::text, '-', ''), 16))::bit(64)::bigint
                   & 4611686018427387903 AS bits
    ), input AS MATERIALIZED (
        SELECT t.ordinality, ops._task_id(s.hash, s.bits + t.ordinality) AS id, t.task_name, t.task_type,
               coalesce(t.input_data, '{}') AS input_data, coalesce(t.priority, 0) AS priority, t.workflow_id,
               coalesce(t.max_retries, 3) AS max_retries, coalesce(t.timeout_seconds, 300) AS timeout_seconds,
               coalesce(t.available_at, now()) AS available_at
        -- the whole batch read by one function call (a jsonb_to_record per task was 6% of it)
        FROM shard s CROSS JOIN ROWS FROM (jsonb_to_recordset(tasks) AS (task_name text, task_type text,
            input_data jsonb, priority integer, workflow_id uuid, max_retries integer, timeout_seconds integer,
            available_at timestamptz)) WITH ORDINALITY AS t (task_name, task_type, input_data, priority,
            workflow_id, max_retries, timeout_seconds, available_at, ordinality)
    ), bad AS (
        SELECT p.problem FROM input i
        CROSS JOIN LATERAL (SELECT ops._task_problem(i.task_name, i.task_type, i.input_data, i.priority,
                                                     i.max_retries, i.timeout_seconds) AS problem) p
        WHERE p.problem IS NOT NULL
        LIMIT 1
    ), unknown_run AS (
        -- the foreign key would see every tenant's runs (and refuse an unknown one with 23503)
        SELECT i.workflow_id FROM input i
        WHERE i.workflow_id IS NOT NULL AND NOT EXISTS (SELECT FROM ops.workflows w WHERE w.workflow_id = i.workflow_id)
        LIMIT 1
    ), queued AS (
        INSERT INTO ops.task_executions (execution_id, task_name, task_type, input_data, priority, workflow_id,
                                         max_retries, timeout_seconds, available_at)
        SELECT i.id, i.task_name, i.task_type, i.input_data, i.priority, i.workflow_id, i.max_retries,
               i.timeout_seconds, i.available_at
        FROM input i WHERE NOT EXISTS (SELECT FROM bad) AND NOT EXISTS (SELECT FROM unknown_run)
        ORDER BY i.ordinality
        RETURNING execution_id, workflow_id, task_type
    ), logged AS (
        INSERT INTO ops.events (event_type, entity_type, entity_id, workflow_id, source, payload, severity)
        -- jsonb_object of a text pair: the same object as jsonb_build_object, in half the instructions
        SELECT 'task_enqueued', 'task', q.execution_id::text, q.workflow_id, 'ops',
               jsonb_object(ARRAY['task_type', q.task_type]), 'info'
        FROM queued q
    )
    SELECT (SELECT b.problem FROM bad b), (SELECT u.workflow_id FROM unknown_run u),
           (SELECT array_agg(i.id ORDER BY i.ordinality) FROM input i)
    INTO problem, run, ids;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%', problem USING ERRCODE = 'CD001';
    ELSIF run IS NOT NULL THEN
        RAISE EXCEPTION 'workflow run % not found', run USING ERRCODE = 'CD002';
    END IF;
    IF cardinality(ids) > 0 THEN
        PERFORM ops._wake_workers();
    END IF;
    RETURN coalesce(ids, '{}');
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
-- one generic plan per connection: a custom plan per call cost more to plan than to run
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    checked text := cdlstore_internal.input_text(agent_id, 'agent_id');
    claimed jsonb;
BEGIN
    -- assignments, not a PERFORM query: plpgsql evaluates these without the executor
    FOREACH checked IN ARRAY coalesce(task_types, '{}') LOOP
        checked := cdlstore_internal.input_text(checked, 'a task type');
    END LOOP;
    IF coalesce(btrim(agent_id), '') = '' OR task_types IS NULL OR cardinality(task_types) = 0
       OR max_count IS NULL OR max_count NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'agent_id, at least one task type and max_count between 1 and 1000 are required'
            USING ERRCODE = 'CD001';
    END IF;
    -- highest priority first, then oldest; a row another worker holds is skipped, never waited for
    -- (one ordered index scan per type: "= ANY" would sort the whole queue). The claimed ids go
    -- to the UPDATE as an array, so that it finds them by primary key whatever the generic plan
    -- guesses max_count to be (a join was planned as a hash of the whole table)
    WITH taken AS (
        UPDATE ops.task_executions t
        SET status = 'running', agent_id = claim_tasks.agent_id, started_at = clock_timestamp(),
            timeout_at = clock_timestamp() + make_interval(secs => t.timeout_seconds),
            lease_token = gen_random_uuid()
        WHERE t.execution_id = ANY (ARRAY(
            SELECT n.execution_id
            FROM unnest(task_types) AS wanted (task_type)
            CROSS JOIN LATERAL (
                SELECT x.execution_id, x.priority, x.created_at FROM ops.task_executions x
                WHERE x.status = 'pending' AND x.task_type = wanted.task_type
                  AND x.available_at <= clock_timestamp()  -- not now(): a task enqueued meanwhile counts
                ORDER BY x.priority DESC, x.created_at
                LIMIT max_count
                FOR UPDATE SKIP LOCKED) AS n
            ORDER BY n.priority DESC, n.created_at
            LIMIT max_count))
        -- the row itself, not to_jsonb of it: jsonb_agg turns it into json once (to_jsonb and
        -- jsonb_agg of that was a second pass over every value, 4% of a batch)
        RETURNING t AS doc, t.execution_id,  -- with its lease_token: the claimer's own
                  t.workflow_id, t.agent_id, t.retry_count, t.priority, t.created_at
    ), logged AS (
        INSERT INTO ops.events (event_type, entity_type, entity_id, workflow_id, agent_id, source, payload, severity)
        SELECT 'task_claimed', 'task', x.execution_id::text, x.workflow_id, x.agent_id, 'ops',
               jsonb_build_object('attempt', x.retry_count + 1), 'info'
        FROM taken x
    )
    SELECT coalesce(jsonb_agg(x.doc ORDER BY x.priority DESC, x.created_at), '[]')
    INTO claimed FROM taken x;
    IF claimed <> '[]' THEN
        -- after the claim, so that an empty poll takes no xid (announcing late only lets this
        -- transaction's events come after a later writer's; none is skipped)
        PERFORM cdlstore_internal.feed_announce();
    END IF;
    RETURN claimed;
END
$$;

COMMENT ON FUNCTION ops.claim_tasks(text, text[], integer) IS
    'Claim up to max_count pending tasks of these types (highest priority, then oldest) for an agent; '
    'concurrent workers never get the same task (FOR UPDATE SKIP LOCKED). Each task''s JSON carries '
    'the lease_token that complete_task, fail_task, heartbeat_task and release_task must present.';

CREATE OR REPLACE FUNCTION ops._leased_task(p_id uuid, p_token uuid)
RETURNS ops.task_executions
LANGUAGE plpgsql
SET search_path = ops, pg_temp
AS $$
DECLARE
    t ops.task_executions;
BEGIN
    IF p_id IS NULL OR p_token IS NULL THEN
        RAISE EXCEPTION 'execution_id and lease_token are required' USING ERRCODE = 'CD001';
    END IF;
    SELECT * INTO t FROM ops.task_executions x WHERE x.execution_id = p_id FOR UPDATE;
    IF t.execution_id IS NULL THEN
        RAISE EXCEPTION 'task % not found', p_id USING ERRCODE = 'CD002';
    ELSIF t.lease_token IS DISTINCT FROM p_token THEN
        RAISE EXCEPTION 'the lease on task % is not held by this token', p_id USING ERRCODE = 'CD003',
            DETAIL = format('The task is %s%s.', t.status,
                            CASE WHEN t.status = 'running' THEN ' under a newer claim' ELSE '' END),
            HINT = 'Its lease lapsed or ended: another attempt owns the task now; drop this result.';
    END IF;
    RETURN t;
END
$$;

COMMENT ON FUNCTION ops._leased_task(uuid, uuid) IS
    'Lock a task whose current lease this token holds (CD001, CD002; CD003 for a stale token).';

CREATE OR REPLACE FUNCTION ops.complete_task(execution_id uuid, lease_token uuid, output jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    result jsonb;
BEGIN
    PERFORM cdlstore_internal.feed_announce();  -- this transaction appends to the event feed
    -- one statement on the hot path: the row is updated only under its current lease (a
    -- concurrent re-claim is waited for and then seen: its token no longer matches)
    WITH done AS (
        UPDATE ops.task_executions x
        SET status = 'completed', output_data = output, completed_at = clock_timestamp(), timeout_at = NULL,
            lease_token = NULL,
            execution_time_ms = round(extract(epoch FROM clock_timestamp() - x.started_at) * 1000)::bigint
        WHERE x.execution_id = execution_id AND x.lease_token = lease_token
        RETURNING x.*
    ), logged AS (
        INSERT INTO ops.events (event_type, entity_type, entity_id, workflow_id, agent_id, source, payload, severity)
        SELECT 'task_completed', 'task', d.execution_id::text, d.workflow_id, d.agent_id, 'ops',
               jsonb_build_object('execution_time_ms', d.execution_time_ms), 'info'
        FROM done d
    )
    SELECT ops._task_json(d::ops.task_executions) INTO result FROM done d;
    IF result IS NULL THEN
        PERFORM ops._leased_task(execution_id, lease_token);  -- raises what is wrong: CD001, CD002 or CD003
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION ops.complete_task(uuid, uuid, jsonb) IS
    'A claimed task is done; its execution time is measured by the database. CD003 when lease_token '
    'is not the task''s current lease (it lapsed, or the task was claimed again): nothing changes.';

CREATE OR REPLACE FUNCTION ops.complete_tasks(completions jsonb)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
-- one generic plan per connection: the plan does not depend on the batch; the custom plan the
-- plan cache kept choosing cost 13% more per task than the generic one, planning included
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    wanted integer;
    held integer;
    stale uuid;
    stale_token uuid;
BEGIN
    IF completions IS NULL OR jsonb_typeof(completions) <> 'array' OR jsonb_array_length(completions) > 1000
       OR EXISTS (SELECT FROM jsonb_array_elements(completions) c
                  WHERE jsonb_typeof(c) <> 'object' OR NOT c ?& '{execution_id,lease_token}') THEN
        RAISE EXCEPTION 'completions must be a list of at most 1000 {execution_id, lease_token, output}'
            USING ERRCODE = 'CD001';
    END IF;
    PERFORM cdlstore_internal.feed_announce();  -- this transaction appends to the event feed
    -- set-based, one statement: lock the batch in one lock order (by id), complete the tasks
    -- whose lease the token holds, with their events, and count; a stale token or a repeated id
    -- raises below, which undoes the whole statement
    WITH c AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset(completions) AS c (execution_id uuid, lease_token uuid, output jsonb)
    ), locked AS MATERIALIZED (
        SELECT x.execution_id, x.lease_token FROM ops.task_executions x
        WHERE x.execution_id IN (SELECT c.execution_id FROM c)
        ORDER BY x.execution_id
        FOR UPDATE
    ), done AS (
        UPDATE ops.task_executions x
        SET status = 'completed', output_data = c.output, completed_at = clock_timestamp(), timeout_at = NULL,
            lease_token = NULL,
            execution_time_ms = round(extract(epoch FROM clock_timestamp() - x.started_at) * 1000)::bigint
        FROM c
        -- by id, not by the locked row's ctid: a heartbeat committed meanwhile made a newer row
        -- version, which the UPDATE follows and this statement's snapshot would not see
        WHERE x.execution_id = c.execution_id AND x.lease_token = c.lease_token
        RETURNING x.execution_id, x.workflow_id, x.agent_id, x.execution_time_ms
    ), logged AS (
        INSERT INTO ops.events (event_type, entity_type, entity_id, workflow_id, agent_id, source, payload, severity)
        SELECT 'task_completed', 'task', d.execution_id::text, d.workflow_id, d.agent_id, 'ops',
               jsonb_build_object('execution_time_ms', d.execution_time_ms), 'info'
        FROM done d
    )
    SELECT count(*)::integer, count(DISTINCT c.execution_id)::integer,
           (array_agg(c.execution_id) FILTER (WHERE l.lease_token IS DISTINCT FROM c.lease_token))[1],
           (array_agg(c.lease_token) FILTER (WHERE l.lease_token IS DISTINCT FROM c.lease_token))[1]
    INTO held, wanted, stale, stale_token
    FROM c LEFT JOIN locked l ON l.execution_id = c.execution_id;
    IF wanted <> held THEN
        RAISE EXCEPTION 'an execution_id appears twice in completions' USING ERRCODE = 'CD001';
    END IF;
    IF stale IS NOT NULL THEN
        PERFORM ops._leased_task(stale, stale_token);  -- raises what is wrong with it
    END IF;
    RETURN held;
EXCEPTION WHEN invalid_text_representation THEN
    RAISE EXCEPTION 'an execution_id or lease_token is not a uuid: %', SQLERRM USING ERRCODE = 'CD001';
END
$$;

COMMENT ON FUNCTION ops.complete_tasks(jsonb) IS
    'Complete a batch of claimed tasks ([{execution_id, lease_token, output}]) in one transaction; all '
    'or none: CD003 (nothing changes) when one lease_token is stale.';

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
        error = _fail_task.error, timeout_at = NULL, lease_token = NULL,
        -- exponential backoff: 1, 2, 4 ... seconds, at most an hour
        available_at = CASE WHEN retry THEN clock_timestamp() + least(power(2, x.retry_count), 3600) * interval '1 second'
                            ELSE x.available_at END,
        completed_at = CASE WHEN retry THEN NULL ELSE clock_timestamp() END,
        execution_time_ms = round(extract(epoch FROM clock_timestamp() - x.started_at) * 1000)::bigint
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

CREATE OR REPLACE FUNCTION ops.fail_task(execution_id uuid, lease_token uuid, error text)
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
    RETURN ops._task_json(ops._fail_task(ops._leased_task(execution_id, lease_token), error));
END
$$;

COMMENT ON FUNCTION ops.fail_task(uuid, uuid, text) IS
    'A claimed task failed: retried with exponential backoff until max_retries, then failed. CD003 '
    'when lease_token is not the task''s current lease: nothing changes.';

CREATE OR REPLACE FUNCTION ops.heartbeat_task(execution_id uuid, lease_token uuid, extend_seconds integer DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    t ops.task_executions;
BEGIN
    IF extend_seconds < 1 THEN
        RAISE EXCEPTION 'extend_seconds must be at least 1, got %', extend_seconds USING ERRCODE = 'CD001';
    END IF;
    UPDATE ops.task_executions x
    SET timeout_at = clock_timestamp() + make_interval(secs => coalesce(extend_seconds, x.timeout_seconds))
    WHERE x.execution_id = heartbeat_task.execution_id AND x.lease_token = heartbeat_task.lease_token
    RETURNING * INTO t;
    IF t.execution_id IS NULL THEN
        PERFORM ops._leased_task(execution_id, lease_token);  -- raises what is wrong
    END IF;
    RETURN t.timeout_at;
END
$$;

COMMENT ON FUNCTION ops.heartbeat_task(uuid, uuid, integer) IS
    'A worker still runs a claimed task: its lease ends extend_seconds from now (default: the task''s '
    'timeout_seconds). Returns the new end of the lease. CD003 when lease_token is stale.';

CREATE OR REPLACE FUNCTION ops.release_task(execution_id uuid, lease_token uuid)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    t ops.task_executions := ops._leased_task(execution_id, lease_token);
BEGIN
    UPDATE ops.task_executions x
    SET status = 'pending', agent_id = NULL, started_at = NULL, timeout_at = NULL, lease_token = NULL,
        available_at = clock_timestamp()
    WHERE x.execution_id = t.execution_id RETURNING * INTO t;
    PERFORM ops._event('task_released', 'task', t.execution_id::text, t.workflow_id, NULL, NULL, 'ops',
                       '{}', 'info', false);
    PERFORM ops._wake_workers();
    RETURN ops._task_json(t);
END
$$;

COMMENT ON FUNCTION ops.release_task(uuid, uuid) IS
    'Give back a claimed task that was not started (a worker shutting down): pending again at once, '
    'no attempt counted. CD003 when lease_token is stale.';

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
        'SELECT ops.expire_tasks($1)', as_of)::integer;
BEGIN
    IF n IS NOT NULL THEN
        RETURN n;  -- an administrator's call: done for every tenant
    END IF;
    n := 0;
    FOR t IN SELECT * FROM ops.task_executions x WHERE x.status = 'running' AND x.timeout_at <= coalesce(as_of, now())
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

CREATE OR REPLACE FUNCTION ops.next_task_timeout()
RETURNS timestamptz
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
BEGIN
    RETURN cdlstore_internal.earliest(
        $q$SELECT min(t.timeout_at) FROM ops.task_executions t WHERE t.status = 'running'$q$);
END
$$;

COMMENT ON FUNCTION ops.next_task_timeout() IS
    'When the next lease of a running task ends (NULL: none runs); the worker''s maintenance sleeps until then. '
    'The caller''s tenant, every tenant for an administrator naming none.';
