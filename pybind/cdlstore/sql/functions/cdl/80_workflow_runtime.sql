-- Workflow runtime: trigger matching, context extraction, instances, transitions, timeouts.

CREATE OR REPLACE FUNCTION cdl._match_lists(
    message text, words tsvector, keyword_query tsquery, patterns text[], keywords text[],
    required_literals text[], OUT pattern text, OUT groups text[], OUT keyword text)
RETURNS record
LANGUAGE plpgsql
STABLE
-- no SET: a workflow helper, run with the search_path of its caller
AS $$
DECLARE
    v_lower text := CASE WHEN required_literals IS NOT NULL THEN lower(message) END;
BEGIN
    -- each pattern runs as it was checked at import (cdlstore_internal.runnable_regex), in file
    -- order; one whose required text (required_literals, NULL: none) is not in the message is
    -- skipped without compiling it
    FOR i IN 1 .. coalesce(cardinality(patterns), 0) LOOP
        CONTINUE WHEN required_literals[i] IS NOT NULL AND strpos(v_lower, required_literals[i]) = 0;
        groups := regexp_match(message, cdlstore_internal.runnable_regex(patterns[i]), 'i');
        IF groups IS NOT NULL THEN
            pattern := patterns[i];
            EXIT;
        END IF;
    END LOOP;
    IF keyword_query IS NOT NULL AND words @@ keyword_query THEN
        FOR i IN 1 .. cardinality(keywords) LOOP
            IF words @@ phraseto_tsquery('cdl.keywords', keywords[i]) THEN
                keyword := lower(keywords[i]);
                EXIT;
            END IF;
        END LOOP;
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._match_lists(text, tsvector, tsquery, text[], text[], text[]) IS
    'The first pattern (file order) found anywhere in message, with its groups (element 1 is the '
    'whole match; case-insensitive), and the first keyword whose words are in the message by '
    'English stem (words: to_tsvector(''cdl.keywords'', message)); required_literals (lower case, '
    'one per pattern, or NULL for none) skip the patterns whose text is not in the message.';

