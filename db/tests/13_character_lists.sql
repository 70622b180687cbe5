-- Patterns, templates, knowledge, search, listing, archiving, analytics, privileges.
BEGIN;
SELECT plan(35);

SELECT cdl.import_character_from_json(tests.sample_cdl());
SELECT cdl.import_character_from_json('{"identity": {"name": "Bob Builder", "occupation": "Builder",
    "description": "Fixes bridges and roofs"}}');

-- communication patterns
SELECT ok(cdl.upsert_communication_pattern('ada_lovelace', 'greeting', 'formal', 'Good day, I compute.') > 0,
    'add a communication pattern');
SELECT cdl.upsert_communication_pattern('ada_lovelace', 'greeting', 'formal', 'Good morning, engines await.',
    'first_meeting', 'frequent', 80);
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb -> 'communication_patterns',
    '[{"pattern_type": "greeting", "pattern_name": "formal", "pattern_value": "Good morning, engines await.",
       "context": "first_meeting", "frequency": "frequent", "priority": 80}]'::jsonb,
    'upsert replaces it and the document shows it at once');
SELECT throws_ok($$SELECT cdl.upsert_communication_pattern('ada_lovelace', 'shouting', 'x', 'y')$$, 'CD001',
    'invalid pattern type: ''shouting''', 'unknown pattern type');
SELECT throws_ok($$SELECT cdl.upsert_communication_pattern('ada_lovelace', 'humor', 'x', '')$$, 'CD001',
    NULL, 'empty pattern value');
SELECT is(cdl.remove_communication_pattern('ada_lovelace', 'greeting', 'nothing'), false, 'removing nothing');

-- response templates
SELECT ok(cdl.upsert_response_template('ada_lovelace', 'teaching_moment', 'explain', 'Consider the engine: {topic}',
    '{"min_turns": 2}', 70) > 0, 'add a response template');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #>> '{response_templates,0,template_text}',
    'Consider the engine: {topic}', 'the document shows it');
SELECT throws_ok($$SELECT cdl.upsert_response_template('ada_lovelace', 'teaching_moment', 'x', 'y', '[]')$$,
    'CD001', 'conditions must be a JSON object', 'conditions must be an object');
SELECT is(cdl.remove_response_template('ada_lovelace', 'teaching_moment', 'explain'), true, 'remove it');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb -> 'response_templates', '[]'::jsonb, 'gone from the document');

-- knowledge with parents
SELECT ok(cdl.upsert_knowledge('ada_lovelace', 'expertise', 'analytical_engine',
    'Notes on the Analytical Engine of Charles Babbage, with the first published algorithm.') > 0, 'add knowledge');
SELECT ok(cdl.upsert_knowledge('ada_lovelace', 'expertise', 'bernoulli',
    'An algorithm computing Bernoulli numbers on the engine.', 'analytical_engine', 0.9, 8, '{math}') > 0,
    'add child knowledge');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #>> '{knowledge,0,parent_key}', 'analytical_engine',
    'the document names the parent');
SELECT throws_ok($$SELECT cdl.upsert_knowledge('ada_lovelace', 'expertise', 'analytical_engine', 'x', 'bernoulli')$$,
    'CD001', NULL, 'a parent cycle is refused');
SELECT throws_ok($$SELECT cdl.upsert_knowledge('ada_lovelace', 'expertise', 'k', 'x', 'missing')$$,
    'CD002', 'parent knowledge ''missing'' not found', 'an unknown parent');
SELECT throws_ok($$SELECT cdl.upsert_knowledge('ada_lovelace', 'gossip', 'k', 'x')$$, 'CD001', NULL,
    'an unknown knowledge type');

-- search
SELECT results_eq($$SELECT normalized_name::text, source, match_path FROM cdl.search_characters('Bernoulli numbers')$$,
    $$VALUES ('ada_lovelace', 'knowledge', 'expertise.bernoulli')$$, 'search finds knowledge with its path');
SELECT results_eq($$SELECT normalized_name::text, match_path FROM cdl.search_characters('bridges')$$,
    $$VALUES ('bob_builder', 'identity.description')$$, 'search finds string fields with their path');
SELECT results_eq($$SELECT source, match_path FROM cdl.search_characters('engines await')$$,
    $$VALUES ('communication_pattern', 'greeting.formal')$$, 'search finds communication patterns');
SELECT ok((SELECT snippet FROM cdl.search_characters('bridges')) LIKE '%<b>bridges</b>%', 'with a snippet');
SELECT is((SELECT count(*)::int FROM cdl.search_character_knowledge('ada_lovelace', 'engine')), 3,
    'search within one character: two knowledge entries and a pattern');
SELECT is((SELECT count(*)::int FROM cdl.search_character_knowledge('bob_builder', 'engine')), 0,
    'and nothing of another character');
SELECT throws_ok($$SELECT * FROM cdl.search_characters('   ')$$, 'CD001', 'search query is empty', 'empty query');
SELECT throws_ok($$SELECT * FROM cdl.search_character_knowledge('nobody', 'x')$$, 'CD002', NULL, 'unknown character');

-- listing and archiving
SELECT results_eq($$SELECT normalized_name::text FROM cdl.list_characters()$$,
    $$VALUES ('ada_lovelace'), ('bob_builder')$$, 'list all');
SELECT results_eq($$SELECT normalized_name::text FROM cdl.list_characters(archetype_filter => 'historical')$$,
    $$VALUES ('ada_lovelace')$$, 'list by archetype');
SELECT is(cdl.archive_character('Bob Builder'), true, 'archive');
SELECT is(cdl.archive_character('Bob Builder'), false, 'archiving twice changes nothing');
SELECT results_eq($$SELECT normalized_name::text FROM cdl.list_characters('archived')$$,
    $$VALUES ('bob_builder')$$, 'list by status');
SELECT is(cdl.get_character_complete('bob_builder')::jsonb ->> 'status', 'archived', 'the document shows the status');
SELECT throws_ok($$SELECT * FROM cdl.list_characters('sleeping')$$, 'CD001', NULL, 'unknown status');

-- analytics, refreshed on demand
SELECT lives_ok($$SELECT cdl.refresh_character_analytics()$$, 'refresh analytics concurrently');
SELECT results_eq($$SELECT normalized_name::text, knowledge_count, pattern_count FROM cdl.character_analytics
                    ORDER BY 1$$,
    $$VALUES ('ada_lovelace', 2::bigint, 1::bigint), ('bob_builder', 0::bigint, 0::bigint)$$,
    'analytics count per character');

-- removing a parent keeps its children, as top-level entries
SELECT is(cdl.remove_knowledge('ada_lovelace', 'analytical_engine'), true, 'remove parent knowledge');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb -> 'knowledge' -> 0 -> 'parent_key', 'null'::jsonb,
    'its child stays, without a parent');

SELECT * FROM finish();
ROLLBACK;
