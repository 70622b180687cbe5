-- ops: listing, retrying and cancelling tasks by hand; docstore: a document's history.
BEGIN;
SELECT plan(32);

CREATE TEMP TABLE t AS SELECT ops.enqueue_task('a', 'embed') AS a, ops.enqueue_task('b', 'summarize') AS b,
                              ops.enqueue_task('c', 'embed', max_retries => 0) AS c;
SELECT is(jsonb_array_length(ops.list_tasks()), 3, 'list: every task');
SELECT is(jsonb_array_length(ops.list_tasks(task_type => 'embed')), 2, 'list by type');
SELECT is(jsonb_array_length(ops.list_tasks(max_count => 1)), 1, 'at most max_count');
SELECT is(ops.list_tasks(before => now() - interval '1 day'), '[]'::jsonb, 'created before a time');
SELECT throws_ok($$SELECT ops.list_tasks('lost')$$, 'CD001', NULL, 'an unknown status is refused');
SELECT throws_ok($$SELECT ops.list_tasks(max_count => 0)$$, 'CD001', NULL, 'max_count below 1');
SELECT throws_ok($$SELECT ops.list_tasks(max_count => 1001)$$, 'CD001', NULL, 'max_count above 1000');

SELECT is(ops.cancel_task((SELECT a FROM t), 'not needed') ->> 'status', 'cancelled', 'a pending task is cancelled');
SELECT is((SELECT error FROM ops.task_executions WHERE task_name = 'a'), 'not needed', 'with its reason');
CREATE TEMP TABLE claim1 AS SELECT ops.claim_tasks('w1', '{embed}', 5) AS j;
SELECT is((SELECT j -> 0 ->> 'task_name' FROM claim1), 'c', 'a cancelled task is not claimed');
SELECT throws_ok(format($$SELECT ops.complete_task(%L, gen_random_uuid())$$, (SELECT a FROM t)), 'CD003', NULL,
    'nor completed');
SELECT throws_ok(format($$SELECT ops.cancel_task(%L)$$, (SELECT a FROM t)), 'CD004', NULL, 'nor cancelled twice');
SELECT is(ops.cancel_task((SELECT c FROM t)) ->> 'error', 'cancelled', 'a running task is cancelled');
SELECT throws_ok(format($$SELECT ops.fail_task(%L, %L, 'late')$$, (SELECT c FROM t),
                        (SELECT j -> 0 ->> 'lease_token' FROM claim1)), 'CD003', NULL,
    'its worker''s lease ended: it can no longer fail it');
SELECT is(jsonb_array_length(ops.list_tasks('cancelled')), 2, 'list by status');

SELECT is(ops.retry_task((SELECT c FROM t)) ->> 'status', 'pending', 'a cancelled task is retried');
SELECT is((SELECT (retry_count::integer, error, agent_id) FROM ops.task_executions WHERE task_name = 'c'),
    ROW(0, NULL::text, NULL::text), 'from scratch');
CREATE TEMP TABLE claim2 AS SELECT ops.claim_tasks('w2', '{embed}', 5) AS j;
SELECT is(ops.fail_task((SELECT c FROM t), (SELECT (j -> 0 ->> 'lease_token')::uuid FROM claim2), 'boom') ->> 'status',
    'failed', 'fails with no retries left');
SELECT is(ops.retry_task((SELECT c FROM t)) ->> 'status', 'pending', 'a failed task is retried');
SELECT throws_ok(format($$SELECT ops.retry_task(%L)$$, (SELECT b FROM t)), 'CD004', NULL,
    'a pending task is not retried');
SELECT throws_ok($$SELECT ops.retry_task(gen_random_uuid())$$, 'CD002', NULL, 'an unknown task');
SELECT throws_ok($$SELECT ops.cancel_task(NULL)$$, 'CD001', NULL, 'no id');
SELECT throws_ok(format($$SELECT ops.cancel_task(%L, repeat('x', 1001))$$, (SELECT b FROM t)), 'CD007', NULL,
    'a reason too long');
SELECT is((SELECT array_agg(event_type ORDER BY event_id) FILTER (WHERE event_type IN ('task_cancelled', 'task_retried'))
           FROM ops.events), '{task_cancelled,task_cancelled,task_retried,task_retried}', 'each change has its event');

-- a document's history
CREATE TEMP TABLE d AS SELECT (docstore.put_document('ns', 'cfg', '{"v": 1}')).document_uuid AS id;
SELECT docstore.put_document('ns', 'cfg', '{"v": 2}', document_uuid => (SELECT id FROM d));
SELECT docstore.set_tag((SELECT id FROM d), 1, 'production');
SELECT is((SELECT jsonb_path_query_array(docstore.document_history((SELECT id FROM d)), '$.versions[*].version')),
    '[2, 1]', 'history: every version, newest first');
SELECT is(docstore.document_history((SELECT id FROM d), 1) -> 'versions' -> 0 -> 'tags', '[]'::jsonb,
    'at most max_versions, each with its tags');
SELECT is(docstore.document_history((SELECT id FROM d)) -> 'versions' -> 1 -> 'tags', '["production"]'::jsonb,
    'the tag on version 1');
SELECT ok(NOT (docstore.document_history((SELECT id FROM d)) -> 'versions' -> 0) ? 'body', 'without bodies');
SELECT docstore.delete_document((SELECT id FROM d));
SELECT ok(docstore.document_history((SELECT id FROM d)) ->> 'deleted_at' IS NOT NULL, 'a deleted document has a history');
SELECT throws_ok($$SELECT docstore.document_history(gen_random_uuid())$$, 'CD002', NULL, 'an unknown document');
SELECT throws_ok($$SELECT docstore.document_history(NULL)$$, 'CD001', NULL, 'no id');
SELECT throws_ok(format($$SELECT docstore.document_history(%L, 0)$$, (SELECT id FROM d)), 'CD001', NULL,
    'max_versions below 1');
SELECT * FROM finish();
ROLLBACK;
