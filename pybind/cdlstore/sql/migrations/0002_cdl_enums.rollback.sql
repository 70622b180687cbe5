-- CASCADE: the function files use these types; migrate re-creates the functions.
DROP TYPE cdl.validation_status_enum CASCADE;
DROP TYPE cdl.change_type_enum CASCADE;
DROP TYPE cdl.knowledge_type_enum CASCADE;
DROP TYPE cdl.response_scenario_enum CASCADE;
DROP TYPE cdl.communication_pattern_enum CASCADE;
DROP TYPE cdl.data_type_enum CASCADE;
DROP TYPE cdl.field_type_enum CASCADE;
DROP TYPE cdl.character_status_enum CASCADE;
DROP TYPE cdl.context_extractor_enum CASCADE;
DROP TYPE cdl.workflow_event_enum CASCADE;
DROP TYPE cdl.workflow_status_enum CASCADE;
DROP TYPE cdl.workflow_trigger_enum CASCADE;
DROP TYPE cdl.character_archetype_enum CASCADE;
