-- Least privilege, walked from the catalog: a new function, table or view cannot slip through.
BEGIN;
SELECT plan(14);

CREATE TEMP VIEW our_functions AS
SELECT p.oid::regprocedure::text AS name, p.prosecdef, p.proconfig, l.lanname, pg_get_userbyid(p.proowner) AS owner,
       p.proacl, n.nspname AS schema
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game', 'cdlstore', 'cdlstore_internal');

CREATE TEMP VIEW our_relations AS
SELECT c.oid::regclass::text AS name, c.relkind, pg_get_userbyid(c.relowner) AS owner, n.nspname AS schema,
       c.relrowsecurity, c.relforcerowsecurity,
       (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attidentity = '' AND a.attgenerated = '' ORDER BY a.attnum LIMIT 1) AS column_name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game', 'cdlstore', 'cdlstore_internal')
  AND c.relkind IN ('r', 'p', 'S', 'v', 'm');

SELECT is((SELECT array_agg(name ORDER BY name) FROM our_functions WHERE owner <> 'cdlstore_owner'), NULL,
    'every function is owned by cdlstore_owner');
SELECT is((SELECT array_agg(name ORDER BY name) FROM our_functions
           WHERE has_function_privilege('public', name, 'EXECUTE')
              OR coalesce(array_to_string(proacl, ','), '=X') ~ '(^|,)=X'), NULL,
    'no function is executable by PUBLIC');
SELECT is((SELECT array_agg(name ORDER BY name) FROM our_functions WHERE schema NOT IN ('cdlstore', 'cdlstore_internal')
             AND prosecdef IS DISTINCT FROM has_function_privilege('cdlstore_app', name, 'EXECUTE')), NULL,
    'API functions (SECURITY DEFINER) and only they are granted to cdlstore_app');
SELECT is((SELECT array_agg(name ORDER BY name) FROM our_functions WHERE schema = 'cdlstore'
             AND (prosecdef IS DISTINCT FROM has_function_privilege('cdlstore_tenant_admin', name, 'EXECUTE')
                  OR has_function_privilege('cdlstore_app', name, 'EXECUTE'))), NULL,
    'the tenant administration (bind_tenant, unbind_tenant) is granted to cdlstore_tenant_admin, not to cdlstore_app');
SELECT is((SELECT array_agg(name ORDER BY name) FROM our_functions WHERE schema = 'cdlstore_internal'
             AND (prosecdef OR proacl::text ~ '(cdlstore_app|cdlstore_readonly|cdlstore_tenant_admin)=')), NULL,
    'cdlstore_internal has no SECURITY DEFINER function and grants none');
SELECT is((SELECT array_agg(r ORDER BY r) FROM unnest(ARRAY['public', 'cdlstore_app', 'cdlstore_readonly', 'cdlstore_tenant_admin']) AS r
           WHERE has_schema_privilege(r, 'cdlstore_internal', 'USAGE')), NULL,
    'and no role but the owner may even use that schema');
SELECT is((SELECT array_agg(f.name ORDER BY f.name) FROM our_functions AS f
           JOIN pg_proc AS p ON p.oid = f.name::regprocedure
           WHERE NOT coalesce(array_to_string(f.proconfig, ',') ~ 'search_path=', false)
             AND NOT (f.lanname = 'sql' AND NOT f.prosecdef)
             AND NOT (NOT f.prosecdef AND p.proacl IS NOT NULL AND p.prorettype <> 'trigger'::regtype
                      AND NOT EXISTS (SELECT FROM aclexplode(p.proacl) AS a WHERE a.grantee <> p.proowner)
                      AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.refclassid = 'pg_proc'::regclass
                                        AND d.refobjid = p.oid AND d.deptype = 'n'))), NULL,
    'every function pins its search_path, but inlinable SQL helpers (not granted, schema-qualified) '
    'and helpers only functions can reach (granted to no one, no trigger function, used by no view, '
    'default, constraint, index, trigger or policy): they run with the pinned search_path of their caller');
SELECT is((SELECT array_agg(name ORDER BY name) FROM our_functions WHERE prosecdef AND lanname = 'sql'
           AND NOT coalesce(array_to_string(proconfig, ',') ~ 'search_path=', false)), NULL,
    'every SECURITY DEFINER function pins its search_path');
