-- The tenant guard sets up less in every call, with the same rules (issue 15: loading a
-- character). current_tenant() is inlined into every API call, and every function of an
-- inlined expression is set up in full -- looked up and checked for EXECUTE -- in every
-- transaction that runs it, whether or not its branch is taken: about 2 k instructions a
-- function. The guard now has one short path: a session that names a well-formed tenant and is
-- a superuser or not in cdlstore_bound (an unbound login) gets the tenant it names. Every other
-- case -- a bound login, a malformed name, no name -- goes to one function the planner does not
-- inline, full_tenant_check(), which keeps the rules of migrations 0011 and 0026 as they were
-- and reads the binding itself instead of through bound_tenant(). The short path tests the
-- same name rule as check_tenant_name() (one pattern, at most 100 characters): a name it does
-- not take is judged by the full check.

CREATE FUNCTION cdlstore_internal.full_tenant_check()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bound text;
BEGIN
    -- a superuser is never bound (bind_tenant refuses one); other logins only in cdlstore_bound
    IF current_setting('is_superuser') = 'off'
       AND pg_catalog.pg_has_role(session_user, 'cdlstore_bound', 'MEMBER') THEN
        SELECT b.tenant INTO bound FROM cdlstore_internal.tenant_bindings AS b
        WHERE b.role_oid = quote_ident(session_user)::regrole::oid;
        IF bound <> nullif(current_setting('cdlstore.tenant', true), '') THEN
            PERFORM cdlstore_internal.tenant_error('CD008', current_setting('cdlstore.tenant', true));
        END IF;
        IF bound IS NOT NULL THEN
            RETURN bound;
        END IF;
    END IF;
    RETURN cdlstore_internal.unbound_tenant();  -- the named tenant (CD001 if malformed), or none
END
$$;

COMMENT ON FUNCTION cdlstore_internal.full_tenant_check() IS
    'The tenant of a session that the guard''s short path does not settle: a bound login''s '
    '(CD008 when it names another), else the named one (CD001 when malformed), else '
    'unnamed_tenant() (''default''/''*'' for an administrator, CD009 for anyone else).';

CREATE OR REPLACE FUNCTION cdlstore_internal.current_tenant()
RETURNS text
LANGUAGE sql
AS $$
    SELECT set_config('cdlstore_internal.tenant',
        CASE WHEN current_setting('cdlstore.tenant', true) ~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]*$'
                  AND length(current_setting('cdlstore.tenant', true)) <= 100
                  AND (current_setting('is_superuser') = 'on'
                       OR NOT pg_catalog.pg_has_role(session_user, 'cdlstore_bound', 'MEMBER'))
             THEN current_setting('cdlstore.tenant', true)
             ELSE cdlstore_internal.full_tenant_check() END, true)
$$;
