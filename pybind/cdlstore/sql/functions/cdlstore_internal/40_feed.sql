-- Change feeds: one mechanism for docstore.change_event and ops.events.
--
-- A consumer's position (cdlstore_internal.feed_consumers) is a pair of snapshots: every event
-- visible in lo is acknowledged; the batch being handed out is the events visible in hi but not
-- in lo, in (xid, id) order. An event of a transaction still running is visible in neither, so
-- it comes in a later batch: nothing is skipped, and a transaction that never writes to a feed
-- (even one holding the server's oldest xid) holds nothing back.
--
-- Writers announce themselves (feed_announce: a shared advisory lock keyed by their xid, seen in
-- pg_locks); a new batch stops before the oldest announced writer still running, so the events
-- of a later transaction wait for it and a consumer sees a feed writer's events in xid order.

CREATE OR REPLACE FUNCTION cdlstore_internal.feed_announce()
RETURNS void
LANGUAGE sql
AS $$
    -- classid 1717920868 ('feed'), objid the low 32 bits of this transaction's xid
    SELECT pg_advisory_xact_lock_shared(1717920868,
        (((pg_current_xact_id()::text::bigint + 2147483648) % 4294967296) - 2147483648)::integer)
$$;

COMMENT ON FUNCTION cdlstore_internal.feed_announce() IS
    'A feed writer, before it appends an event: its transaction holds back later batches until it ends.';

CREATE OR REPLACE FUNCTION cdlstore_internal.feed_horizon(lo pg_snapshot)
RETURNS pg_snapshot
LANGUAGE plpgsql
VOLATILE
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
DECLARE
    now_snap pg_snapshot := pg_current_snapshot();
    ref bigint := pg_snapshot_xmax(now_snap)::text::bigint + 2147483647;
    cap bigint;
BEGIN
    -- the oldest announced feed writer of this database that is still running, this one
    -- included: a consumer reading in the transaction that wrote events gets them after its
    -- commit (its own xid is never in its own running list, so without this it would see them
    -- whenever some later transaction happened to have ended: a race, not a rule)
    SELECT min(ref - ((ref - l.objid::bigint) % 4294967296 + 4294967296) % 4294967296) INTO cap
    FROM pg_catalog.pg_locks l
    WHERE l.locktype = 'advisory' AND l.classid = 1717920868 AND l.objsubid = 2 AND l.granted
      AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database());
    IF cap IS NULL THEN
        RETURN now_snap;
    END IF;
    -- never below lo: what lo sees stays seen (a writer announced late just comes later)
    cap := greatest(cap, pg_snapshot_xmax(lo)::text::bigint);
    IF cap >= pg_snapshot_xmax(now_snap)::text::bigint THEN
        RETURN now_snap;
    END IF;
    RETURN format('%s:%s:%s', least(pg_snapshot_xmin(now_snap)::text::bigint, cap), cap,
                  (SELECT string_agg(x::text, ',' ORDER BY x) FROM pg_snapshot_xip(now_snap) AS x
                   WHERE x::text::bigint < cap))::pg_snapshot;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.feed_horizon(pg_snapshot) IS
    'The snapshot a new batch ends at: the current one, cut before the oldest running feed writer.';

CREATE OR REPLACE FUNCTION cdlstore_internal.feed_batch(
    p_feed text, lo pg_snapshot, hi pg_snapshot, after_xid xid8, after_id bigint, max_count integer)
RETURNS TABLE (xid xid8, id bigint)
LANGUAGE plpgsql
STABLE
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
DECLARE
    source text := CASE p_feed WHEN 'docstore' THEN 'docstore.change_event e'
                               WHEN 'ops' THEN 'ops.events e' END;
    key text := CASE p_feed WHEN 'docstore' THEN 'e.id' WHEN 'ops' THEN 'e.event_id' END;
BEGIN
    -- not visible in lo: an xid lo saw running, or one from lo's xmax on; two index scans
    RETURN QUERY EXECUTE format($q$
        SELECT b.xid, b.id FROM (
            (SELECT e.xid, %2$s AS id FROM %1$s
             WHERE e.xid = ANY (ARRAY(SELECT pg_snapshot_xip($1))) AND (e.xid, %2$s) > ($3, $4)
               AND pg_visible_in_snapshot(e.xid, $2)
             ORDER BY e.xid, %2$s LIMIT $5)
            UNION ALL
            (SELECT e.xid, %2$s FROM %1$s
             WHERE e.xid >= pg_snapshot_xmax($1) AND e.xid < pg_snapshot_xmax($2)
               AND (e.xid, %2$s) > ($3, $4) AND pg_visible_in_snapshot(e.xid, $2)
             ORDER BY e.xid, %2$s LIMIT $5)) AS b
        ORDER BY b.xid, b.id LIMIT $5$q$, source, key)
    USING lo, hi, coalesce(after_xid, '0'::xid8), coalesce(after_id, 0), max_count;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.feed_batch(text, pg_snapshot, pg_snapshot, xid8, bigint, integer) IS
    'The next (xid, id) of a feed''s batch (visible in hi, not in lo) after a position.';

CREATE OR REPLACE FUNCTION cdlstore_internal.feed_consumer(p_feed text, p_consumer text)
RETURNS cdlstore_internal.feed_consumers
LANGUAGE plpgsql
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
DECLARE
    c cdlstore_internal.feed_consumers;
