-- Change feeds that neither stall nor skip, shared by docstore and ops; wider character keys;
-- task times that do not overflow.
--
-- A consumer's position is a pair of snapshots (PgQ's idea): it has handed out every event
-- visible in "lo", and is handing out the batch of events visible in "hi" but not in "lo".
-- An event of a transaction still running is in neither, so it comes in a later batch: nothing
-- is skipped, and a transaction that never writes to a feed holds nothing back (before, the
-- oldest running xid of the whole server did). The functions are in cdlstore_internal/.
CREATE SCHEMA IF NOT EXISTS cdlstore_internal AUTHORIZATION cdlstore_owner;
REVOKE ALL ON SCHEMA cdlstore_internal FROM PUBLIC;
COMMENT ON SCHEMA cdlstore_internal IS 'What the four schemas share; granted to no one';

CREATE TABLE cdlstore_internal.feed_consumers (
    feed text NOT NULL CHECK (feed IN ('docstore', 'ops')),
    consumer text NOT NULL CHECK (consumer <> '' AND length(consumer) <= 200),
    tenant text,
    lo pg_snapshot NOT NULL DEFAULT '1:1:',   -- every event visible in it is acknowledged
    hi pg_snapshot,                          -- the batch: visible in hi, not in lo
    acked_xid xid8,                          -- the last acknowledged event of the batch
    acked_id bigint,
    handed_xid xid8,                         -- the last event of the batch handed out
    handed_id bigint,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feed_consumers_key UNIQUE (feed, consumer, tenant)
);
CALL cdlstore_internal.make_tenant_scoped('cdlstore_internal.feed_consumers');

-- docstore offsets (xid, id): every event of an older transaction and of this one up to id is
-- done. As snapshots: lo sees the older transactions, hi this one too.
INSERT INTO cdlstore_internal.feed_consumers
    (feed, consumer, tenant, lo, hi, acked_xid, acked_id, handed_xid, handed_id, updated_at)
SELECT 'docstore', o.consumer, o.tenant, format('%s:%s:', o.last_xid, o.last_xid)::pg_snapshot,
       format('%s:%s:', o.last_xid::text::bigint + 1, o.last_xid::text::bigint + 1)::pg_snapshot,
       o.last_xid, o.last_id, o.last_xid, o.last_id, o.updated_at
FROM docstore.consumer_offset o WHERE o.last_xid <> '0';
INSERT INTO cdlstore_internal.feed_consumers (feed, consumer, tenant, updated_at)
SELECT 'docstore', o.consumer, o.tenant, o.updated_at FROM docstore.consumer_offset o WHERE o.last_xid = '0';
DROP TABLE docstore.consumer_offset;

-- ops events join the feed. Events from before have xid 1: visible to every snapshot but the
-- first one, so a new consumer reads them too (a constant default: no table rewrite).
ALTER TABLE ops.events ADD COLUMN xid xid8 NOT NULL DEFAULT '1';
ALTER TABLE ops.events ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX events_feed_idx ON ops.events (xid, event_id);

-- a task may run for longer than 24.8 days of milliseconds
ALTER TABLE ops.task_executions ALTER COLUMN execution_time_ms TYPE bigint;

-- a character key may keep letters of any script ("agent_смирнов", "agent_王"): only ASCII
-- upper case, spaces, punctuation other than '_' and control characters are refused
ALTER TABLE cdl.characters DROP CONSTRAINT characters_normalized_name_check;
ALTER TABLE cdl.characters ADD CONSTRAINT characters_normalized_name_check
    CHECK (normalized_name::text <> ''
           AND normalized_name::text !~ '[A-Z[:space:]\u0001-\u002f\u003a-\u0040\u005b-\u005e\u0060\u007b-\u007f]');
