-- Tenant bindings of login roles: the isolation an application cannot undo. Executable by
-- the owner and cdlstore_tenant_admin only (privileges.sql).

CREATE OR REPLACE FUNCTION cdlstore._login_role_oid(login_role name)
RETURNS oid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found oid;
BEGIN
    SELECT r.oid INTO found FROM pg_catalog.pg_roles AS r WHERE r.rolname = login_role;
    IF found IS NULL THEN
        RAISE EXCEPTION 'role % not found', login_role
            USING ERRCODE = 'CD002', HINT = 'Create the login role first: CREATE ROLE ... LOGIN IN ROLE cdlstore_app.';
    END IF;
    -- bindings of roles dropped since are removed, so that their oid is never reused by accident
    DELETE FROM cdlstore_internal.tenant_bindings AS b
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles AS r WHERE r.oid = b.role_oid);
    RETURN found;
END
$$;

COMMENT ON FUNCTION cdlstore._login_role_oid(name) IS
    'The oid of a role (CD002 when there is none); drops the bindings of roles that are gone.';

CREATE OR REPLACE FUNCTION cdlstore.bind_tenant(login_role name, tenant text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    role_oid oid;
BEGIN
    PERFORM cdlstore_internal.check_tenant_name(tenant);
    role_oid := cdlstore._login_role_oid(login_role);
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.oid = role_oid) THEN
        RAISE EXCEPTION 'role % is a superuser: it cannot be bound to a tenant', login_role
            USING ERRCODE = 'CD001', HINT = 'Bind a login that is a member of cdlstore_app.';
    END IF;
    EXECUTE format('GRANT cdlstore_bound TO %I', login_role);
    INSERT INTO cdlstore_internal.tenant_bindings AS b (role_oid, role_name, tenant)
    VALUES (role_oid, login_role, bind_tenant.tenant)
    ON CONFLICT ON CONSTRAINT tenant_bindings_pkey DO UPDATE
    SET role_name = EXCLUDED.role_name, tenant = EXCLUDED.tenant, bound_by = session_user, bound_at = now();
END
$$;

COMMENT ON FUNCTION cdlstore.bind_tenant(name, text) IS
    'Bind a login role to a tenant: its sessions act as that tenant whatever they set (CD008 when '
    'they name another); it becomes a member of cdlstore_bound. Keyed by the role''s oid: a role '
    'created again under the same name is not bound. CD002 for an unknown role, CD001 for a '
    'malformed tenant name or a superuser.';

CREATE OR REPLACE FUNCTION cdlstore.unbind_tenant(login_role name)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_oid oid := cdlstore._login_role_oid(login_role);
BEGIN
    DELETE FROM cdlstore_internal.tenant_bindings AS b WHERE b.role_oid = v_oid;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    EXECUTE format('REVOKE cdlstore_bound FROM %I', login_role);
    RETURN true;
END
$$;

COMMENT ON FUNCTION cdlstore.unbind_tenant(name) IS
    'Remove the tenant binding of a login role; false when it had none. CD002 for an unknown role.';
