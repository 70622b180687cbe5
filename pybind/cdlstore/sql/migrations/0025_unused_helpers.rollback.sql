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
