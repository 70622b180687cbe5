-- A character's current workflows as graphs (states, transitions, triggers, timeouts), for diagrams.

CREATE OR REPLACE FUNCTION cdl.get_workflow_graph(character_name text, workflow_name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_character bigint := cdl._character_id(character_name);
    result jsonb;
BEGIN
    IF length(workflow_name) > 100 THEN
        RAISE EXCEPTION 'workflow_name is longer than 100 characters' USING ERRCODE = 'CD001';
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'workflow_name', w.workflow_name, 'description', w.description,
               'definition_version', w.definition_version, 'initial_state', w.initial_state,
               'on_trigger_action', w.on_trigger_action,
               'triggers', (SELECT coalesce(jsonb_agg(jsonb_build_object('type', t.trigger_type, 'value', t.trigger_value)
                                                      ORDER BY t.trigger_type, t.sort_order), '[]')
                            FROM cdl.workflow_triggers t WHERE t.workflow_id = w.id),
               'states', (SELECT jsonb_agg(jsonb_build_object(
                                    'name', s.state_name, 'final', s.is_final,
                                    -- the state's own timeout, else the file's default (as the runtime does)
                                    'timeout_seconds', CASE WHEN NOT s.is_final
                                        THEN cdl._timeout_seconds(s.timeout_seconds, f.config) END,
                                    'timeout_action', s.timeout_action) ORDER BY s.sort_order)
                          FROM cdl.workflow_states s WHERE s.workflow_id = w.id),
               'transitions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                         'from_state', x.from_state, 'to_state', x.to_state, 'patterns', x.patterns,
                                         'keywords', x.keywords, 'action', x.action)
                                         ORDER BY s.sort_order, x.sort_order), '[]')
                               FROM cdl.workflow_transitions x
                               JOIN cdl.workflow_states s ON s.workflow_id = x.workflow_id AND s.state_name = x.from_state
                               WHERE x.workflow_id = w.id))
           ORDER BY w.sort_order), '[]')
    INTO result
    FROM cdl.character_workflows w
    JOIN cdl.workflow_files f ON f.id = w.file_id
    WHERE w.character_id = v_character AND w.is_current
      AND (workflow_name IS NULL OR w.workflow_name = workflow_name);
    IF workflow_name IS NOT NULL AND result = '[]' THEN
        RAISE EXCEPTION 'character % has no workflow %', quote_literal(character_name), quote_literal(workflow_name)
            USING ERRCODE = 'CD002';
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION cdl.get_workflow_graph(text, text) IS
    'The current workflows of a character (or the one named) as graphs: triggers, states (final, timeout), '
    'transitions (triggers, action), in file order. CD002 for an unknown character or workflow.';
