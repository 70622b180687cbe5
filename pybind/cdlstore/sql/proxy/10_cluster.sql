-- The proxy database of a sharded cdlstore (PL/Proxy). It holds no data: the schemas cdl,
-- docstore, ops and game hold functions with the signatures of the shards' API functions
-- (written by cdlstore_proxy.generate() from the shards' catalog), which run the real ones on
-- the shard their key hashes to. Applied as a whole, in one transaction, by
-- cdlstore.dev.cluster.setup_proxy; every statement may run again.
CREATE EXTENSION IF NOT EXISTS plproxy;

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['cdlstore_owner', 'cdlstore_app', 'cdlstore_readonly'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
    END LOOP;
END
$$;

CREATE SCHEMA IF NOT EXISTS cdl AUTHORIZATION cdlstore_owner;
CREATE SCHEMA IF NOT EXISTS docstore AUTHORIZATION cdlstore_owner;
CREATE SCHEMA IF NOT EXISTS ops AUTHORIZATION cdlstore_owner;
CREATE SCHEMA IF NOT EXISTS game AUTHORIZATION cdlstore_owner;
CREATE SCHEMA IF NOT EXISTS cdlstore_proxy AUTHORIZATION cdlstore_owner;
COMMENT ON SCHEMA cdlstore_proxy IS 'The proxy''s own helpers and the PL/Proxy functions the API calls; granted to no one';
GRANT USAGE ON SCHEMA cdl, docstore, ops, game TO cdlstore_app, cdlstore_readonly;
REVOKE ALL ON SCHEMA cdlstore_proxy FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE cdlstore_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- What the proxy believes each shard has applied of the definitions (cdl.definition_version()
-- on the shard); a per-user call first repairs a shard that is behind the others.
CREATE TABLE IF NOT EXISTS cdlstore_proxy.shard_state (
    part integer PRIMARY KEY CHECK (part >= 0),
    definition_version bigint NOT NULL DEFAULT 0
);
ALTER TABLE cdlstore_proxy.shard_state OWNER TO cdlstore_owner;

-- How the generated functions route, by API function; rules cover the rest (generate()).
CREATE TABLE IF NOT EXISTS cdlstore_proxy.routing (
    function_name text PRIMARY KEY,  -- schema.name
    kind text NOT NULL
);
ALTER TABLE cdlstore_proxy.routing DROP CONSTRAINT IF EXISTS routing_kind_check;
ALTER TABLE cdlstore_proxy.routing ADD CONSTRAINT routing_kind_check
    CHECK (kind IN ('user', 'instance', 'definition', 'each', 'any', 'home', 'none'));
ALTER TABLE cdlstore_proxy.routing OWNER TO cdlstore_owner;
INSERT INTO cdlstore_proxy.routing VALUES
    ('cdl.expire_workflow_timeouts', 'each'),
    ('cdl.render_character_documents', 'each'),
    ('cdl.refresh_character_analytics', 'each'),
    -- the shards' side of the definition copies: the proxy itself calls them
    ('cdl.apply_definition', 'none'),
    ('cdl.definition_version', 'none'),
    ('cdl.definition_log_since', 'none')
ON CONFLICT (function_name) DO UPDATE SET kind = excluded.kind;

CREATE OR REPLACE FUNCTION cdlstore_proxy.configure(partitions text[], login text DEFAULT current_user)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := coalesce(cardinality(partitions), 0);
    v_options text;
BEGIN
    IF n = 0 OR n & (n - 1) <> 0 THEN
        RAISE EXCEPTION 'a PL/Proxy cluster needs a power of two of partitions, got %', n
            USING ERRCODE = 'CD001';
    END IF;
    SELECT string_agg(format('p%s %L', i - 1, partitions[i]), ', ' ORDER BY i) INTO v_options
    FROM generate_subscripts(partitions, 1) i;
    DROP SERVER IF EXISTS cdlstore CASCADE;
    -- text I/O: composite and enum values cross by their text, as type oids differ per database
    EXECUTE format('CREATE SERVER cdlstore FOREIGN DATA WRAPPER plproxy OPTIONS '
                   '(disable_binary ''1'', connection_lifetime ''1800'', %s)', v_options);
    EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER cdlstore OPTIONS (user %L)', login);
    GRANT USAGE ON FOREIGN SERVER cdlstore TO cdlstore_owner;
    DELETE FROM cdlstore_proxy.shard_state WHERE part >= n;
    INSERT INTO cdlstore_proxy.shard_state (part) SELECT generate_series(0, n - 1) ON CONFLICT DO NOTHING;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.configure(text[], text) IS
    'Point the PL/Proxy cluster cdlstore at the shards (connection strings in partition order), '
    'connecting as login. Administrators only.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.partitions()
RETURNS integer
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*)::integer FROM cdlstore_proxy.shard_state
$$;

COMMENT ON FUNCTION cdlstore_proxy.partitions() IS 'How many partitions (shards) the cluster has.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.id_hash(id bigint)
RETURNS integer
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    -- ids made on a shard carry their user's hash in the low 10 bits (cdl._instance_id)
    SELECT (id & 1023)::integer
$$;

COMMENT ON FUNCTION cdlstore_proxy.id_hash(bigint) IS 'The routing hash an instance id carries.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.unreachable(state text, message text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $$
    -- PL/Proxy reports a shard it cannot reach, or lost on the way, as XX000 with libpq's words;
    -- errors raised on the shard come through with their own SQLSTATE as REMOTE ERROR
    SELECT state LIKE '08%' OR state IN ('57P01', '57P02', '57P03')
        OR (state = 'XX000' AND message LIKE 'PL/Proxy function %' AND message NOT LIKE '%REMOTE ERROR:%'
            AND message ~* '(PQconnect|connect|connection|server closed|timeout|terminat)')
$$;

COMMENT ON FUNCTION cdlstore_proxy.unreachable(text, text) IS
    'Whether an error raised by a PL/Proxy call means the shard could not be reached.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.reraise(part integer, state text, message text, detail text, hint text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
AS $$
BEGIN
    IF cdlstore_proxy.unreachable(state, message) THEN
        RAISE EXCEPTION 'shard % is unavailable', part USING ERRCODE = 'CD011', DETAIL = message,
            HINT = 'Calls for the users of the other shards go on; retry when the shard is back.';
    END IF;
    -- a shard's own error, with its code and words, without PL/Proxy's prefixes
    RAISE EXCEPTION USING ERRCODE = state,
        MESSAGE = regexp_replace(message, '^(PL/Proxy function )?\S+\(\d+\): \[[^]]*\] REMOTE ERROR: ', ''),
        DETAIL = coalesce(regexp_replace(detail, '^Remote detail: ', ''), ''),
        HINT = coalesce(regexp_replace(hint, '^Remote hint: ', ''), '');
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.reraise(integer, text, text, text, text) IS
    'Raise again an error of a PL/Proxy call: CD011 for a shard that cannot be reached, else the '
    'shard''s own error without PL/Proxy''s prefixes.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.part_of(hash integer)
RETURNS integer
LANGUAGE sql
STABLE
AS $$
    SELECT hash & (cdlstore_proxy.partitions() - 1)
$$;

COMMENT ON FUNCTION cdlstore_proxy.part_of(integer) IS 'The partition PL/Proxy runs a hash on.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.no_tenant()
RETURNS void
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    -- PL/Proxy forwards no session settings: a tenant named here would not confine the call on
    -- the shard, so a tenant-scoped call with one set is refused rather than run unconfined
    IF nullif(current_setting('cdlstore.tenant', true), '') IS NOT NULL THEN
        RAISE EXCEPTION 'cdlstore.tenant does not reach the shards through this proxy yet'
            USING ERRCODE = 'CD006', HINT = 'Call a node directly for tenant-scoped work (docs/scale-out.md).';
    END IF;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.no_tenant() IS
    'CD006 when the session names a tenant: tenancy does not cross the proxy yet, so it fails closed.';
