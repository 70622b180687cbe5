-- Workflow runtime: every rule of matching, extraction, priority, instances, timeouts, logs.
BEGIN;
SELECT plan(77);

SELECT cdl.import_character_from_json(tests.sample_cdl());
SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow());
CREATE FUNCTION pg_temp.names(result jsonb) RETURNS text LANGUAGE sql AS
    $$SELECT string_agg(c ->> 'workflow', ',') FROM jsonb_array_elements(result) c$$;

-- 1. matching: case-insensitive, patterns anywhere, keywords as whole words, context_required
SELECT is(pg_temp.names(cdl.check_workflow_triggers('ada_lovelace', 'Well, I''LL HAVE a Tea now', 'u1')), 'order',
    'a pattern matches anywhere, whatever the case');
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'Well, I''LL HAVE a Tea now', 'u1') -> 0 ->> 'pattern',
    'i''?ll have (a |an )?(\w+)', 'the matching pattern is named');
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'let us begin', 'u1'), '[]'::jsonb,
    'a keyword matches whole words only: gin is not in begin');
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'some GIN?', 'u1') -> 0 ->> 'keyword', 'gin',
    'a keyword alone is enough');
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'some GIN?', 'u1') #> '{0,pattern_matched}', 'false'::jsonb,
    'and says no pattern matched');
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'open a tab', 'u1'), '[]'::jsonb,
    'context_required must hold in the caller''s context');
SELECT is(pg_temp.names(cdl.check_workflow_triggers('ada_lovelace', 'open a tab', 'u1', '{"channel": "bar"}')), 'tab',
    'and then the workflow matches');
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'give me (a *[ ** \\ $^', 'u1'), '[]'::jsonb,
    'regex metacharacters in a message are text');

-- 4. extraction: groups, transform, lookup of the corrected value, defaults, literals, message
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'I''ll have a TEA', 'u1') -> 0 -> 'context',
    '{"drink": "tea", "price": 2, "note": null}'::jsonb, 'group 2, lowercased, then its price looked up');
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'I''ll have a coffee', 'u1') -> 0 -> 'context',
    '{"drink": "water", "price": 3, "note": null}'::jsonb,
    'use_default corrects the value before the lookup, which falls back to its default');
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'just gin', 'u1') #>> '{0,context,drink}', 'water',
    'a keyword-only match takes the group''s default');
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'strictly no', 'u1'), '[]'::jsonb,
    'a reject rule stops the workflow');
SELECT is(pg_temp.names(cdl.check_workflow_triggers('ada_lovelace', 'strictly YES', 'u1')), 'strict',
    'in_list is case-insensitive');
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'surprise me', 'u1') -> 0 -> 'context',
    '{"what": "surprise me", "custom": {"a": [1]}}'::jsonb, 'message and literal extractors');

-- 3 and 5. priority and LLM validation
SELECT is(pg_temp.names(cdl.check_workflow_triggers('ada_lovelace', 'surprise me with gin', 'u1')), 'order,custom',
    'first_match lists in file order');
SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"first_match"', '"best_match"'));
SELECT is(pg_temp.names(cdl.check_workflow_triggers('ada_lovelace', 'surprise me with gin', 'u1')), 'custom,order',
    'best_match puts a pattern match before a keyword-only one');
SELECT is(cdl.check_workflow_triggers('ada_lovelace', 'surprise me', 'u1') #>> '{0,llm_prompt}',
    'Is "surprise me" a custom request?', 'the LLM prompt has the message filled in');
SELECT is(cdl.process_workflow_message('u1', 'ada_lovelace', 'surprise me') ->> 'action', 'needs_llm_validation',
    'an LLM-validated workflow waits for confirmation');
SELECT is((SELECT count(*)::int FROM cdl.workflow_instances), 0, 'and starts nothing');
SELECT is(cdl.process_workflow_message('u1', 'ada_lovelace', 'surprise me', true) ->> 'status', 'completed',
    'confirmed, it starts (and its final initial state ends it)');
SELECT results_eq($$SELECT l.event_type::text, l.from_state::text, l.to_state::text, l.message
                    FROM cdl.workflow_execution_log l WHERE l.user_id = 'u1' ORDER BY l.id$$,
    $$VALUES ('workflow_started', NULL, 'brewing', 'surprise me'), ('workflow_completed', 'brewing', NULL, NULL)$$,
    'a start into a final state is logged, then its end, in that order');
SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"first_match"', '"all_matches"'));
SELECT is(pg_temp.names(cdl.check_workflow_triggers('ada_lovelace', 'surprise me with gin', 'u1')), 'order,custom',
    'all_matches lists every match in file order');
