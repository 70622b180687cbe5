-- Shared internals in one place: the helpers more than one schema uses move to
-- cdlstore_internal (granted to no one), so that no schema calls another schema's private
-- helpers. The new helpers live in functions/cdlstore_internal/ (re-created on every migrate);
-- those a column default needs are created here, where the default is set. The old ones are
-- dropped here: function files only ever create, so a helper that moved would otherwise stay
-- behind in every upgraded database.

-- a row of a keyset page (cdlstore_internal.page): the item and the key it was listed by
CREATE TYPE cdlstore_internal.page_row AS (item jsonb, created_at timestamptz, id bigint);

-- routing ids (0018) for docstore, ops and game rows, no longer cdl's private helpers
CREATE FUNCTION cdlstore_internal.shard_hash()
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
    -- a random 10-bit routing hash that PL/Proxy (hash & (partitions - 1)) sends to this shard
    SELECT coalesce((SELECT s.part + s.partitions * floor(random() * (1024 / s.partitions))::integer
                     FROM cdlstore_internal.shard_identity s),
                    floor(random() * 1024)::integer)
$$;

COMMENT ON FUNCTION cdlstore_internal.shard_hash() IS 'A random routing hash (0..1023) that routes to this shard.';

CREATE FUNCTION cdlstore_internal.hashed_uuid(hash integer)
RETURNS uuid
LANGUAGE sql
VOLATILE
AS $$
    -- a random uuid whose last 10 bits are the routing hash (the proxy's cdlstore_proxy.uuid_hash)
    SELECT (left(gen_random_uuid()::text, 33)
            || lpad(to_hex((hash & 1023) | (floor(random() * 4)::integer << 10)), 3, '0'))::uuid
$$;

COMMENT ON FUNCTION cdlstore_internal.hashed_uuid(integer) IS 'A random uuid carrying a routing hash in its last 10 bits.';

ALTER TABLE ops.task_executions ALTER COLUMN execution_id
    SET DEFAULT cdlstore_internal.hashed_uuid(cdlstore_internal.shard_hash());
ALTER TABLE ops.workflows ALTER COLUMN workflow_id
    SET DEFAULT cdlstore_internal.hashed_uuid(cdlstore_internal.shard_hash());
DROP FUNCTION cdl._hashed_uuid(integer);
DROP FUNCTION cdl._shard_hash();

-- paging: now cdlstore_internal.check_page, page_key, page_cursor and page
DROP FUNCTION IF EXISTS docstore._check_page(integer);
DROP FUNCTION IF EXISTS docstore._cursor(timestamptz, bigint);
DROP FUNCTION IF EXISTS docstore._uncursor(text);
DROP FUNCTION IF EXISTS docstore._page(jsonb[], timestamptz[], bigint[], integer);

-- regular expressions from outside: now cdlstore_internal.regex_problem and its helpers
DROP FUNCTION IF EXISTS cdl._regex_problem(text, boolean);
DROP FUNCTION IF EXISTS cdl._regex_grammar_problem(text);
DROP FUNCTION IF EXISTS cdl._regex_bound(text, integer, boolean, boolean);
DROP FUNCTION IF EXISTS cdl._regex_limit(text);
DROP FUNCTION IF EXISTS cdl._runnable_regex(text);
DROP FUNCTION IF EXISTS cdl._bracket_end(text, integer);

-- docstore.delete_document records its actor_type beside its actor, as put_document does
ALTER TABLE docstore.documents ADD COLUMN deleted_by_type text;
