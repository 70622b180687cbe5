-- Tags: compare-and-swap moves, protected and immutable tags, history, change events.

CREATE OR REPLACE FUNCTION docstore.declare_tag(
    namespace text, tag text, is_protected boolean DEFAULT false, is_immutable boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.declare_tag(text, text, boolean, boolean) IS
    'Declare a tag of a namespace protected (moved or removed only with force) or immutable '
    '(set once per document, never moved or removed: releases).';

CREATE OR REPLACE FUNCTION docstore._change_tag(
    p_uuid uuid, p_tag text, p_version integer, p_actor text, p_actor_type text, p_session text,
    p_expected integer, p_force boolean)
RETURNS integer
LANGUAGE plpgsql
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore._change_tag(uuid, text, integer, text, text, text, integer, boolean) IS
    'Set (version) or remove (NULL) a tag under the document''s lock, with its policies, event and change.';

CREATE OR REPLACE FUNCTION docstore.set_tag(
    document_uuid uuid, version integer, tag text, actor text DEFAULT NULL, actor_type text DEFAULT NULL,
    session_id text DEFAULT NULL, expected_version integer DEFAULT NULL, force boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF version IS NULL THEN
        RAISE EXCEPTION 'version is required (remove_tag removes a tag)' USING ERRCODE = 'CD001';
    END IF;
    RETURN docstore._change_tag(document_uuid, tag, version, actor, actor_type, session_id, expected_version, force);
END
$$;

COMMENT ON FUNCTION docstore.set_tag(uuid, integer, text, text, text, text, integer, boolean) IS
    'Point a tag at a version. With expected_version it is a compare-and-swap (CD003 when the tag '
    'points elsewhere). Protected tags need force; immutable ones never move (CD006). Returns the '
    'version it pointed at before (NULL when new).';

CREATE OR REPLACE FUNCTION docstore.remove_tag(
    document_uuid uuid, tag text, actor text DEFAULT NULL, actor_type text DEFAULT NULL,
    session_id text DEFAULT NULL, expected_version integer DEFAULT NULL, force boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN docstore._change_tag(document_uuid, tag, NULL, actor, actor_type, session_id, expected_version, force);
END
$$;

COMMENT ON FUNCTION docstore.remove_tag(uuid, text, text, text, text, integer, boolean) IS
    'Remove a tag; returns the version it pointed at (NULL when there was none).';

CREATE OR REPLACE FUNCTION docstore.get_document_by_tag(document_uuid uuid, tag text)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.get_document_by_tag(uuid, text) IS 'The version a tag points at, with its body. CD002 when untagged.';

CREATE OR REPLACE FUNCTION docstore.get_tagged(namespace text, type text, tag text, include_body boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.get_tagged(text, text, text, boolean) IS
    'Every live document of a type carrying a tag (e.g. every production agent config), the tagged version each.';

CREATE OR REPLACE FUNCTION docstore.tag_history(document_uuid uuid, tag text)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.tag_history(uuid, text) IS 'Every change of a tag of a document, oldest first.';

CREATE OR REPLACE FUNCTION docstore.get_document_by_tag_at(document_uuid uuid, tag text, as_of timestamptz)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.get_document_by_tag_at(uuid, text, timestamptz) IS
    'The version a tag pointed at at a moment, rebuilt from the tag events; NULL when it pointed at nothing.';
