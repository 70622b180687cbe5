-- Workflow runs: pending -> running -> completed | failed (pending may also fail).

CREATE OR REPLACE FUNCTION ops._workflow_json(w ops.workflows)
RETURNS jsonb
LANGUAGE sql
STABLE  -- as to_jsonb is, so that it is inlined
AS $$
    SELECT to_jsonb(w) - 'seq'
$$;

COMMENT ON FUNCTION ops._workflow_json(ops.workflows) IS 'A workflow run as the API returns it.';

CREATE OR REPLACE FUNCTION ops._move_workflow(p_id uuid, p_to text, p_allowed_from text[])
RETURNS ops.workflows
LANGUAGE plpgsql
SET search_path = ops, pg_temp
AS $$
DECLARE
    w ops.workflows;
BEGIN
    SELECT * INTO w FROM ops.workflows x WHERE x.workflow_id = p_id FOR UPDATE;
    IF w.workflow_id IS NULL THEN
        RAISE EXCEPTION 'workflow run % not found', p_id USING ERRCODE = 'CD002';
    END IF;
    IF NOT w.status = ANY (p_allowed_from) THEN
        RAISE EXCEPTION 'workflow run % is %, it cannot become %', p_id, w.status, p_to USING ERRCODE = 'CD004',
            DETAIL = format('Allowed from: %s.', array_to_string(p_allowed_from, ', '));
    END IF;
    RETURN w;
END
$$;

COMMENT ON FUNCTION ops._move_workflow(uuid, text, text[]) IS
    'Lock a run and check that it may go to a status from its current one (CD002, CD004).';

