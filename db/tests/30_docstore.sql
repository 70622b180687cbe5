-- docstore: versions, optimistic writes, tags, history, listing, deletion, retention, changes.
BEGIN;
SELECT plan(61);

CREATE TEMP TABLE d AS SELECT (docstore.put_document('ns', 'agent_config', '{"model": "a"}', 'cfg',
    '{"env": "prod"}', 'alice', 'user', 's1')).document_uuid AS u;
SELECT is((SELECT version FROM docstore.document_header WHERE document_uuid = (SELECT u FROM d)), 1, 'a new document is version 1');
SELECT is((docstore.put_document('ns', 'agent_config', '{"model": "b"}', 'cfg', '{"env": "prod"}', 'alice', 'user', 's1',
    (SELECT u FROM d))).version, 2, 'the next put is version 2');
SELECT is((docstore.put_document('ns', 'agent_config', '{"model": "c"}', 'cfg', '{"env": "dev"}', 'bob', 'agent', 's2',
    (SELECT u FROM d), 2)).version, 3, 'expected_version 2 matches: version 3');
SELECT throws_ok(format($$SELECT docstore.put_document('ns', 'agent_config', '{}', document_uuid => %L, expected_version => 2)$$,
    (SELECT u FROM d)), 'CD003', format('document %s is at version 3, not 2', (SELECT u FROM d)), 'a stale expected_version');
SELECT is((docstore.put_document('ns', 'agent_config', '{"model": "a"}', document_uuid => (SELECT u FROM d))).version, 4,
    'a body seen before');
SELECT is((SELECT count(DISTINCT document_body_uuid)::int FROM docstore.document_header WHERE document_uuid = (SELECT u FROM d)), 3,
    'identical bodies share one row');
SELECT is(docstore.get_document((SELECT u FROM d)) ->> 'version', '4', 'get returns the newest version');
SELECT is(docstore.get_document((SELECT u FROM d), 3) -> 'body', '{"model": "c"}'::jsonb, 'or the one asked for');
SELECT throws_ok(format($$SELECT docstore.get_document(%L, 9)$$, (SELECT u FROM d)), 'CD002', NULL, 'a missing version');
SELECT throws_ok($$SELECT docstore.get_document(gen_random_uuid())$$, 'CD002', NULL, 'an unknown document');

-- bad input
SELECT throws_ok($$SELECT docstore.put_document('', 't', '{}')$$, 'CD001', 'namespace must be 1 to 200 characters', 'empty namespace');
SELECT throws_ok($$SELECT docstore.put_document('ns', 't', '{}', metadata => '[1]')$$, 'CD001', 'metadata must be a JSON object', 'metadata not an object');
SELECT throws_ok($$SELECT docstore.put_document('ns', 't', NULL)$$, 'CD001', 'body is required', 'no body');
SELECT throws_ok($$SELECT docstore.put_document('ns', 't', '{}', expected_version => 1)$$, 'CD001', NULL, 'expected_version without a document');
SELECT throws_ok($$SELECT docstore.put_document('ns', 't', '{}', document_uuid => gen_random_uuid(), expected_version => 1)$$,
    'CD002', NULL, 'expected_version of an unknown document');
SELECT throws_ok(format($$SELECT docstore.put_document('ns', 'other_type', '{}', document_uuid => %L)$$, (SELECT u FROM d)),
    'CD001', NULL, 'a document keeps its type');

-- tags
SELECT is(docstore.set_tag((SELECT u FROM d), 1, 'production', 'ops'), NULL, 'set a new tag');
CREATE TEMP TABLE t1 AS SELECT clock_timestamp() AS at;
SELECT is(docstore.set_tag((SELECT u FROM d), 2, 'production', 'ops', expected_version => 1), 1, 'compare-and-swap moves it');
CREATE TEMP TABLE t2 AS SELECT clock_timestamp() AS at;
SELECT throws_ok(format($$SELECT docstore.set_tag(%L, 3, 'production', expected_version => 1)$$, (SELECT u FROM d)),
    'CD003', NULL, 'compare-and-swap with a stale version fails');
