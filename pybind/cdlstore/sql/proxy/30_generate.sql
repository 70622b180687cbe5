-- The proxy's API, generated from the shards' catalog: for every function a shard grants to
-- cdlstore_app, a PL/Proxy function cdlstore_proxy.<schema>__<name> (same arguments plus the
-- routing hash) and, in the function's own schema, a plpgsql wrapper with the same signature,
-- defaults and comment that picks the shard, maps errors and calls it. Functions added to the
-- shards later get theirs by running cdlstore_proxy.generate() again.

DROP TYPE IF EXISTS cdlstore_proxy.api_function CASCADE;
CREATE TYPE cdlstore_proxy.api_function AS (
    schema_name text, function_name text, identity_arguments text, arguments text,
    argument_names text[], argument_types text[], result text, result_type text,
    returns_set boolean, volatility text, description text);

CREATE OR REPLACE FUNCTION cdlstore_proxy.shard_functions()
RETURNS SETOF cdlstore_proxy.api_function
LANGUAGE plproxy
AS $$
    CLUSTER 'cdlstore';
    RUN ON 0;
    SELECT n.nspname::text AS schema_name, p.proname::text AS function_name,
           pg_get_function_identity_arguments(p.oid) AS identity_arguments,
           pg_get_function_arguments(p.oid) AS arguments,
           (coalesce(p.proargnames, '{}'::text[]))[1:p.pronargs] AS argument_names,
           ARRAY(SELECT format_type(a.t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY a(t, i)
                 ORDER BY a.i) AS argument_types,
           pg_get_function_result(p.oid) AS result, format_type(p.prorettype, NULL) AS result_type,
           p.proretset AS returns_set, p.provolatile::text AS volatility,
           obj_description(p.oid, 'pg_proc') AS description
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game') AND p.prokind = 'f'
      AND has_function_privilege('cdlstore_app', p.oid, 'EXECUTE')
    ORDER BY 1, 2, 3;
$$;

COMMENT ON FUNCTION cdlstore_proxy.shard_functions() IS 'The API functions (granted to cdlstore_app) of partition 0.';

DROP FUNCTION IF EXISTS cdlstore_proxy.shard_types();  -- its columns may change between versions
CREATE OR REPLACE FUNCTION cdlstore_proxy.shard_types()
RETURNS TABLE (type_name text, definition text, sort integer, labels text[])
LANGUAGE plproxy
AS $$
    CLUSTER 'cdlstore';
    RUN ON 0;
    SELECT t.oid::regtype::text AS type_name,
           CASE WHEN t.typtype = 'e'
                THEN 'AS ENUM (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                  FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) || ')'
                -- a column of a domain has the domain's base type here: the proxy only passes
                -- values on, and the shard checks the domain's rules
                ELSE 'AS (' || (SELECT string_agg(quote_ident(a.attname) || ' ' ||
                                                  CASE WHEN at.typtype = 'd' THEN format_type(at.typbasetype, at.typtypmod)
                                                       ELSE format_type(a.atttypid, a.atttypmod) END,
                                                  ', ' ORDER BY a.attnum)
                                FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
                                WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) || ')'
           END AS definition,
           CASE WHEN t.typtype = 'e' THEN 0 ELSE 1 END AS sort,
           ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid
                 ORDER BY e.enumsortorder) AS labels
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game')
      AND (t.typtype = 'e'
           OR (t.typtype = 'c' AND ((SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c'
                                    OR t.oid IN (SELECT p.prorettype FROM pg_catalog.pg_proc p
                                                 WHERE has_function_privilege('cdlstore_app', p.oid, 'EXECUTE')))));
$$;

COMMENT ON FUNCTION cdlstore_proxy.shard_types() IS
    'The enums and composite types of partition 0 that API signatures use, as CREATE TYPE bodies.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.key_of(f cdlstore_proxy.api_function)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- the argument a docstore, ops or game call is routed by: the first of the domain's keys it has
    SELECT coalesce(
        (SELECT r.key_argument FROM cdlstore_proxy.routing r WHERE r.function_name = f.schema_name || '.' || f.function_name),
        (SELECT k.name FROM unnest(CASE f.schema_name
                 WHEN 'docstore' THEN ARRAY['namespace', 'document_uuid']
                 WHEN 'ops' THEN ARRAY['execution_id', 'workflow_id', 'instance_id']
                 WHEN 'game' THEN ARRAY['account_id', 'profile_id', 'session_id'] END) WITH ORDINALITY k(name, i)
         WHERE k.name = ANY (f.argument_names) ORDER BY k.i LIMIT 1))
$$;

COMMENT ON FUNCTION cdlstore_proxy.key_of(cdlstore_proxy.api_function) IS
    'The argument a docstore/ops/game function is routed by (namespace, document uuid, task or run id, '
    'conversation, account, profile or session id), if it has one.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.kind_of(f cdlstore_proxy.api_function)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT r.kind FROM cdlstore_proxy.routing r WHERE r.function_name = f.schema_name || '.' || f.function_name),
        CASE WHEN f.schema_name <> 'cdl' THEN CASE WHEN cdlstore_proxy.key_of(f) IS NOT NULL THEN 'key' ELSE 'home' END
             WHEN 'user_id' = ANY (f.argument_names) THEN 'user'
             WHEN 'instance_id' = ANY (f.argument_names) THEN 'instance'
             WHEN f.volatility = 'v' THEN 'definition'
             ELSE 'any' END)
