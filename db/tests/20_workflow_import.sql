-- Workflow files: import, versions, and every kind of bad file.
BEGIN;
SELECT plan(45);

SELECT cdl.import_character_from_json(tests.sample_cdl());
SELECT ok(cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow()) > 0, 'a workflow file imports');
SELECT is(cdl.import_workflow_from_yaml('Ada Lovelace', tests.sample_workflow()),
    (SELECT id FROM cdl.workflow_files WHERE is_current), 'an unchanged file changes nothing');
SELECT results_eq($$SELECT workflow_name::text, sort_order FROM cdl.character_workflows WHERE is_current ORDER BY sort_order$$,
    $$VALUES ('order', 1), ('strict', 2), ('custom', 3), ('tab', 4)$$, 'workflows keep the order of the file');
SELECT results_eq($$SELECT context_key::text, extractor_type::text FROM cdl.workflow_context_extractors e
                    JOIN cdl.character_workflows w ON w.id = e.workflow_id WHERE w.workflow_name = 'order' ORDER BY e.sort_order$$,
    $$VALUES ('drink', 'pattern_group'), ('price', 'lookup_table'), ('note', 'pattern_group')$$,
    'extractors keep the order of the file');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #>> '{workflows,0,workflow_name}', 'order',
    'get_character_complete summarizes the workflows');

SELECT results_eq($$SELECT cdl._required_literal(p) FROM unnest(ARRAY['i''?ll have (a |an )?(.*)', '\d+ coins?',
                     'never ?mind', 'a|b', '(?x) a b', 'cafe\.com', 'x[abc]yz', 'ÉTÉ', '(.*) please', '[[:alpha:]]xyz', '[]a]bc']) WITH ORDINALITY AS u (p, i) ORDER BY i$$,
    $$VALUES ('ll have '), (' coin'), ('never'), (NULL), (NULL), ('cafe.com'), ('yz'), (NULL), (' please'), ('xyz'), ('bc')$$,
    'the text every match must contain: optional items, alternatives, options, classes, non-ASCII');

-- a running instance keeps its definition version
SELECT cdl.start_workflow_instance('u-keep', 'ada_lovelace', 'order');
SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"an order"', '"an order, changed"'));
SELECT results_eq($$SELECT workflow_name::text, definition_version FROM cdl.character_workflows WHERE is_current ORDER BY sort_order$$,
    $$VALUES ('order', 2), ('strict', 1), ('custom', 1), ('tab', 1)$$, 'only the changed workflow gets a new version');
SELECT is((SELECT w.definition_version FROM cdl.workflow_instances i JOIN cdl.character_workflows w ON w.id = i.workflow_id
           WHERE i.user_id = 'u-keep'), 1, 'the running instance keeps version 1');
SELECT is(cdl.process_workflow_message('u-keep', 'ada_lovelace', 'here you go') ->> 'status', 'completed',
    'and runs to its end on it');

-- bad files: our code, the place named, nothing written
CREATE TEMP TABLE before_counts AS SELECT tests.workflow_counts() AS counts;
SELECT throws_ok($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', '[1]')$$, 'CD001',
    'a workflow file must be a mapping, got array', 'not a mapping');
SELECT throws_ok($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', '{"workflows": {}}')$$, 'CD001',
    'workflows: must be a mapping of at least one workflow', 'no workflows');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"strictly (\\w+)"', '"strictly ((\\w+)"'))$$,
    'workflows.strict.triggers.patterns[0]: regex "strictly ((%" does not compile: %',
    'a regex that does not compile');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"strictly (\\w+)"', '"(a)\\1"'))$$,
    'workflows.strict.triggers.patterns[0]: regex "(a)%" uses the back-reference %', 'a back-reference is refused');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"strictly (\\w+)"', '"((a?){255}){5}x"'))$$,
    '%patterns[0]: regex "((a?){255}){5}x" repeats a group with {255}; a group may be counted at most 10 times',
    'a group counted more than 10 times is refused (this one takes a minute to compile)');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"strictly (\\w+)"', '"((\\w*\\s){1,10}){1,10}"'))$$,
    '%patterns[0]: regex "((\\w*\\s){1,10}){1,10}" repeats a group with {1,10} and that group holds a counted repetition itself%',
    'nested counted repetitions are refused');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"strictly (\\w+)"', to_json(repeat('a', 1001))::text))$$,
    '%patterns[0]: regex "aaa%" is 1001 characters long; at most 1000 are allowed', 'a pattern over 1000 characters is refused');
