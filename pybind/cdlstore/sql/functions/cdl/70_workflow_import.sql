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

CREATE OR REPLACE FUNCTION cdl._bracket_end(pattern text, start integer)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    n integer := length(pattern);
    i integer := start + 1;
    closing integer;
BEGIN
    -- start is the "[" of a bracket expression: [^...], a leading "]" is a member,
    -- [:class:], [.element.] and [=class=] nest, a backslash escapes the next character
    IF substr(pattern, i, 1) = '^' THEN i := i + 1; END IF;
    IF substr(pattern, i, 1) = ']' THEN i := i + 1; END IF;
    WHILE i <= n AND substr(pattern, i, 1) <> ']' LOOP
        IF substr(pattern, i, 2) IN ('[:', '[.', '[=') THEN
            closing := strpos(substr(pattern, i + 2), substr(pattern, i + 1, 1) || ']');
            i := CASE WHEN closing = 0 THEN n + 1 ELSE i + closing + 3 END;
        ELSE
            i := i + CASE WHEN substr(pattern, i, 1) = '\' THEN 2 ELSE 1 END;
        END IF;
    END LOOP;
    RETURN i;
END
$$;

COMMENT ON FUNCTION cdl._bracket_end(text, integer) IS
    'The position of the "]" that closes the bracket expression opened at start (past the end when none).';

CREATE OR REPLACE FUNCTION cdl._runnable_regex(pattern text)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    -- the one expression that runs for a pattern from outside: group 1 is the whole match
    SELECT '(' || pattern || ')'
$$;

COMMENT ON FUNCTION cdl._runnable_regex(text) IS
    'The expression that runs for a checked pattern (trigger, transition or field validation).';

CREATE OR REPLACE FUNCTION cdl._regex_limit(what text)
RETURNS integer
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE what WHEN 'length' THEN 1000        -- characters of a pattern
                     WHEN 'size' THEN 1000          -- items once counted repetitions are expanded
                     WHEN 'group_count' THEN 10     -- {m,n} on a group
                     WHEN 'text' THEN 10000 END     -- characters of a text matched against a pattern
$$;

COMMENT ON FUNCTION cdl._regex_limit(text) IS
    'The limits of patterns from outside and of the texts matched against them.';

CREATE OR REPLACE FUNCTION cdl._regex_bound(
    pattern text, i integer, of_group boolean, group_holds_bound boolean,
    OUT problem text, OUT factor integer, OUT width integer)
RETURNS record
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    -- the bound {m}, {m,} or {m,n} at position i (and a non-greedy ?)
    bound text[] := regexp_match(substr(pattern, i, 16), '^\{([0-9]{1,4})(,([0-9]{0,4}))?\}(\??)');
BEGIN
    IF bound IS NULL THEN
        problem := 'does not compile: a malformed bound {m,n}';
        RETURN;
    END IF;
    factor := greatest(bound[1]::integer, coalesce(nullif(bound[3], '')::integer,
                                                   bound[1]::integer + (bound[2] IS NOT NULL)::integer), 1);
    width := length(bound[1]) + length(coalesce(bound[2], '')) + 2 + length(bound[4]);
    IF of_group AND group_holds_bound THEN
        problem := format('repeats a group with {%s%s} and that group holds a counted repetition itself; '
                          'nested counted repetitions are too costly to compile', bound[1], coalesce(bound[2], ''));
    ELSIF of_group AND factor > cdl._regex_limit('group_count') THEN
        problem := format('repeats a group with {%s%s}; a group may be counted at most %s times',
                          bound[1], coalesce(bound[2], ''), cdl._regex_limit('group_count'));
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._regex_bound(text, integer, boolean, boolean) IS
    'The counted repetition at position i of a pattern: how many times it repeats, how long it is '
    'written, and why it is refused when it repeats a group too often or around another bound.';