BEGIN
    IF p_consumer IS NULL OR btrim(p_consumer) = '' OR length(p_consumer) > 200 THEN
        RAISE EXCEPTION 'consumer must be a non-empty name of at most 200 characters' USING ERRCODE = 'CD001';
    END IF;
    INSERT INTO feed_consumers (feed, consumer) VALUES (p_feed, p_consumer)
    ON CONFLICT ON CONSTRAINT feed_consumers_key DO NOTHING;
    SELECT * INTO c FROM feed_consumers f  -- the call's tenant's own (row-level security)
    WHERE f.feed = p_feed AND f.consumer = p_consumer
    FOR UPDATE;
    RETURN c;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.feed_consumer(text, text) IS
    'Lock a consumer''s position (created at the start of the feed when new). CD001 for a bad name.';

CREATE OR REPLACE FUNCTION cdlstore_internal.feed_read(p_feed text, p_consumer text, max_count integer)
RETURNS TABLE (xid xid8, id bigint)
LANGUAGE plpgsql
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
DECLARE
    c feed_consumers := feed_consumer(p_feed, p_consumer);
    xids xid8[];
    ids bigint[];
    n integer;
BEGIN
    IF max_count IS NULL OR max_count NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'max_count must be between 1 and 10000, got %', max_count USING ERRCODE = 'CD001';
    END IF;
    IF c.hi IS NULL OR NOT EXISTS (SELECT FROM feed_batch(p_feed, c.lo, c.hi, c.acked_xid, c.acked_id, 1)) THEN
        -- the batch is acknowledged: the next one starts where it ended
        c.lo := coalesce(c.hi, c.lo);
        c.hi := feed_horizon(c.lo);
        c.acked_xid := NULL; c.acked_id := NULL; c.handed_xid := NULL; c.handed_id := NULL;
    END IF;
    SELECT array_agg(b.xid ORDER BY b.xid, b.id), array_agg(b.id ORDER BY b.xid, b.id) INTO xids, ids
    FROM feed_batch(p_feed, c.lo, c.hi, c.acked_xid, c.acked_id, max_count) b;
    n := coalesce(cardinality(ids), 0);
    IF n > 0 AND (c.handed_xid IS NULL OR (xids[n], ids[n]) > (c.handed_xid, c.handed_id)) THEN
        c.handed_xid := xids[n]; c.handed_id := ids[n];
    END IF;
    UPDATE feed_consumers f
    SET lo = c.lo, hi = c.hi, acked_xid = c.acked_xid, acked_id = c.acked_id,
        handed_xid = c.handed_xid, handed_id = c.handed_id, updated_at = now()
    WHERE f.feed = c.feed AND f.consumer = c.consumer AND f.tenant IS NOT DISTINCT FROM c.tenant;
    RETURN QUERY SELECT u.xid, u.id FROM unnest(xids, ids) WITH ORDINALITY AS u (xid, id, n) ORDER BY u.n;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.feed_read(text, text, integer) IS
    'Hand out the next events of a consumer''s batch after its acknowledged one (the same again '
    'until acknowledged); a new batch when this one is done. Records how far it handed out.';

CREATE OR REPLACE FUNCTION cdlstore_internal.feed_ack(p_feed text, p_consumer text, up_to_id bigint)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
DECLARE
    c feed_consumers := feed_consumer(p_feed, p_consumer);
    x xid8;
BEGIN
    EXECUTE format('SELECT e.xid FROM %s WHERE %s = $1',
                   CASE p_feed WHEN 'docstore' THEN 'docstore.change_event e' ELSE 'ops.events e' END,
                   CASE p_feed WHEN 'docstore' THEN 'e.id' ELSE 'e.event_id' END)
    INTO x USING up_to_id;
    IF x IS NULL THEN
        RAISE EXCEPTION 'change event % not found', coalesce(up_to_id::text, 'NULL') USING ERRCODE = 'CD002';
    ELSIF pg_visible_in_snapshot(x, c.lo) OR (c.hi IS NOT NULL AND pg_visible_in_snapshot(x, c.hi)
          AND (x, up_to_id) <= (coalesce(c.acked_xid, '0'::xid8), coalesce(c.acked_id, 0))) THEN
        RETURN false;  -- acknowledged already
    ELSIF c.handed_xid IS NULL OR NOT pg_visible_in_snapshot(x, c.hi) OR (x, up_to_id) > (c.handed_xid, c.handed_id) THEN
        RAISE EXCEPTION 'event % has not been handed out to consumer % yet', up_to_id, quote_literal(p_consumer)
            USING ERRCODE = 'CD001',
                  HINT = 'Acknowledge only ids that reading the changes returned: an id taken elsewhere '
                         '(e.g. a NOTIFY) may be ahead of an earlier transaction''s event.';
    END IF;
    UPDATE feed_consumers f SET acked_xid = x, acked_id = up_to_id, updated_at = now()
    WHERE f.feed = c.feed AND f.consumer = c.consumer AND f.tenant IS NOT DISTINCT FROM c.tenant;
    RETURN true;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.feed_ack(text, text, bigint) IS
    'Acknowledge a consumer''s events up to one it was handed: true when it moved, false for an '
    'older one; CD001 for one not handed out yet, CD002 for an unknown id.';
