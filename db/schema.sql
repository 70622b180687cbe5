CREATE SCHEMA cdl;

ALTER SCHEMA cdl OWNER TO cdlstore_owner;

COMMENT ON SCHEMA cdl IS 'AI characters (CDL) and their workflows';

CREATE SCHEMA docstore;

ALTER SCHEMA docstore OWNER TO cdlstore_owner;

COMMENT ON SCHEMA docstore IS 'Versioned JSON document store';

CREATE SCHEMA game;

ALTER SCHEMA game OWNER TO cdlstore_owner;

COMMENT ON SCHEMA game IS 'Relational game data';

CREATE SCHEMA ops;

ALTER SCHEMA ops OWNER TO cdlstore_owner;

COMMENT ON SCHEMA ops IS 'Operational state of agent systems';

CREATE TYPE cdl.change_type_enum AS ENUM (
    'field_added',
    'field_updated',
    'field_removed',
    'character_created',
    'character_updated',
    'version_created',
    'bulk_import',
    'ai_optimization',
    'performance_tuning'
);

ALTER TYPE cdl.change_type_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.character_archetype_enum AS ENUM (
    'real_world',
    'fantasy',
    'narrative_ai',
    'historical',
    'fictional'
);

ALTER TYPE cdl.character_archetype_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.character_status_enum AS ENUM (
    'active',
    'inactive',
    'development',
    'archived',
    'deprecated'
);

ALTER TYPE cdl.character_status_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.communication_pattern_enum AS ENUM (
    'greeting',
    'farewell',
    'question_response',
    'excitement',
    'concern',
    'advice_giving',
    'storytelling',
    'technical_explanation',
    'emotional_support',
    'humor',
    'cultural_expression',
    'expertise_sharing'
);

ALTER TYPE cdl.communication_pattern_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.context_extractor_enum AS ENUM (
    'pattern_group',
    'keyword_match',
    'message_full',
    'lookup_table',
    'literal_value',
    'llm_extraction',
    'context_reference'
);

ALTER TYPE cdl.context_extractor_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.data_type_enum AS ENUM (
    'string',
    'number',
    'boolean',
    'array',
    'object',
    'text',
    'enum',
    'reference'
);

ALTER TYPE cdl.data_type_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.field_type_enum AS ENUM (
    'identity',
    'personality',
    'communication',
    'knowledge',
    'behavior',
    'emotional',
    'interaction',
    'backstory',
    'relationships',
    'skills',
    'preferences',
    'appearance',
    'custom'
);

ALTER TYPE cdl.field_type_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.knowledge_type_enum AS ENUM (
    'identity',
    'biography',
    'expertise',
    'relationships',
    'experiences',
    'preferences',
    'beliefs',
    'skills',
    'memories',
    'goals',
    'fears',
    'cultural',
    'family',
    'career',
    'hobbies',
    'facts'
);

ALTER TYPE cdl.knowledge_type_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.response_scenario_enum AS ENUM (
    'first_meeting',
    'casual_chat',
    'deep_conversation',
    'technical_discussion',
    'emotional_support',
    'teaching_moment',
    'conflict_resolution',
    'celebration',
    'problem_solving',
    'creative_collaboration'
);

ALTER TYPE cdl.response_scenario_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.validation_status_enum AS ENUM (
    'pending',
    'validated',
    'rejected',
    'needs_review'
);

ALTER TYPE cdl.validation_status_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.workflow_event_enum AS ENUM (
    'workflow_started',
    'state_entered',
    'state_exited',
    'transition_triggered',
    'action_executed',
    'workflow_completed',
    'workflow_cancelled',
    'workflow_timeout',
    'error_occurred'
);

ALTER TYPE cdl.workflow_event_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.workflow_status_enum AS ENUM (
    'active',
    'pending',
    'completed',
    'cancelled',
    'timeout',
    'error',
    'paused'
);

ALTER TYPE cdl.workflow_status_enum OWNER TO cdlstore_owner;

CREATE TYPE cdl.workflow_trigger_enum AS ENUM (
    'pattern_match',
    'keyword_match',
    'intent_detection',
    'context_change',
    'time_trigger',
    'user_action',
    'system_event'
);

ALTER TYPE cdl.workflow_trigger_enum OWNER TO cdlstore_owner;

CREATE FUNCTION cdl.schema_version() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'cdl', 'pg_temp'
    AS $$
    SELECT max(migration_id) FROM public._yoyo_migration
$$;

ALTER FUNCTION cdl.schema_version() OWNER TO cdlstore_owner;

COMMENT ON FUNCTION cdl.schema_version() IS 'The id of the newest applied migration (e.g. 0002_cdl_enums); NULL before any.';

GRANT USAGE ON SCHEMA cdl TO cdlstore_app;
GRANT USAGE ON SCHEMA cdl TO cdlstore_readonly;

GRANT USAGE ON SCHEMA docstore TO cdlstore_app;
GRANT USAGE ON SCHEMA docstore TO cdlstore_readonly;

GRANT USAGE ON SCHEMA game TO cdlstore_app;
GRANT USAGE ON SCHEMA game TO cdlstore_readonly;

GRANT USAGE ON SCHEMA ops TO cdlstore_app;
GRANT USAGE ON SCHEMA ops TO cdlstore_readonly;

REVOKE ALL ON FUNCTION cdl.schema_version() FROM PUBLIC;
GRANT ALL ON FUNCTION cdl.schema_version() TO cdlstore_app;

ALTER DEFAULT PRIVILEGES FOR ROLE cdlstore_owner REVOKE ALL ON FUNCTIONS  FROM PUBLIC;
