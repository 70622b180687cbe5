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
-- sort_key: the item key a merged listing (pages) or export (each, a set) is ordered by.
CREATE TABLE IF NOT EXISTS cdlstore_proxy.routing (
    function_name text PRIMARY KEY,  -- schema.name
    kind text NOT NULL
);
ALTER TABLE cdlstore_proxy.routing ADD COLUMN IF NOT EXISTS key_argument text;
ALTER TABLE cdlstore_proxy.routing ADD COLUMN IF NOT EXISTS sort_key text;
ALTER TABLE cdlstore_proxy.routing DROP CONSTRAINT IF EXISTS routing_kind_check;
ALTER TABLE cdlstore_proxy.routing ADD CONSTRAINT routing_kind_check
    CHECK (kind IN ('user', 'instance', 'definition', 'each', 'any', 'home', 'none',
                    'key', 'spread', 'claim', 'first', 'pages', 'top', 'split'));
ALTER TABLE cdlstore_proxy.routing OWNER TO cdlstore_owner;
INSERT INTO cdlstore_proxy.routing (function_name, kind, key_argument, sort_key) VALUES
    ('cdl.expire_workflow_timeouts', 'each', NULL, NULL),
    ('cdl.render_character_documents', 'each', NULL, NULL),
    ('cdl.refresh_character_analytics', 'each', NULL, NULL),
    -- the shards' side of the definition copies and of the shard ids: the proxy itself calls them
    ('cdl.apply_definition', 'none', NULL, NULL),
    ('cdl.definition_version', 'none', NULL, NULL),
    ('cdl.definition_log_since', 'none', NULL, NULL),
    ('cdl.definition_writes_since', 'none', NULL, NULL),
    ('cdl.set_shard_identity', 'none', NULL, NULL),
    -- rows without a key of their own: made on a shard picked at random, their ids route back to it
    ('ops.create_workflow', 'spread', NULL, NULL),
    ('ops.enqueue_tasks', 'spread', NULL, NULL),
    ('ops.record_event', 'spread', NULL, NULL),
    -- an account on the shard of its email (unique whatever its case: one shard checks it)
    ('game.create_account', 'key', 'email', NULL),
    -- a worker claims from the shards in turn, from a random one on (no shard starves)
    ('ops.claim_tasks', 'claim', NULL, NULL),
    -- a change feed: the next events of one shard at a time, acknowledged on the shard of the id
    ('docstore.read_changes', 'first', NULL, NULL),
    ('docstore.ack_changes', 'key', 'up_to_id', NULL),
    -- listings across the shards: merged by their key, a cursor that holds each shard's cursor
    ('docstore.list_by_session', 'pages', NULL, 'created_at'),
    ('ops.list_events', 'pages', NULL, 'created_at'),
    ('ops.list_workflows', 'pages', NULL, 'created_at'),
    -- a top list: every shard's, merged by the key, as many as the argument named asks for
    ('ops.list_tasks', 'top', 'max_count', 'created_at'),
    ('game.get_scenario_leaderboard', 'top', 'max_rows', 'score'),
    -- a batch of ids: each shard gets its part (all or none per shard, not across shards)
    ('ops.complete_tasks', 'split', 'completions', 'execution_id'),
    -- every shard: counts added, exports merged in their key's order, metrics combined
    ('ops.expire_tasks', 'each', NULL, NULL),
    ('ops.expire_workflows', 'each', NULL, NULL),
    ('ops.metrics', 'each', NULL, NULL),
    ('docstore.create_metadata_index', 'each', NULL, NULL),
    ('ops.export_events', 'each', NULL, 'event_id'),
    ('ops.export_tasks', 'each', NULL, 'created_at, execution_id'),
    ('ops.export_workflows', 'each', NULL, 'seq'),
    ('ops.export_messages', 'each', NULL, 'message_id')
ON CONFLICT (function_name) DO UPDATE
SET kind = excluded.kind, key_argument = excluded.key_argument, sort_key = excluded.sort_key;

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

CREATE OR REPLACE FUNCTION cdlstore_proxy.uuid_hash(id uuid)
RETURNS integer
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    -- uuids made on a shard carry their routing hash in the last 10 bits (cdl._hashed_uuid)
    SELECT ('x' || right(id::text, 3))::bit(12)::integer & 1023
$$;

COMMENT ON FUNCTION cdlstore_proxy.uuid_hash(uuid) IS 'The routing hash a shard-made uuid carries.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.conversation_hash(instance_id text)
RETURNS integer
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    -- a conversation named by a workflow instance id lives beside that instance; others by hash
    SELECT CASE WHEN instance_id ~ '^[0-9]{1,18}$' THEN (instance_id::bigint & 1023)::integer
                ELSE hashtext(instance_id) END
$$;

COMMENT ON FUNCTION cdlstore_proxy.conversation_hash(text) IS
    'The routing hash of a conversation: its workflow instance''s when it is named by one, else hashtext.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.spread()
RETURNS integer
LANGUAGE sql
VOLATILE
AS $$
    SELECT floor(random() * 1024)::integer
$$;

COMMENT ON FUNCTION cdlstore_proxy.spread() IS 'A random routing hash: where a row without a key is made.';

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
DECLARE
    remote_hint text := regexp_replace(hint, '^Remote hint: ', '');
    -- PL/Proxy forwards no SCHEMA or TABLE field: the one error that names its table for the
    -- clients, cdl._character_not_found's CD002, is told by its hint and named again
    of_characters boolean := state = 'CD002'
        AND remote_hint = 'Names match after normalization (cdl.normalize_name).';
BEGIN
    IF cdlstore_proxy.unreachable(state, message) THEN
        RAISE EXCEPTION 'shard % is unavailable', part USING ERRCODE = 'CD011', DETAIL = message,
            HINT = 'Calls for the users of the other shards go on; retry when the shard is back.';
    END IF;
    -- a shard's own error, with its code and words, without PL/Proxy's prefixes
    RAISE EXCEPTION USING ERRCODE = state,
        MESSAGE = regexp_replace(message, '^(PL/Proxy function )?\S+\(\d+\): \[[^]]*\] REMOTE ERROR: ', ''),
        DETAIL = coalesce(regexp_replace(detail, '^Remote detail: ', ''), ''),
        HINT = coalesce(remote_hint, ''),
        SCHEMA = CASE WHEN of_characters THEN 'cdl' ELSE '' END,
        TABLE = CASE WHEN of_characters THEN 'characters' ELSE '' END;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.reraise(integer, text, text, text, text) IS
    'Raise again an error of a PL/Proxy call: CD011 for a shard that cannot be reached, else the '
    'shard''s own error without PL/Proxy''s prefixes (a missing character names cdl.characters again).';

CREATE OR REPLACE FUNCTION cdlstore_proxy.part_of(hash integer)
RETURNS integer
LANGUAGE sql
STABLE
AS $$
    SELECT hash & (cdlstore_proxy.partitions() - 1)
$$;

COMMENT ON FUNCTION cdlstore_proxy.part_of(integer) IS 'The partition PL/Proxy runs a hash on.';

-- tenancy crosses the proxy now (50_tenancy.sql): the guard that refused a named tenant is gone
DROP FUNCTION IF EXISTS cdlstore_proxy.no_tenant();
