-- The tenant guard costs less per call, with the same rules (issue 15: where the time of a
-- character load or field write went). Both functions are inlined into every API call and every
-- insert, so what they cost is paid on every call:
-- - check_tenant_name: '^...{0,99}$' compiled to a hundred regex states that each match walked
--   anew (about a third of the whole guard); the same rule is a '*' match and a length check.
-- - default_tenant (the tenant column's default): its fallback, resolving the tenant outside any
--   API call, was the whole inlined guard, set up on every INSERT although the call's tenant is
--   always recorded by then; it is now one call to a function that is not inlined.

CREATE OR REPLACE FUNCTION cdlstore_internal.check_tenant_name(tenant text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN length(tenant) <= 100 AND tenant ~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]*$' THEN tenant
                ELSE cdlstore_internal.tenant_error('CD001', tenant) END
$$;

-- current_tenant() behind a call that the planner does not inline (a pinned search_path).
CREATE FUNCTION cdlstore_internal.resolved_tenant()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN cdlstore_internal.current_tenant();
END
$$;

CREATE OR REPLACE FUNCTION cdlstore_internal.default_tenant()
RETURNS text
LANGUAGE sql VOLATILE  -- as current_tenant, so that it is inlined
AS $$
    SELECT nullif(coalesce(cdlstore_internal.call_tenant(), cdlstore_internal.resolved_tenant()), '*')
$$;
