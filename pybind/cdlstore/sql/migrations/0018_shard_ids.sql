-- Scale-out, part 2: ids of docstore, ops and game rows that route to their shard without a
-- broadcast. A shard learns its partition from the proxy (cdl.set_shard_identity); until then
-- (one node) nothing changes but that new uuids carry a 10-bit routing hash in their last bits.
CREATE TABLE cdlstore_internal.shard_identity (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    part integer NOT NULL CHECK (part >= 0),
    partitions integer NOT NULL CHECK (partitions BETWEEN 1 AND 1024 AND partitions & (partitions - 1) = 0),
    CHECK (part < partitions)
);

COMMENT ON TABLE cdlstore_internal.shard_identity IS
    'This shard''s partition and the partition count, set by the proxy (cdl.set_shard_identity); empty on one node.';

CREATE FUNCTION cdl._shard_hash()
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = cdl, pg_temp
AS $$
    -- a random 10-bit routing hash that PL/Proxy (hash & (partitions - 1)) sends to this shard
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
    -- a random uuid whose last 10 bits are the routing hash (the proxy's cdlstore_proxy.uuid_hash)
    SELECT (left(gen_random_uuid()::text, 33)
            || lpad(to_hex((hash & 1023) | (floor(random() * 4)::integer << 10)), 3, '0'))::uuid
$$;

COMMENT ON FUNCTION cdl._hashed_uuid(integer) IS 'A random uuid carrying a routing hash in its last 10 bits.';

-- tasks and ops workflows have no key of their own: their ids route to the shard that made them
ALTER TABLE ops.task_executions ALTER COLUMN execution_id SET DEFAULT cdl._hashed_uuid(cdl._shard_hash());
ALTER TABLE ops.workflows ALTER COLUMN workflow_id SET DEFAULT cdl._hashed_uuid(cdl._shard_hash());
