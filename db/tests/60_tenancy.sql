-- Tenancy: with cdlstore.tenant set, docstore and ops functions see and write only that tenant's rows.
BEGIN;
SELECT plan(16);

SET LOCAL cdlstore.tenant = 'acme';
CREATE TEMP TABLE a AS SELECT (docstore.put_document('shared', 'config', '{"secret": "acme"}', session_id => 's')).document_uuid AS u;
SELECT docstore.set_tag((SELECT u FROM a), 1, 'production');
SELECT ops.enqueue_task('acme job', 'work');
SELECT ops.record_event('acme_event');

SET LOCAL cdlstore.tenant = 'globex';
SELECT throws_ok(format($$SELECT docstore.get_document(%L)$$, (SELECT u FROM a)), 'CD002', NULL, 'another tenant''s document is not found');
SELECT throws_ok(format($$SELECT docstore.get_document_by_tag(%L, 'production')$$, (SELECT u FROM a)), 'CD002', NULL, 'nor by tag');
SELECT is(docstore.get_tagged('shared', 'config', 'production'), '[]'::jsonb, 'nor among the tagged');
SELECT is(docstore.list_by_session('s') -> 'items', '[]'::jsonb, 'nor listed, same session id');
SELECT is(docstore.list_documents('shared', 'config') -> 'items', '[]'::jsonb, 'nor listed by type');
SELECT throws_ok(format($$SELECT docstore.put_document('shared', 'config', '{"secret": "mine"}', document_uuid => %L)$$, (SELECT u FROM a)),
    'CD002', NULL, 'a guessed id cannot be overwritten');
SELECT throws_ok(format($$SELECT docstore.set_tag(%L, 1, 'production', force => true)$$, (SELECT u FROM a)), 'CD002', NULL,
    'nor tagged');
SELECT throws_ok(format($$SELECT docstore.delete_document(%L)$$, (SELECT u FROM a)), 'CD002', NULL, 'nor deleted');
SELECT is(docstore.purge_document((SELECT u FROM a)), false, 'nor purged');
SELECT is(ops.claim_tasks('w', '{work}', 10), '[]'::jsonb, 'another tenant''s tasks are not claimed');
SELECT is(ops.list_events(event_type => 'acme_event') -> 'items', '[]'::jsonb, 'nor its events listed');
SELECT is((ops.metrics() ->> 'queue_depth')::int, 0, 'metrics count this tenant only');
SELECT ok((docstore.put_document('shared', 'config', '{"secret": "acme"}')).version = 1,
    'the same body under another tenant is a document of its own');

SET LOCAL cdlstore.tenant = 'acme';
SELECT is(docstore.get_document((SELECT u FROM a)) -> 'body', '{"secret": "acme"}'::jsonb, 'the owner still sees it, unchanged');
SELECT is(jsonb_array_length(ops.claim_tasks('w', '{work}', 10)), 1, 'and claims its task');

RESET cdlstore.tenant;
SELECT is(jsonb_array_length(docstore.list_documents('shared', 'config') -> 'items'), 0,
    'an administrator naming no tenant acts as the tenant default: neither acme''s nor globex''s rows');

SELECT * FROM finish();
ROLLBACK;
