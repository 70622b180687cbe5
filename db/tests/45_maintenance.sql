-- The maintenance duties' own functions: retention policies, the next deadlines the worker waits for.
BEGIN;
SELECT plan(15);

-- retention: a stored policy, applied by apply_retention
CREATE TEMP TABLE d AS SELECT (docstore.put_document('ns', 'log', '{"n": 1}')).document_uuid AS u;
SELECT docstore.put_document('ns', 'log', format('{"n": %s}', n)::jsonb, document_uuid => (SELECT u FROM d))
FROM generate_series(2, 4) AS n;
SELECT docstore.set_tag((SELECT u FROM d), 1, 'golden');
UPDATE docstore.document_header SET created_at = created_at - interval '1 day';
SELECT is(docstore.apply_retention(), 0, 'without a policy nothing is pruned');
SELECT is(docstore.set_retention_policy('ns', 'log', 1, '1 hour') ->> 'keep_last', '1', 'set a policy');
SELECT is(docstore.set_retention_policy('ns', 'log', 2, '1 hour') ->> 'keep_last', '2', 'setting it again replaces it');
SELECT is((SELECT count(*)::int FROM docstore.retention_policy), 1, 'one policy per namespace and type');
SELECT is(docstore.apply_retention(), 1, 'apply_retention prunes by the policy');
SELECT results_eq(format($$SELECT version FROM docstore.document_header WHERE document_uuid = %L ORDER BY 1$$, (SELECT u FROM d)),
    $$VALUES (1), (3), (4)$$, 'the newest two stay, and the tagged one');
SELECT throws_ok($$SELECT docstore.set_retention_policy('ns', 'log', 0)$$, 'CD001', NULL, 'keep_last is at least 1');
SELECT throws_ok($$SELECT docstore.set_retention_policy('ns', 'log', 1, '-1 day')$$, 'CD001', NULL, 'older_than is not negative');
SELECT throws_ok($$SELECT docstore.set_retention_policy('', 'log', 1)$$, 'CD001', NULL, 'a namespace is required');
SELECT is(docstore.set_retention_policy('ns', 'log', NULL), NULL, 'keep_last NULL removes the policy');
SELECT is((SELECT count(*)::int FROM docstore.retention_policy), 0, 'and it is gone');

-- the next deadline of a running task's lease
SELECT ops.enqueue_task('t', 'maint', timeout_seconds => 600);
SELECT ops.claim_tasks('w', '{maint}');
SELECT is(ops.next_task_timeout(), (SELECT min(timeout_at) FROM ops.task_executions WHERE status = 'running'),
    'next_task_timeout is the end of the nearest lease');

-- another tenant's nearer lease: its own tenant and an administrator naming none see it, others not
SET LOCAL cdlstore.tenant = 'other';
SELECT ops.enqueue_task('o', 'maint', timeout_seconds => 60);
SELECT ops.claim_tasks('w', '{maint}');
CREATE TEMP TABLE other_due AS SELECT ops.next_task_timeout() AS due;
SELECT ok((SELECT due FROM other_due) < (SELECT min(timeout_at) FROM ops.task_executions WHERE tenant = 'default'),
    'the other tenant sees its own nearer lease');
RESET cdlstore.tenant;
SELECT is(ops.next_task_timeout(), (SELECT due FROM other_due),
    'an administrator naming no tenant sees every tenant''s next deadline');
SET LOCAL cdlstore.tenant = 'default';
SELECT ok(ops.next_task_timeout() > (SELECT due FROM other_due), 'a tenant sees only its own');
RESET cdlstore.tenant;

SELECT * FROM finish();
ROLLBACK;
