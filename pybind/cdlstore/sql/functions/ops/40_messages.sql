-- Conversation messages of agent playground instances.

CREATE OR REPLACE FUNCTION ops.append_message(
    instance_id text, role text, content text, tool_calls jsonb DEFAULT NULL, metadata jsonb DEFAULT '{}',
    agent_id text DEFAULT NULL, is_error boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
BEGIN
    PERFORM cdlstore_internal.input_text(instance_id, 'instance_id'),
            cdlstore_internal.input_text(agent_id, 'agent_id', 200, false);
    IF role IS NULL OR role NOT IN ('system', 'user', 'assistant', 'tool') THEN
        RAISE EXCEPTION 'invalid role %', coalesce(quote_literal(role), 'NULL') USING ERRCODE = 'CD001',
            DETAIL = 'Allowed: system, user, assistant, tool.';
    END IF;
    IF content IS NULL OR metadata IS NULL OR jsonb_typeof(metadata) <> 'object'
       OR (tool_calls IS NOT NULL AND jsonb_typeof(tool_calls) NOT IN ('array', 'object')) THEN
        RAISE EXCEPTION 'content is required, metadata must be an object, tool_calls a list or object'
            USING ERRCODE = 'CD001';
    END IF;
    INSERT INTO ops.agent_playground_messages (instance_id, agent_id, role, content, tool_calls, is_error, metadata)
    VALUES (instance_id, agent_id, role, content, tool_calls, coalesce(is_error, false), metadata)
    RETURNING message_id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION ops.append_message(text, text, text, jsonb, jsonb, text, boolean) IS
    'Append a message (role system, user, assistant or tool) to a conversation. Returns its id.';

CREATE OR REPLACE FUNCTION ops.get_conversation(instance_id text, max_messages integer DEFAULT 100, before bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ops, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdlstore_internal.check_page(max_messages);
    -- the newest messages before `before`, returned oldest first
    RETURN (SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.message_id), '[]')
            FROM (SELECT * FROM ops.agent_playground_messages m
                  WHERE m.instance_id = instance_id AND (before IS NULL OR m.message_id < before)
                  ORDER BY m.message_id DESC LIMIT max_messages) AS m);
END
$$;

COMMENT ON FUNCTION ops.get_conversation(text, integer, bigint) IS
    'The last max_messages messages of a conversation (before a message id, to page back), oldest first.';
