-- The workflow import in two steps: _validate_workflow_file raises every CD001 of a file and
-- writes nothing; _store_workflow_file stores the normalized file it returns.
BEGIN;
SELECT plan(68);

-- One bad file per CD001 of the format: a change of the sample (from, to) or a whole file.
CREATE TEMP TABLE bad_files (file json, problem text);
INSERT INTO bad_files
SELECT tests.sample_workflow(c.from_text, c.to_text), c.problem FROM (VALUES
    ('"workflows": {', '"workflows": [], "x": {', 'workflows: must be a mapping of at least one workflow'),
    ('"version": "1.0"', '"version": "1.0.0.0.0.0.0.0.0.0.0.0.0"', 'version is 25 characters long; at most 20 are allowed'),
    ('"config": {', '"config": [], "x": {', 'config: must be a mapping'),
    ('"workflow_priority": "first_match"', '"workflow_priority": "random"', 'config.workflow_priority: "random" is not first_match, best_match or all_matches'),
    ('"concurrent_workflows": false', '"concurrent_workflows": "no"', 'config.concurrent_workflows: must be true or false'),
    ('"max_pending_per_user": 1', '"max_pending_per_user": 0', 'config.max_pending_per_user: must be a number of at least 1'),
    ('"default_timeout_seconds": 300', '"default_timeout_seconds": -1', 'config.default_timeout_seconds: must be a positive number of seconds, at most 2147483647'),
    ('"lookup_tables": {"prices": {"tea": 2, "gin": 5}}', '"lookup_tables": [1]', 'lookup_tables: must be a mapping of tables'),
    ('"lookup_tables": {"prices": {"tea": 2, "gin": 5}}', '"lookup_tables": {"prices": 3}', 'lookup_tables.prices: must be a mapping of key to value'),
    ('"strict": {', '"order": {', 'workflows.order: a workflow name appears twice'),
    ('"tab": {', '"tab": 1, "tub": {', 'workflows.tab: must be a mapping'),
    ('"tab": {', '"": {', 'workflows.: a workflow name is 1 to 100 characters'),
    ('"states": {"brewing": {"final": true}}', '"states": []', 'workflows.custom.states: must be a mapping of at least one state'),
    ('"states": {"brewing": {"final": true}}', '"states": {}', 'workflows.custom.states: must be a mapping of at least one state'),
    ('"states": {"brewing": {"final": true}}', '"states": {"brewing": {"final": true}, "brewing": {"final": true}}', 'workflows.custom.states: state names are 1 to 100 characters, each given once'),
    ('"initial_state": "brewing"', '"initial_state": "boiling"', 'workflows.custom.initial_state: state "boiling" does not exist'),
    ('"triggers": {"patterns": ["surprise me"],', '"triggers": [], "x": {"patterns": ["surprise me"],', 'workflows.custom.triggers: must be a mapping'),
    ('"triggers": {"patterns": ["strictly (\\w+)"]}', '"triggers": {"patterns": "strictly"}', 'workflows.strict.triggers.patterns: must be a list'),
    ('"triggers": {"patterns": ["strictly (\\w+)"]}', '"triggers": {"patterns": [""]}', 'workflows.strict.triggers.patterns[0]: must be a non-empty string'),
    ('"triggers": {"patterns": ["strictly (\\w+)"]}', '"triggers": {"patterns": ["(a"]}', 'workflows.strict.triggers.patterns[0]: regex "(a" does not compile: a ( is not closed'),
    ('"triggers": {"patterns": ["strictly (\\w+)"]}', '"triggers": {"keywords": ["!!"]}', 'workflows.strict.triggers.keywords[0]: keyword "!!" has no word to match'),
    ('"triggers": {"patterns": ["strictly (\\w+)"]}', '"triggers": {"keywords": ["' || repeat('k', 201) || '"]}', 'workflows.strict.triggers.keywords[0]: a keyword is at most 200 characters'),
    ('"triggers": {"patterns": ["strictly (\\w+)"]}', '"triggers": {}', 'workflows.strict.triggers: needs at least one pattern or keyword'),
    ('"context_required": [{"type": "channel", "value": "bar"}]', '"context_required": [{"value": "bar"}]', 'workflows.tab.triggers.context_required: must be a list of {type, value}'),
    ('"llm_validation": {"enabled": true, "prompt": "Is \"{message}\" a custom request?"}', '"llm_validation": {"enabled": true}', 'workflows.custom.triggers.llm_validation: enabled validation needs a prompt'),
    ('"on_trigger": {"extract_context": {"total": {"from": "literal", "value": 0}}}', '"on_trigger": {"extract_context": [1]}', 'workflows.tab.on_trigger.extract_context: must be a mapping'),
    ('"on_trigger": {"extract_context": {"total": {"from": "literal", "value": 0}}}', '"on_trigger": {"extract_context": {"": {"from": "literal", "value": 0}}}', 'workflows.tab.on_trigger.extract_context: context keys are 1 to 100 characters, each given once'),
    ('"on_trigger": {"extract_context": {"total": {"from": "literal", "value": 0}}}', '"on_trigger": {"extract_context": {"total": 0}}', 'workflows.tab.on_trigger.extract_context.total: must be a mapping'),
    ('"from": "message"', '"from": "telepathy"', 'workflows.custom.on_trigger.extract_context.what: unknown extractor kind "telepathy" (known: pattern_group, lookup, message, literal)'),
    ('"transform": "lowercase"', '"transform": "titlecase"', 'workflows.order.on_trigger.extract_context.drink.transform: unknown transform "titlecase" (known: lowercase, uppercase)'),
    ('"note": {"from": "pattern_group", "group": 5}', '"note": {"from": "pattern_group", "group": "five"}', 'workflows.order.on_trigger.extract_context.note.group: must be a group number'),
    ('"table": "prices"', '"table": "menu"', 'workflows.order.on_trigger.extract_context.price.table: lookup table "menu" does not exist'),
    ('"key": "{drink}"', '"key": "{note}"', 'workflows.order.on_trigger.extract_context.price.key: placeholder {note} is not extracted before it'),
    ('"custom": {"from": "literal", "value": {"a": [1]}}', '"custom": {"from": "literal"}', 'workflows.custom.on_trigger.extract_context.custom: a literal needs a value'),
    ('"validation": [{"field": "answer", "rule": "in_list", "values": ["yes"], "on_fail": "reject"}]', '"validation": {}', 'workflows.strict.on_trigger.validation: must be a list of rules'),
    ('"validation": [{"field": "answer", "rule": "in_list", "values": ["yes"], "on_fail": "reject"}]', '"validation": [{"field": "question", "rule": "in_list", "values": ["yes"]}]', 'workflows.strict.on_trigger.validation[0]: a rule is {field: an extracted key, rule: in_list, values: [...], on_fail: use_default | reject}'),
    ('"action": "create_transaction"', '"action": "explode"', 'workflows.order.on_trigger.action: unknown action "explode"%'),
    ('"states": {"brewing": {"final": true}}', '"states": {"brewing": 1}', 'workflows.custom.states.brewing: must be a mapping'),
    ('"closed": {"final": true}', '"closed": {"final": true, "transitions": {}}', 'workflows.tab.states.closed.transitions: must be a list'),
    ('"closed": {"final": true}', '"closed": {}', 'workflows.tab.states.closed: a state that is not final needs a way out (transitions)'),
    ('"to_state": "paid"', '"to_state": "payed"', 'workflows.order.states.pending.transitions[0].to_state: state "payed" does not exist'),
    ('"patterns": ["here you go", "\\d+ coins"]', '"patterns": ["here you go", "(?=x)"]', 'workflows.order.states.pending.transitions[0].triggers.patterns[1]: regex "(?=x)" uses a lookahead or lookbehind constraint%'),
    ('"keywords": ["cancel", "pay later"]', '"keywords": ["cancel", "--"]', 'workflows.order.states.pending.transitions[1].triggers.keywords[1]: keyword "--" has no word to match'),
    ('"action": "cancel_transaction"}]', '"action": "shrug"}]', 'workflows.order.states.pending.transitions[1].action: unknown action "shrug"%'),
    ('"duration_seconds": 60', '"duration_seconds": "soon"', 'workflows.order.states.pending.timeout.duration_seconds: must be a positive number of seconds, at most 2147483647'),
    ('"action": "cancel_transaction", "message": "too slow"', '"action": "sulk", "message": "too slow"', 'workflows.order.states.pending.timeout.action: unknown action "sulk"%'),
    ('"timeout": {"duration_seconds": 60, "action": "cancel_transaction", "message": "too slow"}', '"timeout": 60', 'workflows.order.states.pending.timeout: must be a mapping'),
    ('Serve the {context.drink}', 'Serve the {context.glass}', 'workflows.order.states.paid.prompt_injection: placeholder {context.glass} is not provided by any extractor or literal'),
    ('"system_prompt_addition": "Menu: tea and gin"', '"system_prompt_addition": "Menu for {context.guest}"', 'workflows.order.system_prompt_addition: placeholder {context.guest} is not provided by any extractor or literal'),
    ('"cancelled": {"final": true}}', '"cancelled": {"final": true}, "limbo": {"final": true}}', 'workflows.order.states.limbo: cannot be reached from the initial state pending')
) AS c (from_text, to_text, problem);
INSERT INTO bad_files VALUES ('[1]', 'a workflow file must be a mapping, got array'), (NULL, 'a workflow file must be a mapping, got NULL');

