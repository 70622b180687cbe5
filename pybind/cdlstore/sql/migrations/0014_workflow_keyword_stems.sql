-- Workflow keywords match by English stem (as full-text search does, with no stop words, so
-- that "no" and "the" are keywords like any other); a workflow's and a transition's keywords
-- are stored as one tsquery. Patterns run one by one as checked, so the combined pattern and
-- keyword regexes go. process_workflow_message gains llm_verdicts: its parameter list is
-- replaced in place (a new overload would make today's five-argument calls ambiguous), so the
-- old signature is dropped here and the function file creates the new one.

CREATE TEXT SEARCH DICTIONARY cdl.keyword_stem (TEMPLATE = pg_catalog.snowball, Language = english);
COMMENT ON TEXT SEARCH DICTIONARY cdl.keyword_stem IS 'English Snowball stems without a stop-word list.';
CREATE TEXT SEARCH CONFIGURATION cdl.keywords (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION cdl.keywords
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH cdl.keyword_stem;
COMMENT ON TEXT SEARCH CONFIGURATION cdl.keywords IS 'Workflow keywords and messages: words by English stem, no stop words.';

ALTER TABLE cdl.character_workflows ADD COLUMN keyword_query tsquery;
ALTER TABLE cdl.workflow_transitions ADD COLUMN keyword_query tsquery;

UPDATE cdl.character_workflows AS w
SET keyword_query = (SELECT string_agg('(' || phraseto_tsquery('cdl.keywords', t.trigger_value)::text || ')', ' | '
                                       ORDER BY t.sort_order)::tsquery
                     FROM cdl.workflow_triggers t
                     WHERE t.workflow_id = w.id AND t.trigger_type = 'keyword_match'
                       AND to_tsvector('cdl.keywords', t.trigger_value) <> ''::tsvector);
UPDATE cdl.workflow_transitions AS t
SET keyword_query = (SELECT string_agg('(' || phraseto_tsquery('cdl.keywords', k)::text || ')', ' | ')::tsquery
                     FROM unnest(t.keywords) AS k
                     WHERE to_tsvector('cdl.keywords', k) <> ''::tsvector);

ALTER TABLE cdl.character_workflows DROP COLUMN keyword_regex;
ALTER TABLE cdl.workflow_transitions DROP COLUMN keyword_regex, DROP COLUMN pattern_regex;

DROP FUNCTION IF EXISTS cdl.process_workflow_message(varchar, varchar, text, boolean, jsonb);
-- helpers whose parameters changed (the function files create the new ones)
DROP FUNCTION IF EXISTS cdl._workflow_regexes(text[], text[]);
DROP FUNCTION IF EXISTS cdl._match_lists(text, text, text, text[]);
DROP FUNCTION IF EXISTS cdl._enter_state(bigint, text, text, text, timestamptz);
DROP FUNCTION IF EXISTS cdl._start(text, bigint, bigint, jsonb, jsonb);  -- now returns the step
