-- Character versions: snapshots, rollback, field-level diff.

CREATE OR REPLACE FUNCTION cdl._create_version(
    p_character_id bigint, version_name varchar, description text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._create_version(bigint, varchar, text) IS
    'Snapshot a locked character as its next version; returns the version number.';

CREATE OR REPLACE FUNCTION cdl.create_character_version(
    name varchar, version_name varchar DEFAULT NULL, description text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl.create_character_version(varchar, varchar, text) IS
    'A full snapshot of the character (CDL, patterns, templates, knowledge) as its next version. '
    'Returns the version number (1, 2, ...).';

CREATE OR REPLACE FUNCTION cdl.list_character_versions(name varchar)
RETURNS TABLE (version_number integer, version_name varchar, description text,
               created_by varchar, created_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl.list_character_versions(varchar) IS 'The versions of a character, oldest first.';

CREATE OR REPLACE FUNCTION cdl._version_snapshot(p_character_id bigint, p_version integer)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._version_snapshot(bigint, integer) IS 'The snapshot of a version; CD002 when unknown.';

CREATE OR REPLACE FUNCTION cdl.rollback_character(name varchar, version_number integer)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl.rollback_character(varchar, integer) IS
    'Restore a version''s snapshot and record the result as a new version (nothing is lost). '
    'Returns the new version number. CD002 when the character or version is unknown.';

CREATE OR REPLACE FUNCTION cdl.diff_character_versions(name varchar, from_version integer, to_version integer)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl.diff_character_versions(varchar, integer, integer) IS
    'Field-level difference of two versions: {added: [{path, value}], removed: [{path, value}], '
    'changed: [{path, old_value, new_value}]}, as jsonb, by path. Kept for clients of the last '
    'release: the text form, which untyped and text arguments call, returns json in document order.';

CREATE OR REPLACE FUNCTION cdl._json_leaves(doc json)
RETURNS TABLE (path text, value json, place integer[])
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
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
$$;

COMMENT ON FUNCTION cdl._json_leaves(json) IS
    'The leaves of a CDL text (as cdl._nodes has them) with their dot paths, each with its place '
    'in the document order.';

CREATE OR REPLACE FUNCTION cdl.diff_character_versions(name text, from_version integer, to_version integer)
RETURNS json
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl.diff_character_versions(text, integer, integer) IS
    'Field-level difference of two versions, as json in document order (values with their keys '
    'in order): {added: [{path, value}], removed: [{path, value}], changed: [{path, old_value, '
    'new_value}]}. CD002 when the character or a version is unknown.';