SELECT is((SELECT count(*) FROM bad_files WHERE file::text = tests.sample_workflow_text()), 0::bigint,
          'every bad file differs from the sample (each change applies)');

CREATE TEMP TABLE writes_before AS
SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) AS n FROM pg_stat_xact_user_tables WHERE schemaname = 'cdl';

-- every CD001 of the format is raised by the validation step, naming the place
SELECT throws_like(format('SELECT cdl._validate_workflow_file(%L::json)', b.file), b.problem, 'validation: ' || b.problem)
FROM bad_files b;

-- the validation of a good file returns it normalized and writes nothing, not even in a subtransaction
SELECT is(cdl._validate_workflow_file(tests.sample_workflow()) ->> 'content_hash',
          md5(tests.sample_workflow()::jsonb::text), 'the normalized file carries the hash of the file');
SELECT is((SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_xact_user_tables WHERE schemaname = 'cdl'),
          (SELECT n FROM writes_before), 'the validation step wrote no row of cdl, for good files and bad');
SELECT is(json_typeof(cdl._validate_workflow_file(tests.sample_workflow()) -> 'workflows'), 'array',
          'the normalized workflows are a list');
SELECT results_eq($$SELECT w ->> 'name' FROM json_array_elements(cdl._validate_workflow_file(tests.sample_workflow()) -> 'workflows') AS w$$,
                  $$VALUES ('order'), ('strict'), ('custom'), ('tab')$$, 'in the order of the file');