CREATE OR REPLACE FUNCTION cdl._regex_grammar_problem(pattern text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    n integer := length(pattern);
    i integer := 1;
    c text;
    bound record;
    size integer[] := ARRAY[0];          -- per open group: its items so far, repetitions expanded
    holds_bound boolean[] := ARRAY[false];
    last_size integer;                   -- the item a quantifier would apply to; NULL when none
    last_group boolean;
    last_bound boolean;
    k integer;
BEGIN
    -- The accepted language: PostgreSQL ARE without directors (***), embedded options (?x),
    -- lookahead or lookbehind, back-references; bounded repetition under small limits.
    IF left(pattern, 3) = '***' THEN
        RETURN 'starts with a director (***= or ***:); write the expression itself';
    END IF;
    WHILE i <= n LOOP
        c := substr(pattern, i, 1);
        k := cardinality(size);
        IF c = '(' THEN
            IF substr(pattern, i, 3) IN ('(?=', '(?!') OR substr(pattern, i, 4) IN ('(?<=', '(?<!') THEN
                RETURN 'uses a lookahead or lookbehind constraint; they can make matching cubic';
            ELSIF substr(pattern, i, 2) = '(?' AND substr(pattern, i, 3) <> '(?:' THEN
                RETURN 'uses embedded options or a comment (?...); write the expression itself '
                       '(matching is case-insensitive for triggers)';
            END IF;
            size := size || 0;
            holds_bound := holds_bound || false;
            last_size := NULL;
            i := i + CASE WHEN substr(pattern, i, 3) = '(?:' THEN 3 ELSE 1 END;
            CONTINUE;
        ELSIF c = ')' THEN
            IF k = 1 THEN
                RETURN 'does not compile: a ) closes no group';
            END IF;
            last_size := size[k];
            last_group := true;
            last_bound := holds_bound[k];
            size := size[1:k - 2] || (size[k - 1] + last_size);
            holds_bound := holds_bound[1:k - 2] || (holds_bound[k - 1] OR last_bound);
        ELSIF c IN ('*', '+', '?', '|') THEN
            last_size := NULL;
            i := i + CASE WHEN c <> '|' AND substr(pattern, i + 1, 1) = '?' THEN 2 ELSE 1 END;  -- non-greedy
            CONTINUE;
        ELSIF c = '{' AND substr(pattern, i + 1, 1) ~ '^[0-9]$' THEN
            bound := cdl._regex_bound(pattern, i, coalesce(last_size IS NOT NULL AND last_group, false),
                                      coalesce(last_bound, false));
            IF bound.problem IS NOT NULL OR last_size IS NULL THEN
                RETURN coalesce(bound.problem, 'does not compile: a bound {m,n} that follows nothing to repeat');
            END IF;
            size[k] := size[k] + last_size * (bound.factor - 1);
            holds_bound[k] := true;
            IF size[k] > cdl._regex_limit('size') THEN
                RETURN format('expands to %s or more items once its counted repetitions are written out; '
                              'at most %s are allowed', size[k], cdl._regex_limit('size'));
            END IF;
            last_size := NULL;
            i := i + bound.width;
            CONTINUE;
        ELSE
            IF c = '\' AND substr(pattern, i + 1, 1) ~ '^[1-9]$' THEN
                RETURN format('uses the back-reference \%s; back-references can make matching exponential',
                              substr(pattern, i + 1, 1));
            END IF;
            last_size := 1;
            last_group := false;
            size[k] := size[k] + 1;
            i := CASE c WHEN '\' THEN i + 1 WHEN '[' THEN cdl._bracket_end(pattern, i) ELSE i END;
        END IF;
        i := i + 1;
    END LOOP;
    RETURN CASE WHEN cardinality(size) > 1 THEN 'does not compile: a ( is not closed' END;
END
$$;

COMMENT ON FUNCTION cdl._regex_grammar_problem(text) IS
    'Why a pattern is outside the accepted subset of ARE (director, embedded options, lookaround, '
    'back-reference, counted repetition over the limits, unbalanced groups); NULL when inside.';

CREATE OR REPLACE FUNCTION cdl._regex_problem(pattern text, case_insensitive boolean)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    problem text;
    started timestamptz;
    took interval;
BEGIN
    IF length(pattern) > cdl._regex_limit('length') THEN
        RETURN format('is %s characters long; at most %s are allowed', length(pattern), cdl._regex_limit('length'));
    END IF;
    problem := cdl._regex_grammar_problem(pattern);
    IF problem IS NOT NULL THEN
        RETURN problem;
    END IF;
    -- compile exactly what will run
    started := clock_timestamp();
    BEGIN
        IF case_insensitive THEN
            PERFORM '' ~* cdl._runnable_regex(pattern);
        ELSE
            PERFORM '' ~ cdl._runnable_regex(pattern);
        END IF;
    EXCEPTION WHEN invalid_regular_expression OR program_limit_exceeded THEN
        RETURN format('does not compile: %s', SQLERRM);
    END;
    took := clock_timestamp() - started;
    IF took > interval '250 ms' THEN  -- a backstop: the limits above keep compiling to a few ms
        RETURN format('takes %s ms to compile; at most 250 ms are allowed',
                      round(extract(epoch FROM took) * 1000));
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION cdl._regex_problem(text, boolean) IS
    'Why a user-supplied regular expression is refused (too long, outside the accepted subset of '
    'ARE: see _regex_grammar_problem, does not compile as it will run, slow to compile); NULL when safe.';

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
            i := cdl._bracket_end(pattern, i);
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
IMMUTABLE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    result text[] := '{}';
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
        problem := cdl._regex_problem(patterns[i], true);
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
IMMUTABLE
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
SET search_path = cdl, pg_temp
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

CREATE OR REPLACE FUNCTION cdl.import_workflow_from_yaml(character_name varchar, workflow_yaml json)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
    v_config jsonb;
    v_lookups jsonb;
    v_hash text;
    v_file_id bigint;
    v_file_version integer;
    wf record;
    st record;
    tr record;
    ex record;
    place text;
    v_def jsonb;
    v_states text[];
    v_reachable text[];
    v_keys text[];
    v_patterns text[];
    v_keywords text[];
    v_wf_id bigint;
    v_wf_hash text;
    v_current record;
    v_kind cdl.context_extractor_enum;
    v_n integer;
    v_unknown text;
    names text[] := '{}';
BEGIN
    IF workflow_yaml IS NULL OR json_typeof(workflow_yaml) <> 'object' THEN
        RAISE EXCEPTION 'a workflow file must be a mapping, got %', coalesce(json_typeof(workflow_yaml), 'NULL')
            USING ERRCODE = 'CD001';
    END IF;
    IF json_typeof(workflow_yaml -> 'workflows') IS DISTINCT FROM 'object'
       OR NOT EXISTS (SELECT FROM json_object_keys(workflow_yaml -> 'workflows')) THEN
        PERFORM cdl._wf_fail('workflows', 'must be a mapping of at least one workflow');
    END IF;
    target := cdl._lock_character(character_name);

    -- config and lookup tables
    IF json_typeof(workflow_yaml -> 'config') NOT IN ('object', 'null') THEN
        PERFORM cdl._wf_fail('config', 'must be a mapping');
    END IF;
    v_config := jsonb_build_object('workflow_priority', 'first_match', 'concurrent_workflows', false,
                                   'max_pending_per_user', 1, 'default_timeout_seconds', NULL)
                || coalesce((workflow_yaml -> 'config')::jsonb, '{}');
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
    v_lookups := coalesce((workflow_yaml -> 'lookup_tables')::jsonb, '{}');
    IF jsonb_typeof(v_lookups) <> 'object' THEN
        PERFORM cdl._wf_fail('lookup_tables', 'must be a mapping of tables');
    END IF;
    SELECT min(key) INTO v_unknown FROM jsonb_each(v_lookups) WHERE jsonb_typeof(value) <> 'object';
    IF v_unknown IS NOT NULL THEN
        PERFORM cdl._wf_fail('lookup_tables.' || v_unknown, 'must be a mapping of key to value');
    END IF;

    -- an unchanged file changes nothing
    v_hash := md5(workflow_yaml::jsonb::text);
    SELECT f.id INTO v_file_id FROM cdl.workflow_files f
    WHERE f.character_id = target.character_id AND f.is_current AND f.content_hash = v_hash;
    IF v_file_id IS NOT NULL THEN
        RETURN v_file_id;
    END IF;
    UPDATE cdl.workflow_files SET is_current = false
    WHERE character_id = target.character_id AND is_current;
    SELECT coalesce(max(f.file_version), 0) + 1 INTO v_file_version
    FROM cdl.workflow_files f WHERE f.character_id = target.character_id;
    INSERT INTO cdl.workflow_files (character_id, file_version, format_version, description, config,
                                    content_hash, imported_by)
    VALUES (target.character_id, v_file_version, workflow_yaml ->> 'version', workflow_yaml ->> 'description',
            v_config, v_hash, cdl._actor())
    RETURNING id INTO v_file_id;
    INSERT INTO cdl.workflow_lookup_tables (file_id, table_name, entries)
    SELECT v_file_id, key, value FROM jsonb_each(v_lookups);

    FOR wf IN SELECT key AS name, value AS def, ordinality AS position
              FROM json_each(workflow_yaml -> 'workflows') WITH ORDINALITY LOOP
        place := 'workflows.' || wf.name;
        IF wf.name = ANY (names) THEN
            PERFORM cdl._wf_fail(place, 'a workflow name appears twice');
        END IF;
        names := names || wf.name;
        IF json_typeof(wf.def) <> 'object' THEN
            PERFORM cdl._wf_fail(place, 'must be a mapping');
        END IF;
        IF length(wf.name) > 100 OR wf.name = '' THEN
            PERFORM cdl._wf_fail(place, 'a workflow name is 1 to 100 characters');
        END IF;
        IF json_typeof(wf.def -> 'states') IS DISTINCT FROM 'object' THEN
            PERFORM cdl._wf_fail(place || '.states', 'must be a mapping of at least one state');
        END IF;
        SELECT array_agg(key ORDER BY ordinality) INTO v_states
        FROM json_object_keys(wf.def -> 'states') WITH ORDINALITY AS k (key, ordinality);
        IF v_states IS NULL THEN
            PERFORM cdl._wf_fail(place || '.states', 'must be a mapping of at least one state');
        END IF;
        IF cardinality(v_states) > (SELECT count(DISTINCT s) FROM unnest(v_states) AS s)
           OR EXISTS (SELECT FROM unnest(v_states) AS s WHERE length(s) NOT BETWEEN 1 AND 100) THEN
            PERFORM cdl._wf_fail(place || '.states', 'state names are 1 to 100 characters, each given once');
        END IF;
        IF NOT coalesce(wf.def ->> 'initial_state' = ANY (v_states), false) THEN
            PERFORM cdl._wf_fail(place || '.initial_state',
                format('state %s does not exist', coalesce(wf.def -> 'initial_state', 'null'::json)));
        END IF;
        IF json_typeof(wf.def -> 'triggers') NOT IN ('object', 'null') THEN
            PERFORM cdl._wf_fail(place || '.triggers', 'must be a mapping');
        END IF;
        v_patterns := cdl._wf_patterns(wf.def #> '{triggers,patterns}', place || '.triggers.patterns');
        v_keywords := cdl._wf_keywords(wf.def #> '{triggers,keywords}', place || '.triggers.keywords');
        IF cardinality(v_patterns) + cardinality(v_keywords) = 0 THEN
            PERFORM cdl._wf_fail(place || '.triggers', 'needs at least one pattern or keyword');
        END IF;
        IF json_typeof(wf.def #> '{triggers,context_required}') NOT IN ('array', 'null')
           OR EXISTS (SELECT FROM json_array_elements(coalesce(wf.def #> '{triggers,context_required}', '[]')) c
                      WHERE json_typeof(c) <> 'object' OR c ->> 'type' IS NULL) THEN
            PERFORM cdl._wf_fail(place || '.triggers.context_required', 'must be a list of {type, value}');
        END IF;
        IF json_typeof(wf.def #> '{triggers,llm_validation}') NOT IN ('object', 'null')
           OR (coalesce(wf.def #>> '{triggers,llm_validation,enabled}', 'false') = 'true'
               AND json_typeof(wf.def #> '{triggers,llm_validation,prompt}') IS DISTINCT FROM 'string') THEN
            PERFORM cdl._wf_fail(place || '.triggers.llm_validation', 'enabled validation needs a prompt');
        END IF;

        -- extractors, in file order; each may use the keys extracted before it
        v_keys := '{}';
        IF json_typeof(wf.def #> '{on_trigger,extract_context}') NOT IN ('object', 'null') THEN
            PERFORM cdl._wf_fail(place || '.on_trigger.extract_context', 'must be a mapping');
        END IF;
        IF EXISTS (SELECT FROM json_object_keys(coalesce(wf.def #> '{on_trigger,extract_context}', '{}')) AS k
                   GROUP BY k HAVING count(*) > 1 OR length(k) NOT BETWEEN 1 AND 100) THEN
            PERFORM cdl._wf_fail(place || '.on_trigger.extract_context', 'context keys are 1 to 100 characters, each given once');
        END IF;
        FOR ex IN SELECT key, value FROM json_each(coalesce(wf.def #> '{on_trigger,extract_context}', '{}')) LOOP
            IF json_typeof(ex.value) <> 'object' THEN
                PERFORM cdl._wf_fail(place || '.on_trigger.extract_context.' || ex.key, 'must be a mapping');
            END IF;
            IF coalesce(ex.value ->> 'from', '') NOT IN ('pattern_group', 'lookup', 'message', 'literal') THEN
                PERFORM cdl._wf_fail(place || '.on_trigger.extract_context.' || ex.key,
                    format('unknown extractor kind %s (known: pattern_group, lookup, message, literal)',
                           coalesce(ex.value -> 'from', 'null'::json)));
            END IF;
            IF ex.value ->> 'transform' IS NOT NULL AND ex.value ->> 'transform' NOT IN ('lowercase', 'uppercase') THEN
                PERFORM cdl._wf_fail(place || '.on_trigger.extract_context.' || ex.key || '.transform',
                    format('unknown transform %s (known: lowercase, uppercase)', ex.value -> 'transform'));
            END IF;
            IF ex.value ->> 'from' = 'pattern_group' AND ex.value ->> 'group' IS NOT NULL
               AND coalesce(ex.value ->> 'group' !~ '^[0-9]+$', true) THEN
                PERFORM cdl._wf_fail(place || '.on_trigger.extract_context.' || ex.key || '.group',
                                     'must be a group number');
            END IF;
            IF ex.value ->> 'from' = 'lookup' THEN
                IF NOT v_lookups ? coalesce(ex.value ->> 'table', '') THEN
                    PERFORM cdl._wf_fail(place || '.on_trigger.extract_context.' || ex.key || '.table',
                        format('lookup table %s does not exist', coalesce(ex.value -> 'table', 'null'::json)));
                END IF;
                SELECT min(p) INTO v_unknown FROM unnest(cdl._placeholders(ex.value ->> 'key', '')) AS p
                WHERE NOT p = ANY (v_keys);
                IF ex.value ->> 'key' IS NULL OR v_unknown IS NOT NULL THEN
                    PERFORM cdl._wf_fail(place || '.on_trigger.extract_context.' || ex.key || '.key',
                        format('placeholder {%s} is not extracted before it', coalesce(v_unknown, '?')));
                END IF;
            END IF;
            IF ex.value ->> 'from' = 'literal' AND NOT (ex.value::jsonb ? 'value') THEN
                PERFORM cdl._wf_fail(place || '.on_trigger.extract_context.' || ex.key, 'a literal needs a value');
            END IF;
            v_keys := v_keys || ex.key;
        END LOOP;
        IF json_typeof(wf.def #> '{on_trigger,validation}') NOT IN ('array', 'null') THEN
            PERFORM cdl._wf_fail(place || '.on_trigger.validation', 'must be a list of rules');
        END IF;
        v_n := 0;
        FOR ex IN SELECT value FROM json_array_elements(coalesce(wf.def #> '{on_trigger,validation}', '[]')) LOOP
            IF json_typeof(ex.value) <> 'object' OR NOT coalesce(ex.value ->> 'field' = ANY (v_keys), false)
               OR coalesce(ex.value ->> 'rule', '') <> 'in_list'
               OR json_typeof(ex.value -> 'values') IS DISTINCT FROM 'array'
               OR coalesce(ex.value ->> 'on_fail', 'reject') NOT IN ('use_default', 'reject') THEN
                PERFORM cdl._wf_fail(format('%s.on_trigger.validation[%s]', place, v_n),
                    'a rule is {field: an extracted key, rule: in_list, values: [...], on_fail: use_default | reject}');
            END IF;
            v_n := v_n + 1;
        END LOOP;
        PERFORM cdl._wf_action(wf.def #> '{on_trigger,action}', place || '.on_trigger.action');

        -- states: transitions, ways out, timeouts, placeholders
        FOR st IN SELECT key AS name, value AS def FROM json_each(wf.def -> 'states') LOOP
            IF json_typeof(st.def) <> 'object' THEN
                PERFORM cdl._wf_fail(place || '.states.' || st.name, 'must be a mapping');
            END IF;
            IF json_typeof(st.def -> 'transitions') NOT IN ('array', 'null') THEN
                PERFORM cdl._wf_fail(place || '.states.' || st.name || '.transitions', 'must be a list');
            END IF;
            IF coalesce(st.def ->> 'final', 'false') <> 'true'
               AND coalesce(json_array_length(CASE WHEN json_typeof(st.def -> 'transitions') = 'array'
                                                   THEN st.def -> 'transitions' END), 0) = 0 THEN
                PERFORM cdl._wf_fail(place || '.states.' || st.name, 'a state that is not final needs a way out (transitions)');
            END IF;
            v_n := 0;
            FOR tr IN SELECT value FROM json_array_elements(coalesce(st.def -> 'transitions', '[]')) LOOP
                IF json_typeof(tr.value) <> 'object' OR NOT coalesce(tr.value ->> 'to_state' = ANY (v_states), false) THEN
                    PERFORM cdl._wf_fail(format('%s.states.%s.transitions[%s].to_state', place, st.name, v_n),
                        format('state %s does not exist', coalesce(tr.value -> 'to_state', 'null'::json)));
                END IF;
                PERFORM cdl._wf_patterns(tr.value #> '{triggers,patterns}',
                    format('%s.states.%s.transitions[%s].triggers.patterns', place, st.name, v_n));
                PERFORM cdl._wf_keywords(tr.value #> '{triggers,keywords}',
                    format('%s.states.%s.transitions[%s].triggers.keywords', place, st.name, v_n));
                PERFORM cdl._wf_action(tr.value -> 'action',
                    format('%s.states.%s.transitions[%s].action', place, st.name, v_n));
                v_n := v_n + 1;
            END LOOP;
            IF json_typeof(st.def -> 'timeout') = 'object' THEN
                IF json_typeof(st.def #> '{timeout,duration_seconds}') IS DISTINCT FROM 'number'
                   OR (st.def #>> '{timeout,duration_seconds}')::numeric <= 0
                   OR (st.def #>> '{timeout,duration_seconds}')::numeric > 2147483647 THEN
                    PERFORM cdl._wf_fail(place || '.states.' || st.name || '.timeout.duration_seconds',
                                         'must be a positive number of seconds, at most 2147483647');
                END IF;
                PERFORM cdl._wf_action(st.def #> '{timeout,action}', place || '.states.' || st.name || '.timeout.action');
            ELSIF json_typeof(st.def -> 'timeout') NOT IN ('null') THEN
                PERFORM cdl._wf_fail(place || '.states.' || st.name || '.timeout', 'must be a mapping');
            END IF;
            SELECT min(p) INTO v_unknown FROM unnest(cdl._placeholders(st.def ->> 'prompt_injection', 'context.')) AS p
            WHERE NOT p = ANY (v_keys);
            IF v_unknown IS NOT NULL THEN
                PERFORM cdl._wf_fail(place || '.states.' || st.name || '.prompt_injection',
                    format('placeholder {context.%s} is not provided by any extractor or literal', v_unknown));
            END IF;
        END LOOP;
        SELECT min(p) INTO v_unknown FROM unnest(cdl._placeholders(wf.def ->> 'system_prompt_addition', 'context.')) AS p
        WHERE NOT p = ANY (v_keys);
        IF v_unknown IS NOT NULL THEN
            PERFORM cdl._wf_fail(place || '.system_prompt_addition',
                format('placeholder {context.%s} is not provided by any extractor or literal', v_unknown));
        END IF;

        -- every state reachable from the initial one
        WITH RECURSIVE reach (state) AS (
            SELECT wf.def ->> 'initial_state'
            UNION
            SELECT t.value ->> 'to_state'
            FROM reach
            CROSS JOIN LATERAL json_array_elements(coalesce(wf.def -> 'states' -> reach.state -> 'transitions', '[]')) AS t
        )
        SELECT array_agg(state) INTO v_reachable FROM reach;
        SELECT min(s) INTO v_unknown FROM unnest(v_states) AS s WHERE NOT s = ANY (v_reachable);
        IF v_unknown IS NOT NULL THEN
            PERFORM cdl._wf_fail(place || '.states.' || v_unknown,
                format('cannot be reached from the initial state %s', wf.def ->> 'initial_state'));
        END IF;

        -- store: a new definition version unless this workflow is unchanged
        v_def := wf.def::jsonb;
        v_wf_hash := md5(jsonb_build_object('workflow', v_def, 'config', v_config,
                                            'lookup_tables', v_lookups)::text);
        SELECT w.id, w.content_hash, w.definition_version INTO v_current
        FROM cdl.character_workflows w
        WHERE w.character_id = target.character_id AND w.workflow_name = wf.name AND w.is_current;
        IF v_current.content_hash = v_wf_hash THEN
            UPDATE cdl.character_workflows SET sort_order = wf.position WHERE id = v_current.id;
            CONTINUE;
        END IF;
        UPDATE cdl.character_workflows SET is_current = false WHERE id = v_current.id;
        INSERT INTO cdl.character_workflows
            (character_id, file_id, workflow_name, definition_version, content_hash, description,
             sort_order, initial_state, on_trigger_action, context_required, validation_rules,
             llm_validation, system_prompt_addition, keyword_query, definition)
        VALUES (target.character_id, v_file_id, wf.name, coalesce(v_current.definition_version, 0) + 1,
                v_wf_hash, wf.def ->> 'description', wf.position, wf.def ->> 'initial_state',
                wf.def #>> '{on_trigger,action}', coalesce(v_def #> '{triggers,context_required}', '[]'),
                coalesce(v_def #> '{on_trigger,validation}', '[]'),
                coalesce(v_def #> '{triggers,llm_validation}', '{"enabled": false}'),
                wf.def ->> 'system_prompt_addition', cdl._keyword_query(v_keywords), v_def)
        RETURNING id INTO v_wf_id;
        INSERT INTO cdl.workflow_triggers (workflow_id, trigger_type, trigger_value, required_literal, sort_order)
        SELECT v_wf_id, 'pattern_match'::cdl.workflow_trigger_enum, p, cdl._required_literal(p), i
        FROM unnest(v_patterns) WITH ORDINALITY AS u (p, i)
        UNION ALL
        SELECT v_wf_id, 'keyword_match'::cdl.workflow_trigger_enum, k, NULL, i  -- keywords: keyword_query
        FROM unnest(v_keywords) WITH ORDINALITY AS u (k, i);
        INSERT INTO cdl.workflow_states
            (workflow_id, state_name, description, prompt_injection, is_final, timeout_seconds,
             timeout_action, timeout_message, sort_order)
        SELECT v_wf_id, s.key, s.value ->> 'description', s.value ->> 'prompt_injection',
               coalesce((s.value ->> 'final')::boolean, false),
               ceil((s.value #>> '{timeout,duration_seconds}')::numeric)::integer,
               s.value #>> '{timeout,action}', s.value #>> '{timeout,message}', s.ordinality
        FROM json_each(wf.def -> 'states') WITH ORDINALITY AS s;
        INSERT INTO cdl.workflow_transitions
            (workflow_id, from_state, to_state, patterns, keywords, keyword_query, action, sort_order)
        SELECT v_wf_id, s.key, t.value ->> 'to_state', lists.patterns, lists.keywords,
               cdl._keyword_query(lists.keywords), t.value ->> 'action', t.ordinality
        FROM json_each(wf.def -> 'states') AS s
        CROSS JOIN LATERAL json_array_elements(coalesce(s.value -> 'transitions', '[]')) WITH ORDINALITY AS t
        CROSS JOIN LATERAL (SELECT cdl._wf_strings(t.value #> '{triggers,patterns}', '') AS patterns,
                                   cdl._wf_strings(t.value #> '{triggers,keywords}', '') AS keywords) AS lists;
        INSERT INTO cdl.workflow_context_extractors (workflow_id, context_key, extractor_type, config, sort_order)
        SELECT v_wf_id, e.key,
               (CASE e.value ->> 'from' WHEN 'pattern_group' THEN 'pattern_group' WHEN 'lookup' THEN 'lookup_table'
                                       WHEN 'message' THEN 'message_full' ELSE 'literal_value' END)::cdl.context_extractor_enum,
               e.value::jsonb - 'from', e.ordinality
        FROM json_each(coalesce(wf.def #> '{on_trigger,extract_context}', '{}')) WITH ORDINALITY AS e;
    END LOOP;

    IF cardinality(names) <> (SELECT count(DISTINCT n) FROM unnest(names) AS n) THEN
        PERFORM cdl._wf_fail('workflows', 'a workflow name appears twice');
    END IF;
    -- workflows no longer in the file stop triggering; their running instances go on
    UPDATE cdl.character_workflows SET is_current = false
    WHERE character_id = target.character_id AND is_current AND NOT workflow_name = ANY (names);
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['workflows']);
    RETURN v_file_id;
END
$$;

COMMENT ON FUNCTION cdl.import_workflow_from_yaml(varchar, json) IS
    'Import or replace a character''s workflow file (YAML turned into JSON; json keeps the file''s '
    'order). Validates everything first (CD001 names the place). A changed workflow gets a new '
    'definition version; running instances keep theirs. Returns the workflow file id.';
