CREATE OR REPLACE FUNCTION cdlstore_internal.unbound_tenant()
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN nullif(current_setting('cdlstore.tenant', true), '') IS NOT NULL THEN
            cdlstore_internal.check_tenant_name(current_setting('cdlstore.tenant', true))
        WHEN cdlstore_internal.is_administrator() THEN
            CASE WHEN current_setting('cdlstore.all_tenants', true) = 'on' THEN '*' ELSE 'default' END
        ELSE cdlstore_internal.tenant_error('CD009', NULL)
    END
$$;

DROP FUNCTION cdlstore_internal.unnamed_tenant();
