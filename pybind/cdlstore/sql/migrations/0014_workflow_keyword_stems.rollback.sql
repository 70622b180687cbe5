DROP FUNCTION IF EXISTS cdl.process_workflow_message(varchar, varchar, text, boolean, jsonb, jsonb);
-- the helpers of this step (the function files of the step before bring back theirs)
DROP FUNCTION IF EXISTS cdl._match_lists(text, tsvector, tsquery, text[], text[]);
DROP FUNCTION IF EXISTS cdl._start(text, bigint, bigint, jsonb, jsonb);
DROP FUNCTION IF EXISTS cdl._state_status(boolean, text, text);
DROP FUNCTION IF EXISTS cdl._state_timeout(boolean, integer, jsonb, timestamptz);
DROP FUNCTION IF EXISTS cdl._step_json(text, bigint, text, text, cdl.workflow_status_enum, jsonb, text, text);
DROP FUNCTION IF EXISTS cdl._log_end(bigint, text, cdl.workflow_status_enum, text);
DROP FUNCTION IF EXISTS cdl._transition(bigint, text, bigint, text, text, tsvector);
DROP FUNCTION IF EXISTS cdl._check_verdicts(jsonb);
DROP FUNCTION IF EXISTS cdl._message_facts(jsonb);
DROP FUNCTION IF EXISTS cdl._wf_keywords(json, text);
DROP FUNCTION IF EXISTS cdl._keyword_query(text[]);
DROP FUNCTION IF EXISTS cdl._regex_grammar_problem(text);
DROP FUNCTION IF EXISTS cdl._regex_bound(text, integer, boolean, boolean);
DROP FUNCTION IF EXISTS cdl._regex_limit(text);
DROP FUNCTION IF EXISTS cdl._runnable_regex(text);
ALTER TABLE cdl.character_workflows ADD COLUMN keyword_regex text;
ALTER TABLE cdl.workflow_transitions ADD COLUMN pattern_regex text, ADD COLUMN keyword_regex text;
UPDATE cdl.character_workflows AS w
SET keyword_regex = (SELECT '\m(' || string_agg(regexp_replace(t.trigger_value, '([.^$*+?()\[\]{}|\\])', '\\\1', 'g'),
                                                '|' ORDER BY t.sort_order) || ')\M'
                     FROM cdl.workflow_triggers t WHERE t.workflow_id = w.id AND t.trigger_type = 'keyword_match');
UPDATE cdl.workflow_transitions AS t
SET pattern_regex = CASE WHEN cardinality(t.patterns) > 0
                         THEN '(?:' || array_to_string(t.patterns, ')|(?:') || ')' END,
    keyword_regex = (SELECT '\m(' || string_agg(regexp_replace(k, '([.^$*+?()\[\]{}|\\])', '\\\1', 'g'), '|') || ')\M'
                     FROM unnest(t.keywords) AS k);
ALTER TABLE cdl.workflow_transitions DROP COLUMN keyword_query;
ALTER TABLE cdl.character_workflows DROP COLUMN keyword_query;
DROP TEXT SEARCH CONFIGURATION cdl.keywords;
DROP TEXT SEARCH DICTIONARY cdl.keyword_stem;
