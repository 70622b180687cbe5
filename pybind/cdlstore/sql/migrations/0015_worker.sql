-- The worker: a lease token per claim, and retention policies that maintenance applies.
-- A claim draws a fresh lease_token; complete, fail, heartbeat and release of a task must
-- present the token of its current lease, so a worker whose lease lapsed (and whose task was
-- claimed again) can no longer end the new attempt. The token is cleared when the lease ends.
ALTER TABLE ops.task_executions ADD COLUMN lease_token uuid;
-- most tasks belong to no workflow run: leave them out of its index, one index entry fewer for
-- every insert and every status change of the queue's hot path
DROP INDEX ops.task_executions_workflow_idx;
CREATE INDEX task_executions_workflow_idx ON ops.task_executions (workflow_id) WHERE workflow_id IS NOT NULL;

-- complete_task and fail_task keep a single signature each, now with lease_token
DROP FUNCTION IF EXISTS ops.complete_task(uuid, jsonb);
DROP FUNCTION IF EXISTS ops.fail_task(uuid, text);
DROP FUNCTION IF EXISTS ops._running_task(uuid);
DROP FUNCTION IF EXISTS ops._complete(uuid, jsonb);

-- Retention: untagged versions of a (namespace, type) beyond keep_last and older than
-- older_than are pruned by docstore.apply_retention(), one of the maintenance duties.
CREATE TABLE docstore.retention_policy (
    namespace text NOT NULL,
    type text NOT NULL,
    keep_last integer NOT NULL CHECK (keep_last >= 1),
    older_than interval NOT NULL CHECK (older_than >= interval '0'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    tenant text,
    CONSTRAINT retention_policy_key UNIQUE (namespace, type, tenant)
);
CALL cdlstore_internal.make_tenant_scoped('docstore.retention_policy');
