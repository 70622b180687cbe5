-- The routing-id helpers go back to cdl (as 0018 made them); the other moved helpers come back
-- with the function files of the release before, which create them on its next migrate.
CREATE FUNCTION cdl._shard_hash()
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = cdl, pg_temp
AS $$
    SELECT coalesce((SELECT s.part + s.partitions * floor(random() * (1024 / s.partitions))::integer
                     FROM cdlstore_internal.shard_identity s),
                    floor(random() * 1024)::integer)
$$;

COMMENT ON FUNCTION cdl._shard_hash() IS 'A random routing hash (0..1023) that routes to this shard.';

CREATE FUNCTION cdl._hashed_uuid(hash integer)
RETURNS uuid
LANGUAGE sql
VOLATILE
AS $$
    SELECT (left(gen_random_uuid()::text, 33)
            || lpad(to_hex((hash & 1023) | (floor(random() * 4)::integer << 10)), 3, '0'))::uuid
$$;

COMMENT ON FUNCTION cdl._hashed_uuid(integer) IS 'A random uuid carrying a routing hash in its last 10 bits.';

ALTER TABLE ops.task_executions ALTER COLUMN execution_id SET DEFAULT cdl._hashed_uuid(cdl._shard_hash());
ALTER TABLE ops.workflows ALTER COLUMN workflow_id SET DEFAULT cdl._hashed_uuid(cdl._shard_hash());
DROP FUNCTION cdlstore_internal.hashed_uuid(integer);
DROP FUNCTION cdlstore_internal.shard_hash();
ALTER TABLE docstore.documents DROP COLUMN deleted_by_type;
-- the page helper's argument type: page() goes with it
DROP TYPE cdlstore_internal.page_row CASCADE;
