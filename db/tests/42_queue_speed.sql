-- The queue's hot path keeps its shape: a claim finds its tasks by index whatever its cached
-- generic plan guesses, task ids are time-ordered and keep their routing hash, and a batch
-- checks its workflow runs as a single task does. The rows' rules are domains (migration 0029),
-- so that no statement re-reads CHECK constraints: a write around the API still meets them.
BEGIN;
SELECT plan(24);

-- a backlog the planner knows about (ANALYZE counts this transaction's own rows)
INSERT INTO ops.task_executions (task_name, task_type) SELECT 'backlog', 'plan' FROM generate_series(1, 5000);
ANALYZE ops.task_executions;
CREATE TEMP TABLE scans AS
    SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'ops.task_executions'::regclass;
-- the generic plan is made at the first call; both sizes run it
SELECT jsonb_array_length(ops.claim_tasks('p1', '{plan}', 1)), jsonb_array_length(ops.claim_tasks('p1', '{plan}', 100));
SELECT is((SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'ops.task_executions'::regclass)
          - (SELECT seq_scan FROM scans), 0::bigint,
          'claim_tasks reads no task but by index (its UPDATE was once planned as a hash of the whole table)');
SELECT is((SELECT count(*)::int FROM ops.task_executions WHERE agent_id = 'p1' AND status = 'running'), 101,
          'and claims what it was asked for');

-- ids: the UUIDv7 layout, in the order they were made, with the routing hash at the end
CREATE TEMP TABLE made AS SELECT clock_timestamp() AS before, ops.enqueue_task('id', 'ids') AS id, clock_timestamp() AS after;
SELECT ok((SELECT ('x' || replace(left(id::text, 13), '-', ''))::bit(48)::bigint
                  BETWEEN floor(extract(epoch FROM before) * 1000) AND ceil(extract(epoch FROM after) * 1000)
           FROM made), 'a task id starts with the milliseconds it was made at');
SELECT is((SELECT substr(id::text, 15, 1) FROM made), '7', 'with the version 7 nibble');
CREATE TEMP TABLE batch AS
    SELECT u.id, u.n FROM unnest(ops.enqueue_tasks((SELECT jsonb_agg(jsonb_build_object('task_name', 'b' || i, 'task_type', 'ids'))
                                                     FROM generate_series(1, 50) i))) WITH ORDINALITY AS u (id, n);
SELECT ok((SELECT bool_and(b.id > m.id) FROM batch b, made m), 'ids made later sort after earlier ones');
-- a batch draws one random number and adds each task's place to it (ops._task_id(hash, bits))
SELECT is((SELECT count(DISTINCT u.id)::int || ' ' || bool_and(substr(u.id::text, 15, 1) = '7')
                  || ' ' || bool_and(substr(u.id::text, 20, 1) IN ('8', '9', 'a', 'b'))
           FROM unnest(ops.enqueue_tasks((SELECT jsonb_agg(jsonb_build_object('task_name', 'd' || i, 'task_type', 'ids'))
                                          FROM generate_series(1, 1000) i))) AS u (id)),
          '1000 true true', 'a batch of 1000 gets 1000 distinct ids of version 7 and the RFC variant');
SELECT cdl.set_shard_identity(3, 4);
SELECT is((SELECT bool_and(('x' || right(u.id::text, 3))::bit(12)::integer & 3 = 3)
           FROM unnest(ops.enqueue_tasks('[{"task_name": "s1", "task_type": "ids"}, {"task_name": "s2", "task_type": "ids"}]')) AS u (id)),
          true, 'batch task ids route to this shard''s partition (3 of 4)');

-- a batch refuses an unknown run, or another tenant's, with CD002 and queues nothing
SELECT throws_ok(format($$SELECT ops.enqueue_tasks('[{"task_name": "w1", "task_type": "runs"}, {"task_name": "w2", "task_type": "runs", "workflow_id": "%s"}]')$$,
                        gen_random_uuid()), 'CD002', NULL, 'a batch task of an unknown workflow run: CD002');
SET LOCAL cdlstore.tenant = 'globex';
CREATE TEMP TABLE run AS SELECT ops.create_workflow('theirs') AS id;
SET LOCAL cdlstore.tenant = 'acme';
SELECT throws_ok(format($$SELECT ops.enqueue_tasks('[{"task_name": "w3", "task_type": "runs", "workflow_id": "%s"}]')$$,
                        (SELECT id FROM run)), 'CD002', NULL, 'nor one of another tenant''s run');
RESET cdlstore.tenant;
SELECT is((SELECT count(*)::int FROM ops.task_executions WHERE task_type = 'runs'), 0, 'and nothing was queued');

-- the rules of a task and an event row hold for writes around the API (as their owner)
SELECT throws_ok($$INSERT INTO ops.task_executions (task_name, task_type) VALUES ('', 'x')$$, '23514', NULL,
                 'a task needs a name');
SELECT throws_ok($$INSERT INTO ops.task_executions (task_name, task_type) VALUES ('x', '')$$, '23514', NULL,
                 'and a type');
SELECT throws_ok($$INSERT INTO ops.task_executions (task_name, task_type, timeout_seconds) VALUES ('x', 'x', 0)$$,
                 '23514', NULL, 'a timeout of at least a second');
SELECT throws_ok($$INSERT INTO ops.task_executions (task_name, task_type, max_retries) VALUES ('x', 'x', -1)$$,
                 '23514', NULL, 'max_retries >= 0');
SELECT throws_ok($$UPDATE ops.task_executions SET status = 'lost' WHERE task_type = 'ids'$$, '23514', NULL,
                 'a status of the list');
SELECT throws_ok($$UPDATE ops.task_executions SET retry_count = retry_count - 1 WHERE task_type = 'ids'$$, '23514', NULL,
                 'retry_count >= 0');
SELECT throws_ok($$INSERT INTO ops.events (event_type) VALUES ('')$$, '23514', NULL, 'an event needs a type');
SELECT throws_ok($$INSERT INTO ops.events (event_type, severity) VALUES ('x', 'loud')$$, '23514', NULL,
                 'and a severity of the list');
SELECT is((SELECT count(*)::int FROM pg_constraint WHERE conrelid IN ('ops.task_executions'::regclass, 'ops.events'::regclass)
           AND contype = 'c'), 0, 'no CHECK constraint is left for a statement to re-read');

-- the event type index leaves out the three task events of every task; a list by one of them
-- reads newest first by event_id and still finds them, and the other types keep their index
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(ops.list_events('task_enqueued', page_size => 7) -> 'items') e
           WHERE e ->> 'event_type' = 'task_enqueued'), 7, 'a list of a task event type still finds its events');
