-- A document's history: every version (without bodies) and the tags that point at each.

CREATE OR REPLACE FUNCTION docstore.document_history(document_uuid uuid, max_versions integer DEFAULT 100)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = docstore, pg_temp
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

COMMENT ON FUNCTION docstore.document_history(uuid, integer) IS
    'A document and its newest max_versions (1..1000) versions, newest first, without bodies, each with '
    'the tags pointing at it; deleted documents too (deleted_at). CD002 when unknown.';
