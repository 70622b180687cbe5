-- Cancelled tasks become failed ones (their error says why), then the status has four values again.
DROP FUNCTION IF EXISTS ops.cancel_task(uuid, text);
DROP FUNCTION IF EXISTS ops.retry_task(uuid);
DROP FUNCTION IF EXISTS ops.list_tasks(text, text, uuid, integer, timestamptz);
DROP FUNCTION IF EXISTS ops._task_for_change(uuid, text[], text);
UPDATE ops.task_executions SET status = 'failed' WHERE status = 'cancelled';
ALTER TABLE ops.task_executions DROP CONSTRAINT task_executions_status_check;
ALTER TABLE ops.task_executions ADD CONSTRAINT task_executions_status_check
    CHECK (status IN ('pending', 'running', 'completed', 'failed'));