$$;

COMMENT ON FUNCTION cdlstore_proxy.kind_of(cdlstore_proxy.api_function) IS
    'How an API function is routed: user (hash of user_id), instance (the hash its id carries), '
    'definition (a numbered write on every shard), each (every shard, results combined), any (a read from '
    'any shard), key (the hash of its key argument), spread (a random shard), claim (shards in turn), '
    'first (the first shard with something), pages (a listing merged across shards), home (partition 0), '
    'none (not on the proxy); cdlstore_proxy.routing overrides the rules.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.hash_sql(f cdlstore_proxy.api_function)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- the routing hash of a key-routed call; a NULL key goes to a random shard (which refuses it,
    -- or, for enqueue_task without a workflow, makes the row there)
    SELECT format('coalesce(%s, cdlstore_proxy.spread())',
                  CASE WHEN f.argument_types[k.i] = 'uuid' THEN format('cdlstore_proxy.uuid_hash($%s)', k.i)
                       WHEN f.argument_types[k.i] = 'bigint' THEN format('cdlstore_proxy.id_hash($%s)', k.i)
                       WHEN k.name = 'instance_id' THEN format('cdlstore_proxy.conversation_hash($%s)', k.i)
                       WHEN k.name = 'email' THEN format('hashtext(lower($%s))', k.i)
                       ELSE format('hashtext($%s::text)', k.i) END)
    FROM (SELECT cdlstore_proxy.key_of(f) AS name,
                 array_position(f.argument_names, cdlstore_proxy.key_of(f)) AS i) AS k
$$;

COMMENT ON FUNCTION cdlstore_proxy.hash_sql(cdlstore_proxy.api_function) IS
    'The expression of the routing hash of a key-routed API function.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.routed_name(f cdlstore_proxy.api_function)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT format('cdlstore_proxy.%I', f.schema_name || '__' || f.function_name)
$$;

COMMENT ON FUNCTION cdlstore_proxy.routed_name(cdlstore_proxy.api_function) IS
    'The name of the PL/Proxy function that runs an API function on one partition.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.routed_sql(f cdlstore_proxy.api_function)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- the caller's tenant ($n + 2) reaches the shard through cdl.as_tenant, which names it before
    -- the API function starts: around the first argument (arguments are evaluated before the
    -- function is called), or for a function without arguments in its LIMIT (evaluated before
    -- the first row is fetched; NULL is no limit)
    SELECT format(E'CREATE OR REPLACE FUNCTION %s(%s) RETURNS %s LANGUAGE plproxy AS $proxy$\n'
                  '    CLUSTER %L;\n    RUN ON $%s;\n    SELECT * FROM %I.%I(%s)%s;\n$proxy$',
                  cdlstore_proxy.routed_name(f),
                  array_to_string(f.argument_types || ARRAY['integer', 'text'], ', '),
                  f.result, 'cdlstore', n + 1, f.schema_name, f.function_name,
                  (SELECT string_agg(CASE WHEN i = 1 THEN format('cdl.as_tenant($%s::text, $1::%s)::%2$s', n + 2, f.argument_types[1])
                                          ELSE format('$%s::%s', i, f.argument_types[i]) END, ', ' ORDER BY i)
                   FROM generate_subscripts(f.argument_types, 1) i),
                  CASE WHEN n = 0 THEN ' LIMIT cdl.as_tenant($2::text, NULL::bigint)' ELSE '' END)
    FROM (SELECT coalesce(cardinality(f.argument_types), 0) AS n) AS a
