-- Documents: put, get, list, delete, purge, prune, metadata indexes.

CREATE OR REPLACE FUNCTION docstore._check_name(value text, what text)
RETURNS text
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = docstore, pg_temp
AS $$
BEGIN
    IF value IS NULL OR btrim(value) = '' OR length(value) > 200 THEN
        RAISE EXCEPTION '% must be 1 to 200 characters', what USING ERRCODE = 'CD001';
    END IF;
    RETURN value;
END
$$;

COMMENT ON FUNCTION docstore._check_name(text, text) IS 'A namespace, type, tag or consumer name: 1 to 200 characters.';

CREATE OR REPLACE FUNCTION docstore._check_actor(
    actor text, actor_type text, session_id text, what text DEFAULT 'actor')
RETURNS void
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = docstore, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.input_text(actor, what, 200, false);
    PERFORM cdlstore_internal.input_text(actor_type, what || '_type', 200, false);
    PERFORM cdlstore_internal.input_text(session_id, 'session_id', 200, false);
END
$$;

COMMENT ON FUNCTION docstore._check_actor(text, text, text, text) IS
    'Who made a change (actor and actor_type, or created_by and created_by_type when what is created_by) '
    'and its session: each optional and at most 200 characters (CD001). Every docstore write that records them calls it.';

CREATE OR REPLACE FUNCTION docstore._emit(
    operation text, p_namespace text, p_type text, p_uuid uuid, p_version integer, p_tag text,
    p_actor text, p_session text)
RETURNS void
LANGUAGE plpgsql
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore._emit(text, text, text, uuid, integer, text, text, text) IS
    'Append a change event and NOTIFY cdlstore_docstore with a small payload, in the caller''s transaction.';

CREATE OR REPLACE FUNCTION docstore._item(h docstore.document_header, body jsonb)
RETURNS jsonb
LANGUAGE sql
STABLE  -- as jsonb_build_object of a timestamp is, so that it is inlined
AS $$
    SELECT jsonb_build_object(
        'namespace', h.namespace, 'type', h.type, 'document_uuid', h.document_uuid,
        'version', h.version, 'name', h.name, 'metadata', h.metadata, 'created_at', h.created_at,
        'created_by', h.created_by, 'created_by_type', h.created_by_type, 'session_id', h.session_id)
        || CASE WHEN body IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('body', body) END
$$;

COMMENT ON FUNCTION docstore._item(docstore.document_header, jsonb) IS 'A document version as the API returns it.';

CREATE OR REPLACE FUNCTION docstore._drop_orphan_bodies(candidates uuid[])
RETURNS void
LANGUAGE plpgsql
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore._drop_orphan_bodies(uuid[]) IS 'Remove those of the bodies that no version uses any more.';

CREATE OR REPLACE FUNCTION docstore._check_routes(p_uuid uuid, p_namespace text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore._check_routes(uuid, text) IS
    'CD001 on a shard when a new document''s given uuid does not carry its namespace''s routing hash.';

CREATE OR REPLACE FUNCTION docstore._store_body(body jsonb)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore._store_body(jsonb) IS
    'The id of the stored body with this content: one stored body per distinct content, shared by the versions that have it.';

CREATE OR REPLACE FUNCTION docstore.put_document(
    namespace text, type text, body jsonb, name text DEFAULT NULL, metadata jsonb DEFAULT '{}',
    created_by text DEFAULT NULL, created_by_type text DEFAULT NULL, session_id text DEFAULT NULL,
    document_uuid uuid DEFAULT NULL, expected_version integer DEFAULT NULL)
RETURNS docstore.document_ref
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.put_document(text, text, jsonb, text, jsonb, text, text, text, uuid, integer) IS
    'Store a new document (version 1) or the next version of one. With expected_version the write '
    'succeeds only if that is still the newest version (CD003 otherwise). Returns (document_uuid, version).';

CREATE OR REPLACE FUNCTION docstore._version(p_uuid uuid, p_version integer)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore._version(uuid, integer) IS 'One version (the newest when NULL) with its body; CD002 when absent or deleted.';

CREATE OR REPLACE FUNCTION docstore.get_document(document_uuid uuid, version integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = docstore, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN docstore._version(document_uuid, version);
END
$$;

COMMENT ON FUNCTION docstore.get_document(uuid, integer) IS
    'A document version with its body (the newest when version is NULL). CD002 when absent or deleted.';

CREATE OR REPLACE FUNCTION docstore.list_by_session(
    session_id text, types text[] DEFAULT NULL, include_body boolean DEFAULT false,
    page_size integer DEFAULT 100, after text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.list_by_session(text, text[], boolean, integer, text) IS
    'The versions written in a session, newest first: {items, next_cursor}; pass next_cursor as '
    'after for the next page (keyset on created_at and id).';

CREATE OR REPLACE FUNCTION docstore.list_documents(
    namespace text, type text, metadata_filter jsonb DEFAULT NULL, include_body boolean DEFAULT false,
    page_size integer DEFAULT 100, after text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.list_documents(text, text, jsonb, boolean, integer, text) IS
    'The newest versions of the live documents of a type, newest first, optionally those whose '
    'metadata contains metadata_filter: {items, next_cursor}.';

CREATE OR REPLACE FUNCTION docstore.delete_document(
    document_uuid uuid, actor text DEFAULT NULL, actor_type text DEFAULT NULL, session_id text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.delete_document(uuid, text, text, text) IS
    'Delete as a tombstone: versions, tags and their history stay, reads say deleted; actor and '
    'actor_type are recorded as deleted_by and deleted_by_type (document_history). False when it already was.';

CREATE OR REPLACE FUNCTION docstore.purge_document(document_uuid uuid, actor text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.purge_document(uuid, text) IS
    'Remove a document for good: versions, bodies no one else shares, tags and tag history.';

CREATE OR REPLACE FUNCTION docstore.prune_versions(
    namespace text, type text, keep_last integer, older_than interval, dry_run boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.prune_versions(text, text, integer, interval, boolean) IS
    'Retention: versions beyond the keep_last newest and older than older_than, never one a tag '
    'points to. With dry_run (the default) only reports them.';

CREATE OR REPLACE FUNCTION docstore.create_metadata_index(type text, field text)
RETURNS text
LANGUAGE plpgsql
STABLE  -- it reads the call's tenant and raises: not IMMUTABLE
SECURITY DEFINER
SET search_path = docstore, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM docstore._check_name(type, 'type');
    PERFORM docstore._check_name(field, 'field');
    RETURN format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON docstore.document_header ((metadata ->> %L)) WHERE type = %L',
                  'document_header_meta_' || left(md5(type || '/' || field), 16), field, type);
END
$$;

COMMENT ON FUNCTION docstore.create_metadata_index(text, text) IS
    'The DDL of a partial expression index on metadata->>field for one document type (to run '
    'outside a transaction, by the owner: CREATE INDEX CONCURRENTLY).';
