-- Maintenance for every tenant. current_tenant(), is_administrator() and make_tenant_scoped()
-- are part of the schema (migration 0011); these helpers let a maintenance function, called by
-- an administrator who names no tenant, run once per tenant that has work for it.

CREATE OR REPLACE FUNCTION cdlstore_internal.sweeping()
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN nullif(current_setting('cdlstore.tenant', true), '') IS NULL
       AND cdlstore_internal.is_administrator()
       AND NOT EXISTS (SELECT FROM cdlstore_internal.tenant_bindings AS b
                       WHERE b.role_oid = quote_ident(session_user)::regrole::oid);
END
$$;

COMMENT ON FUNCTION cdlstore_internal.sweeping() IS
    'True for an unbound administrator naming no tenant: maintenance then runs for every tenant.';

CREATE OR REPLACE FUNCTION cdlstore_internal.sweep(candidates text, call text, arg anyelement)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenants text[];
    t text;
    total bigint := 0::bigint;
    n bigint;
BEGIN
    IF NOT cdlstore_internal.sweeping() THEN
        RETURN NULL;
    END IF;
    PERFORM cdlstore_internal.all_tenants(true);
    EXECUTE format('SELECT array_agg(DISTINCT c.tenant) FROM (%s) AS c', candidates) INTO tenants USING arg;
    PERFORM cdlstore_internal.all_tenants(false);
    FOREACH t IN ARRAY coalesce(tenants, '{}') LOOP
        PERFORM set_config('cdlstore.tenant', t, true);
        EXECUTE call INTO n USING arg;  -- an API call: it resolves t as its tenant first
        total := total + coalesce(n, 0);
    END LOOP;
    PERFORM set_config('cdlstore.tenant', '', true);
    PERFORM cdlstore_internal.current_tenant();  -- the caller's own again: default
    RETURN total;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.sweep(text, text, anyelement) IS
    'When sweeping(): the tenants of the rows the query candidates returns (a tenant column; '
    '$1 = arg) are found across tenants, then call (returning a count; $1 = arg) runs as each '
    'of them; returns the sum. NULL when not sweeping: the caller then works as its own tenant.';

CREATE OR REPLACE FUNCTION cdlstore_internal.all_tenants(enabled boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF enabled AND NOT cdlstore_internal.sweeping() THEN
        RAISE EXCEPTION 'only an administrator naming no tenant works across tenants'
            USING ERRCODE = 'CD006', DETAIL = format('login role %s', session_user),
                  HINT = 'Run it as an administrator (cdlstore_tenant_admin) without cdlstore.tenant.';
    END IF;
    PERFORM set_config('cdlstore.all_tenants', CASE WHEN enabled THEN 'on' ELSE '' END, true);
    PERFORM cdlstore_internal.current_tenant();  -- the call's tenant: '*' while enabled
END
$$;

COMMENT ON FUNCTION cdlstore_internal.all_tenants(boolean) IS
    'Let the next statements see every tenant''s rows (an administrator naming no tenant only: '
    'CD006 otherwise), or stop it. Writes stay refused in that mode (WITH CHECK).';

CREATE OR REPLACE FUNCTION cdlstore_internal.earliest(query text)
RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    every_tenant boolean := cdlstore_internal.sweeping();
    result timestamptz;
BEGIN
    IF every_tenant THEN
        PERFORM cdlstore_internal.all_tenants(true);
    END IF;
    EXECUTE query INTO result;
    IF every_tenant THEN
        PERFORM cdlstore_internal.all_tenants(false);
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.earliest(text) IS
    'The timestamp a query (one min(...) over tenant-scoped rows) returns: the caller''s tenant, '
    'every tenant when sweeping() (the next deadline a worker''s maintenance waits for).';
