-- Reads and writes that span the shards: the shards' own ids (cdl.set_shard_identity), the
-- order a claim or a change feed tries the shards in, listings merged across the shards with a
-- cursor that holds each shard's cursor, and results of every shard combined.

CREATE OR REPLACE FUNCTION cdlstore_proxy.shard_identify(integer, integer, integer)
RETURNS void
LANGUAGE plproxy
AS $$
    CLUSTER 'cdlstore';
    RUN ON $1;
    SELECT * FROM cdl.set_shard_identity($2::integer, $3::integer);
$$;

COMMENT ON FUNCTION cdlstore_proxy.shard_identify(integer, integer, integer) IS 'cdl.set_shard_identity on one partition.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.identify_shards()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- each shard learns its partition, so that the ids it makes route back to it
    FOR part IN 0 .. cdlstore_proxy.partitions() - 1 LOOP
        PERFORM cdlstore_proxy.shard_identify(part, part, cdlstore_proxy.partitions());
    END LOOP;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.identify_shards() IS
    'Tell every shard its partition and the partition count (cdl.set_shard_identity); generate() does.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.turns()
RETURNS SETOF integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    -- every partition once, from a random one on: a claim or a feed read starves no shard
    SELECT (x.start + i) % x.n FROM (SELECT cdlstore_proxy.partitions() AS n,
                                            floor(random() * cdlstore_proxy.partitions())::integer AS start) x,
                                    generate_series(0, x.n - 1) i
    ORDER BY i
$$;

COMMENT ON FUNCTION cdlstore_proxy.turns() IS 'The partitions, each once, from a random one on.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.cursor(cursors jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $$
    -- each shard's cursor (false: that shard is done); NULL when every shard is done
    SELECT CASE WHEN EXISTS (SELECT FROM jsonb_array_elements(cursors) c WHERE c <> 'false')
                THEN 'S' || translate(encode(convert_to(cursors::text, 'UTF8'), 'base64'), E'=\n', '') END
$$;

COMMENT ON FUNCTION cdlstore_proxy.cursor(jsonb) IS
    'The cursor of a merged listing: the cursors of every shard, opaque; NULL when all shards are done.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.uncursor(cursor text)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v jsonb;
    n integer := cdlstore_proxy.partitions();
