CREATE OR REPLACE FUNCTION cdlstore_internal.default_tenant()
RETURNS text
LANGUAGE sql VOLATILE  -- as current_tenant, so that it is inlined
AS $$
    SELECT nullif(coalesce(cdlstore_internal.call_tenant(), cdlstore_internal.current_tenant()), '*')
$$;

DROP FUNCTION cdlstore_internal.resolved_tenant();

CREATE OR REPLACE FUNCTION cdlstore_internal.check_tenant_name(tenant text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN tenant ~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$' THEN tenant
                ELSE cdlstore_internal.tenant_error('CD001', tenant) END
$$;