$$;

COMMENT ON FUNCTION cdlstore_proxy.routed_sql(cdlstore_proxy.api_function) IS
    'CREATE FUNCTION of the PL/Proxy function of an API function: its arguments, a hash and the caller''s '
    'tenant; RUN ON the hash, the tenant named on the shard through cdl.as_tenant.';

DROP FUNCTION IF EXISTS cdlstore_proxy.call_sql(cdlstore_proxy.api_function, text);
CREATE OR REPLACE FUNCTION cdlstore_proxy.routed_call(f cdlstore_proxy.api_function, hash text,
                                                      replace jsonb DEFAULT '{}')
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $$
    -- the routed function called with the wrapper's arguments by position, some replaced by name,
    -- the hash and the caller's tenant (resolved once by the wrapper)
    SELECT cdlstore_proxy.routed_name(f) || '('
        || coalesce((SELECT string_agg(coalesce(replace ->> f.argument_names[i], format('$%s', i)), ', ' ORDER BY i) || ', '
                     FROM generate_subscripts(f.argument_types, 1) i), '')
        || hash || ', proxy_tenant)'
$$;

COMMENT ON FUNCTION cdlstore_proxy.routed_call(cdlstore_proxy.api_function, text, jsonb) IS
    'A call of the routed function of an API function with a hash and the caller''s tenant, arguments replaced by name.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.call_sql(f cdlstore_proxy.api_function, hash text)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $$
    -- RETURN / RETURN QUERY / PERFORM of the routed function
    SELECT CASE WHEN f.returns_set THEN 'RETURN QUERY SELECT * FROM ' WHEN f.result_type = 'void' THEN 'PERFORM '
                ELSE 'RETURN ' END
        || cdlstore_proxy.routed_call(f, hash) || ';'
        || CASE WHEN f.returns_set OR f.result_type = 'void' THEN ' RETURN;' ELSE '' END
$$;

COMMENT ON FUNCTION cdlstore_proxy.call_sql(cdlstore_proxy.api_function, text) IS
    'The statement of a wrapper that calls the routed function with a hash and returns its result.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.body_sql(f cdlstore_proxy.api_function)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_kind text := cdlstore_proxy.kind_of(f);
    v_key integer := array_position(f.argument_names, CASE v_kind WHEN 'user' THEN 'user_id' ELSE 'instance_id' END);
