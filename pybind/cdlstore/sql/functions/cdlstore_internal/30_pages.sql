-- Keyset pages, shared by every listing of the four schemas: a listing reads page_size + 1 rows
-- after the key of its cursor, newest first, and hands them to page(), which cuts the page and
-- makes the cursor of the next one from the key of its last row. A cursor is opaque to callers:
-- base64 of "<created_at in microseconds>.<id>.<check>", refused (CD001) unless made here.

CREATE OR REPLACE FUNCTION cdlstore_internal.check_page(page_size integer)
RETURNS void
LANGUAGE plpgsql
STABLE  -- it raises: it must not be folded at plan time
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
BEGIN
    IF page_size IS NULL OR page_size NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'page_size must be between 1 and 1000, got %', page_size USING ERRCODE = 'CD001';
    END IF;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.check_page(integer) IS 'Reject a page size outside 1..1000 (CD001).';

CREATE OR REPLACE FUNCTION cdlstore_internal.page_cursor(created_at timestamptz, id bigint)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT translate(encode(convert_to(p || '.' || left(md5(p || ':cdlstore-cursor'), 12), 'UTF8'), 'base64'), E'=\n', '')
    FROM (SELECT (extract(epoch FROM created_at) * 1000000)::bigint || '.' || id AS p) AS x
$$;

COMMENT ON FUNCTION cdlstore_internal.page_cursor(timestamptz, bigint) IS 'An opaque page cursor for a (created_at, id) key.';

CREATE OR REPLACE FUNCTION cdlstore_internal.page_key(
    after text, page_size integer, OUT created_at timestamptz, OUT id bigint)
RETURNS record
LANGUAGE plpgsql
STABLE  -- it raises: it must not be folded at plan time
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
DECLARE
    parts text[];
BEGIN
    PERFORM cdlstore_internal.check_page(page_size);
    IF after IS NULL THEN
        RETURN;  -- the first page: no key
    END IF;
    BEGIN
        parts := string_to_array(convert_from(decode(rpad(after, (length(after) + 3) / 4 * 4, '='), 'base64'), 'UTF8'), '.');
    EXCEPTION WHEN OTHERS THEN
        parts := NULL;
    END;
    IF cardinality(parts) IS DISTINCT FROM 3 OR parts[1] !~ '^-?[0-9]{1,18}$' OR parts[2] !~ '^[0-9]{1,18}$'
       OR parts[3] <> left(md5(parts[1] || '.' || parts[2] || ':cdlstore-cursor'), 12) THEN
        RAISE EXCEPTION 'invalid page cursor' USING ERRCODE = 'CD001',
            HINT = 'Pass the next_cursor of the previous page unchanged.';
    END IF;
    created_at := 'epoch'::timestamptz + parts[1]::bigint * interval '1 microsecond';
    id := parts[2]::bigint;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.page_key(text, integer) IS
    'The (created_at, id) key a page starts after (NULLs for the first page); CD001 for a page size '
    'outside 1..1000 or a cursor page_cursor did not make.';

CREATE OR REPLACE FUNCTION cdlstore_internal.page(rows cdlstore_internal.page_row[], page_size integer)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
BEGIN
    -- rows: page_size + 1 rows at most, in the order of the listing (plpgsql, not sql: its plan is
    -- kept from call to call)
    RETURN jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(r.item ORDER BY r.n)
                           FROM unnest(rows[1:page_size]) WITH ORDINALITY AS r (item, created_at, id, n)), '[]'::jsonb),
        'next_cursor', CASE WHEN cardinality(rows) > page_size
                            THEN cdlstore_internal.page_cursor((rows[page_size]).created_at, (rows[page_size]).id) END);
END
$$;

COMMENT ON FUNCTION cdlstore_internal.page(cdlstore_internal.page_row[], integer) IS
    'A page of a listing ({items, next_cursor}) from the page_size + 1 rows it read: the first page_size '
    'items, and the cursor of the next page when there was one more row.';