SELECT ok(pg_get_indexdef('ops.events_type_idx'::regclass) LIKE '%WHERE%task_enqueued%task_claimed%task_completed%',
          'and the type index holds every other type');

-- several types are one ordered scan per type, merged: the highest priority first across the
-- types asked for, then the oldest, and nothing of another type
SELECT ops.enqueue_tasks('[{"task_name": "a-old", "task_type": "ma", "priority": 1},
                           {"task_name": "other", "task_type": "mc", "priority": 9}]');
SELECT ops.enqueue_tasks('[{"task_name": "a-new", "task_type": "ma", "priority": 1},
                           {"task_name": "b-high", "task_type": "mb", "priority": 5}]');
UPDATE ops.task_executions SET created_at = created_at - interval '1 minute' WHERE task_name = 'a-old';
SELECT is((SELECT array_agg(t ->> 'task_name' ORDER BY n) FROM jsonb_array_elements(ops.claim_tasks('m', '{ma,mb}', 2))
           WITH ORDINALITY AS c (t, n)), '{b-high,a-old}', 'several types: highest priority first, then oldest, across them');
SELECT is((SELECT array_agg(t ->> 'task_name') FROM jsonb_array_elements(ops.claim_tasks('m', '{ma}', 5)) AS c (t)),
          '{a-new}', 'one type: what is left of it, and nothing of another type');

-- the created_at index keeps no posting lists (migration 0032): a claim or a completion writes a
-- new entry for an unchanged key, which a posting list of a batch's equal keys made costly
SELECT ok((SELECT 'deduplicate_items=off' = ANY (c.reloptions) FROM pg_class c
           WHERE c.oid = 'ops.task_executions_created_idx'::regclass),
          'task_executions_created_idx does not deduplicate its keys');

SELECT * FROM finish();
ROLLBACK;
