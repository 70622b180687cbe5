-- Random task ids again. The helpers dropped by the migration are not needed by the function
-- files of this version (complete_task and enqueue_task no longer call them).
ALTER TABLE ops.task_executions ALTER COLUMN execution_id SET DEFAULT cdlstore_internal.hashed_uuid(cdlstore_internal.shard_hash());
DROP FUNCTION ops._task_id(integer);
