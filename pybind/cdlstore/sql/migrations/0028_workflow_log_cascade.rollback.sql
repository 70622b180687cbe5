ALTER TABLE cdl.character_workflows
    DROP COLUMN config, DROP COLUMN initial_final, DROP COLUMN initial_timeout_seconds,
    DROP COLUMN initial_prompt_injection;
DROP FUNCTION IF EXISTS cdl._state_timeout(boolean, numeric, timestamptz);
DROP FUNCTION IF EXISTS cdl._timeout_seconds(integer, jsonb);
ALTER TABLE cdl.workflow_transitions
    DROP COLUMN to_final, DROP COLUMN to_timeout_seconds, DROP COLUMN to_prompt_injection,
    DROP COLUMN workflow_name, DROP COLUMN system_prompt_addition;
DROP TRIGGER IF EXISTS character_workflows_delete_instances ON cdl.character_workflows;
DROP FUNCTION IF EXISTS cdl._delete_workflow_instances();
DROP FUNCTION IF EXISTS cdl._start(text, bigint, jsonb, jsonb, bigint);
DELETE FROM cdl.workflow_instances i
WHERE NOT EXISTS (SELECT FROM cdl.character_workflows w WHERE w.id = i.workflow_id AND w.character_id = i.character_id);
ALTER TABLE cdl.workflow_instances
    ADD CONSTRAINT workflow_instances_character_id_fkey
        FOREIGN KEY (character_id) REFERENCES cdl.characters (id) ON DELETE CASCADE,
    ADD CONSTRAINT workflow_instances_workflow_id_fkey
        FOREIGN KEY (workflow_id) REFERENCES cdl.character_workflows (id);
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