SELECT throws_ok(format($$SELECT docstore.set_tag(%L, 42, 'production')$$, (SELECT u FROM d)), 'CD002', NULL,
    'a tag on a missing version');
SELECT is(docstore.get_document_by_tag((SELECT u FROM d), 'production') -> 'body', '{"model": "b"}'::jsonb, 'get by tag');
SELECT is(jsonb_array_length(docstore.get_tagged('ns', 'agent_config', 'production')), 1, 'get_tagged');
SELECT is(docstore.get_document_by_tag_at((SELECT u FROM d), 'production', (SELECT at FROM t1)) ->> 'version', '1',
    'what the tag pointed at then');
SELECT is(docstore.get_document_by_tag_at((SELECT u FROM d), 'production', (SELECT at FROM t2)) ->> 'version', '2',
    'and later');
SELECT is(docstore.get_document_by_tag_at((SELECT u FROM d), 'production', '2000-01-01'), NULL, 'and before it existed');
SELECT lives_ok($$SELECT docstore.declare_tag('ns', 'production', is_protected => true)$$, 'declare a protected tag');
SELECT throws_ok(format($$SELECT docstore.set_tag(%L, 3, 'production')$$, (SELECT u FROM d)), 'CD006', 'tag production is protected',
    'a protected tag needs force');
SELECT is(docstore.set_tag((SELECT u FROM d), 3, 'production', force => true), 2, 'force moves it');
SELECT lives_ok($$SELECT docstore.declare_tag('ns', 'release-1.0', is_immutable => true)$$, 'declare an immutable tag');
SELECT is(docstore.set_tag((SELECT u FROM d), 3, 'release-1.0'), NULL, 'an immutable tag is set once');
SELECT throws_ok(format($$SELECT docstore.set_tag(%L, 4, 'release-1.0', force => true)$$, (SELECT u FROM d)), 'CD006', NULL,
    'and never moves');
SELECT is(docstore.remove_tag((SELECT u FROM d), 'staging'), NULL, 'removing a missing tag is a no-op');
SELECT results_eq(format($$SELECT e ->> 'operation', (e ->> 'old_version')::int, (e ->> 'new_version')::int
                           FROM jsonb_array_elements(docstore.tag_history(%L, 'production')) e$$, (SELECT u FROM d)),
    $$VALUES ('set', NULL, 1), ('move', 1, 2), ('move', 2, 3)$$, 'tag history');

-- listing
SELECT is(jsonb_array_length(docstore.list_by_session('s1', page_size => 1) -> 'items'), 1, 'a page of one');
SELECT is(jsonb_array_length(docstore.list_by_session('s1', page_size => 1,
    after => docstore.list_by_session('s1', page_size => 1) ->> 'next_cursor') -> 'items'), 1, 'the next page');
SELECT is(docstore.list_by_session('s1', page_size => 2) ->> 'next_cursor', NULL, 'no cursor after the last page');
SELECT throws_ok($$SELECT docstore.list_by_session('s1', after => 'MTIzLjQ1Ni5mb3JnZWQ=')$$, 'CD001', 'invalid page cursor', 'a forged cursor');
SELECT throws_ok($$SELECT docstore.list_by_session('s1', page_size => -1)$$, 'CD001', NULL, 'a negative page size');
SELECT is(docstore.list_documents('ns', 'agent_config', '{"env": "dev"}') -> 'items', '[]'::jsonb,
    'metadata containment looks at the newest version');

-- delete, purge, prune
UPDATE docstore.document_header SET created_at = created_at - interval '1 day';
SELECT is(docstore.prune_versions('ns', 'agent_config', 1, '1 hour') -> 'versions',
    jsonb_build_array(jsonb_build_object('document_uuid', (SELECT u FROM d), 'version', 1),
                      jsonb_build_object('document_uuid', (SELECT u FROM d), 'version', 2)),
    'a dry run reports what retention would remove: not the newest, not a tagged version');
SELECT docstore.prune_versions('ns', 'agent_config', 1, '1 hour', dry_run => false);
SELECT results_eq(format($$SELECT version FROM docstore.document_header WHERE document_uuid = %L ORDER BY 1$$, (SELECT u FROM d)),
    $$VALUES (3), (4)$$, 'pruning removes them');