SELECT is(cdl.process_workflow_message('u0', 'ada_lovelace', 'surprise me with gin') ->> 'workflow_name', 'order',
    'and process starts the first');
SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow(
    '"concurrent_workflows": false,
             "max_pending_per_user": 1', '"concurrent_workflows": true,
             "max_pending_per_user": 2'));
SELECT is(cdl.process_workflow_message('u0', 'ada_lovelace', 'open a tab', false, '{"channel": "bar"}') ->> 'action',
    'started', 'concurrent_workflows lets a second workflow start');
SELECT is(cdl.process_workflow_message('u0', 'ada_lovelace', 'give me tea') ->> 'action', 'unchanged',
    'but not beyond max_pending_per_user');
SELECT is(jsonb_array_length(cdl.get_user_active_workflows('u0')), 2, 'two active instances');
SELECT count(cdl.cancel_workflow_instance(id)) FROM cdl.workflow_instances WHERE user_id = 'u0';
SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow());

-- 2 and 6. an active instance: only its transitions; final states
SELECT is(cdl.process_workflow_message('u2', 'ada_lovelace', 'I''ll have a gin') ->> 'action', 'started', 'started');
SELECT is(cdl.process_workflow_message('u2', 'ada_lovelace', 'surprise me', true) ->> 'action', 'unchanged',
    'no new workflow while one is active');
SELECT is(cdl.process_workflow_message('u2', 'ada_lovelace', 'I will pay later') ->> 'state', 'paid',
    'the first matching transition in file order wins');
SELECT is((SELECT status::text FROM cdl.workflow_instances WHERE user_id = 'u2'), 'completed',
    'a final state completes the instance');
SELECT isnt((SELECT completed_at FROM cdl.workflow_instances WHERE user_id = 'u2'), NULL, 'with completed_at');
SELECT cdl.process_workflow_message('u3', 'ada_lovelace', 'give me tea');
SELECT is(cdl.process_workflow_message('u3', 'ada_lovelace', 'CANCEL it') ->> 'status', 'cancelled',
    'cancel_transaction ends it as cancelled');
SELECT cdl.start_workflow_instance('u4', 'ada_lovelace', 'tab', '{"total": 7}');
SELECT throws_ok($$SELECT cdl.start_workflow_instance('u4', 'ada_lovelace', 'order')$$, 'CD007', NULL,
    'max_pending_per_user and concurrent_workflows are enforced');
SELECT results_eq($$SELECT (SELECT count(*)::int FROM cdl.workflow_instances WHERE user_id = 'u4'),
                           (SELECT count(*)::int FROM cdl.workflow_execution_log WHERE user_id = 'u4')$$,
    $$VALUES (1, 1)$$, 'and a start they refuse writes neither an instance nor a log row');
SELECT throws_ok($$SELECT cdl.start_workflow_instance('u4', 'ada_lovelace', 'nothing')$$, 'CD002', NULL,
    'an unknown workflow');

-- 9. rendering
SELECT is(cdl.render_workflow_prompt((SELECT id FROM cdl.workflow_instances WHERE user_id = 'u4')), 'Tab at 7',
    'the caller''s initial context wins over literals');
SELECT cdl.process_workflow_message('u5', 'ada_lovelace', 'I''ll have an ale');
SELECT is(cdl.render_workflow_prompt((SELECT id FROM cdl.workflow_instances WHERE user_id = 'u5')),
    'Ordered water for 3 coins {braces} {context.note}', 'placeholders filled, {{ }} literal, unknown left as written');
SELECT is(cdl.process_workflow_message('u5', 'ada_lovelace', 'hello') ->> 'system_prompt_addition', 'Menu: tea and gin',
    'the step carries the system prompt addition');
SELECT is(jsonb_array_length(cdl.get_user_active_workflows('u5')), 1, 'get_user_active_workflows');

-- 7. timeouts
SELECT is((SELECT timeout_at - started_at FROM cdl.workflow_instances WHERE user_id = 'u5'), interval '60 seconds',
    'the state''s timeout');
SELECT is((SELECT timeout_at - started_at FROM cdl.workflow_instances WHERE user_id = 'u4'), interval '300 seconds',
    'else the file''s default');
SELECT is(cdl.next_workflow_timeout(), (SELECT timeout_at FROM cdl.workflow_instances WHERE user_id = 'u5'),
    'next_workflow_timeout: the nearest deadline, which the worker waits for');
