DROP TRIGGER IF EXISTS workflow_instances_delete_log ON cdl.workflow_instances;
DROP FUNCTION IF EXISTS cdl._delete_instance_log();
DELETE FROM cdl.workflow_execution_log l
WHERE NOT EXISTS (SELECT FROM cdl.workflow_instances i WHERE i.id = l.instance_id);
ALTER TABLE cdl.workflow_execution_log ADD CONSTRAINT workflow_execution_log_instance_id_fkey
    FOREIGN KEY (instance_id) REFERENCES cdl.workflow_instances (id) ON DELETE CASCADE;
