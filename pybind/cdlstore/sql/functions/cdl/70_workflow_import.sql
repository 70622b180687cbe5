-- Workflow files: validation and import. A file arrives as json (not jsonb) so that the order
-- of its mappings -- workflows, states, extractors -- is the order of the file.

CREATE OR REPLACE FUNCTION cdl._regex_escape(value text)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT regexp_replace(value, '([.^$*+?()\[\]{}|\\])', '\\\1', 'g')
$$;

COMMENT ON FUNCTION cdl._regex_escape(text) IS 'A text matched literally inside a regular expression.';

CREATE OR REPLACE FUNCTION cdl._keyword_query(keywords text[])
RETURNS tsquery
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    -- any keyword (a phrase: its words in order), each word by its English stem
    SELECT string_agg('(' || phraseto_tsquery('cdl.keywords', k)::text || ')', ' | ' ORDER BY i)::tsquery
    FROM unnest(keywords) WITH ORDINALITY AS u (k, i)
    WHERE to_tsvector('cdl.keywords', k) <> ''::tsvector
$$;

COMMENT ON FUNCTION cdl._keyword_query(text[]) IS
    'The keywords of a trigger list as one tsquery (cdl.keywords: English stems, no stop words); NULL when none.';

CREATE OR REPLACE FUNCTION cdl._required_literal(pattern text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    n integer := length(pattern);
    i integer := 1;
    depth integer := 0;
    c text;
    run text := '';
    best text := '';
BEGIN
    -- The longest run of plain characters outside any group that every match must contain,
    -- so that a message without it skips the regex. NULL when there is none to rely on.
    IF pattern LIKE '(?%' OR pattern LIKE '***%' THEN
        RETURN NULL;  -- embedded options (expanded syntax, literal mode ...) change the rules
    END IF;
    WHILE i <= n LOOP
        c := substr(pattern, i, 1);
        IF c = '\' THEN
            IF depth = 0 AND substr(pattern, i + 1, 1) !~ '^[A-Za-z0-9]?$' THEN
                run := run || substr(pattern, i + 1, 1);  -- an escaped punctuation character
            ELSIF depth = 0 THEN
                IF length(run) > length(best) THEN best := run; END IF;
                run := '';                              -- \w, \d, \m, back references ...
            END IF;
            i := i + 2;
            CONTINUE;
        ELSIF c = '[' THEN
            IF depth = 0 THEN
                IF length(run) > length(best) THEN best := run; END IF;
                run := '';
            END IF;
            i := cdlstore_internal.regex_bracket_end(pattern, i);
        ELSIF c = '(' THEN
            IF depth = 0 THEN
                IF length(run) > length(best) THEN best := run; END IF;
                run := '';
            END IF;
            depth := depth + 1;
        ELSIF c = ')' THEN
            depth := greatest(depth - 1, 0);
        ELSIF depth > 0 THEN
            NULL;                                       -- inside a group: nothing is required
        ELSIF c = '|' THEN
            RETURN NULL;                                -- top-level alternatives
        ELSIF c IN ('?', '*', '{') THEN
            run := left(run, -1);                       -- the item before may be absent
            IF length(run) > length(best) THEN best := run; END IF;
            run := '';
            IF c = '{' THEN
                WHILE i <= n AND substr(pattern, i, 1) <> '}' LOOP i := i + 1; END LOOP;
            END IF;
        ELSIF c IN ('+', '.', '^', '$') THEN
            IF length(run) > length(best) THEN best := run; END IF;
            run := '';
        ELSE
            run := run || c;
        END IF;
        i := i + 1;
    END LOOP;
    IF length(run) > length(best) THEN best := run; END IF;
    RETURN CASE WHEN length(best) >= 2 AND best ~ '^[ -~]+$' THEN lower(best) END;
END
$$;

COMMENT ON FUNCTION cdl._required_literal(text) IS
    'Text (lower case, ASCII) that every match of the regex contains, to skip the regex cheaply.';

CREATE OR REPLACE FUNCTION cdl._wf_fail(place text, problem text)
RETURNS void
LANGUAGE plpgsql
VOLATILE  -- it raises: it must not be folded at plan time
SET search_path = cdl, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '%: %', place, problem USING ERRCODE = 'CD001',
        HINT = 'See the workflow file format in docs/workflows.md.';
END
$$;

COMMENT ON FUNCTION cdl._wf_fail(text, text) IS 'Raise CD001 naming the place in the workflow file.';

CREATE OR REPLACE FUNCTION cdl._wf_strings(value json, place text)
RETURNS text[]
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = cdl, pg_temp
AS $$
DECLARE
    result text[] := '{}'::text[];
    item json;
    i integer := 0;
BEGIN
    IF value IS NULL OR json_typeof(value) = 'null' THEN
        RETURN result;
    END IF;
    IF json_typeof(value) <> 'array' THEN
        PERFORM cdl._wf_fail(place, 'must be a list');
    END IF;
    FOR item IN SELECT * FROM json_array_elements(value) LOOP
        IF json_typeof(item) NOT IN ('string', 'number') OR item #>> '{}' = '' THEN
            PERFORM cdl._wf_fail(format('%s[%s]', place, i), 'must be a non-empty string');
        END IF;
        result := result || (item #>> '{}');
        i := i + 1;
    END LOOP;
    RETURN result;
END
$$;

COMMENT ON FUNCTION cdl._wf_strings(json, text) IS 'A list of strings from the file; CD001 otherwise.';

CREATE OR REPLACE FUNCTION cdl._wf_patterns(value json, place text)
RETURNS text[]
LANGUAGE plpgsql
VOLATILE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    patterns text[] := cdl._wf_strings(value, place);
    problem text;
BEGIN
    FOR i IN 1 .. cardinality(patterns) LOOP
        problem := cdlstore_internal.regex_problem(patterns[i], true);
        IF problem IS NOT NULL THEN
            PERFORM cdl._wf_fail(format('%s[%s]', place, i - 1), format('regex "%s" %s', patterns[i], problem));
        END IF;
    END LOOP;
    RETURN patterns;
END
$$;

COMMENT ON FUNCTION cdl._wf_patterns(json, text) IS 'A list of regexes that compile; CD001 naming the first that does not.';

CREATE OR REPLACE FUNCTION cdl._wf_keywords(value json, place text)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    keywords text[] := cdl._wf_strings(value, place);
BEGIN
    FOR i IN 1 .. cardinality(keywords) LOOP
        IF length(keywords[i]) > 200 THEN
            PERFORM cdl._wf_fail(format('%s[%s]', place, i - 1), 'a keyword is at most 200 characters');
        ELSIF to_tsvector('cdl.keywords', keywords[i]) = ''::tsvector THEN
            PERFORM cdl._wf_fail(format('%s[%s]', place, i - 1),
                                 format('keyword "%s" has no word to match', keywords[i]));
        END IF;
    END LOOP;
    RETURN keywords;
END
$$;

COMMENT ON FUNCTION cdl._wf_keywords(json, text) IS 'A list of keywords that each hold a word; CD001 naming the first that does not.';

CREATE OR REPLACE FUNCTION cdl._wf_action(value json, place text)
RETURNS text
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = cdl, pg_temp
AS $$
BEGIN
    IF value IS NULL OR json_typeof(value) = 'null' THEN
        RETURN NULL;
    END IF;
    IF json_typeof(value) <> 'string' OR value #>> '{}' NOT IN
       ('create_transaction', 'complete_transaction', 'cancel_transaction', 'update_context', 'notify', 'none') THEN
        PERFORM cdl._wf_fail(place, format('unknown action %s (known: create_transaction, '
            'complete_transaction, cancel_transaction, update_context, notify, none)', value));
    END IF;
    RETURN value #>> '{}';
END
$$;

COMMENT ON FUNCTION cdl._wf_action(json, text) IS 'An action name from the file; CD001 when unknown.';

CREATE OR REPLACE FUNCTION cdl._placeholders(template text, prefix text)
RETURNS text[]
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT m[1]), '{}')
    FROM regexp_matches(replace(replace(coalesce(template, ''), '{{', ''), '}}', ''),
                        '\{' || cdl._regex_escape(prefix) || '([A-Za-z0-9_]+)\}', 'g') AS m
