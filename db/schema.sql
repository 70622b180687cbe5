CREATE SCHEMA cdl;

ALTER SCHEMA cdl OWNER TO cdlstore_owner;

COMMENT ON SCHEMA cdl IS 'AI characters (CDL) and their workflows';

CREATE SCHEMA cdlstore;

ALTER SCHEMA cdlstore OWNER TO cdlstore_owner;

COMMENT ON SCHEMA cdlstore IS 'Administration of cdlstore: tenant bindings of login roles';

CREATE SCHEMA cdlstore_internal;

ALTER SCHEMA cdlstore_internal OWNER TO cdlstore_owner;

COMMENT ON SCHEMA cdlstore_internal IS 'What the four schemas share; granted to no one';

CREATE SCHEMA docstore;

ALTER SCHEMA docstore OWNER TO cdlstore_owner;

COMMENT ON SCHEMA docstore IS 'Versioned JSON document store';

CREATE SCHEMA game;

ALTER SCHEMA game OWNER TO cdlstore_owner;

COMMENT ON SCHEMA game IS 'Relational game data';

CREATE SCHEMA ops;

ALTER SCHEMA ops OWNER TO cdlstore_owner;

COMMENT ON SCHEMA ops IS 'Operational state of agent systems';

CREATE TYPE cdl.change_type_enum AS ENUM (
    'field_added',
    'field_updated',
    'field_removed',
    'character_created',
    'character_updated',
    'version_created',
    'bulk_import',
    'ai_optimization',
    'performance_tuning'
);

ALTER TYPE cdl.change_type_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.character_archetype_enum AS ENUM (
    'real_world',
    'fantasy',
    'narrative_ai',
    'historical',
    'fictional'
);

ALTER TYPE cdl.character_archetype_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.character_status_enum AS ENUM (
    'active',
    'inactive',
    'development',
    'archived',
    'deprecated'
);

ALTER TYPE cdl.character_status_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.communication_pattern_enum AS ENUM (
    'greeting',
    'farewell',
    'question_response',
    'excitement',
    'concern',
    'advice_giving',
    'storytelling',
    'technical_explanation',
    'emotional_support',
    'humor',
    'cultural_expression',
    'expertise_sharing'
);

ALTER TYPE cdl.communication_pattern_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.context_extractor_enum AS ENUM (
    'pattern_group',
    'keyword_match',
    'message_full',
    'lookup_table',
    'literal_value',
    'llm_extraction',
    'context_reference'
);

ALTER TYPE cdl.context_extractor_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.data_type_enum AS ENUM (
    'string',
    'number',
    'boolean',
    'array',
    'object',
    'text',
    'enum',
    'reference'
);

ALTER TYPE cdl.data_type_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.field_type_enum AS ENUM (
    'identity',
    'personality',
    'communication',
    'knowledge',
    'behavior',
    'emotional',
    'interaction',
    'backstory',
    'relationships',
    'skills',
    'preferences',
    'appearance',
    'custom'
);

ALTER TYPE cdl.field_type_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.knowledge_type_enum AS ENUM (
    'identity',
    'biography',
    'expertise',
    'relationships',
    'experiences',
    'preferences',
    'beliefs',
    'skills',
    'memories',
    'goals',
    'fears',
    'cultural',
    'family',
    'career',
    'hobbies',
    'facts'
);

ALTER TYPE cdl.knowledge_type_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.response_scenario_enum AS ENUM (
    'first_meeting',
    'casual_chat',
    'deep_conversation',
    'technical_discussion',
    'emotional_support',
    'teaching_moment',
    'conflict_resolution',
    'celebration',
    'problem_solving',
    'creative_collaboration'
);

ALTER TYPE cdl.response_scenario_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.validation_status_enum AS ENUM (
    'pending',
    'validated',
    'rejected',
    'needs_review'
);

ALTER TYPE cdl.validation_status_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.workflow_event_enum AS ENUM (
    'workflow_started',
    'state_entered',
    'state_exited',
    'transition_triggered',
    'action_executed',
    'workflow_completed',
    'workflow_cancelled',
    'workflow_timeout',
    'error_occurred'
);

ALTER TYPE cdl.workflow_event_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.workflow_status_enum AS ENUM (
    'active',
    'pending',
    'completed',
    'cancelled',
    'timeout',
    'error',
    'paused'
);

ALTER TYPE cdl.workflow_status_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.workflow_trigger_enum AS ENUM (
    'pattern_match',
    'keyword_match',
    'intent_detection',
    'context_change',
    'time_trigger',
    'user_action',
    'system_event'
);

ALTER TYPE cdl.workflow_trigger_enum OWNER TO cdlstore_owner;

CREATE TYPE cdlstore_internal.page_row AS (
	item jsonb,
	created_at timestamp with time zone,
	id bigint
);

ALTER TYPE cdlstore_internal.page_row OWNER TO cdlstore_owner;

CREATE TYPE docstore.document_ref AS (
	document_uuid uuid,
	version integer
);

ALTER TYPE docstore.document_ref OWNER TO cdlstore_owner;

CREATE DOMAIN ops.event_severity AS text
	CONSTRAINT event_severity_check CHECK ((VALUE = ANY (ARRAY['debug'::text, 'info'::text, 'warning'::text, 'error'::text, 'critical'::text])));

ALTER DOMAIN ops.event_severity OWNER TO cdlstore_owner;

COMMENT ON DOMAIN ops.event_severity IS 'An event''s severity.';

CREATE DOMAIN ops.nonempty_text AS text
	CONSTRAINT nonempty_text_check CHECK ((VALUE <> ''::text));

ALTER DOMAIN ops.nonempty_text OWNER TO cdlstore_owner;

COMMENT ON DOMAIN ops.nonempty_text IS 'Text that is not empty (task names and types, event types).';

CREATE DOMAIN ops.nonnegative_integer AS integer
	CONSTRAINT nonnegative_integer_check CHECK ((VALUE >= 0));

ALTER DOMAIN ops.nonnegative_integer OWNER TO cdlstore_owner;

COMMENT ON DOMAIN ops.nonnegative_integer IS 'An integer >= 0 (retry counts).';

CREATE DOMAIN ops.positive_integer AS integer
	CONSTRAINT positive_integer_check CHECK ((VALUE > 0));

ALTER DOMAIN ops.positive_integer OWNER TO cdlstore_owner;

COMMENT ON DOMAIN ops.positive_integer IS 'An integer >= 1 (timeouts in seconds).';

CREATE DOMAIN ops.task_status AS text
	CONSTRAINT task_status_check CHECK ((VALUE = ANY (ARRAY['pending'::text, 'running'::text, 'completed'::text, 'failed'::text, 'cancelled'::text])));

ALTER DOMAIN ops.task_status OWNER TO cdlstore_owner;

COMMENT ON DOMAIN ops.task_status IS 'A task''s status.';

CREATE FUNCTION cdl._actor() RETURNS character varying
    LANGUAGE sql STABLE
    AS $$
    SELECT coalesce(nullif(current_setting('cdlstore.actor', true), ''), session_user)::varchar
$$;

ALTER FUNCTION cdl._actor() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._actor() IS 'Who is changing data: the cdlstore.actor setting, else the session user.';

CREATE FUNCTION cdl._cdl_body(doc json) RETURNS json
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    IF json_typeof(doc -> 'character') IS DISTINCT FROM 'object' THEN
        RETURN doc;  -- flat
    END IF;
    RETURN cdl._json_merge(
        (SELECT coalesce(json_object_agg(e.key, e.value ORDER BY e.n), '{}')
         FROM json_each(doc) WITH ORDINALITY AS e (key, value, n)
         WHERE e.key NOT IN ('character', 'cdl_version', 'format', 'description')),
        doc -> 'character');
END
$$;

ALTER FUNCTION cdl._cdl_body(doc json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._cdl_body(doc json) IS 'The CDL of a document (keys written once), in order: a flat one as it is; of a wrapped or mixed one, character merged with the sections beside it (character winning, its keys first).';

CREATE FUNCTION cdl._character_id(name text) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    v_key text := cdl.normalize_name(name);  -- once, not per row of a generic plan
    v_id bigint;
BEGIN
    SELECT c.id INTO v_id FROM cdl.characters c WHERE c.normalized_name = v_key;
    IF v_id IS NULL THEN
        PERFORM cdl._character_not_found(name);
    END IF;
    RETURN v_id;
END
$$;

ALTER FUNCTION cdl._character_id(name text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._character_id(name text) IS 'The id of a character by any form of its name; CD002 when unknown.';

CREATE FUNCTION cdl._character_not_found(name text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    -- TABLE names what is missing, so that clients can tell a character from other CD002s.
    -- PL/Proxy drops TABLE: the proxy's cdlstore_proxy.reraise tells this error by its hint
    RAISE EXCEPTION 'character % not found', coalesce(quote_literal(name), 'NULL')
        USING ERRCODE = 'CD002', SCHEMA = 'cdl', TABLE = 'characters',
              HINT = 'Names match after normalization (cdl.normalize_name).';
END
$$;

ALTER FUNCTION cdl._character_not_found(name text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._character_not_found(name text) IS 'Raise CD002 for a character name that matches none (the error names the table cdl.characters).';

CREATE FUNCTION cdl._check_character_row() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    -- the rules of a character row, as CHECK constraints held them until migration 0027: a
    -- trigger fires only when these columns are written, so a field write (updated_at) skips it
    IF NOT (NEW.normalized_name::text <> ''
            AND NEW.normalized_name::text !~ '[A-Z[:space:]\u0001-\u002f\u003a-\u0040\u005b-\u005e\u0060\u007b-\u007f]') THEN
        RAISE EXCEPTION 'new row for relation "characters" violates check constraint "characters_normalized_name_check"'
            USING ERRCODE = 'check_violation', SCHEMA = 'cdl', TABLE = 'characters',
                  CONSTRAINT = 'characters_normalized_name_check';
    END IF;
    IF NOT NEW.version_count >= 0 THEN
        RAISE EXCEPTION 'new row for relation "characters" violates check constraint "characters_version_count_check"'
            USING ERRCODE = 'check_violation', SCHEMA = 'cdl', TABLE = 'characters',
                  CONSTRAINT = 'characters_version_count_check';
    END IF;
    RETURN NEW;
END
$$;

ALTER FUNCTION cdl._check_character_row() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_character_row() IS 'Trigger: a character key is not empty and holds no ASCII upper case, space, control or punctuation but ''_''; version_count is not negative (23514, named as the CHECK constraints were).';

CREATE FUNCTION cdl._check_field_value(field_path text, data_type cdl.data_type_enum, rules jsonb, is_required boolean, value jsonb) RETURNS void
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    kind text := jsonb_typeof(value);
    expected text := CASE data_type WHEN 'number' THEN 'number' WHEN 'boolean' THEN 'boolean'
                                    WHEN 'array' THEN 'array' WHEN 'object' THEN 'object'
                                    ELSE 'string' END;
    broken text;
BEGIN
    IF kind = 'null' THEN
        IF is_required THEN
            RAISE EXCEPTION 'field % is required and cannot be null', field_path USING ERRCODE = 'CD001';
        END IF;
        RETURN;
    END IF;
    IF kind <> expected THEN
        RAISE EXCEPTION 'field % must be a % (data type %), got a %', field_path, expected, data_type, kind
            USING ERRCODE = 'CD001', DETAIL = format('value: %s', left(value::text, 200));
    END IF;
    IF kind = 'string' AND rules ? 'pattern' AND length(value #>> '{}') > cdlstore_internal.regex_limit('text') THEN
        RAISE EXCEPTION 'field % is % characters long; a value checked against a pattern may have at most %',
            field_path, length(value #>> '{}'), cdlstore_internal.regex_limit('text') USING ERRCODE = 'CD007';
    END IF;
    broken := CASE
        WHEN rules ? 'allowed_values' AND NOT rules -> 'allowed_values' @> jsonb_build_array(value)
            THEN format('allowed_values %s', rules -> 'allowed_values')
        WHEN kind = 'number' AND rules ? 'minimum' AND value::numeric < (rules ->> 'minimum')::numeric
            THEN format('minimum %s', rules -> 'minimum')
        WHEN kind = 'number' AND rules ? 'maximum' AND value::numeric > (rules ->> 'maximum')::numeric
            THEN format('maximum %s', rules -> 'maximum')
        WHEN kind = 'string' AND rules ? 'max_length'
             AND length(value #>> '{}') > (rules ->> 'max_length')::numeric
            THEN format('max_length %s', rules -> 'max_length')
        WHEN kind = 'string' AND rules ? 'pattern'
             AND NOT (value #>> '{}') ~ cdlstore_internal.runnable_regex(rules ->> 'pattern')
            THEN format('pattern %s', rules -> 'pattern')
    END;
    IF broken IS NOT NULL THEN
        RAISE EXCEPTION 'field % breaks its rule %', field_path, broken
            USING ERRCODE = 'CD001', DETAIL = format('value: %s', left(value::text, 200));
    END IF;
END
$$;

ALTER FUNCTION cdl._check_field_value(field_path text, data_type cdl.data_type_enum, rules jsonb, is_required boolean, value jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_field_value(field_path text, data_type cdl.data_type_enum, rules jsonb, is_required boolean, value jsonb) IS 'Raise CD001, naming the path and the rule, when value does not fit its definition.';

CREATE FUNCTION cdl._check_key(p_key text, p_name text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    owner text;
BEGIN
    -- a derived key may not take over a character whose name folds to something else
    -- (an older key, one passed explicitly, or a name cut at 200 characters)
    SELECT c.name::text INTO owner FROM cdl.characters c WHERE c.normalized_name = p_key;
    IF owner IS NOT NULL AND cdl.normalize_name(owner) IS DISTINCT FROM cdl.normalize_name(p_name) THEN
        RAISE EXCEPTION 'the key % of % belongs to the character %', quote_literal(p_key),
            quote_literal(p_name), quote_literal(owner)
            USING ERRCODE = 'CD003', HINT = 'Pass normalized_name to choose the key: the same one to replace that character.';
    END IF;
    RETURN p_key;
END
$$;

ALTER FUNCTION cdl._check_key(p_key text, p_name text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_key(p_key text, p_name text) IS 'A key derived from a name, unless it belongs to a character of another name (CD003).';

CREATE FUNCTION cdl._check_key_count(doc jsonb) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $_$
DECLARE
    n integer;
BEGIN
    -- every value (object member or array element) takes at least two bytes of JSON text, so a
    -- small document is not counted; .type() counts without copying the values
    IF octet_length(doc::text) > 2 * 20000 THEN
        n := jsonb_array_length(jsonb_path_query_array(doc, 'strict $.**.type()')) - 1;
        IF n > 20000 THEN
            RAISE EXCEPTION 'CDL document has % values; at most 20,000 are accepted', n
                USING ERRCODE = 'CD007', HINT = 'Every object member and array element counts.';
        END IF;
    END IF;
END
$_$;

ALTER FUNCTION cdl._check_key_count(doc jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_key_count(doc jsonb) IS 'Refuse a CDL document of more than 20,000 values (CD007) before importing any of it.';

CREATE FUNCTION cdl._check_label(value text, labels anyarray, what text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    IF value IS NULL OR NOT value = ANY (labels::text[]) THEN
        RAISE EXCEPTION 'invalid %: %', what, coalesce(quote_literal(value), 'NULL')
            USING ERRCODE = 'CD001', DETAIL = format('Allowed: %s.', array_to_string(labels, ', '));
    END IF;
    RETURN value;
END
$$;

ALTER FUNCTION cdl._check_label(value text, labels anyarray, what text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_label(value text, labels anyarray, what text) IS 'The value when it is one of the labels (e.g. enum_range(NULL::some_enum)), else CD001.';

CREATE FUNCTION cdl._check_leaf(prefix text[], value jsonb) RETURNS bigint
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    def_id bigint;
BEGIN
    IF jsonb_typeof(value) = 'string' THEN
        PERFORM cdl._check_string_size(prefix, value);
    END IF;
    -- its own definition, checked when declared: one statement, one index lookup
    SELECT d.id INTO def_id
    FROM cdl.character_field_definitions AS d
    WHERE d.path_keys = prefix
      AND (d.is_inferred  -- (void as text: a value the qual must compute)
           OR cdl._check_field_value(d.field_path, d.data_type, d.validation_rules, d.is_required,
                                     value)::text = '');
    RETURN def_id;
END
$$;

ALTER FUNCTION cdl._check_leaf(prefix text[], value jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_leaf(prefix text[], value jsonb) IS 'Check a leaf value (not an object with keys) written at prefix: its size (CD007) and the definition of prefix (CD001); returns the definition id (NULL: the path has none yet). What is declared below prefix is cdl._check_nothing_required_below''s to check.';

CREATE FUNCTION cdl._check_message(user_id text, message text) RETURNS void
    LANGUAGE plpgsql STABLE
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

ALTER FUNCTION cdl._check_message(user_id text, message text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_message(user_id text, message text) IS 'Reject a missing user id or message, or one too long to match.';

CREATE FUNCTION cdl._check_nothing_required_below(prefix text[]) RETURNS void
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    missing text;
BEGIN
    -- a leaf written at prefix leaves no field below it
    SELECT r.field_path INTO missing FROM cdl.character_field_definitions AS r
    WHERE r.is_required AND NOT r.is_inferred
      AND cardinality(r.path_keys) > cardinality(prefix)
      AND r.path_keys[1:cardinality(prefix)] = prefix
    LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'field % is required', missing USING ERRCODE = 'CD001';
    END IF;
END
$$;

ALTER FUNCTION cdl._check_nothing_required_below(prefix text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_nothing_required_below(prefix text[]) IS 'Raise CD001 naming a required declared field below prefix, where a leaf is to be written.';

CREATE FUNCTION cdl._check_rules(field_path text, rules jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    rule record;
    problem text;
BEGIN
    IF rules IS NULL OR jsonb_typeof(rules) <> 'object' THEN
        RAISE EXCEPTION 'validation rules of % must be a JSON object', field_path USING ERRCODE = 'CD001';
    END IF;
    FOR rule IN SELECT key, value FROM jsonb_each(rules) LOOP
        IF rule.key NOT IN ('allowed_values', 'minimum', 'maximum', 'pattern', 'max_length') THEN
            RAISE EXCEPTION 'unknown validation rule "%" for %', rule.key, field_path
                USING ERRCODE = 'CD001',
                      HINT = 'Rules: allowed_values, minimum, maximum, pattern, max_length.';
        END IF;
        IF (rule.key = 'allowed_values' AND jsonb_typeof(rule.value) <> 'array')
           OR (rule.key IN ('minimum', 'maximum') AND jsonb_typeof(rule.value) <> 'number')
           OR (rule.key = 'pattern' AND jsonb_typeof(rule.value) <> 'string')
           OR (rule.key = 'max_length' AND (jsonb_typeof(rule.value) <> 'number'
                                           OR rule.value::numeric < 0
                                           OR rule.value::numeric <> trunc(rule.value::numeric))) THEN
            RAISE EXCEPTION 'validation rule % of % has a value of the wrong kind: %',
                rule.key, field_path, rule.value USING ERRCODE = 'CD001';
        END IF;
        IF rule.key = 'pattern' THEN
            problem := cdlstore_internal.regex_problem(rule.value #>> '{}', false);
            IF problem IS NOT NULL THEN
                RAISE EXCEPTION 'validation pattern of % %', field_path, problem USING ERRCODE = 'CD001';
            END IF;
        END IF;
    END LOOP;
END
$$;

ALTER FUNCTION cdl._check_rules(field_path text, rules jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_rules(field_path text, rules jsonb) IS 'Reject validation rules that are unknown or malformed.';

CREATE FUNCTION cdl._check_string_size(path text[], value jsonb) RETURNS void
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    -- an index entry holds ~2.7 KB, a tsvector 1 MB: strings stay well below
    IF octet_length(value #>> '{}') > 512 * 1024 THEN
        RAISE EXCEPTION 'the string at % is over 512 KiB', left(cdl._path_text(path), 60)
            USING ERRCODE = 'CD007';
    END IF;
END
$$;

ALTER FUNCTION cdl._check_string_size(path text[], value jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_string_size(path text[], value jsonb) IS 'Raise CD007 when the JSON string value at path is over 512 KiB.';

CREATE FUNCTION cdl._check_verdicts(llm_verdicts jsonb) RETURNS void
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    IF llm_verdicts IS NOT NULL AND (jsonb_typeof(llm_verdicts) <> 'object'
       OR EXISTS (SELECT FROM jsonb_each(llm_verdicts) WHERE jsonb_typeof(value) <> 'boolean')) THEN
        RAISE EXCEPTION 'llm_verdicts must be a JSON object of workflow name to true or false'
            USING ERRCODE = 'CD001', HINT = 'e.g. {"custom_drink_order": false}';
    END IF;
END
$$;

ALTER FUNCTION cdl._check_verdicts(llm_verdicts jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_verdicts(llm_verdicts jsonb) IS 'Reject llm_verdicts that are not {workflow: boolean}.';

CREATE FUNCTION cdl._create_version(p_character_id bigint, version_name character varying, description text) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    v_number integer;
BEGIN
    -- the caller holds the character's lock: numbers are gap-free and never collide
    UPDATE cdl.characters SET version_count = version_count + 1
    WHERE id = p_character_id RETURNING version_count INTO v_number;
    INSERT INTO cdl.character_versions
        (character_id, version_number, version_name, description, snapshot, cdl_text, created_by)
    SELECT p_character_id, v_number, _create_version.version_name, _create_version.description,
           jsonb_build_object('cdl', cdl._stored_cdl(c.id), 'cdl_version', c.cdl_version,
                              'file_description', c.file_description,
                              'communication_patterns', d.lists -> 'communication_patterns',
                              'response_templates', d.lists -> 'response_templates',
                              'knowledge', d.lists -> 'knowledge'),
           cdl._stored_text(c.id), cdl._actor()
    FROM cdl.character_documents d JOIN cdl.characters c ON c.id = d.character_id
    WHERE d.character_id = p_character_id;
    INSERT INTO cdl.character_change_log (character_id, change_type, new_value, changed_by)
    VALUES (p_character_id, 'version_created',
            jsonb_build_object('version_number', v_number, 'version_name', _create_version.version_name),
            cdl._actor());
    PERFORM cdl._save_document(p_character_id, NULL);
    RETURN v_number;
END
$$;

ALTER FUNCTION cdl._create_version(p_character_id bigint, version_name character varying, description text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._create_version(p_character_id bigint, version_name character varying, description text) IS 'Snapshot a locked character as its next version; returns the version number.';

CREATE FUNCTION cdl._current_workflow_file(character_name text, content_hash text) RETURNS bigint
    LANGUAGE sql STABLE
    AS $$
    SELECT f.id FROM cdl.workflow_files f JOIN cdl.characters c ON c.id = f.character_id
    WHERE c.normalized_name = cdl.normalize_name(character_name) AND f.is_current
      AND f.content_hash = _current_workflow_file.content_hash
$$;

ALTER FUNCTION cdl._current_workflow_file(character_name text, content_hash text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._current_workflow_file(character_name text, content_hash text) IS 'The id of a character''s current workflow file when its content hash is this one; NULL otherwise.';

CREATE FUNCTION cdl._definition_call(p_function text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $_$
DECLARE
    fn regprocedure;
    v_call text;
BEGIN
    BEGIN
        fn := to_regprocedure(p_function);
    EXCEPTION WHEN syntax_error OR invalid_name OR invalid_text_representation THEN
        fn := NULL;  -- not a function signature at all
    END;
    -- only a writing API function of the cdl schema that is neither per user nor per instance
    SELECT format('SELECT to_jsonb(cdl.%I(%s))', p.proname,
                  (SELECT string_agg(format('%I => $1[%s]::%s', a.name, a.n, format_type(a.type, NULL)), ', '
                                     ORDER BY a.n)
                   FROM unnest(p.proargnames, p.proargtypes::oid[]) WITH ORDINALITY AS a(name, type, n)
                   WHERE a.type IS NOT NULL))
    INTO v_call
    FROM pg_catalog.pg_proc p
    WHERE p.oid = fn AND p.pronamespace = 'cdl'::regnamespace AND p.prosecdef AND p.provolatile = 'v'
      AND NOT p.proretset AND NOT (coalesce(p.proargnames, '{}') && ARRAY['user_id', 'instance_id'])
      AND p.proname NOT IN ('apply_definition', 'expire_workflow_timeouts');
    IF v_call IS NULL THEN
        RAISE EXCEPTION '% is not a definition write', quote_literal(p_function) USING ERRCODE = 'CD001';
    END IF;
    RETURN v_call;
END
$_$;

ALTER FUNCTION cdl._definition_call(p_function text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._definition_call(p_function text) IS 'The query that runs a definition-writing API function with its arguments as a text array.';

CREATE FUNCTION cdl._definition_sequences() RETURNS TABLE(seq regclass)
    LANGUAGE sql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
    -- the identity sequences of the definition tables: every cdl table but the per-user ones
    SELECT d.objid::regclass
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
    JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'i'
      AND t.relnamespace = 'cdl'::regnamespace
      AND t.relname NOT IN ('workflow_instances', 'workflow_execution_log')
$$;

ALTER FUNCTION cdl._definition_sequences() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._definition_sequences() IS 'The identity sequences of the cdl definition tables (all but instances and their log).';

CREATE FUNCTION cdl._delete_change_log() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    -- what ON DELETE CASCADE of a foreign key did (migration 0031), once per statement. It runs
    -- before the cascaded deletions of the character's field values fire their trigger, which
    -- logs nothing for a deleted character (cdl._log_field_change)
    DELETE FROM cdl.character_change_log l USING gone WHERE l.character_id = gone.id;
    RETURN NULL;
END
$$;

ALTER FUNCTION cdl._delete_change_log() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._delete_change_log() IS 'Trigger: the change log of deleted characters goes with them (the log has no foreign key: docs/reliability.md).';

CREATE FUNCTION cdl._delete_instance_log() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    -- what ON DELETE CASCADE of a foreign key did (migration 0028), once per statement
    DELETE FROM cdl.workflow_execution_log l USING gone WHERE l.instance_id = gone.id;
    RETURN NULL;
END
$$;

ALTER FUNCTION cdl._delete_instance_log() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._delete_instance_log() IS 'Trigger: the log rows of deleted workflow instances go with them (the log has no foreign key: docs/workflows.md).';

CREATE FUNCTION cdl._delete_workflow_instances() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    -- since migration 0028 instances have no foreign keys (the one to the character cascaded,
    -- the one to the workflow refused): a deleted workflow (so also a deleted character) takes
    -- its instances, and they their log
    DELETE FROM cdl.workflow_instances i USING gone WHERE i.workflow_id = gone.id;
    RETURN NULL;
END
$$;

ALTER FUNCTION cdl._delete_workflow_instances() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._delete_workflow_instances() IS 'Trigger: the instances of deleted workflows go with them (instances have no foreign keys: docs/workflows.md).';

CREATE FUNCTION cdl._derived_columns(doc jsonb, OUT name text, OUT occupation text, OUT description text, OUT archetype cdl.character_archetype_enum) RETURNS record
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    SELECT (SELECT btrim(v #>> '{}') FROM unnest(ARRAY[doc #> '{metadata,name}', doc #> '{identity,name}',
                                                    doc -> 'name']) AS v
            WHERE jsonb_typeof(v) = 'string' AND btrim(v #>> '{}') <> '' LIMIT 1),
           CASE WHEN jsonb_typeof(doc #> '{identity,occupation}') = 'string'
                THEN doc #>> '{identity,occupation}' END,
           CASE WHEN jsonb_typeof(doc #> '{identity,description}') = 'string'
                THEN doc #>> '{identity,description}' END,
           (SELECT a::cdl.character_archetype_enum
            FROM unnest(ARRAY[doc #>> '{identity,archetype}', doc #>> '{metadata,archetype}',
                              doc ->> 'archetype']) AS r,
                 cdl.normalize_name(r) AS a
            WHERE a = ANY (enum_range(NULL::cdl.character_archetype_enum)::text[]) LIMIT 1)
    INTO name, occupation, description, archetype;
END
$$;

ALTER FUNCTION cdl._derived_columns(doc jsonb, OUT name text, OUT occupation text, OUT description text, OUT archetype cdl.character_archetype_enum) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._derived_columns(doc jsonb, OUT name text, OUT occupation text, OUT description text, OUT archetype cdl.character_archetype_enum) IS 'The characters columns that come from the CDL: name (metadata.name, identity.name or name), occupation, description, archetype (NULL when not a known archetype).';

CREATE FUNCTION cdl._document_part(p_character_id bigint, part text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    RETURN CASE part
        WHEN 'communication_patterns' THEN (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'pattern_type', p.pattern_type, 'pattern_name', p.pattern_name,
                       'pattern_value', p.pattern_value, 'context', p.context,
                       'frequency', p.frequency, 'priority', p.priority)
                   ORDER BY p.pattern_type, p.priority DESC, p.pattern_name), '[]')
            FROM cdl.communication_patterns p WHERE p.character_id = p_character_id)
        WHEN 'response_templates' THEN (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'scenario', t.scenario, 'template_name', t.template_name,
                       'template_text', t.template_text, 'conditions', t.conditions,
                       'priority', t.priority, 'is_active', t.is_active)
                   ORDER BY t.scenario, t.priority DESC, t.template_name), '[]')
            FROM cdl.response_templates t WHERE t.character_id = p_character_id)
        WHEN 'knowledge' THEN (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'knowledge_type', k.knowledge_type, 'knowledge_key', k.knowledge_key,
                       'content', k.content, 'parent_key', parent.knowledge_key,
                       'confidence', k.confidence, 'importance', k.importance, 'tags', k.tags,
                       'is_public', k.is_public)
                   ORDER BY k.knowledge_type, k.importance DESC, k.knowledge_key), '[]')
            FROM cdl.character_knowledge k
            LEFT JOIN cdl.character_knowledge parent ON parent.id = k.parent_knowledge_id
            WHERE k.character_id = p_character_id)
        WHEN 'workflows' THEN (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'workflow_name', w.workflow_name, 'description', w.description,
                       'definition_version', w.definition_version, 'initial_state', w.initial_state,
                       'states', (SELECT jsonb_agg(s.state_name ORDER BY s.sort_order)
                                  FROM cdl.workflow_states s WHERE s.workflow_id = w.id),
                       'llm_validation', coalesce((w.llm_validation ->> 'enabled')::boolean, false))
                   ORDER BY w.sort_order), '[]')
            FROM cdl.character_workflows w WHERE w.character_id = p_character_id AND w.is_current)
    END;
END
$$;

ALTER FUNCTION cdl._document_part(p_character_id bigint, part text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._document_part(p_character_id bigint, part text) IS 'One list of get_character_complete, built from its table.';

CREATE FUNCTION cdl._end_event(status cdl.workflow_status_enum) RETURNS cdl.workflow_event_enum
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT (CASE status WHEN 'completed' THEN 'workflow_completed' WHEN 'cancelled' THEN 'workflow_cancelled'
            END)::cdl.workflow_event_enum
$$;

ALTER FUNCTION cdl._end_event(status cdl.workflow_status_enum) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._end_event(status cdl.workflow_status_enum) IS 'The log event of an instance that a state entry ended (NULL while it is active).';

CREATE FUNCTION cdl._expire(as_of timestamp with time zone, p_user_id text DEFAULT NULL::text, p_character_id bigint DEFAULT NULL::bigint) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._expire(as_of timestamp with time zone, p_user_id text, p_character_id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._expire(as_of timestamp with time zone, p_user_id text, p_character_id bigint) IS 'End every active instance past its timeout_at (of one user and character when given).';

CREATE FUNCTION cdl._extract_context(extractors jsonb, p_file_id bigint, validation_rules jsonb, message text, groups text[], base jsonb, OUT context jsonb, OUT rejected text) RETURNS record
    LANGUAGE plpgsql STABLE
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

ALTER FUNCTION cdl._extract_context(extractors jsonb, p_file_id bigint, validation_rules jsonb, message text, groups text[], base jsonb, OUT context jsonb, OUT rejected text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._extract_context(extractors jsonb, p_file_id bigint, validation_rules jsonb, message text, groups text[], base jsonb, OUT context jsonb, OUT rejected text) IS 'Run a workflow''s extractors (character_workflows.extractors; lookups in the tables of file p_file_id) in file order over base, each followed by its validation rules; rejected says why a reject rule stopped the workflow.';

CREATE FUNCTION cdl._field_place(p_character_id bigint, keys text[]) RETURNS integer[]
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    node json;
    place integer[];
    n integer;
BEGIN
    SELECT ARRAY[s.position], s.ordered INTO place, node
    FROM cdl.character_sections AS s WHERE s.character_id = p_character_id AND s.section = keys[1];
    FOR i IN 2 .. cardinality(keys) LOOP
        SELECT e.n::integer, e.value INTO n, node
        FROM json_each(CASE WHEN json_typeof(node) = 'object' THEN node ELSE '{}' END)
             WITH ORDINALITY AS e (key, value, n)
        WHERE e.key = keys[i];
        place := place || n;
    END LOOP;
    RETURN place;
END
$$;

ALTER FUNCTION cdl._field_place(p_character_id bigint, keys text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._field_place(p_character_id bigint, keys text[]) IS 'Where a field stands in its character''s document order: the place of each key on its path (sorting by it gives the order the character was written in).';

CREATE FUNCTION cdl._field_type(section text) RETURNS cdl.field_type_enum
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN section = ANY (enum_range(NULL::cdl.field_type_enum)::text[])
                THEN section::cdl.field_type_enum ELSE 'custom' END
$$;

ALTER FUNCTION cdl._field_type(section text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._field_type(section text) IS 'The field type of a top section of CDL; custom when unknown.';

CREATE FUNCTION cdl._fold_name(name text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- compatibility forms (width) folded, accents removed, lower case; letters and digits of
    -- every script are kept, every run of spaces, punctuation, symbols and controls becomes '_'
    -- (a name of over 1,000 characters has no key: no character can have it)
    RETURN CASE WHEN length(name) > 1000 THEN NULL
                    ELSE nullif(trim(BOTH '_' FROM regexp_replace(
            lower(replace(replace(replace(replace(replace(replace(replace(replace(
                regexp_replace(normalize(name, NFKD),
                               '[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g'),
                'ß', 'ss'), 'Æ', 'ae'), 'æ', 'ae'), 'Œ', 'oe'), 'œ', 'oe'), 'Ø', 'o'), 'ø', 'o'), 'ł', 'l')),
            '[\u0001-\u002f\u003a-\u0040\u005b-\u0060\u007b-\u00bf\u00d7\u00f7\u02b9-\u02ff\u2000-\u2bff'
            '\u2e00-\u2e7f\u3000-\u303f\ufe10-\ufe1f\ufe30-\ufe6f\ufeff\uff01-\uff0f\uff1a-\uff20'
            '\uff3b-\uff40\uff5b-\uff65\ufff0-\uffff\U0001f000-\U0001faff[:space:]]+', '_', 'g')), '') END;
END
$$;

ALTER FUNCTION cdl._fold_name(name text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._fold_name(name text) IS 'The key of a name that is not in key form already: the slow part of cdl.normalize_name.';

CREATE FUNCTION cdl._import_character(character_json jsonb, ordered json, import_source character varying, normalized_name character varying) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    body jsonb;
    body_text json;
    derived record;
    v_normalized text;
    v_id bigint;
    v_created boolean;
    old_cdl jsonb;
    changed integer;
BEGIN
    IF character_json IS NULL OR jsonb_typeof(character_json) <> 'object' THEN
        RAISE EXCEPTION 'a CDL document must be a JSON object, got %',
            coalesce(jsonb_typeof(character_json), 'NULL') USING ERRCODE = 'CD001';
    END IF;
    IF octet_length(character_json::text) > 4 * 1024 * 1024 THEN
        RAISE EXCEPTION 'CDL document is % bytes; at most 4 MiB are accepted',
            octet_length(character_json::text) USING ERRCODE = 'CD007';
    END IF;
    PERFORM cdl._check_key_count(character_json);
    IF import_source IS NULL OR btrim(import_source) = '' THEN
        RAISE EXCEPTION 'import_source must not be empty' USING ERRCODE = 'CD001';
    END IF;
    -- wrapped {"cdl_version", "format", "description", "character": {...}}, possibly with more
    -- sections beside "character" (merged into it, "character" winning), or flat
    -- (ordered is character_json as text, its keys in the order to keep, each once)
    body_text := cdl._cdl_body(ordered);
    body := CASE WHEN jsonb_typeof(character_json -> 'character') = 'object' THEN body_text::jsonb
                 ELSE character_json END;
    derived := cdl._derived_columns(body);
    IF derived.name IS NULL THEN
        RAISE EXCEPTION 'the CDL document has no name'
            USING ERRCODE = 'CD001',
                  HINT = 'Give character.metadata.name, identity.name or name as a non-empty string.';
    END IF;
    v_normalized := cdl._import_key(normalized_name, derived.name);
    IF length(derived.name) > 200 THEN
        RAISE EXCEPTION 'the name is % characters long; at most 200 are allowed', length(derived.name)
            USING ERRCODE = 'CD001';
    END IF;
    PERFORM cdl._validate_nodes('{}', body);

    INSERT INTO cdl.characters AS c
        (name, normalized_name, archetype, cdl_version, file_description, import_source, created_by)
    VALUES (derived.name, v_normalized, coalesce(derived.archetype, 'real_world'),
            coalesce(left(character_json ->> 'cdl_version', 20), '1.0'),
            CASE WHEN jsonb_typeof(character_json -> 'character') = 'object'
                 THEN character_json ->> 'description' END,
            import_source, cdl._actor())
    ON CONFLICT ON CONSTRAINT characters_normalized_name_key DO UPDATE
    SET cdl_version = EXCLUDED.cdl_version, file_description = EXCLUDED.file_description,
        import_source = EXCLUDED.import_source
    RETURNING c.id, (c.xmax = 0) INTO v_id, v_created;

    IF v_created THEN
        INSERT INTO cdl.character_documents (normalized_name, character_id) VALUES (v_normalized, v_id);
    END IF;
    old_cdl := cdl._stored_cdl(v_id);
    changed := cdl._store_cdl(v_id, old_cdl, body, body_text, import_source);
    INSERT INTO cdl.character_change_log (character_id, change_type, change_source, changed_by, new_value)
    VALUES (v_id, CASE WHEN v_created THEN 'character_created' ELSE 'bulk_import' END::cdl.change_type_enum,
            import_source, cdl._actor(), jsonb_build_object('fields_changed', changed));
    RETURN v_id;
END
$$;

ALTER FUNCTION cdl._import_character(character_json jsonb, ordered json, import_source character varying, normalized_name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._import_character(character_json jsonb, ordered json, import_source character varying, normalized_name character varying) IS 'import_character_from_json of a document given as jsonb and as text in the order to keep.';

CREATE FUNCTION cdl._import_key(normalized_name text, name text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    v_key text;
BEGIN
    IF normalized_name IS NOT NULL THEN
        -- a key is its own key: then a lookup by the name as given and one by its key find the
        -- same character (get_character_complete looks the name up as given first)
        IF normalized_name IS DISTINCT FROM cdl.normalize_name(normalized_name) OR length(normalized_name) > 200 THEN
            RAISE EXCEPTION 'normalized name % must be a key normalize_name returns unchanged, such as %, at most 200 characters',
                quote_literal(normalized_name), coalesce(quote_literal(cdl.normalize_name(normalized_name)), '''iris_marlow''')
                USING ERRCODE = 'CD001';
        END IF;
        RETURN normalized_name;
    END IF;
    v_key := left(cdl.normalize_name(name), 200);
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'the name % normalizes to nothing', quote_literal(name)
            USING ERRCODE = 'CD001', HINT = 'Pass normalized_name explicitly.';
    END IF;
    RETURN cdl._check_key(v_key, name);
END
$$;

ALTER FUNCTION cdl._import_key(normalized_name text, name text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._import_key(normalized_name text, name text) IS 'The key an import stores a character under: normalized_name when given (checked), else the key of its name (CD001 when nothing is left of it, CD003 when it belongs to another name).';

CREATE FUNCTION cdl._infer_data_type(value jsonb) RETURNS cdl.data_type_enum
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT (CASE jsonb_typeof(value)
        WHEN 'string' THEN CASE WHEN length(value #>> '{}') > 255 THEN 'text' ELSE 'string' END
        WHEN 'number' THEN 'number'
        WHEN 'boolean' THEN 'boolean'
        WHEN 'array' THEN 'array'
        WHEN 'object' THEN 'object'
        ELSE 'string' END)::cdl.data_type_enum
$$;

ALTER FUNCTION cdl._infer_data_type(value jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._infer_data_type(value jsonb) IS 'The data type of a field first seen with this value.';

CREATE FUNCTION cdl._instance_id(p_user_id text) RETURNS bigint
    LANGUAGE sql
    AS $$
    -- the low 10 bits are the user's hash: the proxy routes an instance id to the shard of its
    -- user (PL/Proxy takes hash & (partitions - 1), up to 1024 partitions), without a broadcast
    SELECT nextval('cdl.workflow_instances_id_seq') * 1024 + (hashtext(p_user_id) & 1023)
$$;

ALTER FUNCTION cdl._instance_id(p_user_id text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._instance_id(p_user_id text) IS 'A new workflow instance id that routes to the shard of its user (low 10 bits: hash of user_id).';

CREATE FUNCTION cdl._is_leaf(node jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT coalesce(jsonb_typeof(node) <> 'object' OR node = '{}', false)
$$;

ALTER FUNCTION cdl._is_leaf(node jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._is_leaf(node jsonb) IS 'Whether node is what one character_field_values row holds (a scalar, null, array or empty object); false for an object with keys and for SQL NULL (nothing there).';

CREATE FUNCTION cdl._json_leaves(doc json) RETURNS TABLE(path text, value json, place integer[])
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$
    -- place: the position of each key on the way down; sorting by it gives the document order
    WITH RECURSIVE t (keys, value, place) AS (
        SELECT '{}'::text[], doc, '{}'::integer[]
        UNION ALL
        SELECT t.keys || e.key, e.value, t.place || e.n::integer
        FROM t
        CROSS JOIN LATERAL json_each(
            CASE WHEN json_typeof(t.value) = 'object' THEN t.value ELSE '{}' END)
            WITH ORDINALITY AS e (key, value, n)
    )
    SELECT cdl._path_text(t.keys), t.value, t.place
    FROM t
    WHERE cardinality(t.keys) > 0
      AND (json_typeof(t.value) <> 'object' OR t.value::text ~ '^\s*\{\s*\}\s*$')
$_$;

ALTER FUNCTION cdl._json_leaves(doc json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._json_leaves(doc json) IS 'The leaves of a CDL text (as cdl._nodes has them) with their dot paths, each with its place in the document order.';

CREATE FUNCTION cdl._json_merge(base json, winner json) RETURNS json
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    -- the keys of winner in its order, then the keys only base has, in base's order
    RETURN (SELECT coalesce(json_object_agg(coalesce(w.key, b.key),
               CASE WHEN json_typeof(b.value) = 'object' AND json_typeof(w.value) = 'object'
                    THEN cdl._json_merge(b.value, w.value)
                    ELSE coalesce(w.value, b.value) END
               ORDER BY w.n NULLS LAST, b.n), '{}')
            FROM json_each(winner) WITH ORDINALITY AS w (key, value, n)
            FULL JOIN json_each(base) WITH ORDINALITY AS b (key, value, n) ON b.key = w.key);
END
$$;

ALTER FUNCTION cdl._json_merge(base json, winner json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._json_merge(base json, winner json) IS 'Objects (keys written once) merged key by key; where both sides hold a non-object value, winner wins. Winner''s keys come first, in its order, then the keys only base has.';

CREATE FUNCTION cdl._json_ordered(doc json, depth integer DEFAULT 0) RETURNS json
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    IF depth > 64 THEN
        RAISE EXCEPTION 'CDL is nested more than 64 levels deep; at most 32 are allowed'
            USING ERRCODE = 'CD001';
    END IF;
    IF json_typeof(doc) = 'object' THEN
        -- a key written twice keeps its first place and its last value, as jsonb keeps the last
        RETURN (SELECT coalesce(json_object_agg(e.key,
                       CASE WHEN json_typeof(e.value) IN ('object', 'array')
                            THEN cdl._json_ordered(e.value, depth + 1) ELSE e.value END
                       ORDER BY e.first), '{}')
                FROM (SELECT DISTINCT ON (m.key) m.key, m.value, min(m.n) OVER (PARTITION BY m.key) AS first
                      FROM json_each(doc) WITH ORDINALITY AS m (key, value, n)
                      ORDER BY m.key, m.n DESC) AS e);
    ELSIF json_typeof(doc) = 'array' THEN
        RETURN (SELECT coalesce(json_agg(
                       CASE WHEN json_typeof(a.value) IN ('object', 'array')
                            THEN cdl._json_ordered(a.value, depth + 1) ELSE a.value END
                       ORDER BY a.n), '[]')
                FROM json_array_elements(doc) WITH ORDINALITY AS a (value, n));
    END IF;
    RETURN doc;
END
$$;

ALTER FUNCTION cdl._json_ordered(doc json, depth integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._json_ordered(doc json, depth integer) IS 'A JSON text with every object''s keys in their written order, each once: a key written twice keeps its first place and its last value (the value jsonb keeps). CD001 past 64 levels.';

CREATE FUNCTION cdl._json_remove(doc json, keys text[]) RETURNS json
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    child json;
BEGIN
    IF cardinality(keys) > 1 THEN
        child := cdl._json_remove(doc -> keys[1], keys[2:]);
    END IF;
    -- the other keys keep their order; an object emptied by the removal goes too
    RETURN (SELECT coalesce(json_object_agg(e.key, CASE WHEN e.key = keys[1] THEN child ELSE e.value END
                                             ORDER BY e.n), '{}')
            FROM json_each(doc) WITH ORDINALITY AS e (key, value, n)
            WHERE e.key <> keys[1] OR (child IS NOT NULL AND child::text <> '{}'));
END
$$;

ALTER FUNCTION cdl._json_remove(doc json, keys text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._json_remove(doc json, keys text[]) IS 'The object doc without the path keys, the other keys in their order; objects that the removal leaves empty go too.';

CREATE FUNCTION cdl._json_set(doc json, keys text[], new_value json) RETURNS json
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
    result json;
BEGIN
    IF cardinality(keys) = 0 THEN
        RETURN new_value;
    END IF;
    IF json_typeof(doc) IS DISTINCT FROM 'object' THEN
        doc := '{}';
    END IF;
    -- a key that is there keeps its place (the usual case: one pass) ...
    SELECT CASE WHEN bool_or(e.key = keys[1]) THEN json_object_agg(e.key,
               CASE WHEN e.key <> keys[1] THEN e.value
                    WHEN cardinality(keys) = 1 THEN new_value
                    ELSE cdl._json_set(e.value, keys[2:], new_value) END ORDER BY e.n) END
    INTO result
    FROM json_each(doc) WITH ORDINALITY AS e (key, value, n);
    IF result IS NULL THEN  -- ... and a new one goes to the end
        SELECT json_object_agg(s.key, s.value ORDER BY s.n) INTO result
        FROM (SELECT e.key, e.value, e.n FROM json_each(doc) WITH ORDINALITY AS e (key, value, n)
              UNION ALL
              SELECT keys[1], cdl._json_set(NULL, keys[2:], new_value), 9223372036854775807) AS s;
    END IF;
    RETURN result;
END
$$;

ALTER FUNCTION cdl._json_set(doc json, keys text[], new_value json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._json_set(doc json, keys text[], new_value json) IS 'The object doc with new_value at the path keys (the missing objects on the way created): a key already there keeps its place, a new key is appended to its parent.';

CREATE FUNCTION cdl._keyword_query(keywords text[]) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- any keyword (a phrase: its words in order), each word by its English stem
    SELECT string_agg('(' || phraseto_tsquery('cdl.keywords', k)::text || ')', ' | ' ORDER BY i)::tsquery
    FROM unnest(keywords) WITH ORDINALITY AS u (k, i)
    WHERE to_tsvector('cdl.keywords', k) <> ''::tsvector
$$;

ALTER FUNCTION cdl._keyword_query(keywords text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._keyword_query(keywords text[]) IS 'The keywords of a trigger list as one tsquery (cdl.keywords: English stems, no stop words); NULL when none.';

CREATE FUNCTION cdl._lock_character(name text, sections text[] DEFAULT '{}'::text[], OUT character_id bigint, OUT doc jsonb, OUT ordered json) RETURNS record
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_key text := cdl.normalize_name(name);  -- once: a generic plan would fold it per row
BEGIN
    -- every write locks the character row first: writes to one character are serialized.
    -- The lock is the write of updated_at (an UPDATE of no key column takes the row lock FOR NO
    -- KEY UPDATE takes), so that no write needs a statement of its own for it; a write call that
    -- changes nothing sets it too. The CDL is read by a statement of its own, after the lock, so
    -- that it is the newest committed one (a joined row would come from the snapshot taken
    -- before waiting).
    UPDATE cdl.characters AS c SET updated_at = now() WHERE c.normalized_name = v_key
    RETURNING c.id INTO character_id;
    IF character_id IS NULL THEN
        PERFORM cdl._character_not_found(name);
    END IF;
    doc := '{}';
    ordered := '{}';
    IF sections IS NULL THEN
        doc := cdl._stored_cdl(character_id);
        ordered := cdl._stored_text(character_id);
    ELSIF cardinality(sections) = 1 THEN
        -- a field write's section: one row, no aggregate, and its text as it is (the writes
        -- read the few nodes they need from it; parsing all of it into jsonb would cost more)
        SELECT s.ordered INTO ordered
        FROM cdl.character_sections AS s
        WHERE s.character_id = _lock_character.character_id AND s.section = sections[1];
        doc := NULL;
    ELSIF sections <> '{}' THEN  -- a statement of its own, so that its plan looks up these rows only
        SELECT coalesce(jsonb_object_agg(s.section, s.ordered::jsonb), '{}'),
               coalesce(json_object_agg(s.section, s.ordered ORDER BY s.position, s.section), '{}')
        INTO doc, ordered
        FROM cdl.character_sections AS s
        WHERE s.character_id = _lock_character.character_id AND s.section = ANY (_lock_character.sections);
    END IF;
END
$$;

ALTER FUNCTION cdl._lock_character(name text, sections text[], OUT character_id bigint, OUT doc jsonb, OUT ordered json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._lock_character(name text, sections text[], OUT character_id bigint, OUT doc jsonb, OUT ordered json) IS 'Lock a character for writing; return its id and the named sections of its CDL (NULL: all of it, the default: none) as jsonb (doc) and as text in their order (ordered); for one section (a field write) ordered is that section''s own text (NULL when it has none) and doc NULL. CD002 when unknown.';

CREATE FUNCTION cdl._lock_user(p_character_id bigint, p_user_id text) RETURNS void
    LANGUAGE sql
    AS $$
    -- one user's messages to one character are processed one at a time
    SELECT pg_advisory_xact_lock(hashtext('cdlstore.workflow.' || p_character_id), hashtext(p_user_id))
$$;

ALTER FUNCTION cdl._lock_user(p_character_id bigint, p_user_id text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._lock_user(p_character_id bigint, p_user_id text) IS 'Serialize the workflow work of one user with one character.';

CREATE FUNCTION cdl._log(p_instance_id bigint, p_user_id text, event cdl.workflow_event_enum, from_state text, to_state text, message text DEFAULT NULL::text, details jsonb DEFAULT '{}'::jsonb, ended cdl.workflow_status_enum DEFAULT NULL::cdl.workflow_status_enum) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    INSERT INTO cdl.workflow_execution_log (instance_id, user_id, event_type, from_state, to_state, message, details)
    SELECT p_instance_id, p_user_id, e.row_event, e.row_from, e.row_to, e.row_message, e.row_details
    FROM cdl._log_rows(event, from_state, to_state, message, details, ended) AS e ORDER BY e.n;
END
$$;

ALTER FUNCTION cdl._log(p_instance_id bigint, p_user_id text, event cdl.workflow_event_enum, from_state text, to_state text, message text, details jsonb, ended cdl.workflow_status_enum) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._log(p_instance_id bigint, p_user_id text, event cdl.workflow_event_enum, from_state text, to_state text, message text, details jsonb, ended cdl.workflow_status_enum) IS 'One row of the workflow execution log, and after it the end row when the status a step entered (ended) ends the instance.';

CREATE FUNCTION cdl._log_field_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    -- the row's own rules, checked here rather than as CHECK constraints (which PostgreSQL
    -- parses anew on every statement that writes the table: migration 0027)
    IF TG_OP <> 'DELETE' AND (num_nonnulls(NEW.string_value, NEW.number_value, NEW.boolean_value,
                                           NEW.json_value) <> 1) THEN
        RAISE EXCEPTION 'new row for relation "character_field_values" violates check constraint "character_field_values_check"'
            USING ERRCODE = 'check_violation', SCHEMA = 'cdl', TABLE = 'character_field_values',
                  CONSTRAINT = 'character_field_values_check';
    END IF;
    IF TG_OP <> 'DELETE' AND NOT (NEW.confidence >= 0 AND NEW.confidence <= 1) THEN
        RAISE EXCEPTION 'new row for relation "character_field_values" violates check constraint "character_field_values_confidence_check"'
            USING ERRCODE = 'check_violation', SCHEMA = 'cdl', TABLE = 'character_field_values',
                  CONSTRAINT = 'character_field_values_confidence_check';
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cdl.character_change_log
            (character_id, change_type, field_path, old_value, new_value, change_source, changed_by)
        SELECT NEW.character_id, 'field_added', d.field_path, NULL,
               cdl._value_jsonb(NEW.string_value, NEW.number_value, NEW.boolean_value, NEW.json_value),
               NEW.source, cdl._actor()
        FROM cdl.character_field_definitions d WHERE d.id = NEW.field_definition_id;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO cdl.character_change_log
            (character_id, change_type, field_path, old_value, new_value, change_source, changed_by)
        SELECT NEW.character_id, 'field_updated', d.field_path,
               cdl._value_jsonb(OLD.string_value, OLD.number_value, OLD.boolean_value, OLD.json_value),
               cdl._value_jsonb(NEW.string_value, NEW.number_value, NEW.boolean_value, NEW.json_value),
               NEW.source, cdl._actor()
        FROM cdl.character_field_definitions d WHERE d.id = NEW.field_definition_id;
    ELSE
        INSERT INTO cdl.character_change_log
            (character_id, change_type, field_path, old_value, new_value, change_source, changed_by)
        SELECT OLD.character_id, 'field_removed', d.field_path,
               cdl._value_jsonb(OLD.string_value, OLD.number_value, OLD.boolean_value, OLD.json_value),
               NULL, coalesce(nullif(current_setting('cdlstore.change_source', true), ''), OLD.source),
               cdl._actor()
        FROM cdl.character_field_definitions d WHERE d.id = OLD.field_definition_id
          -- not for a character being deleted: its whole log goes (cdl._delete_change_log
          -- runs before the cascaded deletions of its values fire this trigger)
          AND EXISTS (SELECT FROM cdl.characters AS c WHERE c.id = OLD.character_id);
    END IF;
    RETURN NULL;
END
$$;

ALTER FUNCTION cdl._log_field_change() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._log_field_change() IS 'Trigger: one character_change_log row for every field value added, updated or removed; a row added or updated must hold exactly one value and a confidence in [0, 1] (23514).';

CREATE FUNCTION cdl._log_rows(event cdl.workflow_event_enum, from_state text, to_state text, message text, details jsonb, ended cdl.workflow_status_enum) RETURNS TABLE(n integer, row_event cdl.workflow_event_enum, row_from text, row_to text, row_message text, row_details jsonb)
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    -- the step's row and, when the step ended the instance (ended), the end row
    SELECT e.n, e.event, e.from_state, e.to_state, e.message, e.details
    FROM (VALUES (1, event, from_state, to_state, message, coalesce(details, '{}')),
                 (2, cdl._end_event(ended), to_state, NULL, NULL, '{}'))
         AS e (n, event, from_state, to_state, message, details)
    WHERE e.event IS NOT NULL
$$;

ALTER FUNCTION cdl._log_rows(event cdl.workflow_event_enum, from_state text, to_state text, message text, details jsonb, ended cdl.workflow_status_enum) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._log_rows(event cdl.workflow_event_enum, from_state text, to_state text, message text, details jsonb, ended cdl.workflow_status_enum) IS 'The log rows of one step (n orders them): the step''s and, when the status it entered (ended) ends the instance, the end row.';

CREATE FUNCTION cdl._match_lists(message text, words tsvector, keyword_query tsquery, patterns text[], keywords text[], required_literals text[], OUT pattern text, OUT groups text[], OUT keyword text) RETURNS record
    LANGUAGE plpgsql STABLE
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

ALTER FUNCTION cdl._match_lists(message text, words tsvector, keyword_query tsquery, patterns text[], keywords text[], required_literals text[], OUT pattern text, OUT groups text[], OUT keyword text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._match_lists(message text, words tsvector, keyword_query tsquery, patterns text[], keywords text[], required_literals text[], OUT pattern text, OUT groups text[], OUT keyword text) IS 'The first pattern (file order) found anywhere in message, with its groups (element 1 is the whole match; case-insensitive), and the first keyword whose words are in the message by English stem (words: to_tsvector(''cdl.keywords'', message)); required_literals (lower case, one per pattern, or NULL for none) skip the patterns whose text is not in the message.';

CREATE FUNCTION cdl._message_facts(request_context jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
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

ALTER FUNCTION cdl._message_facts(request_context jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._message_facts(request_context jsonb) IS 'The facts context_required tests: the built-in ones (message_type = user_request) under the caller''s request_context (CD001 when it is not an object).';

CREATE FUNCTION cdl._nodes(prefix text[], doc jsonb) RETURNS TABLE(path text[], value jsonb, is_leaf boolean)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    WITH RECURSIVE t (path, value) AS (
        SELECT prefix, doc
        UNION ALL
        SELECT t.path || e.key, e.value
        FROM t
        CROSS JOIN LATERAL jsonb_each(
            CASE WHEN jsonb_typeof(t.value) = 'object' THEN t.value ELSE '{}' END) AS e
    )
    SELECT t.path, t.value, cdl._is_leaf(t.value)
    FROM t
    WHERE cardinality(t.path) > 0
$$;

ALTER FUNCTION cdl._nodes(prefix text[], doc jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._nodes(prefix text[], doc jsonb) IS 'Every node of doc placed at prefix (the root too, unless prefix is empty). Leaves are scalars, nulls, arrays and empty objects: they are what character_field_values stores.';

CREATE FUNCTION cdl._parse_path(field_path text) RETURNS text[]
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    keys text[] := '{}'::text[];
    current_key text := '';
    ch text;
    i integer := 1;
BEGIN
    IF octet_length(field_path) > 1000 THEN
        RAISE EXCEPTION 'a field path is at most 1,000 bytes long, got %', octet_length(field_path)
            USING ERRCODE = 'CD001';
    END IF;
    IF field_path IS NULL OR field_path = '' THEN
        RAISE EXCEPTION 'field path is empty' USING ERRCODE = 'CD001',
            HINT = 'Give a dot path such as identity.name.';
    END IF;
    IF strpos(field_path, '\') = 0 THEN
        keys := string_to_array(field_path, '.');
    ELSE
        WHILE i <= length(field_path) LOOP
            ch := substr(field_path, i, 1);
            IF ch = '\' THEN
                IF i = length(field_path) THEN
                    RAISE EXCEPTION 'field path "%" ends with an escape character', field_path
                        USING ERRCODE = 'CD001', HINT = 'Write "\\" for a backslash inside a key.';
                END IF;
                current_key := current_key || substr(field_path, i + 1, 1);
                i := i + 1;
            ELSIF ch = '.' THEN
                keys := keys || current_key;
                current_key := '';
            ELSE
                current_key := current_key || ch;
            END IF;
            i := i + 1;
        END LOOP;
        keys := keys || current_key;
    END IF;
    IF cardinality(keys) > 32 THEN
        RAISE EXCEPTION 'field path "%" is deeper than 32 levels', left(field_path, 200)
            USING ERRCODE = 'CD001';
    END IF;
    RETURN keys;
END
$$;

ALTER FUNCTION cdl._parse_path(field_path text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._parse_path(field_path text) IS 'A dot path to its keys; "\." is a dot inside a key, "\\" a backslash.';

CREATE FUNCTION cdl._path_text(keys text[]) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    k text;
    escaped text[] := '{}'::text[];
BEGIN
    FOREACH k IN ARRAY keys LOOP
        escaped := escaped || replace(replace(k, '\', '\\'), '.', '\.');
    END LOOP;
    RETURN CASE WHEN cardinality(keys) > 0 THEN array_to_string(escaped, '.') END;  -- '' is the key ''

END
$$;

ALTER FUNCTION cdl._path_text(keys text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._path_text(keys text[]) IS 'Keys to a dot path; a "." or "\" inside a key is escaped with "\".';

CREATE FUNCTION cdl._placeholders(template text, prefix text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT coalesce(array_agg(DISTINCT m[1]), '{}')
    FROM regexp_matches(replace(replace(coalesce(template, ''), '{{', ''), '}}', ''),
                        '\{' || cdl._regex_escape(prefix) || '([A-Za-z0-9_]+)\}', 'g') AS m
$$;

ALTER FUNCTION cdl._placeholders(template text, prefix text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._placeholders(template text, prefix text) IS 'The keys of the {<prefix>key} placeholders of a template.';

CREATE FUNCTION cdl._refresh_character(p_character_id bigint, written text[], parts text[] DEFAULT '{}'::text[]) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    derive boolean;
    now_ts timestamptz := clock_timestamp();
    due_before timestamptz;
BEGIN
    -- the columns that come from the CDL, when a path they come from was written (the paths
    -- _derived_columns reads: metadata.name, identity.name, name, identity.occupation,
    -- identity.description, identity.archetype, metadata.archetype, archetype); updated_at is
    -- written by the lock (_lock_character), and here for an import
    derive := cardinality(written) = 0 OR CASE written[1]
        WHEN 'name' THEN true
        WHEN 'archetype' THEN true
        WHEN 'metadata' THEN cardinality(written) = 1 OR written[2] IN ('name', 'archetype')
        WHEN 'identity' THEN cardinality(written) = 1
                             OR written[2] IN ('name', 'occupation', 'description', 'archetype')
        ELSE false END;
    IF derive THEN
        UPDATE cdl.characters AS c
        SET name = coalesce(d.name, c.name), occupation = d.occupation, description = d.description,
            archetype = coalesce(d.archetype, c.archetype), updated_at = now()
        FROM cdl._derived_columns(cdl._stored_cdl(p_character_id, ARRAY['metadata', 'identity', 'name',
                                                                        'archetype'])) AS d
        WHERE c.id = p_character_id;
    END IF;
    IF cardinality(parts) > 0 THEN
        UPDATE cdl.character_documents AS d
        SET lists = d.lists || (SELECT jsonb_object_agg(p, cdl._document_part(p_character_id, p))
                                FROM unnest(parts) AS p)
        WHERE d.character_id = p_character_id;
    END IF;
    -- the rendered text, unless it was rendered less than a second ago: then it is dropped,
    -- a burst of writes renders once a second, and get_character_complete renders meanwhile.
    -- Nothing to write when the text is gone already and not due, the usual case in a burst:
    -- a read tells (cheaper than an UPDATE that finds no row; every writer of the document
    -- holds the character's lock, so what it reads stays so until this transaction ends)
    due_before := now_ts - interval '1 second';
    IF (SELECT d.rendered IS NULL AND d.rendered_at >= due_before
        FROM cdl.character_documents AS d WHERE d.character_id = p_character_id) THEN
        RETURN;
    END IF;
    UPDATE cdl.character_documents AS d
    SET rendered = CASE WHEN d.rendered_at IS NULL OR d.rendered_at < due_before
                        THEN cdl._render_document(p_character_id) END,
        rendered_at = CASE WHEN d.rendered_at IS NULL OR d.rendered_at < due_before
                           THEN now_ts ELSE d.rendered_at END
    WHERE d.character_id = p_character_id
      AND (d.rendered IS NOT NULL OR d.rendered_at IS NULL OR d.rendered_at < due_before);
END
$$;

ALTER FUNCTION cdl._refresh_character(p_character_id bigint, written text[], parts text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._refresh_character(p_character_id bigint, written text[], parts text[]) IS 'The rest of a write of a locked character whose CDL is stored already: the columns derived from what was written (written: the path of a field write, ''{}'' the whole CDL, NULL none), the named lists, and the rendered text (dropped when it was rendered less than a second ago).';

CREATE FUNCTION cdl._regex_escape(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $_$
    SELECT regexp_replace(value, '([.^$*+?()\[\]{}|\\])', '\\\1', 'g')
$_$;

ALTER FUNCTION cdl._regex_escape(value text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._regex_escape(value text) IS 'A text matched literally inside a regular expression.';

CREATE FUNCTION cdl._register_definitions(prefix text[], doc jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    new_ids bigint[];
BEGIN
    -- the ancestors of prefix and the nodes of doc; the usual case, all known, is a read
    PERFORM FROM (SELECT prefix[1:i] AS path FROM generate_series(1, cardinality(prefix) - 1) AS i
                  UNION ALL
                  SELECT n.path FROM cdl._nodes(prefix, doc) AS n) AS n
    LEFT JOIN LATERAL (SELECT d.id FROM cdl.character_field_definitions d
                       WHERE d.path_keys = n.path LIMIT 1) AS known ON true
    WHERE known.id IS NULL
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- sorted, so that concurrent imports take their index locks in the same order
    WITH inserted AS (
        INSERT INTO cdl.character_field_definitions
            (field_path, path_keys, field_name, field_type, data_type, is_inferred)
        SELECT cdl._path_text(n.path), n.path, n.path[cardinality(n.path)],
               cdl._field_type(n.path[1]), cdl._infer_data_type(n.value), true
        FROM (SELECT prefix[1:i] AS path, '{}'::jsonb AS value
              FROM generate_series(1, cardinality(prefix) - 1) AS i
              UNION ALL
              SELECT n.path, n.value FROM cdl._nodes(prefix, doc) AS n) AS n
        LEFT JOIN LATERAL (SELECT d.id FROM cdl.character_field_definitions d
                           WHERE d.path_keys = n.path LIMIT 1) AS known ON true  -- an index probe per node
        WHERE known.id IS NULL
        ORDER BY n.path
        ON CONFLICT DO NOTHING
        RETURNING id
    )
    SELECT array_agg(id) INTO new_ids FROM inserted;

    IF new_ids IS NOT NULL THEN
        -- one index probe per new row (a join was planned as a scan of every definition per
        -- row when the statistics predate a large import: minutes for 20,000 paths)
        UPDATE cdl.character_field_definitions AS c
        SET parent_field_id = (SELECT p.id FROM cdl.character_field_definitions AS p
                               WHERE p.path_keys = c.path_keys[1:cardinality(c.path_keys) - 1] LIMIT 1)
        WHERE c.id = ANY (new_ids) AND cardinality(c.path_keys) > 1;
    END IF;
END
$$;

ALTER FUNCTION cdl._register_definitions(prefix text[], doc jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._register_definitions(prefix text[], doc jsonb) IS 'Register, as inferred definitions, every path of doc (at prefix) that has none yet.';

CREATE FUNCTION cdl._render(template text, context jsonb, prefix text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    AS $_$
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
$_$;

ALTER FUNCTION cdl._render(template text, context jsonb, prefix text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._render(template text, context jsonb, prefix text) IS 'Fill {<prefix>key} from context; unknown placeholders stay as written; {{ and }} are braces.';

CREATE FUNCTION cdl._render_document(p_character_id bigint) RETURNS json
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    -- json, not jsonb, assembled: each section is turned into text once, and nothing else
    RETURN (SELECT json_build_object(
                'id', c.id, 'name', c.name, 'normalized_name', c.normalized_name,
                'occupation', c.occupation, 'description', c.description, 'archetype', c.archetype,
                'status', c.status, 'cdl_version', c.cdl_version, 'import_source', c.import_source,
                'version_count', c.version_count, 'created_by', c.created_by,
                'created_at', c.created_at, 'updated_at', c.updated_at,
                'cdl', cdl._stored_text(c.id),
                'communication_patterns', d.lists -> 'communication_patterns',
                'response_templates', d.lists -> 'response_templates',
                'knowledge', d.lists -> 'knowledge', 'workflows', d.lists -> 'workflows')
            FROM cdl.characters AS c JOIN cdl.character_documents AS d ON d.character_id = c.id
            WHERE c.id = p_character_id);
END
$$;

ALTER FUNCTION cdl._render_document(p_character_id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._render_document(p_character_id bigint) IS 'The whole character as get_character_complete returns it, built from its tables.';

CREATE FUNCTION cdl._replace_fields(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric DEFAULT 1.0, p_is_public boolean DEFAULT true) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    old_node jsonb := old_cdl #> prefix;
BEGIN
    IF cardinality(prefix) > 0 AND cdl._is_leaf(old_node) AND cdl._is_leaf(new_value) THEN
        RETURN coalesce(cdl._replace_leaf(p_character_id, prefix, new_value, p_source, p_confidence,
                                          p_is_public), 0);
    END IF;
    RETURN cdl._replace_subtree(p_character_id, prefix, old_cdl, new_value, p_source,
                                p_confidence, p_is_public);
END
$$;

ALTER FUNCTION cdl._replace_fields(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._replace_fields(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) IS 'Make the field values of a character at prefix equal new_value (NULL removes them). old_cdl is its current document. Returns the number of rows added, changed or removed.';

CREATE FUNCTION cdl._replace_leaf(p_character_id bigint, prefix text[], new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) RETURNS integer
    LANGUAGE plpgsql
    AS $$
BEGIN
    RETURN cdl._replace_leaf(p_character_id, (SELECT d.id FROM cdl.character_field_definitions AS d
                                              WHERE d.path_keys = prefix),
                             new_value, p_source, p_confidence, p_is_public);
END
$$;

ALTER FUNCTION cdl._replace_leaf(p_character_id bigint, prefix text[], new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._replace_leaf(p_character_id bigint, prefix text[], new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) IS 'cdl._replace_leaf at the path prefix (its definition looked up).';

CREATE FUNCTION cdl._replace_leaf(p_character_id bigint, p_definition_id bigint, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    written integer;
BEGIN
    -- a leaf for a leaf, the usual field write: the same one row (the document mirrors the
    -- rows), its definition known; nothing to do when the row holds it already
    IF p_definition_id IS NULL THEN
        RETURN NULL;  -- a path never seen: no row
    END IF;
    UPDATE cdl.character_field_values AS v
    SET string_value = CASE jsonb_typeof(new_value) WHEN 'string' THEN new_value #>> '{}' END,
        number_value = CASE jsonb_typeof(new_value) WHEN 'number' THEN new_value::numeric END,
        boolean_value = CASE jsonb_typeof(new_value) WHEN 'boolean' THEN new_value::boolean END,
        json_value = CASE WHEN jsonb_typeof(new_value) IN ('array', 'object', 'null') THEN new_value END,
        confidence = p_confidence, source = p_source, is_public = p_is_public, updated_at = now()
    WHERE v.character_id = p_character_id AND v.field_definition_id = p_definition_id
      AND (cdl._value_jsonb(v.string_value, v.number_value, v.boolean_value, v.json_value),
           v.confidence, v.is_public) IS DISTINCT FROM (new_value, p_confidence, p_is_public);
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written = 0 AND NOT EXISTS (
            SELECT FROM cdl.character_field_values AS v
            WHERE v.character_id = p_character_id AND v.field_definition_id = p_definition_id) THEN
        RETURN NULL;  -- no leaf there: an object, or nothing
    END IF;
    RETURN written;
END
$$;

ALTER FUNCTION cdl._replace_leaf(p_character_id bigint, p_definition_id bigint, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._replace_leaf(p_character_id bigint, p_definition_id bigint, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) IS 'The usual case of _replace_fields: a leaf (scalar, null, array or empty object) that is there replaced by a leaf; its one row (of definition p_definition_id) updated unless it holds the value already. Returns 1 when updated, 0 when the row held it, NULL when the character has no leaf there.';

CREATE FUNCTION cdl._replace_subtree(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    old_node jsonb := old_cdl #> prefix;
    old_paths text[];
    new_paths text[];
    new_values jsonb[];
    removed integer;
    written integer;
BEGIN
    -- what the character holds at and around prefix now (the document mirrors the rows) ...
    SELECT coalesce(array_agg(p), '{}') INTO old_paths
    FROM (SELECT cdl._path_text(n.path) AS p
          FROM cdl._nodes(prefix, old_node) AS n WHERE n.is_leaf
          UNION ALL  -- an empty object on the way down stops being a leaf
          SELECT cdl._path_text(prefix[1:i]) FROM generate_series(1, cardinality(prefix) - 1) AS i
          WHERE old_cdl #> prefix[1:i] = '{}'::jsonb) AS o;
    -- ... and what it will hold
    IF new_value IS NOT NULL THEN
        PERFORM cdl._register_definitions(prefix, new_value);
    END IF;
    SELECT coalesce(array_agg(cdl._path_text(n.path)), '{}'), coalesce(array_agg(n.value), '{}')
    INTO new_paths, new_values
    FROM cdl._nodes(prefix, new_value) AS n WHERE n.is_leaf;

    removed := 0;
    IF NOT new_paths @> old_paths THEN
        PERFORM set_config('cdlstore.change_source', p_source, true);  -- for the change log
        DELETE FROM cdl.character_field_values AS v
        USING cdl.character_field_definitions AS d
        WHERE d.field_path = ANY (old_paths) AND NOT d.field_path = ANY (new_paths)
          AND v.character_id = p_character_id AND v.field_definition_id = d.id;
        GET DIAGNOSTICS removed = ROW_COUNT;
    END IF;

    INSERT INTO cdl.character_field_values AS v
        (character_id, field_definition_id, string_value, number_value, boolean_value, json_value,
         confidence, source, is_public)
    SELECT p_character_id, d.id,
           CASE jsonb_typeof(l.value) WHEN 'string' THEN l.value #>> '{}' END,
           CASE jsonb_typeof(l.value) WHEN 'number' THEN l.value::numeric END,
           CASE jsonb_typeof(l.value) WHEN 'boolean' THEN l.value::boolean END,
           CASE WHEN jsonb_typeof(l.value) IN ('array', 'object', 'null') THEN l.value END,
           p_confidence, p_source, p_is_public
    FROM unnest(new_paths, new_values) AS l (path, value)
    JOIN cdl.character_field_definitions AS d ON d.field_path = l.path
    ORDER BY d.id
    ON CONFLICT (character_id, field_definition_id) DO UPDATE
    SET string_value = EXCLUDED.string_value, number_value = EXCLUDED.number_value,
        boolean_value = EXCLUDED.boolean_value, json_value = EXCLUDED.json_value,
        confidence = EXCLUDED.confidence, source = EXCLUDED.source,
        is_public = EXCLUDED.is_public, updated_at = now()
    WHERE (v.string_value, v.number_value, v.boolean_value, v.json_value, v.confidence, v.is_public)
          IS DISTINCT FROM (EXCLUDED.string_value, EXCLUDED.number_value, EXCLUDED.boolean_value,
                            EXCLUDED.json_value, EXCLUDED.confidence, EXCLUDED.is_public);
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN removed + written;
END
$$;

ALTER FUNCTION cdl._replace_subtree(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._replace_subtree(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) IS 'The general case of _replace_fields: the rows of the leaves at and under prefix deleted, inserted or updated to match new_value (NULL removes them).';

CREATE FUNCTION cdl._require_proxy() RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    IF NOT pg_has_role(session_user, 'cdlstore_proxy', 'MEMBER') THEN
        RAISE EXCEPTION 'only the proxy''s login (a member of cdlstore_proxy) may do this'
            USING ERRCODE = 'CD006', HINT = 'Write definitions through the proxy.';
    END IF;
END
$$;

ALTER FUNCTION cdl._require_proxy() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._require_proxy() IS 'CD006 unless the session''s login is a member of cdlstore_proxy.';

CREATE FUNCTION cdl._required_literal(pattern text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path TO 'cdl', 'pg_temp'
    AS $_$
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
$_$;

ALTER FUNCTION cdl._required_literal(pattern text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._required_literal(pattern text) IS 'Text (lower case, ASCII) that every match of the regex contains, to skip the regex cheaply.';

CREATE FUNCTION cdl._save_document(p_character_id bigint, new_cdl json, parts text[] DEFAULT '{}'::text[], written text[] DEFAULT NULL::text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    -- the caller holds the character's lock. The CDL first
    IF new_cdl IS NOT NULL OR written IS NOT NULL THEN
        PERFORM cdl._save_sections(p_character_id, new_cdl, written);
    END IF;
    PERFORM cdl._refresh_character(p_character_id,
        CASE WHEN written IS NOT NULL THEN written WHEN new_cdl IS NOT NULL THEN '{}' END, parts);
END
$$;

ALTER FUNCTION cdl._save_document(p_character_id bigint, new_cdl json, parts text[], written text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._save_document(p_character_id bigint, new_cdl json, parts text[], written text[]) IS 'Bring the stored character up to date after a write: its CDL from new_cdl, json in the order to keep (all of it; none when new_cdl and written are NULL; for a field write at the path written, the text of its section, NULL when the section goes), then the rest (cdl._refresh_character). Called by every write, in its transaction, holding the character''s lock.';

CREATE FUNCTION cdl._save_sections(p_character_id bigint, new_cdl json, written text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    section_text json;
BEGIN
    -- a row per top-level section, its text in the order to keep (the only copy: jsonb is
    -- parsed from it where needed). A field write rewrites its own section only; a new
    -- section goes last
    IF written IS NOT NULL THEN
        section_text := new_cdl;
        IF section_text IS NULL THEN
            DELETE FROM cdl.character_sections AS s
            WHERE s.character_id = p_character_id AND s.section = written[1];
            RETURN;
        END IF;
        UPDATE cdl.character_sections AS s SET ordered = section_text
        WHERE s.character_id = p_character_id AND s.section = written[1];
        IF NOT FOUND THEN
            INSERT INTO cdl.character_sections (character_id, section, position, ordered)
            SELECT p_character_id, written[1], coalesce(max(s.position), 0) + 1, section_text
            FROM cdl.character_sections AS s WHERE s.character_id = p_character_id;
        END IF;
        RETURN;
    END IF;
    -- a whole CDL: its sections in its order, each row written only when it changed
    DELETE FROM cdl.character_sections AS s
    WHERE s.character_id = p_character_id AND NOT s.section = ANY (ARRAY(SELECT json_object_keys(new_cdl)));
    INSERT INTO cdl.character_sections AS s (character_id, section, position, ordered)
    SELECT p_character_id, e.key, e.n, e.value
    FROM json_each(new_cdl) WITH ORDINALITY AS e (key, value, n)
    ON CONFLICT (character_id, section) DO UPDATE
    SET ordered = EXCLUDED.ordered, position = EXCLUDED.position
    WHERE s.ordered::text IS DISTINCT FROM EXCLUDED.ordered::text OR s.position <> EXCLUDED.position;
END
$$;

ALTER FUNCTION cdl._save_sections(p_character_id bigint, new_cdl json, written text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._save_sections(p_character_id bigint, new_cdl json, written text[]) IS 'Store the CDL new_cdl (json in the order to keep) of a locked character, a row per top-level section: all of it, or for a field write at the path written its section only (new_cdl is then that section''s text; NULL: the section is removed).';

CREATE FUNCTION cdl._search(p_character_id bigint, query text, max_results integer) RETURNS TABLE(character_id bigint, source text, match_path text, snippet text, rank real, place integer[])
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    tsq tsquery;
BEGIN
    IF query IS NULL OR btrim(query) = '' THEN
        RAISE EXCEPTION 'search query is empty' USING ERRCODE = 'CD001';
    END IF;
    PERFORM cdlstore_internal.input_text(query, 'search query', 1000);
    IF max_results IS NULL OR max_results NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_results must be between 1 and 1000, got %', max_results
            USING ERRCODE = 'CD001';
    END IF;
    tsq := websearch_to_tsquery('english', query);
    -- equal ranks: fields in their character's document order, then the rest by path
    RETURN QUERY
    SELECT m.character_id, m.source, m.match_path,
           ts_headline('english', m.body, tsq, 'MaxWords=20, MinWords=8, MaxFragments=1'), m.rank, m.place
    FROM (
        SELECT r.*, CASE WHEN r.keys IS NOT NULL THEN cdl._field_place(r.character_id, r.keys) END AS place
        FROM (
        SELECT v.character_id, 'field'::text AS source, d.field_path AS match_path, d.path_keys AS keys,
               v.string_value AS body,
               ts_rank(to_tsvector('english'::regconfig, v.string_value), tsq) AS rank
        FROM cdl.character_field_values v
        JOIN cdl.character_field_definitions d ON d.id = v.field_definition_id
        WHERE to_tsvector('english'::regconfig, v.string_value) @@ tsq
          AND (p_character_id IS NULL OR v.character_id = p_character_id)
        UNION ALL
        SELECT k.character_id, 'knowledge', k.knowledge_type || '.' || k.knowledge_key, NULL, k.content,
               ts_rank(k.search_vector, tsq)
        FROM cdl.character_knowledge k
        WHERE k.search_vector @@ tsq AND (p_character_id IS NULL OR k.character_id = p_character_id)
        UNION ALL
        SELECT p.character_id, 'communication_pattern', p.pattern_type || '.' || p.pattern_name, NULL,
               p.pattern_value, ts_rank(to_tsvector('english'::regconfig, p.pattern_value), tsq)
        FROM cdl.communication_patterns p
        WHERE to_tsvector('english'::regconfig, p.pattern_value) @@ tsq
          AND (p_character_id IS NULL OR p.character_id = p_character_id)
        ORDER BY rank DESC, match_path
        LIMIT max_results
        ) AS r
    ) AS m
    ORDER BY m.rank DESC, m.character_id, m.place NULLS LAST, m.match_path;
END
$$;

ALTER FUNCTION cdl._search(p_character_id bigint, query text, max_results integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._search(p_character_id bigint, query text, max_results integer) IS 'Ranked full-text matches in string field values, knowledge and communication patterns; equal ranks list a character''s fields in its document order (place), then the rest by path.';

CREATE FUNCTION cdl._section_doc(section_name text, section json) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN section IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object(section_name, section::jsonb) END
$$;

ALTER FUNCTION cdl._section_doc(section_name text, section json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._section_doc(section_name text, section json) IS 'The CDL made of one section (its text, NULL: none) as jsonb, for the general field writes.';

CREATE FUNCTION cdl._start(p_user_id text, p_workflow_id bigint, context jsonb, trigger jsonb, active bigint) RETURNS jsonb
    LANGUAGE plpgsql
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

ALTER FUNCTION cdl._start(p_user_id text, p_workflow_id bigint, context jsonb, trigger jsonb, active bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._start(p_user_id text, p_workflow_id bigint, context jsonb, trigger jsonb, active bigint) IS 'Start an instance of a workflow for a user with that many active instances (active: the caller counted them under the user''s lock), within the file''s limits (CD007 beyond them), logged; returns the started step.';

CREATE FUNCTION cdl._state_status(is_final boolean, state text, action text) RETURNS cdl.workflow_status_enum
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    -- a final state ends the instance: cancelled for cancel_transaction or a state named
    -- cancelled, else completed
    SELECT (CASE WHEN NOT is_final THEN 'active'
                 WHEN action = 'cancel_transaction' OR state = 'cancelled' THEN 'cancelled'
                 ELSE 'completed' END)::cdl.workflow_status_enum
$$;

ALTER FUNCTION cdl._state_status(is_final boolean, state text, action text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._state_status(is_final boolean, state text, action text) IS 'The status of an instance that enters a state.';

CREATE FUNCTION cdl._state_timeout(is_final boolean, timeout_seconds numeric, as_of timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    -- none in a final state
    SELECT CASE WHEN NOT is_final THEN as_of + make_interval(secs => timeout_seconds) END
$$;

ALTER FUNCTION cdl._state_timeout(is_final boolean, timeout_seconds numeric, as_of timestamp with time zone) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._state_timeout(is_final boolean, timeout_seconds numeric, as_of timestamp with time zone) IS 'When an instance that enters a state at as_of times out (timeout_seconds: cdl._timeout_seconds).';

CREATE FUNCTION cdl._step(action text, p_instance_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
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

ALTER FUNCTION cdl._step(action text, p_instance_id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._step(action text, p_instance_id bigint) IS 'The result of process_workflow_message for a stored instance.';

CREATE FUNCTION cdl._step_json(action text, instance_id bigint, workflow_name text, state text, status cdl.workflow_status_enum, context jsonb, prompt_injection text, system_prompt_addition text) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
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

ALTER FUNCTION cdl._step_json(action text, instance_id bigint, workflow_name text, state text, status cdl.workflow_status_enum, context jsonb, prompt_injection text, system_prompt_addition text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._step_json(action text, instance_id bigint, workflow_name text, state text, status cdl.workflow_status_enum, context jsonb, prompt_injection text, system_prompt_addition text) IS 'The result of process_workflow_message: the step and the instance, prompts rendered.';

CREATE FUNCTION cdl._store_cdl(p_character_id bigint, old_cdl jsonb, new_cdl jsonb, new_text json, p_source character varying) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    changed integer;
BEGIN
    changed := cdl._replace_fields(p_character_id, '{}', old_cdl, new_cdl, p_source);
    PERFORM cdl._save_document(p_character_id, new_text,
        ARRAY['communication_patterns', 'response_templates', 'knowledge', 'workflows']);
    RETURN changed;
END
$$;

ALTER FUNCTION cdl._store_cdl(p_character_id bigint, old_cdl jsonb, new_cdl jsonb, new_text json, p_source character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._store_cdl(p_character_id bigint, old_cdl jsonb, new_cdl jsonb, new_text json, p_source character varying) IS 'Replace the whole CDL of a locked, validated character: fields and document (new_text is new_cdl as text in the order to keep).';

CREATE FUNCTION cdl._store_workflow(character_id bigint, file_id bigint, wf json, sort_order bigint, file json) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._store_workflow(character_id bigint, file_id bigint, wf json, sort_order bigint, file json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._store_workflow(character_id bigint, file_id bigint, wf json, sort_order bigint, file json) IS 'Store one normalized workflow of a file: a new definition version with its triggers, states, transitions and extractors, or only its place in the file when it is unchanged.';

CREATE FUNCTION cdl._store_workflow_file(character_id bigint, file json) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._store_workflow_file(character_id bigint, file json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._store_workflow_file(character_id bigint, file json) IS 'The store step of import_workflow_from_yaml: a file normalized by _validate_workflow_file becomes the character''s current workflow file (nothing changes when it is the current one already). Returns its id.';

CREATE FUNCTION cdl._stored_cdl(p_character_id bigint, sections text[] DEFAULT NULL::text[]) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(s.section, s.ordered::jsonb), '{}')
            FROM cdl.character_sections AS s
            WHERE s.character_id = p_character_id
              AND (_stored_cdl.sections IS NULL OR s.section = ANY (_stored_cdl.sections)));
END
$$;

ALTER FUNCTION cdl._stored_cdl(p_character_id bigint, sections text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._stored_cdl(p_character_id bigint, sections text[]) IS 'The CDL of a character as imported, or only the named top-level sections of it.';

CREATE FUNCTION cdl._stored_text(p_character_id bigint) RETURNS json
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    RETURN (SELECT coalesce(json_object_agg(s.section, s.ordered ORDER BY s.position, s.section), '{}')
            FROM cdl.character_sections AS s WHERE s.character_id = p_character_id);
END
$$;

ALTER FUNCTION cdl._stored_text(p_character_id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._stored_text(p_character_id bigint) IS 'The CDL of a character as json text, every object''s keys in the order they were written.';

CREATE FUNCTION cdl._timeout_seconds(timeout_seconds integer, config jsonb) RETURNS numeric
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    -- a state's own timeout, else the file's default (config: the file's)
    SELECT coalesce(timeout_seconds, (config ->> 'default_timeout_seconds')::numeric)
$$;

ALTER FUNCTION cdl._timeout_seconds(timeout_seconds integer, config jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._timeout_seconds(timeout_seconds integer, config jsonb) IS 'How long an instance may stay in a state: the state''s timeout, else the file''s default.';

CREATE FUNCTION cdl._transition(p_instance_id bigint, p_user_id text, p_workflow_id bigint, p_state text, message text, words tsvector) RETURNS jsonb
    LANGUAGE plpgsql
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

ALTER FUNCTION cdl._transition(p_instance_id bigint, p_user_id text, p_workflow_id bigint, p_state text, message text, words tsvector) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._transition(p_instance_id bigint, p_user_id text, p_workflow_id bigint, p_state text, message text, words tsvector) IS 'Apply the first transition of the instance''s current state that the message matches, logged; returns the transitioned step, NULL when none matches.';

CREATE FUNCTION cdl._validate_nodes(prefix text[], doc jsonb) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    depth integer;
    missing text;
BEGIN
    IF cardinality(prefix) BETWEEN 1 AND 32 AND cdl._is_leaf(doc) THEN
        PERFORM cdl._check_leaf(prefix, doc);  -- a leaf: its own definition, and below it
        PERFORM cdl._check_nothing_required_below(prefix);
        RETURN;
    END IF;
    SELECT max(cardinality(n.path)) INTO depth FROM cdl._nodes(prefix, doc) AS n;
    IF depth > 32 THEN
        RAISE EXCEPTION 'CDL is nested % levels deep; at most 32 are allowed', depth
            USING ERRCODE = 'CD001';
    END IF;
    -- an index entry holds ~2.7 KB, a tsvector 1 MB: paths and strings stay well below
    SELECT cdl._path_text(n.path) INTO missing FROM cdl._nodes(prefix, doc) AS n
    WHERE octet_length(cdl._path_text(n.path)) > 1000 LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'the field path %... is over 1,000 bytes long', left(missing, 60) USING ERRCODE = 'CD001';
    END IF;
    PERFORM cdl._check_string_size(n.path, n.value) FROM cdl._nodes(prefix, doc) AS n
    WHERE jsonb_typeof(n.value) = 'string';
    -- one index lookup per node (LIMIT keeps the planner from hashing every definition)
    PERFORM cdl._check_field_value(d.field_path, d.data_type, d.validation_rules, d.is_required, n.value)
    FROM cdl._nodes(prefix, doc) AS n
    CROSS JOIN LATERAL (SELECT * FROM cdl.character_field_definitions AS d
                        WHERE d.path_keys = n.path LIMIT 1) AS d
    WHERE NOT d.is_inferred AND n.value IS NOT NULL;
    SELECT d.field_path INTO missing
    FROM cdl.character_field_definitions AS d
    WHERE d.is_required AND NOT d.is_inferred
      AND d.path_keys[1:cardinality(prefix)] = prefix
      AND NOT EXISTS (SELECT FROM cdl._nodes(prefix, doc) AS n
                      WHERE n.path = d.path_keys AND n.value IS NOT NULL)
    LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'field % is required', missing USING ERRCODE = 'CD001';
    END IF;
END
$$;

ALTER FUNCTION cdl._validate_nodes(prefix text[], doc jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._validate_nodes(prefix text[], doc jsonb) IS 'Check every node of doc (placed at prefix) against the declared field definitions.';

CREATE FUNCTION cdl._validate_workflow(name text, def json, lookups jsonb) RETURNS json
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._validate_workflow(name text, def json, lookups jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._validate_workflow(name text, def json, lookups jsonb) IS 'One workflow of a file, checked (CD001 naming the place) and normalized: {name, definition, patterns, keywords}.';

CREATE FUNCTION cdl._validate_workflow_file(workflow_yaml json) RETURNS json
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._validate_workflow_file(workflow_yaml json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._validate_workflow_file(workflow_yaml json) IS 'The validation step of import_workflow_from_yaml: every CD001 of a workflow file (naming the place), else the file normalized for _store_workflow_file, in file order. Writes nothing.';

CREATE FUNCTION cdl._value_jsonb(string_value text, number_value numeric, boolean_value boolean, json_value jsonb) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT coalesce(to_jsonb(string_value), to_jsonb(number_value), to_jsonb(boolean_value),
                    json_value)
$$;

ALTER FUNCTION cdl._value_jsonb(string_value text, number_value numeric, boolean_value boolean, json_value jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._value_jsonb(string_value text, number_value numeric, boolean_value boolean, json_value jsonb) IS 'The JSON value held by the typed columns of a character_field_values row.';

CREATE FUNCTION cdl._version_snapshot(p_character_id bigint, p_version integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    snap jsonb;
BEGIN
    SELECT v.snapshot INTO snap FROM cdl.character_versions v
    WHERE v.character_id = p_character_id AND v.version_number = p_version;
    IF snap IS NULL THEN
        RAISE EXCEPTION 'version % not found', coalesce(p_version::text, 'NULL') USING ERRCODE = 'CD002';
    END IF;
    RETURN snap;
END
$$;

ALTER FUNCTION cdl._version_snapshot(p_character_id bigint, p_version integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._version_snapshot(p_character_id bigint, p_version integer) IS 'The snapshot of a version; CD002 when unknown.';

CREATE FUNCTION cdl._wf_action(value json, place text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._wf_action(value json, place text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_action(value json, place text) IS 'An action name from the file; CD001 when unknown.';

CREATE FUNCTION cdl._wf_config(config json) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._wf_config(config json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_config(config json) IS 'The config of a workflow file with its defaults filled in; CD001 naming the first bad setting.';

CREATE FUNCTION cdl._wf_extractors(def json, place text, lookups jsonb) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $_$
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
$_$;

ALTER FUNCTION cdl._wf_extractors(def json, place text, lookups jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_extractors(def json, place text, lookups jsonb) IS 'The context keys a workflow extracts, in file order; CD001 naming the first bad extractor.';

CREATE FUNCTION cdl._wf_fail(place text, problem text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    RAISE EXCEPTION '%: %', place, problem USING ERRCODE = 'CD001',
        HINT = 'See the workflow file format in docs/workflows.md.';
END
$$;

ALTER FUNCTION cdl._wf_fail(place text, problem text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_fail(place text, problem text) IS 'Raise CD001 naming the place in the workflow file.';

CREATE FUNCTION cdl._wf_keywords(value json, place text) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._wf_keywords(value json, place text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_keywords(value json, place text) IS 'A list of keywords that each hold a word; CD001 naming the first that does not.';

CREATE FUNCTION cdl._wf_lookups(lookup_tables json) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._wf_lookups(lookup_tables json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_lookups(lookup_tables json) IS 'The lookup tables of a workflow file; CD001 unless each is a mapping.';

CREATE FUNCTION cdl._wf_missing_placeholder(template text, place text, keys text[]) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._wf_missing_placeholder(template text, place text, keys text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_missing_placeholder(template text, place text, keys text[]) IS 'CD001 when a template uses a {context.key} that no extractor or literal provides.';

CREATE FUNCTION cdl._wf_patterns(value json, place text) RETURNS text[]
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._wf_patterns(value json, place text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_patterns(value json, place text) IS 'A list of regexes that compile; CD001 naming the first that does not.';

CREATE FUNCTION cdl._wf_states(def json, place text, states text[], keys text[]) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._wf_states(def json, place text, states text[], keys text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_states(def json, place text, states text[], keys text[]) IS 'Check the states of a workflow (transitions to known states, a way out, timeouts, placeholders); CD001.';

CREATE FUNCTION cdl._wf_strings(value json, place text) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._wf_strings(value json, place text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_strings(value json, place text) IS 'A list of strings from the file; CD001 otherwise.';

CREATE FUNCTION cdl._wf_triggers(def json, place text, OUT patterns text[], OUT keywords text[]) RETURNS record
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._wf_triggers(def json, place text, OUT patterns text[], OUT keywords text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_triggers(def json, place text, OUT patterns text[], OUT keywords text[]) IS 'The start patterns and keywords of a workflow, checked with its other triggers; CD001 naming the first bad one.';

CREATE FUNCTION cdl._wf_validation_rules(def json, place text, keys text[]) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl._wf_validation_rules(def json, place text, keys text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._wf_validation_rules(def json, place text, keys text[]) IS 'Check the validation rules of a workflow''s extracted context; CD001 naming the first bad rule.';

CREATE FUNCTION cdl._workflow_candidates(p_character_id bigint, message text, request_context jsonb) RETURNS TABLE(workflow_id bigint, workflow_name character varying, sort_order integer, pattern text, keyword text, context jsonb, llm_required boolean, llm_prompt text, system_prompt_addition text)
    LANGUAGE plpgsql STABLE
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

ALTER FUNCTION cdl._workflow_candidates(p_character_id bigint, message text, request_context jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._workflow_candidates(p_character_id bigint, message text, request_context jsonb) IS 'The current workflows a message would start, each with its match and extracted context; sort_order orders them by the file''s workflow_priority. context_required is tested against cdl._message_facts(request_context).';

CREATE FUNCTION cdl.apply_definition(definition_version bigint, function_name text, arguments text[], actor character varying) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
BEGIN
    RETURN cdl.apply_definition(definition_version, function_name, arguments, actor, NULL::text);
END
$$;

ALTER FUNCTION cdl.apply_definition(definition_version bigint, function_name text, arguments text[], actor character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.apply_definition(definition_version bigint, function_name text, arguments text[], actor character varying) IS 'cdl.apply_definition as the caller''s own tenant (the form of proxies of before tenancy crossed them).';

CREATE FUNCTION cdl.apply_definition(definition_version bigint, function_name text, arguments text[], actor character varying, tenant text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    block constant bigint := 1048576::bigint;  -- ids one definition write may take per table
    v_done record;
    v_newest bigint;
    v_result jsonb;
BEGIN
    PERFORM cdl._require_proxy();
    PERFORM pg_advisory_xact_lock(hashtext('cdlstore.definitions'));
    -- the log is the shard's: the versions of every tenant's writes (CD006 unless naming none)
    PERFORM cdlstore_internal.all_tenants(true);
    SELECT l.* INTO v_done FROM cdl.definition_log l WHERE l.version = definition_version;
    v_newest := coalesce((SELECT max(l.version) FROM cdl.definition_log l), 0);
    PERFORM cdlstore_internal.all_tenants(false);
    IF v_done.version IS NOT NULL THEN  -- applied before: the same write again is a no-op
        IF (v_done.function_name, v_done.arguments, v_done.tenant)
           IS DISTINCT FROM (function_name, arguments, coalesce(tenant, call_tenant)) THEN
            RAISE EXCEPTION 'definition version % was applied with another write', definition_version
                USING ERRCODE = 'CD003';
        END IF;
        RETURN v_done.result;
    END IF;
    IF definition_version IS DISTINCT FROM v_newest + 1 THEN
        RAISE EXCEPTION 'definition version % follows none: this shard is at %', definition_version, v_newest
            USING ERRCODE = 'CD004', HINT = 'Apply the versions in between first.';
    END IF;
    -- every shard gives this write the same ids: each table's next id is where the version's block starts
    PERFORM setval(s.seq, definition_version * block, false) FROM cdl._definition_sequences() s;
    PERFORM set_config('cdlstore.actor', coalesce(actor, ''), true);
    -- the write and its log row are the tenant's the proxy resolved (NULL: the proxy login's own)
    PERFORM set_config('cdlstore.tenant', coalesce(tenant, ''), true);
    PERFORM cdlstore_internal.current_tenant();
    EXECUTE cdl._definition_call(function_name) INTO v_result USING arguments;
    IF EXISTS (SELECT FROM cdl._definition_sequences() s
               WHERE pg_sequence_last_value(s.seq) >= (definition_version + 1) * block) THEN
        RAISE EXCEPTION 'one definition write may add at most % rows to a table', block - 1
            USING ERRCODE = 'CD007';
    END IF;
    INSERT INTO cdl.definition_log (version, function_name, arguments, actor, result)
    VALUES (definition_version, function_name, arguments, coalesce(actor, session_user), v_result);
    PERFORM set_config('cdlstore.tenant', '', true);
    PERFORM cdlstore_internal.current_tenant();  -- the caller's own again
    RETURN v_result;
END
$$;

ALTER FUNCTION cdl.apply_definition(definition_version bigint, function_name text, arguments text[], actor character varying, tenant text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.apply_definition(definition_version bigint, function_name text, arguments text[], actor character varying, tenant text) IS 'Apply one numbered definition write (a cdl API function and its arguments as text) on this shard as tenant (NULL: the caller''s own), with ids that depend only on the version; the same version again returns its first result. CD004 when a version is missing before it, CD003 when it was another write. The proxy''s login naming no tenant only (CD006).';

CREATE FUNCTION cdl.archive_character(name character varying) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
    changed boolean;
BEGIN
    target := cdl._lock_character(name);
    UPDATE cdl.characters SET status = 'archived'
    WHERE id = target.character_id AND status <> 'archived';
    changed := FOUND;
    IF changed THEN
        INSERT INTO cdl.character_change_log (character_id, change_type, field_path, new_value, changed_by)
        VALUES (target.character_id, 'character_updated', 'status', '"archived"', cdl._actor());
        PERFORM cdl._save_document(target.character_id, NULL);
    END IF;
    RETURN changed;
END
$$;

ALTER FUNCTION cdl.archive_character(name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.archive_character(name character varying) IS 'Set a character''s status to archived; false when it already was. CD002 when unknown.';

CREATE FUNCTION cdl.as_tenant(tenant text, value anyelement) RETURNS anyelement
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    -- the proxy's entry point: its routed calls wrap their first argument in this, so that the
    -- tenant is named before the API function starts (and resolves it by the rules of 0011)
    PERFORM cdl._require_proxy();
    PERFORM set_config('cdlstore.tenant', coalesce(tenant, ''), true);
    RETURN value;
END
$$;

ALTER FUNCTION cdl.as_tenant(tenant text, value anyelement) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.as_tenant(tenant text, value anyelement) IS 'The shard-side entry point of the proxy: name the tenant the proxy resolved for the caller (NULL: none, the proxy login''s own) for the rest of the remote call, and return value. Executable by cdlstore_proxy only; CD006 for a login that is not a member of it.';

CREATE FUNCTION cdl.cancel_workflow_instance(instance_id bigint, reason text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl.cancel_workflow_instance(instance_id bigint, reason text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.cancel_workflow_instance(instance_id bigint, reason text) IS 'Cancel an active instance; false when it was no longer active. CD002 when unknown.';

CREATE FUNCTION cdl.check_workflow_triggers(character_name character varying, user_message text, user_id character varying, request_context jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl.check_workflow_triggers(character_name character varying, user_message text, user_id character varying, request_context jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.check_workflow_triggers(character_name character varying, user_message text, user_id character varying, request_context jsonb) IS 'Which workflows the message would start, starting nothing: per candidate the workflow, the pattern and keyword that matched, the extracted context and any LLM validation prompt, in the order of the file''s workflow_priority. context_required is tested against the built-in message facts (message_type = user_request) overridden by request_context.';

CREATE FUNCTION cdl.create_character_version(name character varying, version_name character varying DEFAULT NULL::character varying, description text DEFAULT NULL::text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
BEGIN
    IF length(version_name) > 100 THEN
        RAISE EXCEPTION 'version_name is longer than 100 characters' USING ERRCODE = 'CD001';
    END IF;
    target := cdl._lock_character(name);
    RETURN cdl._create_version(target.character_id, version_name, description);
END
$$;

ALTER FUNCTION cdl.create_character_version(name character varying, version_name character varying, description text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.create_character_version(name character varying, version_name character varying, description text) IS 'A full snapshot of the character (CDL, patterns, templates, knowledge) as its next version. Returns the version number (1, 2, ...).';

CREATE FUNCTION cdl.define_character_field(field_path character varying, data_type character varying, field_type character varying DEFAULT NULL::character varying, validation_rules jsonb DEFAULT '{}'::jsonb, description text DEFAULT NULL::text, is_required boolean DEFAULT false, category character varying DEFAULT NULL::character varying) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    keys text[] := cdl._parse_path(field_path);
    v_type cdl.data_type_enum;
    v_field_type cdl.field_type_enum;
    v_id bigint;
    offender record;
BEGIN
    v_type := cdl._check_label(data_type, enum_range(NULL::cdl.data_type_enum), 'data type')::cdl.data_type_enum;
    v_field_type := CASE WHEN field_type IS NULL THEN cdl._field_type(keys[1])
        ELSE cdl._check_label(field_type, enum_range(NULL::cdl.field_type_enum), 'field type')::cdl.field_type_enum END;
    PERFORM cdl._check_rules(field_path, validation_rules);
    IF is_required IS NULL THEN
        RAISE EXCEPTION 'is_required must not be NULL' USING ERRCODE = 'CD001';
    END IF;
    PERFORM cdlstore_internal.input_text(category, 'category', 100, false);
    PERFORM cdl._register_definitions(keys, NULL);  -- the path and its parents, if new
    UPDATE cdl.character_field_definitions d
    SET data_type = v_type, field_type = v_field_type, validation_rules = define_character_field.validation_rules,
        description = coalesce(define_character_field.description, d.description),
        is_required = define_character_field.is_required,
        category = coalesce(define_character_field.category, d.category), is_inferred = false
    WHERE d.path_keys = keys
    RETURNING d.id INTO v_id;
    -- the values characters hold already must fit the definition
    FOR offender IN
        SELECT c.normalized_name, (s.ordered #> keys[2:])::jsonb AS value
        FROM cdl.characters c
        LEFT JOIN cdl.character_sections s ON s.character_id = c.id AND s.section = keys[1]
        WHERE s.ordered #> keys[2:] IS NOT NULL OR define_character_field.is_required
    LOOP
        BEGIN
            PERFORM cdl._check_field_value(cdl._path_text(keys), v_type, validation_rules,
                                           define_character_field.is_required,
                                           coalesce(offender.value, 'null'));
        EXCEPTION WHEN SQLSTATE 'CD001' THEN
            RAISE EXCEPTION 'character % does not fit the new definition: %',
                offender.normalized_name, SQLERRM USING ERRCODE = 'CD001';
        END;
    END LOOP;
    RETURN v_id;
END
$$;

ALTER FUNCTION cdl.define_character_field(field_path character varying, data_type character varying, field_type character varying, validation_rules jsonb, description text, is_required boolean, category character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.define_character_field(field_path character varying, data_type character varying, field_type character varying, validation_rules jsonb, description text, is_required boolean, category character varying) IS 'Declare a field: its data type and validation rules (allowed_values, minimum, maximum, pattern, max_length) are then enforced on every write. Existing values must fit. CD001.';

CREATE FUNCTION cdl.definition_log_since(after_version bigint, max_count integer DEFAULT 1000) RETURNS TABLE(version bigint, function_name text, arguments text[], actor character varying)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN QUERY SELECT w.version, w.function_name, w.arguments, w.actor
                 FROM cdl.definition_writes_since(after_version, max_count) w;
END
$$;

ALTER FUNCTION cdl.definition_log_since(after_version bigint, max_count integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.definition_log_since(after_version bigint, max_count integer) IS 'cdl.definition_writes_since without the tenants (kept for proxies of before tenancy crossed them). Proxy login only (CD006).';

CREATE FUNCTION cdl.definition_version() RETURNS bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    -- the versions are the shard's, whoever's write each was: every tenant's for the proxy's
    -- login (an administrator naming none), the caller's own tenant's otherwise
    every_tenant boolean := cdlstore_internal.sweeping();
    v_newest bigint;
BEGIN
    IF every_tenant THEN
        PERFORM cdlstore_internal.all_tenants(true);
    END IF;
    v_newest := coalesce((SELECT max(l.version) FROM cdl.definition_log l), 0);
    IF every_tenant THEN
        PERFORM cdlstore_internal.all_tenants(false);
    END IF;
    RETURN v_newest;
END
$$;

ALTER FUNCTION cdl.definition_version() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.definition_version() IS 'The newest definition version this shard applied through the proxy (0: none); every tenant''s writes for an administrator naming no tenant (the proxy''s login), the caller''s tenant''s otherwise.';

CREATE FUNCTION cdl.definition_writes_since(after_version bigint, max_count integer DEFAULT 1000) RETURNS TABLE(version bigint, function_name text, arguments text[], actor character varying, tenant text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdl._require_proxy();
    PERFORM cdlstore_internal.all_tenants(true);  -- every tenant's writes: CD006 unless naming none
    RETURN QUERY SELECT l.version, l.function_name, l.arguments, l.actor, l.tenant FROM cdl.definition_log l
                 WHERE l.version > coalesce(after_version, 0)
                 ORDER BY l.version LIMIT least(greatest(coalesce(max_count, 1000), 1), 10000);
    PERFORM cdlstore_internal.all_tenants(false);
END
$$;

ALTER FUNCTION cdl.definition_writes_since(after_version bigint, max_count integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.definition_writes_since(after_version bigint, max_count integer) IS 'The definition writes after a version, oldest first, with the tenant each was written as, to re-apply on a shard that missed them. Proxy login naming no tenant only (CD006).';

CREATE FUNCTION cdl.diff_character_versions(name text, from_version integer, to_version integer) RETURNS json
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
    old_cdl json;
    new_cdl json;
BEGIN
    v_id := cdl._character_id(diff_character_versions.name);
    PERFORM cdl._version_snapshot(v_id, from_version), cdl._version_snapshot(v_id, to_version);
    SELECT v.cdl_text INTO old_cdl FROM cdl.character_versions v
    WHERE v.character_id = v_id AND v.version_number = from_version;
    SELECT v.cdl_text INTO new_cdl FROM cdl.character_versions v
    WHERE v.character_id = v_id AND v.version_number = to_version;
    -- in document order: what is added or changed where the newer version has it, what is
    -- removed where the older one had it
    RETURN (
        SELECT json_build_object(
            'from_version', from_version, 'to_version', to_version,
            'added', coalesce(json_agg(json_build_object('path', b.path, 'value', b.value) ORDER BY b.place)
                              FILTER (WHERE a.path IS NULL), '[]'),
            'removed', coalesce(json_agg(json_build_object('path', a.path, 'value', a.value) ORDER BY a.place)
                                FILTER (WHERE b.path IS NULL), '[]'),
            'changed', coalesce(json_agg(json_build_object('path', a.path, 'old_value', a.value,
                                                            'new_value', b.value) ORDER BY b.place)
                                FILTER (WHERE a.value::jsonb <> b.value::jsonb), '[]'))
        FROM cdl._json_leaves(old_cdl) AS a FULL JOIN cdl._json_leaves(new_cdl) AS b ON a.path = b.path);
END
$$;

ALTER FUNCTION cdl.diff_character_versions(name text, from_version integer, to_version integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.diff_character_versions(name text, from_version integer, to_version integer) IS 'Field-level difference of two versions, as json in document order (values with their keys in order): {added: [{path, value}], removed: [{path, value}], changed: [{path, old_value, new_value}]}. CD002 when the character or a version is unknown.';

CREATE FUNCTION cdl.diff_character_versions(name character varying, from_version integer, to_version integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
    old_cdl jsonb;
    new_cdl jsonb;
BEGIN
    v_id := cdl._character_id(diff_character_versions.name);
    old_cdl := cdl._version_snapshot(v_id, from_version) -> 'cdl';
    new_cdl := cdl._version_snapshot(v_id, to_version) -> 'cdl';
    RETURN (
        WITH a AS (SELECT cdl._path_text(n.path) AS path, n.value FROM cdl._nodes('{}', old_cdl) n WHERE n.is_leaf),
             b AS (SELECT cdl._path_text(n.path) AS path, n.value FROM cdl._nodes('{}', new_cdl) n WHERE n.is_leaf)
        SELECT jsonb_build_object(
            'from_version', from_version, 'to_version', to_version,
            'added', coalesce(jsonb_agg(jsonb_build_object('path', b.path, 'value', b.value) ORDER BY b.path)
                              FILTER (WHERE a.path IS NULL), '[]'),
            'removed', coalesce(jsonb_agg(jsonb_build_object('path', a.path, 'value', a.value) ORDER BY a.path)
                                FILTER (WHERE b.path IS NULL), '[]'),
            'changed', coalesce(jsonb_agg(jsonb_build_object('path', a.path, 'old_value', a.value,
                                                              'new_value', b.value) ORDER BY a.path)
                                FILTER (WHERE a.value <> b.value), '[]'))
        FROM a FULL JOIN b ON a.path = b.path);
END
$$;

ALTER FUNCTION cdl.diff_character_versions(name character varying, from_version integer, to_version integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.diff_character_versions(name character varying, from_version integer, to_version integer) IS 'Field-level difference of two versions: {added: [{path, value}], removed: [{path, value}], changed: [{path, old_value, new_value}]}, as jsonb, by path. Kept for clients of the last release: the text form, which untyped and text arguments call, returns json in document order.';

CREATE FUNCTION cdl.expire_workflow_timeouts(as_of timestamp with time zone DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $_$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    n integer := cdlstore_internal.sweep(
        $q$SELECT tenant FROM cdl.workflow_instances WHERE status = 'active' AND timeout_at <= $1$q$,
        'SELECT cdl.expire_workflow_timeouts($1)', coalesce(as_of, now()))::integer;
BEGIN
    RETURN coalesce(n, cdl._expire(coalesce(as_of, now())));
END
$_$;

ALTER FUNCTION cdl.expire_workflow_timeouts(as_of timestamp with time zone) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.expire_workflow_timeouts(as_of timestamp with time zone) IS 'End every active instance past its timeout (status timeout, logged with the state''s timeout action and message): the caller''s tenant, every tenant for an administrator naming none. Safe to run from many sessions at once. Returns how many ended.';

CREATE FUNCTION cdl.export_character_json(name text) RETURNS json
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    result json;
BEGIN
    SELECT CASE WHEN c.file_description IS NULL
                THEN json_build_object('cdl_version', c.cdl_version, 'format', 'json',
                                       'character', cdl._stored_text(c.id))
                ELSE json_build_object('cdl_version', c.cdl_version, 'format', 'json',
                                       'description', c.file_description,
                                       'character', cdl._stored_text(c.id)) END
    INTO result
    FROM cdl.characters c
    WHERE c.normalized_name = cdl.normalize_name(export_character_json.name);
    IF result IS NULL THEN
        PERFORM cdl._character_not_found(name);
    END IF;
    RETURN result;
END
$$;

ALTER FUNCTION cdl.export_character_json(name text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.export_character_json(name text) IS 'The character in the wrapped CDL form {cdl_version, format, description?, character}, as json: every object''s keys in the order they were imported and written. CD002 when unknown.';

CREATE FUNCTION cdl.export_character_json(name character varying) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    result jsonb;
BEGIN
    SELECT jsonb_build_object('cdl_version', c.cdl_version, 'format', 'json')
           || CASE WHEN c.file_description IS NULL THEN '{}'::jsonb
                   ELSE jsonb_build_object('description', c.file_description) END
           || jsonb_build_object('character', cdl._stored_cdl(c.id))
    INTO result
    FROM cdl.characters c
    WHERE c.normalized_name = cdl.normalize_name(export_character_json.name);
    IF result IS NULL THEN
        PERFORM cdl._character_not_found(name);
    END IF;
    RETURN result;
END
$$;

ALTER FUNCTION cdl.export_character_json(name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.export_character_json(name character varying) IS 'The character in the wrapped CDL form {cdl_version, format, description?, character}, as jsonb (keys in jsonb''s order). Kept for clients of the last release: the text form export_character_json(text), which untyped and text arguments call, returns json in order.';

CREATE FUNCTION cdl.get_character_complete(name character varying) RETURNS json
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    doc json;
    found_id bigint;
BEGIN
    -- expressions and one statement: a call is a transaction of its own, and each statement
    -- pays for its executor and each expression for its setup again in every transaction (a
    -- statement that does not run costs nothing). The name is looked up as given first: the
    -- usual argument is a key, a key is its own key, and normalize_name would set up a pattern
    -- test and three functions
    SELECT d.rendered, d.character_id INTO doc, found_id
    FROM cdl.character_documents AS d WHERE d.normalized_name = name;
    IF doc IS NULL THEN
        IF found_id IS NOT NULL THEN  -- a key whose document a burst of writes left unrendered
            doc := cdl._render_document(found_id);
        ELSE  -- not a stored key as given: the key of the name
            SELECT coalesce(d.rendered, cdl._render_document(d.character_id)) INTO doc
            FROM cdl.character_documents AS d WHERE d.normalized_name = cdl.normalize_name(name);
        END IF;
        IF doc IS NULL THEN  -- a document that exists always renders to something
            PERFORM cdl._character_not_found(name);
        END IF;
    END IF;
    RETURN doc;
END
$$;

ALTER FUNCTION cdl.get_character_complete(name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.get_character_complete(name character varying) IS 'The whole character in one call: columns, cdl (the CDL as imported), communication_patterns, response_templates, knowledge, workflows. CD002 when unknown. One index lookup by key (a display name takes a second one); json, rendered when written (cast to jsonb for its operators).';

CREATE FUNCTION cdl.get_user_active_workflows(user_id character varying) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl.get_user_active_workflows(user_id character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.get_user_active_workflows(user_id character varying) IS 'The user''s active workflow instances, oldest first.';

CREATE FUNCTION cdl.get_workflow_graph(character_name text, workflow_name text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_character bigint := cdl._character_id(character_name);
    result jsonb;
BEGIN
    IF length(workflow_name) > 100 THEN
        RAISE EXCEPTION 'workflow_name is longer than 100 characters' USING ERRCODE = 'CD001';
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'workflow_name', w.workflow_name, 'description', w.description,
               'definition_version', w.definition_version, 'initial_state', w.initial_state,
               'on_trigger_action', w.on_trigger_action,
               'triggers', (SELECT coalesce(jsonb_agg(jsonb_build_object('type', t.trigger_type, 'value', t.trigger_value)
                                                      ORDER BY t.trigger_type, t.sort_order), '[]')
                            FROM cdl.workflow_triggers t WHERE t.workflow_id = w.id),
               'states', (SELECT jsonb_agg(jsonb_build_object(
                                    'name', s.state_name, 'final', s.is_final,
                                    -- the state's own timeout, else the file's default (as the runtime does)
                                    'timeout_seconds', CASE WHEN NOT s.is_final
                                        THEN cdl._timeout_seconds(s.timeout_seconds, f.config) END,
                                    'timeout_action', s.timeout_action) ORDER BY s.sort_order)
                          FROM cdl.workflow_states s WHERE s.workflow_id = w.id),
               'transitions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                         'from_state', x.from_state, 'to_state', x.to_state, 'patterns', x.patterns,
                                         'keywords', x.keywords, 'action', x.action)
                                         ORDER BY s.sort_order, x.sort_order), '[]')
                               FROM cdl.workflow_transitions x
                               JOIN cdl.workflow_states s ON s.workflow_id = x.workflow_id AND s.state_name = x.from_state
                               WHERE x.workflow_id = w.id))
           ORDER BY w.sort_order), '[]')
    INTO result
    FROM cdl.character_workflows w
    JOIN cdl.workflow_files f ON f.id = w.file_id
    WHERE w.character_id = v_character AND w.is_current
      AND (workflow_name IS NULL OR w.workflow_name = workflow_name);
    IF workflow_name IS NOT NULL AND result = '[]' THEN
        RAISE EXCEPTION 'character % has no workflow %', quote_literal(character_name), quote_literal(workflow_name)
            USING ERRCODE = 'CD002';
    END IF;
    RETURN result;
END
$$;

ALTER FUNCTION cdl.get_workflow_graph(character_name text, workflow_name text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.get_workflow_graph(character_name text, workflow_name text) IS 'The current workflows of a character (or the one named) as graphs: triggers, states (final, timeout), transitions (triggers, action), in file order. CD002 for an unknown character or workflow.';

CREATE FUNCTION cdl.import_character_from_json(character_json jsonb, import_source character varying DEFAULT 'json_import'::character varying, normalized_name character varying DEFAULT NULL::character varying) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN cdl._import_character(character_json, character_json::json, import_source, normalized_name);
END
$$;

ALTER FUNCTION cdl.import_character_from_json(character_json jsonb, import_source character varying, normalized_name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.import_character_from_json(character_json jsonb, import_source character varying, normalized_name character varying) IS 'Import a CDL document (wrapped, flat or mixed) in one transaction; re-importing a name updates it in place. Returns the character id. Keys come in jsonb''s order: pass the text of the file (the text form) to keep its order. Errors: CD001 bad input, CD007 too large.';

CREATE FUNCTION cdl.import_character_from_json(character_json text, import_source character varying DEFAULT 'json_import'::character varying, normalized_name character varying DEFAULT NULL::character varying) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    ordered json;
    doc jsonb;
BEGIN
    IF octet_length(character_json) > 4 * 1024 * 1024 THEN
        RAISE EXCEPTION 'CDL document is % bytes; at most 4 MiB are accepted',
            octet_length(character_json) USING ERRCODE = 'CD007';
    END IF;
    BEGIN
        doc := character_json::jsonb;
    EXCEPTION WHEN data_exception THEN  -- not JSON, a \u0000, a number out of range
        RAISE EXCEPTION 'the CDL document is not valid JSON: %', SQLERRM USING ERRCODE = 'CD001';
    WHEN program_limit_exceeded THEN
        RAISE EXCEPTION 'the CDL document is nested too deeply' USING ERRCODE = 'CD007';
    END;
    IF jsonb_typeof(doc) = 'object' THEN
        ordered := cdl._json_ordered(character_json::json);
    END IF;
    RETURN cdl._import_character(doc, ordered, import_source, normalized_name);
END
$$;

ALTER FUNCTION cdl.import_character_from_json(character_json text, import_source character varying, normalized_name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.import_character_from_json(character_json text, import_source character varying, normalized_name character varying) IS 'Import a CDL document given as JSON text, keeping the order of its keys everywhere it is read back (a key written twice keeps its first place and its last value); otherwise as the jsonb form. Errors: CD001 bad input (not JSON), CD007 too large.';

CREATE FUNCTION cdl.import_workflow_from_yaml(character_name character varying, workflow_yaml json) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl.import_workflow_from_yaml(character_name character varying, workflow_yaml json) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.import_workflow_from_yaml(character_name character varying, workflow_yaml json) IS 'Import or replace a character''s workflow file (YAML turned into JSON; json keeps the file''s order). The whole file is validated before anything is written or locked (CD001 names the place; then CD002 for an unknown character). The character''s current file again changes nothing (it is not validated twice); a changed workflow gets a new definition version; running instances keep theirs. Returns the workflow file id.';

CREATE FUNCTION cdl.list_character_versions(name character varying) RETURNS TABLE(version_number integer, version_name character varying, description text, created_by character varying, created_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
BEGIN
    v_id := cdl._character_id(list_character_versions.name);
    RETURN QUERY
    SELECT v.version_number, v.version_name, v.description, v.created_by, v.created_at
    FROM cdl.character_versions v WHERE v.character_id = v_id ORDER BY v.version_number;
END
$$;

ALTER FUNCTION cdl.list_character_versions(name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.list_character_versions(name character varying) IS 'The versions of a character, oldest first.';

CREATE FUNCTION cdl.list_characters(status_filter character varying DEFAULT NULL::character varying, archetype_filter character varying DEFAULT NULL::character varying) RETURNS TABLE(id bigint, name character varying, normalized_name character varying, occupation text, archetype cdl.character_archetype_enum, status cdl.character_status_enum, version_count integer, updated_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF status_filter IS NOT NULL THEN
        PERFORM cdl._check_label(status_filter, enum_range(NULL::cdl.character_status_enum), 'status');
    END IF;
    IF archetype_filter IS NOT NULL THEN
        PERFORM cdl._check_label(archetype_filter, enum_range(NULL::cdl.character_archetype_enum),
                                 'archetype');
    END IF;
    RETURN QUERY
    SELECT c.id, c.name, c.normalized_name, c.occupation, c.archetype, c.status, c.version_count,
           c.updated_at
    FROM cdl.characters c
    WHERE (status_filter IS NULL OR c.status = status_filter::cdl.character_status_enum)
      AND (archetype_filter IS NULL OR c.archetype = archetype_filter::cdl.character_archetype_enum)
    ORDER BY c.normalized_name;
END
$$;

ALTER FUNCTION cdl.list_characters(status_filter character varying, archetype_filter character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.list_characters(status_filter character varying, archetype_filter character varying) IS 'Characters, optionally of one status and/or archetype, by normalized name.';

CREATE FUNCTION cdl.next_workflow_timeout() RETURNS timestamp with time zone
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $_$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
BEGIN
    RETURN cdlstore_internal.earliest(
        $q$SELECT min(i.timeout_at) FROM cdl.workflow_instances i WHERE i.status = 'active'$q$);
END
$_$;

ALTER FUNCTION cdl.next_workflow_timeout() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.next_workflow_timeout() IS 'When the next active workflow instance times out (NULL: none will); the worker''s maintenance runs expire_workflow_timeouts then. The caller''s tenant, every tenant for an administrator naming none.';

CREATE FUNCTION cdl.normalize_name(name text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$
    -- a name already in key form (the usual argument) is returned as it is, cheaply. The folding
    -- is a function of its own that the planner does not inline: an inlined expression is set
    -- up in full (every function of it checked for EXECUTE) in every transaction that runs it,
    -- also when the short path is taken, and folding holds some twenty functions
    SELECT CASE WHEN name ~ '^[a-z0-9]+(_[a-z0-9]+)*$' THEN name ELSE cdl._fold_name(name) END
$_$;

ALTER FUNCTION cdl.normalize_name(name text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.normalize_name(name text) IS 'The key of a character name: width and accents folded, lower case, letters and digits of any script kept, every other run of characters one ''_'' ("Agent Смирнов" -> agent_смирнов); NULL when nothing is left or the name is over 1,000 characters.';

CREATE FUNCTION cdl.process_workflow_message(user_id character varying, character_name character varying, message text, llm_confirmed boolean DEFAULT false, request_context jsonb DEFAULT '{}'::jsonb, llm_verdicts jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl.process_workflow_message(user_id character varying, character_name character varying, message text, llm_confirmed boolean, request_context jsonb, llm_verdicts jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.process_workflow_message(user_id character varying, character_name character varying, message text, llm_confirmed boolean, request_context jsonb, llm_verdicts jsonb) IS 'The one call per user message: moves the user''s active instance or starts a workflow. llm_verdicts ({workflow: true | false}) reports the caller''s LLM answers: a declined workflow is skipped for the next candidate; llm_confirmed confirms the first candidate. Returns {action: started | transitioned | unchanged | needs_llm_validation | none, instance_id, workflow_name, state, status, context, prompt_injection, system_prompt_addition}.';

CREATE FUNCTION cdl.refresh_character_analytics() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdlstore_internal.all_tenants(true);  -- CD006 unless an administrator naming no tenant
    REFRESH MATERIALIZED VIEW CONCURRENTLY cdl.character_analytics;
    PERFORM cdlstore_internal.all_tenants(false);
END
$$;

ALTER FUNCTION cdl.refresh_character_analytics() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.refresh_character_analytics() IS 'Refresh cdl.character_analytics (every tenant''s characters, with their tenant) without blocking its readers: an administrator''s duty (CD006 for a tenant). Nothing else depends on it.';

CREATE FUNCTION cdl.remove_character_field(name character varying, field_path character varying) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
    keys text[];
    removed integer;
BEGIN
    keys := cdl._parse_path(field_path);
    target := cdl._lock_character(name, keys[1:1]);
    IF target.ordered #> keys[2:] IS NULL OR cardinality(keys) = 0 THEN
        RAISE EXCEPTION 'character % has no field %', quote_literal(name), field_path
            USING ERRCODE = 'CD002';
    END IF;
    PERFORM cdl._validate_nodes(keys, NULL);  -- a required field cannot go
    removed := cdl._replace_fields(target.character_id, keys, cdl._section_doc(keys[1], target.ordered),
                                   NULL, 'manual');
    -- the section without the field (NULL: the section goes, as one left empty does)
    PERFORM cdl._save_document(target.character_id,
        cdl._json_remove(json_build_object(keys[1], target.ordered), keys) -> keys[1], '{}', keys);
    RETURN removed;
END
$$;

ALTER FUNCTION cdl.remove_character_field(name character varying, field_path character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.remove_character_field(name character varying, field_path character varying) IS 'Remove a field and everything under it; objects left empty go too. Returns the number of field values removed. CD002 when the character or the field is unknown.';

CREATE FUNCTION cdl.remove_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
BEGIN
    PERFORM cdl._check_label(pattern_type, enum_range(NULL::cdl.communication_pattern_enum), 'pattern type');
    target := cdl._lock_character(character_name);
    DELETE FROM cdl.communication_patterns p
    WHERE p.character_id = target.character_id
      AND p.pattern_type = remove_communication_pattern.pattern_type::cdl.communication_pattern_enum
      AND p.pattern_name = remove_communication_pattern.pattern_name;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['communication_patterns']);
    RETURN true;
END
$$;

ALTER FUNCTION cdl.remove_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.remove_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying) IS 'Remove a communication pattern; false when there was none.';

CREATE FUNCTION cdl.remove_knowledge(character_name character varying, knowledge_key character varying) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
BEGIN
    target := cdl._lock_character(character_name);
    DELETE FROM cdl.character_knowledge k
    WHERE k.character_id = target.character_id AND k.knowledge_key = remove_knowledge.knowledge_key;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['knowledge']);
    RETURN true;
END
$$;

ALTER FUNCTION cdl.remove_knowledge(character_name character varying, knowledge_key character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.remove_knowledge(character_name character varying, knowledge_key character varying) IS 'Remove a knowledge entry (its children become top-level entries); false when there was none.';

CREATE FUNCTION cdl.remove_response_template(character_name character varying, scenario character varying, template_name character varying) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
BEGIN
    PERFORM cdl._check_label(scenario, enum_range(NULL::cdl.response_scenario_enum), 'scenario');
    target := cdl._lock_character(character_name);
    DELETE FROM cdl.response_templates t
    WHERE t.character_id = target.character_id
      AND t.scenario = remove_response_template.scenario::cdl.response_scenario_enum
      AND t.template_name = remove_response_template.template_name;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['response_templates']);
    RETURN true;
END
$$;

ALTER FUNCTION cdl.remove_response_template(character_name character varying, scenario character varying, template_name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.remove_response_template(character_name character varying, scenario character varying, template_name character varying) IS 'Remove a response template; false when there was none.';

CREATE FUNCTION cdl.render_character_documents(max_count integer DEFAULT 1000) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $_$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    rendered_count integer;
BEGIN
    IF max_count IS NULL OR max_count < 1 THEN
        RAISE EXCEPTION 'max_count must be at least 1, got %', max_count USING ERRCODE = 'CD001';
    END IF;
    rendered_count := cdlstore_internal.sweep(  -- an administrator's call: every tenant
        'SELECT tenant FROM cdl.character_documents WHERE rendered IS NULL LIMIT $1',
        'SELECT cdl.render_character_documents($1)', max_count)::integer;
    IF rendered_count IS NOT NULL THEN
        RETURN rendered_count;
    END IF;
    -- characters being written are skipped: their writer renders them or leaves them to the
    -- next call; the lock keeps a concurrent write from being rendered over
    WITH todo AS (
        SELECT c.id FROM cdl.character_documents AS d JOIN cdl.characters AS c ON c.id = d.character_id
        WHERE d.rendered IS NULL
        ORDER BY d.rendered_at NULLS FIRST
        LIMIT max_count
        FOR NO KEY UPDATE OF c SKIP LOCKED
    )
    UPDATE cdl.character_documents AS d
    SET rendered = cdl._render_document(d.character_id), rendered_at = clock_timestamp()
    FROM todo WHERE d.character_id = todo.id AND d.rendered IS NULL;
    GET DIAGNOSTICS rendered_count = ROW_COUNT;
    RETURN rendered_count;
END
$_$;

ALTER FUNCTION cdl.render_character_documents(max_count integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.render_character_documents(max_count integer) IS 'Render the documents that bursts of writes left unrendered (get_character_complete is correct without it, and faster with it): the caller''s tenant, every tenant (up to max_count each) for an administrator naming none; returns how many. Run it now and then.';

CREATE FUNCTION cdl.render_workflow_prompt(instance_id bigint) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl.render_workflow_prompt(instance_id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.render_workflow_prompt(instance_id bigint) IS 'The current state''s prompt_injection with {context.key} filled from the instance.';

CREATE FUNCTION cdl.rollback_character(name character varying, version_number integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
    snap jsonb;
    snap_text json;
BEGIN
    target := cdl._lock_character(name, NULL);  -- all of its CDL
    snap := cdl._version_snapshot(target.character_id, version_number);
    SELECT v.cdl_text INTO snap_text FROM cdl.character_versions AS v
    WHERE v.character_id = target.character_id AND v.version_number = rollback_character.version_number;
    PERFORM cdl._validate_nodes('{}', snap -> 'cdl');  -- definitions may have tightened since
    PERFORM cdl._replace_fields(target.character_id, '{}', target.doc, snap -> 'cdl', 'rollback');

    DELETE FROM cdl.communication_patterns WHERE character_id = target.character_id;
    INSERT INTO cdl.communication_patterns
        (character_id, pattern_type, pattern_name, pattern_value, context, frequency, priority)
    SELECT target.character_id, p.pattern_type, p.pattern_name, p.pattern_value, p.context,
           p.frequency, p.priority
    FROM jsonb_to_recordset(snap -> 'communication_patterns') AS p (
        pattern_type cdl.communication_pattern_enum, pattern_name varchar, pattern_value text,
        context varchar, frequency varchar, priority integer);

    DELETE FROM cdl.response_templates WHERE character_id = target.character_id;
    INSERT INTO cdl.response_templates
        (character_id, scenario, template_name, template_text, conditions, priority, is_active)
    SELECT target.character_id, t.scenario, t.template_name, t.template_text, t.conditions,
           t.priority, t.is_active
    FROM jsonb_to_recordset(snap -> 'response_templates') AS t (
        scenario cdl.response_scenario_enum, template_name varchar, template_text text,
        conditions jsonb, priority integer, is_active boolean);

    DELETE FROM cdl.character_knowledge WHERE character_id = target.character_id;
    INSERT INTO cdl.character_knowledge
        (character_id, knowledge_type, knowledge_key, content, confidence, importance, tags, is_public)
    SELECT target.character_id, k.knowledge_type, k.knowledge_key, k.content, k.confidence,
           k.importance, k.tags, k.is_public
    FROM jsonb_to_recordset(snap -> 'knowledge') AS k (
        knowledge_type cdl.knowledge_type_enum, knowledge_key varchar, content text,
        confidence numeric, importance integer, tags text[], is_public boolean);
    UPDATE cdl.character_knowledge AS child
    SET parent_knowledge_id = parent.id
    FROM jsonb_to_recordset(snap -> 'knowledge') AS k (knowledge_key varchar, parent_key varchar),
         cdl.character_knowledge AS parent
    WHERE child.character_id = target.character_id AND child.knowledge_key = k.knowledge_key
      AND parent.character_id = target.character_id AND parent.knowledge_key = k.parent_key;

    UPDATE cdl.characters
    SET cdl_version = coalesce(snap ->> 'cdl_version', cdl_version),
        file_description = snap ->> 'file_description'
    WHERE id = target.character_id;
    PERFORM cdl._save_document(target.character_id, snap_text,  -- in the version's key order
        ARRAY['communication_patterns', 'response_templates', 'knowledge']);
    INSERT INTO cdl.character_change_log (character_id, change_type, change_source, new_value, changed_by)
    VALUES (target.character_id, 'character_updated', 'rollback',
            jsonb_build_object('rolled_back_to', version_number), cdl._actor());
    RETURN cdl._create_version(target.character_id, left(format('rollback to %s', version_number), 100),
                               format('Restored from version %s', version_number));
END
$$;

ALTER FUNCTION cdl.rollback_character(name character varying, version_number integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.rollback_character(name character varying, version_number integer) IS 'Restore a version''s snapshot and record the result as a new version (nothing is lost). Returns the new version number. CD002 when the character or version is unknown.';

CREATE FUNCTION cdl.schema_version() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
    SELECT max(migration_id) FROM public._yoyo_migration
$$;

ALTER FUNCTION cdl.schema_version() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.schema_version() IS 'The id of the newest applied migration (e.g. 0002_cdl_enums); NULL before any.';

CREATE FUNCTION cdl.search_character_knowledge(name character varying, query text, max_results integer DEFAULT 20) RETURNS TABLE(rank real, source text, match_path text, snippet text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
BEGIN
    v_id := cdl._character_id(search_character_knowledge.name);
    RETURN QUERY
    SELECT s.rank, s.source, s.match_path, s.snippet FROM cdl._search(v_id, query, max_results) s;
END
$$;

ALTER FUNCTION cdl.search_character_knowledge(name character varying, query text, max_results integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.search_character_knowledge(name character varying, query text, max_results integer) IS 'Ranked matches of a query in one character''s string fields, knowledge and patterns.';

CREATE FUNCTION cdl.search_characters(query text, status character varying DEFAULT NULL::character varying, max_results integer DEFAULT 20) RETURNS TABLE(name character varying, normalized_name character varying, rank real, source text, match_path text, snippet text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF max_results IS NULL OR max_results NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_results must be between 1 and 1000, got %', max_results USING ERRCODE = 'CD001';
    END IF;
    IF status IS NOT NULL THEN
        PERFORM cdl._check_label(status, enum_range(NULL::cdl.character_status_enum), 'status');
    END IF;
    RETURN QUERY
    SELECT best.name, best.normalized_name, best.rank, best.source, best.match_path, best.snippet
    FROM (SELECT DISTINCT ON (c.id) c.name, c.normalized_name, s.rank, s.source, s.match_path, s.snippet
          FROM cdl._search(NULL, query, 1000) s
          JOIN cdl.characters c ON c.id = s.character_id
          WHERE search_characters.status IS NULL
             OR c.status = search_characters.status::cdl.character_status_enum
          ORDER BY c.id, s.rank DESC, s.place NULLS LAST, s.match_path) AS best
    ORDER BY best.rank DESC, best.normalized_name
    LIMIT max_results;
END
$$;

ALTER FUNCTION cdl.search_characters(query text, status character varying, max_results integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.search_characters(query text, status character varying, max_results integer) IS 'Characters whose string fields, knowledge or communication patterns match a web-search style query, best first, each with its best matching path and a snippet.';

CREATE FUNCTION cdl.set_shard_identity(part integer, partitions integer) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    col record;
    v_next bigint;
BEGIN
    PERFORM cdl._require_proxy();
    IF partitions IS NULL OR partitions NOT BETWEEN 1 AND 1024 OR partitions & (partitions - 1) <> 0
       OR part IS NULL OR part NOT BETWEEN 0 AND partitions - 1 THEN
        RAISE EXCEPTION 'partition % of % is not a partition of a power-of-two cluster (up to 1024)', part, partitions
            USING ERRCODE = 'CD001';
    END IF;
    IF EXISTS (SELECT FROM cdlstore_internal.shard_identity s WHERE s.part = part AND s.partitions = partitions) THEN
        RETURN;  -- already so: re-running the proxy set-up changes nothing
    END IF;
    INSERT INTO cdlstore_internal.shard_identity AS s (part, partitions) VALUES (part, partitions)
    ON CONFLICT (only_row) DO UPDATE SET part = excluded.part, partitions = excluded.partitions;
    -- shard-made bigint ids step by 1024 from a residue of this partition: unique across shards
    -- (keyset cursors and change feeds order by them) and routed here by their low 10 bits
    FOR col IN SELECT * FROM (VALUES ('docstore.document_header', 'id'), ('docstore.change_event', 'id'),
                                     ('ops.events', 'event_id'), ('ops.workflows', 'seq'),
                                     ('ops.agent_playground_messages', 'message_id'), ('game.accounts', 'id'),
                                     ('game.user_profiles', 'id'), ('game.game_sessions', 'id')) AS c(tbl, col) LOOP
        EXECUTE format('SELECT (coalesce(max(%I), 0) / 1024 + 1) * 1024 + %s FROM %s', col.col, part, col.tbl)
            INTO v_next;
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET INCREMENT BY 1024 RESTART WITH %s', col.tbl, col.col, v_next);
    END LOOP;
END
$$;

ALTER FUNCTION cdl.set_shard_identity(part integer, partitions integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.set_shard_identity(part integer, partitions integer) IS 'Tell a shard its partition: ids it makes from then on route to it (the proxy''s login only, CD006 else).';

CREATE FUNCTION cdl.start_workflow_instance(user_id character varying, character_name character varying, workflow_name character varying, initial_context jsonb DEFAULT '{}'::jsonb) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
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

ALTER FUNCTION cdl.start_workflow_instance(user_id character varying, character_name character varying, workflow_name character varying, initial_context jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.start_workflow_instance(user_id character varying, character_name character varying, workflow_name character varying, initial_context jsonb) IS 'Start a workflow for a user directly (no trigger); literal extractors and initial_context make the context. CD002 unknown, CD007 beyond the file''s limits. Returns the instance id.';

CREATE FUNCTION cdl.upsert_character_field(name character varying, field_path character varying, field_value jsonb, field_source character varying DEFAULT 'manual'::character varying, confidence numeric DEFAULT 1.0, is_public boolean DEFAULT true) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
    keys text[];
    section json;
    node json;
    changed integer;
    rewrite boolean := false;
BEGIN
    keys := cdl._parse_path(field_path);
    IF field_value IS NULL THEN
        RAISE EXCEPTION 'field_value is required' USING ERRCODE = 'CD001',
            HINT = 'Pass the JSON null (''null''::jsonb) to store a null, or remove the field.';
    END IF;
    field_source := cdlstore_internal.input_text(field_source, 'field_source', 100);  -- not PERFORM: no statement
    IF confidence IS NULL OR confidence < 0 OR confidence > 1 THEN
        RAISE EXCEPTION 'confidence must be between 0 and 1, got %', confidence USING ERRCODE = 'CD001';
    END IF;
    v_id := (cdl._lock_character(name)).character_id;  -- the lock alone: a leaf reads no text
    IF cdl._is_leaf(field_value) THEN
        -- the usual write, a leaf for a leaf: its row is there (the document mirrors the rows,
        -- so every object on its path is too), and nothing of the text is read before it. Its
        -- own definition is checked first; no declared field below it can be required, as a
        -- leaf is stored there and a field is declared required only when every character
        -- holds it (define_character_field): that is checked only when there is no leaf
        changed := cdl._replace_leaf(v_id, cdl._check_leaf(keys, field_value), field_value,
                                     field_source, confidence, is_public);
        IF changed > 0 THEN  -- in the section's text the key keeps its place
            UPDATE cdl.character_sections AS s
            SET ordered = cdl._json_set(s.ordered, keys[2:], field_value::json)
            WHERE s.character_id = v_id AND s.section = keys[1];
            PERFORM cdl._refresh_character(v_id, keys);
        ELSIF changed IS NULL THEN  -- no leaf there (its own definition is checked above)
            PERFORM cdl._check_nothing_required_below(keys);
        END IF;
    ELSE
        PERFORM cdl._validate_nodes(keys, field_value);
    END IF;
    IF changed IS NULL THEN  -- no leaf at the path: a new field, an object, or one set under it
        SELECT s.ordered INTO section
        FROM cdl.character_sections AS s WHERE s.character_id = v_id AND s.section = keys[1];
        FOR i IN 1 .. cardinality(keys) - 1 LOOP  -- section #> '{}' is the section itself
            node := section #> keys[2:i];
            IF node IS NOT NULL AND json_typeof(node) <> 'object' THEN
                RAISE EXCEPTION 'cannot set %: % holds a %, not an object', field_path,
                    cdl._path_text(keys[1:i]), json_typeof(node)
                    USING ERRCODE = 'CD001', HINT = 'Set or remove the enclosing field first.';
            END IF;
        END LOOP;
        changed := cdl._replace_fields(v_id, keys, cdl._section_doc(keys[1], section),
                                       field_value, field_source, confidence, is_public);
        rewrite := (section #> keys[2:])::jsonb IS DISTINCT FROM field_value;
        IF changed > 0 OR rewrite THEN
            -- in the section's text, a key that is there keeps its place and a new one goes last
            PERFORM cdl._save_document(v_id, cdl._json_set(section, keys[2:], field_value::json),
                                       '{}', keys);
        END IF;
    END IF;
    RETURN changed;
END
$$;

ALTER FUNCTION cdl.upsert_character_field(name character varying, field_path character varying, field_value jsonb, field_source character varying, confidence numeric, is_public boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.upsert_character_field(name character varying, field_path character varying, field_value jsonb, field_source character varying, confidence numeric, is_public boolean) IS 'Set one field (a dot path; an object value sets the fields under it) checked against its definition. Returns the number of field values added, changed or removed. CD001, CD002.';

CREATE FUNCTION cdl.upsert_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying, pattern_value text, context character varying DEFAULT NULL::character varying, frequency character varying DEFAULT 'regular'::character varying, priority integer DEFAULT 50) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
    v_id bigint;
BEGIN
    PERFORM cdl._check_label(pattern_type, enum_range(NULL::cdl.communication_pattern_enum), 'pattern type');
    PERFORM cdl._check_label(frequency, ARRAY['rare', 'occasional', 'regular', 'frequent', 'always'], 'frequency');
    PERFORM cdlstore_internal.input_text(context, 'context', 100, false);
    IF octet_length(pattern_value) > 512 * 1024 THEN  -- searched as a tsvector: at most 1 MB
        RAISE EXCEPTION 'pattern_value is over 512 KiB' USING ERRCODE = 'CD007';
    END IF;
    IF coalesce(btrim(pattern_name), '') = '' OR length(pattern_name) > 100 THEN
        RAISE EXCEPTION 'pattern_name must be 1 to 100 characters' USING ERRCODE = 'CD001';
    END IF;
    IF coalesce(btrim(pattern_value), '') = '' THEN
        RAISE EXCEPTION 'pattern_value must not be empty' USING ERRCODE = 'CD001';
    END IF;
    IF priority IS NULL OR priority NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'priority must be between 0 and 100, got %', priority USING ERRCODE = 'CD001';
    END IF;
    target := cdl._lock_character(character_name);
    INSERT INTO cdl.communication_patterns AS p
        (character_id, pattern_type, pattern_name, pattern_value, context, frequency, priority)
    VALUES (target.character_id, pattern_type::cdl.communication_pattern_enum, pattern_name,
            pattern_value, context, frequency, priority)
    ON CONFLICT ON CONSTRAINT communication_patterns_name_key DO UPDATE
    SET pattern_value = EXCLUDED.pattern_value, context = EXCLUDED.context,
        frequency = EXCLUDED.frequency, priority = EXCLUDED.priority, updated_at = now()
    RETURNING p.id INTO v_id;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['communication_patterns']);
    RETURN v_id;
END
$$;

ALTER FUNCTION cdl.upsert_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying, pattern_value text, context character varying, frequency character varying, priority integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.upsert_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying, pattern_value text, context character varying, frequency character varying, priority integer) IS 'Add or replace a communication pattern (type, name) of a character. Returns its id.';

CREATE FUNCTION cdl.upsert_knowledge(character_name character varying, knowledge_type character varying, knowledge_key character varying, content text, parent_key character varying DEFAULT NULL::character varying, confidence numeric DEFAULT 1.0, importance integer DEFAULT 5, tags text[] DEFAULT '{}'::text[], is_public boolean DEFAULT true) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
    v_id bigint;
    v_parent bigint;
BEGIN
    PERFORM cdl._check_label(knowledge_type, enum_range(NULL::cdl.knowledge_type_enum), 'knowledge type');
    IF coalesce(btrim(knowledge_key), '') = '' OR length(knowledge_key) > 200 THEN
        RAISE EXCEPTION 'knowledge_key must be 1 to 200 characters' USING ERRCODE = 'CD001';
    END IF;
    IF coalesce(btrim(content), '') = '' THEN
        RAISE EXCEPTION 'knowledge content must not be empty' USING ERRCODE = 'CD001';
    END IF;
    IF octet_length(content) > 512 * 1024 THEN  -- a tsvector holds at most 1 MB
        RAISE EXCEPTION 'knowledge content is over 512 KiB' USING ERRCODE = 'CD007';
    END IF;
    PERFORM cdlstore_internal.input_text(t, 'a tag') FROM unnest(tags) AS t;
    IF confidence IS NULL OR confidence NOT BETWEEN 0 AND 1
       OR importance IS NULL OR importance NOT BETWEEN 1 AND 10
       OR tags IS NULL OR array_position(tags, NULL) IS NOT NULL OR is_public IS NULL THEN
        RAISE EXCEPTION 'confidence must be in [0, 1], importance in [1, 10], tags without NULLs'
            USING ERRCODE = 'CD001';
    END IF;
    target := cdl._lock_character(character_name);
    IF parent_key IS NOT NULL THEN
        SELECT k.id INTO v_parent FROM cdl.character_knowledge k
        WHERE k.character_id = target.character_id AND k.knowledge_key = parent_key;
        IF v_parent IS NULL THEN
            RAISE EXCEPTION 'parent knowledge % not found', quote_literal(parent_key)
                USING ERRCODE = 'CD002';
        END IF;
        -- the parent must not be the entry itself or one of its descendants
        IF EXISTS (
            WITH RECURSIVE up (id, parent, key) AS (
                SELECT k.id, k.parent_knowledge_id, k.knowledge_key
                FROM cdl.character_knowledge k WHERE k.id = v_parent
                UNION
                SELECT k.id, k.parent_knowledge_id, k.knowledge_key
                FROM cdl.character_knowledge k JOIN up ON k.id = up.parent)
            SELECT FROM up WHERE up.key = upsert_knowledge.knowledge_key) THEN
            RAISE EXCEPTION 'knowledge % cannot have % as parent: that makes a cycle',
                quote_literal(knowledge_key), quote_literal(parent_key) USING ERRCODE = 'CD001';
        END IF;
    END IF;
    INSERT INTO cdl.character_knowledge AS k
        (character_id, knowledge_type, knowledge_key, content, parent_knowledge_id, confidence,
         importance, tags, is_public)
    VALUES (target.character_id, knowledge_type::cdl.knowledge_type_enum, knowledge_key, content,
            v_parent, confidence, importance, tags, is_public)
    ON CONFLICT ON CONSTRAINT character_knowledge_key DO UPDATE
    SET knowledge_type = EXCLUDED.knowledge_type, content = EXCLUDED.content,
        parent_knowledge_id = EXCLUDED.parent_knowledge_id, confidence = EXCLUDED.confidence,
        importance = EXCLUDED.importance, tags = EXCLUDED.tags, is_public = EXCLUDED.is_public,
        updated_at = now()
    RETURNING k.id INTO v_id;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['knowledge']);
    RETURN v_id;
END
$$;

ALTER FUNCTION cdl.upsert_knowledge(character_name character varying, knowledge_type character varying, knowledge_key character varying, content text, parent_key character varying, confidence numeric, importance integer, tags text[], is_public boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.upsert_knowledge(character_name character varying, knowledge_type character varying, knowledge_key character varying, content text, parent_key character varying, confidence numeric, importance integer, tags text[], is_public boolean) IS 'Add or replace a knowledge entry (by key) of a character, optionally under a parent entry. Returns its id. CD001 bad input or a cycle, CD002 unknown character or parent.';

CREATE FUNCTION cdl.upsert_response_template(character_name character varying, scenario character varying, template_name character varying, template_text text, conditions jsonb DEFAULT '{}'::jsonb, priority integer DEFAULT 50, is_active boolean DEFAULT true) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
    v_id bigint;
BEGIN
    PERFORM cdl._check_label(scenario, enum_range(NULL::cdl.response_scenario_enum), 'scenario');
    IF coalesce(btrim(template_name), '') = '' OR length(template_name) > 100 THEN
        RAISE EXCEPTION 'template_name must be 1 to 100 characters' USING ERRCODE = 'CD001';
    END IF;
    IF coalesce(btrim(template_text), '') = '' THEN
        RAISE EXCEPTION 'template_text must not be empty' USING ERRCODE = 'CD001';
    END IF;
    IF conditions IS NULL OR jsonb_typeof(conditions) <> 'object' THEN
        RAISE EXCEPTION 'conditions must be a JSON object' USING ERRCODE = 'CD001';
    END IF;
    IF priority IS NULL OR priority NOT BETWEEN 0 AND 100 OR is_active IS NULL THEN
        RAISE EXCEPTION 'priority must be between 0 and 100 and is_active not NULL'
            USING ERRCODE = 'CD001';
    END IF;
    target := cdl._lock_character(character_name);
    INSERT INTO cdl.response_templates AS t
        (character_id, scenario, template_name, template_text, conditions, priority, is_active)
    VALUES (target.character_id, scenario::cdl.response_scenario_enum, template_name,
            template_text, conditions, priority, is_active)
    ON CONFLICT ON CONSTRAINT response_templates_name_key DO UPDATE
    SET template_text = EXCLUDED.template_text, conditions = EXCLUDED.conditions,
        priority = EXCLUDED.priority, is_active = EXCLUDED.is_active, updated_at = now()
    RETURNING t.id INTO v_id;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['response_templates']);
    RETURN v_id;
END
$$;

ALTER FUNCTION cdl.upsert_response_template(character_name character varying, scenario character varying, template_name character varying, template_text text, conditions jsonb, priority integer, is_active boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.upsert_response_template(character_name character varying, scenario character varying, template_name character varying, template_text text, conditions jsonb, priority integer, is_active boolean) IS 'Add or replace a response template (scenario, name) of a character. Returns its id.';

CREATE FUNCTION cdlstore._login_role_oid(login_role name) RETURNS oid
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    found oid;
BEGIN
    SELECT r.oid INTO found FROM pg_catalog.pg_roles AS r WHERE r.rolname = login_role;
    IF found IS NULL THEN
        RAISE EXCEPTION 'role % not found', login_role
            USING ERRCODE = 'CD002', HINT = 'Create the login role first: CREATE ROLE ... LOGIN IN ROLE cdlstore_app.';
    END IF;
    -- bindings of roles dropped since are removed, so that their oid is never reused by accident
    DELETE FROM cdlstore_internal.tenant_bindings AS b
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles AS r WHERE r.oid = b.role_oid);
    RETURN found;
END
$$;

ALTER FUNCTION cdlstore._login_role_oid(login_role name) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore._login_role_oid(login_role name) IS 'The oid of a role (CD002 when there is none); drops the bindings of roles that are gone.';

CREATE FUNCTION cdlstore.bind_tenant(login_role name, tenant text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    role_oid oid;
BEGIN
    PERFORM cdlstore_internal.check_tenant_name(tenant);
    role_oid := cdlstore._login_role_oid(login_role);
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.oid = role_oid) THEN
        RAISE EXCEPTION 'role % is a superuser: it cannot be bound to a tenant', login_role
            USING ERRCODE = 'CD001', HINT = 'Bind a login that is a member of cdlstore_app.';
    END IF;
    EXECUTE format('GRANT cdlstore_bound TO %I', login_role);
    INSERT INTO cdlstore_internal.tenant_bindings AS b (role_oid, role_name, tenant)
    VALUES (role_oid, login_role, bind_tenant.tenant)
    ON CONFLICT ON CONSTRAINT tenant_bindings_pkey DO UPDATE
    SET role_name = EXCLUDED.role_name, tenant = EXCLUDED.tenant, bound_by = session_user, bound_at = now();
END
$$;

ALTER FUNCTION cdlstore.bind_tenant(login_role name, tenant text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore.bind_tenant(login_role name, tenant text) IS 'Bind a login role to a tenant: its sessions act as that tenant whatever they set (CD008 when they name another); it becomes a member of cdlstore_bound. Keyed by the role''s oid: a role created again under the same name is not bound. CD002 for an unknown role, CD001 for a malformed tenant name or a superuser.';

CREATE FUNCTION cdlstore.unbind_tenant(login_role name) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    v_oid oid := cdlstore._login_role_oid(login_role);
BEGIN
    DELETE FROM cdlstore_internal.tenant_bindings AS b WHERE b.role_oid = v_oid;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    EXECUTE format('REVOKE cdlstore_bound FROM %I', login_role);
    RETURN true;
END
$$;

ALTER FUNCTION cdlstore.unbind_tenant(login_role name) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore.unbind_tenant(login_role name) IS 'Remove the tenant binding of a login role; false when it had none. CD002 for an unknown role.';

CREATE FUNCTION cdlstore_internal.all_tenants(enabled boolean) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF enabled AND NOT cdlstore_internal.sweeping() THEN
        RAISE EXCEPTION 'only an administrator naming no tenant works across tenants'
            USING ERRCODE = 'CD006', DETAIL = format('login role %s', session_user),
                  HINT = 'Run it as an administrator (cdlstore_tenant_admin) without cdlstore.tenant.';
    END IF;
    PERFORM set_config('cdlstore.all_tenants', CASE WHEN enabled THEN 'on' ELSE '' END, true);
    PERFORM cdlstore_internal.current_tenant();  -- the call's tenant: '*' while enabled
END
$$;

ALTER FUNCTION cdlstore_internal.all_tenants(enabled boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.all_tenants(enabled boolean) IS 'Let the next statements see every tenant''s rows (an administrator naming no tenant only: CD006 otherwise), or stop it. Writes stay refused in that mode (WITH CHECK).';

CREATE FUNCTION cdlstore_internal.bound_tenant() RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    bound text;
    named text := nullif(current_setting('cdlstore.tenant', true), '');
BEGIN
    SELECT b.tenant INTO bound FROM cdlstore_internal.tenant_bindings AS b
    WHERE b.role_oid = quote_ident(session_user)::regrole::oid;
    IF bound <> named THEN
        PERFORM cdlstore_internal.tenant_error('CD008', named);
    END IF;
    RETURN bound;
END
$$;

ALTER FUNCTION cdlstore_internal.bound_tenant() OWNER TO cdlstore_owner;

CREATE FUNCTION cdlstore_internal.call_tenant() RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT nullif(current_setting('cdlstore_internal.tenant', true), '')
$$;

ALTER FUNCTION cdlstore_internal.call_tenant() OWNER TO cdlstore_owner;

CREATE FUNCTION cdlstore_internal.check_page(page_size integer) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF page_size IS NULL OR page_size NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'page_size must be between 1 and 1000, got %', page_size USING ERRCODE = 'CD001';
    END IF;
END
$$;

ALTER FUNCTION cdlstore_internal.check_page(page_size integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.check_page(page_size integer) IS 'Reject a page size outside 1..1000 (CD001).';

CREATE FUNCTION cdlstore_internal.check_tenant_name(tenant text) RETURNS text
    LANGUAGE sql STABLE
    AS $_$
    SELECT CASE WHEN length(tenant) <= 100 AND tenant ~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]*$' THEN tenant
                ELSE cdlstore_internal.tenant_error('CD001', tenant) END
$_$;

ALTER FUNCTION cdlstore_internal.check_tenant_name(tenant text) OWNER TO cdlstore_owner;

CREATE FUNCTION cdlstore_internal.current_tenant() RETURNS text
    LANGUAGE sql
    AS $_$
    SELECT set_config('cdlstore_internal.tenant',
        CASE WHEN current_setting('cdlstore.tenant', true) ~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]*$'
                  AND length(current_setting('cdlstore.tenant', true)) <= 100
                  AND (current_setting('is_superuser') = 'on'
                       OR NOT pg_catalog.pg_has_role(session_user, 'cdlstore_bound', 'MEMBER'))
             THEN current_setting('cdlstore.tenant', true)
             ELSE cdlstore_internal.full_tenant_check() END, true)
$_$;

ALTER FUNCTION cdlstore_internal.current_tenant() OWNER TO cdlstore_owner;

CREATE FUNCTION cdlstore_internal.default_tenant() RETURNS text
    LANGUAGE sql
    AS $$
    SELECT nullif(coalesce(cdlstore_internal.call_tenant(), cdlstore_internal.resolved_tenant()), '*')
$$;

ALTER FUNCTION cdlstore_internal.default_tenant() OWNER TO cdlstore_owner;

CREATE FUNCTION cdlstore_internal.earliest(query text) RETURNS timestamp with time zone
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    every_tenant boolean := cdlstore_internal.sweeping();
    result timestamptz;
BEGIN
    IF every_tenant THEN
        PERFORM cdlstore_internal.all_tenants(true);
    END IF;
    EXECUTE query INTO result;
    IF every_tenant THEN
        PERFORM cdlstore_internal.all_tenants(false);
    END IF;
    RETURN result;
END
$$;

ALTER FUNCTION cdlstore_internal.earliest(query text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.earliest(query text) IS 'The timestamp a query (one min(...) over tenant-scoped rows) returns: the caller''s tenant, every tenant when sweeping() (the next deadline a worker''s maintenance waits for).';

CREATE FUNCTION cdlstore_internal.feed_ack(p_feed text, p_consumer text, up_to_id bigint) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    c feed_consumers := feed_consumer(p_feed, p_consumer);
    x xid8;
BEGIN
    EXECUTE format('SELECT e.xid FROM %s WHERE %s = $1',
                   CASE p_feed WHEN 'docstore' THEN 'docstore.change_event e' ELSE 'ops.events e' END,
                   CASE p_feed WHEN 'docstore' THEN 'e.id' ELSE 'e.event_id' END)
    INTO x USING up_to_id;
    IF x IS NULL THEN
        RAISE EXCEPTION 'change event % not found', coalesce(up_to_id::text, 'NULL') USING ERRCODE = 'CD002';
    ELSIF pg_visible_in_snapshot(x, c.lo) OR (c.hi IS NOT NULL AND pg_visible_in_snapshot(x, c.hi)
          AND (x, up_to_id) <= (coalesce(c.acked_xid, '0'::xid8), coalesce(c.acked_id, 0))) THEN
        RETURN false;  -- acknowledged already
    ELSIF c.handed_xid IS NULL OR NOT pg_visible_in_snapshot(x, c.hi) OR (x, up_to_id) > (c.handed_xid, c.handed_id) THEN
        RAISE EXCEPTION 'event % has not been handed out to consumer % yet', up_to_id, quote_literal(p_consumer)
            USING ERRCODE = 'CD001',
                  HINT = 'Acknowledge only ids that reading the changes returned: an id taken elsewhere '
                         '(e.g. a NOTIFY) may be ahead of an earlier transaction''s event.';
    END IF;
    UPDATE feed_consumers f SET acked_xid = x, acked_id = up_to_id, updated_at = now()
    WHERE f.feed = c.feed AND f.consumer = c.consumer AND f.tenant IS NOT DISTINCT FROM c.tenant;
    RETURN true;
END
$_$;

ALTER FUNCTION cdlstore_internal.feed_ack(p_feed text, p_consumer text, up_to_id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.feed_ack(p_feed text, p_consumer text, up_to_id bigint) IS 'Acknowledge a consumer''s events up to one it was handed: true when it moved, false for an older one; CD001 for one not handed out yet, CD002 for an unknown id.';

CREATE FUNCTION cdlstore_internal.feed_announce() RETURNS void
    LANGUAGE sql
    AS $$
    -- classid 1717920868 ('feed'), objid the low 32 bits of this transaction's xid
    SELECT pg_advisory_xact_lock_shared(1717920868,
        (((pg_current_xact_id()::text::bigint + 2147483648) % 4294967296) - 2147483648)::integer)
$$;

ALTER FUNCTION cdlstore_internal.feed_announce() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.feed_announce() IS 'A feed writer, before it appends an event: its transaction holds back later batches until it ends.';

CREATE FUNCTION cdlstore_internal.feed_batch(p_feed text, lo pg_snapshot, hi pg_snapshot, after_xid xid8, after_id bigint, max_count integer) RETURNS TABLE(xid xid8, id bigint)
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    source text := CASE p_feed WHEN 'docstore' THEN 'docstore.change_event e'
                               WHEN 'ops' THEN 'ops.events e' END;
    key text := CASE p_feed WHEN 'docstore' THEN 'e.id' WHEN 'ops' THEN 'e.event_id' END;
BEGIN
    -- not visible in lo: an xid lo saw running, or one from lo's xmax on; two index scans
    RETURN QUERY EXECUTE format($q$
        SELECT b.xid, b.id FROM (
            (SELECT e.xid, %2$s AS id FROM %1$s
             WHERE e.xid = ANY (ARRAY(SELECT pg_snapshot_xip($1))) AND (e.xid, %2$s) > ($3, $4)
               AND pg_visible_in_snapshot(e.xid, $2)
             ORDER BY e.xid, %2$s LIMIT $5)
            UNION ALL
            (SELECT e.xid, %2$s FROM %1$s
             WHERE e.xid >= pg_snapshot_xmax($1) AND e.xid < pg_snapshot_xmax($2)
               AND (e.xid, %2$s) > ($3, $4) AND pg_visible_in_snapshot(e.xid, $2)
             ORDER BY e.xid, %2$s LIMIT $5)) AS b
        ORDER BY b.xid, b.id LIMIT $5$q$, source, key)
    USING lo, hi, coalesce(after_xid, '0'::xid8), coalesce(after_id, 0), max_count;
END
$_$;

ALTER FUNCTION cdlstore_internal.feed_batch(p_feed text, lo pg_snapshot, hi pg_snapshot, after_xid xid8, after_id bigint, max_count integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.feed_batch(p_feed text, lo pg_snapshot, hi pg_snapshot, after_xid xid8, after_id bigint, max_count integer) IS 'The next (xid, id) of a feed''s batch (visible in hi, not in lo) after a position.';

CREATE TABLE cdlstore_internal.feed_consumers (
    feed text NOT NULL,
    consumer text NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    lo pg_snapshot DEFAULT '1:1:'::pg_snapshot NOT NULL,
    hi pg_snapshot,
    acked_xid xid8,
    acked_id bigint,
    handed_xid xid8,
    handed_id bigint,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT feed_consumers_consumer_check CHECK (((consumer <> ''::text) AND (length(consumer) <= 200))),
    CONSTRAINT feed_consumers_feed_check CHECK ((feed = ANY (ARRAY['docstore'::text, 'ops'::text])))
);

ALTER TABLE ONLY cdlstore_internal.feed_consumers FORCE ROW LEVEL SECURITY;

ALTER TABLE cdlstore_internal.feed_consumers OWNER TO cdlstore_owner;

CREATE FUNCTION cdlstore_internal.feed_consumer(p_feed text, p_consumer text) RETURNS cdlstore_internal.feed_consumers
    LANGUAGE plpgsql
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    c cdlstore_internal.feed_consumers;
BEGIN
    IF p_consumer IS NULL OR btrim(p_consumer) = '' OR length(p_consumer) > 200 THEN
        RAISE EXCEPTION 'consumer must be a non-empty name of at most 200 characters' USING ERRCODE = 'CD001';
    END IF;
    INSERT INTO feed_consumers (feed, consumer) VALUES (p_feed, p_consumer)
    ON CONFLICT ON CONSTRAINT feed_consumers_key DO NOTHING;
    SELECT * INTO c FROM feed_consumers f  -- the call's tenant's own (row-level security)
    WHERE f.feed = p_feed AND f.consumer = p_consumer
    FOR UPDATE;
    RETURN c;
END
$$;

ALTER FUNCTION cdlstore_internal.feed_consumer(p_feed text, p_consumer text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.feed_consumer(p_feed text, p_consumer text) IS 'Lock a consumer''s position (created at the start of the feed when new). CD001 for a bad name.';

CREATE FUNCTION cdlstore_internal.feed_horizon(lo pg_snapshot) RETURNS pg_snapshot
    LANGUAGE plpgsql
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    now_snap pg_snapshot := pg_current_snapshot();
    ref bigint := pg_snapshot_xmax(now_snap)::text::bigint + 2147483647;
    cap bigint;
BEGIN
    -- the oldest announced feed writer of this database that is still running, this one
    -- included: a consumer reading in the transaction that wrote events gets them after its
    -- commit (its own xid is never in its own running list, so without this it would see them
    -- whenever some later transaction happened to have ended: a race, not a rule)
    SELECT min(ref - ((ref - l.objid::bigint) % 4294967296 + 4294967296) % 4294967296) INTO cap
    FROM pg_catalog.pg_locks l
    WHERE l.locktype = 'advisory' AND l.classid = 1717920868 AND l.objsubid = 2 AND l.granted
      AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database());
    IF cap IS NULL THEN
        RETURN now_snap;
    END IF;
    -- never below lo: what lo sees stays seen (a writer announced late just comes later)
    cap := greatest(cap, pg_snapshot_xmax(lo)::text::bigint);
    IF cap >= pg_snapshot_xmax(now_snap)::text::bigint THEN
        RETURN now_snap;
    END IF;
    RETURN format('%s:%s:%s', least(pg_snapshot_xmin(now_snap)::text::bigint, cap), cap,
                  (SELECT string_agg(x::text, ',' ORDER BY x) FROM pg_snapshot_xip(now_snap) AS x
                   WHERE x::text::bigint < cap))::pg_snapshot;
END
$$;

ALTER FUNCTION cdlstore_internal.feed_horizon(lo pg_snapshot) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.feed_horizon(lo pg_snapshot) IS 'The snapshot a new batch ends at: the current one, cut before the oldest running feed writer.';

CREATE FUNCTION cdlstore_internal.feed_read(p_feed text, p_consumer text, max_count integer) RETURNS TABLE(xid xid8, id bigint)
    LANGUAGE plpgsql
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    c feed_consumers := feed_consumer(p_feed, p_consumer);
    xids xid8[];
    ids bigint[];
    n integer;
BEGIN
    IF max_count IS NULL OR max_count NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'max_count must be between 1 and 10000, got %', max_count USING ERRCODE = 'CD001';
    END IF;
    IF c.hi IS NULL OR NOT EXISTS (SELECT FROM feed_batch(p_feed, c.lo, c.hi, c.acked_xid, c.acked_id, 1)) THEN
        -- the batch is acknowledged: the next one starts where it ended
        c.lo := coalesce(c.hi, c.lo);
        c.hi := feed_horizon(c.lo);
        c.acked_xid := NULL; c.acked_id := NULL; c.handed_xid := NULL; c.handed_id := NULL;
    END IF;
    SELECT array_agg(b.xid ORDER BY b.xid, b.id), array_agg(b.id ORDER BY b.xid, b.id) INTO xids, ids
    FROM feed_batch(p_feed, c.lo, c.hi, c.acked_xid, c.acked_id, max_count) b;
    n := coalesce(cardinality(ids), 0);
    IF n > 0 AND (c.handed_xid IS NULL OR (xids[n], ids[n]) > (c.handed_xid, c.handed_id)) THEN
        c.handed_xid := xids[n]; c.handed_id := ids[n];
    END IF;
    UPDATE feed_consumers f
    SET lo = c.lo, hi = c.hi, acked_xid = c.acked_xid, acked_id = c.acked_id,
        handed_xid = c.handed_xid, handed_id = c.handed_id, updated_at = now()
    WHERE f.feed = c.feed AND f.consumer = c.consumer AND f.tenant IS NOT DISTINCT FROM c.tenant;
    RETURN QUERY SELECT u.xid, u.id FROM unnest(xids, ids) WITH ORDINALITY AS u (xid, id, n) ORDER BY u.n;
END
$$;

ALTER FUNCTION cdlstore_internal.feed_read(p_feed text, p_consumer text, max_count integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.feed_read(p_feed text, p_consumer text, max_count integer) IS 'Hand out the next events of a consumer''s batch after its acknowledged one (the same again until acknowledged); a new batch when this one is done. Records how far it handed out.';

CREATE FUNCTION cdlstore_internal.full_tenant_check() RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    bound text;
BEGIN
    -- a superuser is never bound (bind_tenant refuses one); other logins only in cdlstore_bound
    IF current_setting('is_superuser') = 'off'
       AND pg_catalog.pg_has_role(session_user, 'cdlstore_bound', 'MEMBER') THEN
        SELECT b.tenant INTO bound FROM cdlstore_internal.tenant_bindings AS b
        WHERE b.role_oid = quote_ident(session_user)::regrole::oid;
        IF bound <> nullif(current_setting('cdlstore.tenant', true), '') THEN
            PERFORM cdlstore_internal.tenant_error('CD008', current_setting('cdlstore.tenant', true));
        END IF;
        IF bound IS NOT NULL THEN
            RETURN bound;
        END IF;
    END IF;
    RETURN cdlstore_internal.unbound_tenant();  -- the named tenant (CD001 if malformed), or none
END
$$;

ALTER FUNCTION cdlstore_internal.full_tenant_check() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.full_tenant_check() IS 'The tenant of a session that the guard''s short path does not settle: a bound login''s (CD008 when it names another), else the named one (CD001 when malformed), else unnamed_tenant() (''default''/''*'' for an administrator, CD009 for anyone else).';

CREATE FUNCTION cdlstore_internal.hashed_uuid(hash integer) RETURNS uuid
    LANGUAGE sql
    AS $$
    -- a random uuid whose last 10 bits are the routing hash (the proxy's cdlstore_proxy.uuid_hash)
    SELECT (left(gen_random_uuid()::text, 33)
            || lpad(to_hex((hash & 1023) | (floor(random() * 4)::integer << 10)), 3, '0'))::uuid
$$;

ALTER FUNCTION cdlstore_internal.hashed_uuid(hash integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.hashed_uuid(hash integer) IS 'A random uuid carrying a routing hash in its last 10 bits.';

CREATE FUNCTION cdlstore_internal.input_text(value text, what text, max_length integer DEFAULT 200, required boolean DEFAULT true) RETURNS text
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    IF required AND (value IS NULL OR btrim(value) = '') THEN
        RAISE EXCEPTION '% must not be empty', what USING ERRCODE = 'CD001';
    ELSIF length(value) > max_length THEN
        RAISE EXCEPTION '% is % characters long; at most % are allowed', what, length(value), max_length
            USING ERRCODE = 'CD001';
    END IF;
    RETURN value;
END
$$;

ALTER FUNCTION cdlstore_internal.input_text(value text, what text, max_length integer, required boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.input_text(value text, what text, max_length integer, required boolean) IS 'The value, unless it is empty (when required) or longer than max_length characters: CD001.';

CREATE FUNCTION cdlstore_internal.is_administrator() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT pg_catalog.pg_has_role(session_user, 'cdlstore_owner', 'MEMBER')
        OR pg_catalog.pg_has_role(session_user, 'cdlstore_tenant_admin', 'MEMBER')
$$;

ALTER FUNCTION cdlstore_internal.is_administrator() OWNER TO cdlstore_owner;

CREATE PROCEDURE cdlstore_internal.make_tenant_scoped(IN tbl regclass)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = tbl AND attname = 'tenant' AND NOT attisdropped) THEN
        EXECUTE format('UPDATE %s SET tenant = %L WHERE tenant IS NULL', tbl, 'default');
    ELSE
        EXECUTE format('ALTER TABLE %s ADD COLUMN tenant text DEFAULT %L', tbl, 'default');
    END IF;
    EXECUTE format('ALTER TABLE %s ALTER COLUMN tenant SET NOT NULL, '
                   'ALTER COLUMN tenant SET DEFAULT cdlstore_internal.default_tenant(), '
                   'ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s '
                   'USING (tenant = cdlstore_internal.call_tenant() OR cdlstore_internal.call_tenant() = ''*'') '
                   'WITH CHECK (tenant = nullif(cdlstore_internal.call_tenant(), ''*''))', tbl);
END
$$;

ALTER PROCEDURE cdlstore_internal.make_tenant_scoped(IN tbl regclass) OWNER TO cdlstore_owner;

CREATE FUNCTION cdlstore_internal.page(rows cdlstore_internal.page_row[], page_size integer) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- rows: page_size + 1 rows at most, in the order of the listing (plpgsql, not sql: its plan is
    -- kept from call to call)
    RETURN jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(r.item ORDER BY r.n)
                           FROM unnest(rows[1:page_size]) WITH ORDINALITY AS r (item, created_at, id, n)), '[]'::jsonb),
        'next_cursor', CASE WHEN cardinality(rows) > page_size
                            THEN cdlstore_internal.page_cursor((rows[page_size]).created_at, (rows[page_size]).id) END);
END
$$;

ALTER FUNCTION cdlstore_internal.page(rows cdlstore_internal.page_row[], page_size integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.page(rows cdlstore_internal.page_row[], page_size integer) IS 'A page of a listing ({items, next_cursor}) from the page_size + 1 rows it read: the first page_size items, and the cursor of the next page when there was one more row.';

CREATE FUNCTION cdlstore_internal.page_cursor(created_at timestamp with time zone, id bigint) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT translate(encode(convert_to(p || '.' || left(md5(p || ':cdlstore-cursor'), 12), 'UTF8'), 'base64'), E'=\n', '')
    FROM (SELECT (extract(epoch FROM created_at) * 1000000)::bigint || '.' || id AS p) AS x
$$;

ALTER FUNCTION cdlstore_internal.page_cursor(created_at timestamp with time zone, id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.page_cursor(created_at timestamp with time zone, id bigint) IS 'An opaque page cursor for a (created_at, id) key.';

CREATE FUNCTION cdlstore_internal.page_key(after text, page_size integer, OUT created_at timestamp with time zone, OUT id bigint) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    parts text[];
BEGIN
    PERFORM cdlstore_internal.check_page(page_size);
    IF after IS NULL THEN
        RETURN;  -- the first page: no key
    END IF;
    BEGIN
        parts := string_to_array(convert_from(decode(rpad(after, (length(after) + 3) / 4 * 4, '='), 'base64'), 'UTF8'), '.');
    EXCEPTION WHEN OTHERS THEN
        parts := NULL;
    END;
    IF cardinality(parts) IS DISTINCT FROM 3 OR parts[1] !~ '^-?[0-9]{1,18}$' OR parts[2] !~ '^[0-9]{1,18}$'
       OR parts[3] <> left(md5(parts[1] || '.' || parts[2] || ':cdlstore-cursor'), 12) THEN
        RAISE EXCEPTION 'invalid page cursor' USING ERRCODE = 'CD001',
            HINT = 'Pass the next_cursor of the previous page unchanged.';
    END IF;
    created_at := 'epoch'::timestamptz + parts[1]::bigint * interval '1 microsecond';
    id := parts[2]::bigint;
END
$_$;

ALTER FUNCTION cdlstore_internal.page_key(after text, page_size integer, OUT created_at timestamp with time zone, OUT id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.page_key(after text, page_size integer, OUT created_at timestamp with time zone, OUT id bigint) IS 'The (created_at, id) key a page starts after (NULLs for the first page); CD001 for a page size outside 1..1000 or a cursor page_cursor did not make.';

CREATE FUNCTION cdlstore_internal.regex_bound(pattern text, i integer, of_group boolean, group_holds_bound boolean, OUT problem text, OUT factor integer, OUT width integer) RETURNS record
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
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
    ELSIF of_group AND factor > cdlstore_internal.regex_limit('group_count') THEN
        problem := format('repeats a group with {%s%s}; a group may be counted at most %s times',
                          bound[1], coalesce(bound[2], ''), cdlstore_internal.regex_limit('group_count'));
    END IF;
END
$$;

ALTER FUNCTION cdlstore_internal.regex_bound(pattern text, i integer, of_group boolean, group_holds_bound boolean, OUT problem text, OUT factor integer, OUT width integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.regex_bound(pattern text, i integer, of_group boolean, group_holds_bound boolean, OUT problem text, OUT factor integer, OUT width integer) IS 'The counted repetition at position i of a pattern: how many times it repeats, how long it is written, and why it is refused when it repeats a group too often or around another bound.';

CREATE FUNCTION cdlstore_internal.regex_bracket_end(pattern text, start integer) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
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

ALTER FUNCTION cdlstore_internal.regex_bracket_end(pattern text, start integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.regex_bracket_end(pattern text, start integer) IS 'The position of the "]" that closes the bracket expression opened at start (past the end when none).';

CREATE FUNCTION cdlstore_internal.regex_grammar_problem(pattern text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
    AS $_$
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
            IF cdlstore_internal.regex_group_problem(substr(pattern, i, 4)) IS NOT NULL THEN
                RETURN cdlstore_internal.regex_group_problem(substr(pattern, i, 4));
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
            bound := cdlstore_internal.regex_bound(pattern, i, coalesce(last_size IS NOT NULL AND last_group, false),
                                      coalesce(last_bound, false));
            IF bound.problem IS NOT NULL OR last_size IS NULL THEN
                RETURN coalesce(bound.problem, 'does not compile: a bound {m,n} that follows nothing to repeat');
            END IF;
            size[k] := size[k] + last_size * (bound.factor - 1);
            holds_bound[k] := true;
            IF size[k] > cdlstore_internal.regex_limit('size') THEN
                RETURN format('expands to %s or more items once its counted repetitions are written out; '
                              'at most %s are allowed', size[k], cdlstore_internal.regex_limit('size'));
            END IF;
            last_size := NULL;
            i := i + bound.width;
            CONTINUE;
        ELSIF c = '\' AND substr(pattern, i + 1, 1) ~ '^[1-9]$' THEN
            RETURN format('uses the back-reference \%s; back-references can make matching exponential',
                          substr(pattern, i + 1, 1));
        ELSE
            last_size := 1;
            last_group := false;
            size[k] := size[k] + 1;
            i := CASE c WHEN '\' THEN i + 1 WHEN '[' THEN cdlstore_internal.regex_bracket_end(pattern, i) ELSE i END;
        END IF;
        i := i + 1;
    END LOOP;
    RETURN CASE WHEN cardinality(size) > 1 THEN 'does not compile: a ( is not closed' END;
END
$_$;

ALTER FUNCTION cdlstore_internal.regex_grammar_problem(pattern text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.regex_grammar_problem(pattern text) IS 'Why a pattern is outside the accepted subset of ARE (director, embedded options, lookaround, back-reference, counted repetition over the limits, unbalanced groups); NULL when inside.';

CREATE FUNCTION cdlstore_internal.regex_group_problem(opening text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- opening: the ( of a group and the three characters after it
    SELECT CASE WHEN left(opening, 3) IN ('(?=', '(?!') OR opening IN ('(?<=', '(?<!')
                THEN 'uses a lookahead or lookbehind constraint; they can make matching cubic'
                WHEN left(opening, 2) = '(?' AND left(opening, 3) <> '(?:'
                THEN 'uses embedded options or a comment (?...); write the expression itself '
                     '(matching is case-insensitive for triggers)' END
$$;

ALTER FUNCTION cdlstore_internal.regex_group_problem(opening text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.regex_group_problem(opening text) IS 'Why a group opening (its ( and the three characters after) is refused: lookaround or embedded options; NULL when fine.';

CREATE FUNCTION cdlstore_internal.regex_limit(what text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE what WHEN 'length' THEN 1000        -- characters of a pattern
                     WHEN 'size' THEN 1000          -- items once counted repetitions are expanded
                     WHEN 'group_count' THEN 10     -- {m,n} on a group
                     WHEN 'text' THEN 10000 END     -- characters of a text matched against a pattern
$$;

ALTER FUNCTION cdlstore_internal.regex_limit(what text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.regex_limit(what text) IS 'The limits of patterns from outside and of the texts matched against them.';

CREATE FUNCTION cdlstore_internal.regex_problem(pattern text, case_insensitive boolean) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    problem text;
    started timestamptz;
    took interval;
BEGIN
    IF length(pattern) > cdlstore_internal.regex_limit('length') THEN
        RETURN format('is %s characters long; at most %s are allowed', length(pattern), cdlstore_internal.regex_limit('length'));
    END IF;
    problem := cdlstore_internal.regex_grammar_problem(pattern);
    IF problem IS NOT NULL THEN
        RETURN problem;
    END IF;
    -- compile exactly what will run
    started := clock_timestamp();
    BEGIN
        IF case_insensitive THEN
            PERFORM '' ~* cdlstore_internal.runnable_regex(pattern);
        ELSE
            PERFORM '' ~ cdlstore_internal.runnable_regex(pattern);
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

ALTER FUNCTION cdlstore_internal.regex_problem(pattern text, case_insensitive boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.regex_problem(pattern text, case_insensitive boolean) IS 'Why a user-supplied regular expression is refused (too long, outside the accepted subset of ARE: see regex_grammar_problem, does not compile as it will run, slow to compile); NULL when safe.';

CREATE FUNCTION cdlstore_internal.resolved_tenant() RETURNS text
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN cdlstore_internal.current_tenant();
END
$$;

ALTER FUNCTION cdlstore_internal.resolved_tenant() OWNER TO cdlstore_owner;

CREATE FUNCTION cdlstore_internal.runnable_regex(pattern text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- the one expression that runs for a pattern from outside: group 1 is the whole match
    SELECT '(' || pattern || ')'
$$;

ALTER FUNCTION cdlstore_internal.runnable_regex(pattern text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.runnable_regex(pattern text) IS 'The expression that runs for a checked pattern (trigger, transition or field validation).';

CREATE FUNCTION cdlstore_internal.shard_hash() RETURNS integer
    LANGUAGE sql
    SET search_path TO 'cdlstore_internal', 'pg_catalog', 'pg_temp'
    AS $$
    -- a random 10-bit routing hash that PL/Proxy (hash & (partitions - 1)) sends to this shard
    SELECT coalesce((SELECT s.part + s.partitions * floor(random() * (1024 / s.partitions))::integer
                     FROM cdlstore_internal.shard_identity s),
                    floor(random() * 1024)::integer)
$$;

ALTER FUNCTION cdlstore_internal.shard_hash() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.shard_hash() IS 'A random routing hash (0..1023) that routes to this shard.';

CREATE FUNCTION cdlstore_internal.sweep(candidates text, call text, arg anyelement) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    tenants text[];
    t text;
    total bigint := 0::bigint;
    n bigint;
BEGIN
    IF NOT cdlstore_internal.sweeping() THEN
        RETURN NULL;
    END IF;
    PERFORM cdlstore_internal.all_tenants(true);
    EXECUTE format('SELECT array_agg(DISTINCT c.tenant) FROM (%s) AS c', candidates) INTO tenants USING arg;
    PERFORM cdlstore_internal.all_tenants(false);
    FOREACH t IN ARRAY coalesce(tenants, '{}') LOOP
        PERFORM set_config('cdlstore.tenant', t, true);
        EXECUTE call INTO n USING arg;  -- an API call: it resolves t as its tenant first
        total := total + coalesce(n, 0);
    END LOOP;
    PERFORM set_config('cdlstore.tenant', '', true);
    PERFORM cdlstore_internal.current_tenant();  -- the caller's own again: default
    RETURN total;
END
$$;

ALTER FUNCTION cdlstore_internal.sweep(candidates text, call text, arg anyelement) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.sweep(candidates text, call text, arg anyelement) IS 'When sweeping(): the tenants of the rows the query candidates returns (a tenant column; $1 = arg) are found across tenants, then call (returning a count; $1 = arg) runs as each of them; returns the sum. NULL when not sweeping: the caller then works as its own tenant.';

CREATE FUNCTION cdlstore_internal.sweeping() RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN nullif(current_setting('cdlstore.tenant', true), '') IS NULL
       AND cdlstore_internal.is_administrator()
       AND NOT EXISTS (SELECT FROM cdlstore_internal.tenant_bindings AS b
                       WHERE b.role_oid = quote_ident(session_user)::regrole::oid);
END
$$;

ALTER FUNCTION cdlstore_internal.sweeping() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.sweeping() IS 'True for an unbound administrator naming no tenant: maintenance then runs for every tenant.';

CREATE FUNCTION cdlstore_internal.tenant_error(code text, named text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    IF code = 'CD008' THEN
        RAISE EXCEPTION 'tenant mismatch: login role % is bound to another tenant than %', session_user, named
            USING ERRCODE = 'CD008', DETAIL = 'A login bound with cdlstore.bind_tenant acts as its own tenant only.',
                  HINT = 'Leave cdlstore.tenant unset, or set it to the tenant the login is bound to.';
    ELSIF code = 'CD009' THEN
        RAISE EXCEPTION 'no tenant named: login role % must set cdlstore.tenant', session_user
            USING ERRCODE = 'CD009',
                  DETAIL = 'An application login that is not bound to a tenant names its tenant per session or transaction.',
                  HINT = 'SET cdlstore.tenant = ''<tenant>'' (or SET LOCAL per transaction), or bind the login with cdlstore.bind_tenant.';
    END IF;
    RAISE EXCEPTION 'invalid tenant name %', coalesce(left(named, 120), 'NULL')
        USING ERRCODE = 'CD001',
              DETAIL = 'A tenant name is 1 to 100 letters, digits and _.:@- and starts with a letter or digit.',
              HINT = 'Name a tenant such as acme.';
END
$$;

ALTER FUNCTION cdlstore_internal.tenant_error(code text, named text) OWNER TO cdlstore_owner;

CREATE FUNCTION cdlstore_internal.unbound_tenant() RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT CASE WHEN current_setting('cdlstore.tenant', true) <> '' THEN
                    cdlstore_internal.check_tenant_name(current_setting('cdlstore.tenant', true))
                ELSE cdlstore_internal.unnamed_tenant() END
$$;

ALTER FUNCTION cdlstore_internal.unbound_tenant() OWNER TO cdlstore_owner;

CREATE FUNCTION cdlstore_internal.unnamed_tenant() RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- an unbound administrator naming none: 'default', or '*' (every tenant) inside a
    -- maintenance sweep; anyone else naming none: CD009
    IF cdlstore_internal.is_administrator() THEN
        RETURN CASE WHEN current_setting('cdlstore.all_tenants', true) = 'on' THEN '*' ELSE 'default' END;
    END IF;
    RETURN cdlstore_internal.tenant_error('CD009', NULL);
END
$$;

ALTER FUNCTION cdlstore_internal.unnamed_tenant() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdlstore_internal.unnamed_tenant() IS 'The tenant of an unbound session that names none: ''default'' for an administrator, ''*'' in its maintenance sweep; CD009 for anyone else.';

CREATE FUNCTION docstore._change_tag(p_uuid uuid, p_tag text, p_version integer, p_actor text, p_actor_type text, p_session text, p_expected integer, p_force boolean) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
DECLARE
    d record;
    current record;
    policy record;
BEGIN
    PERFORM cdlstore_internal.input_text(p_tag, 'tag', 100);
    PERFORM docstore._check_actor(p_actor, p_actor_type, p_session);
    -- the document row lock orders every tag change of the document: compare-and-swap holds
    SELECT x.namespace, x.type, x.deleted_at INTO d FROM docstore.documents x
    WHERE x.document_uuid = p_uuid FOR NO KEY UPDATE;
    IF d.namespace IS NULL THEN
        RAISE EXCEPTION 'document % not found', p_uuid USING ERRCODE = 'CD002';
    ELSIF d.deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'document % is deleted', p_uuid USING ERRCODE = 'CD004';
    END IF;
    -- KEY SHARE: a prune cannot remove the version under the tag; one it removed is gone
    IF p_version IS NOT NULL AND NOT EXISTS (SELECT FROM docstore.document_header h
                                             WHERE h.document_uuid = p_uuid AND h.version = p_version
                                             FOR KEY SHARE) THEN
        RAISE EXCEPTION 'document % has no version %', p_uuid, p_version USING ERRCODE = 'CD002';
    END IF;
    SELECT t.document_version INTO current FROM docstore.active_tag t WHERE t.document_uuid = p_uuid AND t.tag = p_tag;
    IF p_expected IS NOT NULL AND current.document_version IS DISTINCT FROM p_expected THEN
        RAISE EXCEPTION 'tag % of % points at %, not %', p_tag, p_uuid,
            coalesce(current.document_version::text, 'nothing'), p_expected USING ERRCODE = 'CD003';
    END IF;
    IF current.document_version IS NOT DISTINCT FROM p_version THEN
        RETURN current.document_version;  -- nothing to change
    END IF;
    SELECT p.is_protected, p.is_immutable INTO policy FROM docstore.tag_policy p
    WHERE p.namespace = d.namespace AND p.tag = p_tag;
    IF current.document_version IS NOT NULL AND coalesce(policy.is_immutable, false) THEN
        RAISE EXCEPTION 'tag % is immutable: it stays on version %', p_tag, current.document_version
            USING ERRCODE = 'CD006';
    END IF;
    IF current.document_version IS NOT NULL AND coalesce(policy.is_protected, false) AND NOT coalesce(p_force, false) THEN
        RAISE EXCEPTION 'tag % is protected', p_tag USING ERRCODE = 'CD006', HINT = 'Pass force => true to change it.';
    END IF;
    IF p_version IS NULL THEN
        DELETE FROM docstore.active_tag t WHERE t.document_uuid = p_uuid AND t.tag = p_tag;
    ELSE
        -- the tagged version is stored as it is read: versions never change, and a read by tag
        -- is then one index lookup
        INSERT INTO docstore.active_tag AS t (document_uuid, tag, document_version, document, set_by, set_by_type)
        VALUES (p_uuid, p_tag, p_version, docstore._version(p_uuid, p_version) || jsonb_build_object('tag', p_tag),
                p_actor, p_actor_type)
        ON CONFLICT ON CONSTRAINT active_tag_pkey DO UPDATE
        SET document_version = EXCLUDED.document_version, document = EXCLUDED.document,
            set_by = EXCLUDED.set_by, set_by_type = EXCLUDED.set_by_type, set_at = now();
    END IF;
    INSERT INTO docstore.tag_event (document_uuid, tag, operation, old_version, new_version, actor, actor_type, session_id)
    VALUES (p_uuid, p_tag, CASE WHEN p_version IS NULL THEN 'remove' WHEN current.document_version IS NULL
                               THEN 'set' ELSE 'move' END,
            current.document_version, p_version, p_actor, p_actor_type, p_session);
    PERFORM docstore._emit(CASE WHEN p_version IS NULL THEN 'untag' ELSE 'tag' END, d.namespace, d.type,
                           p_uuid, p_version, p_tag, p_actor, p_session);
    RETURN current.document_version;
END
$$;

ALTER FUNCTION docstore._change_tag(p_uuid uuid, p_tag text, p_version integer, p_actor text, p_actor_type text, p_session text, p_expected integer, p_force boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore._change_tag(p_uuid uuid, p_tag text, p_version integer, p_actor text, p_actor_type text, p_session text, p_expected integer, p_force boolean) IS 'Set (version) or remove (NULL) a tag under the document''s lock, with its policies, event and change.';

CREATE FUNCTION docstore._check_actor(actor text, actor_type text, session_id text, what text DEFAULT 'actor'::text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.input_text(actor, what, 200, false);
    PERFORM cdlstore_internal.input_text(actor_type, what || '_type', 200, false);
    PERFORM cdlstore_internal.input_text(session_id, 'session_id', 200, false);
END
$$;

ALTER FUNCTION docstore._check_actor(actor text, actor_type text, session_id text, what text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore._check_actor(actor text, actor_type text, session_id text, what text) IS 'Who made a change (actor and actor_type, or created_by and created_by_type when what is created_by) and its session: each optional and at most 200 characters (CD001). Every docstore write that records them calls it.';

CREATE FUNCTION docstore._check_name(value text, what text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
BEGIN
    IF value IS NULL OR btrim(value) = '' OR length(value) > 200 THEN
        RAISE EXCEPTION '% must be 1 to 200 characters', what USING ERRCODE = 'CD001';
    END IF;
    RETURN value;
END
$$;

ALTER FUNCTION docstore._check_name(value text, what text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore._check_name(value text, what text) IS 'A namespace, type, tag or consumer name: 1 to 200 characters.';

CREATE FUNCTION docstore._check_routes(p_uuid uuid, p_namespace text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
BEGIN
    -- on a shard, a new document's own uuid must route with its namespace, or get_document
    -- through the proxy would look for it on another shard
    IF EXISTS (SELECT FROM cdlstore_internal.shard_identity)
       AND ('x' || right(p_uuid::text, 3))::bit(12)::integer & 1023 <> hashtext(p_namespace) & 1023 THEN
        RAISE EXCEPTION 'document uuid % does not route with namespace %', p_uuid, p_namespace USING ERRCODE = 'CD001',
            HINT = 'On a sharded store leave document_uuid out for a new document; the store makes one.';
    END IF;
END
$$;

ALTER FUNCTION docstore._check_routes(p_uuid uuid, p_namespace text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore._check_routes(p_uuid uuid, p_namespace text) IS 'CD001 on a shard when a new document''s given uuid does not carry its namespace''s routing hash.';

CREATE FUNCTION docstore._drop_orphan_bodies(candidates uuid[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
DECLARE
    locked uuid[];
BEGIN
    -- a body a put is about to share is locked by it (KEY SHARE): skipped, kept
    SELECT array_agg(b.document_body_uuid) INTO locked FROM (
        SELECT b.document_body_uuid FROM docstore.document_body b
        WHERE b.document_body_uuid = ANY (candidates) FOR UPDATE SKIP LOCKED) AS b;
    -- a new statement, so a version committed meanwhile that uses a body is seen
    DELETE FROM docstore.document_body b
    WHERE b.document_body_uuid = ANY (locked)
      AND NOT EXISTS (SELECT FROM docstore.document_header h WHERE h.document_body_uuid = b.document_body_uuid);
END
$$;

ALTER FUNCTION docstore._drop_orphan_bodies(candidates uuid[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore._drop_orphan_bodies(candidates uuid[]) IS 'Remove those of the bodies that no version uses any more.';

CREATE FUNCTION docstore._emit(operation text, p_namespace text, p_type text, p_uuid uuid, p_version integer, p_tag text, p_actor text, p_session text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
DECLARE
    v_id bigint;
BEGIN
    PERFORM cdlstore_internal.feed_announce();
    INSERT INTO docstore.change_event (operation, namespace, type, document_uuid, version, tag, actor, session_id)
    VALUES (operation, p_namespace, p_type, p_uuid, p_version, p_tag, p_actor, p_session)
    RETURNING id INTO v_id;
    PERFORM pg_notify('cdlstore_docstore', json_build_object(
        'id', v_id, 'operation', operation, 'type', p_type, 'document_uuid', p_uuid,
        'version', p_version, 'tag', p_tag)::text);
END
$$;

ALTER FUNCTION docstore._emit(operation text, p_namespace text, p_type text, p_uuid uuid, p_version integer, p_tag text, p_actor text, p_session text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore._emit(operation text, p_namespace text, p_type text, p_uuid uuid, p_version integer, p_tag text, p_actor text, p_session text) IS 'Append a change event and NOTIFY cdlstore_docstore with a small payload, in the caller''s transaction.';

CREATE TABLE docstore.document_header (
    id bigint NOT NULL,
    namespace text NOT NULL,
    type text NOT NULL,
    document_uuid uuid NOT NULL,
    version integer NOT NULL,
    name text,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    document_body_uuid uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    created_by text,
    created_by_type text,
    session_id text,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT document_header_metadata_check CHECK ((jsonb_typeof(metadata) = 'object'::text)),
    CONSTRAINT document_header_version_check CHECK ((version > 0))
);

ALTER TABLE ONLY docstore.document_header FORCE ROW LEVEL SECURITY;

ALTER TABLE docstore.document_header OWNER TO cdlstore_owner;

CREATE FUNCTION docstore._item(h docstore.document_header, body jsonb) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object(
        'namespace', h.namespace, 'type', h.type, 'document_uuid', h.document_uuid,
        'version', h.version, 'name', h.name, 'metadata', h.metadata, 'created_at', h.created_at,
        'created_by', h.created_by, 'created_by_type', h.created_by_type, 'session_id', h.session_id)
        || CASE WHEN body IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('body', body) END
$$;

ALTER FUNCTION docstore._item(h docstore.document_header, body jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore._item(h docstore.document_header, body jsonb) IS 'A document version as the API returns it.';

CREATE FUNCTION docstore._store_body(body jsonb) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
DECLARE
    v_hash bytea := sha256(convert_to(body::text, 'UTF8'));
    v_body uuid;
BEGIN
    LOOP
        INSERT INTO docstore.document_body (body_hash, body) VALUES (v_hash, _store_body.body)
        ON CONFLICT ON CONSTRAINT document_body_body_hash_key DO NOTHING
        RETURNING document_body_uuid INTO v_body;
        EXIT WHEN v_body IS NOT NULL;
        -- a shared body: the lock keeps a purge from dropping it under us; one it dropped
        -- meanwhile is found no more, and inserted again
        SELECT b.document_body_uuid INTO v_body FROM docstore.document_body b WHERE b.body_hash = v_hash
        FOR KEY SHARE;
        EXIT WHEN v_body IS NOT NULL;
    END LOOP;
    RETURN v_body;
END
$$;

ALTER FUNCTION docstore._store_body(body jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore._store_body(body jsonb) IS 'The id of the stored body with this content: one stored body per distinct content, shared by the versions that have it.';

CREATE FUNCTION docstore._version(p_uuid uuid, p_version integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
DECLARE
    d record;
    result jsonb;
BEGIN
    SELECT x.latest_version, x.deleted_at INTO d FROM docstore.documents x WHERE x.document_uuid = p_uuid;
    IF d.latest_version IS NULL THEN
        RAISE EXCEPTION 'document % not found', p_uuid USING ERRCODE = 'CD002';
    ELSIF d.deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'document % was deleted', p_uuid USING ERRCODE = 'CD002',
            DETAIL = format('deleted at %s', d.deleted_at);
    END IF;
    SELECT docstore._item(h, b.body) INTO result
    FROM docstore.document_header h JOIN docstore.document_body b ON b.document_body_uuid = h.document_body_uuid
    WHERE h.document_uuid = p_uuid AND h.version = coalesce(p_version, d.latest_version);
    IF result IS NULL THEN
        RAISE EXCEPTION 'document % has no version %', p_uuid, p_version USING ERRCODE = 'CD002';
    END IF;
    RETURN result;
END
$$;

ALTER FUNCTION docstore._version(p_uuid uuid, p_version integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore._version(p_uuid uuid, p_version integer) IS 'One version (the newest when NULL) with its body; CD002 when absent or deleted.';

CREATE FUNCTION docstore.ack_changes(consumer text, up_to_id bigint) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN cdlstore_internal.feed_ack('docstore', consumer, up_to_id);
END
$$;

ALTER FUNCTION docstore.ack_changes(consumer text, up_to_id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.ack_changes(consumer text, up_to_id bigint) IS 'Record that a consumer has handled every event up to this one: an older id changes nothing (false); an id read_changes has not handed out yet is refused (CD001), unknown CD002.';

CREATE FUNCTION docstore.apply_retention() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $_$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    policy docstore.retention_policy;
    pruned integer := cdlstore_internal.sweep(  -- an administrator naming no tenant: every tenant
        'SELECT tenant FROM docstore.retention_policy WHERE $1', 'SELECT docstore.apply_retention() WHERE $1', true)::integer;
BEGIN
    IF pruned IS NOT NULL THEN
        RETURN pruned;
    END IF;
    pruned := 0;
    IF NOT pg_try_advisory_xact_lock(hashtext('docstore.apply_retention'), hashtext(call_tenant)) THEN
        RETURN 0;  -- another session is applying this tenant's policies right now
    END IF;
    FOR policy IN SELECT * FROM docstore.retention_policy p ORDER BY p.namespace, p.type LOOP
        pruned := pruned + (docstore.prune_versions(policy.namespace, policy.type, policy.keep_last,
                                                    policy.older_than, dry_run => false) ->> 'count')::integer;
    END LOOP;
    RETURN pruned;
END
$_$;

ALTER FUNCTION docstore.apply_retention() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.apply_retention() IS 'Prune every (namespace, type) by its retention policy (untagged old versions only): the caller''s tenant, every tenant for an administrator naming none. Returns how many versions went. A maintenance duty: safe to run from many sessions at once.';

CREATE FUNCTION docstore.create_metadata_index(type text, field text) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM docstore._check_name(type, 'type');
    PERFORM docstore._check_name(field, 'field');
    RETURN format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON docstore.document_header ((metadata ->> %L)) WHERE type = %L',
                  'document_header_meta_' || left(md5(type || '/' || field), 16), field, type);
END
$$;

ALTER FUNCTION docstore.create_metadata_index(type text, field text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.create_metadata_index(type text, field text) IS 'The DDL of a partial expression index on metadata->>field for one document type (to run outside a transaction, by the owner: CREATE INDEX CONCURRENTLY).';

CREATE FUNCTION docstore.declare_tag(namespace text, tag text, is_protected boolean DEFAULT false, is_immutable boolean DEFAULT false) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM docstore._check_name(namespace, 'namespace');
    PERFORM cdlstore_internal.input_text(tag, 'tag', 100);
    IF is_protected IS NULL OR is_immutable IS NULL THEN
        RAISE EXCEPTION 'is_protected and is_immutable must not be NULL' USING ERRCODE = 'CD001';
    END IF;
    INSERT INTO docstore.tag_policy AS p (namespace, tag, is_protected, is_immutable)
    VALUES (namespace, tag, is_protected, is_immutable)
    ON CONFLICT ON CONSTRAINT tag_policy_pkey DO UPDATE
    SET is_protected = EXCLUDED.is_protected, is_immutable = EXCLUDED.is_immutable;
END
$$;

ALTER FUNCTION docstore.declare_tag(namespace text, tag text, is_protected boolean, is_immutable boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.declare_tag(namespace text, tag text, is_protected boolean, is_immutable boolean) IS 'Declare a tag of a namespace protected (moved or removed only with force) or immutable (set once per document, never moved or removed: releases).';

CREATE FUNCTION docstore.delete_document(document_uuid uuid, actor text DEFAULT NULL::text, actor_type text DEFAULT NULL::text, session_id text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    d record;
BEGIN
    PERFORM docstore._check_actor(actor, actor_type, session_id);
    UPDATE docstore.documents x SET deleted_at = now(), deleted_by = actor, deleted_by_type = actor_type
    WHERE x.document_uuid = document_uuid AND x.deleted_at IS NULL
    RETURNING x.namespace, x.type, x.latest_version INTO d;
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT FROM docstore.documents x WHERE x.document_uuid = document_uuid) THEN
            RAISE EXCEPTION 'document % not found', document_uuid USING ERRCODE = 'CD002';
        END IF;
        RETURN false;
    END IF;
    UPDATE docstore.active_tag t SET is_deleted = true WHERE t.document_uuid = document_uuid;
    PERFORM docstore._emit('delete', d.namespace, d.type, document_uuid, d.latest_version, NULL, actor, session_id);
    RETURN true;
END
$$;

ALTER FUNCTION docstore.delete_document(document_uuid uuid, actor text, actor_type text, session_id text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.delete_document(document_uuid uuid, actor text, actor_type text, session_id text) IS 'Delete as a tombstone: versions, tags and their history stay, reads say deleted; actor and actor_type are recorded as deleted_by and deleted_by_type (document_history). False when it already was.';

CREATE FUNCTION docstore.document_history(document_uuid uuid, max_versions integer DEFAULT 100) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    d docstore.documents;
    versions jsonb;
BEGIN
    PERFORM cdlstore_internal.check_page(max_versions);
    IF document_uuid IS NULL THEN
        RAISE EXCEPTION 'document_uuid is required' USING ERRCODE = 'CD001';
    END IF;
    SELECT * INTO d FROM docstore.documents x WHERE x.document_uuid = document_uuid;
    IF d.document_uuid IS NULL THEN
        RAISE EXCEPTION 'document % not found', document_uuid USING ERRCODE = 'CD002';
    END IF;
    SELECT coalesce(jsonb_agg(docstore._item(h, NULL) || jsonb_build_object('tags', (
               SELECT coalesce(jsonb_agg(a.tag ORDER BY a.tag), '[]') FROM docstore.active_tag a
               WHERE a.document_uuid = h.document_uuid AND a.document_version = h.version))
           ORDER BY h.version DESC), '[]')
    INTO versions
    FROM (SELECT * FROM docstore.document_header x
          WHERE x.document_uuid = document_uuid
          ORDER BY x.version DESC LIMIT max_versions) AS h;
    RETURN jsonb_build_object(
        'document_uuid', d.document_uuid, 'namespace', d.namespace, 'type', d.type,
        'latest_version', d.latest_version, 'created_at', d.created_at, 'deleted_at', d.deleted_at,
        'deleted_by', d.deleted_by, 'deleted_by_type', d.deleted_by_type, 'versions', versions);
END
$$;

ALTER FUNCTION docstore.document_history(document_uuid uuid, max_versions integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.document_history(document_uuid uuid, max_versions integer) IS 'A document and its newest max_versions (1..1000) versions, newest first, without bodies, each with the tags pointing at it; deleted documents too (deleted_at). CD002 when unknown.';

CREATE FUNCTION docstore.get_document(document_uuid uuid, version integer DEFAULT NULL::integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN docstore._version(document_uuid, version);
END
$$;

ALTER FUNCTION docstore.get_document(document_uuid uuid, version integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.get_document(document_uuid uuid, version integer) IS 'A document version with its body (the newest when version is NULL). CD002 when absent or deleted.';

CREATE FUNCTION docstore.get_document_by_tag(document_uuid uuid, tag text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    result jsonb;
    v_deleted boolean;
BEGIN
    SELECT t.document, t.is_deleted INTO result, v_deleted
    FROM docstore.active_tag t WHERE t.document_uuid = document_uuid AND t.tag = tag;
    IF result IS NULL OR v_deleted THEN
        PERFORM docstore._version(document_uuid, NULL);  -- unknown or deleted: its error
        RAISE EXCEPTION 'document % has no tag %', document_uuid, tag USING ERRCODE = 'CD002';
    END IF;
    RETURN result;
END
$$;

ALTER FUNCTION docstore.get_document_by_tag(document_uuid uuid, tag text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.get_document_by_tag(document_uuid uuid, tag text) IS 'The version a tag points at, with its body. CD002 when untagged.';

CREATE FUNCTION docstore.get_document_by_tag_at(document_uuid uuid, tag text, as_of timestamp with time zone) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_version integer;
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of is required' USING ERRCODE = 'CD001';
    END IF;
    SELECT e.new_version INTO v_version FROM docstore.tag_event e
    WHERE e.document_uuid = document_uuid AND e.tag = tag AND e.created_at <= as_of
    ORDER BY e.created_at DESC, e.id DESC LIMIT 1;
    IF v_version IS NULL THEN
        RETURN NULL;  -- the tag pointed at nothing then
    END IF;
    RETURN docstore._version(document_uuid, v_version) || jsonb_build_object('tag', tag, 'as_of', as_of);
END
$$;

ALTER FUNCTION docstore.get_document_by_tag_at(document_uuid uuid, tag text, as_of timestamp with time zone) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.get_document_by_tag_at(document_uuid uuid, tag text, as_of timestamp with time zone) IS 'The version a tag pointed at at a moment, rebuilt from the tag events; NULL when it pointed at nothing.';

CREATE FUNCTION docstore.get_tagged(namespace text, type text, tag text, include_body boolean DEFAULT true) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdlstore_internal.input_text(tag, 'tag', 100);
    RETURN (SELECT coalesce(jsonb_agg(CASE WHEN include_body THEN t.document ELSE t.document - 'body' END
                                      ORDER BY t.document_uuid), '[]')
            FROM docstore.active_tag t
            JOIN docstore.documents d ON d.document_uuid = t.document_uuid
            WHERE t.tag = tag AND d.namespace = namespace AND d.type = type AND NOT t.is_deleted);
END
$$;

ALTER FUNCTION docstore.get_tagged(namespace text, type text, tag text, include_body boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.get_tagged(namespace text, type text, tag text, include_body boolean) IS 'Every live document of a type carrying a tag (e.g. every production agent config), the tagged version each.';

CREATE FUNCTION docstore.list_by_session(session_id text, types text[] DEFAULT NULL::text[], include_body boolean DEFAULT false, page_size integer DEFAULT 100, after text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    k record;
BEGIN
    PERFORM docstore._check_name(session_id, 'session_id');
    k := cdlstore_internal.page_key(after, page_size);
    RETURN cdlstore_internal.page((
        SELECT array_agg((docstore._item(h, CASE WHEN include_body THEN b.body END), h.created_at, h.id)::cdlstore_internal.page_row
                         ORDER BY h.created_at DESC, h.id DESC)
        FROM (SELECT h.* FROM docstore.document_header h
              WHERE h.session_id = session_id
                AND (types IS NULL OR h.type = ANY (types))
                AND (after IS NULL OR (h.created_at, h.id) < (k.created_at, k.id))
              ORDER BY h.created_at DESC, h.id DESC
              LIMIT page_size + 1) AS h
        LEFT JOIN docstore.document_body b ON include_body AND b.document_body_uuid = h.document_body_uuid), page_size);
END
$$;

ALTER FUNCTION docstore.list_by_session(session_id text, types text[], include_body boolean, page_size integer, after text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.list_by_session(session_id text, types text[], include_body boolean, page_size integer, after text) IS 'The versions written in a session, newest first: {items, next_cursor}; pass next_cursor as after for the next page (keyset on created_at and id).';

CREATE FUNCTION docstore.list_documents(namespace text, type text, metadata_filter jsonb DEFAULT NULL::jsonb, include_body boolean DEFAULT false, page_size integer DEFAULT 100, after text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    k record;
BEGIN
    PERFORM docstore._check_name(namespace, 'namespace');
    PERFORM docstore._check_name(type, 'type');
    k := cdlstore_internal.page_key(after, page_size);
    IF metadata_filter IS NOT NULL AND jsonb_typeof(metadata_filter) <> 'object' THEN
        RAISE EXCEPTION 'metadata_filter must be a JSON object' USING ERRCODE = 'CD001';
    END IF;
    RETURN cdlstore_internal.page((
        SELECT array_agg((docstore._item(h, CASE WHEN include_body THEN b.body END), h.created_at, h.id)::cdlstore_internal.page_row
                         ORDER BY h.created_at DESC, h.id DESC)
        FROM (SELECT h.* FROM docstore.document_header h
              JOIN docstore.documents d ON d.document_uuid = h.document_uuid AND d.latest_version = h.version
              WHERE h.namespace = namespace AND h.type = type AND d.deleted_at IS NULL
                AND (metadata_filter IS NULL OR h.metadata @> metadata_filter)
                AND (after IS NULL OR (h.created_at, h.id) < (k.created_at, k.id))
              ORDER BY h.created_at DESC, h.id DESC
              LIMIT page_size + 1) AS h
        LEFT JOIN docstore.document_body b ON include_body AND b.document_body_uuid = h.document_body_uuid), page_size);
END
$$;

ALTER FUNCTION docstore.list_documents(namespace text, type text, metadata_filter jsonb, include_body boolean, page_size integer, after text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.list_documents(namespace text, type text, metadata_filter jsonb, include_body boolean, page_size integer, after text) IS 'The newest versions of the live documents of a type, newest first, optionally those whose metadata contains metadata_filter: {items, next_cursor}.';

CREATE FUNCTION docstore.prune_versions(namespace text, type text, keep_last integer, older_than interval, dry_run boolean DEFAULT true) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    doomed jsonb;
    bodies uuid[];
    locked bigint[];
BEGIN
    PERFORM docstore._check_name(namespace, 'namespace');
    PERFORM docstore._check_name(type, 'type');
    IF keep_last IS NULL OR keep_last < 1 OR older_than IS NULL OR older_than < interval '0' OR dry_run IS NULL THEN
        RAISE EXCEPTION 'keep_last must be at least 1 and older_than a positive interval' USING ERRCODE = 'CD001';
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object('document_uuid', h.document_uuid, 'version', h.version)
                              ORDER BY h.document_uuid, h.version), '[]')
    INTO doomed
    FROM docstore.document_header h
    JOIN docstore.documents d ON d.document_uuid = h.document_uuid
    WHERE h.namespace = namespace AND h.type = type
      AND h.version <= d.latest_version - keep_last
      AND h.created_at < now() - older_than
      AND NOT EXISTS (SELECT FROM docstore.active_tag t
                      WHERE t.document_uuid = h.document_uuid AND t.document_version = h.version);
    IF NOT dry_run AND jsonb_array_length(doomed) > 0 THEN
        -- a version a tag is being set on is locked by it (KEY SHARE): skipped; the tags are
        -- checked again by the DELETE, a new statement that sees tags set meanwhile
        SELECT array_agg(h.id) INTO locked FROM (
            SELECT h.id FROM docstore.document_header h,
                             jsonb_to_recordset(doomed) AS x (document_uuid uuid, version integer)
            WHERE h.document_uuid = x.document_uuid AND h.version = x.version FOR UPDATE OF h SKIP LOCKED) AS h;
        WITH gone AS (
            DELETE FROM docstore.document_header h
            WHERE h.id = ANY (locked)
              AND NOT EXISTS (SELECT FROM docstore.active_tag t
                              WHERE t.document_uuid = h.document_uuid AND t.document_version = h.version)
            RETURNING h.document_uuid, h.version, h.document_body_uuid)
        SELECT array_agg(DISTINCT g.document_body_uuid),
               coalesce(jsonb_agg(jsonb_build_object('document_uuid', g.document_uuid, 'version', g.version)
                                  ORDER BY g.document_uuid, g.version), '[]')
        INTO bodies, doomed FROM gone g;
        PERFORM docstore._drop_orphan_bodies(bodies);
        PERFORM docstore._emit('prune', namespace, type, x.document_uuid, x.version, NULL, NULL, NULL)
        FROM jsonb_to_recordset(doomed) AS x (document_uuid uuid, version integer);
    END IF;
    RETURN jsonb_build_object('dry_run', dry_run, 'count', jsonb_array_length(doomed), 'versions', doomed);
END
$$;

ALTER FUNCTION docstore.prune_versions(namespace text, type text, keep_last integer, older_than interval, dry_run boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.prune_versions(namespace text, type text, keep_last integer, older_than interval, dry_run boolean) IS 'Retention: versions beyond the keep_last newest and older than older_than, never one a tag points to. With dry_run (the default) only reports them.';

CREATE FUNCTION docstore.purge_document(document_uuid uuid, actor text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    d record;
    bodies uuid[];
BEGIN
    PERFORM docstore._check_actor(actor, NULL, NULL);
    SELECT array_agg(DISTINCT h.document_body_uuid) INTO bodies
    FROM docstore.document_header h WHERE h.document_uuid = document_uuid;
    DELETE FROM docstore.documents x WHERE x.document_uuid = document_uuid
    RETURNING x.namespace, x.type INTO d;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM docstore._drop_orphan_bodies(bodies);
    PERFORM docstore._emit('purge', d.namespace, d.type, document_uuid, NULL, NULL, actor, NULL);
    RETURN true;
END
$$;

ALTER FUNCTION docstore.purge_document(document_uuid uuid, actor text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.purge_document(document_uuid uuid, actor text) IS 'Remove a document for good: versions, bodies no one else shares, tags and tag history.';

CREATE FUNCTION docstore.put_document(namespace text, type text, body jsonb, name text DEFAULT NULL::text, metadata jsonb DEFAULT '{}'::jsonb, created_by text DEFAULT NULL::text, created_by_type text DEFAULT NULL::text, session_id text DEFAULT NULL::text, document_uuid uuid DEFAULT NULL::uuid, expected_version integer DEFAULT NULL::integer) RETURNS docstore.document_ref
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_uuid uuid := document_uuid;
    v_version integer;
    v_doc record;
    v_body uuid;
    v_attempt integer := 0;
BEGIN
    PERFORM docstore._check_name(namespace, 'namespace');
    PERFORM docstore._check_name(type, 'type');
    PERFORM docstore._check_actor(created_by, created_by_type, session_id, 'created_by');
    IF body IS NULL THEN
        RAISE EXCEPTION 'body is required' USING ERRCODE = 'CD001';
    END IF;
    IF metadata IS NULL OR jsonb_typeof(metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = 'CD001';
    END IF;
    IF expected_version IS NOT NULL AND (v_uuid IS NULL OR expected_version < 1) THEN
        RAISE EXCEPTION 'expected_version needs the document_uuid of an existing document and is at least 1'
            USING ERRCODE = 'CD001';
    END IF;
    IF octet_length(body::text) > 16 * 1024 * 1024 THEN
        RAISE EXCEPTION 'document body is over 16 MiB' USING ERRCODE = 'CD007';
    END IF;

    IF v_uuid IS NULL THEN
        v_uuid := cdlstore_internal.hashed_uuid(hashtext(namespace));  -- routes with its namespace (docs/scale-out.md)
    END IF;
    LOOP
        -- the row lock on documents serializes the writers of one document: versions are gap-free
        UPDATE docstore.documents d SET latest_version = d.latest_version + 1
        WHERE d.document_uuid = v_uuid AND d.deleted_at IS NULL
          AND (expected_version IS NULL OR d.latest_version = expected_version)
        RETURNING d.latest_version, d.namespace, d.type INTO v_doc;
        EXIT WHEN FOUND;
        SELECT d.latest_version, d.deleted_at INTO v_doc FROM docstore.documents d WHERE d.document_uuid = v_uuid;
        IF v_doc.deleted_at IS NOT NULL THEN
            RAISE EXCEPTION 'document % is deleted', v_uuid USING ERRCODE = 'CD004';
        ELSIF v_doc.latest_version IS NOT NULL THEN
            RAISE EXCEPTION 'document % is at version %, not %', v_uuid, v_doc.latest_version, expected_version
                USING ERRCODE = 'CD003', HINT = 'Read the latest version and try again.';
        ELSIF expected_version IS NOT NULL THEN
            RAISE EXCEPTION 'document % not found', v_uuid USING ERRCODE = 'CD002';
        END IF;
        IF v_attempt > 0 THEN  -- the id exists but is not ours to see (another tenant's)
            RAISE EXCEPTION 'document % not found', v_uuid USING ERRCODE = 'CD002';
        END IF;
        PERFORM docstore._check_routes(v_uuid, namespace);
        INSERT INTO docstore.documents (document_uuid, namespace, type, latest_version)
        VALUES (v_uuid, namespace, type, 1)
        ON CONFLICT ON CONSTRAINT documents_pkey DO NOTHING;
        IF FOUND THEN
            SELECT 1 AS latest_version, put_document.namespace AS namespace, put_document.type AS type INTO v_doc;
            EXIT;
        END IF;  -- created meanwhile by another writer: take the next version after it
        v_attempt := v_attempt + 1;
    END LOOP;
    IF v_doc.namespace <> namespace OR v_doc.type <> type THEN
        RAISE EXCEPTION 'document % is a % in %, not a % in %', v_uuid, v_doc.type, v_doc.namespace, type, namespace
            USING ERRCODE = 'CD001';
    END IF;
    v_version := v_doc.latest_version;

    v_body := docstore._store_body(body);
    INSERT INTO docstore.document_header
        (namespace, type, document_uuid, version, name, metadata, document_body_uuid, created_by,
         created_by_type, session_id)
    VALUES (namespace, type, v_uuid, v_version, name, metadata, v_body, created_by, created_by_type, session_id);
    PERFORM docstore._emit('put', namespace, type, v_uuid, v_version, NULL, created_by, session_id);
    RETURN ROW(v_uuid, v_version)::docstore.document_ref;
END
$$;

ALTER FUNCTION docstore.put_document(namespace text, type text, body jsonb, name text, metadata jsonb, created_by text, created_by_type text, session_id text, document_uuid uuid, expected_version integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.put_document(namespace text, type text, body jsonb, name text, metadata jsonb, created_by text, created_by_type text, session_id text, document_uuid uuid, expected_version integer) IS 'Store a new document (version 1) or the next version of one. With expected_version the write succeeds only if that is still the newest version (CD003 otherwise). Returns (document_uuid, version).';

CREATE FUNCTION docstore.read_changes(consumer text, max_count integer DEFAULT 100) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', e.id, 'operation', e.operation, 'namespace', e.namespace, 'type', e.type,
                'document_uuid', e.document_uuid, 'version', e.version, 'tag', e.tag, 'actor', e.actor,
                'session_id', e.session_id, 'created_at', e.created_at) ORDER BY f.xid, f.id), '[]')
            FROM cdlstore_internal.feed_read('docstore', consumer, max_count) AS f
            JOIN docstore.change_event e ON e.id = f.id);
END
$$;

ALTER FUNCTION docstore.read_changes(consumer text, max_count integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.read_changes(consumer text, max_count integer) IS 'The next change events after the consumer''s acknowledged one (the same again until acknowledged). Nothing is skipped: an event of a transaction still running comes later; only transactions that write change events hold later ones back.';

CREATE FUNCTION docstore.remove_tag(document_uuid uuid, tag text, actor text DEFAULT NULL::text, actor_type text DEFAULT NULL::text, session_id text DEFAULT NULL::text, expected_version integer DEFAULT NULL::integer, force boolean DEFAULT false) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN docstore._change_tag(document_uuid, tag, NULL, actor, actor_type, session_id, expected_version, force);
END
$$;

ALTER FUNCTION docstore.remove_tag(document_uuid uuid, tag text, actor text, actor_type text, session_id text, expected_version integer, force boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.remove_tag(document_uuid uuid, tag text, actor text, actor_type text, session_id text, expected_version integer, force boolean) IS 'Remove a tag; returns the version it pointed at (NULL when there was none).';

CREATE FUNCTION docstore.set_retention_policy(namespace text, type text, keep_last integer, older_than interval DEFAULT '00:00:00'::interval) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
BEGIN
    PERFORM docstore._check_name(namespace, 'namespace');
    PERFORM docstore._check_name(type, 'type');
    IF keep_last IS NULL THEN  -- no policy: nothing is pruned any more
        DELETE FROM docstore.retention_policy p WHERE p.namespace = namespace AND p.type = type;
        RETURN NULL;
    END IF;
    IF keep_last < 1 OR older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'keep_last must be at least 1 and older_than a positive interval' USING ERRCODE = 'CD001';
    END IF;
    INSERT INTO docstore.retention_policy AS p (namespace, type, keep_last, older_than)
    VALUES (namespace, type, keep_last, older_than)
    ON CONFLICT ON CONSTRAINT retention_policy_key
    DO UPDATE SET keep_last = excluded.keep_last, older_than = excluded.older_than, updated_at = now();
    RETURN jsonb_build_object('namespace', namespace, 'type', type, 'keep_last', keep_last,
                              'older_than', older_than);
END
$$;

ALTER FUNCTION docstore.set_retention_policy(namespace text, type text, keep_last integer, older_than interval) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.set_retention_policy(namespace text, type text, keep_last integer, older_than interval) IS 'Keep the keep_last newest versions of each document of (namespace, type), and any version younger than older_than or pointed to by a tag; apply_retention prunes the rest. keep_last NULL removes the policy.';

CREATE FUNCTION docstore.set_tag(document_uuid uuid, version integer, tag text, actor text DEFAULT NULL::text, actor_type text DEFAULT NULL::text, session_id text DEFAULT NULL::text, expected_version integer DEFAULT NULL::integer, force boolean DEFAULT false) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF version IS NULL THEN
        RAISE EXCEPTION 'version is required (remove_tag removes a tag)' USING ERRCODE = 'CD001';
    END IF;
    RETURN docstore._change_tag(document_uuid, tag, version, actor, actor_type, session_id, expected_version, force);
END
$$;

ALTER FUNCTION docstore.set_tag(document_uuid uuid, version integer, tag text, actor text, actor_type text, session_id text, expected_version integer, force boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.set_tag(document_uuid uuid, version integer, tag text, actor text, actor_type text, session_id text, expected_version integer, force boolean) IS 'Point a tag at a version. With expected_version it is a compare-and-swap (CD003 when the tag points elsewhere). Protected tags need force; immutable ones never move (CD006). Returns the version it pointed at before (NULL when new).';

CREATE FUNCTION docstore.tag_history(document_uuid uuid, tag text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'docstore', 'pg_temp'
    AS $$
#variable_conflict use_variable
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF NOT EXISTS (SELECT FROM docstore.documents d WHERE d.document_uuid = document_uuid) THEN
        RAISE EXCEPTION 'document % not found', document_uuid USING ERRCODE = 'CD002';
    END IF;
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'operation', e.operation, 'old_version', e.old_version, 'new_version', e.new_version,
                'actor', e.actor, 'actor_type', e.actor_type, 'session_id', e.session_id,
                'created_at', e.created_at) ORDER BY e.created_at, e.id), '[]')
            FROM docstore.tag_event e WHERE e.document_uuid = document_uuid AND e.tag = tag);
END
$$;

ALTER FUNCTION docstore.tag_history(document_uuid uuid, tag text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION docstore.tag_history(document_uuid uuid, tag text) IS 'Every change of a tag of a document, oldest first.';

CREATE FUNCTION game._as_document(container text, p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path TO 'game', 'pg_temp'
    AS $$
BEGIN
    -- the relational record in the document's shape: the fields both copies hold
    RETURN CASE container
    WHEN 'accounts' THEN (SELECT jsonb_build_object('id', a.external_id, 'email', a.email,
                                                    'displayName', a.display_name, 'status', a.status)
                          FROM game.accounts a WHERE a.id = p_id)
    WHEN 'user_profiles' THEN (
        SELECT jsonb_build_object('id', p.external_id, 'accountId', a.external_id, 'name', p.name,
                                  'ageGroup', p.age_group, 'avatar', p.avatar, 'preferences', p.preferences,
                                  'earnedBadges', (SELECT coalesce(jsonb_agg(b.badge ORDER BY b.badge), '[]')
                                                   FROM game.user_badges b WHERE b.profile_id = p.id))
        FROM game.user_profiles p JOIN game.accounts a ON a.id = p.account_id WHERE p.id = p_id)
    WHEN 'game_sessions' THEN (
        SELECT jsonb_build_object('id', s.external_id, 'accountId', a.external_id, 'profileId', p.external_id,
                                  'scenarioId', s.scenario_id, 'status', s.status, 'currentScene', s.current_scene,
                                  'choicesMade', s.choices_made, 'compassValues', s.compass_values)
        FROM game.game_sessions s JOIN game.accounts a ON a.id = s.account_id
        JOIN game.user_profiles p ON p.id = s.profile_id WHERE s.id = p_id)
    ELSE (
        SELECT jsonb_build_object('id', x.external_id, 'profileId', p.external_id, 'scenarioId', x.scenario_id,
                                  'compassAxis', x.compass_axis, 'score', x.score, 'sessionId', s.external_id)
        FROM game.player_scenario_scores x JOIN game.user_profiles p ON p.id = x.profile_id
        LEFT JOIN game.game_sessions s ON s.id = x.session_id WHERE x.id = p_id)
    END;
END
$$;

ALTER FUNCTION game._as_document(container text, p_id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game._as_document(container text, p_id bigint) IS 'A relational record in the shape of its document (the compared fields).';

CREATE FUNCTION game._container(container text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO 'game', 'pg_temp'
    AS $$
DECLARE
    v text := CASE container WHEN 'userProfiles' THEN 'user_profiles' WHEN 'gameSessions' THEN 'game_sessions'
                             WHEN 'playerScenarioScores' THEN 'player_scenario_scores' ELSE container END;
BEGIN
    IF v IS NULL OR v NOT IN ('accounts', 'user_profiles', 'game_sessions', 'player_scenario_scores') THEN
        RAISE EXCEPTION 'unknown container %', coalesce(quote_literal(container), 'NULL') USING ERRCODE = 'CD001',
            DETAIL = 'Known: accounts, user_profiles, game_sessions, player_scenario_scores.';
    END IF;
    RETURN v;
END
$$;

ALTER FUNCTION game._container(container text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game._container(container text) IS 'The canonical name of a container (camelCase accepted); CD001 when unknown.';

CREATE FUNCTION game._end_session(p_id bigint, p_expected integer, p_status text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO 'game', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    s game.game_sessions := game._session_for_change(p_id, p_expected);
BEGIN
    UPDATE game.game_sessions x SET status = p_status, completed_at = now(), updated_at = now(), version = x.version + 1
    WHERE x.id = s.id RETURNING * INTO s;
    RETURN game._session_json(s);
END
$$;

ALTER FUNCTION game._end_session(p_id bigint, p_expected integer, p_status text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game._end_session(p_id bigint, p_expected integer, p_status text) IS 'End an active session as completed or abandoned.';

CREATE FUNCTION game._import_one(container text, doc jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO 'game', 'pg_temp'
    AS $_$
DECLARE
    v_ext text := doc ->> 'id';
    v_id bigint;
    v_before jsonb;
BEGIN
    IF jsonb_typeof(doc) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'a document must be a JSON object' USING ERRCODE = 'CD001';
    END IF;
    IF coalesce(jsonb_typeof(doc -> 'id'), 'missing') NOT IN ('string', 'number') OR v_ext = '' THEN
        RAISE EXCEPTION 'id is missing' USING ERRCODE = 'CD001';
    END IF;
    EXECUTE format('SELECT id FROM game.%I WHERE external_id = $1', container) INTO v_id USING v_ext;
    v_before := CASE WHEN v_id IS NULL THEN NULL ELSE game._as_document(container, v_id) END;
    CASE container
    WHEN 'accounts' THEN
        IF jsonb_typeof(doc -> 'email') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'email must be a string' USING ERRCODE = 'CD001';
        END IF;
        INSERT INTO game.accounts AS a (external_id, email, display_name, status)
        VALUES (v_ext, doc ->> 'email', doc ->> 'displayName', coalesce(doc ->> 'status', 'active'))
        ON CONFLICT (external_id, tenant) DO UPDATE
        SET email = EXCLUDED.email, display_name = EXCLUDED.display_name, status = EXCLUDED.status, updated_at = now()
        RETURNING a.id INTO v_id;
    WHEN 'user_profiles' THEN
        IF jsonb_typeof(doc -> 'preferences') NOT IN ('object', 'null')
           OR jsonb_typeof(doc -> 'earnedBadges') NOT IN ('array', 'null') THEN
            RAISE EXCEPTION 'preferences must be an object and earnedBadges a list' USING ERRCODE = 'CD001';
        END IF;
        v_id := game._import_profile(v_ext, doc);
    WHEN 'game_sessions' THEN
        IF jsonb_typeof(doc -> 'choicesMade') NOT IN ('array', 'null')
           OR jsonb_typeof(doc -> 'compassValues') NOT IN ('object', 'null') THEN
            RAISE EXCEPTION 'choicesMade must be a list and compassValues an object' USING ERRCODE = 'CD001';
        END IF;
        INSERT INTO game.game_sessions AS s (external_id, account_id, profile_id, scenario_id, status, current_scene,
                                             choices_made, compass_values)
        VALUES (v_ext, game._ref('accounts', doc ->> 'accountId', 'accountId'),
                game._ref('user_profiles', doc ->> 'profileId', 'profileId'), doc ->> 'scenarioId',
                coalesce(doc ->> 'status', 'active'), doc ->> 'currentScene',
                coalesce(doc -> 'choicesMade', '[]'), coalesce(doc -> 'compassValues', '{}'))
        ON CONFLICT (external_id, tenant) DO UPDATE
        SET account_id = EXCLUDED.account_id, profile_id = EXCLUDED.profile_id, scenario_id = EXCLUDED.scenario_id,
            status = EXCLUDED.status, current_scene = EXCLUDED.current_scene, choices_made = EXCLUDED.choices_made,
            compass_values = EXCLUDED.compass_values, updated_at = now(),
            version = s.version + CASE WHEN (s.status, s.current_scene, s.choices_made, s.compass_values)
                                            IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.current_scene,
                                                              EXCLUDED.choices_made, EXCLUDED.compass_values)
                                       THEN 1 ELSE 0 END
        RETURNING s.id INTO v_id;
    ELSE
        IF jsonb_typeof(doc -> 'score') IS DISTINCT FROM 'number' THEN
            RAISE EXCEPTION 'score must be a number' USING ERRCODE = 'CD001';
        END IF;
        INSERT INTO game.player_scenario_scores AS x (external_id, profile_id, scenario_id, compass_axis, score, session_id)
        VALUES (v_ext, game._ref('user_profiles', doc ->> 'profileId', 'profileId'), doc ->> 'scenarioId',
                doc ->> 'compassAxis', (doc ->> 'score')::numeric,
                CASE WHEN doc ->> 'sessionId' IS NOT NULL THEN game._ref('game_sessions', doc ->> 'sessionId', 'sessionId') END)
        ON CONFLICT (external_id, tenant) DO UPDATE
        SET profile_id = EXCLUDED.profile_id, scenario_id = EXCLUDED.scenario_id, compass_axis = EXCLUDED.compass_axis,
            score = EXCLUDED.score, session_id = EXCLUDED.session_id
        RETURNING x.id INTO v_id;
    END CASE;
    RETURN CASE WHEN v_before IS NULL THEN 'inserted'
                WHEN v_before = game._as_document(container, v_id) THEN 'unchanged' ELSE 'updated' END;
END
$_$;

ALTER FUNCTION game._import_one(container text, doc jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game._import_one(container text, doc jsonb) IS 'Upsert one document of a container; raises CD001 (or a constraint error) when it does not fit.';

CREATE FUNCTION game._import_profile(p_external_id text, doc jsonb) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'game', 'pg_temp'
    AS $$
DECLARE
    v_id bigint;
    badge jsonb;
BEGIN
    INSERT INTO game.user_profiles AS p (external_id, account_id, name, age_group, avatar, preferences)
    VALUES (p_external_id, game._ref('accounts', doc ->> 'accountId', 'accountId'), doc ->> 'name',
            doc ->> 'ageGroup', doc ->> 'avatar', coalesce(doc -> 'preferences', '{}'))
    ON CONFLICT (external_id, tenant) DO UPDATE
    SET account_id = EXCLUDED.account_id, name = EXCLUDED.name, age_group = EXCLUDED.age_group,
        avatar = EXCLUDED.avatar, preferences = EXCLUDED.preferences
    RETURNING p.id INTO v_id;
    DELETE FROM game.user_badges b WHERE b.profile_id = v_id
      AND NOT b.badge IN (SELECT e FROM jsonb_array_elements_text(
              game._normalized('user_profiles', doc) -> 'earnedBadges') e);
    FOR badge IN SELECT * FROM jsonb_array_elements(coalesce(doc -> 'earnedBadges', '[]')) LOOP
        INSERT INTO game.user_badges (profile_id, badge, axis, earned_at)
        VALUES (v_id, coalesce(badge ->> 'badge', badge ->> 'badgeId', badge #>> '{}'), badge ->> 'axis',
                coalesce((badge ->> 'earnedAt')::timestamptz, now()))
        ON CONFLICT ON CONSTRAINT user_badges_profile_badge_key DO UPDATE SET axis = EXCLUDED.axis;
    END LOOP;
    RETURN v_id;
END
$$;

ALTER FUNCTION game._import_profile(p_external_id text, doc jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game._import_profile(p_external_id text, doc jsonb) IS 'Upsert one checked user_profiles document with its earned badges; returns the profile id.';

CREATE FUNCTION game._normalized(container text, doc jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    AS $$
    -- a document as compared: embedded badges by name, in order
    SELECT CASE WHEN container = 'user_profiles' THEN doc || jsonb_build_object('earnedBadges',
               (SELECT coalesce(jsonb_agg(coalesce(b ->> 'badge', b ->> 'badgeId', b #>> '{}')
                                          ORDER BY coalesce(b ->> 'badge', b ->> 'badgeId', b #>> '{}')), '[]')
                FROM jsonb_array_elements(CASE WHEN jsonb_typeof(doc -> 'earnedBadges') = 'array'
                                               THEN doc -> 'earnedBadges' ELSE '[]' END) b))
           ELSE doc END
$$;

ALTER FUNCTION game._normalized(container text, doc jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game._normalized(container text, doc jsonb) IS 'A document as compare_with_documents sees it.';

CREATE FUNCTION game._ref(tbl text, external_id text, field text) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path TO 'game', 'pg_temp'
    AS $_$
DECLARE
    v_id bigint;
BEGIN
    IF external_id IS NULL THEN
        RAISE EXCEPTION '% is missing', field USING ERRCODE = 'CD001';
    END IF;
    EXECUTE format('SELECT id FROM game.%I WHERE external_id = $1', tbl) INTO v_id USING external_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION '% % is not imported', field, external_id USING ERRCODE = 'CD001';
    END IF;
    RETURN v_id;
END
$_$;

ALTER FUNCTION game._ref(tbl text, external_id text, field text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game._ref(tbl text, external_id text, field text) IS 'The id of an imported record by its document id; CD001 when absent.';

CREATE TABLE game.game_sessions (
    id bigint NOT NULL,
    external_id text,
    account_id bigint NOT NULL,
    profile_id bigint NOT NULL,
    scenario_id text NOT NULL,
    status text DEFAULT 'active'::text NOT NULL,
    current_scene text,
    choices_made jsonb DEFAULT '[]'::jsonb NOT NULL,
    compass_values jsonb DEFAULT '{}'::jsonb NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT game_sessions_choices_made_check CHECK ((jsonb_typeof(choices_made) = 'array'::text)),
    CONSTRAINT game_sessions_compass_values_check CHECK ((jsonb_typeof(compass_values) = 'object'::text)),
    CONSTRAINT game_sessions_scenario_id_check CHECK ((scenario_id <> ''::text)),
    CONSTRAINT game_sessions_status_check CHECK ((status = ANY (ARRAY['active'::text, 'completed'::text, 'abandoned'::text]))),
    CONSTRAINT game_sessions_version_check CHECK ((version > 0))
);

ALTER TABLE ONLY game.game_sessions FORCE ROW LEVEL SECURITY;

ALTER TABLE game.game_sessions OWNER TO cdlstore_owner;

CREATE FUNCTION game._session_for_change(p_id bigint, p_expected integer) RETURNS game.game_sessions
    LANGUAGE plpgsql
    SET search_path TO 'game', 'pg_temp'
    AS $$
DECLARE
    s game.game_sessions;
BEGIN
    SELECT * INTO s FROM game.game_sessions x WHERE x.id = p_id FOR UPDATE;
    IF s.id IS NULL THEN
        RAISE EXCEPTION 'game session % not found', p_id USING ERRCODE = 'CD002';
    ELSIF p_expected IS NOT NULL AND s.version <> p_expected THEN
        RAISE EXCEPTION 'game session % is at version %, not %', p_id, s.version, p_expected
            USING ERRCODE = 'CD003', HINT = 'Reload the session and try again.';
    ELSIF s.status <> 'active' THEN
        RAISE EXCEPTION 'game session % is %', p_id, s.status USING ERRCODE = 'CD004';
    END IF;
    RETURN s;
END
$$;

ALTER FUNCTION game._session_for_change(p_id bigint, p_expected integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game._session_for_change(p_id bigint, p_expected integer) IS 'Lock an active session at the expected version (CD002, CD003, CD004).';

CREATE FUNCTION game._session_json(s game.game_sessions) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT to_jsonb(s)
$$;

ALTER FUNCTION game._session_json(s game.game_sessions) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game._session_json(s game.game_sessions) IS 'A game session as the API returns it.';

CREATE FUNCTION game.abandon_game_session(session_id bigint, expected_version integer DEFAULT NULL::integer) RETURNS jsonb
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $$
    SELECT game._end_session(session_id, expected_version, 'abandoned')
    WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
$$;

ALTER FUNCTION game.abandon_game_session(session_id bigint, expected_version integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.abandon_game_session(session_id bigint, expected_version integer) IS 'An active session is abandoned. CD004 otherwise.';

CREATE FUNCTION game.award_badge(profile_id bigint, badge text, axis text DEFAULT NULL::text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdlstore_internal.input_text(badge, 'badge'), cdlstore_internal.input_text(axis, 'axis', 200, false);
    IF NOT EXISTS (SELECT FROM game.user_profiles p WHERE p.id = award_badge.profile_id) THEN
        RAISE EXCEPTION 'profile % not found', profile_id USING ERRCODE = 'CD002';
    END IF;
    INSERT INTO game.user_badges (profile_id, badge, axis) VALUES (profile_id, badge, axis)
    ON CONFLICT ON CONSTRAINT user_badges_profile_badge_key DO NOTHING;
    RETURN FOUND;
END
$$;

ALTER FUNCTION game.award_badge(profile_id bigint, badge text, axis text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.award_badge(profile_id bigint, badge text, axis text) IS 'Award a badge; idempotent (false when the profile had it).';

CREATE FUNCTION game.compare_with_documents(container text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_container text := game._container(container);
    page jsonb;
    after text;
    docs jsonb := '{}'::jsonb;
    rel jsonb := '{}'::jsonb;
    differences jsonb := '[]'::jsonb;
BEGIN
    -- the latest version of every live document of the container in docstore (namespace game)
    LOOP
        page := docstore.list_documents('game', v_container, NULL, true, 1000, after);
        SELECT docs || coalesce(jsonb_object_agg(i #>> '{body,id}', game._normalized(v_container, i -> 'body')), '{}')
        INTO docs FROM jsonb_array_elements(page -> 'items') i WHERE i #>> '{body,id}' IS NOT NULL;
        after := page ->> 'next_cursor';
        EXIT WHEN after IS NULL;
    END LOOP;
    EXECUTE format('SELECT coalesce(jsonb_object_agg(t.external_id, game._as_document(%L, t.id)), ''{}'')
                    FROM game.%I t WHERE t.external_id IS NOT NULL', v_container, v_container) INTO rel;
    SELECT coalesce(jsonb_agg(d ORDER BY d ->> 'id', d ->> 'field'), '[]') INTO differences FROM (
        SELECT jsonb_build_object('id', k, 'problem', 'missing_in_relational') AS d
        FROM jsonb_object_keys(docs) k WHERE NOT rel ? k
        UNION ALL
        SELECT jsonb_build_object('id', k, 'problem', 'missing_in_documents')
        FROM jsonb_object_keys(rel) k WHERE NOT docs ? k
        UNION ALL
        SELECT jsonb_build_object('id', r.key, 'problem', 'differs', 'field', f.key,
                                  'relational', f.value, 'document', docs -> r.key -> f.key)
        FROM jsonb_each(rel) r CROSS JOIN LATERAL jsonb_each(r.value) f
        WHERE docs ? r.key AND docs -> r.key ? f.key  -- the fields the document holds
          AND f.value IS DISTINCT FROM docs -> r.key -> f.key) x;
    RETURN jsonb_build_object('container', v_container, 'documents', (SELECT count(*) FROM jsonb_object_keys(docs)),
                              'records', (SELECT count(*) FROM jsonb_object_keys(rel)), 'differences', differences);
END
$$;

ALTER FUNCTION game.compare_with_documents(container text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.compare_with_documents(container text) IS 'Every record whose relational copy differs from its latest docstore document (namespace game, type = container): missing on either side, or each field that differs.';

CREATE FUNCTION game.complete_game_session(session_id bigint, expected_version integer DEFAULT NULL::integer) RETURNS jsonb
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $$
    SELECT game._end_session(session_id, expected_version, 'completed')
    WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
$$;

ALTER FUNCTION game.complete_game_session(session_id bigint, expected_version integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.complete_game_session(session_id bigint, expected_version integer) IS 'An active session is completed. CD004 otherwise.';

CREATE FUNCTION game.create_account(email text, display_name text DEFAULT NULL::text, external_id text DEFAULT NULL::text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $_$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
BEGIN
    PERFORM cdlstore_internal.input_text(email, 'email', 254),
            cdlstore_internal.input_text(external_id, 'external_id', 200, false);
    IF email IS NULL OR email !~ '^[^@\s]+@[^@\s]+$' THEN
        RAISE EXCEPTION 'invalid email %', coalesce(quote_literal(email), 'NULL') USING ERRCODE = 'CD001';
    END IF;
    IF EXISTS (SELECT FROM game.accounts a WHERE lower(a.email) = lower(create_account.email)) THEN
        RAISE EXCEPTION 'an account with email % exists already', email USING ERRCODE = 'CD005';
    END IF;
    INSERT INTO game.accounts (email, display_name, external_id) VALUES (email, display_name, external_id)
    RETURNING id INTO v_id;
    RETURN v_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'an account with email % or id % exists already', email, external_id USING ERRCODE = 'CD005';
END
$_$;

ALTER FUNCTION game.create_account(email text, display_name text, external_id text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.create_account(email text, display_name text, external_id text) IS 'A new account; email unique whatever its case (CD005 when taken). Returns its id.';

CREATE FUNCTION game.create_profile(account_id bigint, name text, age_group text DEFAULT NULL::text, avatar text DEFAULT NULL::text, preferences jsonb DEFAULT '{}'::jsonb, external_id text DEFAULT NULL::text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
BEGIN
    PERFORM cdlstore_internal.input_text(external_id, 'external_id', 200, false);
    IF coalesce(btrim(name), '') = '' OR preferences IS NULL OR jsonb_typeof(preferences) <> 'object' THEN
        RAISE EXCEPTION 'a profile needs a name, and preferences must be a JSON object' USING ERRCODE = 'CD001';
    END IF;
    IF NOT EXISTS (SELECT FROM game.accounts a WHERE a.id = create_profile.account_id) THEN
        RAISE EXCEPTION 'account % not found', account_id USING ERRCODE = 'CD002';
    END IF;
    INSERT INTO game.user_profiles (account_id, name, age_group, avatar, preferences, external_id)
    VALUES (account_id, name, age_group, avatar, preferences, external_id)
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

ALTER FUNCTION game.create_profile(account_id bigint, name text, age_group text, avatar text, preferences jsonb, external_id text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.create_profile(account_id bigint, name text, age_group text, avatar text, preferences jsonb, external_id text) IS 'A profile of an account. Returns its id.';

CREATE FUNCTION game.get_game_session(session_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    result jsonb;
BEGIN
    SELECT game._session_json(s) INTO result FROM game.game_sessions s WHERE s.id = get_game_session.session_id;
    IF result IS NULL THEN
        RAISE EXCEPTION 'game session % not found', session_id USING ERRCODE = 'CD002';
    END IF;
    RETURN result;
END
$$;

ALTER FUNCTION game.get_game_session(session_id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.get_game_session(session_id bigint) IS 'A game session. CD002 when unknown.';

CREATE FUNCTION game.get_profile_compass_totals(profile_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF NOT EXISTS (SELECT FROM game.user_profiles p WHERE p.id = get_profile_compass_totals.profile_id) THEN
        RAISE EXCEPTION 'profile % not found', profile_id USING ERRCODE = 'CD002';
    END IF;
    RETURN (SELECT coalesce(jsonb_object_agg(t.axis, t.total ORDER BY t.axis), '{}')
            FROM (SELECT s.compass_axis AS axis, sum(s.score) AS total FROM game.player_scenario_scores s
                  WHERE s.profile_id = get_profile_compass_totals.profile_id GROUP BY 1) t);
END
$$;

ALTER FUNCTION game.get_profile_compass_totals(profile_id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.get_profile_compass_totals(profile_id bigint) IS 'A profile''s score per compass axis over every scenario.';

CREATE FUNCTION game.get_scenario_leaderboard(scenario_id text, axis text, max_rows integer DEFAULT 10) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdlstore_internal.input_text(scenario_id, 'scenario_id'), cdlstore_internal.input_text(axis, 'axis');
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000' USING ERRCODE = 'CD001';
    END IF;
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('rank', b.rank, 'profile_id', b.profile_id,
                                                         'name', b.name, 'score', b.score) ORDER BY b.rank, b.profile_id), '[]')
            FROM (SELECT rank() OVER (ORDER BY s.score DESC) AS rank, s.profile_id, p.name, s.score
                  FROM game.player_scenario_scores s JOIN game.user_profiles p ON p.id = s.profile_id
                  WHERE s.scenario_id = get_scenario_leaderboard.scenario_id AND s.compass_axis = axis
                  ORDER BY s.score DESC LIMIT max_rows) b);
END
$$;

ALTER FUNCTION game.get_scenario_leaderboard(scenario_id text, axis text, max_rows integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.get_scenario_leaderboard(scenario_id text, axis text, max_rows integer) IS 'The best scores of a scenario on one compass axis.';

CREATE FUNCTION game.import_documents(container text, documents jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_container text := game._container(container);
    doc jsonb;
    status text;
    report jsonb := '[]'::jsonb;
BEGIN
    IF documents IS NULL OR jsonb_typeof(documents) <> 'array' THEN
        RAISE EXCEPTION 'documents must be a JSON array' USING ERRCODE = 'CD001';
    END IF;
    FOR doc IN SELECT * FROM jsonb_array_elements(documents) LOOP
        BEGIN  -- each document on its own: a bad one is rejected whole, the others go on
            status := game._import_one(v_container, doc);
            report := report || jsonb_build_object('id', doc ->> 'id', 'status', status);
        EXCEPTION WHEN SQLSTATE 'CD001' OR not_null_violation OR check_violation OR unique_violation
                       OR foreign_key_violation OR invalid_text_representation OR invalid_datetime_format
                       OR datetime_field_overflow OR numeric_value_out_of_range THEN
            report := report || jsonb_build_object('id', CASE WHEN jsonb_typeof(doc) = 'object' THEN doc ->> 'id' END,
                                                   'status', 'rejected', 'reason', SQLERRM);
        END;
    END LOOP;
    RETURN jsonb_build_object('container', v_container,
        'inserted', (SELECT count(*) FROM jsonb_array_elements(report) r WHERE r ->> 'status' = 'inserted'),
        'updated', (SELECT count(*) FROM jsonb_array_elements(report) r WHERE r ->> 'status' = 'updated'),
        'unchanged', (SELECT count(*) FROM jsonb_array_elements(report) r WHERE r ->> 'status' = 'unchanged'),
        'rejected', (SELECT count(*) FROM jsonb_array_elements(report) r WHERE r ->> 'status' = 'rejected'),
        'documents', report);
END
$$;

ALTER FUNCTION game.import_documents(container text, documents jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.import_documents(container text, documents jsonb) IS 'Upsert exported documents of a container, idempotently; per document inserted, updated, unchanged or rejected with the reason (a rejected document writes nothing).';

CREATE FUNCTION game.record_scene_choice(session_id bigint, expected_version integer, scene_id text, choice text, compass_deltas jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    s game.game_sessions;
BEGIN
    IF expected_version IS NULL OR coalesce(btrim(scene_id), '') = '' OR choice IS NULL THEN
        RAISE EXCEPTION 'expected_version, scene_id and choice are required' USING ERRCODE = 'CD001';
    END IF;
    IF compass_deltas IS NULL OR jsonb_typeof(compass_deltas) <> 'object'
       OR EXISTS (SELECT FROM jsonb_each(compass_deltas) d WHERE jsonb_typeof(d.value) <> 'number') THEN
        RAISE EXCEPTION 'compass_deltas must map each axis to a number' USING ERRCODE = 'CD001';
    END IF;
    PERFORM cdlstore_internal.input_text(d.key, 'a compass axis') FROM jsonb_each(compass_deltas) d;
    PERFORM cdlstore_internal.input_text(scene_id, 'scene_id'), cdlstore_internal.input_text(choice, 'choice', 1000, false);
    s := game._session_for_change(session_id, expected_version);
    UPDATE game.game_sessions x
    SET current_scene = scene_id, version = x.version + 1, updated_at = now(),
        choices_made = x.choices_made || jsonb_build_array(jsonb_build_object('scene', scene_id, 'choice', choice,
                                                                              'at', now())),
        compass_values = x.compass_values || (
            SELECT coalesce(jsonb_object_agg(d.key, coalesce((x.compass_values ->> d.key)::numeric, 0) + d.value::numeric), '{}')
            FROM jsonb_each(compass_deltas) d)
    WHERE x.id = s.id RETURNING * INTO s;
    INSERT INTO game.player_scenario_scores AS p (profile_id, scenario_id, compass_axis, score, session_id)
    SELECT s.profile_id, s.scenario_id, d.key, d.value::numeric, s.id FROM jsonb_each(compass_deltas) d
    ON CONFLICT ON CONSTRAINT player_scenario_scores_key DO UPDATE
    SET score = p.score + EXCLUDED.score, session_id = EXCLUDED.session_id, recorded_at = now();
    RETURN game._session_json(s);
END
$$;

ALTER FUNCTION game.record_scene_choice(session_id bigint, expected_version integer, scene_id text, choice text, compass_deltas jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.record_scene_choice(session_id bigint, expected_version integer, scene_id text, choice text, compass_deltas jsonb) IS 'One transaction: the session moves to the scene (choices, compass values, version + 1) and the profile''s scenario scores add the deltas. A stale expected_version raises CD003.';

CREATE FUNCTION game.start_game_session(profile_id bigint, scenario_id text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'game', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    s game.game_sessions;
BEGIN
    PERFORM cdlstore_internal.input_text(scenario_id, 'scenario_id');
    INSERT INTO game.game_sessions (account_id, profile_id, scenario_id)
    SELECT p.account_id, p.id, scenario_id FROM game.user_profiles p WHERE p.id = start_game_session.profile_id
    RETURNING * INTO s;
    IF s.id IS NULL THEN
        RAISE EXCEPTION 'profile % not found', profile_id USING ERRCODE = 'CD002';
    END IF;
    RETURN game._session_json(s);
END
$$;

ALTER FUNCTION game.start_game_session(profile_id bigint, scenario_id text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION game.start_game_session(profile_id bigint, scenario_id text) IS 'Start a session of a profile in a scenario (version 1).';

CREATE FUNCTION ops._day(day date) RETURNS tstzrange
    LANGUAGE plpgsql STABLE
    SET search_path TO 'ops', 'pg_temp'
    AS $$
BEGIN
    IF day IS NULL THEN
        RAISE EXCEPTION 'an export needs a day' USING ERRCODE = 'CD001';
    END IF;
    RETURN tstzrange(day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
END
$$;

ALTER FUNCTION ops._day(day date) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._day(day date) IS 'The UTC day an export covers.';

CREATE FUNCTION ops._event(p_type text, p_entity_type text, p_entity_id text, p_workflow_id uuid, p_agent_id text, p_session_id text, p_source text, p_payload jsonb, p_severity text, p_notify boolean DEFAULT true) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'ops', 'pg_temp'
    AS $$
DECLARE
    v_id bigint;
BEGIN
    PERFORM cdlstore_internal.input_text(p_type, 'event_type'),
            cdlstore_internal.input_text(p_entity_type, 'entity_type', 200, false),
            cdlstore_internal.input_text(p_entity_id, 'entity_id', 200, false),
            cdlstore_internal.input_text(p_agent_id, 'agent_id', 200, false),
            cdlstore_internal.input_text(p_session_id, 'session_id', 200, false),
            cdlstore_internal.input_text(p_source, 'source', 200, false);
    IF p_severity IS NULL OR p_severity NOT IN ('debug', 'info', 'warning', 'error', 'critical') THEN
        RAISE EXCEPTION 'invalid severity %', coalesce(quote_literal(p_severity), 'NULL') USING ERRCODE = 'CD001',
            DETAIL = 'Allowed: debug, info, warning, error, critical.';
    END IF;
    PERFORM cdlstore_internal.feed_announce();
    INSERT INTO ops.events (event_type, entity_type, entity_id, workflow_id, agent_id, session_id, source,
                            payload, severity)
    VALUES (p_type, p_entity_type, p_entity_id, p_workflow_id, p_agent_id, p_session_id, p_source,
            coalesce(p_payload, '{}'), p_severity)
    RETURNING event_id INTO v_id;
    IF p_notify THEN
        PERFORM pg_notify('cdlstore_ops_events', json_build_object(
            'event_id', v_id, 'event_type', p_type, 'entity_type', p_entity_type, 'entity_id', p_entity_id,
            'severity', p_severity)::text);
    END IF;
    RETURN v_id;
END
$$;

ALTER FUNCTION ops._event(p_type text, p_entity_type text, p_entity_id text, p_workflow_id uuid, p_agent_id text, p_session_id text, p_source text, p_payload jsonb, p_severity text, p_notify boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._event(p_type text, p_entity_type text, p_entity_id text, p_workflow_id uuid, p_agent_id text, p_session_id text, p_source text, p_payload jsonb, p_severity text, p_notify boolean) IS 'Append an event and (unless p_notify is false) NOTIFY cdlstore_ops_events, in the caller''s transaction. Task events are not notified: NOTIFY serializes commits, and the queue is the hot path.';

CREATE FUNCTION ops._task_id(hash integer) RETURNS uuid
    LANGUAGE sql
    AS $$
    -- the milliseconds once, as 12 hex digits split 8-4; inlined (no FROM, no SET clause): no
    -- function call per row
    SELECT (overlay(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
                    PLACING '-' FROM 9 FOR 0)
            || '-7' || substr(cdlstore_internal.hashed_uuid(hash)::text, 16))::uuid
$$;

ALTER FUNCTION ops._task_id(hash integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._task_id(hash integer) IS 'A task id: the UUIDv7 layout (the milliseconds of its making first), random bits, the routing hash in the last 10 bits (as cdlstore_internal.hashed_uuid).';

CREATE TABLE ops.task_executions (
    execution_id uuid DEFAULT ops._task_id(cdlstore_internal.shard_hash()) NOT NULL,
    workflow_id uuid,
    agent_id text,
    task_name ops.nonempty_text NOT NULL,
    task_type ops.nonempty_text NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    status ops.task_status DEFAULT 'pending'::text NOT NULL,
    input_data jsonb DEFAULT '{}'::jsonb NOT NULL,
    output_data jsonb,
    error text,
    retry_count ops.nonnegative_integer DEFAULT 0 NOT NULL,
    max_retries ops.nonnegative_integer DEFAULT 3 NOT NULL,
    timeout_seconds ops.positive_integer DEFAULT 300 NOT NULL,
    execution_time_ms bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    available_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    timeout_at timestamp with time zone,
    completed_at timestamp with time zone,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    lease_token uuid
)
WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='500', autovacuum_vacuum_cost_delay='0', autovacuum_analyze_scale_factor='0.02');

ALTER TABLE ONLY ops.task_executions FORCE ROW LEVEL SECURITY;

ALTER TABLE ops.task_executions OWNER TO cdlstore_owner;

CREATE FUNCTION ops._fail_task(t ops.task_executions, error text) RETURNS ops.task_executions
    LANGUAGE plpgsql
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops._fail_task(t ops.task_executions, error text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._fail_task(t ops.task_executions, error text) IS 'A failed attempt of a locked running task: back to pending after a backoff, or failed after max_retries.';

CREATE TABLE ops.workflows (
    workflow_id uuid DEFAULT cdlstore_internal.hashed_uuid(cdlstore_internal.shard_hash()) NOT NULL,
    seq bigint NOT NULL,
    name text NOT NULL,
    description text,
    workflow_type text DEFAULT 'generic'::text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    current_step integer DEFAULT 0 NOT NULL,
    total_steps integer,
    completed_steps integer DEFAULT 0 NOT NULL,
    state_data jsonb DEFAULT '{}'::jsonb NOT NULL,
    step_results jsonb DEFAULT '[]'::jsonb NOT NULL,
    assigned_agents text[] DEFAULT '{}'::text[] NOT NULL,
    checkpoints jsonb DEFAULT '[]'::jsonb NOT NULL,
    error text,
    error_count integer DEFAULT 0 NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    tags text[] DEFAULT '{}'::text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    started_at timestamp with time zone,
    completed_at timestamp with time zone,
    deadline timestamp with time zone,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT workflows_checkpoints_check CHECK ((jsonb_typeof(checkpoints) = 'array'::text)),
    CONSTRAINT workflows_completed_steps_check CHECK ((completed_steps >= 0)),
    CONSTRAINT workflows_current_step_check CHECK ((current_step >= 0)),
    CONSTRAINT workflows_metadata_check CHECK ((jsonb_typeof(metadata) = 'object'::text)),
    CONSTRAINT workflows_name_check CHECK ((name <> ''::text)),
    CONSTRAINT workflows_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'running'::text, 'completed'::text, 'failed'::text]))),
    CONSTRAINT workflows_step_results_check CHECK ((jsonb_typeof(step_results) = 'array'::text)),
    CONSTRAINT workflows_total_steps_check CHECK ((total_steps >= 0))
);

ALTER TABLE ONLY ops.workflows FORCE ROW LEVEL SECURITY;

ALTER TABLE ops.workflows OWNER TO cdlstore_owner;

CREATE FUNCTION ops._fail_workflow(w ops.workflows, error text) RETURNS ops.workflows
    LANGUAGE plpgsql
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops._fail_workflow(w ops.workflows, error text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._fail_workflow(w ops.workflows, error text) IS 'Fail a locked run, with its event.';

CREATE FUNCTION ops._leased_task(p_id uuid, p_token uuid) RETURNS ops.task_executions
    LANGUAGE plpgsql
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops._leased_task(p_id uuid, p_token uuid) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._leased_task(p_id uuid, p_token uuid) IS 'Lock a task whose current lease this token holds (CD001, CD002; CD003 for a stale token).';

CREATE FUNCTION ops._move_workflow(p_id uuid, p_to text, p_allowed_from text[]) RETURNS ops.workflows
    LANGUAGE plpgsql
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops._move_workflow(p_id uuid, p_to text, p_allowed_from text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._move_workflow(p_id uuid, p_to text, p_allowed_from text[]) IS 'Lock a run and check that it may go to a status from its current one (CD002, CD004).';

CREATE FUNCTION ops._refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'ops', 'pg_temp'
    AS $$
BEGIN
    RAISE EXCEPTION 'ops.events is append-only: % is refused', TG_OP USING ERRCODE = 'CD006';
END
$$;

ALTER FUNCTION ops._refuse_change() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._refuse_change() IS 'Trigger: refuse UPDATE, DELETE and TRUNCATE of the event log.';

CREATE FUNCTION ops._task_for_change(p_id uuid, p_from text[], p_change text) RETURNS ops.task_executions
    LANGUAGE plpgsql
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops._task_for_change(p_id uuid, p_from text[], p_change text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._task_for_change(p_id uuid, p_from text[], p_change text) IS 'Lock a task that must be in one of the given states (CD001 without an id, CD002, CD004).';

CREATE FUNCTION ops._task_id(hash integer, bits bigint) RETURNS uuid
    LANGUAGE sql
    AS $$
    -- as ops._task_id(hash), from given random bits (0 <= bits < 2^62) instead of a
    -- gen_random_uuid() per task: the milliseconds, version 7 and 12 bits, then the variant,
    -- 52 bits and the routing hash; 32 hex digits, which uuid_in takes without hyphens.
    -- Inlined (no FROM, no SET clause)
    SELECT (lpad(to_hex(((extract(epoch FROM clock_timestamp()) * 1000)::bigint << 16) | 28672
                        | ((bits >> 50) & 4095)), 16, '0')
            || to_hex((-9223372036854775807 - 1) | ((bits & 4503599627370495) << 10) | (hash & 1023)))::uuid
$$;

ALTER FUNCTION ops._task_id(hash integer, bits bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._task_id(hash integer, bits bigint) IS 'A task id as ops._task_id(hash), its random part from bits: enqueue_tasks draws one random number per batch and adds each task''s place in it (ids of a batch never collide).';

CREATE FUNCTION ops._task_json(t ops.task_executions) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT to_jsonb(t) - 'lease_token'
$$;

ALTER FUNCTION ops._task_json(t ops.task_executions) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._task_json(t ops.task_executions) IS 'A task as the API returns it: without its lease token, which only claim_tasks hands out.';

CREATE FUNCTION ops._task_problem(p_name text, p_type text, p_input jsonb, p_priority integer, p_max_retries integer, p_timeout integer) RETURNS text
    LANGUAGE sql IMMUTABLE
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

ALTER FUNCTION ops._task_problem(p_name text, p_type text, p_input jsonb, p_priority integer, p_max_retries integer, p_timeout integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._task_problem(p_name text, p_type text, p_input jsonb, p_priority integer, p_max_retries integer, p_timeout integer) IS 'What is wrong with a task to queue (NULL: nothing), for enqueue_task and enqueue_tasks alike.';

CREATE FUNCTION ops._wake_workers() RETURNS void
    LANGUAGE sql
    AS $$
    -- one payload for every task: PostgreSQL folds equal notifications of a transaction into one,
    -- so a transaction wakes the workers once, however many tasks it queues
    SELECT pg_catalog.pg_notify('cdlstore_tasks', '')
$$;

ALTER FUNCTION ops._wake_workers() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._wake_workers() IS 'NOTIFY cdlstore_tasks (empty payload): workers LISTEN on it; sent once per transaction.';

CREATE FUNCTION ops._workflow_json(w ops.workflows) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT to_jsonb(w) - 'seq'
$$;

ALTER FUNCTION ops._workflow_json(w ops.workflows) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops._workflow_json(w ops.workflows) IS 'A workflow run as the API returns it.';

CREATE FUNCTION ops.ack_events(consumer text, up_to_id bigint) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN cdlstore_internal.feed_ack('ops', consumer, up_to_id);
END
$$;

ALTER FUNCTION ops.ack_events(consumer text, up_to_id bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.ack_events(consumer text, up_to_id bigint) IS 'Record that a consumer has handled every event up to this one (false when older; CD001 when read_events has not handed it out yet; CD002 when unknown).';

CREATE FUNCTION ops.advance_workflow_step(workflow_id uuid, step_result jsonb DEFAULT '{}'::jsonb, state_data jsonb DEFAULT NULL::jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.advance_workflow_step(workflow_id uuid, step_result jsonb, state_data jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.advance_workflow_step(workflow_id uuid, step_result jsonb, state_data jsonb) IS 'Record a step of a running run: its result, the step counters and a checkpoint of the state.';

CREATE FUNCTION ops.append_message(instance_id text, role text, content text, tool_calls jsonb DEFAULT NULL::jsonb, metadata jsonb DEFAULT '{}'::jsonb, agent_id text DEFAULT NULL::text, is_error boolean DEFAULT false) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
BEGIN
    PERFORM cdlstore_internal.input_text(instance_id, 'instance_id'),
            cdlstore_internal.input_text(agent_id, 'agent_id', 200, false);
    IF role IS NULL OR role NOT IN ('system', 'user', 'assistant', 'tool') THEN
        RAISE EXCEPTION 'invalid role %', coalesce(quote_literal(role), 'NULL') USING ERRCODE = 'CD001',
            DETAIL = 'Allowed: system, user, assistant, tool.';
    END IF;
    IF content IS NULL OR metadata IS NULL OR jsonb_typeof(metadata) <> 'object'
       OR (tool_calls IS NOT NULL AND jsonb_typeof(tool_calls) NOT IN ('array', 'object')) THEN
        RAISE EXCEPTION 'content is required, metadata must be an object, tool_calls a list or object'
            USING ERRCODE = 'CD001';
    END IF;
    INSERT INTO ops.agent_playground_messages (instance_id, agent_id, role, content, tool_calls, is_error, metadata)
    VALUES (instance_id, agent_id, role, content, tool_calls, coalesce(is_error, false), metadata)
    RETURNING message_id INTO v_id;
    RETURN v_id;
END
$$;

ALTER FUNCTION ops.append_message(instance_id text, role text, content text, tool_calls jsonb, metadata jsonb, agent_id text, is_error boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.append_message(instance_id text, role text, content text, tool_calls jsonb, metadata jsonb, agent_id text, is_error boolean) IS 'Append a message (role system, user, assistant or tool) to a conversation. Returns its id.';

CREATE FUNCTION ops.cancel_task(execution_id uuid, reason text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.cancel_task(execution_id uuid, reason text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.cancel_task(execution_id uuid, reason text) IS 'Cancel a pending or running task (its lease ends: the worker''s complete or fail gets CD003). CD002 when unknown, CD004 when it has ended already.';

CREATE FUNCTION ops.claim_tasks(agent_id text, task_types text[], max_count integer DEFAULT 1) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
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

ALTER FUNCTION ops.claim_tasks(agent_id text, task_types text[], max_count integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.claim_tasks(agent_id text, task_types text[], max_count integer) IS 'Claim up to max_count pending tasks of these types (highest priority, then oldest) for an agent; concurrent workers never get the same task (FOR UPDATE SKIP LOCKED). Each task''s JSON carries the lease_token that complete_task, fail_task, heartbeat_task and release_task must present.';

CREATE FUNCTION ops.complete_task(execution_id uuid, lease_token uuid, output jsonb DEFAULT NULL::jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.complete_task(execution_id uuid, lease_token uuid, output jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.complete_task(execution_id uuid, lease_token uuid, output jsonb) IS 'A claimed task is done; its execution time is measured by the database. CD003 when lease_token is not the task''s current lease (it lapsed, or the task was claimed again): nothing changes.';

CREATE FUNCTION ops.complete_tasks(completions jsonb) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
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

ALTER FUNCTION ops.complete_tasks(completions jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.complete_tasks(completions jsonb) IS 'Complete a batch of claimed tasks ([{execution_id, lease_token, output}]) in one transaction; all or none: CD003 (nothing changes) when one lease_token is stale.';

CREATE FUNCTION ops.complete_workflow(workflow_id uuid, result jsonb DEFAULT NULL::jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.complete_workflow(workflow_id uuid, result jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.complete_workflow(workflow_id uuid, result jsonb) IS 'running -> completed. CD004 from any other status.';

CREATE FUNCTION ops.create_workflow(name text, workflow_type text DEFAULT 'generic'::text, description text DEFAULT NULL::text, total_steps integer DEFAULT NULL::integer, state_data jsonb DEFAULT '{}'::jsonb, assigned_agents text[] DEFAULT '{}'::text[], metadata jsonb DEFAULT '{}'::jsonb, tags text[] DEFAULT '{}'::text[], deadline timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.create_workflow(name text, workflow_type text, description text, total_steps integer, state_data jsonb, assigned_agents text[], metadata jsonb, tags text[], deadline timestamp with time zone) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.create_workflow(name text, workflow_type text, description text, total_steps integer, state_data jsonb, assigned_agents text[], metadata jsonb, tags text[], deadline timestamp with time zone) IS 'Create a pending workflow run. Returns its id.';

CREATE FUNCTION ops.enqueue_task(task_name text, task_type text, input_data jsonb DEFAULT '{}'::jsonb, priority integer DEFAULT 0, workflow_id uuid DEFAULT NULL::uuid, max_retries integer DEFAULT 3, timeout_seconds integer DEFAULT 300, available_at timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.enqueue_task(task_name text, task_type text, input_data jsonb, priority integer, workflow_id uuid, max_retries integer, timeout_seconds integer, available_at timestamp with time zone) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.enqueue_task(task_name text, task_type text, input_data jsonb, priority integer, workflow_id uuid, max_retries integer, timeout_seconds integer, available_at timestamp with time zone) IS 'Queue a task (available now or at available_at). Returns its execution id.';

CREATE FUNCTION ops.enqueue_tasks(tasks jsonb) RETURNS uuid[]
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
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

ALTER FUNCTION ops.enqueue_tasks(tasks jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.enqueue_tasks(tasks jsonb) IS 'Queue a batch of tasks ([{task_name, task_type, input_data, priority, ...}]) in one transaction; all or none. Returns their ids in order.';

CREATE FUNCTION ops.expire_tasks(as_of timestamp with time zone DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $_$
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
$_$;

ALTER FUNCTION ops.expire_tasks(as_of timestamp with time zone) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.expire_tasks(as_of timestamp with time zone) IS 'Running tasks past their timeout count as a failed attempt (a worker that died): the caller''s tenant, every tenant for an administrator naming none. Returns how many.';

CREATE FUNCTION ops.expire_workflows(as_of timestamp with time zone DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $_$
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
$_$;

ALTER FUNCTION ops.expire_workflows(as_of timestamp with time zone) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.expire_workflows(as_of timestamp with time zone) IS 'Fail every pending or running run past its deadline: the caller''s tenant, every tenant for an administrator naming none. Returns how many.';

CREATE TABLE ops.events (
    event_id bigint NOT NULL,
    event_type ops.nonempty_text NOT NULL,
    entity_type text,
    entity_id text,
    workflow_id uuid,
    agent_id text,
    session_id text,
    source text,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    severity ops.event_severity DEFAULT 'info'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    xid xid8 DEFAULT pg_current_xact_id() NOT NULL
);

ALTER TABLE ONLY ops.events FORCE ROW LEVEL SECURITY;

ALTER TABLE ops.events OWNER TO cdlstore_owner;

CREATE FUNCTION ops.export_events(day date) RETURNS SETOF ops.events
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
    SELECT * FROM ops.events e WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
      AND e.created_at <@ ops._day(day) ORDER BY e.event_id
$$;

ALTER FUNCTION ops.export_events(day date) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.export_events(day date) IS 'The events of a UTC day, for COPY ... TO STDOUT.';

CREATE TABLE ops.agent_playground_messages (
    message_id bigint NOT NULL,
    instance_id text NOT NULL,
    agent_id text,
    role text NOT NULL,
    content text NOT NULL,
    tool_calls jsonb,
    is_error boolean DEFAULT false NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT agent_playground_messages_instance_id_check CHECK ((instance_id <> ''::text)),
    CONSTRAINT agent_playground_messages_metadata_check CHECK ((jsonb_typeof(metadata) = 'object'::text)),
    CONSTRAINT agent_playground_messages_role_check CHECK ((role = ANY (ARRAY['system'::text, 'user'::text, 'assistant'::text, 'tool'::text])))
);

ALTER TABLE ONLY ops.agent_playground_messages FORCE ROW LEVEL SECURITY;

ALTER TABLE ops.agent_playground_messages OWNER TO cdlstore_owner;

CREATE FUNCTION ops.export_messages(day date) RETURNS SETOF ops.agent_playground_messages
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
    SELECT * FROM ops.agent_playground_messages m WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
      AND m.created_at <@ ops._day(day) ORDER BY m.message_id
$$;

ALTER FUNCTION ops.export_messages(day date) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.export_messages(day date) IS 'The conversation messages of a UTC day, for COPY ... TO STDOUT.';

CREATE FUNCTION ops.export_source(kind text, format text) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.export_source(kind text, format text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.export_source(kind text, format text) IS 'The one list of exports: the function (ops.export_<kind>) whose rows an export of kind streams with COPY in format (csv or jsonl); CD001 for any other kind or format, before anything is read.';

CREATE FUNCTION ops.export_tasks(day date) RETURNS SETOF ops.task_executions
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
    SELECT * FROM ops.task_executions t WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
      AND t.created_at <@ ops._day(day) ORDER BY t.created_at, t.execution_id
$$;

ALTER FUNCTION ops.export_tasks(day date) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.export_tasks(day date) IS 'The tasks created on a UTC day, for COPY ... TO STDOUT.';

CREATE FUNCTION ops.export_workflows(day date) RETURNS SETOF ops.workflows
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
    SELECT * FROM ops.workflows w WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
      AND w.created_at <@ ops._day(day) ORDER BY w.seq
$$;

ALTER FUNCTION ops.export_workflows(day date) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.export_workflows(day date) IS 'The workflow runs created on a UTC day, for COPY ... TO STDOUT.';

CREATE FUNCTION ops.fail_task(execution_id uuid, lease_token uuid, error text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF coalesce(btrim(error), '') = '' THEN
        RAISE EXCEPTION 'error must say what went wrong' USING ERRCODE = 'CD001';
    END IF;
    RETURN ops._task_json(ops._fail_task(ops._leased_task(execution_id, lease_token), error));
END
$$;

ALTER FUNCTION ops.fail_task(execution_id uuid, lease_token uuid, error text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.fail_task(execution_id uuid, lease_token uuid, error text) IS 'A claimed task failed: retried with exponential backoff until max_retries, then failed. CD003 when lease_token is not the task''s current lease: nothing changes.';

CREATE FUNCTION ops.fail_workflow(workflow_id uuid, error text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF coalesce(btrim(error), '') = '' THEN
        RAISE EXCEPTION 'error must say what went wrong' USING ERRCODE = 'CD001';
    END IF;
    RETURN ops._workflow_json(ops._fail_workflow(ops._move_workflow(workflow_id, 'failed', '{pending,running}'), error));
END
$$;

ALTER FUNCTION ops.fail_workflow(workflow_id uuid, error text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.fail_workflow(workflow_id uuid, error text) IS 'pending or running -> failed, with the error. CD004 otherwise.';

CREATE FUNCTION ops.get_conversation(instance_id text, max_messages integer DEFAULT 100, before bigint DEFAULT NULL::bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
#variable_conflict use_variable
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdlstore_internal.check_page(max_messages);
    -- the newest messages before `before`, returned oldest first
    RETURN (SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.message_id), '[]')
            FROM (SELECT * FROM ops.agent_playground_messages m
                  WHERE m.instance_id = instance_id AND (before IS NULL OR m.message_id < before)
                  ORDER BY m.message_id DESC LIMIT max_messages) AS m);
END
$$;

ALTER FUNCTION ops.get_conversation(instance_id text, max_messages integer, before bigint) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.get_conversation(instance_id text, max_messages integer, before bigint) IS 'The last max_messages messages of a conversation (before a message id, to page back), oldest first.';

CREATE FUNCTION ops.get_task(execution_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.get_task(execution_id uuid) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.get_task(execution_id uuid) IS 'A task. CD002 when unknown.';

CREATE FUNCTION ops.get_workflow(workflow_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.get_workflow(workflow_id uuid) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.get_workflow(workflow_id uuid) IS 'A workflow run. CD002 when unknown.';

CREATE FUNCTION ops.heartbeat_task(execution_id uuid, lease_token uuid, extend_seconds integer DEFAULT NULL::integer) RETURNS timestamp with time zone
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.heartbeat_task(execution_id uuid, lease_token uuid, extend_seconds integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.heartbeat_task(execution_id uuid, lease_token uuid, extend_seconds integer) IS 'A worker still runs a claimed task: its lease ends extend_seconds from now (default: the task''s timeout_seconds). Returns the new end of the lease. CD003 when lease_token is stale.';

CREATE FUNCTION ops.list_events(event_type text DEFAULT NULL::text, entity_type text DEFAULT NULL::text, entity_id text DEFAULT NULL::text, workflow_id uuid DEFAULT NULL::uuid, severity text DEFAULT NULL::text, page_size integer DEFAULT 100, after text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    k record;
BEGIN
    k := cdlstore_internal.page_key(after, page_size);
    RETURN cdlstore_internal.page((
        SELECT array_agg((to_jsonb(e) - 'xid', e.created_at, e.event_id)::cdlstore_internal.page_row ORDER BY e.event_id DESC)
        FROM (SELECT * FROM ops.events e
              WHERE (event_type IS NULL OR e.event_type = event_type)
                AND (entity_type IS NULL OR e.entity_type = entity_type)
                AND (entity_id IS NULL OR e.entity_id = entity_id)
                AND (workflow_id IS NULL OR e.workflow_id = workflow_id)
                AND (severity IS NULL OR e.severity = severity)
                AND (after IS NULL OR e.event_id < k.id)
              ORDER BY e.event_id DESC LIMIT page_size + 1) AS e), page_size);
END
$$;

ALTER FUNCTION ops.list_events(event_type text, entity_type text, entity_id text, workflow_id uuid, severity text, page_size integer, after text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.list_events(event_type text, entity_type text, entity_id text, workflow_id uuid, severity text, page_size integer, after text) IS 'Events, newest first, filtered: {items, next_cursor} (keyset on event_id).';

CREATE FUNCTION ops.list_tasks(status text DEFAULT NULL::text, task_type text DEFAULT NULL::text, workflow_id uuid DEFAULT NULL::uuid, max_count integer DEFAULT 50, before timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.list_tasks(status text, task_type text, workflow_id uuid, max_count integer, before timestamp with time zone) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.list_tasks(status text, task_type text, workflow_id uuid, max_count integer, before timestamp with time zone) IS 'Tasks, newest first, by status, type and workflow run; at most max_count (1..1000), created before `before` when given (the created_at of the last one seen: the next page).';

CREATE FUNCTION ops.list_workflows(status text DEFAULT NULL::text, workflow_type text DEFAULT NULL::text, page_size integer DEFAULT 100, after text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.list_workflows(status text, workflow_type text, page_size integer, after text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.list_workflows(status text, workflow_type text, page_size integer, after text) IS 'Workflow runs, newest first, by status and type: {items, next_cursor}.';

CREATE FUNCTION ops.metrics() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.metrics() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.metrics() IS 'Gauges and counters: runs and tasks by status, retries, error rate, queue depth, age of the oldest pending task, task execution time percentiles (last hour), events.';

CREATE FUNCTION ops.next_task_timeout() RETURNS timestamp with time zone
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $_$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
BEGIN
    RETURN cdlstore_internal.earliest(
        $q$SELECT min(t.timeout_at) FROM ops.task_executions t WHERE t.status = 'running'$q$);
END
$_$;

ALTER FUNCTION ops.next_task_timeout() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.next_task_timeout() IS 'When the next lease of a running task ends (NULL: none runs); the worker''s maintenance sleeps until then. The caller''s tenant, every tenant for an administrator naming none.';

CREATE FUNCTION ops.read_events(consumer text, max_count integer DEFAULT 100) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN (SELECT coalesce(jsonb_agg(to_jsonb(e) - 'xid' ORDER BY f.xid, f.id), '[]')
            FROM cdlstore_internal.feed_read('ops', consumer, max_count) AS f
            JOIN ops.events e ON e.event_id = f.id);
END
$$;

ALTER FUNCTION ops.read_events(consumer text, max_count integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.read_events(consumer text, max_count integer) IS 'The consumer''s next events (task lifecycle included) after its acknowledged one, the same again until acknowledged with ack_events; gap-free like docstore.read_changes.';

CREATE FUNCTION ops.record_event(event_type text, entity_type text DEFAULT NULL::text, entity_id text DEFAULT NULL::text, workflow_id uuid DEFAULT NULL::uuid, agent_id text DEFAULT NULL::text, session_id text DEFAULT NULL::text, source text DEFAULT NULL::text, payload jsonb DEFAULT '{}'::jsonb, severity text DEFAULT 'info'::text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
    AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN ops._event(event_type, entity_type, entity_id, workflow_id, agent_id, session_id, source, payload, severity);
END
$$;

ALTER FUNCTION ops.record_event(event_type text, entity_type text, entity_id text, workflow_id uuid, agent_id text, session_id text, source text, payload jsonb, severity text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.record_event(event_type text, entity_type text, entity_id text, workflow_id uuid, agent_id text, session_id text, source text, payload jsonb, severity text) IS 'Append an event to the audit log (and NOTIFY it). Returns its id.';

CREATE FUNCTION ops.release_task(execution_id uuid, lease_token uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.release_task(execution_id uuid, lease_token uuid) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.release_task(execution_id uuid, lease_token uuid) IS 'Give back a claimed task that was not started (a worker shutting down): pending again at once, no attempt counted. CD003 when lease_token is stale.';

CREATE FUNCTION ops.retry_task(execution_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.retry_task(execution_id uuid) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.retry_task(execution_id uuid) IS 'Queue a failed or cancelled task again, now, with its retries starting over. CD002 when unknown, CD004 when it is pending, running or completed.';

CREATE FUNCTION ops.start_workflow(workflow_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'ops', 'pg_temp'
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

ALTER FUNCTION ops.start_workflow(workflow_id uuid) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION ops.start_workflow(workflow_id uuid) IS 'pending -> running. CD004 from any other status.';

CREATE TEXT SEARCH DICTIONARY cdl.keyword_stem (
    TEMPLATE = pg_catalog.snowball,
    language = 'english' );

ALTER TEXT SEARCH DICTIONARY cdl.keyword_stem OWNER TO postgres;

COMMENT ON TEXT SEARCH DICTIONARY cdl.keyword_stem IS 'English Snowball stems without a stop-word list.';

CREATE TEXT SEARCH CONFIGURATION cdl.keywords (
    PARSER = pg_catalog."default" );

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR asciiword WITH cdl.keyword_stem;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR word WITH cdl.keyword_stem;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR numword WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR email WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR url WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR host WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR sfloat WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR version WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR hword_numpart WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR hword_part WITH cdl.keyword_stem;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR hword_asciipart WITH cdl.keyword_stem;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR numhword WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR asciihword WITH cdl.keyword_stem;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR hword WITH cdl.keyword_stem;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR url_path WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR file WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR "float" WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR "int" WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ADD MAPPING FOR uint WITH simple;

ALTER TEXT SEARCH CONFIGURATION cdl.keywords OWNER TO postgres;

COMMENT ON TEXT SEARCH CONFIGURATION cdl.keywords IS 'Workflow keywords and messages: words by English stem, no stop words.';

CREATE TABLE cdl.character_change_log (
    id bigint NOT NULL,
    character_id bigint NOT NULL,
    change_type cdl.change_type_enum NOT NULL,
    field_path text,
    old_value jsonb,
    new_value jsonb,
    change_source character varying(100),
    changed_by character varying(200) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL
);

ALTER TABLE ONLY cdl.character_change_log FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_change_log OWNER TO cdlstore_owner;

CREATE TABLE cdl.character_field_values (
    id bigint NOT NULL,
    character_id bigint NOT NULL,
    field_definition_id bigint NOT NULL,
    string_value text,
    number_value numeric,
    boolean_value boolean,
    json_value jsonb,
    confidence numeric(3,2) DEFAULT 1.0 NOT NULL,
    source character varying(100) DEFAULT 'import'::character varying NOT NULL,
    is_public boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL
);

ALTER TABLE ONLY cdl.character_field_values FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_field_values OWNER TO cdlstore_owner;

CREATE TABLE cdl.character_knowledge (
    id bigint NOT NULL,
    character_id bigint NOT NULL,
    knowledge_type cdl.knowledge_type_enum NOT NULL,
    knowledge_key character varying(200) NOT NULL,
    content text NOT NULL,
    parent_knowledge_id bigint,
    confidence numeric(3,2) DEFAULT 1.0 NOT NULL,
    importance integer DEFAULT 5 NOT NULL,
    tags text[] DEFAULT '{}'::text[] NOT NULL,
    is_public boolean DEFAULT true NOT NULL,
    search_vector tsvector GENERATED ALWAYS AS ((setweight(to_tsvector('english'::regconfig, (knowledge_key)::text), 'A'::"char") || setweight(to_tsvector('english'::regconfig, content), 'B'::"char"))) STORED,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT character_knowledge_confidence_check CHECK (((confidence >= (0)::numeric) AND (confidence <= (1)::numeric))),
    CONSTRAINT character_knowledge_importance_check CHECK (((importance >= 1) AND (importance <= 10)))
);

ALTER TABLE ONLY cdl.character_knowledge FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_knowledge OWNER TO cdlstore_owner;

CREATE TABLE cdl.character_workflows (
    id bigint NOT NULL,
    character_id bigint NOT NULL,
    file_id bigint NOT NULL,
    workflow_name character varying(100) NOT NULL,
    definition_version integer NOT NULL,
    content_hash text NOT NULL,
    description text,
    sort_order integer NOT NULL,
    initial_state character varying(100) NOT NULL,
    on_trigger_action character varying(50),
    context_required jsonb DEFAULT '[]'::jsonb NOT NULL,
    validation_rules jsonb DEFAULT '[]'::jsonb NOT NULL,
    llm_validation jsonb DEFAULT '{"enabled": false}'::jsonb NOT NULL,
    system_prompt_addition text,
    definition jsonb NOT NULL,
    is_current boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    keyword_query tsquery,
    patterns text[] DEFAULT '{}'::text[] NOT NULL,
    required_literals text[] DEFAULT '{}'::text[] NOT NULL,
    keywords text[] DEFAULT '{}'::text[] NOT NULL,
    extractors jsonb DEFAULT '[]'::jsonb NOT NULL,
    config jsonb DEFAULT '{}'::jsonb NOT NULL,
    initial_final boolean DEFAULT false NOT NULL,
    initial_timeout_seconds numeric,
    initial_prompt_injection text,
    CONSTRAINT character_workflows_definition_version_check CHECK ((definition_version > 0))
);

ALTER TABLE ONLY cdl.character_workflows FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_workflows OWNER TO cdlstore_owner;

CREATE TABLE cdl.characters (
    id bigint NOT NULL,
    name character varying(200) NOT NULL,
    normalized_name character varying(200) NOT NULL,
    occupation text,
    description text,
    archetype cdl.character_archetype_enum DEFAULT 'real_world'::cdl.character_archetype_enum NOT NULL,
    status cdl.character_status_enum DEFAULT 'active'::cdl.character_status_enum NOT NULL,
    cdl_version character varying(20) DEFAULT '1.0'::character varying NOT NULL,
    file_description text,
    import_source character varying(100),
    version_count integer DEFAULT 0 NOT NULL,
    created_by character varying(200),
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL
);

ALTER TABLE ONLY cdl.characters FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.characters OWNER TO cdlstore_owner;

CREATE TABLE cdl.communication_patterns (
    id bigint NOT NULL,
    character_id bigint NOT NULL,
    pattern_type cdl.communication_pattern_enum NOT NULL,
    pattern_name character varying(100) NOT NULL,
    pattern_value text NOT NULL,
    context character varying(100),
    frequency character varying(20) DEFAULT 'regular'::character varying NOT NULL,
    priority integer DEFAULT 50 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT communication_patterns_frequency_check CHECK (((frequency)::text = ANY ((ARRAY['rare'::character varying, 'occasional'::character varying, 'regular'::character varying, 'frequent'::character varying, 'always'::character varying])::text[]))),
    CONSTRAINT communication_patterns_priority_check CHECK (((priority >= 0) AND (priority <= 100)))
);

ALTER TABLE ONLY cdl.communication_patterns FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.communication_patterns OWNER TO cdlstore_owner;

CREATE TABLE cdl.response_templates (
    id bigint NOT NULL,
    character_id bigint NOT NULL,
    scenario cdl.response_scenario_enum NOT NULL,
    template_name character varying(100) NOT NULL,
    template_text text NOT NULL,
    conditions jsonb DEFAULT '{}'::jsonb NOT NULL,
    priority integer DEFAULT 50 NOT NULL,
    is_active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT response_templates_conditions_check CHECK ((jsonb_typeof(conditions) = 'object'::text)),
    CONSTRAINT response_templates_priority_check CHECK (((priority >= 0) AND (priority <= 100)))
);

ALTER TABLE ONLY cdl.response_templates FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.response_templates OWNER TO cdlstore_owner;

CREATE MATERIALIZED VIEW cdl.character_analytics AS
 SELECT c.id AS character_id,
    c.tenant,
    c.normalized_name,
    c.status,
    c.archetype,
    ( SELECT count(*) AS count
           FROM cdl.character_field_values v
          WHERE (v.character_id = c.id)) AS field_count,
    ( SELECT count(*) AS count
           FROM cdl.character_knowledge k
          WHERE (k.character_id = c.id)) AS knowledge_count,
    ( SELECT count(*) AS count
           FROM cdl.communication_patterns p
          WHERE (p.character_id = c.id)) AS pattern_count,
    ( SELECT count(*) AS count
           FROM cdl.response_templates t
          WHERE (t.character_id = c.id)) AS template_count,
    c.version_count,
    ( SELECT count(*) AS count
           FROM cdl.character_workflows w
          WHERE ((w.character_id = c.id) AND w.is_current)) AS workflow_count,
    GREATEST(c.updated_at, ( SELECT max(l.created_at) AS max
           FROM cdl.character_change_log l
          WHERE (l.character_id = c.id))) AS last_change_at
   FROM cdl.characters c
  WITH NO DATA;

ALTER TABLE cdl.character_analytics OWNER TO cdlstore_owner;

ALTER TABLE cdl.character_change_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.character_change_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE cdl.character_documents (
    normalized_name character varying(200) NOT NULL,
    character_id bigint NOT NULL,
    rendered json,
    rendered_at timestamp with time zone,
    lists jsonb DEFAULT '{}'::jsonb NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL
);
ALTER TABLE ONLY cdl.character_documents ALTER COLUMN rendered SET STORAGE EXTERNAL;

ALTER TABLE ONLY cdl.character_documents FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_documents OWNER TO cdlstore_owner;

CREATE TABLE cdl.character_field_definitions (
    id bigint NOT NULL,
    field_path text NOT NULL,
    path_keys text[] NOT NULL,
    field_name text NOT NULL,
    parent_field_id bigint,
    field_type cdl.field_type_enum DEFAULT 'custom'::cdl.field_type_enum NOT NULL,
    data_type cdl.data_type_enum NOT NULL,
    category character varying(100),
    description text,
    validation_rules jsonb DEFAULT '{}'::jsonb NOT NULL,
    is_required boolean DEFAULT false NOT NULL,
    is_inferred boolean DEFAULT false NOT NULL,
    sort_order integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT character_field_definitions_path_keys_check CHECK (((cardinality(path_keys) >= 1) AND (cardinality(path_keys) <= 32))),
    CONSTRAINT character_field_definitions_validation_rules_check CHECK ((jsonb_typeof(validation_rules) = 'object'::text))
);

ALTER TABLE ONLY cdl.character_field_definitions FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_field_definitions OWNER TO cdlstore_owner;

ALTER TABLE cdl.character_field_definitions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.character_field_definitions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE cdl.character_field_values ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.character_field_values_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE cdl.character_knowledge ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.character_knowledge_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE cdl.character_sections (
    character_id bigint NOT NULL,
    section text NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    "position" integer NOT NULL,
    ordered json NOT NULL
);
ALTER TABLE ONLY cdl.character_sections ALTER COLUMN ordered SET COMPRESSION lz4;

ALTER TABLE ONLY cdl.character_sections FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_sections OWNER TO cdlstore_owner;

CREATE TABLE cdl.character_versions (
    id bigint NOT NULL,
    character_id bigint NOT NULL,
    version_number integer NOT NULL,
    version_name character varying(100),
    description text,
    snapshot jsonb NOT NULL,
    created_by character varying(200),
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    cdl_text json NOT NULL,
    CONSTRAINT character_versions_version_number_check CHECK ((version_number > 0))
);

ALTER TABLE ONLY cdl.character_versions FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_versions OWNER TO cdlstore_owner;

ALTER TABLE cdl.character_versions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.character_versions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE cdl.character_workflows ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.character_workflows_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE cdl.characters ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.characters_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE cdl.communication_patterns ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.communication_patterns_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE cdl.definition_log (
    version bigint NOT NULL,
    function_name text NOT NULL,
    arguments text[] NOT NULL,
    actor character varying(200) NOT NULL,
    result jsonb,
    applied_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT definition_log_version_check CHECK ((version > 0))
);

ALTER TABLE ONLY cdl.definition_log FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.definition_log OWNER TO cdlstore_owner;

COMMENT ON TABLE cdl.definition_log IS 'Definition writes applied on this shard through the proxy, by version (cdl.apply_definition).';

ALTER TABLE cdl.response_templates ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.response_templates_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE cdl.workflow_context_extractors (
    id bigint NOT NULL,
    workflow_id bigint NOT NULL,
    context_key character varying(100) NOT NULL,
    extractor_type cdl.context_extractor_enum NOT NULL,
    config jsonb DEFAULT '{}'::jsonb NOT NULL,
    sort_order integer NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL
);

ALTER TABLE ONLY cdl.workflow_context_extractors FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_context_extractors OWNER TO cdlstore_owner;

ALTER TABLE cdl.workflow_context_extractors ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.workflow_context_extractors_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE cdl.workflow_execution_log (
    id bigint NOT NULL,
    instance_id bigint NOT NULL,
    user_id character varying(200) NOT NULL,
    event_type cdl.workflow_event_enum NOT NULL,
    from_state character varying(100),
    to_state character varying(100),
    message text,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL
);

ALTER TABLE ONLY cdl.workflow_execution_log FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_execution_log OWNER TO cdlstore_owner;

ALTER TABLE cdl.workflow_execution_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.workflow_execution_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE cdl.workflow_files (
    id bigint NOT NULL,
    character_id bigint NOT NULL,
    file_version integer NOT NULL,
    format_version character varying(20),
    description text,
    config jsonb NOT NULL,
    content_hash text NOT NULL,
    imported_by character varying(200),
    imported_at timestamp with time zone DEFAULT now() NOT NULL,
    is_current boolean DEFAULT true NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT workflow_files_file_version_check CHECK ((file_version > 0))
);

ALTER TABLE ONLY cdl.workflow_files FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_files OWNER TO cdlstore_owner;

ALTER TABLE cdl.workflow_files ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.workflow_files_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE cdl.workflow_instances (
    id bigint NOT NULL,
    user_id character varying(200) NOT NULL,
    character_id bigint NOT NULL,
    workflow_id bigint NOT NULL,
    current_state character varying(100) NOT NULL,
    status cdl.workflow_status_enum DEFAULT 'active'::cdl.workflow_status_enum NOT NULL,
    context jsonb DEFAULT '{}'::jsonb NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    timeout_at timestamp with time zone,
    completed_at timestamp with time zone,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT workflow_instances_context_check CHECK ((jsonb_typeof(context) = 'object'::text))
);

ALTER TABLE ONLY cdl.workflow_instances FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_instances OWNER TO cdlstore_owner;

ALTER TABLE cdl.workflow_instances ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.workflow_instances_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE cdl.workflow_lookup_tables (
    file_id bigint NOT NULL,
    table_name character varying(100) NOT NULL,
    entries jsonb NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT workflow_lookup_tables_entries_check CHECK ((jsonb_typeof(entries) = 'object'::text))
);

ALTER TABLE ONLY cdl.workflow_lookup_tables FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_lookup_tables OWNER TO cdlstore_owner;

CREATE TABLE cdl.workflow_states (
    id bigint NOT NULL,
    workflow_id bigint NOT NULL,
    state_name character varying(100) NOT NULL,
    description text,
    prompt_injection text,
    is_final boolean DEFAULT false NOT NULL,
    timeout_seconds integer,
    timeout_action character varying(50),
    timeout_message text,
    sort_order integer NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT workflow_states_timeout_seconds_check CHECK ((timeout_seconds > 0))
);

ALTER TABLE ONLY cdl.workflow_states FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_states OWNER TO cdlstore_owner;

ALTER TABLE cdl.workflow_states ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.workflow_states_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE cdl.workflow_transitions (
    id bigint NOT NULL,
    workflow_id bigint NOT NULL,
    from_state character varying(100) NOT NULL,
    to_state character varying(100) NOT NULL,
    patterns text[] DEFAULT '{}'::text[] NOT NULL,
    keywords text[] DEFAULT '{}'::text[] NOT NULL,
    action character varying(50),
    sort_order integer NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    keyword_query tsquery,
    to_final boolean DEFAULT false NOT NULL,
    to_timeout_seconds numeric,
    to_prompt_injection text,
    workflow_name character varying(100),
    system_prompt_addition text
);

ALTER TABLE ONLY cdl.workflow_transitions FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_transitions OWNER TO cdlstore_owner;

ALTER TABLE cdl.workflow_transitions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.workflow_transitions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE cdl.workflow_triggers (
    id bigint NOT NULL,
    workflow_id bigint NOT NULL,
    trigger_type cdl.workflow_trigger_enum NOT NULL,
    trigger_value text NOT NULL,
    required_literal text,
    sort_order integer NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL
);

ALTER TABLE ONLY cdl.workflow_triggers FORCE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_triggers OWNER TO cdlstore_owner;

ALTER TABLE cdl.workflow_triggers ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.workflow_triggers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE cdlstore_internal.shard_identity (
    only_row boolean DEFAULT true NOT NULL,
    part integer NOT NULL,
    partitions integer NOT NULL,
    CONSTRAINT shard_identity_check CHECK ((part < partitions)),
    CONSTRAINT shard_identity_only_row_check CHECK (only_row),
    CONSTRAINT shard_identity_part_check CHECK ((part >= 0)),
    CONSTRAINT shard_identity_partitions_check CHECK ((((partitions >= 1) AND (partitions <= 1024)) AND ((partitions & (partitions - 1)) = 0)))
);

ALTER TABLE cdlstore_internal.shard_identity OWNER TO cdlstore_owner;

COMMENT ON TABLE cdlstore_internal.shard_identity IS 'This shard''s partition and the partition count, set by the proxy (cdl.set_shard_identity); empty on one node.';

CREATE TABLE cdlstore_internal.tenant_bindings (
    role_oid oid NOT NULL,
    role_name name NOT NULL,
    tenant text NOT NULL,
    bound_by name DEFAULT SESSION_USER NOT NULL,
    bound_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE cdlstore_internal.tenant_bindings OWNER TO cdlstore_owner;

CREATE TABLE docstore.active_tag (
    document_uuid uuid NOT NULL,
    tag text NOT NULL,
    document_version integer NOT NULL,
    document jsonb NOT NULL,
    is_deleted boolean DEFAULT false NOT NULL,
    set_by text,
    set_by_type text,
    set_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT active_tag_tag_check CHECK (((tag <> ''::text) AND (length(tag) <= 100)))
);

ALTER TABLE ONLY docstore.active_tag FORCE ROW LEVEL SECURITY;

ALTER TABLE docstore.active_tag OWNER TO cdlstore_owner;

CREATE TABLE docstore.change_event (
    id bigint NOT NULL,
    xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    operation text NOT NULL,
    namespace text NOT NULL,
    type text NOT NULL,
    document_uuid uuid NOT NULL,
    version integer,
    tag text,
    actor text,
    session_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT change_event_operation_check CHECK ((operation = ANY (ARRAY['put'::text, 'tag'::text, 'untag'::text, 'delete'::text, 'purge'::text, 'prune'::text])))
);

ALTER TABLE ONLY docstore.change_event FORCE ROW LEVEL SECURITY;

ALTER TABLE docstore.change_event OWNER TO cdlstore_owner;

ALTER TABLE docstore.change_event ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME docstore.change_event_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE docstore.document_body (
    document_body_uuid uuid DEFAULT gen_random_uuid() NOT NULL,
    body_hash bytea NOT NULL,
    body jsonb NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL
);

ALTER TABLE ONLY docstore.document_body FORCE ROW LEVEL SECURITY;

ALTER TABLE docstore.document_body OWNER TO cdlstore_owner;

ALTER TABLE docstore.document_header ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME docstore.document_header_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE docstore.documents (
    document_uuid uuid NOT NULL,
    namespace text NOT NULL,
    type text NOT NULL,
    latest_version integer NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    deleted_by text,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    deleted_by_type text,
    CONSTRAINT documents_latest_version_check CHECK ((latest_version > 0)),
    CONSTRAINT documents_namespace_check CHECK (((namespace <> ''::text) AND (length(namespace) <= 200))),
    CONSTRAINT documents_type_check CHECK (((type <> ''::text) AND (length(type) <= 200)))
);

ALTER TABLE ONLY docstore.documents FORCE ROW LEVEL SECURITY;

ALTER TABLE docstore.documents OWNER TO cdlstore_owner;

CREATE TABLE docstore.retention_policy (
    namespace text NOT NULL,
    type text NOT NULL,
    keep_last integer NOT NULL,
    older_than interval NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT retention_policy_keep_last_check CHECK ((keep_last >= 1)),
    CONSTRAINT retention_policy_older_than_check CHECK ((older_than >= '00:00:00'::interval))
);

ALTER TABLE ONLY docstore.retention_policy FORCE ROW LEVEL SECURITY;

ALTER TABLE docstore.retention_policy OWNER TO cdlstore_owner;

CREATE TABLE docstore.tag_event (
    id bigint NOT NULL,
    document_uuid uuid NOT NULL,
    tag text NOT NULL,
    operation text NOT NULL,
    old_version integer,
    new_version integer,
    actor text,
    actor_type text,
    session_id text,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT tag_event_operation_check CHECK ((operation = ANY (ARRAY['set'::text, 'move'::text, 'remove'::text])))
);

ALTER TABLE ONLY docstore.tag_event FORCE ROW LEVEL SECURITY;

ALTER TABLE docstore.tag_event OWNER TO cdlstore_owner;

ALTER TABLE docstore.tag_event ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME docstore.tag_event_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE docstore.tag_policy (
    namespace text NOT NULL,
    tag text NOT NULL,
    is_protected boolean DEFAULT false NOT NULL,
    is_immutable boolean DEFAULT false NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT tag_policy_tag_check CHECK (((tag <> ''::text) AND (length(tag) <= 100)))
);

ALTER TABLE ONLY docstore.tag_policy FORCE ROW LEVEL SECURITY;

ALTER TABLE docstore.tag_policy OWNER TO cdlstore_owner;

CREATE TABLE game.accounts (
    id bigint NOT NULL,
    external_id text,
    email text NOT NULL,
    display_name text,
    status text DEFAULT 'active'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT accounts_email_check CHECK ((email ~ '^[^@\s]+@[^@\s]+$'::text)),
    CONSTRAINT accounts_status_check CHECK ((status = ANY (ARRAY['active'::text, 'suspended'::text, 'deleted'::text])))
);

ALTER TABLE ONLY game.accounts FORCE ROW LEVEL SECURITY;

ALTER TABLE game.accounts OWNER TO cdlstore_owner;

ALTER TABLE game.accounts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME game.accounts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE game.game_sessions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME game.game_sessions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE game.player_scenario_scores (
    id bigint NOT NULL,
    external_id text,
    profile_id bigint NOT NULL,
    scenario_id text NOT NULL,
    compass_axis text NOT NULL,
    score numeric NOT NULL,
    session_id bigint,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT player_scenario_scores_compass_axis_check CHECK ((compass_axis <> ''::text)),
    CONSTRAINT player_scenario_scores_scenario_id_check CHECK ((scenario_id <> ''::text))
);

ALTER TABLE ONLY game.player_scenario_scores FORCE ROW LEVEL SECURITY;

ALTER TABLE game.player_scenario_scores OWNER TO cdlstore_owner;

ALTER TABLE game.player_scenario_scores ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME game.player_scenario_scores_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE game.user_badges (
    id bigint NOT NULL,
    profile_id bigint NOT NULL,
    badge text NOT NULL,
    axis text,
    earned_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT user_badges_badge_check CHECK ((badge <> ''::text))
);

ALTER TABLE ONLY game.user_badges FORCE ROW LEVEL SECURITY;

ALTER TABLE game.user_badges OWNER TO cdlstore_owner;

ALTER TABLE game.user_badges ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME game.user_badges_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE game.user_profiles (
    id bigint NOT NULL,
    external_id text,
    account_id bigint NOT NULL,
    name text NOT NULL,
    age_group text,
    avatar text,
    preferences jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant text DEFAULT cdlstore_internal.default_tenant() NOT NULL,
    CONSTRAINT user_profiles_name_check CHECK ((name <> ''::text)),
    CONSTRAINT user_profiles_preferences_check CHECK ((jsonb_typeof(preferences) = 'object'::text))
);

ALTER TABLE ONLY game.user_profiles FORCE ROW LEVEL SECURITY;

ALTER TABLE game.user_profiles OWNER TO cdlstore_owner;

ALTER TABLE game.user_profiles ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME game.user_profiles_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ops.agent_playground_messages ALTER COLUMN message_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.agent_playground_messages_message_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ops.events ALTER COLUMN event_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.events_event_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ops.workflows ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.workflows_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY cdl.character_change_log
    ADD CONSTRAINT character_change_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.character_documents
    ADD CONSTRAINT character_documents_character_id_key UNIQUE (character_id);

ALTER TABLE ONLY cdl.character_documents
    ADD CONSTRAINT character_documents_pkey PRIMARY KEY (normalized_name, tenant);

ALTER TABLE ONLY cdl.character_field_definitions
    ADD CONSTRAINT character_field_definitions_field_path_key UNIQUE (field_path, tenant);

ALTER TABLE ONLY cdl.character_field_definitions
    ADD CONSTRAINT character_field_definitions_path_keys_key UNIQUE (path_keys, tenant);

ALTER TABLE ONLY cdl.character_field_definitions
    ADD CONSTRAINT character_field_definitions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.character_field_values
    ADD CONSTRAINT character_field_values_character_id_field_definition_id_key UNIQUE (character_id, field_definition_id);

ALTER TABLE ONLY cdl.character_field_values
    ADD CONSTRAINT character_field_values_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.character_knowledge
    ADD CONSTRAINT character_knowledge_key UNIQUE (character_id, knowledge_key);

ALTER TABLE ONLY cdl.character_knowledge
    ADD CONSTRAINT character_knowledge_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.character_sections
    ADD CONSTRAINT character_sections_pkey PRIMARY KEY (character_id, section);

ALTER TABLE ONLY cdl.character_versions
    ADD CONSTRAINT character_versions_character_id_version_number_key UNIQUE (character_id, version_number);

ALTER TABLE ONLY cdl.character_versions
    ADD CONSTRAINT character_versions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.character_workflows
    ADD CONSTRAINT character_workflows_character_id_workflow_name_definition_v_key UNIQUE (character_id, workflow_name, definition_version);

ALTER TABLE ONLY cdl.character_workflows
    ADD CONSTRAINT character_workflows_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.characters
    ADD CONSTRAINT characters_normalized_name_key UNIQUE (normalized_name, tenant);

ALTER TABLE ONLY cdl.characters
    ADD CONSTRAINT characters_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.communication_patterns
    ADD CONSTRAINT communication_patterns_name_key UNIQUE (character_id, pattern_type, pattern_name);

ALTER TABLE ONLY cdl.communication_patterns
    ADD CONSTRAINT communication_patterns_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.definition_log
    ADD CONSTRAINT definition_log_pkey PRIMARY KEY (version);

ALTER TABLE ONLY cdl.response_templates
    ADD CONSTRAINT response_templates_name_key UNIQUE (character_id, scenario, template_name);

ALTER TABLE ONLY cdl.response_templates
    ADD CONSTRAINT response_templates_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.workflow_context_extractors
    ADD CONSTRAINT workflow_context_extractors_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.workflow_context_extractors
    ADD CONSTRAINT workflow_context_extractors_workflow_id_context_key_key UNIQUE (workflow_id, context_key);

ALTER TABLE ONLY cdl.workflow_execution_log
    ADD CONSTRAINT workflow_execution_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.workflow_files
    ADD CONSTRAINT workflow_files_character_id_file_version_key UNIQUE (character_id, file_version);

ALTER TABLE ONLY cdl.workflow_files
    ADD CONSTRAINT workflow_files_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.workflow_instances
    ADD CONSTRAINT workflow_instances_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.workflow_lookup_tables
    ADD CONSTRAINT workflow_lookup_tables_pkey PRIMARY KEY (file_id, table_name);

ALTER TABLE ONLY cdl.workflow_states
    ADD CONSTRAINT workflow_states_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.workflow_states
    ADD CONSTRAINT workflow_states_workflow_id_state_name_key UNIQUE (workflow_id, state_name);

ALTER TABLE ONLY cdl.workflow_transitions
    ADD CONSTRAINT workflow_transitions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.workflow_transitions
    ADD CONSTRAINT workflow_transitions_workflow_id_from_state_sort_order_key UNIQUE (workflow_id, from_state, sort_order);

ALTER TABLE ONLY cdl.workflow_triggers
    ADD CONSTRAINT workflow_triggers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.workflow_triggers
    ADD CONSTRAINT workflow_triggers_workflow_id_trigger_type_sort_order_key UNIQUE (workflow_id, trigger_type, sort_order);

ALTER TABLE ONLY cdlstore_internal.feed_consumers
    ADD CONSTRAINT feed_consumers_key UNIQUE (feed, consumer, tenant);

ALTER TABLE ONLY cdlstore_internal.shard_identity
    ADD CONSTRAINT shard_identity_pkey PRIMARY KEY (only_row);

ALTER TABLE ONLY cdlstore_internal.tenant_bindings
    ADD CONSTRAINT tenant_bindings_pkey PRIMARY KEY (role_oid);

ALTER TABLE ONLY docstore.active_tag
    ADD CONSTRAINT active_tag_pkey PRIMARY KEY (document_uuid, tag);

ALTER TABLE ONLY docstore.change_event
    ADD CONSTRAINT change_event_pkey PRIMARY KEY (id);

ALTER TABLE ONLY docstore.document_body
    ADD CONSTRAINT document_body_body_hash_key UNIQUE (body_hash, tenant);

ALTER TABLE ONLY docstore.document_body
    ADD CONSTRAINT document_body_pkey PRIMARY KEY (document_body_uuid);

ALTER TABLE ONLY docstore.document_header
    ADD CONSTRAINT document_header_document_uuid_version_key UNIQUE (document_uuid, version);

ALTER TABLE ONLY docstore.document_header
    ADD CONSTRAINT document_header_id_key UNIQUE (id);

ALTER TABLE ONLY docstore.document_header
    ADD CONSTRAINT document_header_pkey PRIMARY KEY (namespace, type, document_uuid, version);

ALTER TABLE ONLY docstore.documents
    ADD CONSTRAINT documents_pkey PRIMARY KEY (document_uuid);

ALTER TABLE ONLY docstore.retention_policy
    ADD CONSTRAINT retention_policy_key UNIQUE (namespace, type, tenant);

ALTER TABLE ONLY docstore.tag_event
    ADD CONSTRAINT tag_event_pkey PRIMARY KEY (id);

ALTER TABLE ONLY docstore.tag_policy
    ADD CONSTRAINT tag_policy_pkey PRIMARY KEY (namespace, tag, tenant);

ALTER TABLE ONLY game.accounts
    ADD CONSTRAINT accounts_external_id_key UNIQUE (external_id, tenant);

ALTER TABLE ONLY game.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY game.game_sessions
    ADD CONSTRAINT game_sessions_external_id_key UNIQUE (external_id, tenant);

ALTER TABLE ONLY game.game_sessions
    ADD CONSTRAINT game_sessions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY game.player_scenario_scores
    ADD CONSTRAINT player_scenario_scores_external_id_key UNIQUE (external_id, tenant);

ALTER TABLE ONLY game.player_scenario_scores
    ADD CONSTRAINT player_scenario_scores_key UNIQUE (profile_id, scenario_id, compass_axis);

ALTER TABLE ONLY game.player_scenario_scores
    ADD CONSTRAINT player_scenario_scores_pkey PRIMARY KEY (id);

ALTER TABLE ONLY game.user_badges
    ADD CONSTRAINT user_badges_pkey PRIMARY KEY (id);

ALTER TABLE ONLY game.user_badges
    ADD CONSTRAINT user_badges_profile_badge_key UNIQUE (profile_id, badge);

ALTER TABLE ONLY game.user_profiles
    ADD CONSTRAINT user_profiles_external_id_key UNIQUE (external_id, tenant);

ALTER TABLE ONLY game.user_profiles
    ADD CONSTRAINT user_profiles_pkey PRIMARY KEY (id);

ALTER TABLE ONLY ops.agent_playground_messages
    ADD CONSTRAINT agent_playground_messages_pkey PRIMARY KEY (message_id);

ALTER TABLE ONLY ops.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (event_id);

ALTER TABLE ONLY ops.task_executions
    ADD CONSTRAINT task_executions_pkey PRIMARY KEY (execution_id);

ALTER TABLE ONLY ops.workflows
    ADD CONSTRAINT workflows_pkey PRIMARY KEY (workflow_id);

ALTER TABLE ONLY ops.workflows
    ADD CONSTRAINT workflows_seq_key UNIQUE (seq);

CREATE UNIQUE INDEX character_analytics_character_idx ON cdl.character_analytics USING btree (character_id);

CREATE INDEX character_change_log_character_idx ON cdl.character_change_log USING btree (character_id, id);

CREATE INDEX character_field_definitions_parent_idx ON cdl.character_field_definitions USING btree (parent_field_id);

CREATE INDEX character_field_definitions_required_idx ON cdl.character_field_definitions USING btree (id) WHERE (is_required AND (NOT is_inferred));

CREATE INDEX character_field_definitions_type_idx ON cdl.character_field_definitions USING btree (field_type, sort_order);

CREATE INDEX character_field_values_definition_idx ON cdl.character_field_values USING btree (field_definition_id);

CREATE INDEX character_field_values_fts_idx ON cdl.character_field_values USING gin (to_tsvector('english'::regconfig, string_value));

CREATE INDEX character_knowledge_fts_idx ON cdl.character_knowledge USING gin (search_vector);

CREATE INDEX character_knowledge_parent_idx ON cdl.character_knowledge USING btree (parent_knowledge_id);

CREATE INDEX character_knowledge_tags_idx ON cdl.character_knowledge USING gin (tags);

CREATE INDEX character_knowledge_type_idx ON cdl.character_knowledge USING btree (character_id, knowledge_type);

CREATE UNIQUE INDEX character_workflows_current_idx ON cdl.character_workflows USING btree (character_id, workflow_name) WHERE is_current;

CREATE INDEX characters_status_archetype_idx ON cdl.characters USING btree (status, archetype);

CREATE INDEX communication_patterns_fts_idx ON cdl.communication_patterns USING gin (to_tsvector('english'::regconfig, pattern_value));

CREATE INDEX workflow_execution_log_instance_idx ON cdl.workflow_execution_log USING btree (instance_id, id);

CREATE INDEX workflow_execution_log_user_idx ON cdl.workflow_execution_log USING btree (user_id, id);

CREATE UNIQUE INDEX workflow_files_current_idx ON cdl.workflow_files USING btree (character_id) WHERE is_current;

CREATE INDEX workflow_instances_timeout_idx ON cdl.workflow_instances USING btree (timeout_at) WHERE ((status = 'active'::cdl.workflow_status_enum) AND (timeout_at IS NOT NULL));

CREATE INDEX workflow_instances_user_all_idx ON cdl.workflow_instances USING btree (user_id, id);

CREATE INDEX workflow_instances_user_idx ON cdl.workflow_instances USING btree (user_id, character_id) WHERE (status = 'active'::cdl.workflow_status_enum);

CREATE INDEX active_tag_tag_idx ON docstore.active_tag USING btree (tag, document_uuid) INCLUDE (document_version);

CREATE INDEX change_event_order_idx ON docstore.change_event USING btree (xid, id);

CREATE INDEX document_header_body_idx ON docstore.document_header USING btree (document_body_uuid);

CREATE INDEX document_header_metadata_idx ON docstore.document_header USING gin (metadata jsonb_path_ops);

CREATE INDEX document_header_session_idx ON docstore.document_header USING btree (session_id, created_at DESC, id DESC) INCLUDE (type, document_uuid, version) WHERE (session_id IS NOT NULL);

CREATE INDEX document_header_type_idx ON docstore.document_header USING btree (namespace, type, created_at DESC, id DESC);

CREATE INDEX documents_type_idx ON docstore.documents USING btree (namespace, type) WHERE (deleted_at IS NULL);

CREATE INDEX tag_event_tag_idx ON docstore.tag_event USING btree (document_uuid, tag, created_at, id);

CREATE UNIQUE INDEX accounts_email_idx ON game.accounts USING btree (lower(email), tenant);

CREATE INDEX game_sessions_profile_idx ON game.game_sessions USING btree (profile_id, started_at DESC);

CREATE INDEX player_scenario_scores_board_idx ON game.player_scenario_scores USING btree (scenario_id, compass_axis, score DESC);

CREATE INDEX user_profiles_account_idx ON game.user_profiles USING btree (account_id);

CREATE INDEX agent_playground_messages_created_idx ON ops.agent_playground_messages USING btree (created_at);

CREATE INDEX agent_playground_messages_instance_idx ON ops.agent_playground_messages USING btree (instance_id, message_id);

CREATE INDEX events_created_idx ON ops.events USING btree (created_at);

CREATE INDEX events_feed_idx ON ops.events USING btree (xid, event_id);

CREATE INDEX events_type_idx ON ops.events USING btree (event_type, event_id) WHERE ((event_type)::text <> ALL ('{task_enqueued,task_claimed,task_completed}'::text[]));

CREATE INDEX events_workflow_idx ON ops.events USING btree (workflow_id, event_id) WHERE (workflow_id IS NOT NULL);

CREATE INDEX task_executions_completed_idx ON ops.task_executions USING btree (completed_at) WHERE ((status)::text = 'completed'::text);

CREATE INDEX task_executions_created_idx ON ops.task_executions USING btree (created_at) WITH (deduplicate_items=off);

CREATE INDEX task_executions_queue_idx ON ops.task_executions USING btree (task_type, priority DESC, created_at) WHERE ((status)::text = 'pending'::text);

CREATE INDEX task_executions_timeout_idx ON ops.task_executions USING btree (timeout_at) WHERE ((status)::text = 'running'::text);

CREATE INDEX task_executions_workflow_idx ON ops.task_executions USING btree (workflow_id) WHERE (workflow_id IS NOT NULL);

CREATE INDEX workflows_deadline_idx ON ops.workflows USING btree (deadline) WHERE (status = ANY (ARRAY['pending'::text, 'running'::text]));

CREATE INDEX workflows_list_idx ON ops.workflows USING btree (created_at DESC, seq DESC);

CREATE INDEX workflows_status_idx ON ops.workflows USING btree (status, workflow_type, created_at DESC);

CREATE TRIGGER character_field_values_log AFTER INSERT OR DELETE OR UPDATE ON cdl.character_field_values FOR EACH ROW EXECUTE FUNCTION cdl._log_field_change();

CREATE TRIGGER character_workflows_delete_instances AFTER DELETE ON cdl.character_workflows REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION cdl._delete_workflow_instances();

CREATE TRIGGER characters_check_row BEFORE INSERT OR UPDATE OF normalized_name, version_count ON cdl.characters FOR EACH ROW EXECUTE FUNCTION cdl._check_character_row();

CREATE TRIGGER characters_delete_change_log AFTER DELETE ON cdl.characters REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION cdl._delete_change_log();

CREATE TRIGGER workflow_instances_delete_log AFTER DELETE ON cdl.workflow_instances REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION cdl._delete_instance_log();

CREATE TRIGGER events_append_only BEFORE DELETE OR UPDATE ON ops.events FOR EACH ROW EXECUTE FUNCTION ops._refuse_change();

CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON ops.events FOR EACH STATEMENT EXECUTE FUNCTION ops._refuse_change();

ALTER TABLE ONLY cdl.character_documents
    ADD CONSTRAINT character_documents_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.character_field_definitions
    ADD CONSTRAINT character_field_definitions_parent_field_id_fkey FOREIGN KEY (parent_field_id) REFERENCES cdl.character_field_definitions(id);

ALTER TABLE ONLY cdl.character_field_values
    ADD CONSTRAINT character_field_values_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.character_field_values
    ADD CONSTRAINT character_field_values_field_definition_id_fkey FOREIGN KEY (field_definition_id) REFERENCES cdl.character_field_definitions(id);

ALTER TABLE ONLY cdl.character_knowledge
    ADD CONSTRAINT character_knowledge_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.character_knowledge
    ADD CONSTRAINT character_knowledge_parent_knowledge_id_fkey FOREIGN KEY (parent_knowledge_id) REFERENCES cdl.character_knowledge(id) ON DELETE SET NULL;

ALTER TABLE ONLY cdl.character_sections
    ADD CONSTRAINT character_sections_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.character_versions
    ADD CONSTRAINT character_versions_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.character_workflows
    ADD CONSTRAINT character_workflows_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.character_workflows
    ADD CONSTRAINT character_workflows_file_id_fkey FOREIGN KEY (file_id) REFERENCES cdl.workflow_files(id);

ALTER TABLE ONLY cdl.communication_patterns
    ADD CONSTRAINT communication_patterns_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.response_templates
    ADD CONSTRAINT response_templates_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.workflow_context_extractors
    ADD CONSTRAINT workflow_context_extractors_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES cdl.character_workflows(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.workflow_files
    ADD CONSTRAINT workflow_files_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.workflow_lookup_tables
    ADD CONSTRAINT workflow_lookup_tables_file_id_fkey FOREIGN KEY (file_id) REFERENCES cdl.workflow_files(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.workflow_states
    ADD CONSTRAINT workflow_states_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES cdl.character_workflows(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.workflow_transitions
    ADD CONSTRAINT workflow_transitions_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES cdl.character_workflows(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.workflow_triggers
    ADD CONSTRAINT workflow_triggers_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES cdl.character_workflows(id) ON DELETE CASCADE;

ALTER TABLE ONLY docstore.active_tag
    ADD CONSTRAINT active_tag_document_uuid_document_version_fkey FOREIGN KEY (document_uuid, document_version) REFERENCES docstore.document_header(document_uuid, version);

ALTER TABLE ONLY docstore.active_tag
    ADD CONSTRAINT active_tag_document_uuid_fkey FOREIGN KEY (document_uuid) REFERENCES docstore.documents(document_uuid) ON DELETE CASCADE;

ALTER TABLE ONLY docstore.document_header
    ADD CONSTRAINT document_header_document_body_uuid_fkey FOREIGN KEY (document_body_uuid) REFERENCES docstore.document_body(document_body_uuid);

ALTER TABLE ONLY docstore.document_header
    ADD CONSTRAINT document_header_document_uuid_fkey FOREIGN KEY (document_uuid) REFERENCES docstore.documents(document_uuid) ON DELETE CASCADE;

ALTER TABLE ONLY docstore.tag_event
    ADD CONSTRAINT tag_event_document_uuid_fkey FOREIGN KEY (document_uuid) REFERENCES docstore.documents(document_uuid) ON DELETE CASCADE;

ALTER TABLE ONLY game.game_sessions
    ADD CONSTRAINT game_sessions_account_id_fkey FOREIGN KEY (account_id) REFERENCES game.accounts(id) ON DELETE CASCADE;

ALTER TABLE ONLY game.game_sessions
    ADD CONSTRAINT game_sessions_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES game.user_profiles(id) ON DELETE CASCADE;

ALTER TABLE ONLY game.player_scenario_scores
    ADD CONSTRAINT player_scenario_scores_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES game.user_profiles(id) ON DELETE CASCADE;

ALTER TABLE ONLY game.player_scenario_scores
    ADD CONSTRAINT player_scenario_scores_session_id_fkey FOREIGN KEY (session_id) REFERENCES game.game_sessions(id) ON DELETE SET NULL;

ALTER TABLE ONLY game.user_badges
    ADD CONSTRAINT user_badges_profile_id_fkey FOREIGN KEY (profile_id) REFERENCES game.user_profiles(id) ON DELETE CASCADE;

ALTER TABLE ONLY game.user_profiles
    ADD CONSTRAINT user_profiles_account_id_fkey FOREIGN KEY (account_id) REFERENCES game.accounts(id) ON DELETE CASCADE;

ALTER TABLE ONLY ops.task_executions
    ADD CONSTRAINT task_executions_workflow_id_fkey FOREIGN KEY (workflow_id) REFERENCES ops.workflows(workflow_id) ON DELETE SET NULL;

ALTER TABLE cdl.character_change_log ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_documents ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_field_definitions ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_field_values ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_knowledge ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_sections ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_versions ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.character_workflows ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.characters ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.communication_patterns ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.definition_log ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.response_templates ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON cdl.character_change_log USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.character_documents USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.character_field_definitions USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.character_field_values USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.character_knowledge USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.character_sections USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.character_versions USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.character_workflows USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.characters USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.communication_patterns USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.definition_log USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.response_templates USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.workflow_context_extractors USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.workflow_execution_log USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.workflow_files USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.workflow_instances USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.workflow_lookup_tables USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.workflow_states USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.workflow_transitions USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON cdl.workflow_triggers USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

ALTER TABLE cdl.workflow_context_extractors ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_execution_log ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_files ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_instances ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_lookup_tables ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_states ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_transitions ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdl.workflow_triggers ENABLE ROW LEVEL SECURITY;

ALTER TABLE cdlstore_internal.feed_consumers ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON cdlstore_internal.feed_consumers USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

ALTER TABLE docstore.active_tag ENABLE ROW LEVEL SECURITY;

ALTER TABLE docstore.change_event ENABLE ROW LEVEL SECURITY;

ALTER TABLE docstore.document_body ENABLE ROW LEVEL SECURITY;

ALTER TABLE docstore.document_header ENABLE ROW LEVEL SECURITY;

ALTER TABLE docstore.documents ENABLE ROW LEVEL SECURITY;

ALTER TABLE docstore.retention_policy ENABLE ROW LEVEL SECURITY;

ALTER TABLE docstore.tag_event ENABLE ROW LEVEL SECURITY;

ALTER TABLE docstore.tag_policy ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON docstore.active_tag USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON docstore.change_event USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON docstore.document_body USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON docstore.document_header USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON docstore.documents USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON docstore.retention_policy USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON docstore.tag_event USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON docstore.tag_policy USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

ALTER TABLE game.accounts ENABLE ROW LEVEL SECURITY;

ALTER TABLE game.game_sessions ENABLE ROW LEVEL SECURITY;

ALTER TABLE game.player_scenario_scores ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON game.accounts USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON game.game_sessions USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON game.player_scenario_scores USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON game.user_badges USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON game.user_profiles USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

ALTER TABLE game.user_badges ENABLE ROW LEVEL SECURITY;

ALTER TABLE game.user_profiles ENABLE ROW LEVEL SECURITY;

ALTER TABLE ops.agent_playground_messages ENABLE ROW LEVEL SECURITY;

ALTER TABLE ops.events ENABLE ROW LEVEL SECURITY;

ALTER TABLE ops.task_executions ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON ops.agent_playground_messages USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON ops.events USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON ops.task_executions USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

CREATE POLICY tenant_isolation ON ops.workflows USING (((tenant = cdlstore_internal.call_tenant()) OR (cdlstore_internal.call_tenant() = '*'::text))) WITH CHECK ((tenant = NULLIF(cdlstore_internal.call_tenant(), '*'::text)));

ALTER TABLE ops.workflows ENABLE ROW LEVEL SECURITY;

GRANT USAGE ON SCHEMA cdl TO cdlstore_app;
GRANT USAGE ON SCHEMA cdl TO cdlstore_readonly;

GRANT USAGE ON SCHEMA cdlstore TO cdlstore_tenant_admin;

GRANT USAGE ON SCHEMA docstore TO cdlstore_app;
GRANT USAGE ON SCHEMA docstore TO cdlstore_readonly;

GRANT USAGE ON SCHEMA game TO cdlstore_app;
GRANT USAGE ON SCHEMA game TO cdlstore_readonly;

GRANT USAGE ON SCHEMA ops TO cdlstore_app;
GRANT USAGE ON SCHEMA ops TO cdlstore_readonly;

REVOKE ALL ON FUNCTION cdl._actor() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._cdl_body(doc json) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._character_id(name text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._character_not_found(name text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_character_row() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_field_value(field_path text, data_type cdl.data_type_enum, rules jsonb, is_required boolean, value jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_key(p_key text, p_name text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_key_count(doc jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_label(value text, labels anyarray, what text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_leaf(prefix text[], value jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_message(user_id text, message text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_nothing_required_below(prefix text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_rules(field_path text, rules jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_string_size(path text[], value jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_verdicts(llm_verdicts jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._create_version(p_character_id bigint, version_name character varying, description text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._current_workflow_file(character_name text, content_hash text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._definition_call(p_function text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._definition_sequences() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._delete_change_log() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._delete_instance_log() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._delete_workflow_instances() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._derived_columns(doc jsonb, OUT name text, OUT occupation text, OUT description text, OUT archetype cdl.character_archetype_enum) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._document_part(p_character_id bigint, part text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._end_event(status cdl.workflow_status_enum) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._expire(as_of timestamp with time zone, p_user_id text, p_character_id bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._extract_context(extractors jsonb, p_file_id bigint, validation_rules jsonb, message text, groups text[], base jsonb, OUT context jsonb, OUT rejected text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._field_place(p_character_id bigint, keys text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._field_type(section text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._fold_name(name text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._import_character(character_json jsonb, ordered json, import_source character varying, normalized_name character varying) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._import_key(normalized_name text, name text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._infer_data_type(value jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._instance_id(p_user_id text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._is_leaf(node jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._json_leaves(doc json) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._json_merge(base json, winner json) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._json_ordered(doc json, depth integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._json_remove(doc json, keys text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._json_set(doc json, keys text[], new_value json) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._keyword_query(keywords text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._lock_character(name text, sections text[], OUT character_id bigint, OUT doc jsonb, OUT ordered json) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._lock_user(p_character_id bigint, p_user_id text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._log(p_instance_id bigint, p_user_id text, event cdl.workflow_event_enum, from_state text, to_state text, message text, details jsonb, ended cdl.workflow_status_enum) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._log_field_change() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._log_rows(event cdl.workflow_event_enum, from_state text, to_state text, message text, details jsonb, ended cdl.workflow_status_enum) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._match_lists(message text, words tsvector, keyword_query tsquery, patterns text[], keywords text[], required_literals text[], OUT pattern text, OUT groups text[], OUT keyword text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._message_facts(request_context jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._nodes(prefix text[], doc jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._parse_path(field_path text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._path_text(keys text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._placeholders(template text, prefix text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._refresh_character(p_character_id bigint, written text[], parts text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._regex_escape(value text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._register_definitions(prefix text[], doc jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._render(template text, context jsonb, prefix text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._render_document(p_character_id bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._replace_fields(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._replace_leaf(p_character_id bigint, prefix text[], new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._replace_leaf(p_character_id bigint, p_definition_id bigint, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._replace_subtree(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._require_proxy() FROM PUBLIC;
GRANT ALL ON FUNCTION cdl._require_proxy() TO cdlstore_proxy;

REVOKE ALL ON FUNCTION cdl._required_literal(pattern text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._save_document(p_character_id bigint, new_cdl json, parts text[], written text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._save_sections(p_character_id bigint, new_cdl json, written text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._search(p_character_id bigint, query text, max_results integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._section_doc(section_name text, section json) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._start(p_user_id text, p_workflow_id bigint, context jsonb, trigger jsonb, active bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._state_status(is_final boolean, state text, action text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._state_timeout(is_final boolean, timeout_seconds numeric, as_of timestamp with time zone) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._step(action text, p_instance_id bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._step_json(action text, instance_id bigint, workflow_name text, state text, status cdl.workflow_status_enum, context jsonb, prompt_injection text, system_prompt_addition text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._store_cdl(p_character_id bigint, old_cdl jsonb, new_cdl jsonb, new_text json, p_source character varying) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._store_workflow(character_id bigint, file_id bigint, wf json, sort_order bigint, file json) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._store_workflow_file(character_id bigint, file json) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._stored_cdl(p_character_id bigint, sections text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._stored_text(p_character_id bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._timeout_seconds(timeout_seconds integer, config jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._transition(p_instance_id bigint, p_user_id text, p_workflow_id bigint, p_state text, message text, words tsvector) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._validate_nodes(prefix text[], doc jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._validate_workflow(name text, def json, lookups jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._validate_workflow_file(workflow_yaml json) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._value_jsonb(string_value text, number_value numeric, boolean_value boolean, json_value jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._version_snapshot(p_character_id bigint, p_version integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_action(value json, place text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_config(config json) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_extractors(def json, place text, lookups jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_fail(place text, problem text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_keywords(value json, place text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_lookups(lookup_tables json) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_missing_placeholder(template text, place text, keys text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_patterns(value json, place text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_states(def json, place text, states text[], keys text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_strings(value json, place text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_triggers(def json, place text, OUT patterns text[], OUT keywords text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._wf_validation_rules(def json, place text, keys text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._workflow_candidates(p_character_id bigint, message text, request_context jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl.apply_definition(definition_version bigint, function_name text, arguments text[], actor character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.apply_definition(definition_version bigint, function_name text, arguments text[], actor character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.apply_definition(definition_version bigint, function_name text, arguments text[], actor character varying, tenant text) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.apply_definition(definition_version bigint, function_name text, arguments text[], actor character varying, tenant text) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.archive_character(name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.archive_character(name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.as_tenant(tenant text, value anyelement) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.as_tenant(tenant text, value anyelement) TO cdlstore_proxy;

REVOKE ALL ON FUNCTION cdl.cancel_workflow_instance(instance_id bigint, reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.cancel_workflow_instance(instance_id bigint, reason text) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.check_workflow_triggers(character_name character varying, user_message text, user_id character varying, request_context jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.check_workflow_triggers(character_name character varying, user_message text, user_id character varying, request_context jsonb) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.create_character_version(name character varying, version_name character varying, description text) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.create_character_version(name character varying, version_name character varying, description text) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.define_character_field(field_path character varying, data_type character varying, field_type character varying, validation_rules jsonb, description text, is_required boolean, category character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.define_character_field(field_path character varying, data_type character varying, field_type character varying, validation_rules jsonb, description text, is_required boolean, category character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.definition_log_since(after_version bigint, max_count integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.definition_log_since(after_version bigint, max_count integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.definition_version() FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.definition_version() TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.definition_writes_since(after_version bigint, max_count integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.definition_writes_since(after_version bigint, max_count integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.diff_character_versions(name text, from_version integer, to_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.diff_character_versions(name text, from_version integer, to_version integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.diff_character_versions(name character varying, from_version integer, to_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.diff_character_versions(name character varying, from_version integer, to_version integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.expire_workflow_timeouts(as_of timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.expire_workflow_timeouts(as_of timestamp with time zone) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.export_character_json(name text) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.export_character_json(name text) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.export_character_json(name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.export_character_json(name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.get_character_complete(name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.get_character_complete(name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.get_user_active_workflows(user_id character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.get_user_active_workflows(user_id character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.get_workflow_graph(character_name text, workflow_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.get_workflow_graph(character_name text, workflow_name text) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.import_character_from_json(character_json jsonb, import_source character varying, normalized_name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.import_character_from_json(character_json jsonb, import_source character varying, normalized_name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.import_character_from_json(character_json text, import_source character varying, normalized_name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.import_character_from_json(character_json text, import_source character varying, normalized_name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.import_workflow_from_yaml(character_name character varying, workflow_yaml json) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.import_workflow_from_yaml(character_name character varying, workflow_yaml json) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.list_character_versions(name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.list_character_versions(name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.list_characters(status_filter character varying, archetype_filter character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.list_characters(status_filter character varying, archetype_filter character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.next_workflow_timeout() FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.next_workflow_timeout() TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.normalize_name(name text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl.process_workflow_message(user_id character varying, character_name character varying, message text, llm_confirmed boolean, request_context jsonb, llm_verdicts jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.process_workflow_message(user_id character varying, character_name character varying, message text, llm_confirmed boolean, request_context jsonb, llm_verdicts jsonb) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.refresh_character_analytics() FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.refresh_character_analytics() TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.remove_character_field(name character varying, field_path character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.remove_character_field(name character varying, field_path character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.remove_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.remove_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.remove_knowledge(character_name character varying, knowledge_key character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.remove_knowledge(character_name character varying, knowledge_key character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.remove_response_template(character_name character varying, scenario character varying, template_name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.remove_response_template(character_name character varying, scenario character varying, template_name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.render_character_documents(max_count integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.render_character_documents(max_count integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.render_workflow_prompt(instance_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.render_workflow_prompt(instance_id bigint) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.rollback_character(name character varying, version_number integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.rollback_character(name character varying, version_number integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.schema_version() FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.schema_version() TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.search_character_knowledge(name character varying, query text, max_results integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.search_character_knowledge(name character varying, query text, max_results integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.search_characters(query text, status character varying, max_results integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.search_characters(query text, status character varying, max_results integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.set_shard_identity(part integer, partitions integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.set_shard_identity(part integer, partitions integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.start_workflow_instance(user_id character varying, character_name character varying, workflow_name character varying, initial_context jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.start_workflow_instance(user_id character varying, character_name character varying, workflow_name character varying, initial_context jsonb) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.upsert_character_field(name character varying, field_path character varying, field_value jsonb, field_source character varying, confidence numeric, is_public boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.upsert_character_field(name character varying, field_path character varying, field_value jsonb, field_source character varying, confidence numeric, is_public boolean) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.upsert_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying, pattern_value text, context character varying, frequency character varying, priority integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.upsert_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying, pattern_value text, context character varying, frequency character varying, priority integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.upsert_knowledge(character_name character varying, knowledge_type character varying, knowledge_key character varying, content text, parent_key character varying, confidence numeric, importance integer, tags text[], is_public boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.upsert_knowledge(character_name character varying, knowledge_type character varying, knowledge_key character varying, content text, parent_key character varying, confidence numeric, importance integer, tags text[], is_public boolean) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.upsert_response_template(character_name character varying, scenario character varying, template_name character varying, template_text text, conditions jsonb, priority integer, is_active boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.upsert_response_template(character_name character varying, scenario character varying, template_name character varying, template_text text, conditions jsonb, priority integer, is_active boolean) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdlstore._login_role_oid(login_role name) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore.bind_tenant(login_role name, tenant text) FROM PUBLIC;
GRANT ALL ON FUNCTION cdlstore.bind_tenant(login_role name, tenant text) TO cdlstore_tenant_admin;

REVOKE ALL ON FUNCTION cdlstore.unbind_tenant(login_role name) FROM PUBLIC;
GRANT ALL ON FUNCTION cdlstore.unbind_tenant(login_role name) TO cdlstore_tenant_admin;

REVOKE ALL ON FUNCTION cdlstore_internal.all_tenants(enabled boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.bound_tenant() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.call_tenant() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.check_page(page_size integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.check_tenant_name(tenant text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.current_tenant() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.default_tenant() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.earliest(query text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.feed_ack(p_feed text, p_consumer text, up_to_id bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.feed_announce() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.feed_batch(p_feed text, lo pg_snapshot, hi pg_snapshot, after_xid xid8, after_id bigint, max_count integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.feed_consumer(p_feed text, p_consumer text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.feed_horizon(lo pg_snapshot) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.feed_read(p_feed text, p_consumer text, max_count integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.full_tenant_check() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.hashed_uuid(hash integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.input_text(value text, what text, max_length integer, required boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.is_administrator() FROM PUBLIC;

REVOKE ALL ON PROCEDURE cdlstore_internal.make_tenant_scoped(IN tbl regclass) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.page(rows cdlstore_internal.page_row[], page_size integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.page_cursor(created_at timestamp with time zone, id bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.page_key(after text, page_size integer, OUT created_at timestamp with time zone, OUT id bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.regex_bound(pattern text, i integer, of_group boolean, group_holds_bound boolean, OUT problem text, OUT factor integer, OUT width integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.regex_bracket_end(pattern text, start integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.regex_grammar_problem(pattern text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.regex_group_problem(opening text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.regex_limit(what text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.regex_problem(pattern text, case_insensitive boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.resolved_tenant() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.runnable_regex(pattern text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.shard_hash() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.sweep(candidates text, call text, arg anyelement) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.sweeping() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.tenant_error(code text, named text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.unbound_tenant() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdlstore_internal.unnamed_tenant() FROM PUBLIC;

REVOKE ALL ON FUNCTION docstore._change_tag(p_uuid uuid, p_tag text, p_version integer, p_actor text, p_actor_type text, p_session text, p_expected integer, p_force boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION docstore._check_actor(actor text, actor_type text, session_id text, what text) FROM PUBLIC;

REVOKE ALL ON FUNCTION docstore._check_name(value text, what text) FROM PUBLIC;

REVOKE ALL ON FUNCTION docstore._check_routes(p_uuid uuid, p_namespace text) FROM PUBLIC;

REVOKE ALL ON FUNCTION docstore._drop_orphan_bodies(candidates uuid[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION docstore._emit(operation text, p_namespace text, p_type text, p_uuid uuid, p_version integer, p_tag text, p_actor text, p_session text) FROM PUBLIC;

REVOKE ALL ON FUNCTION docstore._item(h docstore.document_header, body jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION docstore._store_body(body jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION docstore._version(p_uuid uuid, p_version integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION docstore.ack_changes(consumer text, up_to_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.ack_changes(consumer text, up_to_id bigint) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.apply_retention() FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.apply_retention() TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.create_metadata_index(type text, field text) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.create_metadata_index(type text, field text) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.declare_tag(namespace text, tag text, is_protected boolean, is_immutable boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.declare_tag(namespace text, tag text, is_protected boolean, is_immutable boolean) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.delete_document(document_uuid uuid, actor text, actor_type text, session_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.delete_document(document_uuid uuid, actor text, actor_type text, session_id text) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.document_history(document_uuid uuid, max_versions integer) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.document_history(document_uuid uuid, max_versions integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.get_document(document_uuid uuid, version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.get_document(document_uuid uuid, version integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.get_document_by_tag(document_uuid uuid, tag text) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.get_document_by_tag(document_uuid uuid, tag text) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.get_document_by_tag_at(document_uuid uuid, tag text, as_of timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.get_document_by_tag_at(document_uuid uuid, tag text, as_of timestamp with time zone) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.get_tagged(namespace text, type text, tag text, include_body boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.get_tagged(namespace text, type text, tag text, include_body boolean) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.list_by_session(session_id text, types text[], include_body boolean, page_size integer, after text) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.list_by_session(session_id text, types text[], include_body boolean, page_size integer, after text) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.list_documents(namespace text, type text, metadata_filter jsonb, include_body boolean, page_size integer, after text) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.list_documents(namespace text, type text, metadata_filter jsonb, include_body boolean, page_size integer, after text) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.prune_versions(namespace text, type text, keep_last integer, older_than interval, dry_run boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.prune_versions(namespace text, type text, keep_last integer, older_than interval, dry_run boolean) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.purge_document(document_uuid uuid, actor text) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.purge_document(document_uuid uuid, actor text) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.put_document(namespace text, type text, body jsonb, name text, metadata jsonb, created_by text, created_by_type text, session_id text, document_uuid uuid, expected_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.put_document(namespace text, type text, body jsonb, name text, metadata jsonb, created_by text, created_by_type text, session_id text, document_uuid uuid, expected_version integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.read_changes(consumer text, max_count integer) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.read_changes(consumer text, max_count integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.remove_tag(document_uuid uuid, tag text, actor text, actor_type text, session_id text, expected_version integer, force boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.remove_tag(document_uuid uuid, tag text, actor text, actor_type text, session_id text, expected_version integer, force boolean) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.set_retention_policy(namespace text, type text, keep_last integer, older_than interval) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.set_retention_policy(namespace text, type text, keep_last integer, older_than interval) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.set_tag(document_uuid uuid, version integer, tag text, actor text, actor_type text, session_id text, expected_version integer, force boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.set_tag(document_uuid uuid, version integer, tag text, actor text, actor_type text, session_id text, expected_version integer, force boolean) TO cdlstore_app;

REVOKE ALL ON FUNCTION docstore.tag_history(document_uuid uuid, tag text) FROM PUBLIC;
GRANT ALL ON FUNCTION docstore.tag_history(document_uuid uuid, tag text) TO cdlstore_app;

REVOKE ALL ON FUNCTION game._as_document(container text, p_id bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION game._container(container text) FROM PUBLIC;

REVOKE ALL ON FUNCTION game._end_session(p_id bigint, p_expected integer, p_status text) FROM PUBLIC;

REVOKE ALL ON FUNCTION game._import_one(container text, doc jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION game._import_profile(p_external_id text, doc jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION game._normalized(container text, doc jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION game._ref(tbl text, external_id text, field text) FROM PUBLIC;

REVOKE ALL ON FUNCTION game._session_for_change(p_id bigint, p_expected integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION game._session_json(s game.game_sessions) FROM PUBLIC;

REVOKE ALL ON FUNCTION game.abandon_game_session(session_id bigint, expected_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION game.abandon_game_session(session_id bigint, expected_version integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION game.award_badge(profile_id bigint, badge text, axis text) FROM PUBLIC;
GRANT ALL ON FUNCTION game.award_badge(profile_id bigint, badge text, axis text) TO cdlstore_app;

REVOKE ALL ON FUNCTION game.compare_with_documents(container text) FROM PUBLIC;
GRANT ALL ON FUNCTION game.compare_with_documents(container text) TO cdlstore_app;

REVOKE ALL ON FUNCTION game.complete_game_session(session_id bigint, expected_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION game.complete_game_session(session_id bigint, expected_version integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION game.create_account(email text, display_name text, external_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION game.create_account(email text, display_name text, external_id text) TO cdlstore_app;

REVOKE ALL ON FUNCTION game.create_profile(account_id bigint, name text, age_group text, avatar text, preferences jsonb, external_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION game.create_profile(account_id bigint, name text, age_group text, avatar text, preferences jsonb, external_id text) TO cdlstore_app;

REVOKE ALL ON FUNCTION game.get_game_session(session_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION game.get_game_session(session_id bigint) TO cdlstore_app;

REVOKE ALL ON FUNCTION game.get_profile_compass_totals(profile_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION game.get_profile_compass_totals(profile_id bigint) TO cdlstore_app;

REVOKE ALL ON FUNCTION game.get_scenario_leaderboard(scenario_id text, axis text, max_rows integer) FROM PUBLIC;
GRANT ALL ON FUNCTION game.get_scenario_leaderboard(scenario_id text, axis text, max_rows integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION game.import_documents(container text, documents jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION game.import_documents(container text, documents jsonb) TO cdlstore_app;

REVOKE ALL ON FUNCTION game.record_scene_choice(session_id bigint, expected_version integer, scene_id text, choice text, compass_deltas jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION game.record_scene_choice(session_id bigint, expected_version integer, scene_id text, choice text, compass_deltas jsonb) TO cdlstore_app;

REVOKE ALL ON FUNCTION game.start_game_session(profile_id bigint, scenario_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION game.start_game_session(profile_id bigint, scenario_id text) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops._day(day date) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._event(p_type text, p_entity_type text, p_entity_id text, p_workflow_id uuid, p_agent_id text, p_session_id text, p_source text, p_payload jsonb, p_severity text, p_notify boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._task_id(hash integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._fail_task(t ops.task_executions, error text) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._fail_workflow(w ops.workflows, error text) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._leased_task(p_id uuid, p_token uuid) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._move_workflow(p_id uuid, p_to text, p_allowed_from text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._refuse_change() FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._task_for_change(p_id uuid, p_from text[], p_change text) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._task_id(hash integer, bits bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._task_json(t ops.task_executions) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._task_problem(p_name text, p_type text, p_input jsonb, p_priority integer, p_max_retries integer, p_timeout integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._wake_workers() FROM PUBLIC;

REVOKE ALL ON FUNCTION ops._workflow_json(w ops.workflows) FROM PUBLIC;

REVOKE ALL ON FUNCTION ops.ack_events(consumer text, up_to_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.ack_events(consumer text, up_to_id bigint) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.advance_workflow_step(workflow_id uuid, step_result jsonb, state_data jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.advance_workflow_step(workflow_id uuid, step_result jsonb, state_data jsonb) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.append_message(instance_id text, role text, content text, tool_calls jsonb, metadata jsonb, agent_id text, is_error boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.append_message(instance_id text, role text, content text, tool_calls jsonb, metadata jsonb, agent_id text, is_error boolean) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.cancel_task(execution_id uuid, reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.cancel_task(execution_id uuid, reason text) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.claim_tasks(agent_id text, task_types text[], max_count integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.claim_tasks(agent_id text, task_types text[], max_count integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.complete_task(execution_id uuid, lease_token uuid, output jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.complete_task(execution_id uuid, lease_token uuid, output jsonb) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.complete_tasks(completions jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.complete_tasks(completions jsonb) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.complete_workflow(workflow_id uuid, result jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.complete_workflow(workflow_id uuid, result jsonb) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.create_workflow(name text, workflow_type text, description text, total_steps integer, state_data jsonb, assigned_agents text[], metadata jsonb, tags text[], deadline timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.create_workflow(name text, workflow_type text, description text, total_steps integer, state_data jsonb, assigned_agents text[], metadata jsonb, tags text[], deadline timestamp with time zone) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.enqueue_task(task_name text, task_type text, input_data jsonb, priority integer, workflow_id uuid, max_retries integer, timeout_seconds integer, available_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.enqueue_task(task_name text, task_type text, input_data jsonb, priority integer, workflow_id uuid, max_retries integer, timeout_seconds integer, available_at timestamp with time zone) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.enqueue_tasks(tasks jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.enqueue_tasks(tasks jsonb) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.expire_tasks(as_of timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.expire_tasks(as_of timestamp with time zone) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.expire_workflows(as_of timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.expire_workflows(as_of timestamp with time zone) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.export_events(day date) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.export_events(day date) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.export_messages(day date) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.export_messages(day date) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.export_source(kind text, format text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.export_source(kind text, format text) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.export_tasks(day date) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.export_tasks(day date) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.export_workflows(day date) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.export_workflows(day date) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.fail_task(execution_id uuid, lease_token uuid, error text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.fail_task(execution_id uuid, lease_token uuid, error text) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.fail_workflow(workflow_id uuid, error text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.fail_workflow(workflow_id uuid, error text) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.get_conversation(instance_id text, max_messages integer, before bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.get_conversation(instance_id text, max_messages integer, before bigint) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.get_task(execution_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.get_task(execution_id uuid) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.get_workflow(workflow_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.get_workflow(workflow_id uuid) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.heartbeat_task(execution_id uuid, lease_token uuid, extend_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.heartbeat_task(execution_id uuid, lease_token uuid, extend_seconds integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.list_events(event_type text, entity_type text, entity_id text, workflow_id uuid, severity text, page_size integer, after text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.list_events(event_type text, entity_type text, entity_id text, workflow_id uuid, severity text, page_size integer, after text) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.list_tasks(status text, task_type text, workflow_id uuid, max_count integer, before timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.list_tasks(status text, task_type text, workflow_id uuid, max_count integer, before timestamp with time zone) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.list_workflows(status text, workflow_type text, page_size integer, after text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.list_workflows(status text, workflow_type text, page_size integer, after text) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.metrics() FROM PUBLIC;
GRANT ALL ON FUNCTION ops.metrics() TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.next_task_timeout() FROM PUBLIC;
GRANT ALL ON FUNCTION ops.next_task_timeout() TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.read_events(consumer text, max_count integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.read_events(consumer text, max_count integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.record_event(event_type text, entity_type text, entity_id text, workflow_id uuid, agent_id text, session_id text, source text, payload jsonb, severity text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.record_event(event_type text, entity_type text, entity_id text, workflow_id uuid, agent_id text, session_id text, source text, payload jsonb, severity text) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.release_task(execution_id uuid, lease_token uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.release_task(execution_id uuid, lease_token uuid) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.retry_task(execution_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.retry_task(execution_id uuid) TO cdlstore_app;

REVOKE ALL ON FUNCTION ops.start_workflow(workflow_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.start_workflow(workflow_id uuid) TO cdlstore_app;

GRANT SELECT ON TABLE cdl.character_analytics TO cdlstore_readonly;

ALTER DEFAULT PRIVILEGES FOR ROLE cdlstore_owner REVOKE ALL ON FUNCTIONS  FROM PUBLIC;
