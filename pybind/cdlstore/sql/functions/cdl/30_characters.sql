-- Characters: import, one-call loading, export, listing, field changes.

CREATE OR REPLACE FUNCTION cdl._character_not_found(name text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
BEGIN
    -- TABLE names what is missing, so that clients can tell a character from other CD002s.
    -- PL/Proxy drops TABLE: the proxy's cdlstore_proxy.reraise tells this error by its hint
    RAISE EXCEPTION 'character % not found', coalesce(quote_literal(name), 'NULL')
        USING ERRCODE = 'CD002', SCHEMA = 'cdl', TABLE = 'characters',
              HINT = 'Names match after normalization (cdl.normalize_name).';
END
$$;

COMMENT ON FUNCTION cdl._character_not_found(text) IS
    'Raise CD002 for a character name that matches none (the error names the table cdl.characters).';

CREATE OR REPLACE FUNCTION cdl._check_character_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._check_character_row() IS
    'Trigger: a character key is not empty and holds no ASCII upper case, space, control or '
    'punctuation but ''_''; version_count is not negative (23514, named as the CHECK constraints were).';

CREATE OR REPLACE TRIGGER characters_check_row
BEFORE INSERT OR UPDATE OF normalized_name, version_count ON cdl.characters
FOR EACH ROW EXECUTE FUNCTION cdl._check_character_row();

CREATE OR REPLACE FUNCTION cdl._lock_character(
    name text, sections text[] DEFAULT '{}', OUT character_id bigint, OUT doc jsonb,
    OUT ordered json)
RETURNS record
LANGUAGE plpgsql
-- no SET: a field-write helper, run with the search_path and plan_cache_mode of its caller
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

COMMENT ON FUNCTION cdl._lock_character(text, text[]) IS
    'Lock a character for writing; return its id and the named sections of its CDL (NULL: all '
    'of it, the default: none) as jsonb (doc) and as text in their order (ordered); for one section '
    '(a field write) ordered is that section''s own text (NULL when it has none) and doc NULL. '
    'CD002 when unknown.';

CREATE OR REPLACE FUNCTION cdl._section_doc(section_name text, section json)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN section IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object(section_name, section::jsonb) END
$$;

COMMENT ON FUNCTION cdl._section_doc(text, json) IS
    'The CDL made of one section (its text, NULL: none) as jsonb, for the general field writes.';

CREATE OR REPLACE FUNCTION cdl._stored_cdl(p_character_id bigint, sections text[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(s.section, s.ordered::jsonb), '{}')
            FROM cdl.character_sections AS s
            WHERE s.character_id = p_character_id
              AND (_stored_cdl.sections IS NULL OR s.section = ANY (_stored_cdl.sections)));
END
$$;

COMMENT ON FUNCTION cdl._stored_cdl(bigint, text[]) IS
    'The CDL of a character as imported, or only the named top-level sections of it.';

CREATE OR REPLACE FUNCTION cdl._stored_text(p_character_id bigint)
RETURNS json
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(json_object_agg(s.section, s.ordered ORDER BY s.position, s.section), '{}')
            FROM cdl.character_sections AS s WHERE s.character_id = p_character_id);
END
$$;

COMMENT ON FUNCTION cdl._stored_text(bigint) IS
    'The CDL of a character as json text, every object''s keys in the order they were written.';

CREATE OR REPLACE FUNCTION cdl._character_id(name text)
RETURNS bigint
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
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
                'cdl', cdl._stored_text(c.id),
                'communication_patterns', d.lists -> 'communication_patterns',
                'response_templates', d.lists -> 'response_templates',
                'knowledge', d.lists -> 'knowledge', 'workflows', d.lists -> 'workflows')
            FROM cdl.characters AS c JOIN cdl.character_documents AS d ON d.character_id = c.id
            WHERE c.id = p_character_id);
END
$$;

COMMENT ON FUNCTION cdl._render_document(bigint) IS
    'The whole character as get_character_complete returns it, built from its tables.';

