-- A workflow file (as the json Python makes of YAML) exercising every rule of the format.
CREATE OR REPLACE FUNCTION tests.sample_workflow_text()
RETURNS text
LANGUAGE sql
AS $$
    SELECT $json${
  "version": "1.0", "character": "ada_lovelace", "description": "test bar",
  "workflows": {
    "order": {
      "description": "an order",
      "triggers": {"patterns": ["i'?ll have (a |an )?(\\w+)", "give me (a |an )?(\\w+)"],
                   "keywords": ["tea", "gin"]},
      "states": {
        "pending": {
          "prompt_injection": "Ordered {context.drink} for {context.price} coins {{braces}} {context.note}",
          "transitions": [
            {"to_state": "paid", "triggers": {"patterns": ["here you go", "\\d+ coins"], "keywords": ["pay"]},
             "action": "complete_transaction"},
            {"to_state": "cancelled", "triggers": {"keywords": ["cancel", "pay later"]}, "action": "cancel_transaction"}],
          "timeout": {"duration_seconds": 60, "action": "cancel_transaction", "message": "too slow"}},
        "paid": {"final": true, "prompt_injection": "Serve the {context.drink}"},
        "cancelled": {"final": true}},
      "initial_state": "pending",
      "on_trigger": {
        "action": "create_transaction",
        "extract_context": {
          "drink": {"from": "pattern_group", "group": 2, "default": "water", "transform": "lowercase"},
          "price": {"from": "lookup", "table": "prices", "key": "{drink}", "default": 3},
          "note": {"from": "pattern_group", "group": 5}},
        "validation": [{"field": "drink", "rule": "in_list", "values": ["TEA", "gin", "water"],
                        "on_fail": "use_default", "default": "water"}]},
      "system_prompt_addition": "Menu: tea and gin"},
    "strict": {
      "triggers": {"patterns": ["strictly (\\w+)"]},
      "states": {"done": {"final": true}},
      "initial_state": "done",
      "on_trigger": {"extract_context": {"answer": {"from": "pattern_group"}},
                     "validation": [{"field": "answer", "rule": "in_list", "values": ["yes"], "on_fail": "reject"}]}},
    "custom": {
      "triggers": {"patterns": ["surprise me"],
                   "llm_validation": {"enabled": true, "prompt": "Is \"{message}\" a custom request?"}},
      "states": {"brewing": {"final": true}},
      "initial_state": "brewing",
      "on_trigger": {"extract_context": {"what": {"from": "message"},
                                         "custom": {"from": "literal", "value": {"a": [1]}}}}},
    "tab": {
      "triggers": {"keywords": ["tab"], "context_required": [{"type": "channel", "value": "bar"}]},
      "states": {"open": {"prompt_injection": "Tab at {context.total}",
                          "transitions": [{"to_state": "closed", "triggers": {"patterns": ["close"]}}]},
                 "closed": {"final": true}},
      "initial_state": "open",
      "on_trigger": {"extract_context": {"total": {"from": "literal", "value": 0}}}}
  },
  "lookup_tables": {"prices": {"tea": 2, "gin": 5}},
  "config": {"workflow_priority": "first_match", "concurrent_workflows": false,
             "max_pending_per_user": 1, "default_timeout_seconds": 300}
}$json$
$$;

-- The sample with one text replaced, as json (keeping the order of the file).
CREATE OR REPLACE FUNCTION tests.sample_workflow(from_text text DEFAULT '', to_text text DEFAULT '')
RETURNS json
LANGUAGE sql
AS $$
    SELECT CASE WHEN from_text = '' THEN tests.sample_workflow_text()
                ELSE replace(tests.sample_workflow_text(), from_text, to_text) END::json
$$;

CREATE OR REPLACE FUNCTION tests.workflow_counts()
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT jsonb_build_object(
        'files', (SELECT count(*) FROM cdl.workflow_files),
        'workflows', (SELECT count(*) FROM cdl.character_workflows),
        'states', (SELECT count(*) FROM cdl.workflow_states),
        'transitions', (SELECT count(*) FROM cdl.workflow_transitions),
        'triggers', (SELECT count(*) FROM cdl.workflow_triggers),
        'extractors', (SELECT count(*) FROM cdl.workflow_context_extractors),
        'instances', (SELECT count(*) FROM cdl.workflow_instances),
        'log', (SELECT count(*) FROM cdl.workflow_execution_log))
$$;
