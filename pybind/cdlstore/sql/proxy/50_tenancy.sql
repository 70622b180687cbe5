-- Tenancy through the proxy. PL/Proxy connects to the shards as its own login and forwards no
-- session settings, so the proxy resolves the caller's tenant itself, with the very rules of the
-- shards (migration 0011: a bound login acts as its tenant, CD008 when it names another; an
-- unbound login naming one acts as that one; an unbound administrator naming none acts as
-- 'default'; anyone else gets CD009), and passes it to the shard-side entry point cdl.as_tenant,
-- which only the proxy's login may call. The shard then runs the real API function as that
-- tenant, so row-level security confines it as on one node.
--
-- The bindings live here, on the proxy: the logins that call the proxy are this server's roles
-- (a shard never sees them: PL/Proxy connects as its own login), and a binding is keyed by the
-- role's oid, which only means something on the server of the role. The functions that decide
-- (cdlstore_internal.current_tenant and its helpers) and the administration (cdlstore.bind_tenant,
-- unbind_tenant) are copied from partition 0's catalog by generate(), so the proxy runs the
-- shards' own code, not a second version of the rules.

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['cdlstore_tenant_admin', 'cdlstore_bound'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
    END LOOP;
END
$$;
GRANT cdlstore_app TO cdlstore_tenant_admin;
GRANT cdlstore_bound TO cdlstore_owner WITH ADMIN OPTION;

CREATE SCHEMA IF NOT EXISTS cdlstore_internal AUTHORIZATION cdlstore_owner;
CREATE SCHEMA IF NOT EXISTS cdlstore AUTHORIZATION cdlstore_owner;
REVOKE ALL ON SCHEMA cdlstore_internal FROM PUBLIC;
GRANT USAGE ON SCHEMA cdlstore TO cdlstore_tenant_admin;

-- as on the shards (migration 0011): the proxy's logins bound to a tenant, by role oid
CREATE TABLE IF NOT EXISTS cdlstore_internal.tenant_bindings (
    role_oid oid PRIMARY KEY,
    role_name name NOT NULL,
    tenant text NOT NULL,
    bound_by name NOT NULL DEFAULT session_user,
    bound_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE cdlstore_internal.tenant_bindings OWNER TO cdlstore_owner;
REVOKE ALL ON cdlstore_internal.tenant_bindings FROM PUBLIC;

CREATE OR REPLACE FUNCTION cdlstore_proxy.shard_tenancy()
RETURNS TABLE (definition text, signature text, description text)
LANGUAGE plproxy
AS $$
    CLUSTER 'cdlstore';
    RUN ON 0;
    SELECT pg_get_functiondef(p.oid) AS definition, p.oid::regprocedure::text AS signature,
           obj_description(p.oid, 'pg_proc') AS description
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE (n.nspname = 'cdlstore_internal'
           AND p.proname IN ('is_administrator', 'tenant_error', 'check_tenant_name', 'unbound_tenant', 'unnamed_tenant', 'full_tenant_check',
                             'bound_tenant', 'current_tenant', 'call_tenant', 'sweeping'))
       OR (n.nspname = 'cdlstore' AND p.proname IN ('_login_role_oid', 'bind_tenant', 'unbind_tenant'))
    ORDER BY n.nspname, p.proname;
$$;

COMMENT ON FUNCTION cdlstore_proxy.shard_tenancy() IS
    'The definitions of partition 0''s tenant resolution (cdlstore_internal) and tenant administration '
    '(cdlstore) functions, to run the same rules on the proxy.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.copy_tenancy()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
SET check_function_bodies = off  -- the SQL functions refer to one another: created in any order
AS $$
DECLARE
    f record;
    n integer := 0;
BEGIN
    FOR f IN SELECT * FROM cdlstore_proxy.shard_tenancy() LOOP
        EXECUTE f.definition;
        IF f.description IS NOT NULL THEN
            EXECUTE format('COMMENT ON FUNCTION %s IS %L', f.signature, f.description);
        END IF;
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        RAISE EXCEPTION 'partition 0 has no tenant resolution to copy' USING ERRCODE = 'CD004',
            HINT = 'Migrate the shards first (cdlstore migrate).';
    END IF;
    RETURN n;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.copy_tenancy() IS
    'Create or replace the tenant resolution and administration functions as partition 0 has them '
    '(generate() does); returns how many.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.tenant()
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- an unbound administrator naming none: NULL, and the shard acts as the proxy's login naming
    -- none (an administrator too): 'default', every tenant in a maintenance sweep
    IF cdlstore_internal.sweeping() THEN
        RETURN NULL;
    END IF;
    RETURN cdlstore_internal.current_tenant();  -- the rules of 0011 on this server's logins: CD008, CD009, CD001
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.tenant() IS
    'The tenant of the caller of a proxy function, by the shards'' rules and this server''s bindings; NULL '
    'for an unbound administrator naming none. Every generated wrapper starts with it.';