BEGIN
    IF cursor IS NULL THEN
        RETURN (SELECT jsonb_agg(NULL::text) FROM generate_series(1, n));
    END IF;
    BEGIN
        v := convert_from(decode(rpad(substr(cursor, 2), (length(cursor) + 2) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb;
    EXCEPTION WHEN OTHERS THEN
        v := NULL;
    END;
    -- the shards check their own cursors (CD001); here only the shape
    IF left(cursor, 1) <> 'S' OR jsonb_typeof(v) IS DISTINCT FROM 'array' OR jsonb_array_length(v) <> n
       OR EXISTS (SELECT FROM jsonb_array_elements(v) c WHERE jsonb_typeof(c) NOT IN ('string', 'null')
                                                          AND c <> 'false') THEN
        RAISE EXCEPTION 'invalid page cursor' USING ERRCODE = 'CD001',
            HINT = 'Pass the next_cursor of the previous page of this proxy unchanged.';
    END IF;
    RETURN v;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.uncursor(text) IS
    'Each shard''s cursor from a merged listing''s cursor (all NULL for the first page); CD001 for another text.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.merge_pages(pages jsonb[], page_size integer, sort_key text,
                                                      OUT items jsonb, OUT taken integer[])
RETURNS record
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- the first page_size items of all shards' pages, newest key first (a number, else a time),
    -- ties in shard order; and how many were taken from each shard
    WITH item AS (
        SELECT p.part, i.item, i.n FROM unnest(pages) WITH ORDINALITY p(page, part),
               jsonb_array_elements(p.page -> 'items') WITH ORDINALITY i(item, n)),
    pick AS (
        SELECT * FROM item
        ORDER BY CASE WHEN jsonb_typeof(item -> sort_key) = 'number' THEN (item ->> sort_key)::numeric END DESC NULLS LAST,
                 CASE WHEN jsonb_typeof(item -> sort_key) = 'string' THEN (item ->> sort_key)::timestamptz END DESC NULLS LAST,
                 part, n
        LIMIT page_size)
    SELECT (SELECT coalesce(jsonb_agg(k.item ORDER BY k.o), '[]')
            FROM (SELECT pick.item, row_number() OVER (ORDER BY
                      CASE WHEN jsonb_typeof(pick.item -> sort_key) = 'number' THEN (pick.item ->> sort_key)::numeric END DESC NULLS LAST,
                      CASE WHEN jsonb_typeof(pick.item -> sort_key) = 'string' THEN (pick.item ->> sort_key)::timestamptz END DESC NULLS LAST,
                      pick.part, pick.n) AS o FROM pick) k),
           ARRAY(SELECT (SELECT count(*) FROM pick WHERE pick.part = s)::integer
                 FROM generate_series(1, cardinality(pages)) s ORDER BY s)
$$;

COMMENT ON FUNCTION cdlstore_proxy.merge_pages(jsonb[], integer, text) IS
    'Merge the pages of every shard of a listing newest first by sort_key: the items of one page and '
    'how many came from each shard.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.combine(a jsonb, b jsonb, key text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- two shards' results: counts added, ages, rates and percentiles the larger (an upper bound)
    SELECT CASE
        WHEN a IS NULL OR a = 'null' THEN b
        WHEN b IS NULL OR b = 'null' THEN a
        WHEN jsonb_typeof(a) = 'object' AND jsonb_typeof(b) = 'object' THEN
            (SELECT coalesce(jsonb_object_agg(k, cdlstore_proxy.combine(a -> k, b -> k, k)), '{}')
             FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) AS x(k))
        WHEN jsonb_typeof(a) = 'number' AND jsonb_typeof(b) = 'number' THEN
            CASE WHEN key ~ '(age|rate|^p[0-9]+)' THEN to_jsonb(greatest(a::text::numeric, b::text::numeric))
                 ELSE to_jsonb(a::text::numeric + b::text::numeric) END
        ELSE b END
$$;

COMMENT ON FUNCTION cdlstore_proxy.combine(jsonb, jsonb, text) IS
    'The result of every shard in one: numbers added (counts), or the larger for ages, rates and percentiles.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.top(items jsonb, sort_key text, max_count integer)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- every shard's top list in one, largest key first; a rank the shards gave is given again
    SELECT coalesce(jsonb_agg(CASE WHEN m.item ? 'rank'
                                   THEN m.item || jsonb_build_object('rank', 1 + (SELECT count(*) FROM jsonb_array_elements(m.all_items) other(v)
                                                                                 WHERE (other.v ->> sort_key)::numeric > (m.item ->> sort_key)::numeric))
                                   ELSE m.item END ORDER BY m.o), '[]')
    FROM (SELECT e.item, e.o, x.items AS all_items
          FROM cdlstore_proxy.merge_pages(ARRAY[jsonb_build_object('items', items)], max_count, sort_key) x,
               jsonb_array_elements(x.items) WITH ORDINALITY e(item, o)) m
$$;

COMMENT ON FUNCTION cdlstore_proxy.top(jsonb, text, integer) IS
    'The first max_count of every shard''s items, largest sort_key first (ranks given again).';

CREATE OR REPLACE FUNCTION cdlstore_proxy.splittable(batch jsonb, id_key text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $$
    -- a list of objects whose ids are uuids; anything else goes whole to one shard, which refuses it
    SELECT jsonb_typeof(batch) = 'array' AND jsonb_array_length(batch) > 0
       AND NOT EXISTS (SELECT FROM jsonb_array_elements(batch) c
                       WHERE jsonb_typeof(c) <> 'object'
                          OR coalesce(c ->> id_key, '') !~* '^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$')
$$;

COMMENT ON FUNCTION cdlstore_proxy.splittable(jsonb, text) IS 'Whether a batch of ids can be split by shard.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.split(batch jsonb, id_key text)
RETURNS TABLE (part integer, items jsonb)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cdlstore_proxy.uuid_hash((c ->> id_key)::uuid) & (cdlstore_proxy.partitions() - 1), jsonb_agg(c ORDER BY o)
    FROM jsonb_array_elements(batch) WITH ORDINALITY e(c, o)
    GROUP BY 1 ORDER BY 1
$$;

COMMENT ON FUNCTION cdlstore_proxy.split(jsonb, text) IS 'A batch of ids, by the partition each id routes to.';
