-- ops: workflow runs, the task queue, the append-only event log, conversations, metrics.
BEGIN;
SELECT plan(62);

CREATE TEMP TABLE w AS SELECT ops.create_workflow('nightly', 'etl', total_steps => 2, deadline => now() + interval '1 hour') AS id;
SELECT is(ops.get_workflow((SELECT id FROM w)) ->> 'status', 'pending', 'a run starts pending');
SELECT throws_ok(format($$SELECT ops.complete_workflow(%L)$$, (SELECT id FROM w)), 'CD004', NULL, 'pending cannot complete');
SELECT is(ops.start_workflow((SELECT id FROM w)) ->> 'status', 'running', 'start');
SELECT is(ops.advance_workflow_step((SELECT id FROM w), '{"rows": 10}', '{"cursor": 10}') -> 'checkpoints' -> 0 -> 'state_data',
    '{"cursor": 10}'::jsonb, 'a step appends a checkpoint');
SELECT is((ops.advance_workflow_step((SELECT id FROM w), '{"rows": 5}') ->> 'completed_steps')::int, 2, 'steps are counted');
SELECT throws_ok(format($$SELECT ops.advance_workflow_step(%L, '{}')$$, (SELECT id FROM w)), 'CD004', NULL, 'no step beyond total_steps');
SELECT is(ops.complete_workflow((SELECT id FROM w)) ->> 'status', 'completed', 'complete');
SELECT throws_ok(format($$SELECT ops.fail_workflow(%L, 'late')$$, (SELECT id FROM w)), 'CD004', NULL, 'a completed run cannot fail');
SELECT throws_ok(format($$SELECT ops.start_workflow(%L)$$, (SELECT id FROM w)), 'CD004', NULL, 'nor go back to running');
SELECT throws_ok($$SELECT ops.get_workflow(gen_random_uuid())$$, 'CD002', NULL, 'an unknown run');
SELECT ops.create_workflow('late', deadline => now() - interval '1 second');
SELECT is(ops.expire_workflows(), 1, 'a run past its deadline fails');
SELECT is((SELECT error FROM ops.workflows WHERE name = 'late'), 'deadline passed', 'with the reason');
SELECT is(jsonb_array_length(ops.list_workflows('failed') -> 'items'), 1, 'list by status');
SELECT throws_ok($$SELECT ops.create_workflow('')$$, 'CD001', NULL, 'a run needs a name');

-- the queue
SELECT ops.enqueue_task('low', 'embed', priority => 1);
SELECT ops.enqueue_task('high', 'embed', priority => 9, max_retries => 1);
SELECT ops.enqueue_task('other', 'summarize', priority => 99);
CREATE TEMP TABLE claim1 AS SELECT t.value AS task FROM jsonb_array_elements(ops.claim_tasks('w1', '{embed}', 5)) t;
SELECT results_eq($$SELECT task ->> 'task_name' FROM claim1$$,
    $$VALUES ('high'), ('low')$$, 'highest priority first, only the types asked for');
SELECT ok((SELECT bool_and(task ->> 'lease_token' IS NOT NULL) FROM claim1), 'each claimed task carries its lease_token');
SELECT ok(NOT (ops.get_task((SELECT (task ->> 'execution_id')::uuid FROM claim1 LIMIT 1)) ? 'lease_token'),
    'get_task does not hand the lease token out');
SELECT is(ops.claim_tasks('w2', '{embed}', 5), '[]'::jsonb, 'a claimed task is not claimed again');
CREATE TEMP TABLE low AS SELECT (task ->> 'execution_id')::uuid AS id, (task ->> 'lease_token')::uuid AS token
    FROM claim1 WHERE task ->> 'task_name' = 'low';
CREATE TEMP TABLE high AS SELECT (task ->> 'execution_id')::uuid AS id, (task ->> 'lease_token')::uuid AS token
    FROM claim1 WHERE task ->> 'task_name' = 'high';
SELECT throws_ok(format($$SELECT ops.complete_task(%L, gen_random_uuid())$$, (SELECT id FROM low)), 'CD003', NULL,
    'a token that is not the lease''s is refused');
SELECT throws_ok(format($$SELECT ops.complete_task(%L, NULL)$$, (SELECT id FROM low)), 'CD001', NULL,
    'a lease_token is required');
SELECT ok(ops.heartbeat_task((SELECT id FROM low), (SELECT token FROM low), 3600) > now() + interval '59 minutes',
    'a heartbeat extends the lease');
SELECT throws_ok(format($$SELECT ops.heartbeat_task(%L, %L, 0)$$, (SELECT id FROM low), (SELECT token FROM low)),
    'CD001', NULL, 'a heartbeat extends by at least a second');
