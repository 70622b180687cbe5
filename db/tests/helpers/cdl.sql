-- Fixture functions for the pgTAP files (schema tests), loaded into the test clone only.
CREATE SCHEMA IF NOT EXISTS tests;

-- A wrapped CDL document with the awkward parts real files have.
CREATE OR REPLACE FUNCTION tests.sample_cdl(character_name text DEFAULT 'Ada Lovelace')
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT jsonb_build_object(
        'cdl_version', '1.0', 'format', 'json', 'description', 'A test character',
        'character', jsonb_build_object(
            'metadata', jsonb_build_object('name', character_name, 'tags', '["math", "poetry"]'::jsonb),
            'identity', jsonb_build_object('name', character_name, 'age', 36,
                'occupation', 'Mathematician', 'description', 'Wrote the first program',
                'archetype', 'historical'),
            'personality', '{"big_five": {"openness": 0.95, "neuroticism": {"value": 0.4}},
                              "values": ["curiosity", "rigour", "imagination"],
                              "quirks": [], "secrets": {}, "nickname": null, "shy": false}'::jsonb,
            'custom section', '{"key.with.dots": "dotted", "key with spaces": 1e3,
                                "back\\slash": "escaped"}'::jsonb))
$$;

-- jsonb_set that creates the missing objects on the way (cdl_from_rows below).
CREATE OR REPLACE FUNCTION tests.jsonb_set_path(doc jsonb, keys text[], value jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
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

-- The CDL rebuilt from the field value rows alone: must equal the stored document.
CREATE OR REPLACE FUNCTION tests.cdl_from_rows(character_name text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    doc jsonb := '{}';
    r record;
BEGIN
    FOR r IN
        SELECT d.path_keys,
               cdl._value_jsonb(v.string_value, v.number_value, v.boolean_value, v.json_value) AS value
        FROM cdl.character_field_values v
        JOIN cdl.character_field_definitions d ON d.id = v.field_definition_id
        JOIN cdl.characters c ON c.id = v.character_id
        WHERE c.normalized_name = cdl.normalize_name(character_name)
        ORDER BY d.path_keys
    LOOP
        doc := tests.jsonb_set_path(doc, r.path_keys, r.value);
    END LOOP;
    RETURN doc;
END
$$;

-- Row counts of every cdl table, to prove that a failed call wrote nothing.
CREATE OR REPLACE FUNCTION tests.cdl_counts()
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT jsonb_build_object(
        'characters', (SELECT count(*) FROM cdl.characters),
        'definitions', (SELECT count(*) FROM cdl.character_field_definitions),
        'values', (SELECT count(*) FROM cdl.character_field_values),
        'patterns', (SELECT count(*) FROM cdl.communication_patterns),
        'templates', (SELECT count(*) FROM cdl.response_templates),
        'knowledge', (SELECT count(*) FROM cdl.character_knowledge),
        'versions', (SELECT count(*) FROM cdl.character_versions),
        'log', (SELECT count(*) FROM cdl.character_change_log),
        'documents', (SELECT count(*) FROM cdl.character_documents),
        'sections', (SELECT count(*) FROM cdl.character_sections))
$$;

-- The signatures (oid::regprocedure, schema-qualified) of a schema's functions and procedures
-- that differ from the expected list: '+' for one that is there but not expected (a stale
-- overload, a forgotten helper), '-' for one expected but missing. Empty when they are equal.
CREATE OR REPLACE FUNCTION tests.signature_diff(schema_name name, expected text[])
RETURNS text[]
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp  -- every name and type printed schema-qualified
AS $$
    WITH present AS (
        SELECT p.oid::regprocedure::text AS sig
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = schema_name AND p.prokind IN ('f', 'p')
    )
    SELECT coalesce(array_agg(d ORDER BY substr(d, 2), d), '{}')
    FROM (SELECT '+' || sig AS d FROM present WHERE sig <> ALL (expected)
          UNION ALL
          SELECT '-' || e FROM unnest(expected) AS e WHERE e NOT IN (SELECT sig FROM present)) AS x
$$;
