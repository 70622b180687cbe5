-- The execution log's foreign key to its instance cost one referential check (an SPI query) per
-- log row, three per order -> pay conversation: about 3% of the instructions of every message.
-- Log rows are written only by the workflow functions (the app role has no privilege on the
-- table), each for an instance it has just inserted or holds locked in the same transaction;
-- the key's other half, ON DELETE CASCADE, is the statement trigger
-- workflow_instances_delete_log (cdl._delete_instance_log, functions/cdl/80_workflow_runtime.sql).
ALTER TABLE cdl.workflow_execution_log DROP CONSTRAINT workflow_execution_log_instance_id_fkey;