CREATE OR REPLACE FUNCTION ops.create_workflow(
    name text, workflow_type text DEFAULT 'generic', description text DEFAULT NULL, total_steps integer DEFAULT NULL,
    state_data jsonb DEFAULT '{}', assigned_agents text[] DEFAULT '{}', metadata jsonb DEFAULT '{}',
    tags text[] DEFAULT '{}', deadline timestamptz DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id uuid;
BEGIN
    PERFORM cdlstore_internal.input_text(name, 'name'), cdlstore_internal.input_text(workflow_type, 'workflow_type');
    IF total_steps < 0 OR metadata IS NULL OR jsonb_typeof(metadata) <> 'object' OR state_data IS NULL THEN
        RAISE EXCEPTION 'total_steps must not be negative, metadata must be a JSON object' USING ERRCODE = 'CD001';
    END IF;
    INSERT INTO ops.workflows (name, workflow_type, description, total_steps, state_data, assigned_agents,
                               metadata, tags, deadline)
    VALUES (name, workflow_type, description, total_steps, state_data, coalesce(assigned_agents, '{}'),
            metadata, coalesce(tags, '{}'), deadline)
    RETURNING workflow_id INTO v_id;
    PERFORM ops._event('workflow_created', 'workflow', v_id::text, v_id, NULL, NULL, 'ops', '{}', 'info');
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION ops.create_workflow(text, text, text, integer, jsonb, text[], jsonb, text[], timestamptz) IS
    'Create a pending workflow run. Returns its id.';

CREATE OR REPLACE FUNCTION ops.start_workflow(workflow_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    w ops.workflows := ops._move_workflow(workflow_id, 'running', '{pending}');
BEGIN
    UPDATE ops.workflows x SET status = 'running', started_at = now(), updated_at = now()
    WHERE x.workflow_id = w.workflow_id RETURNING * INTO w;
    PERFORM ops._event('workflow_started', 'workflow', w.workflow_id::text, w.workflow_id, NULL, NULL, 'ops', '{}', 'info');
    RETURN ops._workflow_json(w);
END
$$;

COMMENT ON FUNCTION ops.start_workflow(uuid) IS 'pending -> running. CD004 from any other status.';

CREATE OR REPLACE FUNCTION ops.advance_workflow_step(workflow_id uuid, step_result jsonb DEFAULT '{}', state_data jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    w ops.workflows := ops._move_workflow(workflow_id, 'running', '{running}');
BEGIN
    IF step_result IS NULL THEN
        RAISE EXCEPTION 'step_result must not be NULL' USING ERRCODE = 'CD001';
    END IF;
    IF w.total_steps IS NOT NULL AND w.completed_steps >= w.total_steps THEN
        RAISE EXCEPTION 'workflow run % has done all % steps', w.workflow_id, w.total_steps USING ERRCODE = 'CD004';
    END IF;
    UPDATE ops.workflows x
    SET current_step = x.current_step + 1, completed_steps = x.completed_steps + 1,
        step_results = x.step_results || jsonb_build_array(step_result),
        state_data = coalesce(advance_workflow_step.state_data, x.state_data),
        checkpoints = x.checkpoints || jsonb_build_array(jsonb_build_object(
            'step', x.current_step + 1, 'at', now(), 'state_data', coalesce(advance_workflow_step.state_data, x.state_data))),
        updated_at = now()
    WHERE x.workflow_id = w.workflow_id RETURNING * INTO w;
    PERFORM ops._event('workflow_step_completed', 'workflow', w.workflow_id::text, w.workflow_id, NULL, NULL, 'ops',
                       jsonb_build_object('step', w.current_step), 'info');
    RETURN ops._workflow_json(w);
END
$$;

COMMENT ON FUNCTION ops.advance_workflow_step(uuid, jsonb, jsonb) IS
    'Record a step of a running run: its result, the step counters and a checkpoint of the state.';

CREATE OR REPLACE FUNCTION ops.complete_workflow(workflow_id uuid, result jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    w ops.workflows := ops._move_workflow(workflow_id, 'completed', '{running}');
BEGIN
    UPDATE ops.workflows x SET status = 'completed', completed_at = now(), updated_at = now(),
        state_data = CASE WHEN result IS NULL THEN x.state_data ELSE x.state_data || jsonb_build_object('result', result) END
    WHERE x.workflow_id = w.workflow_id RETURNING * INTO w;
    PERFORM ops._event('workflow_completed', 'workflow', w.workflow_id::text, w.workflow_id, NULL, NULL, 'ops', '{}', 'info');
    RETURN ops._workflow_json(w);
END
$$;

COMMENT ON FUNCTION ops.complete_workflow(uuid, jsonb) IS 'running -> completed. CD004 from any other status.';

CREATE OR REPLACE FUNCTION ops._fail_workflow(w ops.workflows, error text)
RETURNS ops.workflows
LANGUAGE plpgsql
SET search_path = ops, pg_temp
AS $$
BEGIN
    UPDATE ops.workflows x SET status = 'failed', error = _fail_workflow.error, error_count = x.error_count + 1,
                               completed_at = now(), updated_at = now()
    WHERE x.workflow_id = w.workflow_id RETURNING * INTO w;
    PERFORM ops._event('workflow_failed', 'workflow', w.workflow_id::text, w.workflow_id, NULL, NULL, 'ops',
                       jsonb_build_object('error', error), 'error');
    RETURN w;
END
$$;

COMMENT ON FUNCTION ops._fail_workflow(ops.workflows, text) IS 'Fail a locked run, with its event.';

CREATE OR REPLACE FUNCTION ops.fail_workflow(workflow_id uuid, error text)
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
    RETURN ops._workflow_json(ops._fail_workflow(ops._move_workflow(workflow_id, 'failed', '{pending,running}'), error));
END
$$;

COMMENT ON FUNCTION ops.fail_workflow(uuid, text) IS 'pending or running -> failed, with the error. CD004 otherwise.';

CREATE OR REPLACE FUNCTION ops.expire_workflows(as_of timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    w ops.workflows;
    n integer := cdlstore_internal.sweep(
        $q$SELECT tenant FROM ops.workflows WHERE status IN ('pending', 'running') AND deadline <= $1$q$,
        'SELECT ops.expire_workflows($1)', as_of)::integer;
BEGIN
    IF n IS NOT NULL THEN
        RETURN n;  -- an administrator's call: done for every tenant
    END IF;
    n := 0;
    FOR w IN SELECT * FROM ops.workflows x WHERE x.status IN ('pending', 'running') AND x.deadline <= as_of
             FOR UPDATE SKIP LOCKED LOOP
        PERFORM ops._fail_workflow(w, 'deadline passed');
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION ops.expire_workflows(timestamptz) IS
    'Fail every pending or running run past its deadline: the caller''s tenant, every tenant for '
    'an administrator naming none. Returns how many.';

CREATE OR REPLACE FUNCTION ops.get_workflow(workflow_id uuid)
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
    SELECT ops._workflow_json(w) INTO result FROM ops.workflows w WHERE w.workflow_id = workflow_id;
    IF result IS NULL THEN
        RAISE EXCEPTION 'workflow run % not found', workflow_id USING ERRCODE = 'CD002';
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION ops.get_workflow(uuid) IS 'A workflow run. CD002 when unknown.';

CREATE OR REPLACE FUNCTION ops.list_workflows(
    status text DEFAULT NULL, workflow_type text DEFAULT NULL, page_size integer DEFAULT 100, after text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    k record;
BEGIN
    k := cdlstore_internal.page_key(after, page_size);
    IF status IS NOT NULL AND status NOT IN ('pending', 'running', 'completed', 'failed') THEN
        RAISE EXCEPTION 'invalid status %', quote_literal(status) USING ERRCODE = 'CD001';
    END IF;
    RETURN cdlstore_internal.page((
        SELECT array_agg((ops._workflow_json(w), w.created_at, w.seq)::cdlstore_internal.page_row
                         ORDER BY w.created_at DESC, w.seq DESC)
        FROM (SELECT * FROM ops.workflows w
              WHERE (status IS NULL OR w.status = status)
                AND (workflow_type IS NULL OR w.workflow_type = workflow_type)
                AND (after IS NULL OR (w.created_at, w.seq) < (k.created_at, k.id))
              ORDER BY w.created_at DESC, w.seq DESC LIMIT page_size + 1) AS w), page_size);
END
$$;

COMMENT ON FUNCTION ops.list_workflows(text, text, integer, text) IS
    'Workflow runs, newest first, by status and type: {items, next_cursor}.';