SELECT is((SELECT array_agg(name ORDER BY name) FROM our_relations WHERE owner <> 'cdlstore_owner'), NULL,
    'every table, sequence and view is owned by cdlstore_owner');
SELECT is((SELECT array_agg(name || ':' || priv ORDER BY name) FROM our_relations,
                  unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS priv
           WHERE relkind <> 'S' AND (has_table_privilege('cdlstore_app', name, priv)
                 OR has_table_privilege('public', name, priv)
                 OR has_table_privilege('cdlstore_tenant_admin', name, priv)
                 OR (has_table_privilege('cdlstore_readonly', name, priv)
                     AND NOT (relkind IN ('v', 'm') AND priv = 'SELECT' AND schema NOT IN ('cdlstore', 'cdlstore_internal'))))), NULL,
    'the app role, tenant admins and PUBLIC reach no table; readonly reads the analytics views only');
SELECT is((SELECT array_agg(name ORDER BY name) FROM our_relations
           WHERE relkind IN ('r', 'p') AND schema IN ('cdl', 'docstore', 'ops', 'game')
             AND NOT (relrowsecurity AND relforcerowsecurity
                      AND EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = name::regclass AND p.polname = 'tenant_isolation')
                      AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = name::regclass AND a.attname = 'tenant'
                                    AND a.attnotnull AND pg_get_expr((SELECT d.adbin FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum), a.attrelid) = 'cdlstore_internal.default_tenant()'))), NULL,
    'every table of the four schemas is tenant-scoped: FORCEd row-level security, the tenant_isolation policy, a NOT NULL tenant (CALL cdlstore_internal.make_tenant_scoped)');

SELECT is((SELECT array_agg(name ORDER BY name) FROM our_functions f JOIN pg_proc p ON p.oid = f.name::regprocedure
           WHERE f.schema IN ('cdl', 'docstore', 'ops', 'game') AND f.prosecdef AND f.name <> 'cdl.schema_version()'
             AND NOT (f.lanname = 'plpgsql' AND p.prosrc ~ ('^\s*(#variable_conflict \w+\s+)?(DECLARE\s+call_tenant text := '
                                                            'cdlstore_internal\.current_tenant\(\);|BEGIN\s+PERFORM cdlstore_internal\.current_tenant\(\);)')
                      OR f.lanname = 'sql' AND p.prosrc ~ 'WHERE \(SELECT cdlstore_internal\.current_tenant\(\)\) IS NOT NULL')), NULL,
    'every API function resolves its tenant before anything else (the policies read what it resolved)');

-- and as the app role itself: every table refuses every kind of access
CREATE TEMP TABLE refused (name text, operation text, sqlstate text);
GRANT ALL ON refused TO cdlstore_app;
GRANT SELECT ON our_relations TO cdlstore_app;
SET LOCAL ROLE cdlstore_app;
DO $$
DECLARE
    r record;
    op text;
BEGIN
    FOR r IN SELECT name, column_name FROM our_relations WHERE relkind IN ('r', 'p') LOOP
        FOREACH op IN ARRAY ARRAY['SELECT * FROM %s', 'INSERT INTO %s DEFAULT VALUES', 'UPDATE %s SET %I = %I',
                                  'DELETE FROM %s'] LOOP
            BEGIN
                EXECUTE format(op, r.name, r.column_name, r.column_name);
                INSERT INTO refused VALUES (r.name, op, 'allowed');
            EXCEPTION WHEN OTHERS THEN
                INSERT INTO refused VALUES (r.name, op, SQLSTATE);
            END;
        END LOOP;
    END LOOP;
END
$$;
RESET ROLE;
SELECT is((SELECT array_agg(name || ' ' || operation || ' ' || sqlstate) FROM refused WHERE sqlstate <> '42501'), NULL,
    'as cdlstore_app, SELECT, INSERT, UPDATE and DELETE on every table fail with 42501');

SELECT ok(NOT has_schema_privilege('cdlstore_app', 'cdlstore_internal', 'USAGE')
          AND NOT has_schema_privilege('public', 'cdlstore_internal', 'USAGE'),
    'cdlstore_internal (the shared feed and helpers) is granted to no one');
SELECT * FROM finish();
ROLLBACK;
