-- cdl.get_workflow_graph: the current workflows of a character as graphs, for diagrams.
BEGIN;
SELECT plan(10);

SELECT cdl.import_character_from_json(tests.sample_cdl());
SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow());
CREATE TEMP TABLE g AS SELECT cdl.get_workflow_graph('ada_lovelace') AS g;
SELECT is((SELECT jsonb_path_query_array(g, '$[*].workflow_name') FROM g), '["order", "strict", "custom", "tab"]',
    'every current workflow, in file order');
SELECT is((SELECT jsonb_path_query_array(g, '$[0].states[*].name') FROM g), '["pending", "paid", "cancelled"]',
    'its states in file order');
SELECT is((SELECT g #> '{0,transitions,0}' FROM g),
    '{"from_state": "pending", "to_state": "paid", "patterns": ["here you go", "\\d+ coins"], "keywords": ["pay"],
      "action": "complete_transaction"}', 'a transition with its triggers and action');
SELECT is((SELECT g #> '{0,states,0}' FROM g),
    '{"name": "pending", "final": false, "timeout_seconds": 60, "timeout_action": "cancel_transaction"}',
    'a state with its own timeout');
SELECT is((SELECT g #>> '{3,states,0,timeout_seconds}' FROM g), '300', 'or the file''s default');
SELECT is((SELECT g #> '{0,states,1,timeout_seconds}' FROM g), 'null', 'a final state has none');
SELECT is(jsonb_array_length(cdl.get_workflow_graph('ada_lovelace', 'tab')), 1, 'one workflow by name');
SELECT throws_ok($$SELECT cdl.get_workflow_graph('ada_lovelace', 'nothing')$$, 'CD002', NULL, 'an unknown workflow');
SELECT throws_ok($$SELECT cdl.get_workflow_graph('nobody')$$, 'CD002', NULL, 'an unknown character');
SELECT throws_ok($$SELECT cdl.get_workflow_graph('ada_lovelace', repeat('w', 101))$$, 'CD001', NULL,
    'a workflow name too long');
SELECT * FROM finish();
ROLLBACK;
