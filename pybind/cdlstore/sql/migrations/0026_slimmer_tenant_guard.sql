-- The tenant guard sets up less in every call, with the same rules (issue 15: loading a
-- character). current_tenant() is inlined into every API call, and an inlined expression is
-- set up in full in every transaction that runs it -- each function in it looked up and checked
-- for EXECUTE -- whether or not its branch is taken. The branch for a session naming no tenant
-- (an administrator's 'default' or '*', CD009 for anyone else) is rare, and it held the
-- administrator test (two role lookups), the maintenance-sweep setting and the CD009 error:
-- it is now one call to a function that the planner does not inline, made only when no tenant
-- is named. The rules stay those of migration 0011.

CREATE FUNCTION cdlstore_internal.unnamed_tenant()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- an unbound administrator naming none: 'default', or '*' (every tenant) inside a
    -- maintenance sweep; anyone else naming none: CD009
    IF cdlstore_internal.is_administrator() THEN
        RETURN CASE WHEN current_setting('cdlstore.all_tenants', true) = 'on' THEN '*' ELSE 'default' END;
    END IF;
    RETURN cdlstore_internal.tenant_error('CD009', NULL);
END
$$;

COMMENT ON FUNCTION cdlstore_internal.unnamed_tenant() IS
    'The tenant of an unbound session that names none: ''default'' for an administrator, ''*'' in '
    'its maintenance sweep; CD009 for anyone else.';

CREATE OR REPLACE FUNCTION cdlstore_internal.unbound_tenant()
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN current_setting('cdlstore.tenant', true) <> '' THEN
                    cdlstore_internal.check_tenant_name(current_setting('cdlstore.tenant', true))
                ELSE cdlstore_internal.unnamed_tenant() END
$$;
