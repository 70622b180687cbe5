-- Characters: import, one-call loading, export, listing, field changes.

CREATE OR REPLACE FUNCTION cdl._lock_character(
    name text, sections text[] DEFAULT '{}', OUT character_id bigint, OUT doc jsonb)
RETURNS record
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
AS $$
BEGIN
    -- every write locks the character row first: writes to one character are serialized.
    -- The CDL is read by a statement of its own, after the lock, so that it is the newest
    -- committed one (a joined row would come from the snapshot taken before waiting).
    SELECT c.id INTO character_id
    FROM cdl.characters AS c
    WHERE c.normalized_name = cdl.normalize_name(_lock_character.name)
    FOR NO KEY UPDATE;
    IF character_id IS NULL THEN
        RAISE EXCEPTION 'character % not found', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'CD002', HINT = 'Names match after normalization (cdl.normalize_name).';
    END IF;
    doc := CASE WHEN sections = '{}' THEN '{}' ELSE cdl._stored_cdl(character_id, sections) END;
END
$$;

COMMENT ON FUNCTION cdl._lock_character(text, text[]) IS
    'Lock a character for writing; return its id and the named sections of its CDL (NULL: all '
    'of it, the default: none). CD002 when unknown.';

CREATE OR REPLACE FUNCTION cdl._stored_cdl(p_character_id bigint, sections text[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(s.section, s.content), '{}')
            FROM cdl.character_sections AS s
            WHERE s.character_id = p_character_id
              AND (_stored_cdl.sections IS NULL OR s.section = ANY (_stored_cdl.sections)));
END
$$;

COMMENT ON FUNCTION cdl._stored_cdl(bigint, text[]) IS
    'The CDL of a character as imported, or only the named top-level sections of it.';

CREATE OR REPLACE FUNCTION cdl._character_id(name text)
RETURNS bigint
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT c.id INTO v_id FROM cdl.characters c WHERE c.normalized_name = cdl.normalize_name(_character_id.name);
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'character % not found', coalesce(quote_literal(name), 'NULL') USING ERRCODE = 'CD002';
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION cdl._character_id(text) IS 'The id of a character by any form of its name; CD002 when unknown.';

CREATE OR REPLACE FUNCTION cdl._derived_columns(
    doc jsonb, OUT name text, OUT occupation text, OUT description text,
    OUT archetype cdl.character_archetype_enum)
RETURNS record
LANGUAGE plpgsql
IMMUTABLE
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._derived_columns(jsonb) IS
    'The characters columns that come from the CDL: name (metadata.name, identity.name or name), '
    'occupation, description, archetype (NULL when not a known archetype).';

CREATE OR REPLACE FUNCTION cdl._document_part(p_character_id bigint, part text)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._document_part(bigint, text) IS
    'One list of get_character_complete, built from its table.';

CREATE OR REPLACE FUNCTION cdl._render_document(p_character_id bigint)
RETURNS json
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
BEGIN
    -- json, not jsonb, assembled: each section is turned into text once, and nothing else
    RETURN (SELECT json_build_object(
                'id', c.id, 'name', c.name, 'normalized_name', c.normalized_name,
                'occupation', c.occupation, 'description', c.description, 'archetype', c.archetype,
                'status', c.status, 'cdl_version', c.cdl_version, 'import_source', c.import_source,
                'version_count', c.version_count, 'created_by', c.created_by,
                'created_at', c.created_at, 'updated_at', c.updated_at,
                'cdl', coalesce((SELECT json_object_agg(s.section, s.content ORDER BY s.section)
                                 FROM cdl.character_sections AS s WHERE s.character_id = c.id), '{}'),
                'communication_patterns', d.lists -> 'communication_patterns',
                'response_templates', d.lists -> 'response_templates',
                'knowledge', d.lists -> 'knowledge', 'workflows', d.lists -> 'workflows')
            FROM cdl.characters AS c JOIN cdl.character_documents AS d ON d.character_id = c.id
            WHERE c.id = p_character_id);
END
$$;

COMMENT ON FUNCTION cdl._render_document(bigint) IS
    'The whole character as get_character_complete returns it, built from its tables.';