SELECT ok((ops.complete_task((SELECT id FROM low), (SELECT token FROM low), '{"v": 1}')
           ->> 'execution_time_ms')::int >= 0, 'the database measures execution time');
SELECT throws_ok(format($$SELECT ops.complete_task(%L, %L)$$, (SELECT id FROM low), (SELECT token FROM low)), 'CD003',
    NULL, 'a lease ends with the completion: the token is spent');
SELECT is(ops.fail_task((SELECT id FROM high), (SELECT token FROM high), 'boom') ->> 'status', 'pending', 'a failure is retried');
SELECT ok((SELECT available_at > now() FROM ops.task_executions WHERE execution_id = (SELECT id FROM high)), 'after a backoff');
SELECT throws_ok(format($$SELECT ops.complete_task(%L, %L)$$, (SELECT id FROM high), (SELECT token FROM high)), 'CD003',
    NULL, 'a pending task cannot complete');
UPDATE ops.task_executions SET available_at = now() WHERE execution_id = (SELECT id FROM high);
-- a stale worker: its lease lapses, another worker claims the task, then the first one reports
CREATE TEMP TABLE second AS SELECT (t ->> 'lease_token')::uuid AS token FROM jsonb_array_elements(ops.claim_tasks('w1', '{embed}')) t;
SELECT is(ops.expire_tasks(now() + interval '1 hour') , 1, 'a running task past its timeout expires');
SELECT results_eq(format($$SELECT status::text, retry_count::integer, error FROM ops.task_executions WHERE execution_id = %L$$, (SELECT id FROM high)),
    $$VALUES ('failed', 1, 'timed out')$$, 'and after max_retries the task fails');
SELECT throws_ok(format($$SELECT ops.fail_task(%L, %L, 'late')$$, (SELECT id FROM high), (SELECT token FROM second)), 'CD003',
    NULL, 'an expired lease cannot fail the task again');
SELECT throws_ok($$SELECT ops.claim_tasks('w1', '{}')$$, 'CD001', NULL, 'claiming needs task types');
SELECT throws_ok($$SELECT ops.fail_task(gen_random_uuid(), gen_random_uuid(), 'x')$$, 'CD002', NULL, 'an unknown task');

-- the lease race of a re-claimed task, step by step: worker A's lease lapses, B claims the task
SELECT ops.enqueue_task('raced', 'race', timeout_seconds => 1);
CREATE TEMP TABLE a AS SELECT (t ->> 'execution_id')::uuid AS id, (t ->> 'lease_token')::uuid AS token
    FROM jsonb_array_elements(ops.claim_tasks('wa', '{race}')) t;
SELECT ops.expire_tasks(now() + interval '1 minute');
UPDATE ops.task_executions SET available_at = now() WHERE execution_id = (SELECT id FROM a);
CREATE TEMP TABLE b AS SELECT (t ->> 'lease_token')::uuid AS token FROM jsonb_array_elements(ops.claim_tasks('wb', '{race}')) t;
SELECT throws_ok(format($$SELECT ops.complete_task(%L, %L, '"from A"')$$, (SELECT id FROM a), (SELECT token FROM a)),
    'CD003', NULL, 'the stale worker cannot complete the new attempt');
SELECT throws_ok(format($$SELECT ops.heartbeat_task(%L, %L)$$, (SELECT id FROM a), (SELECT token FROM a)),
    'CD003', NULL, 'nor extend its lease');
SELECT results_eq(format($$SELECT status::text, agent_id, output_data FROM ops.task_executions WHERE execution_id = %L$$, (SELECT id FROM a)),
    $$VALUES ('running', 'wb', NULL::jsonb)$$, 'and changed nothing');
SELECT is(ops.release_task((SELECT id FROM a), (SELECT token FROM b)) ->> 'status', 'pending', 'B releases the task unstarted');
SELECT results_eq(format($$SELECT retry_count::integer, available_at <= clock_timestamp() FROM ops.task_executions WHERE execution_id = %L$$,
                         (SELECT id FROM a)), $$VALUES (1, true)$$, 'no attempt counted, available at once');

-- batches: all or none
SELECT is(cardinality(ops.enqueue_tasks('[{"task_name": "b1", "task_type": "batch"}, {"task_name": "b2", "task_type": "batch"}]')), 2,
    'enqueue a batch');
SELECT throws_ok($$SELECT ops.enqueue_tasks('[{"task_name": "b3", "task_type": "batch"}, {"task_name": "", "task_type": "batch"}]')$$,
    'CD001', NULL, 'a bad task rejects the whole batch');
