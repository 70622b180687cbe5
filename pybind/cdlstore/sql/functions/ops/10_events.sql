-- The append-only event log.

CREATE OR REPLACE FUNCTION ops._refuse_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ops, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'ops.events is append-only: % is refused', TG_OP USING ERRCODE = 'CD006';
END
$$;

COMMENT ON FUNCTION ops._refuse_change() IS 'Trigger: refuse UPDATE, DELETE and TRUNCATE of the event log.';

CREATE OR REPLACE TRIGGER events_append_only
BEFORE UPDATE OR DELETE ON ops.events
FOR EACH ROW EXECUTE FUNCTION ops._refuse_change();

CREATE OR REPLACE TRIGGER events_no_truncate
BEFORE TRUNCATE ON ops.events
FOR EACH STATEMENT EXECUTE FUNCTION ops._refuse_change();

CREATE OR REPLACE FUNCTION ops._event(
    p_type text, p_entity_type text, p_entity_id text, p_workflow_id uuid, p_agent_id text,
    p_session_id text, p_source text, p_payload jsonb, p_severity text, p_notify boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = ops, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    PERFORM cdlstore_internal.input_text(p_type, 'event_type'),
            cdlstore_internal.input_text(p_entity_type, 'entity_type', 200, false),
            cdlstore_internal.input_text(p_entity_id, 'entity_id', 200, false),
            cdlstore_internal.input_text(p_agent_id, 'agent_id', 200, false),
            cdlstore_internal.input_text(p_session_id, 'session_id', 200, false),
            cdlstore_internal.input_text(p_source, 'source', 200, false);
    IF p_severity IS NULL OR p_severity NOT IN ('debug', 'info', 'warning', 'error', 'critical') THEN
        RAISE EXCEPTION 'invalid severity %', coalesce(quote_literal(p_severity), 'NULL') USING ERRCODE = 'CD001',
            DETAIL = 'Allowed: debug, info, warning, error, critical.';
    END IF;
    PERFORM cdlstore_internal.feed_announce();
    INSERT INTO ops.events (event_type, entity_type, entity_id, workflow_id, agent_id, session_id, source,
                            payload, severity)
    VALUES (p_type, p_entity_type, p_entity_id, p_workflow_id, p_agent_id, p_session_id, p_source,
            coalesce(p_payload, '{}'), p_severity)
    RETURNING event_id INTO v_id;
    IF p_notify THEN
        PERFORM pg_notify('cdlstore_ops_events', json_build_object(
            'event_id', v_id, 'event_type', p_type, 'entity_type', p_entity_type, 'entity_id', p_entity_id,
            'severity', p_severity)::text);
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION ops._event(text, text, text, uuid, text, text, text, jsonb, text, boolean) IS
    'Append an event and (unless p_notify is false) NOTIFY cdlstore_ops_events, in the caller''s '
    'transaction. Task events are not notified: NOTIFY serializes commits, and the queue is the hot path.';

CREATE OR REPLACE FUNCTION ops.record_event(
    event_type text, entity_type text DEFAULT NULL, entity_id text DEFAULT NULL, workflow_id uuid DEFAULT NULL,
    agent_id text DEFAULT NULL, session_id text DEFAULT NULL, source text DEFAULT NULL,
    payload jsonb DEFAULT '{}', severity text DEFAULT 'info')
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN ops._event(event_type, entity_type, entity_id, workflow_id, agent_id, session_id, source, payload, severity);
END
$$;

COMMENT ON FUNCTION ops.record_event(text, text, text, uuid, text, text, text, jsonb, text) IS
    'Append an event to the audit log (and NOTIFY it). Returns its id.';

CREATE OR REPLACE FUNCTION ops.list_events(
    event_type text DEFAULT NULL, entity_type text DEFAULT NULL, entity_id text DEFAULT NULL,
    workflow_id uuid DEFAULT NULL, severity text DEFAULT NULL, page_size integer DEFAULT 100,
    after text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    k record;
BEGIN
    k := cdlstore_internal.page_key(after, page_size);
    RETURN cdlstore_internal.page((
        SELECT array_agg((to_jsonb(e) - 'xid', e.created_at, e.event_id)::cdlstore_internal.page_row ORDER BY e.event_id DESC)
        FROM (SELECT * FROM ops.events e
              WHERE (event_type IS NULL OR e.event_type = event_type)
                AND (entity_type IS NULL OR e.entity_type = entity_type)
                AND (entity_id IS NULL OR e.entity_id = entity_id)
                AND (workflow_id IS NULL OR e.workflow_id = workflow_id)
                AND (severity IS NULL OR e.severity = severity)
                AND (after IS NULL OR e.event_id < k.id)
              ORDER BY e.event_id DESC LIMIT page_size + 1) AS e), page_size);
END
$$;

COMMENT ON FUNCTION ops.list_events(text, text, text, uuid, text, integer, text) IS
    'Events, newest first, filtered: {items, next_cursor} (keyset on event_id).';

CREATE OR REPLACE FUNCTION ops.read_events(consumer text, max_count integer DEFAULT 100)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN (SELECT coalesce(jsonb_agg(to_jsonb(e) - 'xid' ORDER BY f.xid, f.id), '[]')
            FROM cdlstore_internal.feed_read('ops', consumer, max_count) AS f
            JOIN ops.events e ON e.event_id = f.id);
END
$$;

COMMENT ON FUNCTION ops.read_events(text, integer) IS
    'The consumer''s next events (task lifecycle included) after its acknowledged one, the same '
    'again until acknowledged with ack_events; gap-free like docstore.read_changes.';

CREATE OR REPLACE FUNCTION ops.ack_events(consumer text, up_to_id bigint)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN cdlstore_internal.feed_ack('ops', consumer, up_to_id);
END
$$;

COMMENT ON FUNCTION ops.ack_events(text, bigint) IS
    'Record that a consumer has handled every event up to this one (false when older; CD001 when '
    'read_events has not handed it out yet; CD002 when unknown).';
