-- Keyset pages (cdlstore_internal.page_key and page) through the four listings that use them.
BEGIN;
SELECT plan(20);

-- every item of a listing, walking it page_size at a time: {ids in order, pages}
CREATE FUNCTION pg_temp.walk(call text, id_key text, page_size integer) RETURNS jsonb LANGUAGE plpgsql AS $f$
DECLARE
    page jsonb;
    after text;
    ids jsonb := '[]';
    pages integer := 0;
BEGIN
    LOOP
        EXECUTE format('SELECT ' || call, page_size, after) INTO page;
        pages := pages + 1;
        ids := ids || coalesce((SELECT jsonb_agg(i -> id_key ORDER BY n) FROM jsonb_array_elements(page -> 'items')
                                WITH ORDINALITY AS x (i, n)), '[]');
        after := page ->> 'next_cursor';
        EXIT WHEN after IS NULL OR pages > 20;
    END LOOP;
    RETURN jsonb_build_object('ids', ids, 'pages', pages);
END
$f$;

-- five of each, written in one transaction: equal created_at, so the id breaks the ties
CREATE TEMP TABLE docs AS
SELECT n, (docstore.put_document('pages', 'note', jsonb_build_object('n', n), session_id => 's1')).document_uuid AS id
FROM generate_series(1, 5) AS n;
CREATE TEMP TABLE runs AS SELECT n, ops.create_workflow('run ' || n, 'paging') AS id FROM generate_series(1, 5) AS n;
CREATE TEMP TABLE events AS SELECT n, ops.record_event('paged', 'thing', 'p1') AS id FROM generate_series(1, 5) AS n;

CREATE TEMP TABLE listings (name text, call text, id_key text, expected jsonb);
INSERT INTO listings VALUES
    ('list_by_session', $$docstore.list_by_session('s1', page_size => %s, after => %L)$$, 'document_uuid',
     (SELECT jsonb_agg(to_jsonb(id) ORDER BY n DESC) FROM docs)),
    ('list_documents', $$docstore.list_documents('pages', 'note', page_size => %s, after => %L)$$, 'document_uuid',
     (SELECT jsonb_agg(to_jsonb(id) ORDER BY n DESC) FROM docs)),
    ('list_workflows', $$ops.list_workflows(workflow_type => 'paging', page_size => %s, after => %L)$$, 'workflow_id',
     (SELECT jsonb_agg(to_jsonb(id) ORDER BY n DESC) FROM runs)),
    ('list_events', $$ops.list_events(event_type => 'paged', page_size => %s, after => %L)$$, 'event_id',
     (SELECT jsonb_agg(to_jsonb(id) ORDER BY n DESC) FROM events));

SELECT is(pg_temp.walk(l.call, l.id_key, 2), jsonb_build_object('ids', l.expected, 'pages', 3),
          l.name || ': pages of 2 give every item once, newest first, and stop after the third')
FROM listings l ORDER BY l.name;
SELECT is(pg_temp.walk(l.call, l.id_key, 5), jsonb_build_object('ids', l.expected, 'pages', 1),
          l.name || ': a page that holds everything has no next cursor')
FROM listings l ORDER BY l.name;
SELECT throws_ok(format('SELECT ' || l.call, 0, NULL), 'CD001', 'page_size must be between 1 and 1000, got 0',
                 l.name || ': a page size of 0')
FROM listings l ORDER BY l.name;
SELECT throws_ok(format('SELECT ' || l.call, 2, 'MTIzLjQ1Ni5hYmNkZWZhYmNkZWY'), 'CD001', 'invalid page cursor',
                 l.name || ': a cursor not made by page_cursor')
FROM listings l ORDER BY l.name;
SELECT throws_ok(format('SELECT ' || l.call, 1001, NULL), 'CD001', NULL, l.name || ': a page size of 1001')
FROM listings l ORDER BY l.name;

SELECT * FROM finish();
ROLLBACK;
