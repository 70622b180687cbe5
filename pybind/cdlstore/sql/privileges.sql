-- Ownership and grants, applied after the function files on every migrate, in the same
-- transaction. One rule for every object of the four schemas, cdlstore and cdlstore_internal:
-- - everything is owned by cdlstore_owner;
-- - no function is executable by PUBLIC;
-- - SECURITY DEFINER functions are the API and are granted to cdlstore_app (in cdlstore, the
--   tenant administration, to cdlstore_tenant_admin alone); the others are internal helpers,
--   granted to no one (but the proxy's entry point, below, to cdlstore_proxy); cdlstore_internal has no API and no schema USAGE for anyone;
-- - tables and sequences are reached only through functions; views and materialized views
--   of the four schemas are analytics, readable by cdlstore_readonly (every tenant's rows: an
--   administrator's role, docs/reliability.md).
GRANT SELECT ON public._yoyo_migration TO cdlstore_owner;

DO $$
DECLARE
    obj record;
BEGIN
    FOR obj IN
        SELECT p.oid::regprocedure AS signature, p.prosecdef,
               CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind,
               CASE n.nspname WHEN 'cdlstore' THEN 'cdlstore_tenant_admin' ELSE 'cdlstore_app' END AS grantee
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game', 'cdlstore', 'cdlstore_internal')
          AND p.prokind IN ('f', 'p')
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO cdlstore_owner', obj.kind, obj.signature);
        EXECUTE format('REVOKE ALL ON %s %s FROM PUBLIC, cdlstore_app, cdlstore_tenant_admin',
                       obj.kind, obj.signature);
        IF obj.prosecdef THEN
            EXECUTE format('GRANT EXECUTE ON %s %s TO %I', obj.kind, obj.signature, obj.grantee);
        END IF;
    END LOOP;

    FOR obj IN
        SELECT c.oid::regclass AS name, n.nspname AS schema,
               CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                              WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS kind
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game', 'cdlstore', 'cdlstore_internal')
          AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d  -- identity/serial sequences
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                            AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO cdlstore_owner', obj.kind, obj.name);
        EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, cdlstore_app, cdlstore_tenant_admin', obj.name);
        IF obj.kind IN ('VIEW', 'MATERIALIZED VIEW') AND obj.schema NOT IN ('cdlstore', 'cdlstore_internal') THEN
            EXECUTE format('GRANT SELECT ON %s TO cdlstore_readonly', obj.name);
        END IF;
    END LOOP;

    FOR obj IN
        SELECT t.oid::regtype AS name, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
        FROM pg_catalog.pg_type t
        JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game', 'cdlstore', 'cdlstore_internal')
          AND (t.typtype IN ('e', 'd', 'r')
               OR (t.typtype = 'c' AND (SELECT relkind FROM pg_catalog.pg_class
                                        WHERE oid = t.typrelid) = 'c'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO cdlstore_owner', obj.kind, obj.name);
    END LOOP;
END
$$;

-- The shard side of the proxy (docs/scale-out.md): its login, a member of cdlstore_proxy, names
-- the caller's tenant through cdl.as_tenant; no other role may (not cdlstore_app, not a bound login).
GRANT EXECUTE ON FUNCTION cdl.as_tenant(text, anyelement), cdl._require_proxy() TO cdlstore_proxy;