-- Who made a change is recorded, at most 200 characters each: CD001 naming the field, nothing written.
SELECT count(*) AS events_before FROM docstore.change_event \gset
SELECT throws_ok($$SELECT docstore.put_document('ns', 't', '{}', created_by => repeat('a', 201))$$,
    'CD001', 'created_by is 201 characters long; at most 200 are allowed', 'put_document: a long created_by');
SELECT throws_ok($$SELECT docstore.put_document('ns', 't', '{}', created_by_type => repeat('a', 201))$$,
    'CD001', 'created_by_type is 201 characters long; at most 200 are allowed', 'put_document: a long created_by_type');
SELECT throws_ok(format($$SELECT docstore.delete_document(%L, actor_type => repeat('a', 201))$$, (SELECT u FROM d)),
    'CD001', 'actor_type is 201 characters long; at most 200 are allowed', 'delete_document: a long actor_type');
SELECT throws_ok(format($$SELECT docstore.delete_document(%L, session_id => repeat('a', 201))$$, (SELECT u FROM d)),
    'CD001', 'session_id is 201 characters long; at most 200 are allowed', 'delete_document: a long session_id');
SELECT throws_ok(format($$SELECT docstore.purge_document(%L, repeat('a', 201))$$, (SELECT u FROM d)),
    'CD001', 'actor is 201 characters long; at most 200 are allowed', 'purge_document: a long actor');
SELECT throws_ok(format($$SELECT docstore.set_tag(%L, 3, 'actors', actor => repeat('a', 201))$$, (SELECT u FROM d)),
    'CD001', 'actor is 201 characters long; at most 200 are allowed', 'set_tag: a long actor');
SELECT throws_ok(format($$SELECT docstore.remove_tag(%L, 'production', session_id => repeat('a', 201), force => true)$$, (SELECT u FROM d)),
    'CD001', 'session_id is 201 characters long; at most 200 are allowed', 'remove_tag: a long session_id');
SELECT is((SELECT count(*) FROM docstore.change_event), :'events_before'::bigint, 'and none of them wrote a change event');
SELECT ok((SELECT deleted_at IS NULL FROM docstore.documents WHERE document_uuid = (SELECT u FROM d)),
    'nor deleted the document');
SELECT is(docstore.delete_document((SELECT u FROM d), 'ops'), true, 'delete');
SELECT throws_ok(format($$SELECT docstore.get_document(%L)$$, (SELECT u FROM d)), 'CD002', NULL, 'a deleted document is gone for readers');
SELECT throws_ok(format($$SELECT docstore.get_document_by_tag(%L, 'production')$$, (SELECT u FROM d)), 'CD002',
    format('document %s was deleted', (SELECT u FROM d)), 'by tag too');
SELECT is(docstore.get_tagged('ns', 'agent_config', 'production'), '[]'::jsonb, 'and it is no longer tagged for get_tagged');
SELECT is(jsonb_array_length(docstore.tag_history((SELECT u FROM d), 'production')), 3, 'its history stays');
SELECT results_eq(format($$SELECT operation, count(*)::int FROM docstore.change_event WHERE document_uuid = %L
                           GROUP BY 1 ORDER BY 1$$, (SELECT u FROM d)),
    $$VALUES ('delete', 1), ('prune', 2), ('put', 4), ('tag', 4)$$, 'every put, tag change, prune and delete is a change event');
SELECT is(docstore.purge_document((SELECT u FROM d)), true, 'purge');
SELECT is((SELECT count(*)::int FROM docstore.document_body), 0, 'and no body is left behind');
SELECT ok((docstore.put_document('ns', 't', '{}', created_by => repeat('a', 200), created_by_type => '')).version = 1,
    '200 characters and an empty string are taken');

SET LOCAL ROLE cdlstore_app;
SELECT ok((docstore.put_document('ns', 'note', '"hello"')).version = 1, 'the app role puts');
SELECT throws_ok($$SELECT * FROM docstore.document_header$$, '42501', NULL, 'but cannot read a table');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