BEGIN
    IF v_kind IN ('user', 'instance', 'home', 'key', 'spread') THEN
        RETURN format(E'    proxy_hash := %s;\n%s    %s',
                      CASE v_kind WHEN 'user' THEN format('coalesce(hashtext($%s::text), 0)', v_key)
                                  WHEN 'instance' THEN format('coalesce(cdlstore_proxy.id_hash($%s), 0)', v_key)
                                  WHEN 'key' THEN cdlstore_proxy.hash_sql(f)
                                  WHEN 'spread' THEN 'cdlstore_proxy.spread()'
                                  ELSE '0' END,
                      CASE WHEN v_kind IN ('user', 'instance') THEN E'    PERFORM cdlstore_proxy.ready(proxy_hash);\n'
                           ELSE '' END,
                      cdlstore_proxy.call_sql(f, 'proxy_hash'));
    ELSIF v_kind = 'definition' AND NOT f.returns_set THEN
        RETURN format(E'    proxy_result := cdlstore_proxy.write_definition(%L, ARRAY[%s]::text[], proxy_tenant);\n    %s',
                      format('%I.%I(%s)', f.schema_name, f.function_name, array_to_string(f.argument_types, ',')),
                      (SELECT string_agg(format('$%s::text', i), ', ' ORDER BY i) FROM generate_subscripts(f.argument_types, 1) i),
                      CASE WHEN f.result_type = 'void' THEN 'RETURN;'
                           ELSE format('RETURN (proxy_result #>> ''{}'')::%s;', f.result_type) END);
    ELSIF v_kind = 'each' THEN
        RETURN cdlstore_proxy.each_sql(f);
    ELSIF v_kind IN ('claim', 'first', 'pages', 'top', 'split') AND NOT f.returns_set THEN
        RETURN cdlstore_proxy.across_sql(f, v_kind);
    ELSIF v_kind = 'any' THEN
        RETURN format(E'    FOR proxy_hash IN SELECT cdlstore_proxy.read_order() LOOP\n'
                      '        BEGIN\n            %s\n'
                      '        EXCEPTION WHEN OTHERS THEN\n'
                      '            GET STACKED DIAGNOSTICS proxy_state = RETURNED_SQLSTATE, proxy_message = MESSAGE_TEXT;\n'
                      '            IF NOT cdlstore_proxy.unreachable(proxy_state, proxy_message) THEN RAISE; END IF;\n'
                      '        END;\n    END LOOP;\n'
                      '    RAISE EXCEPTION ''no shard is available'' USING ERRCODE = ''CD011'';',
                      cdlstore_proxy.call_sql(f, 'proxy_hash'));
    END IF;
    RAISE EXCEPTION 'no proxy rule for %.% (%)', f.schema_name, f.function_name, v_kind USING ERRCODE = 'CD001';
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.body_sql(cdlstore_proxy.api_function) IS
    'The statements of the wrapper of an API function, by how it is routed.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.each_sql(f cdlstore_proxy.api_function)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_call text := cdlstore_proxy.routed_call(f, 'proxy_hash');
    v_sort text := (SELECT r.sort_key FROM cdlstore_proxy.routing r WHERE r.function_name = f.schema_name || '.' || f.function_name);
