-- Back to one offset per docstore consumer; a rolled-back consumer may read events again
-- (it resumes at the oldest transaction its feed position did not yet see whole).
ALTER TABLE cdl.characters DROP CONSTRAINT characters_normalized_name_check;
ALTER TABLE cdl.characters ADD CONSTRAINT characters_normalized_name_check CHECK (normalized_name ~ '^[a-z0-9_]+$');
ALTER TABLE ops.task_executions ALTER COLUMN execution_time_ms TYPE integer
    USING least(execution_time_ms, 2147483647)::integer;
DROP INDEX ops.events_feed_idx;
ALTER TABLE ops.events DROP COLUMN xid;

CREATE TABLE docstore.consumer_offset (
    consumer text NOT NULL CHECK (consumer <> '' AND length(consumer) <= 200),
    last_xid xid8 NOT NULL DEFAULT '0',
    last_id bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    tenant text,
    CONSTRAINT consumer_offset_pkey PRIMARY KEY (consumer, tenant)
);
ALTER TABLE docstore.consumer_offset OWNER TO cdlstore_owner;
CALL cdlstore_internal.make_tenant_scoped('docstore.consumer_offset');
INSERT INTO docstore.consumer_offset (consumer, last_xid, last_id, updated_at, tenant)
SELECT f.consumer, CASE WHEN f.lo::text = '1:1:' THEN '0'::xid8 ELSE pg_snapshot_xmin(f.lo) END, 0, f.updated_at, f.tenant
FROM cdlstore_internal.feed_consumers f WHERE f.feed = 'docstore';

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'cdlstore_internal'::regnamespace
               AND (p.proname LIKE 'feed\_%' OR p.proname = 'input_text') LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
    DROP TABLE cdlstore_internal.feed_consumers;
    IF NOT EXISTS (SELECT FROM pg_class WHERE relnamespace = 'cdlstore_internal'::regnamespace)
       AND NOT EXISTS (SELECT FROM pg_proc WHERE pronamespace = 'cdlstore_internal'::regnamespace)
       AND NOT EXISTS (SELECT FROM pg_type WHERE typnamespace = 'cdlstore_internal'::regnamespace) THEN
        DROP SCHEMA cdlstore_internal;
    END IF;
END
$$;
