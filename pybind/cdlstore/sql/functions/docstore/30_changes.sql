-- Change data capture: consumers read what changed and acknowledge their progress. The feed
-- itself (positions, batches, who waits for whom) is cdlstore_internal.feed_*, shared with ops.

CREATE OR REPLACE FUNCTION docstore.read_changes(consumer text, max_count integer DEFAULT 100)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', e.id, 'operation', e.operation, 'namespace', e.namespace, 'type', e.type,
                'document_uuid', e.document_uuid, 'version', e.version, 'tag', e.tag, 'actor', e.actor,
                'session_id', e.session_id, 'created_at', e.created_at) ORDER BY f.xid, f.id), '[]')
            FROM cdlstore_internal.feed_read('docstore', consumer, max_count) AS f
            JOIN docstore.change_event e ON e.id = f.id);
END
$$;

COMMENT ON FUNCTION docstore.read_changes(text, integer) IS
    'The next change events after the consumer''s acknowledged one (the same again until '
    'acknowledged). Nothing is skipped: an event of a transaction still running comes later; '
    'only transactions that write change events hold later ones back.';

CREATE OR REPLACE FUNCTION docstore.ack_changes(consumer text, up_to_id bigint)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN cdlstore_internal.feed_ack('docstore', consumer, up_to_id);
END
$$;

COMMENT ON FUNCTION docstore.ack_changes(text, bigint) IS
    'Record that a consumer has handled every event up to this one: an older id changes nothing '
    '(false); an id read_changes has not handed out yet is refused (CD001), unknown CD002.';
