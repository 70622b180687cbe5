-- The enums of the CDL design. New labels are added by migrations of their own.
CREATE TYPE cdl.character_archetype_enum AS ENUM (
    'real_world', 'fantasy', 'narrative_ai', 'historical', 'fictional');
CREATE TYPE cdl.workflow_trigger_enum AS ENUM (
    'pattern_match', 'keyword_match', 'intent_detection', 'context_change', 'time_trigger',
    'user_action', 'system_event');
CREATE TYPE cdl.workflow_status_enum AS ENUM (
    'active', 'pending', 'completed', 'cancelled', 'timeout', 'error', 'paused');
CREATE TYPE cdl.workflow_event_enum AS ENUM (
    'workflow_started', 'state_entered', 'state_exited', 'transition_triggered',
    'action_executed', 'workflow_completed', 'workflow_cancelled', 'workflow_timeout',
    'error_occurred');
CREATE TYPE cdl.context_extractor_enum AS ENUM (
    'pattern_group', 'keyword_match', 'message_full', 'lookup_table', 'literal_value',
    'llm_extraction', 'context_reference');
CREATE TYPE cdl.character_status_enum AS ENUM (
    'active', 'inactive', 'development', 'archived', 'deprecated');
CREATE TYPE cdl.field_type_enum AS ENUM (
    'identity', 'personality', 'communication', 'knowledge', 'behavior', 'emotional',
    'interaction', 'backstory', 'relationships', 'skills', 'preferences', 'appearance', 'custom');
CREATE TYPE cdl.data_type_enum AS ENUM (
    'string', 'number', 'boolean', 'array', 'object', 'text', 'enum', 'reference');
CREATE TYPE cdl.communication_pattern_enum AS ENUM (
    'greeting', 'farewell', 'question_response', 'excitement', 'concern', 'advice_giving',
    'storytelling', 'technical_explanation', 'emotional_support', 'humor', 'cultural_expression',
    'expertise_sharing');
CREATE TYPE cdl.response_scenario_enum AS ENUM (
    'first_meeting', 'casual_chat', 'deep_conversation', 'technical_discussion',
    'emotional_support', 'teaching_moment', 'conflict_resolution', 'celebration',
    'problem_solving', 'creative_collaboration');
CREATE TYPE cdl.knowledge_type_enum AS ENUM (
    'identity', 'biography', 'expertise', 'relationships', 'experiences', 'preferences',
    'beliefs', 'skills', 'memories', 'goals', 'fears', 'cultural', 'family', 'career',
    'hobbies', 'facts');
CREATE TYPE cdl.change_type_enum AS ENUM (
    'field_added', 'field_updated', 'field_removed', 'character_created', 'character_updated',
    'version_created', 'bulk_import', 'ai_optimization', 'performance_tuning');
CREATE TYPE cdl.validation_status_enum AS ENUM (
    'pending', 'validated', 'rejected', 'needs_review');