BEGIN
    -- every shard in turn: counts added, jsonb combined (cdlstore_proxy.combine), rows merged in
    -- their key's order, a text result the last shard's
    RETURN format(E'    FOR proxy_hash IN 0 .. cdlstore_proxy.partitions() - 1 LOOP\n        %s\n    END LOOP;\n    %s',
        CASE WHEN f.returns_set THEN format('proxy_rows := proxy_rows || ARRAY(SELECT r FROM %s r);', v_call)
             WHEN f.result_type = 'void' THEN format('PERFORM %s;', v_call)
             WHEN f.result_type IN ('integer', 'bigint') THEN format('proxy_total := proxy_total + %s;', v_call)
             WHEN f.result_type = 'jsonb' THEN format('proxy_result := cdlstore_proxy.combine(proxy_result, %s);', v_call)
             WHEN f.result_type = 'text' THEN format('proxy_message := %s;', v_call)
             ELSE 'RAISE EXCEPTION ''no proxy rule'' USING ERRCODE = ''CD001'';' END,
        CASE WHEN f.returns_set THEN format('RETURN QUERY SELECT * FROM unnest(proxy_rows) r ORDER BY %s; RETURN;',
                                            coalesce(v_sort, '1'))
             WHEN f.result_type = 'void' THEN 'RETURN;'
             WHEN f.result_type = 'jsonb' THEN 'RETURN proxy_result;'
             WHEN f.result_type = 'text' THEN 'RETURN proxy_message;'
             ELSE format('RETURN proxy_total::%s;', f.result_type) END);
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.each_sql(cdlstore_proxy.api_function) IS
    'The statements of a wrapper that runs its function on every shard and combines the results.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.across_sql(f cdlstore_proxy.api_function, kind text)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE kind
    -- claim: from a random shard on, each claims what is still wanted (max_count less what came)
    -- (a shard that is down is passed over: its tasks wait; CD011 only when no shard answered)
    WHEN 'claim' THEN format(E'    proxy_result := ''[]'';\n    proxy_n := 0;\n'
        '    FOR proxy_hash IN SELECT cdlstore_proxy.turns() LOOP\n'
        '        BEGIN\n'
        '            proxy_result := proxy_result || %s;\n'
        '            proxy_n := proxy_n + 1;\n'
        '        EXCEPTION WHEN OTHERS THEN\n'
        '            GET STACKED DIAGNOSTICS proxy_state = RETURNED_SQLSTATE, proxy_message = MESSAGE_TEXT;\n'
        '            IF NOT cdlstore_proxy.unreachable(proxy_state, proxy_message) THEN RAISE; END IF;\n'
        '        END;\n'
        '        EXIT WHEN jsonb_array_length(proxy_result) >= coalesce(max_count, 1);\n'
        '    END LOOP;\n'
        '    IF proxy_n = 0 THEN\n'
        '        RAISE EXCEPTION ''no shard is available'' USING ERRCODE = ''CD011'';\n'
        '    END IF;\n    RETURN proxy_result;',
        cdlstore_proxy.routed_call(f, 'proxy_hash', '{"max_count": "(max_count - jsonb_array_length(proxy_result))"}'))
    -- first: the first shard, from a random one on, that has something
    WHEN 'first' THEN format(E'    FOR proxy_hash IN SELECT cdlstore_proxy.turns() LOOP\n'
        '        proxy_result := %s;\n'
        '        IF jsonb_array_length(proxy_result) > 0 THEN RETURN proxy_result; END IF;\n'
        '    END LOOP;\n    RETURN ''[]'';', cdlstore_proxy.routed_call(f, 'proxy_hash'))
    -- top: every shard's list, merged by the key, as many as asked for
    WHEN 'top' THEN format(E'    proxy_result := ''[]'';\n'
        '    FOR proxy_hash IN 0 .. cdlstore_proxy.partitions() - 1 LOOP\n'
        '        proxy_result := proxy_result || %s;\n'
        '    END LOOP;\n    RETURN cdlstore_proxy.top(proxy_result, %L, %I);',
        cdlstore_proxy.routed_call(f, 'proxy_hash'), r.sort_key, r.key_argument)
    -- split: a batch of ids, each shard its part (a batch the shards would refuse goes whole to one)
    WHEN 'split' THEN format(E'    IF NOT cdlstore_proxy.splittable(%1$I, %2$L) THEN\n'
        '        RETURN %3$s;\n    END IF;\n'
        '    FOR proxy_hash, proxy_result IN SELECT * FROM cdlstore_proxy.split(%1$I, %2$L) LOOP\n'
        '        proxy_total := proxy_total + %4$s;\n'
        '    END LOOP;\n    RETURN proxy_total;',
        r.key_argument, r.sort_key, cdlstore_proxy.routed_call(f, '0'),
        cdlstore_proxy.routed_call(f, 'proxy_hash', jsonb_build_object(r.key_argument, 'proxy_result')))
    -- pages: each shard from its own cursor, merged by the key, each shard's cursor moved past what was taken
    ELSE format(E'    proxy_cursors := cdlstore_proxy.uncursor(after);\n'
        '    FOR proxy_hash IN 0 .. cdlstore_proxy.partitions() - 1 LOOP\n'
        '        proxy_after := proxy_cursors ->> proxy_hash;\n'
        '        proxy_pages := proxy_pages || CASE WHEN proxy_cursors -> proxy_hash = ''false'' THEN ''{"items": []}''::jsonb\n'
        '                                          ELSE %1$s END;\n'
        '    END LOOP;\n'
        '    SELECT m.items, m.taken INTO proxy_result, proxy_taken FROM cdlstore_proxy.merge_pages(proxy_pages, page_size, %3$L) m;\n'
        '    FOR proxy_hash IN 0 .. cdlstore_proxy.partitions() - 1 LOOP\n'
        '        proxy_after := proxy_cursors ->> proxy_hash;\n'
        '        proxy_n := proxy_taken[proxy_hash + 1];\n'
        '        IF proxy_n > 0 AND proxy_n < jsonb_array_length(proxy_pages[proxy_hash + 1] -> ''items'') THEN\n'
        '            proxy_result_page := %2$s;\n'
        '        ELSE  -- all of its page taken, or none of an empty page\n'
        '            proxy_result_page := proxy_pages[proxy_hash + 1];\n'
        '        END IF;\n'
        '        IF proxy_n > 0 OR jsonb_array_length(proxy_result_page -> ''items'') = 0 THEN\n'
        '            -- past the last item taken; false: that shard is done\n'
        '            proxy_cursors := jsonb_set(proxy_cursors, ARRAY[proxy_hash::text],\n'
        '                                       coalesce(nullif(proxy_result_page -> ''next_cursor'', ''null''), ''false''));\n'
        '        END IF;\n'
        '    END LOOP;\n'
        '    RETURN jsonb_build_object(''items'', proxy_result, ''next_cursor'', cdlstore_proxy.cursor(proxy_cursors));',
        cdlstore_proxy.routed_call(f, 'proxy_hash', '{"after": "proxy_after"}'),
        cdlstore_proxy.routed_call(f, 'proxy_hash', '{"after": "proxy_after", "page_size": "proxy_n"}'),
        r.sort_key)
    END
    FROM (SELECT * FROM cdlstore_proxy.routing x WHERE x.function_name = f.schema_name || '.' || f.function_name
          UNION ALL SELECT NULL, NULL, NULL, NULL LIMIT 1) r
