CREATE SCHEMA cdl;

ALTER SCHEMA cdl OWNER TO cdlstore_owner;

COMMENT ON SCHEMA cdl IS 'AI characters (CDL) and their workflows';

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

CREATE FUNCTION cdl._actor() RETURNS character varying
    LANGUAGE sql STABLE
    AS $$
    SELECT coalesce(nullif(current_setting('cdlstore.actor', true), ''), session_user)::varchar
$$;

ALTER FUNCTION cdl._actor() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._actor() IS 'Who is changing data: the cdlstore.actor setting, else the session user.';

CREATE FUNCTION cdl._check_field_value(field_path text, data_type cdl.data_type_enum, rules jsonb, is_required boolean, value jsonb) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'cdl', 'pg_temp'
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
        WHEN kind = 'string' AND rules ? 'pattern' AND NOT (value #>> '{}') ~ (rules ->> 'pattern')
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

CREATE FUNCTION cdl._check_label(value text, labels anyarray, what text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
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

CREATE FUNCTION cdl._check_rules(field_path text, rules jsonb) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    rule record;
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
            BEGIN
                PERFORM '' ~ (rule.value #>> '{}');
            EXCEPTION WHEN invalid_regular_expression THEN
                RAISE EXCEPTION 'validation pattern of % does not compile: %', field_path, SQLERRM
                    USING ERRCODE = 'CD001';
            END;
        END IF;
    END LOOP;
END
$$;

ALTER FUNCTION cdl._check_rules(field_path text, rules jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._check_rules(field_path text, rules jsonb) IS 'Reject validation rules that are unknown or malformed.';

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
        (character_id, version_number, version_name, description, snapshot, created_by)
    SELECT p_character_id, v_number, _create_version.version_name, _create_version.description,
           jsonb_build_object('cdl', d.complete -> 'cdl', 'cdl_version', c.cdl_version,
                              'file_description', c.file_description,
                              'communication_patterns', d.complete -> 'communication_patterns',
                              'response_templates', d.complete -> 'response_templates',
                              'knowledge', d.complete -> 'knowledge'),
           cdl._actor()
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

CREATE FUNCTION cdl._deep_merge(base jsonb, winner jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(k.key,
               CASE WHEN jsonb_typeof(base -> k.key) = 'object'
                         AND jsonb_typeof(winner -> k.key) = 'object'
                    THEN cdl._deep_merge(base -> k.key, winner -> k.key)
                    ELSE coalesce(winner -> k.key, base -> k.key) END), '{}')
    FROM (SELECT jsonb_object_keys(base) UNION SELECT jsonb_object_keys(winner)) AS k (key));
END
$$;

ALTER FUNCTION cdl._deep_merge(base jsonb, winner jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._deep_merge(base jsonb, winner jsonb) IS 'Objects merged key by key; where both sides hold a non-object value, winner wins.';

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
        WHEN 'workflows' THEN '[]'::jsonb  -- filled by the workflow store
    END;
END
$$;

ALTER FUNCTION cdl._document_part(p_character_id bigint, part text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._document_part(p_character_id bigint, part text) IS 'One list of get_character_complete, built from its table.';

CREATE FUNCTION cdl._field_type(section text) RETURNS cdl.field_type_enum
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN section = ANY (enum_range(NULL::cdl.field_type_enum)::text[])
                THEN section::cdl.field_type_enum ELSE 'custom' END
$$;

ALTER FUNCTION cdl._field_type(section text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._field_type(section text) IS 'The field type of a top section of CDL; custom when unknown.';

CREATE FUNCTION cdl._infer_data_type(value jsonb) RETURNS cdl.data_type_enum
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
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

CREATE FUNCTION cdl._jsonb_remove_path(doc jsonb, keys text[]) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    doc := doc #- keys;
    FOR i IN REVERSE cardinality(keys) - 1 .. 1 LOOP
        EXIT WHEN doc #> keys[1:i] <> '{}'::jsonb;
        doc := doc #- keys[1:i];  -- an object emptied by the removal goes too
    END LOOP;
    RETURN doc;
END
$$;

ALTER FUNCTION cdl._jsonb_remove_path(doc jsonb, keys text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._jsonb_remove_path(doc jsonb, keys text[]) IS 'Remove a path, and the objects that the removal leaves empty.';

CREATE FUNCTION cdl._jsonb_set_path(doc jsonb, keys text[], value jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    FOR i IN 1 .. cardinality(keys) - 1 LOOP
        IF jsonb_typeof(doc #> keys[1:i]) IS DISTINCT FROM 'object' THEN
            doc := jsonb_set(doc, keys[1:i], '{}');
        END IF;
    END LOOP;
    RETURN jsonb_set(doc, keys, value);
END
$$;

ALTER FUNCTION cdl._jsonb_set_path(doc jsonb, keys text[], value jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._jsonb_set_path(doc jsonb, keys text[], value jsonb) IS 'jsonb_set that creates the missing objects on the way.';

CREATE FUNCTION cdl._lock_character(name text, OUT character_id bigint, OUT doc jsonb) RETURNS record
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    -- every write locks the character row first: writes to one character are serialized.
    -- The document is read by a statement of its own, after the lock, so that it is the
    -- newest committed one (a joined row would come from the snapshot taken before waiting).
    SELECT c.id INTO character_id
    FROM cdl.characters AS c
    WHERE c.normalized_name = cdl.normalize_name(_lock_character.name)
    FOR NO KEY UPDATE;
    SELECT d.complete -> 'cdl' INTO doc
    FROM cdl.character_documents AS d WHERE d.character_id = _lock_character.character_id;
    IF character_id IS NULL THEN
        RAISE EXCEPTION 'character % not found', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'CD002', HINT = 'Names match after normalization (cdl.normalize_name).';
    END IF;
END
$$;

ALTER FUNCTION cdl._lock_character(name text, OUT character_id bigint, OUT doc jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._lock_character(name text, OUT character_id bigint, OUT doc jsonb) IS 'Lock a character for writing and return its id and CDL document; CD002 when unknown.';

CREATE FUNCTION cdl._log_field_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
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
        FROM cdl.character_field_definitions d WHERE d.id = OLD.field_definition_id;
    END IF;
    RETURN NULL;
END
$$;

ALTER FUNCTION cdl._log_field_change() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._log_field_change() IS 'Trigger: one character_change_log row for every field value added, updated or removed.';

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
    SELECT t.path, t.value, jsonb_typeof(t.value) <> 'object' OR t.value = '{}'
    FROM t
    WHERE cardinality(t.path) > 0
$$;

ALTER FUNCTION cdl._nodes(prefix text[], doc jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._nodes(prefix text[], doc jsonb) IS 'Every node of doc placed at prefix (the root too, unless prefix is empty). Leaves are scalars, nulls, arrays and empty objects: they are what character_field_values stores.';

CREATE FUNCTION cdl._parse_path(field_path text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    keys text[] := '{}';
    current_key text := '';
    ch text;
    i integer := 1;
BEGIN
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
    escaped text[] := '{}';
BEGIN
    FOREACH k IN ARRAY keys LOOP
        escaped := escaped || replace(replace(k, '\', '\\'), '.', '\.');
    END LOOP;
    RETURN nullif(array_to_string(escaped, '.'), '');
END
$$;

ALTER FUNCTION cdl._path_text(keys text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._path_text(keys text[]) IS 'Keys to a dot path; a "." or "\" inside a key is escaped with "\".';

CREATE FUNCTION cdl._register_definitions(prefix text[], doc jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
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
        UPDATE cdl.character_field_definitions AS c
        SET parent_field_id = p.id
        FROM cdl.character_field_definitions AS p
        WHERE c.id = ANY (new_ids)
          AND cardinality(c.path_keys) > 1
          AND p.path_keys = c.path_keys[1:cardinality(c.path_keys) - 1];
    END IF;
END
$$;

ALTER FUNCTION cdl._register_definitions(prefix text[], doc jsonb) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._register_definitions(prefix text[], doc jsonb) IS 'Register, as inferred definitions, every path of doc (at prefix) that has none yet.';

CREATE FUNCTION cdl._replace_fields(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric DEFAULT 1.0, p_is_public boolean DEFAULT true) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    old_paths text[];
    new_paths text[];
    new_values jsonb[];
    removed integer;
    written integer;
BEGIN
    -- what the character holds at and around prefix now (the document mirrors the rows) ...
    SELECT coalesce(array_agg(p), '{}') INTO old_paths
    FROM (SELECT cdl._path_text(n.path) AS p
          FROM cdl._nodes(prefix, old_cdl #> prefix) AS n WHERE n.is_leaf
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

ALTER FUNCTION cdl._replace_fields(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._replace_fields(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) IS 'Make the field values of a character at prefix equal new_value (NULL removes them). old_cdl is its current document. Returns the number of rows added, changed or removed.';

CREATE FUNCTION cdl._save_document(p_character_id bigint, new_cdl jsonb, parts text[] DEFAULT '{}'::text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    doc jsonb;
    part text;
BEGIN
    -- the caller holds the character's lock; columns first, they are part of the document
    UPDATE cdl.characters AS c
    SET name = coalesce(d.name, c.name),
        occupation = CASE WHEN new_cdl IS NULL THEN c.occupation ELSE d.occupation END,
        description = CASE WHEN new_cdl IS NULL THEN c.description ELSE d.description END,
        archetype = coalesce(d.archetype, c.archetype),
        updated_at = now()
    FROM cdl._derived_columns(new_cdl) AS d
    WHERE c.id = p_character_id
    RETURNING jsonb_build_object(
        'id', c.id, 'name', c.name, 'normalized_name', c.normalized_name,
        'occupation', c.occupation, 'description', c.description, 'archetype', c.archetype,
        'status', c.status, 'cdl_version', c.cdl_version, 'import_source', c.import_source,
        'version_count', c.version_count, 'created_by', c.created_by,
        'created_at', c.created_at, 'updated_at', c.updated_at)
    INTO doc;
    FOREACH part IN ARRAY parts LOOP
        doc := doc || jsonb_build_object(part, cdl._document_part(p_character_id, part));
    END LOOP;
    IF new_cdl IS NOT NULL THEN
        doc := doc || jsonb_build_object('cdl', new_cdl);
    END IF;
    UPDATE cdl.character_documents AS d SET complete = d.complete || doc
    WHERE d.character_id = p_character_id;
    IF NOT FOUND THEN  -- a new character
        INSERT INTO cdl.character_documents (normalized_name, character_id, complete)
        VALUES (doc ->> 'normalized_name', p_character_id, doc);
    END IF;
END
$$;

ALTER FUNCTION cdl._save_document(p_character_id bigint, new_cdl jsonb, parts text[]) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._save_document(p_character_id bigint, new_cdl jsonb, parts text[]) IS 'Bring the document of one character up to date: its columns always, its CDL when given, and the named lists. Called by every write, in its transaction.';

CREATE FUNCTION cdl._search(p_character_id bigint, query text, max_results integer) RETURNS TABLE(character_id bigint, source text, match_path text, snippet text, rank real)
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    tsq tsquery;
BEGIN
    IF query IS NULL OR btrim(query) = '' THEN
        RAISE EXCEPTION 'search query is empty' USING ERRCODE = 'CD001';
    END IF;
    IF max_results IS NULL OR max_results NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_results must be between 1 and 1000, got %', max_results
            USING ERRCODE = 'CD001';
    END IF;
    tsq := websearch_to_tsquery('english', query);
    RETURN QUERY
    SELECT m.character_id, m.source, m.match_path,
           ts_headline('english', m.body, tsq, 'MaxWords=20, MinWords=8, MaxFragments=1'), m.rank
    FROM (
        SELECT v.character_id, 'field'::text AS source, d.field_path AS match_path,
               v.string_value AS body,
               ts_rank(to_tsvector('english'::regconfig, v.string_value), tsq) AS rank
        FROM cdl.character_field_values v
        JOIN cdl.character_field_definitions d ON d.id = v.field_definition_id
        WHERE to_tsvector('english'::regconfig, v.string_value) @@ tsq
          AND (p_character_id IS NULL OR v.character_id = p_character_id)
        UNION ALL
        SELECT k.character_id, 'knowledge', k.knowledge_type || '.' || k.knowledge_key, k.content,
               ts_rank(k.search_vector, tsq)
        FROM cdl.character_knowledge k
        WHERE k.search_vector @@ tsq AND (p_character_id IS NULL OR k.character_id = p_character_id)
        UNION ALL
        SELECT p.character_id, 'communication_pattern', p.pattern_type || '.' || p.pattern_name,
               p.pattern_value, ts_rank(to_tsvector('english'::regconfig, p.pattern_value), tsq)
        FROM cdl.communication_patterns p
        WHERE to_tsvector('english'::regconfig, p.pattern_value) @@ tsq
          AND (p_character_id IS NULL OR p.character_id = p_character_id)
        ORDER BY rank DESC, match_path
        LIMIT max_results
    ) AS m
    ORDER BY m.rank DESC, m.match_path;
END
$$;

ALTER FUNCTION cdl._search(p_character_id bigint, query text, max_results integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._search(p_character_id bigint, query text, max_results integer) IS 'Ranked full-text matches in string field values, knowledge and communication patterns.';

CREATE FUNCTION cdl._store_cdl(p_character_id bigint, old_cdl jsonb, new_cdl jsonb, p_source character varying) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    changed integer;
BEGIN
    changed := cdl._replace_fields(p_character_id, '{}', old_cdl, new_cdl, p_source);
    PERFORM cdl._save_document(p_character_id, new_cdl,
        ARRAY['communication_patterns', 'response_templates', 'knowledge', 'workflows']);
    RETURN changed;
END
$$;

ALTER FUNCTION cdl._store_cdl(p_character_id bigint, old_cdl jsonb, new_cdl jsonb, p_source character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl._store_cdl(p_character_id bigint, old_cdl jsonb, new_cdl jsonb, p_source character varying) IS 'Replace the whole CDL of a locked, validated character: fields and document.';

CREATE FUNCTION cdl._validate_nodes(prefix text[], doc jsonb) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    depth integer;
    missing text;
BEGIN
    SELECT max(cardinality(n.path)) INTO depth FROM cdl._nodes(prefix, doc) AS n;
    IF depth > 32 THEN
        RAISE EXCEPTION 'CDL is nested % levels deep; at most 32 are allowed', depth
            USING ERRCODE = 'CD001';
    END IF;
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

CREATE FUNCTION cdl._value_jsonb(string_value text, number_value numeric, boolean_value boolean, json_value jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
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

CREATE FUNCTION cdl.archive_character(name character varying) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
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

CREATE FUNCTION cdl.create_character_version(name character varying, version_name character varying DEFAULT NULL::character varying, description text DEFAULT NULL::text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
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
    keys text[] := cdl._parse_path(field_path);
    v_type cdl.data_type_enum;
    v_field_type cdl.field_type_enum;
    v_id bigint;
    offender record;
BEGIN
    v_type := cdl._check_label(data_type, enum_range(NULL::cdl.data_type_enum), 'data type');
    v_field_type := CASE WHEN field_type IS NULL THEN cdl._field_type(keys[1])
        ELSE cdl._check_label(field_type, enum_range(NULL::cdl.field_type_enum), 'field type')::cdl.field_type_enum END;
    PERFORM cdl._check_rules(field_path, validation_rules);
    IF is_required IS NULL THEN
        RAISE EXCEPTION 'is_required must not be NULL' USING ERRCODE = 'CD001';
    END IF;
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
        SELECT c.normalized_name, d.complete #> ('{cdl}'::text[] || keys) AS value
        FROM cdl.character_documents d JOIN cdl.characters c ON c.id = d.character_id
        WHERE d.complete #> ('{cdl}'::text[] || keys) IS NOT NULL OR define_character_field.is_required
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

CREATE FUNCTION cdl.diff_character_versions(name character varying, from_version integer, to_version integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    v_id bigint;
    old_cdl jsonb;
    new_cdl jsonb;
BEGIN
    SELECT c.id INTO v_id FROM cdl.characters c WHERE c.normalized_name = cdl.normalize_name(diff_character_versions.name);
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'character % not found', quote_literal(name) USING ERRCODE = 'CD002';
    END IF;
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

COMMENT ON FUNCTION cdl.diff_character_versions(name character varying, from_version integer, to_version integer) IS 'Field-level difference of two versions: {added: [{path, value}], removed: [{path, value}], changed: [{path, old_value, new_value}]}.';

CREATE FUNCTION cdl.export_character_json(name character varying) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    result jsonb;
BEGIN
    SELECT jsonb_build_object('cdl_version', c.cdl_version, 'format', 'json')
           || CASE WHEN c.file_description IS NULL THEN '{}'::jsonb
                   ELSE jsonb_build_object('description', c.file_description) END
           || jsonb_build_object('character', d.complete -> 'cdl')
    INTO result
    FROM cdl.characters c JOIN cdl.character_documents d ON d.character_id = c.id
    WHERE c.normalized_name = cdl.normalize_name(export_character_json.name);
    IF result IS NULL THEN
        RAISE EXCEPTION 'character % not found', quote_literal(name) USING ERRCODE = 'CD002';
    END IF;
    RETURN result;
END
$$;

ALTER FUNCTION cdl.export_character_json(name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.export_character_json(name character varying) IS 'The character in the wrapped CDL form {cdl_version, format, description?, character}.';

CREATE FUNCTION cdl.get_character_complete(name character varying) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    RETURN (SELECT d.complete FROM cdl.character_documents d
            WHERE d.normalized_name = cdl.normalize_name(name));
END
$$;

ALTER FUNCTION cdl.get_character_complete(name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.get_character_complete(name character varying) IS 'The whole character in one call: columns, cdl (the CDL as imported), communication_patterns, response_templates, knowledge, workflows. NULL when unknown. One index lookup.';

CREATE FUNCTION cdl.import_character_from_json(character_json jsonb, import_source character varying DEFAULT 'json_import'::character varying, normalized_name character varying DEFAULT NULL::character varying) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $_$
DECLARE
    body jsonb;
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
    IF import_source IS NULL OR btrim(import_source) = '' THEN
        RAISE EXCEPTION 'import_source must not be empty' USING ERRCODE = 'CD001';
    END IF;
    -- wrapped {"cdl_version", "format", "description", "character": {...}}, possibly with more
    -- sections beside "character" (merged into it, "character" winning), or flat
    IF jsonb_typeof(character_json -> 'character') = 'object' THEN
        body := cdl._deep_merge(character_json - ARRAY['character', 'cdl_version', 'format', 'description'],
                                character_json -> 'character');
    ELSE
        body := character_json;
    END IF;
    derived := cdl._derived_columns(body);
    IF derived.name IS NULL THEN
        RAISE EXCEPTION 'the CDL document has no name'
            USING ERRCODE = 'CD001',
                  HINT = 'Give character.metadata.name, identity.name or name as a non-empty string.';
    END IF;
    IF normalized_name IS NOT NULL THEN
        IF normalized_name !~ '^[a-z0-9_]+$' OR length(normalized_name) > 200 THEN
            RAISE EXCEPTION 'normalized name % must match ^[a-z0-9_]+$ (at most 200 characters)',
                quote_literal(normalized_name) USING ERRCODE = 'CD001';
        END IF;
        v_normalized := normalized_name;
    ELSE
        v_normalized := left(cdl.normalize_name(derived.name), 200);
        IF v_normalized IS NULL THEN
            RAISE EXCEPTION 'the name % normalizes to nothing', quote_literal(derived.name)
                USING ERRCODE = 'CD001', HINT = 'Pass normalized_name explicitly.';
        END IF;
    END IF;
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

    SELECT d.complete -> 'cdl' INTO old_cdl FROM cdl.character_documents d WHERE d.character_id = v_id;
    changed := cdl._store_cdl(v_id, coalesce(old_cdl, '{}'), body, import_source);
    INSERT INTO cdl.character_change_log (character_id, change_type, change_source, changed_by, new_value)
    VALUES (v_id, CASE WHEN v_created THEN 'character_created' ELSE 'bulk_import' END::cdl.change_type_enum,
            import_source, cdl._actor(), jsonb_build_object('fields_changed', changed));
    RETURN v_id;
END
$_$;

ALTER FUNCTION cdl.import_character_from_json(character_json jsonb, import_source character varying, normalized_name character varying) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.import_character_from_json(character_json jsonb, import_source character varying, normalized_name character varying) IS 'Import a CDL document (wrapped, flat or mixed) in one transaction; re-importing a name updates it in place. Returns the character id. Errors: CD001 bad input, CD007 too large.';

CREATE FUNCTION cdl.list_character_versions(name character varying) RETURNS TABLE(version_number integer, version_name character varying, description text, created_by character varying, created_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT c.id INTO v_id FROM cdl.characters c WHERE c.normalized_name = cdl.normalize_name(list_character_versions.name);
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'character % not found', quote_literal(name) USING ERRCODE = 'CD002';
    END IF;
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

CREATE FUNCTION cdl.normalize_name(name text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    -- lower case, accents removed, every other run of characters becomes '_'
    SELECT nullif(trim(BOTH '_' FROM regexp_replace(
        lower(replace(replace(replace(replace(replace(replace(replace(replace(
            regexp_replace(normalize(name, NFKD),
                           '[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g'),
            'ß', 'ss'), 'Æ', 'ae'), 'æ', 'ae'), 'Œ', 'oe'), 'œ', 'oe'), 'Ø', 'o'), 'ø', 'o'), 'ł', 'l')),
        '[^a-z0-9]+', '_', 'g')), '')
$$;

ALTER FUNCTION cdl.normalize_name(name text) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.normalize_name(name text) IS 'The normalized form of a character name: ^[a-z0-9_]+$ (NULL when nothing is left).';

CREATE FUNCTION cdl.refresh_character_analytics() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY cdl.character_analytics;
END
$$;

ALTER FUNCTION cdl.refresh_character_analytics() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.refresh_character_analytics() IS 'Refresh cdl.character_analytics without blocking its readers. Nothing else depends on it.';

CREATE FUNCTION cdl.remove_character_field(name character varying, field_path character varying) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    target record;
    keys text[];
    removed integer;
BEGIN
    keys := cdl._parse_path(field_path);
    target := cdl._lock_character(name);
    IF target.doc #> keys IS NULL OR cardinality(keys) = 0 THEN
        RAISE EXCEPTION 'character % has no field %', quote_literal(name), field_path
            USING ERRCODE = 'CD002';
    END IF;
    PERFORM cdl._validate_nodes(keys, NULL);  -- a required field cannot go
    removed := cdl._replace_fields(target.character_id, keys, target.doc, NULL, 'manual');
    PERFORM cdl._save_document(target.character_id, cdl._jsonb_remove_path(target.doc, keys));
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

CREATE FUNCTION cdl.rollback_character(name character varying, version_number integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    target record;
    snap jsonb;
BEGIN
    target := cdl._lock_character(name);
    snap := cdl._version_snapshot(target.character_id, version_number);
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
    PERFORM cdl._save_document(target.character_id, snap -> 'cdl',
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
    v_id bigint;
BEGIN
    SELECT c.id INTO v_id FROM cdl.characters c WHERE c.normalized_name = cdl.normalize_name(search_character_knowledge.name);
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'character % not found', quote_literal(name) USING ERRCODE = 'CD002';
    END IF;
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
          ORDER BY c.id, s.rank DESC, s.match_path) AS best
    ORDER BY best.rank DESC, best.normalized_name
    LIMIT max_results;
END
$$;

ALTER FUNCTION cdl.search_characters(query text, status character varying, max_results integer) OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.search_characters(query text, status character varying, max_results integer) IS 'Characters whose string fields, knowledge or communication patterns match a web-search style query, best first, each with its best matching path and a snippet.';

CREATE FUNCTION cdl.upsert_character_field(name character varying, field_path character varying, field_value jsonb, field_source character varying DEFAULT 'manual'::character varying, confidence numeric DEFAULT 1.0, is_public boolean DEFAULT true) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
DECLARE
    target record;
    keys text[];
    node jsonb;
    changed integer;
BEGIN
    keys := cdl._parse_path(field_path);
    IF field_value IS NULL THEN
        RAISE EXCEPTION 'field_value is required' USING ERRCODE = 'CD001',
            HINT = 'Pass the JSON null (''null''::jsonb) to store a null, or remove the field.';
    END IF;
    IF field_source IS NULL OR btrim(field_source) = '' THEN
        RAISE EXCEPTION 'field_source must not be empty' USING ERRCODE = 'CD001';
    END IF;
    IF confidence IS NULL OR confidence < 0 OR confidence > 1 THEN
        RAISE EXCEPTION 'confidence must be between 0 and 1, got %', confidence USING ERRCODE = 'CD001';
    END IF;
    target := cdl._lock_character(name);
    FOR i IN 1 .. cardinality(keys) - 1 LOOP
        node := target.doc #> keys[1:i];
        IF node IS NOT NULL AND jsonb_typeof(node) <> 'object' THEN
            RAISE EXCEPTION 'cannot set %: % holds a %, not an object', field_path,
                cdl._path_text(keys[1:i]), jsonb_typeof(node)
                USING ERRCODE = 'CD001', HINT = 'Set or remove the enclosing field first.';
        END IF;
    END LOOP;
    PERFORM cdl._validate_nodes(keys, field_value);
    changed := cdl._replace_fields(target.character_id, keys, target.doc, field_value,
                                   field_source, confidence, is_public);
    IF changed > 0 OR target.doc #> keys IS DISTINCT FROM field_value THEN
        PERFORM cdl._save_document(target.character_id,
                                   cdl._jsonb_set_path(target.doc, keys, field_value));
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
    target record;
    v_id bigint;
BEGIN
    PERFORM cdl._check_label(pattern_type, enum_range(NULL::cdl.communication_pattern_enum), 'pattern type');
    PERFORM cdl._check_label(frequency, ARRAY['rare', 'occasional', 'regular', 'frequent', 'always'], 'frequency');
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

CREATE TABLE cdl.character_change_log (
    id bigint NOT NULL,
    character_id bigint NOT NULL,
    change_type cdl.change_type_enum NOT NULL,
    field_path text,
    old_value jsonb,
    new_value jsonb,
    change_source character varying(100),
    changed_by character varying(200) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

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
    CONSTRAINT character_field_values_check CHECK ((num_nonnulls(string_value, number_value, boolean_value, json_value) = 1)),
    CONSTRAINT character_field_values_confidence_check CHECK (((confidence >= (0)::numeric) AND (confidence <= (1)::numeric)))
);

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
    CONSTRAINT character_knowledge_confidence_check CHECK (((confidence >= (0)::numeric) AND (confidence <= (1)::numeric))),
    CONSTRAINT character_knowledge_importance_check CHECK (((importance >= 1) AND (importance <= 10)))
);

ALTER TABLE cdl.character_knowledge OWNER TO cdlstore_owner;

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
    CONSTRAINT characters_normalized_name_check CHECK (((normalized_name)::text ~ '^[a-z0-9_]+$'::text)),
    CONSTRAINT characters_version_count_check CHECK ((version_count >= 0))
);

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
    CONSTRAINT communication_patterns_frequency_check CHECK (((frequency)::text = ANY ((ARRAY['rare'::character varying, 'occasional'::character varying, 'regular'::character varying, 'frequent'::character varying, 'always'::character varying])::text[]))),
    CONSTRAINT communication_patterns_priority_check CHECK (((priority >= 0) AND (priority <= 100)))
);

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
    CONSTRAINT response_templates_conditions_check CHECK ((jsonb_typeof(conditions) = 'object'::text)),
    CONSTRAINT response_templates_priority_check CHECK (((priority >= 0) AND (priority <= 100)))
);

ALTER TABLE cdl.response_templates OWNER TO cdlstore_owner;

CREATE MATERIALIZED VIEW cdl.character_analytics AS
 SELECT c.id AS character_id,
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
    complete jsonb NOT NULL
);
ALTER TABLE ONLY cdl.character_documents ALTER COLUMN complete SET COMPRESSION lz4;

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
    CONSTRAINT character_field_definitions_path_keys_check CHECK (((cardinality(path_keys) >= 1) AND (cardinality(path_keys) <= 32))),
    CONSTRAINT character_field_definitions_validation_rules_check CHECK ((jsonb_typeof(validation_rules) = 'object'::text))
);

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

CREATE TABLE cdl.character_versions (
    id bigint NOT NULL,
    character_id bigint NOT NULL,
    version_number integer NOT NULL,
    version_name character varying(100),
    description text,
    snapshot jsonb NOT NULL,
    created_by character varying(200),
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT character_versions_version_number_check CHECK ((version_number > 0))
);

ALTER TABLE cdl.character_versions OWNER TO cdlstore_owner;

ALTER TABLE cdl.character_versions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.character_versions_id_seq
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

ALTER TABLE cdl.response_templates ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME cdl.response_templates_id_seq
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
    ADD CONSTRAINT character_documents_pkey PRIMARY KEY (normalized_name);

ALTER TABLE ONLY cdl.character_field_definitions
    ADD CONSTRAINT character_field_definitions_field_path_key UNIQUE (field_path);

ALTER TABLE ONLY cdl.character_field_definitions
    ADD CONSTRAINT character_field_definitions_path_keys_key UNIQUE (path_keys);

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

ALTER TABLE ONLY cdl.character_versions
    ADD CONSTRAINT character_versions_character_id_version_number_key UNIQUE (character_id, version_number);

ALTER TABLE ONLY cdl.character_versions
    ADD CONSTRAINT character_versions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.characters
    ADD CONSTRAINT characters_normalized_name_key UNIQUE (normalized_name);

ALTER TABLE ONLY cdl.characters
    ADD CONSTRAINT characters_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.communication_patterns
    ADD CONSTRAINT communication_patterns_name_key UNIQUE (character_id, pattern_type, pattern_name);

ALTER TABLE ONLY cdl.communication_patterns
    ADD CONSTRAINT communication_patterns_pkey PRIMARY KEY (id);

ALTER TABLE ONLY cdl.response_templates
    ADD CONSTRAINT response_templates_name_key UNIQUE (character_id, scenario, template_name);

ALTER TABLE ONLY cdl.response_templates
    ADD CONSTRAINT response_templates_pkey PRIMARY KEY (id);

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

CREATE INDEX characters_status_archetype_idx ON cdl.characters USING btree (status, archetype);

CREATE INDEX communication_patterns_fts_idx ON cdl.communication_patterns USING gin (to_tsvector('english'::regconfig, pattern_value));

CREATE TRIGGER character_field_values_log AFTER INSERT OR DELETE OR UPDATE ON cdl.character_field_values FOR EACH ROW EXECUTE FUNCTION cdl._log_field_change();

ALTER TABLE ONLY cdl.character_change_log
    ADD CONSTRAINT character_change_log_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

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

ALTER TABLE ONLY cdl.character_versions
    ADD CONSTRAINT character_versions_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.communication_patterns
    ADD CONSTRAINT communication_patterns_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

ALTER TABLE ONLY cdl.response_templates
    ADD CONSTRAINT response_templates_character_id_fkey FOREIGN KEY (character_id) REFERENCES cdl.characters(id) ON DELETE CASCADE;

GRANT USAGE ON SCHEMA cdl TO cdlstore_app;
GRANT USAGE ON SCHEMA cdl TO cdlstore_readonly;

GRANT USAGE ON SCHEMA docstore TO cdlstore_app;
GRANT USAGE ON SCHEMA docstore TO cdlstore_readonly;

GRANT USAGE ON SCHEMA game TO cdlstore_app;
GRANT USAGE ON SCHEMA game TO cdlstore_readonly;

GRANT USAGE ON SCHEMA ops TO cdlstore_app;
GRANT USAGE ON SCHEMA ops TO cdlstore_readonly;

REVOKE ALL ON FUNCTION cdl._actor() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_field_value(field_path text, data_type cdl.data_type_enum, rules jsonb, is_required boolean, value jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_label(value text, labels anyarray, what text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._check_rules(field_path text, rules jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._create_version(p_character_id bigint, version_name character varying, description text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._deep_merge(base jsonb, winner jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._derived_columns(doc jsonb, OUT name text, OUT occupation text, OUT description text, OUT archetype cdl.character_archetype_enum) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._document_part(p_character_id bigint, part text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._field_type(section text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._infer_data_type(value jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._jsonb_remove_path(doc jsonb, keys text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._jsonb_set_path(doc jsonb, keys text[], value jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._lock_character(name text, OUT character_id bigint, OUT doc jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._log_field_change() FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._nodes(prefix text[], doc jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._parse_path(field_path text) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._path_text(keys text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._register_definitions(prefix text[], doc jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._replace_fields(p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source character varying, p_confidence numeric, p_is_public boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._save_document(p_character_id bigint, new_cdl jsonb, parts text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._search(p_character_id bigint, query text, max_results integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._store_cdl(p_character_id bigint, old_cdl jsonb, new_cdl jsonb, p_source character varying) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._validate_nodes(prefix text[], doc jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._value_jsonb(string_value text, number_value numeric, boolean_value boolean, json_value jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl._version_snapshot(p_character_id bigint, p_version integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION cdl.archive_character(name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.archive_character(name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.create_character_version(name character varying, version_name character varying, description text) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.create_character_version(name character varying, version_name character varying, description text) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.define_character_field(field_path character varying, data_type character varying, field_type character varying, validation_rules jsonb, description text, is_required boolean, category character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.define_character_field(field_path character varying, data_type character varying, field_type character varying, validation_rules jsonb, description text, is_required boolean, category character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.diff_character_versions(name character varying, from_version integer, to_version integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.diff_character_versions(name character varying, from_version integer, to_version integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.export_character_json(name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.export_character_json(name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.get_character_complete(name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.get_character_complete(name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.import_character_from_json(character_json jsonb, import_source character varying, normalized_name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.import_character_from_json(character_json jsonb, import_source character varying, normalized_name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.list_character_versions(name character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.list_character_versions(name character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.list_characters(status_filter character varying, archetype_filter character varying) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.list_characters(status_filter character varying, archetype_filter character varying) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.normalize_name(name text) FROM PUBLIC;

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

REVOKE ALL ON FUNCTION cdl.rollback_character(name character varying, version_number integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.rollback_character(name character varying, version_number integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.schema_version() FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.schema_version() TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.search_character_knowledge(name character varying, query text, max_results integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.search_character_knowledge(name character varying, query text, max_results integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.search_characters(query text, status character varying, max_results integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.search_characters(query text, status character varying, max_results integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.upsert_character_field(name character varying, field_path character varying, field_value jsonb, field_source character varying, confidence numeric, is_public boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.upsert_character_field(name character varying, field_path character varying, field_value jsonb, field_source character varying, confidence numeric, is_public boolean) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.upsert_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying, pattern_value text, context character varying, frequency character varying, priority integer) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.upsert_communication_pattern(character_name character varying, pattern_type character varying, pattern_name character varying, pattern_value text, context character varying, frequency character varying, priority integer) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.upsert_knowledge(character_name character varying, knowledge_type character varying, knowledge_key character varying, content text, parent_key character varying, confidence numeric, importance integer, tags text[], is_public boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.upsert_knowledge(character_name character varying, knowledge_type character varying, knowledge_key character varying, content text, parent_key character varying, confidence numeric, importance integer, tags text[], is_public boolean) TO cdlstore_app;

REVOKE ALL ON FUNCTION cdl.upsert_response_template(character_name character varying, scenario character varying, template_name character varying, template_text text, conditions jsonb, priority integer, is_active boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.upsert_response_template(character_name character varying, scenario character varying, template_name character varying, template_text text, conditions jsonb, priority integer, is_active boolean) TO cdlstore_app;

GRANT SELECT ON TABLE cdl.character_analytics TO cdlstore_readonly;

ALTER DEFAULT PRIVILEGES FOR ROLE cdlstore_owner REVOKE ALL ON FUNCTIONS  FROM PUBLIC;
