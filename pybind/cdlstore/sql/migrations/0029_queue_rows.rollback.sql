DROP INDEX ops.events_type_idx;
CREATE INDEX events_type_idx ON ops.events (event_type, event_id);
ALTER TABLE ops.task_executions
    ALTER COLUMN task_name TYPE text,
    ALTER COLUMN task_type TYPE text,
    ALTER COLUMN status TYPE text,
    ALTER COLUMN retry_count TYPE integer,
    ALTER COLUMN max_retries TYPE integer,
    ALTER COLUMN timeout_seconds TYPE integer,
    ADD CONSTRAINT task_executions_task_name_check CHECK (task_name <> ''),
    ADD CONSTRAINT task_executions_task_type_check CHECK (task_type <> ''),
    ADD CONSTRAINT task_executions_status_check
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    ADD CONSTRAINT task_executions_retry_count_check CHECK (retry_count >= 0),
    ADD CONSTRAINT task_executions_max_retries_check CHECK (max_retries >= 0),
    ADD CONSTRAINT task_executions_timeout_seconds_check CHECK (timeout_seconds > 0);
ALTER TABLE ops.events
    ALTER COLUMN event_type TYPE text,
    ALTER COLUMN severity TYPE text,
    ADD CONSTRAINT events_event_type_check CHECK (event_type <> ''),
    ADD CONSTRAINT events_severity_check CHECK (severity IN ('debug', 'info', 'warning', 'error', 'critical'));
DROP DOMAIN ops.nonempty_text;
DROP DOMAIN ops.task_status;
DROP DOMAIN ops.nonnegative_integer;
DROP DOMAIN ops.positive_integer;
DROP DOMAIN ops.event_severity;
