-- The queue's rows (issue 19, speed): their checks, and one index entry fewer per task event.
-- Checks: A CHECK constraint is parsed from its stored text
-- and planned again by every statement that writes its table (PostgreSQL keeps no compiled copy
-- between statements): a claim and a completion of one task each wrote one task row and one
-- event row, and re-read 8 constraints for it, 17% of the instructions of the pair. The same
-- rules as domains are compiled once per connection (the type cache keeps them), and still
-- checked on every value written. The rules do not change: the columns' types become these
-- domains over the same base types, and the table constraints are dropped.
CREATE DOMAIN ops.nonempty_text AS text;
CREATE DOMAIN ops.task_status AS text;
CREATE DOMAIN ops.nonnegative_integer AS integer;
CREATE DOMAIN ops.positive_integer AS integer;
CREATE DOMAIN ops.event_severity AS text;

-- a domain without a constraint is binary-coercible to its base type: no table rewrite, and the
-- indexes on these columns are kept; the constraints are added (and checked against every
-- stored row) after
ALTER TABLE ops.task_executions
    ALTER COLUMN task_name TYPE ops.nonempty_text,
    ALTER COLUMN task_type TYPE ops.nonempty_text,
    ALTER COLUMN status TYPE ops.task_status,
    ALTER COLUMN retry_count TYPE ops.nonnegative_integer,
    ALTER COLUMN max_retries TYPE ops.nonnegative_integer,
    ALTER COLUMN timeout_seconds TYPE ops.positive_integer;
ALTER TABLE ops.events
    ALTER COLUMN event_type TYPE ops.nonempty_text,
    ALTER COLUMN severity TYPE ops.event_severity;

ALTER DOMAIN ops.nonempty_text ADD CONSTRAINT nonempty_text_check CHECK (VALUE <> '');
ALTER DOMAIN ops.task_status ADD CONSTRAINT task_status_check
    CHECK (VALUE IN ('pending', 'running', 'completed', 'failed', 'cancelled'));
ALTER DOMAIN ops.nonnegative_integer ADD CONSTRAINT nonnegative_integer_check CHECK (VALUE >= 0);
ALTER DOMAIN ops.positive_integer ADD CONSTRAINT positive_integer_check CHECK (VALUE > 0);
ALTER DOMAIN ops.event_severity ADD CONSTRAINT event_severity_check
    CHECK (VALUE IN ('debug', 'info', 'warning', 'error', 'critical'));

ALTER TABLE ops.task_executions
    DROP CONSTRAINT task_executions_task_name_check,
    DROP CONSTRAINT task_executions_task_type_check,
    DROP CONSTRAINT task_executions_status_check,
    DROP CONSTRAINT task_executions_retry_count_check,
    DROP CONSTRAINT task_executions_max_retries_check,
    DROP CONSTRAINT task_executions_timeout_seconds_check;
ALTER TABLE ops.events
    DROP CONSTRAINT events_event_type_check,
    DROP CONSTRAINT events_severity_check;

COMMENT ON DOMAIN ops.nonempty_text IS 'Text that is not empty (task names and types, event types).';
COMMENT ON DOMAIN ops.task_status IS 'A task''s status.';
COMMENT ON DOMAIN ops.nonnegative_integer IS 'An integer >= 0 (retry counts).';
COMMENT ON DOMAIN ops.positive_integer IS 'An integer >= 1 (timeouts in seconds).';
COMMENT ON DOMAIN ops.event_severity IS 'An event''s severity.';

-- The event type index leaves out the three task events every queued task writes (enqueued,
-- claimed, completed): each of them cost an index entry, 7% of an enqueue. list_events by one
-- of those types reads the events newest first by event_id (the primary key) instead; they are
-- most of a queue's events, so a page fills after few rows. Every other type keeps its index.
DROP INDEX ops.events_type_idx;
CREATE INDEX events_type_idx ON ops.events (event_type, event_id)
    WHERE event_type <> ALL ('{task_enqueued,task_claimed,task_completed}');
