-- Foundation: schemas, roles, the cdl enums, the function list of every schema.
BEGIN;
SELECT plan(45);

SELECT has_schema(s) FROM unnest(ARRAY['cdl', 'docstore', 'ops', 'game']) AS s;
SELECT schema_owner_is(s, 'cdlstore_owner') FROM unnest(ARRAY['cdl', 'docstore', 'ops', 'game']) AS s;
SELECT has_role(r) FROM unnest(ARRAY['cdlstore_owner', 'cdlstore_app', 'cdlstore_readonly']) AS r;

SELECT enum_has_labels('cdl', 'character_archetype_enum',
    ARRAY['real_world', 'fantasy', 'narrative_ai', 'historical', 'fictional']);
SELECT enum_has_labels('cdl', 'workflow_trigger_enum',
    ARRAY['pattern_match', 'keyword_match', 'intent_detection', 'context_change', 'time_trigger',
          'user_action', 'system_event']);
SELECT enum_has_labels('cdl', 'workflow_status_enum',
    ARRAY['active', 'pending', 'completed', 'cancelled', 'timeout', 'error', 'paused']);
SELECT enum_has_labels('cdl', 'workflow_event_enum',
    ARRAY['workflow_started', 'state_entered', 'state_exited', 'transition_triggered',
          'action_executed', 'workflow_completed', 'workflow_cancelled', 'workflow_timeout',
          'error_occurred']);
SELECT enum_has_labels('cdl', 'context_extractor_enum',
    ARRAY['pattern_group', 'keyword_match', 'message_full', 'lookup_table', 'literal_value',
          'llm_extraction', 'context_reference']);
SELECT enum_has_labels('cdl', 'character_status_enum',
    ARRAY['active', 'inactive', 'development', 'archived', 'deprecated']);
SELECT enum_has_labels('cdl', 'field_type_enum',
    ARRAY['identity', 'personality', 'communication', 'knowledge', 'behavior', 'emotional',
          'interaction', 'backstory', 'relationships', 'skills', 'preferences', 'appearance',
          'custom']);
SELECT enum_has_labels('cdl', 'data_type_enum',
    ARRAY['string', 'number', 'boolean', 'array', 'object', 'text', 'enum', 'reference']);
SELECT enum_has_labels('cdl', 'communication_pattern_enum',
    ARRAY['greeting', 'farewell', 'question_response', 'excitement', 'concern', 'advice_giving',
          'storytelling', 'technical_explanation', 'emotional_support', 'humor',
          'cultural_expression', 'expertise_sharing']);
SELECT enum_has_labels('cdl', 'response_scenario_enum',
    ARRAY['first_meeting', 'casual_chat', 'deep_conversation', 'technical_discussion',
          'emotional_support', 'teaching_moment', 'conflict_resolution', 'celebration',
          'problem_solving', 'creative_collaboration']);
SELECT enum_has_labels('cdl', 'knowledge_type_enum',
    ARRAY['identity', 'biography', 'expertise', 'relationships', 'experiences', 'preferences',
          'beliefs', 'skills', 'memories', 'goals', 'fears', 'cultural', 'family', 'career',
          'hobbies', 'facts']);
SELECT enum_has_labels('cdl', 'change_type_enum',
    ARRAY['field_added', 'field_updated', 'field_removed', 'character_created',
          'character_updated', 'version_created', 'bulk_import', 'ai_optimization',
          'performance_tuning']);
SELECT enum_has_labels('cdl', 'validation_status_enum',
    ARRAY['pending', 'validated', 'rejected', 'needs_review']);
SELECT enums_are('cdl', ARRAY[
    'character_archetype_enum', 'workflow_trigger_enum', 'workflow_status_enum',
    'workflow_event_enum', 'context_extractor_enum', 'character_status_enum', 'field_type_enum',
    'data_type_enum', 'communication_pattern_enum', 'response_scenario_enum',
    'knowledge_type_enum', 'change_type_enum', 'validation_status_enum']);

-- Every function of every schema: a stale overload or a forgotten helper fails here.
SELECT functions_are('cdl', ARRAY[
    '_actor', '_character_id', '_check_field_value', '_check_label', '_check_message', '_check_verdicts',
    '_bracket_end', '_cdl_body', '_check_rules', '_create_version', '_derived_columns', '_document_part',
    '_check_key', '_check_key_count', '_expire', '_extract_context', '_field_place', '_field_type', '_infer_data_type',
    '_import_character', '_json_leaves', '_json_merge', '_json_ordered', '_json_remove',
    '_json_set', '_jsonb_set_path', '_keyword_query', '_lock_character', '_lock_user', '_log', '_log_end',
    '_log_field_change', '_match_lists', '_message_facts', '_nodes', '_parse_path', '_path_text', '_placeholders',
    '_regex_bound', '_regex_escape', '_regex_grammar_problem', '_regex_limit', '_regex_problem', '_register_definitions',
    '_render', '_render_document', '_runnable_regex', '_state_status', '_state_timeout', '_step_json', '_transition',
    '_replace_fields', '_required_literal',
    '_character_not_found', '_import_key', '_replace_subtree',
    '_save_document', '_save_sections', '_search', '_start', '_step', '_store_cdl', '_stored_cdl', '_stored_text', '_validate_nodes',
    '_value_jsonb', '_version_snapshot', '_wf_action', '_wf_fail', '_wf_patterns',
    '_wf_keywords', '_wf_strings', '_workflow_candidates',
    '_definition_call', '_definition_sequences', '_instance_id', '_require_proxy', '_hashed_uuid', '_shard_hash', 'set_shard_identity',
    'apply_definition', 'definition_log_since', 'definition_version', 'archive_character',
    'cancel_workflow_instance', 'check_workflow_triggers', 'create_character_version',
    'define_character_field', 'diff_character_versions', 'expire_workflow_timeouts',
    'export_character_json', 'get_character_complete', 'get_user_active_workflows',
    'import_character_from_json', 'import_workflow_from_yaml', 'list_character_versions',
    'list_characters', 'next_workflow_timeout', 'normalize_name', 'process_workflow_message',
    'refresh_character_analytics', 'remove_character_field', 'render_character_documents', 'remove_communication_pattern',
    'remove_knowledge', 'remove_response_template', 'render_workflow_prompt',
    'rollback_character', 'schema_version', 'search_character_knowledge', 'search_characters',
    'start_workflow_instance', 'upsert_character_field', 'upsert_communication_pattern',
    'upsert_knowledge', 'upsert_response_template', 'get_workflow_graph']);