SELECT is((cdl._validate_workflow_file(tests.sample_workflow('"config": {"workflow_priority": "first_match", "concurrent_workflows": false,
             "max_pending_per_user": 1, "default_timeout_seconds": 300}', '"config": {"workflow_priority": "best_match"}')) -> 'config')::jsonb,
          '{"workflow_priority": "best_match", "concurrent_workflows": false, "max_pending_per_user": 1, "default_timeout_seconds": null}'::jsonb,
          'config defaults are filled in');

-- the store step stores a normalized file for a character
SELECT cdl.import_character_from_json(tests.sample_cdl());
CREATE TEMP TABLE normalized AS SELECT cdl._validate_workflow_file(tests.sample_workflow()) AS file;
SELECT ok(cdl._store_workflow_file((SELECT id FROM cdl.characters), (SELECT file FROM normalized)) > 0, 'the store step stores it');
SELECT is(cdl._store_workflow_file((SELECT id FROM cdl.characters), (SELECT file FROM normalized)),
          (SELECT id FROM cdl.workflow_files WHERE is_current), 'storing the same file again changes nothing');
SELECT is(cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow()),
          (SELECT id FROM cdl.workflow_files WHERE is_current), 'the import of that file finds it stored');
SELECT results_eq($$SELECT workflow_name::text, sort_order FROM cdl.character_workflows WHERE is_current ORDER BY sort_order$$,
    $$VALUES ('order', 1), ('strict', 2), ('custom', 3), ('tab', 4)$$, 'the workflows in file order');
SELECT results_eq($$SELECT t.trigger_type::text, t.trigger_value, t.sort_order::integer FROM cdl.workflow_triggers t
                    JOIN cdl.character_workflows w ON w.id = t.workflow_id WHERE w.workflow_name = 'order' ORDER BY 1, 3$$,
    $$VALUES ('keyword_match', 'tea', 1), ('keyword_match', 'gin', 2),
             ('pattern_match', 'i''?ll have (a |an )?(\w+)', 1), ('pattern_match', 'give me (a |an )?(\w+)', 2)$$,
    'its start patterns and keywords');
SELECT results_eq($$SELECT s.state_name::text, s.sort_order FROM cdl.workflow_states s
                    JOIN cdl.character_workflows w ON w.id = s.workflow_id WHERE w.workflow_name = 'order' ORDER BY s.sort_order$$,
    $$VALUES ('pending', 1), ('paid', 2), ('cancelled', 3)$$, 'its states in file order');
SELECT is((SELECT config FROM cdl.workflow_files WHERE is_current), (SELECT (file -> 'config')::jsonb FROM normalized),
          'the file row holds the normalized config');
SELECT is((SELECT entries FROM cdl.workflow_lookup_tables l JOIN cdl.workflow_files f ON f.id = l.file_id
           WHERE f.is_current AND l.table_name = 'prices'), '{"tea": 2, "gin": 5}'::jsonb, 'and its lookup tables');

-- the public function validates before it looks for the character
SELECT throws_ok($$SELECT cdl.import_workflow_from_yaml('nobody', '[1]')$$, 'CD001', NULL,
                 'a bad file for an unknown character: CD001 (validated before the lookup)');
SELECT throws_ok($$SELECT cdl.import_workflow_from_yaml('nobody', tests.sample_workflow())$$, 'CD002', NULL,
                 'a good file for an unknown character: CD002');

SELECT * FROM finish();
ROLLBACK;
