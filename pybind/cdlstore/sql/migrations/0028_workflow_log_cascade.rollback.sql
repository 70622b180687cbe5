DROP TRIGGER IF EXISTS workflow_instances_delete_log ON cdl.workflow_instances;
DROP FUNCTION IF EXISTS cdl._delete_instance_log();
DELETE FROM cdl.workflow_execution_log l
WHERE NOT EXISTS (SELECT FROM cdl.workflow_instances i WHERE i.id = l.instance_id);
ALTER TABLE cdl.workflow_execution_log ADD CONSTRAINT workflow_execution_log_instance_id_fkey
    FOREIGN KEY (instance_id) REFERENCES cdl.workflow_instances (id) ON DELETE CASCADE;

DROP FUNCTION IF EXISTS cdl._match_lists(text, tsvector, tsquery, text[], text[], text[]);
DROP FUNCTION IF EXISTS cdl._extract_context(jsonb, bigint, jsonb, text, text[], jsonb);
ALTER TABLE cdl.character_workflows
    DROP COLUMN patterns, DROP COLUMN required_literals, DROP COLUMN keywords, DROP COLUMN extractors;