SELECT functions_are('docstore', ARRAY[
    '_change_tag', '_check_routes', '_check_name', '_check_page', '_cursor', '_drop_orphan_bodies', '_emit',
    '_item', '_page', '_uncursor', '_version', 'ack_changes', 'apply_retention', 'create_metadata_index',
    'declare_tag', 'delete_document', 'get_document', 'get_document_by_tag',
    'get_document_by_tag_at', 'get_tagged', 'list_by_session', 'list_documents',
    'prune_versions', 'purge_document', 'put_document', 'read_changes', 'remove_tag', 'set_tag',
    'set_retention_policy', 'tag_history', 'document_history']);
SELECT functions_are('ops', ARRAY[
    '_complete', '_day', '_enqueue', '_event', '_fail_task', '_fail_workflow', '_leased_task', '_move_workflow',
    '_refuse_change', '_task_json', '_task_problem', '_wake_workers', '_workflow_json', 'ack_events', 'advance_workflow_step',
    'append_message', 'claim_tasks', 'complete_task', 'complete_tasks', 'complete_workflow',
    'create_workflow', 'enqueue_task', 'enqueue_tasks', 'expire_tasks', 'expire_workflows',
    'export_events', 'export_messages', 'export_tasks', 'export_workflows', 'fail_task',
    'fail_workflow', 'get_conversation', 'get_task', 'get_workflow', 'heartbeat_task', 'list_events',
    'list_workflows', 'metrics', 'next_task_timeout', 'read_events', 'record_event', 'release_task', 'start_workflow',
    '_task_for_change', 'list_tasks', 'retry_task', 'cancel_task']);
SELECT functions_are('game', ARRAY[
    '_as_document', '_container', '_end_session', '_import_one', '_normalized', '_ref',
    '_session_for_change', '_session_json', 'abandon_game_session', 'award_badge',
    'compare_with_documents', 'complete_game_session', 'create_account', 'create_profile',
    'get_game_session', 'get_profile_compass_totals', 'get_scenario_leaderboard',
    'import_documents', 'record_scene_choice', 'start_game_session']);

-- schema_version: API (security definer), callable by the app role only.
SELECT is_definer('cdl', 'schema_version', ARRAY[]::name[]);
SELECT function_privs_are('cdl', 'schema_version', ARRAY[]::name[], 'public', ARRAY[]::text[],
    'PUBLIC cannot execute cdl.schema_version()');
SELECT matches(cdl.schema_version(), '^[0-9]{4}_[a-z0-9_]+$', 'schema_version is a migration id');
SELECT max(migration_id) AS newest_migration FROM public._yoyo_migration \gset
SET LOCAL ROLE cdlstore_app;
SELECT is(cdl.schema_version(), :'newest_migration', 'cdlstore_app can call schema_version');
SELECT throws_ok('SELECT * FROM public._yoyo_migration', '42501', NULL,
    'cdlstore_app cannot read the migration table directly');
RESET ROLE;

-- The one-expression SQL helpers are inlined into the queries that call them: a helper that is
-- not (STRICT with a non-strict body, or IMMUTABLE around a STABLE function such as to_jsonb)
-- runs as a separate SQL function call every time, which made get_character_complete 3x slower.
CREATE FUNCTION pg_temp.inlined(fn regprocedure) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE
    line text;
    args text;
    cols text;
BEGIN
    SELECT string_agg(format('s.a%s', o), ', '), string_agg(format('NULL::%s AS a%s', t::regtype, o), ', ')
    INTO args, cols
    FROM unnest((SELECT proargtypes::oid[] FROM pg_proc WHERE oid = fn)) WITH ORDINALITY AS u (t, o);
    FOR line IN EXECUTE format('EXPLAIN VERBOSE SELECT %s(%s) FROM (SELECT %s OFFSET 0) AS s',
                               fn::regproc, coalesce(args, ''), coalesce(cols, '1')) LOOP
        IF line LIKE '%' || (SELECT proname FROM pg_proc WHERE oid = fn) || '(%' THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$f$;
SELECT ok(pg_temp.inlined(f), f::text || ' is inlined')
FROM unnest(ARRAY['cdl.normalize_name(text)', 'cdl._actor()', 'cdl._value_jsonb(text,numeric,boolean,jsonb)',
                  'cdl._infer_data_type(jsonb)', 'cdl._field_type(text)', 'cdl._regex_escape(text)',
                  'docstore._item(docstore.document_header,jsonb)', 'game._session_json(game.game_sessions)',
                  'ops._workflow_json(ops.workflows)', 'ops._task_json(ops.task_executions)',
                  'ops._task_problem(text,text,jsonb,integer,integer,integer)']::regprocedure[]) AS f;

SELECT * FROM finish();
ROLLBACK;
