-- Sharding behind PL/Proxy (pybind/cdlstore/sql/proxy/). Definitions (characters and workflow
-- files) are written to every shard through cdl.apply_definition, one numbered version at a
-- time; each shard keeps the versions it applied, so a shard that missed one is found and
-- repaired by re-applying what it lacks. Only members of cdlstore_proxy (the login the proxy
-- connects with) may apply a version.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cdlstore_proxy') THEN
        BEGIN
            CREATE ROLE cdlstore_proxy NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by a migration of another database
        END;
    END IF;
END
$$;

CREATE TABLE cdl.definition_log (
    version bigint PRIMARY KEY CHECK (version > 0),
    function_name text NOT NULL,
    arguments text[] NOT NULL,
    actor varchar(200) NOT NULL,
    result jsonb,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CALL cdlstore_internal.make_tenant_scoped('cdl.definition_log');

COMMENT ON TABLE cdl.definition_log IS
    'Definition writes applied on this shard through the proxy, by version (cdl.apply_definition).';
