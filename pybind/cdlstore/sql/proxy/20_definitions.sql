-- Definitions (characters, workflow files) on every shard. PL/Proxy has no two-phase commit,
-- so a definition write is a numbered version applied on each shard in turn
-- (cdl.apply_definition); each shard logs the versions it applied. A shard that missed one
-- (down, or lost during the call) is behind: the next definition write, and the first per-user
-- call routed to it, re-apply what it lacks from a shard that has it, before anything else.

CREATE OR REPLACE FUNCTION cdlstore_proxy.shard_definition_version(integer)
RETURNS bigint
LANGUAGE plproxy
AS $$
    CLUSTER 'cdlstore';
    RUN ON $1;
    SELECT * FROM cdl.definition_version();
$$;

DROP FUNCTION IF EXISTS cdlstore_proxy.shard_apply(integer, bigint, text, text[], varchar);
CREATE OR REPLACE FUNCTION cdlstore_proxy.shard_apply(integer, bigint, text, text[], varchar, text)
RETURNS jsonb
LANGUAGE plproxy
AS $$
    CLUSTER 'cdlstore';
    RUN ON $1;
    SELECT * FROM cdl.apply_definition($2::bigint, $3::text, $4::text[], $5::varchar, $6::text);
$$;

DROP FUNCTION IF EXISTS cdlstore_proxy.shard_log_since(integer, bigint);
CREATE OR REPLACE FUNCTION cdlstore_proxy.shard_writes_since(integer, bigint)
RETURNS TABLE (version bigint, function_name text, arguments text[], actor varchar, tenant text)
LANGUAGE plproxy
AS $$
    CLUSTER 'cdlstore';
    RUN ON $1;
    SELECT * FROM cdl.definition_writes_since($2::bigint, 1000);
$$;

COMMENT ON FUNCTION cdlstore_proxy.shard_definition_version(integer) IS 'cdl.definition_version() on one partition.';
COMMENT ON FUNCTION cdlstore_proxy.shard_apply(integer, bigint, text, text[], varchar, text) IS
    'cdl.apply_definition on one partition, as a tenant (NULL: the proxy login''s own).';
COMMENT ON FUNCTION cdlstore_proxy.shard_writes_since(integer, bigint) IS 'cdl.definition_writes_since on one partition.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.shard_versions()
RETURNS TABLE (part integer, version bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e_state text;
    e_message text;
BEGIN
    FOR part IN 0 .. cdlstore_proxy.partitions() - 1 LOOP
        BEGIN
            version := cdlstore_proxy.shard_definition_version(part);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT;
            IF NOT cdlstore_proxy.unreachable(e_state, e_message) THEN
                RAISE;
            END IF;
            version := NULL;  -- unreachable now
        END;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.shard_versions() IS
    'Each partition''s definition version as the shard reports it; NULL for a shard that cannot be reached.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.catch_up(target integer, source integer, have bigint, top bigint)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w record;
    v_before bigint;
BEGIN
    WHILE have < top LOOP
        v_before := have;
        FOR w IN SELECT * FROM cdlstore_proxy.shard_writes_since(source, have) l ORDER BY l.version LOOP
            -- as the tenant it was written as (the log row's)
            PERFORM cdlstore_proxy.shard_apply(target, w.version, w.function_name, w.arguments, w.actor, w.tenant);
            have := w.version;
        END LOOP;
        IF have = v_before THEN
            RAISE EXCEPTION 'shard % has no definition log after version %', source, have USING ERRCODE = 'CD004';
        END IF;
    END LOOP;
    UPDATE cdlstore_proxy.shard_state s SET definition_version = have WHERE s.part = target;
    RETURN have;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.catch_up(integer, integer, bigint, bigint) IS
    'Re-apply on one partition the definition versions after have, up to top, read from another.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.repair_definitions(only_part integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_versions bigint[];
    v_top bigint;
    v_report jsonb := '{}';
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('cdlstore_proxy.definitions'));
    v_versions := ARRAY(SELECT s.version FROM cdlstore_proxy.shard_versions() s ORDER BY s.part);
    v_top := (SELECT max(x) FROM unnest(v_versions) x);
    FOR i IN 1 .. cardinality(v_versions) LOOP
        IF v_versions[i] IS NULL AND i - 1 = only_part THEN
            RAISE EXCEPTION 'shard % is unavailable', i - 1 USING ERRCODE = 'CD011',
                HINT = 'Its definitions are repaired when it is back.';
        ELSIF v_versions[i] IS NOT NULL AND (only_part IS NULL OR i - 1 = only_part) THEN
            v_versions[i] := cdlstore_proxy.catch_up(i - 1, array_position(v_versions, v_top) - 1,
                                                     v_versions[i], v_top);
        END IF;
        v_report := v_report || jsonb_build_object((i - 1)::text, v_versions[i]);
    END LOOP;
    RETURN v_report;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.repair_definitions(integer) IS
    'Bring every reachable shard (or only_part: CD011 when it cannot be reached) to the newest definition '
    'version any shard has, by re-applying what it lacks; idempotent. Returns {partition: version}, null '
    'for a shard that could not be reached.';

DROP FUNCTION IF EXISTS cdlstore_proxy.write_definition(text, text[]);
CREATE OR REPLACE FUNCTION cdlstore_proxy.write_definition(function_name text, arguments text[], tenant text)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_state jsonb := cdlstore_proxy.repair_definitions();  -- takes the definitions lock
    v_version bigint;
    v_actor varchar := coalesce(nullif(current_setting('cdlstore.actor', true), ''), session_user);
    v_result jsonb;
    v_applied boolean := false;
    v_part integer;
    e_state text;
    e_message text;
BEGIN
    SELECT max(value::bigint) + 1 INTO v_version FROM jsonb_each_text(v_state);
    FOR v_part IN 0 .. cdlstore_proxy.partitions() - 1 LOOP
        CONTINUE WHEN v_state ->> v_part::text IS NULL;
        BEGIN
            v_result := cdlstore_proxy.shard_apply(v_part, v_version, function_name, arguments, v_actor, tenant);
            v_applied := true;
            UPDATE cdlstore_proxy.shard_state s SET definition_version = v_version WHERE s.part = v_part;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT;
            IF NOT cdlstore_proxy.unreachable(e_state, e_message) THEN
                RAISE;  -- the shard refused: the first one's refusal means nothing was written
            END IF;     -- down, or lost on the way: repaired later
        END;
    END LOOP;
    IF NOT v_applied THEN
        RAISE EXCEPTION 'no shard is available for a definition write' USING ERRCODE = 'CD011';
    END IF;
    RETURN v_result;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.write_definition(text, text[], text) IS
    'Apply a definition write (a cdl API function and its arguments as text) as the next version on '
    'every reachable shard, as the caller''s tenant (cdlstore_proxy.tenant(); NULL: the proxy login''s '
    'own), after repairing those behind; CD011 when none is reachable. The result of the first shard.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.ready(hash integer)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_part integer;
BEGIN
    -- a shard the proxy saw miss a definition write gets it before it serves a user again
    SELECT s.part INTO v_part FROM cdlstore_proxy.shard_state s
    WHERE s.part = hash & ((SELECT count(*) FROM cdlstore_proxy.shard_state) - 1)::integer
      AND s.definition_version < (SELECT max(m.definition_version) FROM cdlstore_proxy.shard_state m);
    IF FOUND THEN
        PERFORM cdlstore_proxy.repair_definitions(v_part);
    END IF;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.ready(integer) IS
    'Before a routed call: repair the shard of a hash when the proxy saw it miss a definition write.';
