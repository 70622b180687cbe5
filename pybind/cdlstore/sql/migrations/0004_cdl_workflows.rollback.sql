DROP MATERIALIZED VIEW cdl.character_analytics;
CREATE MATERIALIZED VIEW cdl.character_analytics AS
SELECT c.id AS character_id,
       c.normalized_name,
       c.status,
       c.archetype,
       (SELECT count(*) FROM cdl.character_field_values v WHERE v.character_id = c.id) AS field_count,
       (SELECT count(*) FROM cdl.character_knowledge k WHERE k.character_id = c.id) AS knowledge_count,
       (SELECT count(*) FROM cdl.communication_patterns p WHERE p.character_id = c.id) AS pattern_count,
       (SELECT count(*) FROM cdl.response_templates t WHERE t.character_id = c.id) AS template_count,
       c.version_count,
       greatest(c.updated_at, (SELECT max(l.created_at) FROM cdl.character_change_log l
                                WHERE l.character_id = c.id)) AS last_change_at
FROM cdl.characters c;
CREATE UNIQUE INDEX character_analytics_character_idx ON cdl.character_analytics (character_id);
DROP TABLE cdl.workflow_execution_log;
DROP TABLE cdl.workflow_instances;
DROP TABLE cdl.workflow_lookup_tables;
DROP TABLE cdl.workflow_context_extractors;
DROP TABLE cdl.workflow_transitions;
DROP TABLE cdl.workflow_states;
DROP TABLE cdl.workflow_triggers;
DROP TABLE cdl.character_workflows;
DROP TABLE cdl.workflow_files;