SELECT throws_ok($$SELECT ops.enqueue_tasks('[{"task_name": "b3", "task_type": "batch", "priority": "high"}]')$$,
    'CD001', NULL, 'a field of the wrong type rejects the batch');
SELECT is((SELECT count(*)::int FROM ops.events WHERE event_type = 'task_enqueued'
           AND entity_id IN (SELECT execution_id::text FROM ops.task_executions WHERE task_type = 'batch')), 2,
    'a batch records one event per task');
CREATE TEMP TABLE batch AS SELECT t.value AS task FROM jsonb_array_elements(ops.claim_tasks('wb', '{batch}', 10)) t;
SELECT throws_ok(format($$SELECT ops.complete_tasks(%L)$$,
                        (SELECT jsonb_agg(jsonb_build_object('execution_id', task ->> 'execution_id',
                                 'lease_token', CASE WHEN task ->> 'task_name' = 'b2' THEN gen_random_uuid()::text
                                                     ELSE task ->> 'lease_token' END)) FROM batch)),
    'CD003', NULL, 'one stale token refuses the whole batch');
SELECT is((SELECT count(*)::int FROM ops.task_executions WHERE task_type = 'batch' AND status = 'running'), 2,
    'and completes none of it');
SELECT throws_ok($$SELECT ops.complete_tasks('[{"execution_id": "nope", "lease_token": "nope"}]')$$, 'CD001', NULL,
    'a completion whose ids are not uuids');
SELECT throws_ok(format($$SELECT ops.complete_tasks(%L)$$, (SELECT jsonb_build_array(task, task) FROM batch LIMIT 1)),
    'CD001', NULL, 'a task twice in one batch');
SELECT throws_ok($$SELECT ops.complete_tasks('[{"execution_id": "00000000-0000-0000-0000-000000000000"}]')$$, 'CD001', NULL,
    'a completion without its lease_token');
SELECT is(ops.complete_tasks((SELECT jsonb_agg(jsonb_build_object('execution_id', task ->> 'execution_id',
                                     'lease_token', task ->> 'lease_token', 'output', '{"ok": 1}')) FROM batch)), 2,
    'complete a batch');
SELECT is((SELECT count(*)::int FROM ops.task_executions WHERE task_type = 'batch' AND status = 'completed'), 2,
    'nothing of the rejected batch was queued');
SELECT is((SELECT count(*)::int FROM ops.events WHERE event_type = 'task_completed'
           AND entity_id IN (SELECT execution_id::text FROM ops.task_executions WHERE task_type = 'batch')), 2,
    'a batch completion records one event per task');

-- the event log is append-only, and every change wrote one
SELECT ok((SELECT count(*) FROM ops.events WHERE event_type IN ('task_claimed', 'task_completed', 'task_failed',
           'task_retry_scheduled', 'workflow_completed')) >= 5, 'state changes record events');
SELECT throws_ok($$UPDATE ops.events SET severity = 'debug'$$, 'CD006', NULL, 'UPDATE is refused');
SELECT throws_ok($$DELETE FROM ops.events$$, 'CD006', NULL, 'DELETE is refused');
SELECT throws_ok($$TRUNCATE ops.events$$, 'CD006', NULL, 'TRUNCATE is refused');
SELECT throws_ok($$SELECT ops.record_event('x', severity => 'loud')$$, 'CD001', NULL, 'an unknown severity');

-- conversations and metrics
SELECT ops.append_message('chat-1', 'user', 'hello'), ops.append_message('chat-1', 'assistant', 'hi there');
SELECT is(ops.get_conversation('chat-1', 1) -> 0 ->> 'content', 'hi there', 'the last messages, oldest first');
SELECT throws_ok($$SELECT ops.append_message('chat-1', 'narrator', 'x')$$, 'CD001', NULL, 'a role is checked');
SELECT is((ops.metrics() ->> 'queue_depth')::int, 2, 'metrics: queue depth');

-- the one list of exports
SELECT is(ops.export_source('events', 'csv'), 'ops.export_events', 'export_source: events as csv');
SELECT is(ops.export_source(kind => 'messages', format => 'jsonl'), 'ops.export_messages', 'export_source: messages as jsonl');
SELECT throws_ok($$SELECT ops.export_source('secrets', 'csv')$$, 'CD001', 'unknown export kind: secrets', 'export_source: an unknown kind');
SELECT throws_ok($$SELECT ops.export_source('events', 'xml')$$, 'CD001', 'unknown export format: xml', 'export_source: an unknown format');
SELECT throws_ok($$SELECT ops.export_source(NULL, NULL)$$, 'CD001', 'unknown export kind: NULL', 'export_source: no kind');

SELECT * FROM finish();
ROLLBACK;
