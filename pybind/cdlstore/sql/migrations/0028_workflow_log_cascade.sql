-- The execution log's foreign key to its instance cost one referential check (an SPI query) per
-- log row, three per order -> pay conversation: about 3% of the instructions of every message.
-- Log rows are written only by the workflow functions (the app role has no privilege on the
-- table), each for an instance it has just inserted or holds locked in the same transaction;
-- the key's other half, ON DELETE CASCADE, is the statement trigger
-- workflow_instances_delete_log (cdl._delete_instance_log, functions/cdl/80_workflow_runtime.sql).
ALTER TABLE cdl.workflow_execution_log DROP CONSTRAINT workflow_execution_log_instance_id_fkey;

-- A message that starts a workflow read each current workflow's triggers (an aggregate over
-- cdl.workflow_triggers) and its extractors (cdl.workflow_context_extractors joined to the
-- workflow) on every call. The import now stores both lists on the workflow row as well, in
-- file order, so that the message reads one row per workflow; the two tables stay what the
-- graph and the tests read.
ALTER TABLE cdl.character_workflows
    ADD COLUMN patterns text[] NOT NULL DEFAULT '{}',
    ADD COLUMN required_literals text[] NOT NULL DEFAULT '{}',
    ADD COLUMN keywords text[] NOT NULL DEFAULT '{}',
    ADD COLUMN extractors jsonb NOT NULL DEFAULT '[]';
UPDATE cdl.character_workflows w
SET patterns = coalesce(t.patterns, '{}'), required_literals = coalesce(t.literals, '{}'),
    keywords = coalesce(t.keywords, '{}'), extractors = coalesce(e.extractors, '[]')
FROM cdl.character_workflows w2
LEFT JOIN LATERAL (
    SELECT array_agg(t.trigger_value ORDER BY t.sort_order) FILTER (WHERE t.trigger_type = 'pattern_match') AS patterns,
           array_agg(t.required_literal ORDER BY t.sort_order) FILTER (WHERE t.trigger_type = 'pattern_match') AS literals,
           array_agg(t.trigger_value ORDER BY t.sort_order) FILTER (WHERE t.trigger_type = 'keyword_match') AS keywords
    FROM cdl.workflow_triggers t WHERE t.workflow_id = w2.id) AS t ON true
LEFT JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object('key', e.context_key, 'type', e.extractor_type, 'config', e.config)
                     ORDER BY e.sort_order) AS extractors
    FROM cdl.workflow_context_extractors e WHERE e.workflow_id = w2.id) AS e ON true
WHERE w2.id = w.id;

-- their signatures change: the lists come from the workflow row (function files only create)
DROP FUNCTION IF EXISTS cdl._match_lists(text, tsvector, tsquery, text[], text[]);
DROP FUNCTION IF EXISTS cdl._extract_context(bigint, text, text[], jsonb);

-- An instance's two foreign keys (to its character, ON DELETE CASCADE, and to its workflow) were
-- two referential checks on every start. Instances are written only by cdl._start, which takes
-- the character from the workflow row it reads and locks that row FOR KEY SHARE, as the check
-- did (a character's deletion deletes its workflows, so it waits too); the cascade is the
-- statement trigger character_workflows_delete_instances. _start also takes the caller's count
-- of the user's active instances instead of counting them again.
ALTER TABLE cdl.workflow_instances
    DROP CONSTRAINT workflow_instances_character_id_fkey,
    DROP CONSTRAINT workflow_instances_workflow_id_fkey;
DROP FUNCTION IF EXISTS cdl._start(text, bigint, bigint, jsonb, jsonb);

-- A transition joined the state it enters, the workflow and the file on every move. Each
-- transition now carries what entering its state needs: whether it is final, its timeout (the
-- state's own, else the file's default), its prompt, and the workflow's name and system prompt.
ALTER TABLE cdl.workflow_transitions
    ADD COLUMN to_final boolean NOT NULL DEFAULT false,
    ADD COLUMN to_timeout_seconds numeric,
    ADD COLUMN to_prompt_injection text,
    ADD COLUMN workflow_name varchar(100),
    ADD COLUMN system_prompt_addition text;
UPDATE cdl.workflow_transitions t
SET to_final = st.is_final,
    to_timeout_seconds = coalesce(st.timeout_seconds, (f.config ->> 'default_timeout_seconds')::numeric),
    to_prompt_injection = st.prompt_injection, workflow_name = w.workflow_name,
    system_prompt_addition = w.system_prompt_addition
FROM cdl.workflow_states st, cdl.character_workflows w, cdl.workflow_files f
WHERE st.workflow_id = t.workflow_id AND st.state_name = t.to_state
  AND w.id = t.workflow_id AND f.id = w.file_id;
DROP FUNCTION IF EXISTS cdl._state_timeout(boolean, integer, jsonb, timestamptz);

-- A start joined the file (its limits and priority) and the initial state. The workflow row now
-- carries a copy of its file's config and what entering its initial state needs.
ALTER TABLE cdl.character_workflows
    ADD COLUMN config jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN initial_final boolean NOT NULL DEFAULT false,
    ADD COLUMN initial_timeout_seconds numeric,
    ADD COLUMN initial_prompt_injection text;
UPDATE cdl.character_workflows w
SET config = f.config, initial_final = st.is_final,
    initial_timeout_seconds = coalesce(st.timeout_seconds, (f.config ->> 'default_timeout_seconds')::numeric),
    initial_prompt_injection = st.prompt_injection
FROM cdl.workflow_files f, cdl.workflow_states st
WHERE f.id = w.file_id AND st.workflow_id = w.id AND st.state_name = w.initial_state;