$$;

COMMENT ON FUNCTION cdlstore_proxy.across_sql(cdlstore_proxy.api_function, text) IS
    'The statements of a wrapper that reads across the shards: claim (in turn until enough), first '
    '(the first shard with something), pages (a keyset listing merged across the shards).';

CREATE OR REPLACE FUNCTION cdlstore_proxy.wrapper_sql(f cdlstore_proxy.api_function)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format(E'CREATE OR REPLACE FUNCTION %I.%I(%s) RETURNS %s LANGUAGE plpgsql VOLATILE SECURITY DEFINER\n'
                  'SET search_path = pg_catalog, pg_temp AS $wrapper$\n'
                  'DECLARE\n    proxy_tenant text := cdlstore_proxy.tenant();  -- the caller''s, first of all (CD008, CD009)\n'
                  '    proxy_hash integer := 0;\n    proxy_total bigint := 0;\n    proxy_result jsonb;\n'
                  '    proxy_state text;\n    proxy_message text;\n    proxy_detail text;\n    proxy_hint text;\n'
                  '    proxy_cursors jsonb;\n    proxy_pages jsonb[] := ''{}'';\n    proxy_taken integer[];\n'
                  '    proxy_after text;\n    proxy_n integer;\n    proxy_result_page jsonb;\n%s'
                  'BEGIN\n%s\n'
                  'EXCEPTION WHEN OTHERS THEN\n'
                  '    GET STACKED DIAGNOSTICS proxy_state = RETURNED_SQLSTATE, proxy_message = MESSAGE_TEXT,\n'
                  '        proxy_detail = PG_EXCEPTION_DETAIL, proxy_hint = PG_EXCEPTION_HINT;\n'
                  '    PERFORM cdlstore_proxy.reraise(cdlstore_proxy.part_of(proxy_hash), proxy_state, proxy_message, proxy_detail, proxy_hint);\n'
                  '    RAISE;\nEND\n$wrapper$',
                  f.schema_name, f.function_name, f.arguments, f.result,
                  CASE WHEN f.returns_set AND cdlstore_proxy.kind_of(f) = 'each'
                       THEN format(E'    proxy_rows %s[] := ''{}'';\n', f.result_type) ELSE '' END,
                  cdlstore_proxy.body_sql(f))
$$;

COMMENT ON FUNCTION cdlstore_proxy.wrapper_sql(cdlstore_proxy.api_function) IS
    'CREATE FUNCTION of the proxy''s API function: the shard''s signature, a plpgsql body that routes.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.read_order()
RETURNS SETOF integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    -- shards up to date first, from a random one on, so reads spread and skip a shard that is down
    SELECT s.part FROM cdlstore_proxy.shard_state s
    ORDER BY s.definition_version < (SELECT max(m.definition_version) FROM cdlstore_proxy.shard_state m),
             (s.part + (random() * 1024)::integer) % (SELECT count(*) FROM cdlstore_proxy.shard_state)
$$;

COMMENT ON FUNCTION cdlstore_proxy.read_order() IS 'The partitions in the order a read that any shard can serve tries them.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.generate()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    f cdlstore_proxy.api_function;
    gone record;
    v_api cdlstore_proxy.api_function[];
    n integer := 0;
