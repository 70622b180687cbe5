-- Field definitions and values: validation, storage, change log.

CREATE OR REPLACE FUNCTION cdl._infer_data_type(value jsonb)
RETURNS cdl.data_type_enum
LANGUAGE sql
STABLE PARALLEL SAFE  -- as the enum cast is, so that it is inlined
AS $$
    SELECT (CASE jsonb_typeof(value)
        WHEN 'string' THEN CASE WHEN length(value #>> '{}') > 255 THEN 'text' ELSE 'string' END
        WHEN 'number' THEN 'number'
        WHEN 'boolean' THEN 'boolean'
        WHEN 'array' THEN 'array'
        WHEN 'object' THEN 'object'
        ELSE 'string' END)::cdl.data_type_enum
$$;

COMMENT ON FUNCTION cdl._infer_data_type(jsonb) IS 'The data type of a field first seen with this value.';

CREATE OR REPLACE FUNCTION cdl._field_type(section text)
RETURNS cdl.field_type_enum
LANGUAGE sql
STABLE PARALLEL SAFE  -- as enum_range is, so that it is inlined
AS $$
    SELECT CASE WHEN section = ANY (enum_range(NULL::cdl.field_type_enum)::text[])
                THEN section::cdl.field_type_enum ELSE 'custom' END
$$;

COMMENT ON FUNCTION cdl._field_type(text) IS 'The field type of a top section of CDL; custom when unknown.';

CREATE OR REPLACE FUNCTION cdl._check_rules(field_path text, rules jsonb)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._check_rules(text, jsonb) IS 'Reject validation rules that are unknown or malformed.';

CREATE OR REPLACE FUNCTION cdl._check_field_value(
    field_path text, data_type cdl.data_type_enum, rules jsonb, is_required boolean, value jsonb)
RETURNS void
LANGUAGE plpgsql
-- no SET: a field-write helper, run with the search_path and plan_cache_mode of its caller
STABLE  -- it raises: never folded at plan time
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

COMMENT ON FUNCTION cdl._check_field_value(text, cdl.data_type_enum, jsonb, boolean, jsonb) IS
    'Raise CD001, naming the path and the rule, when value does not fit its definition.';

CREATE OR REPLACE FUNCTION cdl._check_string_size(path text[], value jsonb)
RETURNS void
LANGUAGE plpgsql
-- no SET: a field-write helper, run with the search_path and plan_cache_mode of its caller
STABLE  -- it raises: never folded at plan time
AS $$
BEGIN
    -- an index entry holds ~2.7 KB, a tsvector 1 MB: strings stay well below
    IF octet_length(value #>> '{}') > 512 * 1024 THEN
        RAISE EXCEPTION 'the string at % is over 512 KiB', left(cdl._path_text(path), 60)
            USING ERRCODE = 'CD007';
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._check_string_size(text[], jsonb) IS
    'Raise CD007 when the JSON string value at path is over 512 KiB.';

CREATE OR REPLACE FUNCTION cdl._check_leaf(prefix text[], value jsonb)
RETURNS bigint
LANGUAGE plpgsql
-- no SET: a field-write helper, run with the search_path and plan_cache_mode of its caller
STABLE
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

COMMENT ON FUNCTION cdl._check_leaf(text[], jsonb) IS
    'Check a leaf value (not an object with keys) written at prefix: its size (CD007) and the '
    'definition of prefix (CD001); returns the definition id (NULL: the path has none yet). What is declared '
    'below prefix is cdl._check_nothing_required_below''s to check.';

CREATE OR REPLACE FUNCTION cdl._check_nothing_required_below(prefix text[])
RETURNS void
LANGUAGE plpgsql
-- no SET: a field-write helper, run with the search_path and plan_cache_mode of its caller
STABLE
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

COMMENT ON FUNCTION cdl._check_nothing_required_below(text[]) IS
    'Raise CD001 naming a required declared field below prefix, where a leaf is to be written.';

CREATE OR REPLACE FUNCTION cdl._validate_nodes(prefix text[], doc jsonb)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
SET plan_cache_mode = force_generic_plan  -- see _replace_subtree
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

COMMENT ON FUNCTION cdl._validate_nodes(text[], jsonb) IS
    'Check every node of doc (placed at prefix) against the declared field definitions.';

CREATE OR REPLACE FUNCTION cdl._register_definitions(prefix text[], doc jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
SET plan_cache_mode = force_generic_plan  -- see _replace_subtree
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

COMMENT ON FUNCTION cdl._register_definitions(text[], jsonb) IS
    'Register, as inferred definitions, every path of doc (at prefix) that has none yet.';

CREATE OR REPLACE FUNCTION cdl._replace_subtree(
    p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source varchar,
    p_confidence numeric, p_is_public boolean)
RETURNS integer
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
-- the planner prices the generic plans of the _nodes queries above the custom ones, so
-- without this every call planned them anew: 0.25 ms of a 0.7 ms field write
SET plan_cache_mode = force_generic_plan
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

COMMENT ON FUNCTION cdl._replace_subtree(bigint, text[], jsonb, jsonb, varchar, numeric, boolean) IS
    'The general case of _replace_fields: the rows of the leaves at and under prefix deleted, '
    'inserted or updated to match new_value (NULL removes them).';

CREATE OR REPLACE FUNCTION cdl._replace_leaf(
    p_character_id bigint, p_definition_id bigint, new_value jsonb, p_source varchar,
    p_confidence numeric, p_is_public boolean)
RETURNS integer
LANGUAGE plpgsql
-- no SET: a field-write helper, run with the search_path and plan_cache_mode of its caller
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

COMMENT ON FUNCTION cdl._replace_leaf(bigint, bigint, jsonb, varchar, numeric, boolean) IS
    'The usual case of _replace_fields: a leaf (scalar, null, array or empty object) that is '
    'there replaced by a leaf; its one row (of definition p_definition_id) updated unless it holds '
    'the value already. Returns 1 when updated, 0 when the row held it, NULL when the character has '
    'no leaf there.';

CREATE OR REPLACE FUNCTION cdl._replace_leaf(
    p_character_id bigint, prefix text[], new_value jsonb, p_source varchar,
    p_confidence numeric, p_is_public boolean)
RETURNS integer
LANGUAGE plpgsql
-- no SET: a field-write helper, run with the search_path and plan_cache_mode of its caller
AS $$
BEGIN
    RETURN cdl._replace_leaf(p_character_id, (SELECT d.id FROM cdl.character_field_definitions AS d
                                              WHERE d.path_keys = prefix),
                             new_value, p_source, p_confidence, p_is_public);
END
$$;

COMMENT ON FUNCTION cdl._replace_leaf(bigint, text[], jsonb, varchar, numeric, boolean) IS
    'cdl._replace_leaf at the path prefix (its definition looked up).';

CREATE OR REPLACE FUNCTION cdl._replace_fields(
    p_character_id bigint, prefix text[], old_cdl jsonb, new_value jsonb, p_source varchar,
    p_confidence numeric DEFAULT 1.0, p_is_public boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._replace_fields(bigint, text[], jsonb, jsonb, varchar, numeric, boolean) IS
    'Make the field values of a character at prefix equal new_value (NULL removes them). '
    'old_cdl is its current document. Returns the number of rows added, changed or removed.';

CREATE OR REPLACE FUNCTION cdl._log_field_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._log_field_change() IS
    'Trigger: one character_change_log row for every field value added, updated or removed; '
    'a row added or updated must hold exactly one value and a confidence in [0, 1] (23514).';

CREATE OR REPLACE TRIGGER character_field_values_log
AFTER INSERT OR UPDATE OR DELETE ON cdl.character_field_values
FOR EACH ROW EXECUTE FUNCTION cdl._log_field_change();

CREATE OR REPLACE FUNCTION cdl._delete_change_log()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
AS $$
BEGIN
    -- what ON DELETE CASCADE of a foreign key did (migration 0031), once per statement. It runs
    -- before the cascaded deletions of the character's field values fire their trigger, which
    -- logs nothing for a deleted character (cdl._log_field_change)
    DELETE FROM cdl.character_change_log l USING gone WHERE l.character_id = gone.id;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION cdl._delete_change_log() IS
    'Trigger: the change log of deleted characters goes with them (the log has no foreign key: '
    'docs/reliability.md).';

CREATE OR REPLACE TRIGGER characters_delete_change_log
AFTER DELETE ON cdl.characters
REFERENCING OLD TABLE AS gone
FOR EACH STATEMENT EXECUTE FUNCTION cdl._delete_change_log();
