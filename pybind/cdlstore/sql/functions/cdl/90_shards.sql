-- The shard side of the PL/Proxy scale-out (the proxy side is in sql/proxy/).
-- Per-user rows carry their user's hash in their id; definitions are applied as numbered
-- versions, with ids that depend only on the version, so every shard gives the same ids.

CREATE OR REPLACE FUNCTION cdl._instance_id(p_user_id text)
RETURNS bigint
LANGUAGE sql
VOLATILE
AS $$
    -- the low 10 bits are the user's hash: the proxy routes an instance id to the shard of its
    -- user (PL/Proxy takes hash & (partitions - 1), up to 1024 partitions), without a broadcast
    SELECT nextval('cdl.workflow_instances_id_seq') * 1024 + (hashtext(p_user_id) & 1023)
$$;

COMMENT ON FUNCTION cdl._instance_id(text) IS
    'A new workflow instance id that routes to the shard of its user (low 10 bits: hash of user_id).';

CREATE OR REPLACE FUNCTION cdl._require_proxy()
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
BEGIN
    IF NOT pg_has_role(session_user, 'cdlstore_proxy', 'MEMBER') THEN
        RAISE EXCEPTION 'only the proxy''s login (a member of cdlstore_proxy) may do this'
            USING ERRCODE = 'CD006', HINT = 'Write definitions through the proxy.';
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._require_proxy() IS 'CD006 unless the session''s login is a member of cdlstore_proxy.';

CREATE OR REPLACE FUNCTION cdl.definition_version()
RETURNS bigint
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    -- the versions are the shard's, whoever's write each was: every tenant's for the proxy's
    -- login (an administrator naming none), the caller's own tenant's otherwise
    every_tenant boolean := cdlstore_internal.sweeping();
    v_newest bigint;
BEGIN
    IF every_tenant THEN
        PERFORM cdlstore_internal.all_tenants(true);
    END IF;
    v_newest := coalesce((SELECT max(l.version) FROM cdl.definition_log l), 0);
    IF every_tenant THEN
        PERFORM cdlstore_internal.all_tenants(false);
    END IF;
    RETURN v_newest;
END
$$;

COMMENT ON FUNCTION cdl.definition_version() IS
    'The newest definition version this shard applied through the proxy (0: none); every tenant''s '
    'writes for an administrator naming no tenant (the proxy''s login), the caller''s tenant''s otherwise.';

