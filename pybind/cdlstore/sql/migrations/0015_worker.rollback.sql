-- The functions of the function files that use what this migration adds; migrate re-creates them.
DROP FUNCTION IF EXISTS ops.complete_task(uuid, uuid, jsonb);
DROP FUNCTION IF EXISTS ops.fail_task(uuid, uuid, text);
DROP FUNCTION IF EXISTS ops.heartbeat_task(uuid, uuid, integer);
DROP FUNCTION IF EXISTS ops.release_task(uuid, uuid);
DROP FUNCTION IF EXISTS ops._leased_task(uuid, uuid);
DROP FUNCTION IF EXISTS ops._complete(uuid, uuid, jsonb);
DROP FUNCTION IF EXISTS docstore.set_retention_policy(text, text, integer, interval);
DROP FUNCTION IF EXISTS docstore.apply_retention();
DROP FUNCTION IF EXISTS cdl.next_workflow_timeout();
DROP TABLE docstore.retention_policy;
ALTER TABLE ops.task_executions DROP COLUMN lease_token;
DROP INDEX ops.task_executions_workflow_idx;
CREATE INDEX task_executions_workflow_idx ON ops.task_executions (workflow_id);
