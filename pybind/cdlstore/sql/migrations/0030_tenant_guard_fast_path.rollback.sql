-- Back to the guard of migration 0026: every case through one inlined expression.
CREATE OR REPLACE FUNCTION cdlstore_internal.current_tenant()
RETURNS text
LANGUAGE sql VOLATILE
AS $$
    SELECT set_config('cdlstore_internal.tenant', coalesce(
        -- a superuser is never bound (bind_tenant refuses one); other logins only in cdlstore_bound
        CASE WHEN current_setting('is_superuser') = 'off'
                  AND pg_catalog.pg_has_role(session_user, 'cdlstore_bound', 'MEMBER')
             THEN cdlstore_internal.bound_tenant() END,
        cdlstore_internal.unbound_tenant()), true)
$$;

DROP FUNCTION cdlstore_internal.full_tenant_check();
