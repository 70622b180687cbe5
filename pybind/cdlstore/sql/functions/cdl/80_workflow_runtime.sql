-- Workflow runtime: trigger matching, context extraction, instances, transitions, timeouts.

CREATE OR REPLACE FUNCTION cdl._match_lists(
    message text, pattern_regex text, keyword_regex text, patterns text[],
    OUT pattern text, OUT groups text[], OUT keyword text)
RETURNS record
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
BEGIN
    -- with a combined expression (a transition's), it answers "any pattern?" first; then the
    -- patterns are tried in file order for the first one and its groups
    IF cardinality(patterns) > 0 AND (pattern_regex IS NULL OR message ~* pattern_regex) THEN
        FOR i IN 1 .. cardinality(patterns) LOOP
            groups := regexp_match(message, '(' || patterns[i] || ')', 'i');
            IF groups IS NOT NULL THEN
                pattern := patterns[i];
                EXIT;
            END IF;
        END LOOP;
    END IF;
    IF keyword_regex IS NOT NULL THEN
        keyword := lower((regexp_match(message, keyword_regex, 'i'))[1]);
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._match_lists(text, text, text, text[]) IS
    'The first pattern (file order) found anywhere in message, with its groups (element 1 is the '
    'whole match), and the keyword found as a whole word; case-insensitive.';

CREATE OR REPLACE FUNCTION cdl._extract_context(
    p_workflow_id bigint, message text, groups text[], base jsonb, OUT context jsonb, OUT rejected text)
RETURNS record
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    ex record;
    rule jsonb;
    v_value jsonb;
    v_text text;
    v_group integer;
    v_key text;
    v_entries jsonb;
BEGIN
    context := coalesce(base, '{}');
    FOR ex IN SELECT e.context_key, e.extractor_type, e.config, w.file_id, w.validation_rules
              FROM cdl.workflow_context_extractors e JOIN cdl.character_workflows w ON w.id = e.workflow_id
              WHERE e.workflow_id = p_workflow_id ORDER BY e.sort_order LOOP
        v_value := NULL;
        CASE ex.extractor_type
        WHEN 'pattern_group' THEN
            v_group := coalesce((ex.config ->> 'group')::integer, 1);
            v_text := btrim(groups[v_group + 1]);
            IF v_text IS NOT NULL AND v_text <> '' THEN
                v_value := to_jsonb(CASE ex.config ->> 'transform' WHEN 'lowercase' THEN lower(v_text)
                                    WHEN 'uppercase' THEN upper(v_text) ELSE v_text END);
            END IF;
        WHEN 'lookup_table' THEN
            v_key := cdl._render(ex.config ->> 'key', context, '');
            SELECT t.entries INTO v_entries FROM cdl.workflow_lookup_tables t
            WHERE t.file_id = ex.file_id AND t.table_name = ex.config ->> 'table';
            v_value := coalesce(v_entries -> v_key, v_entries -> lower(v_key));
        WHEN 'message_full' THEN
            v_value := to_jsonb(message);
        ELSE
            v_value := ex.config -> 'value';
        END CASE;
        context := context || jsonb_build_object(ex.context_key,
                                                  coalesce(v_value, ex.config -> 'default', 'null'::jsonb));
        -- the rules of this field run now, so that later extractors see the corrected value
        FOR rule IN SELECT r FROM jsonb_array_elements(ex.validation_rules) AS r
                    WHERE r ->> 'field' = ex.context_key LOOP
            IF NOT EXISTS (SELECT FROM jsonb_array_elements(rule -> 'values') AS v
                           WHERE lower(v #>> '{}') = lower(context ->> ex.context_key)) THEN
                IF rule ->> 'on_fail' = 'use_default' THEN
                    context := context || jsonb_build_object(ex.context_key, coalesce(rule -> 'default', 'null'::jsonb));
                ELSE
                    rejected := format('%s %s is not in the list', ex.context_key, context -> ex.context_key);
                    RETURN;
                END IF;
            END IF;
        END LOOP;
    END LOOP;
END
$$;

COMMENT ON FUNCTION cdl._extract_context(bigint, text, text[], jsonb) IS
    'Run a workflow''s extractors in file order over base, each followed by its validation rules; '
    'rejected says why a reject rule stopped the workflow.';

CREATE OR REPLACE FUNCTION cdl._workflow_candidates(
    p_character_id bigint, message text, request_context jsonb)
RETURNS TABLE (workflow_id bigint, workflow_name varchar, sort_order integer, pattern text,
               keyword text, context jsonb, llm_required boolean, llm_prompt text,
               system_prompt_addition text)
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    w record;
    m record;
    x record;
    v_priority text;
    v_lower text;
BEGIN
    SELECT f.config ->> 'workflow_priority' INTO v_priority
    FROM cdl.workflow_files f WHERE f.character_id = p_character_id AND f.is_current;
    v_lower := lower(message);
    -- per workflow, only the patterns and keywords whose required text is in the message are
    -- tried, so that a few regexes run (PostgreSQL caches only 32 compiled ones per connection)
    FOR w IN WITH hits AS (
                 SELECT t.workflow_id,
                        coalesce(array_agg(t.trigger_value ORDER BY t.sort_order)
                                 FILTER (WHERE t.trigger_type = 'pattern_match'), '{}') AS patterns,
                        bool_or(t.trigger_type = 'keyword_match') AS keyword_possible
                 FROM cdl.workflow_triggers t
                 JOIN cdl.character_workflows cw ON cw.id = t.workflow_id
                 WHERE cw.character_id = p_character_id AND cw.is_current
                   AND (t.required_literal IS NULL OR strpos(v_lower, t.required_literal) > 0)
                 GROUP BY t.workflow_id)
             SELECT cw.*, hits.patterns, hits.keyword_possible
             FROM cdl.character_workflows cw JOIN hits ON hits.workflow_id = cw.id
             ORDER BY cw.sort_order LOOP
        m := cdl._match_lists(message, NULL, CASE WHEN w.keyword_possible THEN w.keyword_regex END,
                              w.patterns);
        CONTINUE WHEN m.pattern IS NULL AND m.keyword IS NULL;
        CONTINUE WHEN EXISTS (SELECT FROM jsonb_array_elements(w.context_required) AS c
                              WHERE (request_context ->> (c ->> 'type')) IS DISTINCT FROM (c ->> 'value'));
        x := cdl._extract_context(w.id, message, m.groups, '{}');
        CONTINUE WHEN x.rejected IS NOT NULL;
        workflow_id := w.id;
        workflow_name := w.workflow_name;
        sort_order := CASE WHEN v_priority = 'best_match' AND m.pattern IS NULL THEN 1000000 ELSE 0 END
                      + w.sort_order;
        pattern := m.pattern;
        keyword := m.keyword;
        context := x.context;
        llm_required := coalesce((w.llm_validation ->> 'enabled')::boolean, false);
        llm_prompt := CASE WHEN llm_required THEN replace(w.llm_validation ->> 'prompt', '{message}', message) END;
        system_prompt_addition := w.system_prompt_addition;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION cdl._workflow_candidates(bigint, text, jsonb) IS
    'The current workflows a message would start, each with its match and extracted context; '
    'sort_order orders them by the file''s workflow_priority.';

CREATE OR REPLACE FUNCTION cdl._check_message(user_id text, message text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = cdl, pg_temp
AS $$
BEGIN
    IF user_id IS NULL OR btrim(user_id) = '' OR length(user_id) > 200 THEN
        RAISE EXCEPTION 'user_id must be 1 to 200 characters' USING ERRCODE = 'CD001';
    END IF;
    IF message IS NULL THEN
        RAISE EXCEPTION 'message must not be NULL' USING ERRCODE = 'CD001';
    END IF;
    IF length(message) > 10000 THEN
        RAISE EXCEPTION 'message is % characters long; at most 10000 are matched', length(message)
            USING ERRCODE = 'CD007';
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._check_message(text, text) IS 'Reject a missing user id or message, or one too long to match.';

CREATE OR REPLACE FUNCTION cdl.check_workflow_triggers(
    character_name varchar, user_message text, user_id varchar, request_context jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdl._check_message(user_id, user_message);
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'workflow', c.workflow_name, 'pattern_matched', c.pattern IS NOT NULL, 'pattern', c.pattern,
                'keyword_matched', c.keyword IS NOT NULL, 'keyword', c.keyword, 'context', c.context,
                'llm_validation_required', c.llm_required, 'llm_prompt', c.llm_prompt)
                ORDER BY c.sort_order), '[]')
            FROM cdl._workflow_candidates(cdl._character_id(character_name), user_message,
                                          coalesce(request_context, '{}')) AS c);
END
$$;

COMMENT ON FUNCTION cdl.check_workflow_triggers(varchar, text, varchar, jsonb) IS
    'Which workflows the message would start, starting nothing: per candidate the workflow, the '
    'pattern and keyword that matched, the extracted context and any LLM validation prompt, in '
    'the order of the file''s workflow_priority. request_context is checked by context_required.';

CREATE OR REPLACE FUNCTION cdl._log(
    p_instance_id bigint, p_user_id text, event cdl.workflow_event_enum, from_state text, to_state text,
    message text DEFAULT NULL, details jsonb DEFAULT '{}')
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO cdl.workflow_execution_log (instance_id, user_id, event_type, from_state, to_state, message, details)
    VALUES (p_instance_id, p_user_id, event, from_state, to_state, message, coalesce(details, '{}'))
$$;

COMMENT ON FUNCTION cdl._log(bigint, text, cdl.workflow_event_enum, text, text, text, jsonb) IS
    'One row of the workflow execution log.';

CREATE OR REPLACE FUNCTION cdl._enter_state(
    p_instance_id bigint, from_state text, state text, action text, as_of timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
AS $$
DECLARE
    inst record;
    st record;
    v_status cdl.workflow_status_enum;
BEGIN
    SELECT i.*, f.config INTO inst
    FROM cdl.workflow_instances i
    JOIN cdl.character_workflows w ON w.id = i.workflow_id
    JOIN cdl.workflow_files f ON f.id = w.file_id
    WHERE i.id = p_instance_id;
    SELECT * INTO st FROM cdl.workflow_states s WHERE s.workflow_id = inst.workflow_id AND s.state_name = state;
    IF action IS NOT NULL THEN
        PERFORM cdl._log(p_instance_id, inst.user_id, 'action_executed', from_state, state, NULL,
                         jsonb_build_object('action', action));
    END IF;
    v_status := CASE WHEN NOT st.is_final THEN 'active'
                     WHEN action = 'cancel_transaction' OR state = 'cancelled' THEN 'cancelled'
                     ELSE 'completed' END;
    UPDATE cdl.workflow_instances
    SET current_state = state, status = v_status, updated_at = as_of,
        timeout_at = CASE WHEN st.is_final THEN NULL
                          ELSE as_of + make_interval(secs => coalesce(st.timeout_seconds,
                                                     (inst.config ->> 'default_timeout_seconds')::numeric)) END,
        completed_at = CASE WHEN st.is_final THEN as_of END
    WHERE id = p_instance_id;
    PERFORM cdl._log(p_instance_id, inst.user_id, 'state_entered', from_state, state);
    IF st.is_final THEN
        PERFORM cdl._log(p_instance_id, inst.user_id,
                         (CASE v_status WHEN 'cancelled' THEN 'workflow_cancelled'
                          ELSE 'workflow_completed' END)::cdl.workflow_event_enum,
                         state, NULL);
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._enter_state(bigint, text, text, text, timestamptz) IS
    'Move an instance into a state: timeout from the state or the file''s default; a final state '
    'ends it (cancelled for cancel_transaction or a state named cancelled, else completed).';

CREATE OR REPLACE FUNCTION cdl._lock_user(p_character_id bigint, p_user_id text)
RETURNS void
LANGUAGE sql
AS $$
    -- one user's messages to one character are processed one at a time
    SELECT pg_advisory_xact_lock(hashtext('cdlstore.workflow.' || p_character_id), hashtext(p_user_id))
$$;

COMMENT ON FUNCTION cdl._lock_user(bigint, text) IS 'Serialize the workflow work of one user with one character.';

CREATE OR REPLACE FUNCTION cdl._start(
    p_user_id text, p_character_id bigint, p_workflow_id bigint, context jsonb, trigger jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
AS $$
DECLARE
    w record;
    v_active integer;
    v_id bigint;
BEGIN
    SELECT cw.*, f.config INTO w FROM cdl.character_workflows cw JOIN cdl.workflow_files f ON f.id = cw.file_id
    WHERE cw.id = p_workflow_id;
    SELECT count(*) INTO v_active FROM cdl.workflow_instances i
    WHERE i.user_id = p_user_id AND i.character_id = p_character_id AND i.status = 'active';
    IF v_active > 0 AND NOT (w.config ->> 'concurrent_workflows')::boolean THEN
        RAISE EXCEPTION 'user % already has an active workflow with this character', p_user_id
            USING ERRCODE = 'CD007', HINT = 'Finish or cancel it, or set config.concurrent_workflows.';
    END IF;
    IF v_active >= (w.config ->> 'max_pending_per_user')::numeric THEN
        RAISE EXCEPTION 'user % has % active workflows; max_pending_per_user is %', p_user_id, v_active,
            w.config ->> 'max_pending_per_user' USING ERRCODE = 'CD007';
    END IF;
    INSERT INTO cdl.workflow_instances (user_id, character_id, workflow_id, current_state, context)
    VALUES (p_user_id, p_character_id, p_workflow_id, w.initial_state, context)
    RETURNING id INTO v_id;
    PERFORM cdl._log(v_id, p_user_id, 'workflow_started', NULL, w.initial_state, trigger ->> 'message',
                     trigger - 'message' || jsonb_build_object('definition_version', w.definition_version));
    PERFORM cdl._enter_state(v_id, NULL, w.initial_state, w.on_trigger_action, now());
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION cdl._start(text, bigint, bigint, jsonb, jsonb) IS
    'Start an instance within the file''s limits (CD007 beyond them), logged.';

CREATE OR REPLACE FUNCTION cdl._expire(as_of timestamptz, p_user_id text DEFAULT NULL, p_character_id bigint DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
AS $$
DECLARE
    expired integer;
BEGIN
    WITH due AS (
        SELECT i.id FROM cdl.workflow_instances i
        WHERE i.status = 'active' AND i.timeout_at <= as_of
          AND (p_user_id IS NULL OR (i.user_id = p_user_id AND i.character_id = p_character_id))
        ORDER BY i.timeout_at
        FOR UPDATE SKIP LOCKED  -- many sessions may expire at once: each instance exactly once
    ), ended AS (
        UPDATE cdl.workflow_instances i
        SET status = 'timeout', completed_at = as_of, updated_at = as_of
        FROM due WHERE i.id = due.id AND i.status = 'active'
        RETURNING i.id, i.user_id, i.workflow_id, i.current_state
    )
    INSERT INTO cdl.workflow_execution_log (instance_id, user_id, event_type, from_state, message, details)
    SELECT e.id, e.user_id, 'workflow_timeout', e.current_state, s.timeout_message,
           jsonb_build_object('action', s.timeout_action)
    FROM ended e
    LEFT JOIN cdl.workflow_states s ON s.workflow_id = e.workflow_id AND s.state_name = e.current_state;
    GET DIAGNOSTICS expired = ROW_COUNT;
    RETURN expired;
END
$$;

COMMENT ON FUNCTION cdl._expire(timestamptz, text, bigint) IS
    'End every active instance past its timeout_at (of one user and character when given).';

CREATE OR REPLACE FUNCTION cdl._step(action text, p_instance_id bigint)
RETURNS jsonb
LANGUAGE sql
STABLE
AS $$
    SELECT jsonb_build_object('action', action, 'instance_id', i.id, 'workflow_name', w.workflow_name,
               'state', i.current_state, 'status', i.status, 'context', i.context,
               'prompt_injection', cdl._render(s.prompt_injection, i.context, 'context.'),
               'system_prompt_addition', cdl._render(w.system_prompt_addition, i.context, 'context.'))
    FROM cdl.workflow_instances i
    JOIN cdl.character_workflows w ON w.id = i.workflow_id
    LEFT JOIN cdl.workflow_states s ON s.workflow_id = i.workflow_id AND s.state_name = i.current_state
    WHERE i.id = p_instance_id
$$;

COMMENT ON FUNCTION cdl._step(text, bigint) IS 'The result of process_workflow_message for an instance.';

CREATE OR REPLACE FUNCTION cdl.start_workflow_instance(
    user_id varchar, character_name varchar, workflow_name varchar, initial_context jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_character_id bigint := cdl._character_id(character_name);
    v_workflow_id bigint;
    x record;
BEGIN
    PERFORM cdl._check_message(user_id, '');
    IF initial_context IS NULL OR jsonb_typeof(initial_context) <> 'object' THEN
        RAISE EXCEPTION 'initial_context must be a JSON object' USING ERRCODE = 'CD001';
    END IF;
    SELECT w.id INTO v_workflow_id FROM cdl.character_workflows w
    WHERE w.character_id = v_character_id AND w.workflow_name = start_workflow_instance.workflow_name
      AND w.is_current;
    IF v_workflow_id IS NULL THEN
        RAISE EXCEPTION 'workflow % not found for character %', quote_literal(workflow_name),
            quote_literal(character_name) USING ERRCODE = 'CD002';
    END IF;
    PERFORM cdl._lock_user(v_character_id, user_id);
    PERFORM cdl._expire(now(), user_id, v_character_id);
    x := cdl._extract_context(v_workflow_id, '', NULL, '{}');
    RETURN cdl._start(user_id, v_character_id, v_workflow_id, x.context || initial_context,
                      jsonb_build_object('started_by', 'start_workflow_instance'));
END
$$;

COMMENT ON FUNCTION cdl.start_workflow_instance(varchar, varchar, varchar, jsonb) IS
    'Start a workflow for a user directly (no trigger); literal extractors and initial_context '
    'make the context. CD002 unknown, CD007 beyond the file''s limits. Returns the instance id.';

CREATE OR REPLACE FUNCTION cdl.process_workflow_message(
    user_id varchar, character_name varchar, message text, llm_confirmed boolean DEFAULT false,
    request_context jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_character_id bigint := cdl._character_id(character_name);
    v_config jsonb;
    inst record;
    tr record;
    m record;
    cand record;
    v_first_active bigint;
    v_started bigint;
    v_active integer := 0;
BEGIN
    PERFORM cdl._check_message(user_id, message);
    PERFORM cdl._lock_user(v_character_id, user_id);
    PERFORM cdl._expire(now(), user_id, v_character_id);
    SELECT f.config INTO v_config FROM cdl.workflow_files f WHERE f.character_id = v_character_id AND f.is_current;

    -- an active instance: only its current state's transitions, in file order
    FOR inst IN SELECT i.id, i.workflow_id, i.current_state FROM cdl.workflow_instances i
                WHERE i.user_id = process_workflow_message.user_id AND i.character_id = v_character_id
                  AND i.status = 'active' ORDER BY i.id LOOP
        v_active := v_active + 1;
        v_first_active := coalesce(v_first_active, inst.id);
        FOR tr IN SELECT t.* FROM cdl.workflow_transitions t
                  WHERE t.workflow_id = inst.workflow_id AND t.from_state = inst.current_state
                  ORDER BY t.sort_order LOOP
            m := cdl._match_lists(message, tr.pattern_regex, tr.keyword_regex, tr.patterns);
            IF m.pattern IS NOT NULL OR m.keyword IS NOT NULL THEN
                PERFORM cdl._log(inst.id, user_id, 'state_exited', inst.current_state, tr.to_state);
                PERFORM cdl._log(inst.id, user_id, 'transition_triggered', inst.current_state, tr.to_state,
                                 message, jsonb_build_object('pattern', m.pattern, 'keyword', m.keyword));
                PERFORM cdl._enter_state(inst.id, inst.current_state, tr.to_state, tr.action, now());
                RETURN cdl._step('transitioned', inst.id);
            END IF;
        END LOOP;
    END LOOP;
    IF v_active > 0 AND (NOT coalesce((v_config ->> 'concurrent_workflows')::boolean, false)
                         OR v_active >= (v_config ->> 'max_pending_per_user')::numeric) THEN
        RETURN cdl._step('unchanged', v_first_active);
    END IF;

    -- otherwise the first workflow the message starts, by the file's priority
    SELECT * INTO cand FROM cdl._workflow_candidates(v_character_id, message, coalesce(request_context, '{}')) c
    ORDER BY c.sort_order LIMIT 1;
    IF cand.workflow_id IS NULL THEN
        RETURN CASE WHEN v_first_active IS NOT NULL THEN cdl._step('unchanged', v_first_active)
                    ELSE jsonb_build_object('action', 'none') END;
    END IF;
    IF cand.llm_required AND NOT coalesce(llm_confirmed, false) THEN
        RETURN jsonb_build_object('action', 'needs_llm_validation', 'workflow_name', cand.workflow_name,
                                  'llm_prompt', cand.llm_prompt, 'context', cand.context);
    END IF;
    v_started := cdl._start(user_id, v_character_id, cand.workflow_id, cand.context,
        jsonb_build_object('message', message, 'pattern', cand.pattern, 'keyword', cand.keyword,
                           'llm_confirmed', coalesce(llm_confirmed, false)));
    RETURN cdl._step('started', v_started);  -- a statement of its own: it must see the new row
END
$$;

COMMENT ON FUNCTION cdl.process_workflow_message(varchar, varchar, text, boolean, jsonb) IS
    'The one call per user message: moves the user''s active instance or starts a workflow. '
    'Returns {action: started | transitioned | unchanged | needs_llm_validation | none, instance_id, '
    'workflow_name, state, status, context, prompt_injection, system_prompt_addition}.';

CREATE OR REPLACE FUNCTION cdl.get_user_active_workflows(user_id varchar)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN (SELECT coalesce(jsonb_agg(cdl._step('active', i.id)
                                      || jsonb_build_object('character', c.normalized_name,
                                                            'started_at', i.started_at,
                                                            'timeout_at', i.timeout_at) ORDER BY i.id), '[]')
            FROM cdl.workflow_instances i JOIN cdl.characters c ON c.id = i.character_id
            WHERE i.user_id = get_user_active_workflows.user_id AND i.status = 'active');
END
$$;

COMMENT ON FUNCTION cdl.get_user_active_workflows(varchar) IS 'The user''s active workflow instances, oldest first.';

CREATE OR REPLACE FUNCTION cdl.cancel_workflow_instance(instance_id bigint, reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    inst record;
BEGIN
    SELECT i.* INTO inst FROM cdl.workflow_instances i WHERE i.id = cancel_workflow_instance.instance_id;
    IF inst.id IS NULL THEN
        RAISE EXCEPTION 'workflow instance % not found', instance_id USING ERRCODE = 'CD002';
    END IF;
    PERFORM cdl._lock_user(inst.character_id, inst.user_id);
    UPDATE cdl.workflow_instances i SET status = 'cancelled', completed_at = now(), updated_at = now(),
                                        timeout_at = NULL
    WHERE i.id = inst.id AND i.status = 'active';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM cdl._log(inst.id, inst.user_id, 'workflow_cancelled', inst.current_state, NULL, reason);
    RETURN true;
END
$$;

COMMENT ON FUNCTION cdl.cancel_workflow_instance(bigint, text) IS
    'Cancel an active instance; false when it was no longer active. CD002 when unknown.';

CREATE OR REPLACE FUNCTION cdl.expire_workflow_timeouts(as_of timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    n integer := cdlstore_internal.sweep(
        $q$SELECT tenant FROM cdl.workflow_instances WHERE status = 'active' AND timeout_at <= $1$q$,
        'SELECT cdl.expire_workflow_timeouts($1)', coalesce(as_of, now()));
BEGIN
    RETURN coalesce(n, cdl._expire(coalesce(as_of, now())));
END
$$;

COMMENT ON FUNCTION cdl.expire_workflow_timeouts(timestamptz) IS
    'End every active instance past its timeout (status timeout, logged with the state''s timeout '
    'action and message): the caller''s tenant, every tenant for an administrator naming none. '
    'Safe to run from many sessions at once. Returns how many ended.';

CREATE OR REPLACE FUNCTION cdl.render_workflow_prompt(instance_id bigint)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    step jsonb := cdl._step('render', instance_id);
BEGIN
    IF step IS NULL THEN
        RAISE EXCEPTION 'workflow instance % not found', instance_id USING ERRCODE = 'CD002';
    END IF;
    RETURN step ->> 'prompt_injection';
END
$$;

COMMENT ON FUNCTION cdl.render_workflow_prompt(bigint) IS
    'The current state''s prompt_injection with {context.key} filled from the instance.';
