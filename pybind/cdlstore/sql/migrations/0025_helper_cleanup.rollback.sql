CREATE FUNCTION cdl._jsonb_set_path(doc jsonb, keys text[], value jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = cdl, pg_temp
AS $$
BEGIN
    FOR i IN 1 .. cardinality(keys) - 1 LOOP
        IF jsonb_typeof(doc #> keys[1:i]) IS DISTINCT FROM 'object' THEN
            doc := jsonb_set(doc, keys[1:i], '{}');
        END IF;
    END LOOP;
    RETURN jsonb_set(doc, keys, value);
END
$$;

COMMENT ON FUNCTION cdl._jsonb_set_path(jsonb, text[], jsonb) IS
    'jsonb_set that creates the missing objects on the way.';

DROP FUNCTION IF EXISTS cdl._log(bigint, text, cdl.workflow_event_enum, text, text, text, jsonb, cdl.workflow_status_enum);
CREATE FUNCTION cdl._log(
    p_instance_id bigint, p_user_id text, event cdl.workflow_event_enum, from_state text, to_state text,
    message text DEFAULT NULL, details jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = cdl, pg_temp
AS $$
BEGIN
    INSERT INTO cdl.workflow_execution_log (instance_id, user_id, event_type, from_state, to_state, message, details)
    VALUES (p_instance_id, p_user_id, event, from_state, to_state, message, coalesce(details, '{}'));
END
$$;
