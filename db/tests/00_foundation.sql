-- Foundation: schemas, roles, the cdl enums, the function signatures of every schema.
BEGIN;
SELECT plan(53);

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

-- Every function and procedure of every schema, by its full signature (oid::regprocedure with
-- schema-qualified types): a stale overload, a forgotten helper or a dropped function fails here
-- (pgTAP's functions_are compares names only). One signature a line, sorted, so that branches
-- adding functions in different places merge.
CREATE TEMP TABLE expected_functions (schema_name name, signatures text[]);
INSERT INTO expected_functions VALUES
('cdl', ARRAY[
    'cdl._actor()',
    'cdl._cdl_body(json)',
    'cdl._character_id(text)',
    'cdl._character_not_found(text)',
    'cdl._check_field_value(text,cdl.data_type_enum,jsonb,boolean,jsonb)',
    'cdl._check_key(text,text)',
    'cdl._check_leaf(text[],jsonb)',
    'cdl._check_nothing_required_below(text[])',
    'cdl._check_string_size(text[],jsonb)',
    'cdl._check_key_count(jsonb)',
    'cdl._check_character_row()',
    'cdl._check_label(text,anyarray,text)',
    'cdl._check_message(text,text)',
    'cdl._check_rules(text,jsonb)',
    'cdl._check_verdicts(jsonb)',
    'cdl._create_version(bigint,character varying,text)',
    'cdl._current_workflow_file(text,text)',
    'cdl._definition_call(text)',
    'cdl._definition_sequences()',
    'cdl._delete_change_log()',
    'cdl._delete_instance_log()',
    'cdl._delete_workflow_instances()',
    'cdl._derived_columns(jsonb)',
    'cdl._document_part(bigint,text)',
    'cdl._end_event(cdl.workflow_status_enum)',
    'cdl._expire(timestamp with time zone,text,bigint)',
    'cdl._extract_context(jsonb,bigint,jsonb,text,text[],jsonb)',
    'cdl._field_place(bigint,text[])',
    'cdl._field_type(text)',
    'cdl._fold_name(text)',
    'cdl._import_character(jsonb,json,character varying,character varying)',
    'cdl._import_key(text,text)',
    'cdl._infer_data_type(jsonb)',
    'cdl._instance_id(text)',
    'cdl._json_leaves(json)',
    'cdl._json_merge(json,json)',
    'cdl._is_leaf(jsonb)',
    'cdl._json_ordered(json,integer)',
    'cdl._json_remove(json,text[])',
    'cdl._json_set(json,text[],json)',
    'cdl._keyword_query(text[])',
    'cdl._lock_character(text,text[])',
    'cdl._lock_user(bigint,text)',
    'cdl._log(bigint,text,cdl.workflow_event_enum,text,text,text,jsonb,cdl.workflow_status_enum)',
    'cdl._log_field_change()',
    'cdl._log_rows(cdl.workflow_event_enum,text,text,text,jsonb,cdl.workflow_status_enum)',
    'cdl._match_lists(text,tsvector,tsquery,text[],text[],text[])',
    'cdl._message_facts(jsonb)',
    'cdl._nodes(text[],jsonb)',
    'cdl._parse_path(text)',
    'cdl._path_text(text[])',
    'cdl._placeholders(text,text)',
    'cdl._regex_escape(text)',
    'cdl._refresh_character(bigint,text[],text[])',
    'cdl._register_definitions(text[],jsonb)',
    'cdl._render(text,jsonb,text)',
    'cdl._render_document(bigint)',
    'cdl._replace_fields(bigint,text[],jsonb,jsonb,character varying,numeric,boolean)',
    'cdl._replace_leaf(bigint,bigint,jsonb,character varying,numeric,boolean)',
    'cdl._replace_leaf(bigint,text[],jsonb,character varying,numeric,boolean)',
    'cdl._replace_subtree(bigint,text[],jsonb,jsonb,character varying,numeric,boolean)',
    'cdl._require_proxy()',
    'cdl._required_literal(text)',
    'cdl._save_document(bigint,json,text[],text[])',
    'cdl._save_sections(bigint,json,text[])',
    'cdl._section_doc(text,json)',
    'cdl._search(bigint,text,integer)',
    'cdl._start(text,bigint,jsonb,jsonb,bigint)',
    'cdl._state_status(boolean,text,text)',
    'cdl._state_timeout(boolean,numeric,timestamp with time zone)',
    'cdl._step(text,bigint)',
    'cdl._step_json(text,bigint,text,text,cdl.workflow_status_enum,jsonb,text,text)',
    'cdl._store_cdl(bigint,jsonb,jsonb,json,character varying)',
    'cdl._store_workflow(bigint,bigint,json,bigint,json)',
    'cdl._store_workflow_file(bigint,json)',
    'cdl._stored_cdl(bigint,text[])',
    'cdl._stored_text(bigint)',
    'cdl._timeout_seconds(integer,jsonb)',
    'cdl._transition(bigint,text,bigint,text,text,tsvector)',
    'cdl._validate_nodes(text[],jsonb)',
    'cdl._validate_workflow(text,json,jsonb)',
    'cdl._validate_workflow_file(json)',
    'cdl._value_jsonb(text,numeric,boolean,jsonb)',
    'cdl._version_snapshot(bigint,integer)',
    'cdl._wf_action(json,text)',
    'cdl._wf_config(json)',
    'cdl._wf_extractors(json,text,jsonb)',
    'cdl._wf_fail(text,text)',
    'cdl._wf_keywords(json,text)',
    'cdl._wf_lookups(json)',
    'cdl._wf_missing_placeholder(text,text,text[])',
    'cdl._wf_patterns(json,text)',
    'cdl._wf_states(json,text,text[],text[])',
    'cdl._wf_strings(json,text)',
    'cdl._wf_triggers(json,text)',
    'cdl._wf_validation_rules(json,text,text[])',
    'cdl._workflow_candidates(bigint,text,jsonb)',
    'cdl.apply_definition(bigint,text,text[],character varying)',
    'cdl.apply_definition(bigint,text,text[],character varying,text)',
    'cdl.archive_character(character varying)',
    'cdl.as_tenant(text,anyelement)',
    'cdl.cancel_workflow_instance(bigint,text)',
    'cdl.check_workflow_triggers(character varying,text,character varying,jsonb)',
    'cdl.create_character_version(character varying,character varying,text)',
    'cdl.define_character_field(character varying,character varying,character varying,jsonb,text,boolean,character varying)',
    'cdl.definition_log_since(bigint,integer)',
    'cdl.definition_version()',
    'cdl.definition_writes_since(bigint,integer)',
    'cdl.diff_character_versions(character varying,integer,integer)',
    'cdl.diff_character_versions(text,integer,integer)',
    'cdl.expire_workflow_timeouts(timestamp with time zone)',
    'cdl.export_character_json(character varying)',
    'cdl.export_character_json(text)',
    'cdl.get_character_complete(character varying)',
    'cdl.get_user_active_workflows(character varying)',
    'cdl.get_workflow_graph(text,text)',
    'cdl.import_character_from_json(jsonb,character varying,character varying)',
    'cdl.import_character_from_json(text,character varying,character varying)',
    'cdl.import_workflow_from_yaml(character varying,json)',
    'cdl.list_character_versions(character varying)',
    'cdl.list_characters(character varying,character varying)',
    'cdl.next_workflow_timeout()',
    'cdl.normalize_name(text)',
    'cdl.process_workflow_message(character varying,character varying,text,boolean,jsonb,jsonb)',
    'cdl.refresh_character_analytics()',
    'cdl.remove_character_field(character varying,character varying)',
    'cdl.remove_communication_pattern(character varying,character varying,character varying)',
    'cdl.remove_knowledge(character varying,character varying)',
    'cdl.remove_response_template(character varying,character varying,character varying)',
    'cdl.render_character_documents(integer)',
    'cdl.render_workflow_prompt(bigint)',
    'cdl.rollback_character(character varying,integer)',
    'cdl.schema_version()',
    'cdl.search_character_knowledge(character varying,text,integer)',
    'cdl.search_characters(text,character varying,integer)',
    'cdl.set_shard_identity(integer,integer)',
    'cdl.start_workflow_instance(character varying,character varying,character varying,jsonb)',
    'cdl.upsert_character_field(character varying,character varying,jsonb,character varying,numeric,boolean)',
    'cdl.upsert_communication_pattern(character varying,character varying,character varying,text,character varying,character varying,integer)',
    'cdl.upsert_knowledge(character varying,character varying,character varying,text,character varying,numeric,integer,text[],boolean)',
    'cdl.upsert_response_template(character varying,character varying,character varying,text,jsonb,integer,boolean)']),
('docstore', ARRAY[
    'docstore._change_tag(uuid,text,integer,text,text,text,integer,boolean)',
    'docstore._check_actor(text,text,text,text)',
    'docstore._check_name(text,text)',
    'docstore._check_routes(uuid,text)',
    'docstore._drop_orphan_bodies(uuid[])',
    'docstore._emit(text,text,text,uuid,integer,text,text,text)',
    'docstore._item(docstore.document_header,jsonb)',
    'docstore._store_body(jsonb)',
    'docstore._version(uuid,integer)',
    'docstore.ack_changes(text,bigint)',
    'docstore.apply_retention()',
    'docstore.create_metadata_index(text,text)',
    'docstore.declare_tag(text,text,boolean,boolean)',
    'docstore.delete_document(uuid,text,text,text)',
    'docstore.document_history(uuid,integer)',
    'docstore.get_document(uuid,integer)',
    'docstore.get_document_by_tag(uuid,text)',
    'docstore.get_document_by_tag_at(uuid,text,timestamp with time zone)',
    'docstore.get_tagged(text,text,text,boolean)',
    'docstore.list_by_session(text,text[],boolean,integer,text)',
    'docstore.list_documents(text,text,jsonb,boolean,integer,text)',
    'docstore.prune_versions(text,text,integer,interval,boolean)',
    'docstore.purge_document(uuid,text)',
    'docstore.put_document(text,text,jsonb,text,jsonb,text,text,text,uuid,integer)',
    'docstore.read_changes(text,integer)',
    'docstore.remove_tag(uuid,text,text,text,text,integer,boolean)',
    'docstore.set_retention_policy(text,text,integer,interval)',
    'docstore.set_tag(uuid,integer,text,text,text,text,integer,boolean)',
    'docstore.tag_history(uuid,text)']),
('ops', ARRAY[
    'ops._day(date)',
    'ops._event(text,text,text,uuid,text,text,text,jsonb,text,boolean)',
    'ops._fail_task(ops.task_executions,text)',
    'ops._fail_workflow(ops.workflows,text)',
    'ops._leased_task(uuid,uuid)',
    'ops._move_workflow(uuid,text,text[])',
    'ops._refuse_change()',
    'ops._task_for_change(uuid,text[],text)',
    'ops._task_id(integer)',
    'ops._task_id(integer,bigint)',
    'ops._task_json(ops.task_executions)',
    'ops._task_problem(text,text,jsonb,integer,integer,integer)',
    'ops._wake_workers()',
    'ops._workflow_json(ops.workflows)',
    'ops.ack_events(text,bigint)',
    'ops.advance_workflow_step(uuid,jsonb,jsonb)',
    'ops.append_message(text,text,text,jsonb,jsonb,text,boolean)',
    'ops.cancel_task(uuid,text)',
    'ops.claim_tasks(text,text[],integer)',
    'ops.complete_task(uuid,uuid,jsonb)',
    'ops.complete_tasks(jsonb)',
    'ops.complete_workflow(uuid,jsonb)',
    'ops.create_workflow(text,text,text,integer,jsonb,text[],jsonb,text[],timestamp with time zone)',
    'ops.enqueue_task(text,text,jsonb,integer,uuid,integer,integer,timestamp with time zone)',
    'ops.enqueue_tasks(jsonb)',
    'ops.expire_tasks(timestamp with time zone)',
    'ops.expire_workflows(timestamp with time zone)',
    'ops.export_events(date)',
    'ops.export_messages(date)',
    'ops.export_tasks(date)',
    'ops.export_workflows(date)',
    'ops.export_source(text,text)',
    'ops.fail_task(uuid,uuid,text)',
    'ops.fail_workflow(uuid,text)',
    'ops.get_conversation(text,integer,bigint)',
    'ops.get_task(uuid)',
    'ops.get_workflow(uuid)',
    'ops.heartbeat_task(uuid,uuid,integer)',
    'ops.list_events(text,text,text,uuid,text,integer,text)',
    'ops.list_tasks(text,text,uuid,integer,timestamp with time zone)',
    'ops.list_workflows(text,text,integer,text)',
    'ops.metrics()',
    'ops.next_task_timeout()',
    'ops.read_events(text,integer)',
    'ops.record_event(text,text,text,uuid,text,text,text,jsonb,text)',
    'ops.release_task(uuid,uuid)',
    'ops.retry_task(uuid)',
    'ops.start_workflow(uuid)']),
('game', ARRAY[
    'game._as_document(text,bigint)',
    'game._container(text)',
    'game._end_session(bigint,integer,text)',
    'game._import_one(text,jsonb)',
    'game._import_profile(text,jsonb)',
    'game._normalized(text,jsonb)',
    'game._ref(text,text,text)',
    'game._session_for_change(bigint,integer)',
    'game._session_json(game.game_sessions)',
    'game.abandon_game_session(bigint,integer)',
    'game.award_badge(bigint,text,text)',
    'game.compare_with_documents(text)',
    'game.complete_game_session(bigint,integer)',
    'game.create_account(text,text,text)',
    'game.create_profile(bigint,text,text,text,jsonb,text)',
    'game.get_game_session(bigint)',
    'game.get_profile_compass_totals(bigint)',
    'game.get_scenario_leaderboard(text,text,integer)',
    'game.import_documents(text,jsonb)',
    'game.record_scene_choice(bigint,integer,text,text,jsonb)',
    'game.start_game_session(bigint,text)']),
('cdlstore', ARRAY[
    'cdlstore._login_role_oid(name)',
    'cdlstore.bind_tenant(name,text)',
    'cdlstore.unbind_tenant(name)']),
('cdlstore_internal', ARRAY[
    'cdlstore_internal.all_tenants(boolean)',
    'cdlstore_internal.bound_tenant()',
    'cdlstore_internal.call_tenant()',
    'cdlstore_internal.check_page(integer)',
    'cdlstore_internal.check_tenant_name(text)',
    'cdlstore_internal.current_tenant()',
    'cdlstore_internal.default_tenant()',
    'cdlstore_internal.earliest(text)',
    'cdlstore_internal.feed_ack(text,text,bigint)',
    'cdlstore_internal.feed_announce()',
    'cdlstore_internal.feed_batch(text,pg_snapshot,pg_snapshot,xid8,bigint,integer)',
    'cdlstore_internal.feed_consumer(text,text)',
    'cdlstore_internal.feed_horizon(pg_snapshot)',
    'cdlstore_internal.feed_read(text,text,integer)',
    'cdlstore_internal.full_tenant_check()',
    'cdlstore_internal.hashed_uuid(integer)',
    'cdlstore_internal.input_text(text,text,integer,boolean)',
    'cdlstore_internal.is_administrator()',
    'cdlstore_internal.make_tenant_scoped(regclass)',
    'cdlstore_internal.page(cdlstore_internal.page_row[],integer)',
    'cdlstore_internal.page_cursor(timestamp with time zone,bigint)',
    'cdlstore_internal.page_key(text,integer)',
    'cdlstore_internal.regex_bound(text,integer,boolean,boolean)',
    'cdlstore_internal.regex_bracket_end(text,integer)',
    'cdlstore_internal.regex_grammar_problem(text)',
    'cdlstore_internal.regex_group_problem(text)',
    'cdlstore_internal.regex_limit(text)',
    'cdlstore_internal.regex_problem(text,boolean)',
    'cdlstore_internal.resolved_tenant()',
    'cdlstore_internal.runnable_regex(text)',
    'cdlstore_internal.shard_hash()',
    'cdlstore_internal.sweep(text,text,anyelement)',
    'cdlstore_internal.sweeping()',
    'cdlstore_internal.tenant_error(text,text)',
    'cdlstore_internal.unbound_tenant()',
    'cdlstore_internal.unnamed_tenant()']);
SELECT is(tests.signature_diff(e.schema_name, e.signatures), '{}'::text[],
          e.schema_name || ': exactly the expected function signatures')
FROM expected_functions e ORDER BY e.schema_name;

-- The check can fail: a stray overload of an API function and a dropped helper are both named.
SAVEPOINT before_stray;
CREATE FUNCTION cdl.normalize_name(name text, max_length integer) RETURNS text LANGUAGE sql AS 'SELECT name';
DROP FUNCTION cdl._regex_escape(text);
SELECT is(tests.signature_diff('cdl', (SELECT signatures FROM expected_functions WHERE schema_name = 'cdl')),
          ARRAY['-cdl._regex_escape(text)', '+cdl.normalize_name(text,integer)'],
          'a stray overload and a missing function are caught by the signature check');
SELECT is(tests.signature_diff('cdl', (SELECT array_append(signatures, 'cdl.normalize_name(text,integer)')
                                          FROM expected_functions WHERE schema_name = 'cdl')),
          ARRAY['-cdl._regex_escape(text)'], 'only the signature tells overloads apart');
ROLLBACK TO SAVEPOINT before_stray;

-- A function that raises is not IMMUTABLE (docs/design.md): the planner would fold a call with
-- constant arguments into an error at plan time.
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game', 'cdlstore', 'cdlstore_internal')
                  AND p.provolatile = 'i'
                  AND p.prosrc ~* 'RAISE\s+EXCEPTION|_wf_fail\(|input_text\(|check_page\(|page_key\(|_check_name\('
                ORDER BY 1), '{}'::text[], 'no IMMUTABLE function raises');

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
                  'ops._task_problem(text,text,jsonb,integer,integer,integer)', 'ops._task_id(integer,bigint)']::regprocedure[]) AS f;

-- normalize_name folds only a name that is not a key already: the folding (some twenty
-- functions) is cdl._fold_name, set up and called only then, so a lookup by key skips it
SET LOCAL track_functions = 'pl';
SELECT is((SELECT array_agg(cdl.normalize_name(n) ORDER BY o)
           FROM (VALUES (1, 'bench_target'), (2, 'Bench Target'), (3, 'elena'), (4, repeat('a', 1001) || '!'))
                AS v (o, n)),
          ARRAY['bench_target', 'bench_target', 'elena', NULL],
          'normalize_name: keys as they are, other names folded (NULL over 1,000 characters)');
SELECT is((SELECT calls FROM pg_stat_xact_user_functions WHERE funcid = 'cdl._fold_name(text)'::regprocedure),
          2::bigint, 'only the two names not in key form were folded (cdl._fold_name)');

SELECT * FROM finish();
ROLLBACK;