BEGIN
    PERFORM cdlstore_proxy.copy_tenancy();  -- the shards' tenant rules, which every wrapper starts with
    FOR t IN SELECT * FROM cdlstore_proxy.shard_types() s ORDER BY s.sort, s.type_name LOOP
        IF to_regtype(t.type_name) IS NULL THEN
            EXECUTE format('CREATE TYPE %s %s', t.type_name, t.definition);
            EXECUTE format('ALTER TYPE %s OWNER TO cdlstore_owner', t.type_name);
        ELSIF t.sort = 0 THEN  -- an enum the shards extended since (ALTER TYPE ... ADD VALUE)
            PERFORM cdlstore_proxy.add_labels(t.type_name, t.labels);
        END IF;
    END LOOP;
    v_api := ARRAY(SELECT s FROM cdlstore_proxy.shard_functions() s WHERE cdlstore_proxy.kind_of(s) <> 'none');
    FOREACH f IN ARRAY v_api LOOP
        EXECUTE cdlstore_proxy.routed_sql(f);
        EXECUTE cdlstore_proxy.wrapper_sql(f);
        EXECUTE format('COMMENT ON FUNCTION %I.%I(%s) IS %L', f.schema_name, f.function_name, f.identity_arguments,
                       coalesce(f.description, '') || ' [proxy: ' || cdlstore_proxy.kind_of(f) || ']');
        n := n + 1;
    END LOOP;
    FOR gone IN  -- wrappers of functions the shards no longer have
        SELECT p.oid::regprocedure AS signature FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace ns ON ns.oid = p.pronamespace
        WHERE ns.nspname IN ('cdl', 'docstore', 'ops', 'game')
          AND NOT EXISTS (SELECT FROM unnest(v_api) a WHERE a.schema_name = ns.nspname AND a.function_name = p.proname
                                                   AND a.identity_arguments = pg_get_function_identity_arguments(p.oid))
    LOOP
        EXECUTE format('DROP FUNCTION %s', gone.signature);
    END LOOP;
    PERFORM cdlstore_proxy.grant_all();
    PERFORM cdlstore_proxy.identify_shards();
    RETURN n;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.generate() IS
    'Create or replace the proxy''s API from partition 0''s catalog (new types and enum labels, every '
    'API function; wrappers of functions gone from the shards are dropped); returns how many functions.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.add_labels(type_name text, labels text[])
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_before text;
BEGIN
    -- in the shard's order: each missing label right after the one before it there
    FOR i IN 1 .. coalesce(cardinality(labels), 0) LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_enum e
                       WHERE e.enumtypid = type_name::regtype AND e.enumlabel = labels[i]) THEN
            EXECUTE format('ALTER TYPE %s ADD VALUE %L %s', type_name, labels[i],
                           CASE WHEN v_before IS NULL THEN format('BEFORE %L', labels[i + 1])
                                ELSE format('AFTER %L', v_before) END);
        END IF;
        v_before := labels[i];
    END LOOP;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.add_labels(text, text[]) IS
    'Add to a proxy enum the labels the shard''s has, in the shard''s order.';

CREATE OR REPLACE FUNCTION cdlstore_proxy.grant_all()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    obj record;
BEGIN
    -- the same rule as the shards' privileges.sql: owned by cdlstore_owner, nothing for PUBLIC,
    -- the SECURITY DEFINER wrappers of the four schemas for cdlstore_app, the tenant administration
    -- (cdlstore) for cdlstore_tenant_admin, the helpers (cdlstore_proxy, cdlstore_internal) for no one
    FOR obj IN SELECT p.oid::regprocedure AS signature,
                      CASE WHEN NOT p.prosecdef OR n.nspname IN ('cdlstore_proxy', 'cdlstore_internal') THEN NULL
                           WHEN n.nspname = 'cdlstore' THEN 'cdlstore_tenant_admin' ELSE 'cdlstore_app' END AS grantee
               FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game', 'cdlstore_proxy', 'cdlstore', 'cdlstore_internal') LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO cdlstore_owner', obj.signature);
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', obj.signature);
        IF obj.grantee IS NOT NULL THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', obj.signature, obj.grantee);
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION cdlstore_proxy.grant_all() IS 'Ownership and grants of every function of the proxy database.';
