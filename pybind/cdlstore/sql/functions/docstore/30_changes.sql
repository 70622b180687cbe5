-- Change data capture: consumers read what changed and acknowledge their progress.

CREATE OR REPLACE FUNCTION docstore.read_changes(consumer text, max_count integer DEFAULT 100)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = docstore, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    o record;
BEGIN
    PERFORM docstore._check_name(consumer, 'consumer');
    IF max_count IS NULL OR max_count NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'max_count must be between 1 and 10000, got %', max_count USING ERRCODE = 'CD001';
    END IF;
    SELECT c.last_xid, c.last_id INTO o FROM docstore.consumer_offset c WHERE c.consumer = consumer;
    -- only transactions that have ended: none of them can still add an event behind the offset
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', e.id, 'operation', e.operation, 'namespace', e.namespace, 'type', e.type,
                'document_uuid', e.document_uuid, 'version', e.version, 'tag', e.tag, 'actor', e.actor,
                'session_id', e.session_id, 'created_at', e.created_at) ORDER BY e.xid, e.id), '[]')
            FROM (SELECT * FROM docstore.change_event e
                  WHERE (e.xid, e.id) > (coalesce(o.last_xid, '0'::xid8), coalesce(o.last_id, 0))
                    AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
                  ORDER BY e.xid, e.id LIMIT max_count) AS e);
END
$$;

COMMENT ON FUNCTION docstore.read_changes(text, integer) IS
    'The next change events after the consumer''s acknowledged offset, in commit-safe order: '
    'events of transactions still running wait, so nothing is ever skipped.';

CREATE OR REPLACE FUNCTION docstore.ack_changes(consumer text, up_to_id bigint)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    e record;
BEGIN
    PERFORM docstore._check_name(consumer, 'consumer');
    SELECT x.xid, x.id INTO e FROM docstore.change_event x WHERE x.id = up_to_id;
    IF e.id IS NULL THEN
        RAISE EXCEPTION 'change event % not found', up_to_id USING ERRCODE = 'CD002';
    END IF;
    INSERT INTO docstore.consumer_offset AS c (consumer, last_xid, last_id) VALUES (consumer, e.xid, e.id)
    ON CONFLICT ON CONSTRAINT consumer_offset_pkey DO UPDATE
    SET last_xid = EXCLUDED.last_xid, last_id = EXCLUDED.last_id, updated_at = now()
    WHERE (c.last_xid, c.last_id) < (EXCLUDED.last_xid, EXCLUDED.last_id);
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION docstore.ack_changes(text, bigint) IS
    'Record that a consumer has handled every event up to this one; an older id changes nothing (false).';