CREATE OR REPLACE FUNCTION cdl._save_sections(p_character_id bigint, new_cdl json, written text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
SET plan_cache_mode = force_generic_plan  -- planned once, not on every field write
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

COMMENT ON FUNCTION cdl._save_sections(bigint, json, text[]) IS
    'Store the CDL new_cdl (json in the order to keep) of a locked character, a row per '
    'top-level section: all of it, or for a field write at the path written its section only '
    '(new_cdl is then that section''s text; NULL: the section is removed).';

CREATE OR REPLACE FUNCTION cdl._save_document(
    p_character_id bigint, new_cdl json, parts text[] DEFAULT '{}', written text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._save_document(bigint, json, text[], text[]) IS
    'Bring the stored character up to date after a write: its CDL from new_cdl, json in the '
    'order to keep (all of it; none when new_cdl and written are NULL; for a field write at the '
    'path written, the text of its section, NULL when the section goes), then the rest '
    '(cdl._refresh_character). Called by every write, in its transaction, holding the '
    'character''s lock.';

CREATE OR REPLACE FUNCTION cdl._refresh_character(
    p_character_id bigint, written text[], parts text[] DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
-- no SET: a field-write helper, run with the search_path and plan_cache_mode of its caller
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

COMMENT ON FUNCTION cdl._refresh_character(bigint, text[], text[]) IS
    'The rest of a write of a locked character whose CDL is stored already: the columns derived '
    'from what was written (written: the path of a field write, ''{}'' the whole CDL, NULL none), '
    'the named lists, and the rendered text (dropped when it was rendered less than a second ago).';

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
$$;

COMMENT ON FUNCTION cdl.render_character_documents(integer) IS
    'Render the documents that bursts of writes left unrendered (get_character_complete is '
    'correct without it, and faster with it): the caller''s tenant, every tenant (up to max_count '
    'each) for an administrator naming none; returns how many. Run it now and then.';

CREATE OR REPLACE FUNCTION cdl._store_cdl(
    p_character_id bigint, old_cdl jsonb, new_cdl jsonb, new_text json, p_source varchar)
RETURNS integer
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._store_cdl(bigint, jsonb, jsonb, json, varchar) IS
    'Replace the whole CDL of a locked, validated character: fields and document (new_text is '
    'new_cdl as text in the order to keep).';

CREATE OR REPLACE FUNCTION cdl._cdl_body(doc json)
RETURNS json
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._cdl_body(json) IS
    'The CDL of a document (keys written once), in order: a flat one as it is; of a wrapped or '
    'mixed one, character merged with the sections beside it (character winning, its keys first).';

CREATE OR REPLACE FUNCTION cdl._import_key(normalized_name text, name text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._import_key(text, text) IS
    'The key an import stores a character under: normalized_name when given (checked), else the '
    'key of its name (CD001 when nothing is left of it, CD003 when it belongs to another name).';

CREATE OR REPLACE FUNCTION cdl._import_character(
    character_json jsonb, ordered json, import_source varchar, normalized_name varchar)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl._import_character(jsonb, json, varchar, varchar) IS
    'import_character_from_json of a document given as jsonb and as text in the order to keep.';

CREATE OR REPLACE FUNCTION cdl.import_character_from_json(
    character_json jsonb,
    import_source varchar DEFAULT 'json_import',
    normalized_name varchar DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN cdl._import_character(character_json, character_json::json, import_source, normalized_name);
END
$$;

COMMENT ON FUNCTION cdl.import_character_from_json(jsonb, varchar, varchar) IS
    'Import a CDL document (wrapped, flat or mixed) in one transaction; re-importing a name '
    'updates it in place. Returns the character id. Keys come in jsonb''s order: pass the text '
    'of the file (the text form) to keep its order. Errors: CD001 bad input, CD007 too large.';

CREATE OR REPLACE FUNCTION cdl.import_character_from_json(
    character_json text,
    import_source varchar DEFAULT 'json_import',
    normalized_name varchar DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl.import_character_from_json(text, varchar, varchar) IS
    'Import a CDL document given as JSON text, keeping the order of its keys everywhere it is '
    'read back (a key written twice keeps its first place and its last value); otherwise as '
    'the jsonb form. Errors: CD001 bad input (not JSON), CD007 too large.';

CREATE OR REPLACE FUNCTION cdl.get_character_complete(name varchar)
RETURNS json
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl.get_character_complete(varchar) IS
    'The whole character in one call: columns, cdl (the CDL as imported), communication_patterns, '
    'response_templates, knowledge, workflows. CD002 when unknown. One index lookup by key (a '
    'display name takes a second one); json, rendered when written (cast to jsonb for its operators).';

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
        PERFORM cdl._character_not_found(name);
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION cdl.export_character_json(varchar) IS
    'The character in the wrapped CDL form {cdl_version, format, description?, character}, as '
    'jsonb (keys in jsonb''s order). Kept for clients of the last release: the text form '
    'export_character_json(text), which untyped and text arguments call, returns json in order.';

CREATE OR REPLACE FUNCTION cdl.export_character_json(name text)
RETURNS json
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
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

COMMENT ON FUNCTION cdl.export_character_json(text) IS
    'The character in the wrapped CDL form {cdl_version, format, description?, character}, as '
    'json: every object''s keys in the order they were imported and written. CD002 when unknown.';

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
SET plan_cache_mode = force_generic_plan  -- its statements and its helpers': planned once
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

COMMENT ON FUNCTION cdl.define_character_field(varchar, varchar, varchar, jsonb, text, boolean, varchar) IS
    'Declare a field: its data type and validation rules (allowed_values, minimum, maximum, '
    'pattern, max_length) are then enforced on every write. Existing values must fit. CD001.';