CREATE OR REPLACE FUNCTION cdl._message_facts(request_context jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE  -- it raises: never folded at plan time
-- no SET: a workflow helper, run with the search_path of its caller
AS $$
BEGIN
    IF request_context IS NOT NULL AND jsonb_typeof(request_context) <> 'object' THEN
        RAISE EXCEPTION 'request_context must be a JSON object, got %', jsonb_typeof(request_context)
            USING ERRCODE = 'CD001';
    END IF;
    -- a message handed to the engine is a user's request; the caller's context overrides
    RETURN jsonb_build_object('message_type', 'user_request') || coalesce(request_context, '{}');
END
$$;

COMMENT ON FUNCTION cdl._message_facts(jsonb) IS
    'The facts context_required tests: the built-in ones (message_type = user_request) under the '
    'caller''s request_context (CD001 when it is not an object).';

CREATE OR REPLACE FUNCTION cdl._extract_context(
    extractors jsonb, p_file_id bigint, validation_rules jsonb, message text, groups text[], base jsonb,
    OUT context jsonb, OUT rejected text)
RETURNS record
LANGUAGE plpgsql
STABLE
-- no SET: a workflow helper, run with the search_path of its caller
AS $$
DECLARE
    v_ctx_key text;
    v_config jsonb;
    rule jsonb;
    v_value jsonb;
    v_text text;
    v_group integer;
    v_key text;
    v_entries jsonb;
BEGIN
    context := coalesce(base, '{}');
    -- the workflow's extractors as the import stored them (character_workflows.extractors)
    FOR i IN 0 .. jsonb_array_length(extractors) - 1 LOOP
        v_ctx_key := extractors -> i ->> 'key';
        v_config := extractors -> i -> 'config';
        v_value := NULL;
        CASE extractors -> i ->> 'type'
        WHEN 'pattern_group' THEN
            v_group := coalesce((v_config ->> 'group')::integer, 1);
            v_text := btrim(groups[v_group + 1]);
            IF v_text IS NOT NULL AND v_text <> '' THEN
                v_value := to_jsonb(CASE v_config ->> 'transform' WHEN 'lowercase' THEN lower(v_text)
                                    WHEN 'uppercase' THEN upper(v_text) ELSE v_text END);
            END IF;
        WHEN 'lookup_table' THEN
            v_key := cdl._render(v_config ->> 'key', context, '');
            SELECT t.entries INTO v_entries FROM cdl.workflow_lookup_tables t
            WHERE t.file_id = p_file_id AND t.table_name = v_config ->> 'table';
            v_value := coalesce(v_entries -> v_key, v_entries -> lower(v_key));
        WHEN 'message_full' THEN
            v_value := to_jsonb(message);
        ELSE
            v_value := v_config -> 'value';
        END CASE;
        context := context || jsonb_build_object(v_ctx_key,
                                                  coalesce(v_value, v_config -> 'default', 'null'::jsonb));
        -- the rules of this field run now, so that later extractors see the corrected value
        CONTINUE WHEN validation_rules = '[]';
        FOR rule IN SELECT r FROM jsonb_array_elements(validation_rules) AS r
                    WHERE r ->> 'field' = v_ctx_key LOOP
            IF NOT EXISTS (SELECT FROM jsonb_array_elements(rule -> 'values') AS v
                           WHERE lower(v #>> '{}') = lower(context ->> v_ctx_key)) THEN
                IF rule ->> 'on_fail' = 'use_default' THEN
                    context := context || jsonb_build_object(v_ctx_key, coalesce(rule -> 'default', 'null'::jsonb));
                ELSE
                    rejected := format('%s %s is not in the list', v_ctx_key, context -> v_ctx_key);
                    RETURN;
                END IF;
            END IF;
        END LOOP;
    END LOOP;
END
$$;

COMMENT ON FUNCTION cdl._extract_context(jsonb, bigint, jsonb, text, text[], jsonb) IS
    'Run a workflow''s extractors (character_workflows.extractors; lookups in the tables of file '
    'p_file_id) in file order over base, each followed by its validation rules; '
    'rejected says why a reject rule stopped the workflow.';

CREATE OR REPLACE FUNCTION cdl._workflow_candidates(
    p_character_id bigint, message text, request_context jsonb)
RETURNS TABLE (workflow_id bigint, workflow_name varchar, sort_order integer, pattern text,
               keyword text, context jsonb, llm_required boolean, llm_prompt text,
               system_prompt_addition text)
LANGUAGE plpgsql
STABLE
-- no SET: a workflow helper, run with the search_path of its caller
AS $$
DECLARE
    w record;
    m record;
    x record;
    -- a caller's context is checked now; the built-in facts alone only when a workflow tests them
    v_facts jsonb := CASE WHEN request_context IS DISTINCT FROM '{}' THEN cdl._message_facts(request_context) END;
    v_lower text := lower(message);
    v_words tsvector := to_tsvector('cdl.keywords', message);
BEGIN
    -- per workflow, only the patterns whose required text is in the message run as regexes
    -- (PostgreSQL caches only 32 compiled ones per connection); keywords are one tsquery. The
    -- lists are the import's copies on the workflow row: one row per workflow, no join
    FOR w IN SELECT cw.id, cw.workflow_name, cw.sort_order, cw.context_required, cw.llm_validation,
                    cw.system_prompt_addition, cw.keyword_query, cw.patterns, cw.required_literals,
                    cw.keywords, cw.extractors, cw.file_id, cw.validation_rules,
                    cw.config ->> 'workflow_priority' AS priority
             FROM cdl.character_workflows cw
             WHERE cw.character_id = p_character_id AND cw.is_current
               AND (v_words @@ cw.keyword_query
                    OR EXISTS (SELECT FROM unnest(cw.required_literals) AS l
                               WHERE l IS NULL OR strpos(v_lower, l) > 0))
             ORDER BY cw.sort_order LOOP
        m := cdl._match_lists(message, v_words, w.keyword_query, w.patterns, w.keywords, w.required_literals);
        CONTINUE WHEN m.pattern IS NULL AND m.keyword IS NULL;
        IF w.context_required <> '[]' THEN
            v_facts := coalesce(v_facts, cdl._message_facts(request_context));
            CONTINUE WHEN EXISTS (SELECT FROM jsonb_array_elements(w.context_required) AS c
                                  WHERE (v_facts ->> (c ->> 'type')) IS DISTINCT FROM (c ->> 'value'));
        END IF;
        x := cdl._extract_context(w.extractors, w.file_id, w.validation_rules, message, m.groups, '{}');
        CONTINUE WHEN x.rejected IS NOT NULL;
        workflow_id := w.id;
        workflow_name := w.workflow_name;
        sort_order := CASE WHEN w.priority = 'best_match' AND m.pattern IS NULL THEN 1000000 ELSE 0 END
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
    'sort_order orders them by the file''s workflow_priority. context_required is tested '
    'against cdl._message_facts(request_context).';

CREATE OR REPLACE FUNCTION cdl._check_message(user_id text, message text)
RETURNS void
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
-- no SET: a workflow helper, run with the search_path of its caller
AS $$
BEGIN
    IF user_id IS NULL OR btrim(user_id) = '' OR length(user_id) > 200 THEN
        RAISE EXCEPTION 'user_id must be 1 to 200 characters' USING ERRCODE = 'CD001';
    END IF;
    IF message IS NULL THEN
        RAISE EXCEPTION 'message must not be NULL' USING ERRCODE = 'CD001';
    END IF;
    IF length(message) > cdlstore_internal.regex_limit('text') THEN
        RAISE EXCEPTION 'message is % characters long; at most % are matched', length(message),
            cdlstore_internal.regex_limit('text') USING ERRCODE = 'CD007';
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
    'the order of the file''s workflow_priority. context_required is tested against the built-in '
    'message facts (message_type = user_request) overridden by request_context.';

CREATE OR REPLACE FUNCTION cdl._end_event(status cdl.workflow_status_enum)
RETURNS cdl.workflow_event_enum
LANGUAGE sql
STABLE PARALLEL SAFE  -- as the enum cast is, so that it is inlined
AS $$
    SELECT (CASE status WHEN 'completed' THEN 'workflow_completed' WHEN 'cancelled' THEN 'workflow_cancelled'
            END)::cdl.workflow_event_enum
$$;

COMMENT ON FUNCTION cdl._end_event(cdl.workflow_status_enum) IS
    'The log event of an instance that a state entry ended (NULL while it is active).';

CREATE OR REPLACE FUNCTION cdl._log_rows(
    event cdl.workflow_event_enum, from_state text, to_state text, message text, details jsonb,
    ended cdl.workflow_status_enum)
RETURNS TABLE (n integer, row_event cdl.workflow_event_enum, row_from text, row_to text, row_message text,
               row_details jsonb)
LANGUAGE sql
STABLE PARALLEL SAFE  -- inlined into the INSERT that writes the rows
AS $$
    -- the step's row and, when the step ended the instance (ended), the end row
    SELECT e.n, e.event, e.from_state, e.to_state, e.message, e.details
    FROM (VALUES (1, event, from_state, to_state, message, coalesce(details, '{}')),
                 (2, cdl._end_event(ended), to_state, NULL, NULL, '{}'))
         AS e (n, event, from_state, to_state, message, details)
    WHERE e.event IS NOT NULL
$$;

COMMENT ON FUNCTION cdl._log_rows(cdl.workflow_event_enum, text, text, text, jsonb, cdl.workflow_status_enum) IS
    'The log rows of one step (n orders them): the step''s and, when the status it entered '
    '(ended) ends the instance, the end row.';

CREATE OR REPLACE FUNCTION cdl._log(
    p_instance_id bigint, p_user_id text, event cdl.workflow_event_enum, from_state text, to_state text,
    message text DEFAULT NULL, details jsonb DEFAULT '{}', ended cdl.workflow_status_enum DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql  -- not sql: an INSERT in a SQL function is planned on every call
SET search_path = cdl, pg_temp
AS $$
BEGIN
    INSERT INTO cdl.workflow_execution_log (instance_id, user_id, event_type, from_state, to_state, message, details)
    SELECT p_instance_id, p_user_id, e.row_event, e.row_from, e.row_to, e.row_message, e.row_details
    FROM cdl._log_rows(event, from_state, to_state, message, details, ended) AS e ORDER BY e.n;
END
$$;

COMMENT ON FUNCTION cdl._log(bigint, text, cdl.workflow_event_enum, text, text, text, jsonb, cdl.workflow_status_enum) IS
    'One row of the workflow execution log, and after it the end row when the status a step '
    'entered (ended) ends the instance.';

CREATE OR REPLACE FUNCTION cdl._state_status(is_final boolean, state text, action text)
RETURNS cdl.workflow_status_enum
LANGUAGE sql
STABLE PARALLEL SAFE  -- as the enum cast and timestamptz + interval are, so that it is inlined
AS $$
    -- a final state ends the instance: cancelled for cancel_transaction or a state named
    -- cancelled, else completed
    SELECT (CASE WHEN NOT is_final THEN 'active'
                 WHEN action = 'cancel_transaction' OR state = 'cancelled' THEN 'cancelled'
                 ELSE 'completed' END)::cdl.workflow_status_enum
$$;

COMMENT ON FUNCTION cdl._state_status(boolean, text, text) IS 'The status of an instance that enters a state.';

CREATE OR REPLACE FUNCTION cdl._timeout_seconds(timeout_seconds integer, config jsonb)
RETURNS numeric
LANGUAGE sql
STABLE PARALLEL SAFE  -- as the numeric cast is, so that it is inlined
AS $$
    -- a state's own timeout, else the file's default (config: the file's)
    SELECT coalesce(timeout_seconds, (config ->> 'default_timeout_seconds')::numeric)
$$;

COMMENT ON FUNCTION cdl._timeout_seconds(integer, jsonb) IS
    'How long an instance may stay in a state: the state''s timeout, else the file''s default.';

CREATE OR REPLACE FUNCTION cdl._state_timeout(is_final boolean, timeout_seconds numeric, as_of timestamptz)
RETURNS timestamptz
LANGUAGE sql
STABLE PARALLEL SAFE  -- as timestamptz + interval is, so that it is inlined
AS $$
    -- none in a final state
    SELECT CASE WHEN NOT is_final THEN as_of + make_interval(secs => timeout_seconds) END
$$;

COMMENT ON FUNCTION cdl._state_timeout(boolean, numeric, timestamptz) IS
    'When an instance that enters a state at as_of times out (timeout_seconds: cdl._timeout_seconds).';

CREATE OR REPLACE FUNCTION cdl._step_json(
    action text, instance_id bigint, workflow_name text, state text, status cdl.workflow_status_enum,
    context jsonb, prompt_injection text, system_prompt_addition text)
RETURNS jsonb
LANGUAGE sql
STABLE PARALLEL SAFE  -- as jsonb_build_object is
AS $$
    SELECT jsonb_build_object('action', action, 'instance_id', instance_id, 'workflow_name', workflow_name,
               'state', state, 'status', status, 'context', context,
               -- a template with no placeholder (or none: NULL) is its own rendering: no call
               'prompt_injection', CASE WHEN strpos(prompt_injection, '{') > 0
                                        THEN cdl._render(prompt_injection, context, 'context.')
                                        ELSE prompt_injection END,
               'system_prompt_addition', CASE WHEN strpos(system_prompt_addition, '{') > 0
                                              THEN cdl._render(system_prompt_addition, context, 'context.')
                                              ELSE system_prompt_addition END)
$$;

COMMENT ON FUNCTION cdl._step_json(text, bigint, text, text, cdl.workflow_status_enum, jsonb, text, text) IS
    'The result of process_workflow_message: the step and the instance, prompts rendered.';

CREATE OR REPLACE FUNCTION cdl._lock_user(p_character_id bigint, p_user_id text)
RETURNS void
LANGUAGE sql
AS $$
    -- one user's messages to one character are processed one at a time
    SELECT pg_advisory_xact_lock(hashtext('cdlstore.workflow.' || p_character_id), hashtext(p_user_id))
$$;

COMMENT ON FUNCTION cdl._lock_user(bigint, text) IS 'Serialize the workflow work of one user with one character.';

CREATE OR REPLACE FUNCTION cdl._start(
    p_user_id text, p_workflow_id bigint, context jsonb, trigger jsonb, active bigint)
RETURNS jsonb
LANGUAGE plpgsql
-- no SET: a workflow helper, run with the search_path of its caller
AS $$
DECLARE
    w record;
    v_id bigint;
BEGIN
    -- the workflow row is locked as a foreign key's check did (FOR KEY SHARE): it cannot be
    -- deleted until this transaction ends (migration 0028)
    -- (the file's config and the initial state's values are the import's copies on the row)
    SELECT cw.character_id, cw.workflow_name, cw.initial_state, cw.on_trigger_action, cw.definition_version,
           cw.system_prompt_addition, cw.config, cw.initial_prompt_injection AS prompt_injection,
           cdl._state_status(cw.initial_final, cw.initial_state, cw.on_trigger_action) AS status,
           cdl._state_timeout(cw.initial_final, cw.initial_timeout_seconds, now()) AS timeout_at
    INTO w
    FROM cdl.character_workflows cw
    WHERE cw.id = p_workflow_id
    FOR KEY SHARE;
    IF active > 0 AND NOT (w.config ->> 'concurrent_workflows')::boolean THEN
        RAISE EXCEPTION 'user % already has an active workflow with this character', p_user_id
            USING ERRCODE = 'CD007', HINT = 'Finish or cancel it, or set config.concurrent_workflows.';
    END IF;
    IF active >= (w.config ->> 'max_pending_per_user')::numeric THEN
        RAISE EXCEPTION 'user % has % active workflows; max_pending_per_user is %', p_user_id, active,
            w.config ->> 'max_pending_per_user' USING ERRCODE = 'CD007';
    END IF;
    -- one statement: the instance, written once, already in its initial state (its id carries the
    -- user's shard), and its log rows (as cdl._log writes them): the start and, for a final
    -- initial state, the end
    WITH started AS (
        INSERT INTO cdl.workflow_instances (id, user_id, character_id, workflow_id, current_state, context,
                                            status, timeout_at, completed_at)
        OVERRIDING SYSTEM VALUE
        VALUES (cdl._instance_id(p_user_id), p_user_id, w.character_id, p_workflow_id, w.initial_state, context,
                w.status, w.timeout_at, CASE WHEN w.status <> 'active' THEN now() END)
        RETURNING id
    ), logged AS (
        INSERT INTO cdl.workflow_execution_log (instance_id, user_id, event_type, from_state, to_state,
                                                message, details)
        SELECT s.id, p_user_id, e.row_event, e.row_from, e.row_to, e.row_message, e.row_details
        FROM started s,
             cdl._log_rows('workflow_started', NULL, w.initial_state, trigger ->> 'message',
                           trigger - 'message' || jsonb_build_object('definition_version', w.definition_version,
                                                                     'action', w.on_trigger_action),
                           w.status) AS e
        ORDER BY e.n
    )
    SELECT s.id INTO v_id FROM started s;
    RETURN cdl._step_json('started', v_id, w.workflow_name, w.initial_state, w.status, context,
                          w.prompt_injection, w.system_prompt_addition);
END
$$;

COMMENT ON FUNCTION cdl._start(text, bigint, jsonb, jsonb, bigint) IS
    'Start an instance of a workflow for a user with that many active instances (active: the '
    'caller counted them under the user''s lock), within the file''s limits (CD007 beyond them), '
    'logged; returns the started step.';

CREATE OR REPLACE FUNCTION cdl._delete_workflow_instances()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
AS $$
BEGIN
    -- since migration 0028 instances have no foreign keys (the one to the character cascaded,
    -- the one to the workflow refused): a deleted workflow (so also a deleted character) takes
    -- its instances, and they their log
    DELETE FROM cdl.workflow_instances i USING gone WHERE i.workflow_id = gone.id;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION cdl._delete_workflow_instances() IS
    'Trigger: the instances of deleted workflows go with them (instances have no foreign keys: '
    'docs/workflows.md).';

CREATE OR REPLACE TRIGGER character_workflows_delete_instances
AFTER DELETE ON cdl.character_workflows
REFERENCING OLD TABLE AS gone
FOR EACH STATEMENT EXECUTE FUNCTION cdl._delete_workflow_instances();

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

CREATE OR REPLACE FUNCTION cdl._delete_instance_log()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
AS $$
BEGIN
    -- what ON DELETE CASCADE of a foreign key did (migration 0028), once per statement
    DELETE FROM cdl.workflow_execution_log l USING gone WHERE l.instance_id = gone.id;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION cdl._delete_instance_log() IS
    'Trigger: the log rows of deleted workflow instances go with them (the log has no foreign '
    'key: docs/workflows.md).';

CREATE OR REPLACE TRIGGER workflow_instances_delete_log
AFTER DELETE ON cdl.workflow_instances
REFERENCING OLD TABLE AS gone
FOR EACH STATEMENT EXECUTE FUNCTION cdl._delete_instance_log();

CREATE OR REPLACE FUNCTION cdl._step(action text, p_instance_id bigint)
RETURNS jsonb
LANGUAGE plpgsql  -- not sql: a plpgsql function keeps its plan from call to call
STABLE
-- no SET: a workflow helper, run with the search_path of its caller
AS $$
BEGIN
    RETURN (SELECT cdl._step_json(action, i.id, w.workflow_name, i.current_state, i.status, i.context,
                                  s.prompt_injection, w.system_prompt_addition)
            FROM cdl.workflow_instances i
            JOIN cdl.character_workflows w ON w.id = i.workflow_id
            LEFT JOIN cdl.workflow_states s ON s.workflow_id = i.workflow_id AND s.state_name = i.current_state
            WHERE i.id = p_instance_id);
END
$$;

COMMENT ON FUNCTION cdl._step(text, bigint) IS 'The result of process_workflow_message for a stored instance.';

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
    wf record;
    x record;
BEGIN
    PERFORM cdl._check_message(user_id, '');
    IF initial_context IS NULL OR jsonb_typeof(initial_context) <> 'object' THEN
        RAISE EXCEPTION 'initial_context must be a JSON object' USING ERRCODE = 'CD001';
    END IF;
    SELECT w.id, w.extractors, w.file_id, w.validation_rules INTO wf FROM cdl.character_workflows w
    WHERE w.character_id = v_character_id AND w.workflow_name = start_workflow_instance.workflow_name
      AND w.is_current;
    IF wf.id IS NULL THEN
        RAISE EXCEPTION 'workflow % not found for character %', quote_literal(workflow_name),
            quote_literal(character_name) USING ERRCODE = 'CD002';
    END IF;
    PERFORM cdl._lock_user(v_character_id, user_id);
    PERFORM cdl._expire(now(), user_id, v_character_id);
    x := cdl._extract_context(wf.extractors, wf.file_id, wf.validation_rules, '', NULL, '{}');
    RETURN (cdl._start(user_id, wf.id, x.context || initial_context,
                       jsonb_build_object('started_by', 'start_workflow_instance'),
                       (SELECT count(*) FROM cdl.workflow_instances i WHERE i.user_id = start_workflow_instance.user_id
                          AND i.character_id = v_character_id AND i.status = 'active')) ->> 'instance_id')::bigint;
END
$$;

COMMENT ON FUNCTION cdl.start_workflow_instance(varchar, varchar, varchar, jsonb) IS
    'Start a workflow for a user directly (no trigger); literal extractors and initial_context '
    'make the context. CD002 unknown, CD007 beyond the file''s limits. Returns the instance id.';

CREATE OR REPLACE FUNCTION cdl._check_verdicts(llm_verdicts jsonb)
RETURNS void
LANGUAGE plpgsql
STABLE  -- it raises: never folded at plan time
-- no SET: a workflow helper, run with the search_path of its caller
AS $$
BEGIN
    IF llm_verdicts IS NOT NULL AND (jsonb_typeof(llm_verdicts) <> 'object'
       OR EXISTS (SELECT FROM jsonb_each(llm_verdicts) WHERE jsonb_typeof(value) <> 'boolean')) THEN
        RAISE EXCEPTION 'llm_verdicts must be a JSON object of workflow name to true or false'
            USING ERRCODE = 'CD001', HINT = 'e.g. {"custom_drink_order": false}';
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._check_verdicts(jsonb) IS 'Reject llm_verdicts that are not {workflow: boolean}.';

CREATE OR REPLACE FUNCTION cdl._transition(
    p_instance_id bigint, p_user_id text, p_workflow_id bigint, p_state text, message text, words tsvector)
RETURNS jsonb
LANGUAGE plpgsql
-- no SET: a workflow helper, run with the search_path of its caller
AS $$
DECLARE
    tr record;
    m record;
    v_context jsonb;
BEGIN
    -- only the current state's transitions, in file order; each carries what entering its
    -- state needs (stored at import: no other table is read); the first that matches moves it
    FOR tr IN SELECT t.to_state, t.patterns, t.keywords, t.keyword_query, t.action, t.to_final,
                     t.to_timeout_seconds, t.to_prompt_injection, t.workflow_name, t.system_prompt_addition,
                     cdl._state_status(t.to_final, t.to_state, t.action) AS status
              FROM cdl.workflow_transitions t
              WHERE t.workflow_id = p_workflow_id AND t.from_state = p_state
              ORDER BY t.sort_order LOOP
        m := cdl._match_lists(message, words, tr.keyword_query, tr.patterns, tr.keywords, NULL);
        CONTINUE WHEN m.pattern IS NULL AND m.keyword IS NULL;
        -- one statement: the instance moved (the caller holds its row lock) and its log rows
        -- (as cdl._log writes them): the transition and, into a final state, the end
        WITH moved AS (
            UPDATE cdl.workflow_instances i
            SET current_state = tr.to_state, status = tr.status, updated_at = now(),
                timeout_at = cdl._state_timeout(tr.to_final, tr.to_timeout_seconds, now()),
                completed_at = CASE WHEN tr.status <> 'active' THEN now() END
            WHERE i.id = p_instance_id
            RETURNING i.context
        ), logged AS (
            INSERT INTO cdl.workflow_execution_log (instance_id, user_id, event_type, from_state, to_state,
                                                    message, details)
            SELECT p_instance_id, p_user_id, e.row_event, e.row_from, e.row_to, e.row_message, e.row_details
            FROM cdl._log_rows('transition_triggered', p_state, tr.to_state, message,
                               jsonb_build_object('pattern', m.pattern, 'keyword', m.keyword, 'action', tr.action),
                               tr.status) AS e
            ORDER BY e.n
        )
        SELECT moved.context INTO v_context FROM moved;
        RETURN cdl._step_json('transitioned', p_instance_id, tr.workflow_name, tr.to_state, tr.status, v_context,
                              tr.to_prompt_injection, tr.system_prompt_addition);
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION cdl._transition(bigint, text, bigint, text, text, tsvector) IS
    'Apply the first transition of the instance''s current state that the message matches, '
    'logged; returns the transitioned step, NULL when none matches.';

CREATE OR REPLACE FUNCTION cdl.process_workflow_message(
    user_id varchar, character_name varchar, message text, llm_confirmed boolean DEFAULT false,
    request_context jsonb DEFAULT '{}', llm_verdicts jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_character_id bigint := cdl._character_id(character_name);
    v_config jsonb;
    v_words tsvector;
    inst record;
    cand record;
    v_verdict boolean;
    v_first boolean := true;
    v_first_active bigint;
    v_step jsonb;
    v_active integer := 0;
BEGIN
    IF llm_verdicts IS DISTINCT FROM '{}' THEN
        PERFORM cdl._check_verdicts(llm_verdicts);
    END IF;
    -- one statement for both (a rejected message is rolled back, and its lock with it)
    PERFORM cdl._check_message(user_id, message), cdl._lock_user(v_character_id, user_id);

    -- the active instances, locked: a sweeper that is ending one is waited for, and then it
    -- is no longer active (an instance ends exactly once); overdue ones are ended first
    FOR inst IN SELECT i.id, i.user_id, i.workflow_id, i.current_state, i.timeout_at <= now() AS overdue
                FROM cdl.workflow_instances i
                WHERE i.user_id = process_workflow_message.user_id AND i.character_id = v_character_id
                  AND i.status = 'active' ORDER BY coalesce(i.timeout_at <= now(), false) DESC, i.id
                FOR UPDATE LOOP
        IF inst.overdue THEN
            PERFORM cdl._expire(now(), user_id, v_character_id);
            CONTINUE;
        END IF;
        v_active := v_active + 1;
        v_first_active := coalesce(v_first_active, inst.id);
        v_words := coalesce(v_words, to_tsvector('cdl.keywords', message));  -- only with an instance to move
        v_step := cdl._transition(inst.id, inst.user_id, inst.workflow_id, inst.current_state, message, v_words);
        IF v_step IS NOT NULL THEN
            RETURN v_step;
        END IF;
    END LOOP;
    IF v_active > 0 THEN
        SELECT f.config INTO v_config FROM cdl.workflow_files f WHERE f.character_id = v_character_id AND f.is_current;
        IF NOT coalesce((v_config ->> 'concurrent_workflows')::boolean, false)
           OR v_active >= (v_config ->> 'max_pending_per_user')::numeric THEN
            RETURN cdl._step('unchanged', v_first_active);
        END IF;
    END IF;

    -- otherwise the first workflow the message starts, by the file's priority, skipping those
    -- the caller's LLM declined
    FOR cand IN SELECT * FROM cdl._workflow_candidates(v_character_id, message, request_context) c
                ORDER BY c.sort_order LOOP
        v_verdict := coalesce((llm_verdicts -> cand.workflow_name::text)::boolean,
                              CASE WHEN v_first AND llm_confirmed THEN true END);
        v_first := false;
        CONTINUE WHEN v_verdict IS FALSE;
        IF cand.llm_required AND v_verdict IS NULL THEN
            RETURN jsonb_build_object('action', 'needs_llm_validation', 'workflow_name', cand.workflow_name,
                                      'llm_prompt', cand.llm_prompt, 'context', cand.context);
        END IF;
        RETURN cdl._start(user_id, cand.workflow_id, cand.context,
            jsonb_build_object('message', message, 'pattern', cand.pattern, 'keyword', cand.keyword,
                               'llm_verdict', v_verdict), v_active);
    END LOOP;
    RETURN CASE WHEN v_first_active IS NOT NULL THEN cdl._step('unchanged', v_first_active)
                ELSE jsonb_build_object('action', 'none') END;
END
$$;

COMMENT ON FUNCTION cdl.process_workflow_message(varchar, varchar, text, boolean, jsonb, jsonb) IS
    'The one call per user message: moves the user''s active instance or starts a workflow. '
    'llm_verdicts ({workflow: true | false}) reports the caller''s LLM answers: a declined '
    'workflow is skipped for the next candidate; llm_confirmed confirms the first candidate. '
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
        'SELECT cdl.expire_workflow_timeouts($1)', coalesce(as_of, now()))::integer;
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
