ALTER TABLE ops.workflows ALTER COLUMN workflow_id SET DEFAULT gen_random_uuid();
ALTER TABLE ops.task_executions ALTER COLUMN execution_id SET DEFAULT gen_random_uuid();
DROP FUNCTION cdl._hashed_uuid(integer);
DROP FUNCTION cdl._shard_hash();
DROP TABLE cdlstore_internal.shard_identity;