-- the accepted subset of ARE (issue 14): each hostile pattern refused at import, before it compiles
CREATE TEMP TABLE hostile (pattern text, problem text);
INSERT INTO hostile VALUES
    ('(?=.*(?=.*z))a', 'uses a lookahead or lookbehind constraint%'),
    ('b(?!c)', 'uses a lookahead or lookbehind constraint%'),
    ('(?<=a)b', 'uses a lookahead or lookbehind constraint%'),
    ('(?<!a)b', 'uses a lookahead or lookbehind constraint%'),
    ('(?x)((a?) {255}) {5}', 'uses embedded options%'),
    ('(?i)hello', 'uses embedded options%'),
    ('(?x) hello', 'uses embedded options%'),
    ('a(?#comment)b', 'uses embedded options or a comment%'),
    ('***=hello', 'starts with a director%'),
    ('***:hello', 'starts with a director%'),
    ('(\w*\s*){1,250}x', 'repeats a group with {1,250}; a group may be counted at most 10 times'),
    ('\w{0,255}\s{0,255}\w{0,255}\s{0,255}\w{0,255}', 'expands to 1020 or more items%'),
    ('((a|b){2}c){3}', 'repeats a group with {3} and that group holds a counted repetition itself%'),
    ('a)(b', 'does not compile: a ) closes no group');
CREATE TEMP TABLE refused AS
SELECT h.pattern, h.problem, cdlstore_internal.regex_problem(h.pattern, true) AS said, clock_timestamp() AS at FROM hostile h;
SELECT is((SELECT string_agg(pattern, ' ') FROM refused WHERE said IS NULL OR said NOT LIKE problem), NULL,
    'every hostile pattern is refused with its reason');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"strictly (\\w+)"', '"(?i)strictly"'))$$,
    '%patterns[0]: regex "(?i)strictly" uses embedded options%', 'an import names the place and the reason');
SELECT ok((SELECT max(at) - min(at) FROM refused) < interval '1 second' AND
          (SELECT max(at) FROM refused) - now() < interval '5 seconds',
    'and refusing all of them takes well under a second');
SELECT is(cdlstore_internal.regex_problem(p, true), NULL, 'an accepted pattern: ' || p)
FROM unnest(ARRAY['i''?ll have (a |an )?(.*)', '(.*) please', '\d+ coins?', 'here (you go|ya go|you are)',
                  'close (the |my )?tab', 'no thanks?', '[[:alpha:]]{2,40} (now|later){1,3}', '(?:a|b)+?c{2}',
                  '\mword\M', 'x{,', 'a{1}?b']) AS p;
SELECT is(cdlstore_internal.runnable_regex('a|b'), '(a|b)', 'the runtime runs the pattern as group 1');

SELECT throws_ok($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"to_state": "paid"', '"to_state": "payed"'))$$,
    'CD001', 'workflows.order.states.pending.transitions[0].to_state: state "payed" does not exist', 'an unknown to_state');
SELECT throws_ok($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"initial_state": "brewing"', '"initial_state": "boiling"'))$$,
    'CD001', 'workflows.custom.initial_state: state "boiling" does not exist', 'an unknown initial_state');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"from": "message"', '"from": "telepathy"'))$$,
    'workflows.custom.on_trigger.extract_context.what: unknown extractor kind "telepathy"%', 'an unknown extractor kind');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"transform": "lowercase"', '"transform": "titlecase"'))$$,
    'workflows.order.on_trigger.extract_context.drink.transform: unknown transform "titlecase"%', 'an unknown transform');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"action": "complete_transaction"', '"action": "explode"'))$$,
    'workflows.order.states.pending.transitions[0].action: unknown action "explode"%', 'an unknown action');
SELECT throws_ok($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"closed": {"final": true}', '"closed": {}'))$$,
    'CD001', 'workflows.tab.states.closed: a state that is not final needs a way out (transitions)', 'a state with no way out');
SELECT throws_ok($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"cancelled": {"final": true}}', '"cancelled": {"final": true}, "limbo": {"final": true}}'))$$,
    'CD001', 'workflows.order.states.limbo: cannot be reached from the initial state pending', 'an unreachable state');
SELECT throws_ok($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('Serve the {context.drink}', 'Serve the {context.glass}'))$$,
    'CD001', 'workflows.order.states.paid.prompt_injection: placeholder {context.glass} is not provided by any extractor or literal',
    'a placeholder nothing provides');
SELECT throws_ok($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"table": "prices"', '"table": "menu"'))$$,
    'CD001', 'workflows.order.on_trigger.extract_context.price.table: lookup table "menu" does not exist', 'an unknown lookup table');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"first_match"', '"random_match"'))$$,
    'config.workflow_priority:%', 'an unknown workflow_priority');
SELECT throws_like($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"rule": "in_list", "values": ["yes"]', '"rule": "in_set", "values": ["yes"]'))$$,
    'workflows.strict.on_trigger.validation[0]:%', 'an unknown validation rule');
SELECT throws_ok($$SELECT cdl.import_workflow_from_yaml('nobody', tests.sample_workflow())$$, 'CD002', NULL, 'an unknown character');
SELECT is(tests.workflow_counts(), (SELECT counts FROM before_counts), 'bad files wrote nothing');

SELECT lives_ok($$SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow('"strictly (\\w+)"', '"strictly ([[:alpha:]]{2,40}) (now|later){1,3}"'))$$,
    'counted repetitions of characters and small counts of groups are fine');
SELECT * FROM finish();
ROLLBACK;