CREATE OR REPLACE FUNCTION cdl._save_document(
    p_character_id bigint, new_cdl jsonb, parts text[] DEFAULT '{}', sections text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
AS $$
DECLARE
    derive boolean := false;
    sources text[] := ARRAY['metadata', 'identity', 'name', 'archetype'];  -- what _derived_columns reads
    now_ts timestamptz := clock_timestamp();
    has_text boolean;
    due boolean;
BEGIN
    -- the caller holds the character's lock. The CDL first, a row per top-level section:
    -- only the named sections (all when NULL) are written, and only when they changed
    IF new_cdl IS NOT NULL THEN
        IF _save_document.sections IS NULL OR NOT new_cdl ?& _save_document.sections THEN
            DELETE FROM cdl.character_sections AS s
            WHERE s.character_id = p_character_id
              AND (_save_document.sections IS NULL OR s.section = ANY (_save_document.sections))
              AND NOT new_cdl ? s.section;
        END IF;
        INSERT INTO cdl.character_sections AS s (character_id, section, content)
        SELECT p_character_id, e.key, e.value
        FROM jsonb_each(new_cdl) AS e
        WHERE _save_document.sections IS NULL OR e.key = ANY (_save_document.sections)
        ON CONFLICT (character_id, section) DO UPDATE SET content = EXCLUDED.content
        WHERE s.content IS DISTINCT FROM EXCLUDED.content;
        derive := _save_document.sections IS NULL OR _save_document.sections && sources;
    END IF;
    -- the columns that come from the CDL, when a section they come from was written
    UPDATE cdl.characters AS c
    SET name = coalesce(d.name, c.name),
        occupation = CASE WHEN derive THEN d.occupation ELSE c.occupation END,
        description = CASE WHEN derive THEN d.description ELSE c.description END,
        archetype = coalesce(d.archetype, c.archetype),
        updated_at = now()
    FROM cdl._derived_columns(CASE WHEN derive THEN cdl._stored_cdl(p_character_id, sources) END) AS d
    WHERE c.id = p_character_id;
    IF cardinality(parts) > 0 THEN
        UPDATE cdl.character_documents AS d
        SET lists = d.lists || (SELECT jsonb_object_agg(p, cdl._document_part(p_character_id, p))
                                FROM unnest(parts) AS p)
        WHERE d.character_id = p_character_id;
    END IF;
    -- the rendered text, unless it was rendered less than a second ago: then it is dropped,
    -- a burst of writes renders once a second, and get_character_complete renders meanwhile
    SELECT d.rendered IS NOT NULL, d.rendered_at IS NULL OR d.rendered_at < now_ts - interval '1 second'
    INTO has_text, due
    FROM cdl.character_documents AS d WHERE d.character_id = p_character_id;
    IF due THEN
        UPDATE cdl.character_documents AS d
        SET rendered = cdl._render_document(p_character_id), rendered_at = now_ts
        WHERE d.character_id = p_character_id;
    ELSIF has_text THEN
        UPDATE cdl.character_documents AS d SET rendered = NULL WHERE d.character_id = p_character_id;
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._save_document(bigint, jsonb, text[], text[]) IS
    'Bring the stored character up to date after a write: the named sections of its CDL from '
    'new_cdl (all of it when sections is NULL; none when new_cdl is NULL), the columns derived '
    'from them, the named lists, and the rendered text (dropped when it was rendered less than '
    'a second ago). Called by every write, in its transaction, holding the character''s lock.';

CREATE OR REPLACE FUNCTION cdl.render_character_documents(max_count integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    rendered_count integer;
BEGIN
    IF max_count IS NULL OR max_count < 1 THEN
        RAISE EXCEPTION 'max_count must be at least 1, got %', max_count USING ERRCODE = 'CD001';
    END IF;
    rendered_count := cdlstore_internal.sweep(  -- an administrator's call: every tenant
        'SELECT tenant FROM cdl.character_documents WHERE rendered IS NULL LIMIT $1',
        'SELECT cdl.render_character_documents($1)', max_count);
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
$$;

COMMENT ON FUNCTION cdl.render_character_documents(integer) IS
    'Render the documents that bursts of writes left unrendered (get_character_complete is '
    'correct without it, and faster with it): the caller''s tenant, every tenant (up to max_count '
    'each) for an administrator naming none; returns how many. Run it now and then.';

CREATE OR REPLACE FUNCTION cdl._store_cdl(
    p_character_id bigint, old_cdl jsonb, new_cdl jsonb, p_source varchar)
RETURNS integer
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._store_cdl(bigint, jsonb, jsonb, varchar) IS
    'Replace the whole CDL of a locked, validated character: fields and document.';

CREATE OR REPLACE FUNCTION cdl.import_character_from_json(
    character_json jsonb,
    import_source varchar DEFAULT 'json_import',
    normalized_name varchar DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
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

    IF v_created THEN
        INSERT INTO cdl.character_documents (normalized_name, character_id) VALUES (v_normalized, v_id);
    END IF;
    old_cdl := cdl._stored_cdl(v_id);
    changed := cdl._store_cdl(v_id, old_cdl, body, import_source);
    INSERT INTO cdl.character_change_log (character_id, change_type, change_source, changed_by, new_value)
    VALUES (v_id, CASE WHEN v_created THEN 'character_created' ELSE 'bulk_import' END::cdl.change_type_enum,
            import_source, cdl._actor(), jsonb_build_object('fields_changed', changed));
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION cdl.import_character_from_json(jsonb, varchar, varchar) IS
    'Import a CDL document (wrapped, flat or mixed) in one transaction; re-importing a name '
    'updates it in place. Returns the character id. Errors: CD001 bad input, CD007 too large.';

CREATE OR REPLACE FUNCTION cdl.get_character_complete(name varchar)
RETURNS json
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN (SELECT coalesce(d.rendered, cdl._render_document(d.character_id)) FROM cdl.character_documents d
            WHERE d.normalized_name = cdl.normalize_name(get_character_complete.name));
END
$$;

COMMENT ON FUNCTION cdl.get_character_complete(varchar) IS
    'The whole character in one call: columns, cdl (the CDL as imported), communication_patterns, '
    'response_templates, knowledge, workflows. NULL when unknown. One index lookup; json, '
    'rendered when written (cast to jsonb for its operators).';

CREATE OR REPLACE FUNCTION cdl.export_character_json(name varchar)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
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
        RAISE EXCEPTION 'character % not found', quote_literal(name) USING ERRCODE = 'CD002';
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION cdl.export_character_json(varchar) IS
    'The character in the wrapped CDL form {cdl_version, format, description?, character}.';

CREATE OR REPLACE FUNCTION cdl.list_characters(
    status_filter varchar DEFAULT NULL, archetype_filter varchar DEFAULT NULL)
RETURNS TABLE (id bigint, name varchar, normalized_name varchar, occupation text,
               archetype cdl.character_archetype_enum, status cdl.character_status_enum,
               version_count integer, updated_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl.list_characters(varchar, varchar) IS
    'Characters, optionally of one status and/or archetype, by normalized name.';

CREATE OR REPLACE FUNCTION cdl.archive_character(name varchar)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl.archive_character(varchar) IS
    'Set a character''s status to archived; false when it already was. CD002 when unknown.';

CREATE OR REPLACE FUNCTION cdl.upsert_character_field(
    name varchar, field_path varchar, field_value jsonb, field_source varchar DEFAULT 'manual',
    confidence numeric DEFAULT 1.0, is_public boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
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
    target := cdl._lock_character(name, keys[1:1]);  -- a path changes its top-level section only
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
                                   cdl._jsonb_set_path(target.doc, keys, field_value), '{}', keys[1:1]);
    END IF;
    RETURN changed;
END
$$;

COMMENT ON FUNCTION cdl.upsert_character_field(varchar, varchar, jsonb, varchar, numeric, boolean) IS
    'Set one field (a dot path; an object value sets the fields under it) checked against its '
    'definition. Returns the number of field values added, changed or removed. CD001, CD002.';

CREATE OR REPLACE FUNCTION cdl.remove_character_field(name varchar, field_path varchar)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
    keys text[];
    removed integer;
BEGIN
    keys := cdl._parse_path(field_path);
    target := cdl._lock_character(name, keys[1:1]);
    IF target.doc #> keys IS NULL OR cardinality(keys) = 0 THEN
        RAISE EXCEPTION 'character % has no field %', quote_literal(name), field_path
            USING ERRCODE = 'CD002';
    END IF;
    PERFORM cdl._validate_nodes(keys, NULL);  -- a required field cannot go
    removed := cdl._replace_fields(target.character_id, keys, target.doc, NULL, 'manual');
    PERFORM cdl._save_document(target.character_id, cdl._jsonb_remove_path(target.doc, keys), '{}', keys[1:1]);
    RETURN removed;
END
$$;

COMMENT ON FUNCTION cdl.remove_character_field(varchar, varchar) IS
    'Remove a field and everything under it; objects left empty go too. Returns the number of '
    'field values removed. CD002 when the character or the field is unknown.';

CREATE OR REPLACE FUNCTION cdl.define_character_field(
    field_path varchar, data_type varchar, field_type varchar DEFAULT NULL,
    validation_rules jsonb DEFAULT '{}', description text DEFAULT NULL,
    is_required boolean DEFAULT false, category varchar DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
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
        SELECT c.normalized_name, s.content #> keys[2:] AS value
        FROM cdl.characters c
        LEFT JOIN cdl.character_sections s ON s.character_id = c.id AND s.section = keys[1]
        WHERE s.content #> keys[2:] IS NOT NULL OR define_character_field.is_required
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

COMMENT ON FUNCTION cdl.define_character_field(varchar, varchar, varchar, jsonb, text, boolean, varchar) IS
    'Declare a field: its data type and validation rules (allowed_values, minimum, maximum, '
    'pattern, max_length) are then enforced on every write. Existing values must fit. CD001.';
