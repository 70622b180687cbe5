-- The shard side of part 2: once a shard knows its partition, the ids it makes (tasks, runs,
-- events, documents, accounts, profiles, sessions) route back to it; a new document's uuid
-- routes with its namespace; only the proxy's login may set the partition.
BEGIN;
SELECT plan(14);

-- one node: new uuids already carry a routing hash, ids count by one
SELECT is(('x' || right((docstore.put_document('ns-a', 'note', '{}')).document_uuid::text, 3))::bit(12)::integer & 1023,
          hashtext('ns-a') & 1023, 'a document uuid carries its namespace''s hash');
SELECT is(ops.record_event('one') + 1, ops.record_event('two'), 'one node: event ids count by one');

-- bad partitions: our code, nothing set
SELECT throws_ok('SELECT cdl.set_shard_identity(2, 2)', 'CD001', NULL, 'a partition past the count');
SELECT throws_ok('SELECT cdl.set_shard_identity(0, 3)', 'CD001', NULL, 'a count that is not a power of two');
SELECT throws_ok('SELECT cdl.set_shard_identity(NULL, 4)', 'CD001', NULL, 'no partition');
SELECT throws_ok('SELECT cdl.set_shard_identity(0, 2048)', 'CD001', NULL, 'more than 1024 partitions');
SELECT is((SELECT count(*) FROM cdlstore_internal.shard_identity), 0::bigint, 'bad input set nothing');

-- partition 1 of 4: ids step by 1024 from residue 1, uuids end in a hash that routes here
SELECT lives_ok('SELECT cdl.set_shard_identity(1, 4)', 'the proxy sets the partition');
SELECT lives_ok('SELECT cdl.set_shard_identity(1, 4)', 'again: nothing changes');
SELECT is(ARRAY[ops.record_event('a') & 1023, ops.record_event('b') & 1023,
                game.create_account('x@example.org') & 1023], ARRAY[1, 1, 1]::bigint[],
          'shard-made ids carry the partition in their low bits');
SELECT is((SELECT bool_and(('x' || right(ops.enqueue_task('t' || i, 'x')::text, 3))::bit(12)::integer & 3 = 1)
           FROM generate_series(1, 20) i), true, 'task ids route to partition 1 of 4');
SELECT throws_ok($$SELECT docstore.put_document('ns-b', 'note', '{}', document_uuid => '00000000-0000-4000-8000-000000000000')$$,
                 'CD001', NULL, 'a given uuid that does not route with its namespace is refused');
SELECT is((SELECT count(*) FROM docstore.documents WHERE namespace = 'ns-b'), 0::bigint, '... and nothing is written');

-- only the proxy's login
SET LOCAL SESSION AUTHORIZATION cdlstore_app;
SET LOCAL cdlstore.tenant = 'default';  -- an unbound app login names its tenant
SELECT throws_ok('SELECT cdl.set_shard_identity(0, 1)', 'CD006', NULL, 'the app role may not set the partition');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