SELECT is(cdl.expire_workflow_timeouts(now() + interval '2 minutes'), 1, 'one instance is past its timeout');
SELECT is(cdl.expire_workflow_timeouts(now() + interval '2 minutes'), 0, 'and expires once');
SELECT results_eq($$SELECT status::text FROM cdl.workflow_instances WHERE user_id = 'u5'$$, $$VALUES ('timeout')$$,
    'status timeout');
SELECT results_eq($$SELECT message, details FROM cdl.workflow_execution_log l JOIN cdl.workflow_instances i ON i.id = l.instance_id
                    WHERE i.user_id = 'u5' AND l.event_type = 'workflow_timeout'$$,
    $$VALUES ('too slow', '{"action": "cancel_transaction"}'::jsonb)$$, 'logged with the timeout action and message');

-- 8. the log of a whole run
SELECT results_eq($$SELECT l.event_type::text, l.from_state::text, l.to_state::text
                    FROM cdl.workflow_execution_log l JOIN cdl.workflow_instances i ON i.id = l.instance_id
                    WHERE i.user_id = 'u2' ORDER BY l.id$$,
    $$VALUES ('workflow_started', NULL, 'pending'), ('transition_triggered', 'pending', 'paid'),
             ('workflow_completed', 'paid', NULL)$$, 'every step is logged, one row each');
SELECT results_eq($$SELECT l.details ->> 'action' FROM cdl.workflow_execution_log l JOIN cdl.workflow_instances i ON i.id = l.instance_id
                    WHERE i.user_id = 'u2' AND l.event_type IN ('workflow_started', 'transition_triggered') ORDER BY l.id$$,
    $$VALUES ('create_transaction'), ('complete_transaction')$$, 'with the action it ran');

-- cancel
SELECT is(cdl.cancel_workflow_instance((SELECT id FROM cdl.workflow_instances WHERE user_id = 'u4'), 'closing'), true, 'cancel');
SELECT is(cdl.cancel_workflow_instance((SELECT id FROM cdl.workflow_instances WHERE user_id = 'u4')), false, 'cancel twice');
SELECT throws_ok($$SELECT cdl.cancel_workflow_instance(-1)$$, 'CD002', NULL, 'cancel an unknown instance');

-- bad messages
SELECT throws_ok($$SELECT cdl.process_workflow_message('u1', 'ada_lovelace', NULL)$$, 'CD001', NULL, 'a NULL message');
SELECT throws_ok($$SELECT cdl.process_workflow_message('', 'ada_lovelace', 'hi')$$, 'CD001', NULL, 'an empty user id');
SELECT throws_ok($$SELECT cdl.process_workflow_message('u1', 'ada_lovelace', repeat('x', 10001))$$, 'CD007', NULL, 'a huge message');
SELECT throws_ok($$SELECT cdl.process_workflow_message('u1', 'nobody', 'hi')$$, 'CD002', NULL, 'an unknown character');

-- keywords by English stem, whole words, phrases, no stop words (issue 16)
SELECT cdl.import_character_from_json('{"identity": {"name": "Stem Bar"}}');
SELECT cdl.import_workflow_from_yaml('stem_bar', $${"workflows": {
  "beer": {"triggers": {"keywords": ["beer", "gin"]}, "states": {"poured": {"final": true}}, "initial_state": "poured"},
  "tab": {"triggers": {"keywords": ["tab", "no", "pay later"]}, "states": {"open": {"final": true}}, "initial_state": "open"},
  "request": {"triggers": {"keywords": ["menu"], "context_required": [{"type": "message_type", "value": "user_request"}]},
              "states": {"shown": {"final": true}}, "initial_state": "shown"}}}$$);
SELECT is(pg_temp.names(cdl.check_workflow_triggers('stem_bar', 'Two BEERS for my friend', 'u1')), 'beer',
    'a keyword matches its plural (by stem)');
SELECT is(cdl.check_workflow_triggers('stem_bar', 'Two BEERS for my friend', 'u1') #>> '{0,keyword}', 'beer',
    'and names the keyword as written');
SELECT is(cdl.check_workflow_triggers('stem_bar', 'let''s begin', 'u1'), '[]'::jsonb, 'gin is not in begin');
SELECT is(cdl.check_workflow_triggers('stem_bar', 'book a table', 'u1'), '[]'::jsonb, 'tab is not table');
SELECT is(pg_temp.names(cdl.check_workflow_triggers('stem_bar', 'No, thanks', 'u1')), 'tab',
    'no stop words: "no" is a keyword like any other');