$$;

COMMENT ON FUNCTION cdl._placeholders(text, text) IS 'The keys of the {<prefix>key} placeholders of a template.';

CREATE OR REPLACE FUNCTION cdl._render(template text, context jsonb, prefix text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
-- no SET: a workflow helper, run with the search_path of its caller
AS $$
DECLARE
    result text;
    entry record;
BEGIN
    IF template IS NULL OR strpos(template, '{') = 0 THEN
        RETURN template;
    END IF;
    result := replace(replace(template, '{{', chr(1)), '}}', chr(2));
    -- per context key (a few) rather than per placeholder found by a regex: no regex to run
    FOR entry IN SELECT e.key, e.value FROM jsonb_each(context) AS e LOOP
        IF jsonb_typeof(entry.value) <> 'null' AND strpos(result, '{' || prefix || entry.key || '}') > 0
           AND entry.key ~ '^[A-Za-z0-9_]+$' THEN
            result := replace(result, '{' || prefix || entry.key || '}',
                              CASE jsonb_typeof(entry.value) WHEN 'string' THEN entry.value #>> '{}'
                                   ELSE entry.value::text END);
        END IF;
    END LOOP;
    RETURN replace(replace(result, chr(1), '{'), chr(2), '}');
END
$$;

COMMENT ON FUNCTION cdl._render(text, jsonb, text) IS
    'Fill {<prefix>key} from context; unknown placeholders stay as written; {{ and }} are braces.';

-- The import in two steps, as graphile-worker's add_job hands its work to add_jobs:
-- _validate_workflow_file raises every CD001 of a file and returns it normalized, writing
-- nothing; _store_workflow_file stores a normalized file for a character. The normalized file is
-- json (not jsonb), so that workflows, states and extractors keep the order of the file:
--   {content_hash, version, description, config (defaults filled in), lookup_tables,
--    workflows: [{name, definition, patterns, keywords}, ...] in file order}

CREATE OR REPLACE FUNCTION cdl._wf_config(config json)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    v_config jsonb;
BEGIN
    IF json_typeof(config) NOT IN ('object', 'null') THEN
        PERFORM cdl._wf_fail('config', 'must be a mapping');
    END IF;
    v_config := jsonb_build_object('workflow_priority', 'first_match', 'concurrent_workflows', false,
                                   'max_pending_per_user', 1, 'default_timeout_seconds', NULL)
                || coalesce(config::jsonb, '{}');
    IF v_config ->> 'workflow_priority' NOT IN ('first_match', 'best_match', 'all_matches') THEN
        PERFORM cdl._wf_fail('config.workflow_priority', format('%s is not first_match, best_match or all_matches',
                                                               v_config -> 'workflow_priority'));
    END IF;
    IF jsonb_typeof(v_config -> 'concurrent_workflows') <> 'boolean' THEN
        PERFORM cdl._wf_fail('config.concurrent_workflows', 'must be true or false');
    END IF;
    IF jsonb_typeof(v_config -> 'max_pending_per_user') <> 'number'
       OR (v_config ->> 'max_pending_per_user')::numeric < 1 THEN
        PERFORM cdl._wf_fail('config.max_pending_per_user', 'must be a number of at least 1');
    END IF;
    IF jsonb_typeof(v_config -> 'default_timeout_seconds') NOT IN ('number', 'null')
       OR (v_config ->> 'default_timeout_seconds')::numeric <= 0
       OR (v_config ->> 'default_timeout_seconds')::numeric > 2147483647 THEN
        PERFORM cdl._wf_fail('config.default_timeout_seconds', 'must be a positive number of seconds, at most 2147483647');
    END IF;
    RETURN v_config;
END
$$;

COMMENT ON FUNCTION cdl._wf_config(json) IS
    'The config of a workflow file with its defaults filled in; CD001 naming the first bad setting.';

CREATE OR REPLACE FUNCTION cdl._wf_lookups(lookup_tables json)
RETURNS jsonb
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = cdl, pg_temp
AS $$
DECLARE
    v_lookups jsonb := coalesce(lookup_tables::jsonb, '{}');
    v_bad text;
BEGIN
    IF jsonb_typeof(v_lookups) <> 'object' THEN
        PERFORM cdl._wf_fail('lookup_tables', 'must be a mapping of tables');
    END IF;
    SELECT min(key) INTO v_bad FROM jsonb_each(v_lookups) WHERE jsonb_typeof(value) <> 'object';
    IF v_bad IS NOT NULL THEN
        PERFORM cdl._wf_fail('lookup_tables.' || v_bad, 'must be a mapping of key to value');
    END IF;
    RETURN v_lookups;
END
$$;

COMMENT ON FUNCTION cdl._wf_lookups(json) IS 'The lookup tables of a workflow file; CD001 unless each is a mapping.';

CREATE OR REPLACE FUNCTION cdl._wf_extractors(def json, place text, lookups jsonb)
RETURNS text[]
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = cdl, pg_temp
AS $$
DECLARE
    extractors json := coalesce(def #> '{on_trigger,extract_context}', '{}');
    v_keys text[] := '{}'::text[];
    ex record;
    at text;
    v_unknown text;
BEGIN
    -- in file order; each may use the keys extracted before it
    IF json_typeof(def #> '{on_trigger,extract_context}') NOT IN ('object', 'null') THEN
        PERFORM cdl._wf_fail(place || '.on_trigger.extract_context', 'must be a mapping');
    END IF;
    IF EXISTS (SELECT FROM json_object_keys(extractors) AS k GROUP BY k HAVING count(*) > 1 OR length(k) NOT BETWEEN 1 AND 100) THEN
        PERFORM cdl._wf_fail(place || '.on_trigger.extract_context', 'context keys are 1 to 100 characters, each given once');
    END IF;
    FOR ex IN SELECT key, value FROM json_each(extractors) LOOP
        at := place || '.on_trigger.extract_context.' || ex.key;
        IF json_typeof(ex.value) <> 'object' THEN
            PERFORM cdl._wf_fail(at, 'must be a mapping');
        END IF;
        IF coalesce(ex.value ->> 'from', '') NOT IN ('pattern_group', 'lookup', 'message', 'literal') THEN
            PERFORM cdl._wf_fail(at, format('unknown extractor kind %s (known: pattern_group, lookup, message, literal)',
                                            coalesce(ex.value -> 'from', 'null'::json)));
        END IF;
        IF ex.value ->> 'transform' IS NOT NULL AND ex.value ->> 'transform' NOT IN ('lowercase', 'uppercase') THEN
            PERFORM cdl._wf_fail(at || '.transform',
                format('unknown transform %s (known: lowercase, uppercase)', ex.value -> 'transform'));
        END IF;
        IF ex.value ->> 'from' = 'pattern_group' AND ex.value ->> 'group' IS NOT NULL
           AND coalesce(ex.value ->> 'group' !~ '^[0-9]+$', true) THEN
            PERFORM cdl._wf_fail(at || '.group', 'must be a group number');
        END IF;
        IF ex.value ->> 'from' = 'lookup' THEN
            IF NOT lookups ? coalesce(ex.value ->> 'table', '') THEN
                PERFORM cdl._wf_fail(at || '.table',
                    format('lookup table %s does not exist', coalesce(ex.value -> 'table', 'null'::json)));
            END IF;
            SELECT min(p) INTO v_unknown FROM unnest(cdl._placeholders(ex.value ->> 'key', '')) AS p WHERE NOT p = ANY (v_keys);
            IF ex.value ->> 'key' IS NULL OR v_unknown IS NOT NULL THEN
                PERFORM cdl._wf_fail(at || '.key', format('placeholder {%s} is not extracted before it', coalesce(v_unknown, '?')));
            END IF;
        END IF;
        IF ex.value ->> 'from' = 'literal' AND NOT (ex.value::jsonb ? 'value') THEN
            PERFORM cdl._wf_fail(at, 'a literal needs a value');
        END IF;
        v_keys := v_keys || ex.key;
    END LOOP;
    RETURN v_keys;
END
$$;

COMMENT ON FUNCTION cdl._wf_extractors(json, text, jsonb) IS
    'The context keys a workflow extracts, in file order; CD001 naming the first bad extractor.';

CREATE OR REPLACE FUNCTION cdl._wf_missing_placeholder(template text, place text, keys text[])
RETURNS void
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = cdl, pg_temp
AS $$
DECLARE
    v_unknown text;
BEGIN
    SELECT min(p) INTO v_unknown FROM unnest(cdl._placeholders(template, 'context.')) AS p WHERE NOT p = ANY (keys);
    IF v_unknown IS NOT NULL THEN
        PERFORM cdl._wf_fail(place, format('placeholder {context.%s} is not provided by any extractor or literal', v_unknown));
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._wf_missing_placeholder(text, text, text[]) IS
    'CD001 when a template uses a {context.key} that no extractor or literal provides.';

CREATE OR REPLACE FUNCTION cdl._wf_states(def json, place text, states text[], keys text[])
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    st record;
    tr record;
    at text;
    n integer;
BEGIN
    -- transitions, ways out, timeouts, placeholders
    FOR st IN SELECT key AS name, value AS def FROM json_each(def -> 'states') LOOP
        at := place || '.states.' || st.name;
        IF json_typeof(st.def) <> 'object' THEN
            PERFORM cdl._wf_fail(at, 'must be a mapping');
        END IF;
        IF json_typeof(st.def -> 'transitions') NOT IN ('array', 'null') THEN
            PERFORM cdl._wf_fail(at || '.transitions', 'must be a list');
        END IF;
        IF coalesce(st.def ->> 'final', 'false') <> 'true'
           AND coalesce(json_array_length(CASE WHEN json_typeof(st.def -> 'transitions') = 'array'
                                               THEN st.def -> 'transitions' END), 0) = 0 THEN
            PERFORM cdl._wf_fail(at, 'a state that is not final needs a way out (transitions)');
        END IF;
        n := 0;
        FOR tr IN SELECT value FROM json_array_elements(coalesce(st.def -> 'transitions', '[]')) LOOP
            IF json_typeof(tr.value) <> 'object' OR NOT coalesce(tr.value ->> 'to_state' = ANY (states), false) THEN
                PERFORM cdl._wf_fail(format('%s.transitions[%s].to_state', at, n),
                    format('state %s does not exist', coalesce(tr.value -> 'to_state', 'null'::json)));
            END IF;
            PERFORM cdl._wf_patterns(tr.value #> '{triggers,patterns}', format('%s.transitions[%s].triggers.patterns', at, n));
            PERFORM cdl._wf_keywords(tr.value #> '{triggers,keywords}', format('%s.transitions[%s].triggers.keywords', at, n));
            PERFORM cdl._wf_action(tr.value -> 'action', format('%s.transitions[%s].action', at, n));
            n := n + 1;
        END LOOP;
        IF json_typeof(st.def -> 'timeout') = 'object' THEN
            IF json_typeof(st.def #> '{timeout,duration_seconds}') IS DISTINCT FROM 'number'
               OR (st.def #>> '{timeout,duration_seconds}')::numeric <= 0
               OR (st.def #>> '{timeout,duration_seconds}')::numeric > 2147483647 THEN
                PERFORM cdl._wf_fail(at || '.timeout.duration_seconds', 'must be a positive number of seconds, at most 2147483647');
            END IF;
            PERFORM cdl._wf_action(st.def #> '{timeout,action}', at || '.timeout.action');
        ELSIF json_typeof(st.def -> 'timeout') NOT IN ('null') THEN
            PERFORM cdl._wf_fail(at || '.timeout', 'must be a mapping');
        END IF;
        PERFORM cdl._wf_missing_placeholder(st.def ->> 'prompt_injection', at || '.prompt_injection', keys);
    END LOOP;
END
$$;

COMMENT ON FUNCTION cdl._wf_states(json, text, text[], text[]) IS
    'Check the states of a workflow (transitions to known states, a way out, timeouts, placeholders); CD001.';

CREATE OR REPLACE FUNCTION cdl._wf_triggers(def json, place text, OUT patterns text[], OUT keywords text[])
RETURNS record
LANGUAGE plpgsql
VOLATILE  -- patterns are compiled, and the time that takes is measured
SET search_path = cdl, pg_temp
AS $$
BEGIN
    IF json_typeof(def -> 'triggers') NOT IN ('object', 'null') THEN
        PERFORM cdl._wf_fail(place || '.triggers', 'must be a mapping');
    END IF;
    patterns := cdl._wf_patterns(def #> '{triggers,patterns}', place || '.triggers.patterns');
    keywords := cdl._wf_keywords(def #> '{triggers,keywords}', place || '.triggers.keywords');
    IF cardinality(patterns) + cardinality(keywords) = 0 THEN
        PERFORM cdl._wf_fail(place || '.triggers', 'needs at least one pattern or keyword');
    END IF;
    IF json_typeof(def #> '{triggers,context_required}') NOT IN ('array', 'null')
       OR EXISTS (SELECT FROM json_array_elements(coalesce(def #> '{triggers,context_required}', '[]')) c
                  WHERE json_typeof(c) <> 'object' OR c ->> 'type' IS NULL) THEN
        PERFORM cdl._wf_fail(place || '.triggers.context_required', 'must be a list of {type, value}');
    END IF;
    IF json_typeof(def #> '{triggers,llm_validation}') NOT IN ('object', 'null')
       OR (coalesce(def #>> '{triggers,llm_validation,enabled}', 'false') = 'true'
           AND json_typeof(def #> '{triggers,llm_validation,prompt}') IS DISTINCT FROM 'string') THEN
        PERFORM cdl._wf_fail(place || '.triggers.llm_validation', 'enabled validation needs a prompt');
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._wf_triggers(json, text) IS
    'The start patterns and keywords of a workflow, checked with its other triggers; CD001 naming the first bad one.';

CREATE OR REPLACE FUNCTION cdl._wf_validation_rules(def json, place text, keys text[])
RETURNS void
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = cdl, pg_temp
AS $$
DECLARE
    rule record;
BEGIN
    IF json_typeof(def #> '{on_trigger,validation}') NOT IN ('array', 'null') THEN
        PERFORM cdl._wf_fail(place || '.on_trigger.validation', 'must be a list of rules');
    END IF;
    FOR rule IN SELECT value, ordinality - 1 AS n
                FROM json_array_elements(coalesce(def #> '{on_trigger,validation}', '[]')) WITH ORDINALITY LOOP
        IF json_typeof(rule.value) <> 'object' OR NOT coalesce(rule.value ->> 'field' = ANY (keys), false)
           OR coalesce(rule.value ->> 'rule', '') <> 'in_list'
           OR json_typeof(rule.value -> 'values') IS DISTINCT FROM 'array'
           OR coalesce(rule.value ->> 'on_fail', 'reject') NOT IN ('use_default', 'reject') THEN
            PERFORM cdl._wf_fail(format('%s.on_trigger.validation[%s]', place, rule.n),
                'a rule is {field: an extracted key, rule: in_list, values: [...], on_fail: use_default | reject}');
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION cdl._wf_validation_rules(json, text, text[]) IS
    'Check the validation rules of a workflow''s extracted context; CD001 naming the first bad rule.';

CREATE OR REPLACE FUNCTION cdl._validate_workflow(name text, def json, lookups jsonb)
RETURNS json
LANGUAGE plpgsql
VOLATILE  -- patterns are compiled, and the time that takes is measured; nothing is written
SET search_path = cdl, pg_temp
AS $$
DECLARE
    place text := 'workflows.' || name;
    v_states text[];
    v_keys text[];
    v_reachable text[];
    v_unknown text;
    triggers record;
BEGIN
    IF json_typeof(def) <> 'object' THEN
        PERFORM cdl._wf_fail(place, 'must be a mapping');
    END IF;
    IF length(name) > 100 OR name = '' THEN
        PERFORM cdl._wf_fail(place, 'a workflow name is 1 to 100 characters');
    END IF;
    IF json_typeof(def -> 'states') IS DISTINCT FROM 'object' THEN
        PERFORM cdl._wf_fail(place || '.states', 'must be a mapping of at least one state');
    END IF;
    SELECT array_agg(key ORDER BY ordinality) INTO v_states
    FROM json_object_keys(def -> 'states') WITH ORDINALITY AS k (key, ordinality);
    IF v_states IS NULL THEN
        PERFORM cdl._wf_fail(place || '.states', 'must be a mapping of at least one state');
    END IF;
    IF cardinality(v_states) > (SELECT count(DISTINCT s) FROM unnest(v_states) AS s)
       OR EXISTS (SELECT FROM unnest(v_states) AS s WHERE length(s) NOT BETWEEN 1 AND 100) THEN
        PERFORM cdl._wf_fail(place || '.states', 'state names are 1 to 100 characters, each given once');
    END IF;
    IF NOT coalesce(def ->> 'initial_state' = ANY (v_states), false) THEN
        PERFORM cdl._wf_fail(place || '.initial_state',
            format('state %s does not exist', coalesce(def -> 'initial_state', 'null'::json)));
    END IF;
    triggers := cdl._wf_triggers(def, place);
    v_keys := cdl._wf_extractors(def, place, lookups);
    PERFORM cdl._wf_validation_rules(def, place, v_keys);
    PERFORM cdl._wf_action(def #> '{on_trigger,action}', place || '.on_trigger.action');
    PERFORM cdl._wf_states(def, place, v_states, v_keys);
    PERFORM cdl._wf_missing_placeholder(def ->> 'system_prompt_addition', place || '.system_prompt_addition', v_keys);
    -- every state reachable from the initial one
    WITH RECURSIVE reach (state) AS (
        SELECT def ->> 'initial_state'
        UNION
        SELECT t.value ->> 'to_state'
        FROM reach
        CROSS JOIN LATERAL json_array_elements(coalesce(def -> 'states' -> reach.state -> 'transitions', '[]')) AS t
    )
    SELECT array_agg(state) INTO v_reachable FROM reach;
    SELECT min(s) INTO v_unknown FROM unnest(v_states) AS s WHERE NOT s = ANY (v_reachable);
    IF v_unknown IS NOT NULL THEN
        PERFORM cdl._wf_fail(place || '.states.' || v_unknown,
            format('cannot be reached from the initial state %s', def ->> 'initial_state'));
    END IF;
    RETURN json_build_object('name', name, 'definition', def, 'patterns', to_json(triggers.patterns),
                             'keywords', to_json(triggers.keywords));
END
$$;

COMMENT ON FUNCTION cdl._validate_workflow(text, json, jsonb) IS
    'One workflow of a file, checked (CD001 naming the place) and normalized: {name, definition, patterns, keywords}.';

CREATE OR REPLACE FUNCTION cdl._validate_workflow_file(workflow_yaml json)
RETURNS json
LANGUAGE plpgsql
VOLATILE  -- patterns are compiled, and the time that takes is measured; nothing is written
SET search_path = cdl, pg_temp
AS $$
DECLARE
    v_config jsonb;
    v_lookups jsonb;
    wf record;
    names text[] := '{}'::text[];
    workflows json[] := '{}'::json[];
BEGIN
    IF workflow_yaml IS NULL OR json_typeof(workflow_yaml) <> 'object' THEN
        RAISE EXCEPTION 'a workflow file must be a mapping, got %', coalesce(json_typeof(workflow_yaml), 'NULL')
            USING ERRCODE = 'CD001', HINT = 'See the workflow file format in docs/workflows.md.';
    END IF;
    IF json_typeof(workflow_yaml -> 'workflows') IS DISTINCT FROM 'object'
       OR NOT EXISTS (SELECT FROM json_object_keys(workflow_yaml -> 'workflows')) THEN
        PERFORM cdl._wf_fail('workflows', 'must be a mapping of at least one workflow');
    END IF;
    PERFORM cdlstore_internal.input_text(workflow_yaml ->> 'version', 'version', 20, false);
    v_config := cdl._wf_config(workflow_yaml -> 'config');
    v_lookups := cdl._wf_lookups(workflow_yaml -> 'lookup_tables');
    FOR wf IN SELECT key AS name, value AS def FROM json_each(workflow_yaml -> 'workflows') LOOP
        IF wf.name = ANY (names) THEN
            PERFORM cdl._wf_fail('workflows.' || wf.name, 'a workflow name appears twice');
        END IF;
        names := names || wf.name;
        workflows := workflows || cdl._validate_workflow(wf.name, wf.def, v_lookups);
    END LOOP;
    RETURN json_build_object(
        'content_hash', md5(workflow_yaml::jsonb::text), 'version', workflow_yaml ->> 'version',
        'description', workflow_yaml ->> 'description', 'config', v_config, 'lookup_tables', v_lookups,
        'workflows', array_to_json(workflows));
END
$$;

COMMENT ON FUNCTION cdl._validate_workflow_file(json) IS
    'The validation step of import_workflow_from_yaml: every CD001 of a workflow file (naming the place), '
    'else the file normalized for _store_workflow_file, in file order. Writes nothing.';

CREATE OR REPLACE FUNCTION cdl._store_workflow(character_id bigint, file_id bigint, wf json, sort_order bigint, file json)
RETURNS void
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
AS $$
DECLARE
    def json := wf -> 'definition';
    v_def jsonb := (wf -> 'definition')::jsonb;
    v_hash text := md5(jsonb_build_object('workflow', v_def, 'config', (file -> 'config')::jsonb,
                                          'lookup_tables', (file -> 'lookup_tables')::jsonb)::text);
    v_current record;
    v_wf_id bigint;
    v_extractors jsonb;
    v_lists record;
BEGIN
    -- a new definition version unless this workflow is unchanged
    SELECT w.id, w.content_hash, w.definition_version INTO v_current
    FROM cdl.character_workflows w
    WHERE w.character_id = _store_workflow.character_id AND w.workflow_name = wf ->> 'name' AND w.is_current;
    IF v_current.content_hash = v_hash THEN
        UPDATE cdl.character_workflows w SET sort_order = _store_workflow.sort_order WHERE w.id = v_current.id;
        RETURN;
    END IF;
    UPDATE cdl.character_workflows w SET is_current = false WHERE w.id = v_current.id;
    -- the extractors in file order, as the runtime reads them (one element per context key)
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'key', e.key,
               'type', CASE e.value ->> 'from' WHEN 'pattern_group' THEN 'pattern_group' WHEN 'lookup' THEN 'lookup_table'
                                               WHEN 'message' THEN 'message_full' ELSE 'literal_value' END,
               'config', e.value::jsonb - 'from') ORDER BY e.ordinality), '[]')
    INTO v_extractors
    FROM json_each(coalesce(def #> '{on_trigger,extract_context}', '{}')) WITH ORDINALITY AS e;
    -- the trigger and extractor lists are stored on the workflow too: a message reads one row
    INSERT INTO cdl.character_workflows AS w
        (character_id, file_id, workflow_name, definition_version, content_hash, description,
         sort_order, initial_state, on_trigger_action, context_required, validation_rules,
         llm_validation, system_prompt_addition, keyword_query, definition,
         patterns, required_literals, keywords, extractors, config)
    SELECT _store_workflow.character_id, _store_workflow.file_id, wf ->> 'name',
           coalesce(v_current.definition_version, 0) + 1, v_hash, def ->> 'description', _store_workflow.sort_order,
           def ->> 'initial_state', def #>> '{on_trigger,action}', coalesce(v_def #> '{triggers,context_required}', '[]'),
           coalesce(v_def #> '{on_trigger,validation}', '[]'),
           coalesce(v_def #> '{triggers,llm_validation}', '{"enabled": false}'),
           def ->> 'system_prompt_addition', cdl._keyword_query(k.keywords), v_def,
           p.patterns, p.literals, k.keywords, v_extractors, (file -> 'config')::jsonb
    FROM (SELECT coalesce(array_agg(u.p ORDER BY u.i), '{}') AS patterns,
                 coalesce(array_agg(cdl._required_literal(u.p) ORDER BY u.i), '{}') AS literals
          FROM json_array_elements_text(wf -> 'patterns') WITH ORDINALITY AS u (p, i)) AS p,
         (SELECT ARRAY(SELECT json_array_elements_text(wf -> 'keywords')) AS keywords) AS k
    RETURNING w.id, w.patterns, w.required_literals, w.keywords INTO v_lists;
    v_wf_id := v_lists.id;
    INSERT INTO cdl.workflow_triggers (workflow_id, trigger_type, trigger_value, required_literal, sort_order)
    SELECT v_wf_id, 'pattern_match'::cdl.workflow_trigger_enum, u.p, u.l, u.i
    FROM unnest(v_lists.patterns, v_lists.required_literals) WITH ORDINALITY AS u (p, l, i)
    UNION ALL
    SELECT v_wf_id, 'keyword_match'::cdl.workflow_trigger_enum, u.k, NULL, u.i  -- keywords: keyword_query
    FROM unnest(v_lists.keywords) WITH ORDINALITY AS u (k, i);
    INSERT INTO cdl.workflow_states
        (workflow_id, state_name, description, prompt_injection, is_final, timeout_seconds,
         timeout_action, timeout_message, sort_order)
    SELECT v_wf_id, s.key, s.value ->> 'description', s.value ->> 'prompt_injection',
           coalesce((s.value ->> 'final')::boolean, false),
           ceil((s.value #>> '{timeout,duration_seconds}')::numeric)::integer,
           s.value #>> '{timeout,action}', s.value #>> '{timeout,message}', s.ordinality
    FROM json_each(def -> 'states') WITH ORDINALITY AS s;
    -- and the workflow row what a start needs of its initial state
    UPDATE cdl.character_workflows w
    SET initial_final = st.is_final, initial_timeout_seconds = cdl._timeout_seconds(st.timeout_seconds, w.config),
        initial_prompt_injection = st.prompt_injection
    FROM cdl.workflow_states st
    WHERE w.id = v_wf_id AND st.workflow_id = v_wf_id AND st.state_name = w.initial_state;
    -- each transition carries what entering its state needs, so that a message reads no other row
    INSERT INTO cdl.workflow_transitions
        (workflow_id, from_state, to_state, patterns, keywords, keyword_query, action, sort_order,
         to_final, to_timeout_seconds, to_prompt_injection, workflow_name, system_prompt_addition)
    SELECT v_wf_id, s.key, t.value ->> 'to_state', lists.patterns, lists.keywords,
           cdl._keyword_query(lists.keywords), t.value ->> 'action', t.ordinality,
           st.is_final, cdl._timeout_seconds(st.timeout_seconds, (file -> 'config')::jsonb), st.prompt_injection,
           wf ->> 'name', def ->> 'system_prompt_addition'
    FROM json_each(def -> 'states') AS s
    CROSS JOIN LATERAL json_array_elements(coalesce(s.value -> 'transitions', '[]')) WITH ORDINALITY AS t
    CROSS JOIN LATERAL (SELECT cdl._wf_strings(t.value #> '{triggers,patterns}', '') AS patterns,
                               cdl._wf_strings(t.value #> '{triggers,keywords}', '') AS keywords) AS lists
    JOIN cdl.workflow_states st ON st.workflow_id = v_wf_id AND st.state_name = t.value ->> 'to_state';
    INSERT INTO cdl.workflow_context_extractors (workflow_id, context_key, extractor_type, config, sort_order)
    SELECT v_wf_id, e.value ->> 'key', (e.value ->> 'type')::cdl.context_extractor_enum, e.value -> 'config', e.ordinality
    FROM jsonb_array_elements(v_extractors) WITH ORDINALITY AS e;
END
$$;

COMMENT ON FUNCTION cdl._store_workflow(bigint, bigint, json, bigint, json) IS
    'Store one normalized workflow of a file: a new definition version with its triggers, states, '
    'transitions and extractors, or only its place in the file when it is unchanged.';

CREATE OR REPLACE FUNCTION cdl._store_workflow_file(character_id bigint, file json)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
AS $$
DECLARE
    v_file_id bigint;
    wf record;
BEGIN
    -- an unchanged file changes nothing
    SELECT f.id INTO v_file_id FROM cdl.workflow_files f
    WHERE f.character_id = _store_workflow_file.character_id AND f.is_current AND f.content_hash = file ->> 'content_hash';
    IF v_file_id IS NOT NULL THEN
        RETURN v_file_id;
    END IF;
    UPDATE cdl.workflow_files f SET is_current = false
    WHERE f.character_id = _store_workflow_file.character_id AND f.is_current;
    INSERT INTO cdl.workflow_files AS f (character_id, file_version, format_version, description, config,
                                         content_hash, imported_by)
    SELECT _store_workflow_file.character_id, coalesce(max(o.file_version), 0) + 1, file ->> 'version',
           file ->> 'description', (file -> 'config')::jsonb, file ->> 'content_hash', cdl._actor()
    FROM cdl.workflow_files o WHERE o.character_id = _store_workflow_file.character_id
    RETURNING f.id INTO v_file_id;
    INSERT INTO cdl.workflow_lookup_tables (file_id, table_name, entries)
    SELECT v_file_id, key, value FROM jsonb_each((file -> 'lookup_tables')::jsonb);
    FOR wf IN SELECT value, ordinality FROM json_array_elements(file -> 'workflows') WITH ORDINALITY LOOP
        PERFORM cdl._store_workflow(character_id, v_file_id, wf.value, wf.ordinality, file);
    END LOOP;
    -- workflows no longer in the file stop triggering; their running instances go on
    UPDATE cdl.character_workflows w SET is_current = false
    WHERE w.character_id = _store_workflow_file.character_id AND w.is_current
      AND NOT w.workflow_name = ANY (ARRAY(SELECT x ->> 'name' FROM json_array_elements(file -> 'workflows') AS x));
    PERFORM cdl._save_document(character_id, NULL, ARRAY['workflows']);
    RETURN v_file_id;
END
$$;

COMMENT ON FUNCTION cdl._store_workflow_file(bigint, json) IS
    'The store step of import_workflow_from_yaml: a file normalized by _validate_workflow_file becomes '
    'the character''s current workflow file (nothing changes when it is the current one already). Returns its id.';

CREATE OR REPLACE FUNCTION cdl._current_workflow_file(character_name text, content_hash text)
RETURNS bigint
LANGUAGE sql
STABLE
AS $$
    SELECT f.id FROM cdl.workflow_files f JOIN cdl.characters c ON c.id = f.character_id
    WHERE c.normalized_name = cdl.normalize_name(character_name) AND f.is_current
      AND f.content_hash = _current_workflow_file.content_hash
$$;

COMMENT ON FUNCTION cdl._current_workflow_file(text, text) IS
    'The id of a character''s current workflow file when its content hash is this one; NULL otherwise.';

CREATE OR REPLACE FUNCTION cdl.import_workflow_from_yaml(character_name varchar, workflow_yaml json)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_hash text := md5(workflow_yaml::jsonb::text);
    v_id bigint;
    file json;
BEGIN
    -- the character's current file again changes nothing: it was validated when it was stored
    IF cdl._current_workflow_file(character_name, v_hash) IS NOT NULL THEN
        PERFORM cdl._lock_character(character_name);  -- as a write would, then look again
        v_id := cdl._current_workflow_file(character_name, v_hash);
        IF v_id IS NOT NULL THEN
            RETURN v_id;
        END IF;
    END IF;
    file := cdl._validate_workflow_file(workflow_yaml);
    RETURN cdl._store_workflow_file((cdl._lock_character(character_name)).character_id, file);
END
$$;

COMMENT ON FUNCTION cdl.import_workflow_from_yaml(varchar, json) IS
    'Import or replace a character''s workflow file (YAML turned into JSON; json keeps the file''s '
    'order). The whole file is validated before anything is written or locked (CD001 names the '
    'place; then CD002 for an unknown character). The character''s current file again changes '
    'nothing (it is not validated twice); a changed workflow gets a new definition version; '
    'running instances keep theirs. Returns the workflow file id.';