CREATE OR REPLACE FUNCTION cdl.definition_writes_since(after_version bigint, max_count integer DEFAULT 1000)
RETURNS TABLE (version bigint, function_name text, arguments text[], actor varchar, tenant text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdl._require_proxy();
    PERFORM cdlstore_internal.all_tenants(true);  -- every tenant's writes: CD006 unless naming none
    RETURN QUERY SELECT l.version, l.function_name, l.arguments, l.actor, l.tenant FROM cdl.definition_log l
                 WHERE l.version > coalesce(after_version, 0)
                 ORDER BY l.version LIMIT least(greatest(coalesce(max_count, 1000), 1), 10000);
    PERFORM cdlstore_internal.all_tenants(false);
END
$$;

COMMENT ON FUNCTION cdl.definition_writes_since(bigint, integer) IS
    'The definition writes after a version, oldest first, with the tenant each was written as, to '
    're-apply on a shard that missed them. Proxy login naming no tenant only (CD006).';

CREATE OR REPLACE FUNCTION cdl.definition_log_since(after_version bigint, max_count integer DEFAULT 1000)
RETURNS TABLE (version bigint, function_name text, arguments text[], actor varchar)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    RETURN QUERY SELECT w.version, w.function_name, w.arguments, w.actor
                 FROM cdl.definition_writes_since(after_version, max_count) w;
END
$$;

COMMENT ON FUNCTION cdl.definition_log_since(bigint, integer) IS
    'cdl.definition_writes_since without the tenants (kept for proxies of before tenancy crossed them). '
    'Proxy login only (CD006).';

CREATE OR REPLACE FUNCTION cdl._definition_call(p_function text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    fn regprocedure;
    v_call text;
BEGIN
    BEGIN
        fn := to_regprocedure(p_function);
    EXCEPTION WHEN syntax_error OR invalid_name OR invalid_text_representation THEN
        fn := NULL;  -- not a function signature at all
    END;
    -- only a writing API function of the cdl schema that is neither per user nor per instance
    SELECT format('SELECT to_jsonb(cdl.%I(%s))', p.proname,
                  (SELECT string_agg(format('%I => $1[%s]::%s', a.name, a.n, format_type(a.type, NULL)), ', '
                                     ORDER BY a.n)
                   FROM unnest(p.proargnames, p.proargtypes::oid[]) WITH ORDINALITY AS a(name, type, n)
                   WHERE a.type IS NOT NULL))
    INTO v_call
    FROM pg_catalog.pg_proc p
    WHERE p.oid = fn AND p.pronamespace = 'cdl'::regnamespace AND p.prosecdef AND p.provolatile = 'v'
      AND NOT p.proretset AND NOT (coalesce(p.proargnames, '{}') && ARRAY['user_id', 'instance_id'])
      AND p.proname NOT IN ('apply_definition', 'expire_workflow_timeouts');
    IF v_call IS NULL THEN
        RAISE EXCEPTION '% is not a definition write', quote_literal(p_function) USING ERRCODE = 'CD001';
    END IF;
    RETURN v_call;
END
$$;

COMMENT ON FUNCTION cdl._definition_call(text) IS
    'The query that runs a definition-writing API function with its arguments as a text array.';

CREATE OR REPLACE FUNCTION cdl.apply_definition(
    definition_version bigint, function_name text, arguments text[], actor varchar, tenant text)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    block constant bigint := 1048576::bigint;  -- ids one definition write may take per table
    v_done record;
    v_newest bigint;
    v_result jsonb;
BEGIN
    PERFORM cdl._require_proxy();
    PERFORM pg_advisory_xact_lock(hashtext('cdlstore.definitions'));
    -- the log is the shard's: the versions of every tenant's writes (CD006 unless naming none)
    PERFORM cdlstore_internal.all_tenants(true);
    SELECT l.* INTO v_done FROM cdl.definition_log l WHERE l.version = definition_version;
    v_newest := coalesce((SELECT max(l.version) FROM cdl.definition_log l), 0);
    PERFORM cdlstore_internal.all_tenants(false);
    IF v_done.version IS NOT NULL THEN  -- applied before: the same write again is a no-op
        IF (v_done.function_name, v_done.arguments, v_done.tenant)
           IS DISTINCT FROM (function_name, arguments, coalesce(tenant, call_tenant)) THEN
            RAISE EXCEPTION 'definition version % was applied with another write', definition_version
                USING ERRCODE = 'CD003';
        END IF;
        RETURN v_done.result;
    END IF;
    IF definition_version IS DISTINCT FROM v_newest + 1 THEN
        RAISE EXCEPTION 'definition version % follows none: this shard is at %', definition_version, v_newest
            USING ERRCODE = 'CD004', HINT = 'Apply the versions in between first.';
    END IF;
    -- every shard gives this write the same ids: each table's next id is where the version's block starts
    PERFORM setval(s.seq, definition_version * block, false) FROM cdl._definition_sequences() s;
    PERFORM set_config('cdlstore.actor', coalesce(actor, ''), true);
    -- the write and its log row are the tenant's the proxy resolved (NULL: the proxy login's own)
    PERFORM set_config('cdlstore.tenant', coalesce(tenant, ''), true);
    PERFORM cdlstore_internal.current_tenant();
    EXECUTE cdl._definition_call(function_name) INTO v_result USING arguments;
    IF EXISTS (SELECT FROM cdl._definition_sequences() s
               WHERE pg_sequence_last_value(s.seq) >= (definition_version + 1) * block) THEN
        RAISE EXCEPTION 'one definition write may add at most % rows to a table', block - 1
            USING ERRCODE = 'CD007';
    END IF;
    INSERT INTO cdl.definition_log (version, function_name, arguments, actor, result)
    VALUES (definition_version, function_name, arguments, coalesce(actor, session_user), v_result);
    PERFORM set_config('cdlstore.tenant', '', true);
    PERFORM cdlstore_internal.current_tenant();  -- the caller's own again
    RETURN v_result;
END
$$;

COMMENT ON FUNCTION cdl.apply_definition(bigint, text, text[], varchar, text) IS
    'Apply one numbered definition write (a cdl API function and its arguments as text) on this shard '
    'as tenant (NULL: the caller''s own), with ids that depend only on the version; the same version '
    'again returns its first result. CD004 when a version is missing before it, CD003 when it was '
    'another write. The proxy''s login naming no tenant only (CD006).';

CREATE OR REPLACE FUNCTION cdl.apply_definition(
    definition_version bigint, function_name text, arguments text[], actor varchar)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
BEGIN
    RETURN cdl.apply_definition(definition_version, function_name, arguments, actor, NULL::text);
END
$$;

COMMENT ON FUNCTION cdl.apply_definition(bigint, text, text[], varchar) IS
    'cdl.apply_definition as the caller''s own tenant (the form of proxies of before tenancy crossed them).';

CREATE OR REPLACE FUNCTION cdl.as_tenant(tenant text, value anyelement)
RETURNS anyelement
LANGUAGE plpgsql
VOLATILE
SET search_path = cdl, pg_temp
AS $$
BEGIN
    -- the proxy's entry point: its routed calls wrap their first argument in this, so that the
    -- tenant is named before the API function starts (and resolves it by the rules of 0011)
    PERFORM cdl._require_proxy();
    PERFORM set_config('cdlstore.tenant', coalesce(tenant, ''), true);
    RETURN value;
END
$$;

COMMENT ON FUNCTION cdl.as_tenant(text, anyelement) IS
    'The shard-side entry point of the proxy: name the tenant the proxy resolved for the caller (NULL: '
    'none, the proxy login''s own) for the rest of the remote call, and return value. Executable by '
    'cdlstore_proxy only; CD006 for a login that is not a member of it.';

CREATE OR REPLACE FUNCTION cdl._definition_sequences()
RETURNS TABLE (seq regclass)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp  -- not inlined: callers' conditions apply to sequences only
AS $$
    -- the identity sequences of the definition tables: every cdl table but the per-user ones
    SELECT d.objid::regclass
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
    JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'i'
      AND t.relnamespace = 'cdl'::regnamespace
      AND t.relname NOT IN ('workflow_instances', 'workflow_execution_log')
$$;

COMMENT ON FUNCTION cdl._definition_sequences() IS
    'The identity sequences of the cdl definition tables (all but instances and their log).';

CREATE OR REPLACE FUNCTION cdl.set_shard_identity(part integer, partitions integer)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    col record;
    v_next bigint;
BEGIN
    PERFORM cdl._require_proxy();
    IF partitions IS NULL OR partitions NOT BETWEEN 1 AND 1024 OR partitions & (partitions - 1) <> 0
       OR part IS NULL OR part NOT BETWEEN 0 AND partitions - 1 THEN
        RAISE EXCEPTION 'partition % of % is not a partition of a power-of-two cluster (up to 1024)', part, partitions
            USING ERRCODE = 'CD001';
    END IF;
    IF EXISTS (SELECT FROM cdlstore_internal.shard_identity s WHERE s.part = part AND s.partitions = partitions) THEN
        RETURN;  -- already so: re-running the proxy set-up changes nothing
    END IF;
    INSERT INTO cdlstore_internal.shard_identity AS s (part, partitions) VALUES (part, partitions)
    ON CONFLICT (only_row) DO UPDATE SET part = excluded.part, partitions = excluded.partitions;
    -- shard-made bigint ids step by 1024 from a residue of this partition: unique across shards
    -- (keyset cursors and change feeds order by them) and routed here by their low 10 bits
    FOR col IN SELECT * FROM (VALUES ('docstore.document_header', 'id'), ('docstore.change_event', 'id'),
                                     ('ops.events', 'event_id'), ('ops.workflows', 'seq'),
                                     ('ops.agent_playground_messages', 'message_id'), ('game.accounts', 'id'),
                                     ('game.user_profiles', 'id'), ('game.game_sessions', 'id')) AS c(tbl, col) LOOP
        EXECUTE format('SELECT (coalesce(max(%I), 0) / 1024 + 1) * 1024 + %s FROM %s', col.col, part, col.tbl)
            INTO v_next;
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET INCREMENT BY 1024 RESTART WITH %s', col.tbl, col.col, v_next);
    END LOOP;
END
$$;

COMMENT ON FUNCTION cdl.set_shard_identity(integer, integer) IS
    'Tell a shard its partition: ids it makes from then on route to it (the proxy''s login only, CD006 else).';
