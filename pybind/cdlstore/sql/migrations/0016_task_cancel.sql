-- A task can be cancelled (ops.cancel_task): a fifth status, final like completed and failed.
-- NOT VALID then VALIDATE: the existing rows are checked without holding the strongest lock
-- for the scan.
ALTER TABLE ops.task_executions DROP CONSTRAINT task_executions_status_check;
ALTER TABLE ops.task_executions ADD CONSTRAINT task_executions_status_check
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')) NOT VALID;
ALTER TABLE ops.task_executions VALIDATE CONSTRAINT task_executions_status_check;