SELECT is(pg_temp.names(cdl.check_workflow_triggers('stem_bar', 'I''m paying later', 'u1')), 'tab',
    'a phrase matches its words in order, by stem');
SELECT is(cdl.check_workflow_triggers('stem_bar', 'later I pay', 'u1'), '[]'::jsonb, 'and not out of order');
SELECT is(pg_temp.names(cdl.check_workflow_triggers('stem_bar', 'the menu', 'u1')), 'request',
    'a message is a user_request without any request context');
SELECT is(cdl.check_workflow_triggers('stem_bar', 'the menu', 'u1', '{"message_type": "system"}'), '[]'::jsonb,
    'the caller''s context overrides the built-in facts');
SELECT throws_ok($$SELECT cdl.check_workflow_triggers('stem_bar', 'the menu', 'u1', '[1]')$$, 'CD001', NULL,
    'a request_context that is not an object');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('stem_bar', '{"workflows": {"x": {"triggers": {"keywords": ["?!"]},
    "states": {"s": {"final": true}}, "initial_state": "s"}}}')$$, '%keywords[0]: keyword "?!" has no word to match',
    'a keyword without a word is refused');

-- LLM verdicts fall through to the next candidate (issue 16)
SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"first_match"', '"best_match"'));
SELECT is(cdl.process_workflow_message('u7', 'ada_lovelace', 'surprise me with gin') ->> 'workflow_name', 'custom',
    'the first candidate needs the LLM');
SELECT is(cdl.process_workflow_message('u7', 'ada_lovelace', 'surprise me with gin', false, '{}', '{"custom": false}')
          - 'instance_id' - 'prompt_injection' - 'system_prompt_addition' - 'context',
    '{"action": "started", "workflow_name": "order", "state": "pending", "status": "active"}'::jsonb,
    'declined, the next candidate starts');
SELECT is(cdl.process_workflow_message('u8', 'ada_lovelace', 'surprise me', false, '{}', '{"custom": false}'),
    '{"action": "none"}'::jsonb, 'declined with nothing after it, nothing starts');
SELECT is(cdl.process_workflow_message('u8', 'ada_lovelace', 'surprise me', true, '{}', '{"custom": true}') ->> 'action',
    'started', 'a verdict of true starts it');
SELECT throws_ok($$SELECT cdl.process_workflow_message('u8', 'ada_lovelace', 'hi', false, '{}', '{"custom": "yes"}')$$,
    'CD001', NULL, 'a verdict that is not a boolean');
SELECT throws_ok($$SELECT cdl.process_workflow_message('u8', 'ada_lovelace', 'hi', false, '{}', '[true]')$$,
    'CD001', NULL, 'verdicts that are not an object');
SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow());

-- the app role runs the engine
SET LOCAL ROLE cdlstore_app;
SELECT is(cdl.process_workflow_message('u9', 'ada_lovelace', 'give me tea') ->> 'action', 'started', 'as cdlstore_app');
RESET ROLE;

-- the log has no foreign key (migration 0028): every row names an instance, and the rows of a
-- deleted instance go with it, as ON DELETE CASCADE did
SELECT is((SELECT count(*)::int FROM cdl.workflow_execution_log l
           WHERE NOT EXISTS (SELECT FROM cdl.workflow_instances i WHERE i.id = l.instance_id)), 0,
    'every log row written above names an instance');
DELETE FROM cdl.workflow_instances WHERE user_id = 'u9';
SELECT is((SELECT count(*)::int FROM cdl.workflow_execution_log WHERE user_id = 'u9'), 0,
    'a deleted instance takes its log rows with it');
-- nor have instances foreign keys: they name a workflow of their character, and a deleted
-- workflow takes them (and they their log rows); its foreign key refused that deletion before
SELECT is((SELECT count(*)::int FROM cdl.workflow_instances i
           WHERE NOT EXISTS (SELECT FROM cdl.character_workflows w
                             WHERE w.id = i.workflow_id AND w.character_id = i.character_id)), 0,
    'every instance written above names a workflow of its own character');
DELETE FROM cdl.character_workflows w
WHERE w.id IN (SELECT i.workflow_id FROM cdl.workflow_instances i WHERE i.user_id = 'u8');
SELECT is((SELECT count(*)::int FROM cdl.workflow_instances WHERE user_id = 'u8')
          + (SELECT count(*)::int FROM cdl.workflow_execution_log WHERE user_id = 'u8'), 0,
    'a deleted workflow takes its instances and their log rows');

SELECT * FROM finish();
ROLLBACK;
