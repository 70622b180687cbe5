-- Tenancy against the application itself: two logins bound to tenants ta and tb, one unbound
-- app login, and the administrator running this file (a superuser), over all four domains.
-- pg_temp.as_login runs one statement with session_user = the login (SET SESSION AUTHORIZATION,
-- which SET ROLE is not) and returns its result as text, or the SQLSTATE it raised.
BEGIN;
SELECT plan(72);

CREATE ROLE t13_bound_a LOGIN IN ROLE cdlstore_app;
CREATE ROLE t13_bound_b LOGIN IN ROLE cdlstore_app;
CREATE ROLE t13_app LOGIN IN ROLE cdlstore_app;
SELECT cdlstore.bind_tenant('t13_bound_a', 'ta');
SELECT cdlstore.bind_tenant('t13_bound_b', 'tb');

CREATE FUNCTION pg_temp.as_login(login name, tenant text, query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    IF login IS NOT NULL THEN
        EXECUTE format('SET SESSION AUTHORIZATION %I', login);
    END IF;
    PERFORM set_config('cdlstore.tenant', coalesce(tenant, ''), true);
    BEGIN
        EXECUTE query INTO result;
        result := coalesce(result, 'NULL');
    EXCEPTION WHEN OTHERS THEN
        result := SQLSTATE;
    END;
    RESET SESSION AUTHORIZATION;
    PERFORM set_config('cdlstore.tenant', '', true);
    RETURN result;
END
$$;
-- the guard's short path (a well-formed name, a superuser or an unbound login) gives what the
-- full check gives, for every kind of login and name; the logins call it through wrappers
-- (the guard reads session_user and is_superuser, which a SECURITY DEFINER call keeps)
CREATE FUNCTION pg_temp.short_guard() RETURNS text LANGUAGE sql SECURITY DEFINER
AS 'SELECT cdlstore_internal.current_tenant()';
CREATE FUNCTION pg_temp.full_guard() RETURNS text LANGUAGE sql SECURITY DEFINER
AS 'SELECT cdlstore_internal.full_tenant_check()';
CREATE TEMP TABLE guard_names (name text);
INSERT INTO guard_names VALUES ('ta'), ('tb'), ('x-y.z:w@v_1'), (repeat('a', 100)), (repeat('a', 101)),
    ('*'), (''), (NULL), ('a b'), ('-x'), ('_x'), ('É'), ('ta'''), (E'ta\n');
SELECT is((SELECT array_agg(pg_temp.as_login(l, g.name, 'SELECT pg_temp.short_guard()') ORDER BY g.name)
           FROM guard_names g),
          (SELECT array_agg(pg_temp.as_login(l, g.name, 'SELECT pg_temp.full_guard()') ORDER BY g.name)
           FROM guard_names g),
          'the guard''s short path gives what the full check gives: ' || coalesce(l, 'an administrator'))
FROM unnest(ARRAY[NULL, 't13_app', 't13_bound_a']::name[]) AS l;
SELECT is(pg_temp.as_login('t13_app', repeat('a', 100), 'SELECT pg_temp.short_guard()'), repeat('a', 100),
    'a 100-character tenant name is taken');
SELECT is(pg_temp.as_login('t13_bound_a', 'ta', 'SELECT pg_temp.short_guard()'), 'ta',
    'a bound login naming its own tenant acts as it');
SELECT is(pg_temp.as_login('t13_bound_a', 'tb', 'SELECT pg_temp.short_guard()'), 'CD008',
    'a bound login naming a well-formed other tenant is refused, not taken at its word');
SELECT set_config('cdlstore_internal.tenant', '', true);

-- every read, list, search, feed, export, metric, compare, delete and purge path, as text
CREATE TEMP TABLE paths (name text PRIMARY KEY, query text NOT NULL);
INSERT INTO paths VALUES
    ('character', $$SELECT cdl.get_character_complete('ada_lovelace')::jsonb #>> '{cdl,identity,secret}'$$),
    ('character list', $$SELECT string_agg(normalized_name, ',') FROM cdl.list_characters()$$),
    ('character search', $$SELECT string_agg(DISTINCT normalized_name, ',') FROM cdl.search_characters('secret')$$),
    ('character export', $$SELECT cdl.export_character_json('ada_lovelace') #>> '{character,identity,secret}'$$),
    ('workflow instances', $$SELECT jsonb_array_length(cdl.get_user_active_workflows('u1'))::text$$),
    ('tagged document', $$SELECT docstore.get_tagged('shared', 'config', 'production') #>> '{0,body,secret}'$$),
    ('session listing', $$SELECT jsonb_array_length(docstore.list_by_session('s') -> 'items')::text$$),
    ('change feed', $$SELECT jsonb_array_length(docstore.read_changes('indexer'))::text$$),
    ('document list', $$SELECT docstore.list_documents('shared', 'config', include_body => true) #>> '{items,0,body,secret}'$$),
    ('ops events', $$SELECT ops.list_events(event_type => 'secret_event') #>> '{items,0,payload,secret}'$$),
    ('ops export', $$SELECT string_agg(payload ->> 'secret', ',') FROM ops.export_events(current_date) WHERE event_type = 'secret_event'$$),
    ('ops metrics', $$SELECT ops.metrics() ->> 'queue_depth'$$),
    ('game leaderboard', $$SELECT jsonb_array_length(game.get_scenario_leaderboard('forest', 'courage'))::text$$),
    ('game compare', $$SELECT game.compare_with_documents('accounts')::text$$);

CREATE FUNCTION pg_temp.seed(secret text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    doc uuid;
    run uuid;
    account bigint;
BEGIN
    PERFORM cdl.import_character_from_json(tests.sample_cdl());
    PERFORM cdl.upsert_character_field('ada_lovelace', 'identity.secret', to_jsonb(secret));
    PERFORM cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow());
    PERFORM cdl.process_workflow_message('u1', 'ada_lovelace', 'I''ll have a tea');
    doc := (docstore.put_document('shared', 'config', jsonb_build_object('secret', secret), session_id => 's')).document_uuid;
    PERFORM docstore.set_tag(doc, 1, 'production');
    run := ops.create_workflow('run ' || secret);
    PERFORM ops.enqueue_task('job ' || secret, 'work', workflow_id => run);
    PERFORM ops.record_event('secret_event', payload => jsonb_build_object('secret', secret));
    account := game.create_account('kim@example.org', 'Kim ' || secret);  -- the same e-mail in each tenant
    PERFORM game.record_scene_choice((game.start_game_session(game.create_profile(account, 'Kim'), 'forest') ->> 'id')::bigint,
                                     1, 'gate', 'open', '{"courage": 2}');
    PERFORM game.import_documents('accounts', jsonb_build_array(jsonb_build_object('id', 'acc-1', 'email', 'lee@example.org', 'displayName', secret)));
    PERFORM docstore.put_document('game', 'accounts', jsonb_build_object('id', 'acc-1', 'email', 'lee@example.org', 'displayName', secret));
    RETURN doc || ' ' || run;
END
$$;
CREATE TEMP TABLE seeded (tenant text PRIMARY KEY, doc uuid, run uuid);
GRANT ALL ON paths, seeded TO PUBLIC;
GRANT USAGE ON SCHEMA tests TO PUBLIC;  -- the fixtures (rolled back)
INSERT INTO seeded SELECT t, split_part(r, ' ', 1)::uuid, split_part(r, ' ', 2)::uuid
FROM (VALUES ('ta', pg_temp.as_login('t13_bound_a', NULL, $$SELECT pg_temp.seed('a-secret')$$)),
             ('tb', pg_temp.as_login('t13_bound_b', NULL, $$SELECT pg_temp.seed('b-secret')$$))) AS s (t, r);
SELECT is((SELECT count(*) FROM seeded WHERE doc IS NOT NULL AND run IS NOT NULL), 2::bigint,
    'each bound login writes its own rows: the same character name, consumer, e-mail and external id in both');

CREATE FUNCTION pg_temp.results(login name, tenant text) RETURNS TABLE (name text, result text) LANGUAGE sql AS $$
    SELECT p.name, pg_temp.as_login(login, tenant, p.query) FROM paths p ORDER BY p.name
$$;

-- 1. a bound login reads its own rows (positive control) and never the other's, whatever it sets
SELECT set_eq($$SELECT name, result FROM pg_temp.results('t13_bound_a', NULL)$$,
    $$VALUES ('character', 'a-secret'), ('character export', 'a-secret'), ('character list', 'ada_lovelace'),
             ('character search', 'ada_lovelace'), ('workflow instances', '1'), ('tagged document', 'a-secret'),
             ('session listing', '1'), ('change feed', '0'), ('document list', 'a-secret'),
             ('ops events', 'a-secret'), ('ops export', 'a-secret'), ('ops metrics', '1'),
             ('game leaderboard', '1'),
             ('game compare', '{"records": 1, "container": "accounts", "documents": 1, "differences": []}')$$,
    'bound login a reads its own rows on every path (the change feed waits for this transaction to end)');
SELECT is((SELECT string_agg(DISTINCT result, ',') FROM pg_temp.results('t13_bound_a', 'ta')
           WHERE result LIKE '%b-secret%'), NULL, 'naming its own tenant changes nothing');
SELECT is((SELECT string_agg(DISTINCT result, ',') FROM pg_temp.results('t13_bound_a', 'tb')), 'CD008',
    'naming the other tenant: every path raises CD008 (tenant mismatch), none returns b''s rows');
SELECT is((SELECT string_agg(DISTINCT result, ',') FROM pg_temp.results('t13_bound_a', 'default')), 'CD008',
    'nor the default tenant');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, $$SELECT cdl.get_character_complete('ada_lovelace')::jsonb #>> '{cdl,identity,secret}'$$),
    'b-secret', 'bound login b reads its own character under the same name');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, $$SELECT set_config('cdlstore_internal.tenant', 'ta', false) || ' ' || (cdl.get_character_complete('ada_lovelace')::jsonb #>> '{cdl,identity,secret}')$$),
    'ta b-secret', 'forging the tenant the policies read changes nothing: every call resolves it anew first');
SELECT is(pg_temp.as_login('t13_app', NULL, $$SELECT set_config('cdlstore_internal.tenant', 'ta', false) || ' ' || (cdl.get_character_complete('ada_lovelace')::jsonb #>> '{cdl,identity,secret}')$$),
    'CD009', 'nor does it name a tenant for an unbound login');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, format($$SELECT docstore.get_document(%L)::text$$, (SELECT doc FROM seeded WHERE tenant = 'ta'))),
    'CD002', 'b cannot read a''s document by its id');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, format($$SELECT docstore.set_tag(%L, 1, 'stolen', force => true)::text$$, (SELECT doc FROM seeded WHERE tenant = 'ta'))),
    'CD002', 'nor tag it');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, format($$SELECT docstore.delete_document(%L)::text$$, (SELECT doc FROM seeded WHERE tenant = 'ta'))),
    'CD002', 'nor delete it');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, format($$SELECT docstore.purge_document(%L)::text$$, (SELECT doc FROM seeded WHERE tenant = 'ta'))),
    'false', 'nor purge it');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, format($$SELECT ops.get_workflow(%L)::text$$, (SELECT run FROM seeded WHERE tenant = 'ta'))),
    'CD002', 'nor read a''s run');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, format($$SELECT ops.enqueue_task('probe', 'work', workflow_id => %L)::text$$, (SELECT run FROM seeded WHERE tenant = 'ta'))),
    'CD002', 'a task naming a''s run is refused like any unknown run: no probing by foreign key');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, $$SELECT ops.enqueue_task('probe', 'work', workflow_id => gen_random_uuid())::text$$),
    'CD002', 'a random run id is CD002 too, not 23503');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, $$SELECT jsonb_array_length(ops.claim_tasks('w', '{work}', 10))::text$$),
    '1', 'b claims its own task only');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, $$SELECT cdl.archive_character('ada_lovelace')::text$$), 'true',
    'b archives its own character');
SELECT is(pg_temp.as_login('t13_bound_a', NULL, $$SELECT status::text FROM cdl.list_characters()$$), 'active',
    'a''s character of the same name is untouched');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, format($$SELECT docstore.purge_document(%L)::text$$, (SELECT doc FROM seeded WHERE tenant = 'tb'))),
    'true', 'b purges its own document');
SELECT is(pg_temp.as_login('t13_bound_a', NULL, format($$SELECT docstore.get_document(%L) #>> '{body,secret}'$$, (SELECT doc FROM seeded WHERE tenant = 'ta'))),
    'a-secret', 'a''s document with the same body is untouched (bodies are deduplicated per tenant)');
SELECT is(pg_temp.as_login('t13_bound_a', NULL, format($$SELECT docstore.purge_document(%L)::text$$, (SELECT doc FROM seeded WHERE tenant = 'ta'))),
    'true', 'and a purges it after b did (no body shared across tenants)');

-- 2. the change feed: one consumer name per tenant, offsets apart (ids read here as the administrator)
CREATE TEMP TABLE newest AS SELECT tenant, max(id) AS id FROM docstore.change_event GROUP BY tenant;
SELECT is(pg_temp.as_login('t13_bound_b', NULL, format($$SELECT docstore.ack_changes('indexer', %s)::text$$, (SELECT id FROM newest WHERE tenant = 'ta'))),
    'CD002', 'b cannot acknowledge up to an event of a''s (not found)');
-- (a tenant's offsets under a shared consumer name need committed events: tests/test_tenancy.py)

-- 3. an unbound app login must name its tenant: with none, and after a rolled-back set_config, every path fails
SELECT is((SELECT string_agg(DISTINCT result, ',') FROM pg_temp.results('t13_app', NULL)), 'CD009',
    'an unbound app login naming no tenant: every path raises CD009');
SELECT is((SELECT string_agg(DISTINCT result, ',') FROM pg_temp.results('t13_app', '')), 'CD009',
    'an empty tenant is none');
SELECT is(pg_temp.as_login('t13_app', NULL, $$SELECT docstore.put_document('n', 't', '{}')::text$$), 'CD009',
    'nor may it write');
SELECT is(pg_temp.as_login('t13_app', NULL, $$SELECT ops.enqueue_task('x', 'work')::text$$), 'CD009', 'nor queue a task');
SELECT is(pg_temp.as_login('t13_app', NULL, $$SELECT game.create_account('nobody@example.org')::text$$), 'CD009',
    'nor create an account');
SELECT is(pg_temp.as_login('t13_app', NULL, $$SELECT cdl.import_character_from_json(tests.sample_cdl('Nobody'))::text$$), 'CD009',
    'nor import a character');
CREATE FUNCTION pg_temp.after_rollback(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM set_config('cdlstore.tenant', 'ta', true);
        RAISE EXCEPTION 'roll back' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN
        NULL;  -- the set_config is rolled back with the subtransaction
    END;
    EXECUTE query;
    RETURN 'ran';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
SELECT is(pg_temp.as_login('t13_app', NULL, $$SELECT pg_temp.after_rollback('SELECT docstore.list_by_session(''s'')')$$), 'CD009',
    'after a rolled-back set_config the app login has no tenant again: CD009, not every tenant''s rows');
SELECT is(pg_temp.as_login('t13_app', NULL, $$SELECT pg_temp.after_rollback('SELECT docstore.put_document(''n'', ''t'', ''{}'')')$$), 'CD009',
    'and its writes fail, rather than get no tenant');
SELECT is((SELECT string_agg(result, ',') FROM pg_temp.results('t13_app', 'ta') WHERE name IN ('character', 'ops events')),
    'a-secret,a-secret', 'the app login naming ta acts as ta (the trusted application mode)');
SELECT is(pg_temp.as_login('t13_app', 'tc', $$SELECT count(*)::text FROM cdl.list_characters()$$), '0',
    'naming a third tenant sees neither a''s nor b''s character');
SELECT is(pg_temp.as_login('t13_app', repeat('x', 101), $$SELECT jsonb_array_length(docstore.list_by_session('s') -> 'items')::text$$), 'CD001',
    'a malformed tenant name (too long) is CD001');
SELECT is(pg_temp.as_login('t13_app', '*', $$SELECT jsonb_array_length(docstore.list_by_session('s') -> 'items')::text$$), 'CD001',
    'and * is no tenant name: no wildcard');
SELECT is(pg_temp.as_login('t13_app', NULL, $$SELECT cdl.schema_version()$$), cdl.schema_version(),
    'what reads no tenant-scoped row works without a tenant');

-- 4. the administrator: no tenant named is the tenant default; naming one acts as it
SELECT is((SELECT string_agg(result, ',' ORDER BY name) FROM pg_temp.results(NULL, NULL)
           WHERE result LIKE '%secret%' OR result = 'ada_lovelace'), NULL,
    'the administrator naming no tenant sees neither a''s nor b''s rows (it is the tenant default)');
SELECT is(pg_temp.as_login(NULL, NULL, $$SELECT cdl.import_character_from_json(tests.sample_cdl())::text$$) ~ '^\d+$', true,
    'and writes as default: the same character name again');
SELECT is((SELECT tenant FROM cdl.characters WHERE tenant NOT IN ('ta', 'tb')), 'default', 'stored under default');
SELECT is(pg_temp.as_login(NULL, 'ta', $$SELECT cdl.get_character_complete('ada_lovelace')::jsonb #>> '{cdl,identity,secret}'$$),
    'a-secret', 'the administrator naming ta acts as ta');

-- 5. maintenance: an administrator naming no tenant sweeps every tenant; a tenant only its own
SELECT is(pg_temp.as_login('t13_bound_a', NULL, $$SELECT jsonb_array_length(ops.claim_tasks('w', '{work}', 10))::text$$), '1',
    'a claims its task');
SELECT is(pg_temp.as_login('t13_bound_b', NULL, $$SELECT ops.expire_tasks(now() + interval '1 day')::text$$), '1',
    'b expires its own running task only');
SELECT is(pg_temp.as_login(NULL, NULL, $$SELECT ops.expire_tasks(now() + interval '1 day')::text$$), '1',
    'the administrator expires a''s too (every tenant)');
SELECT is(pg_temp.as_login(NULL, NULL, $$SELECT cdl.expire_workflow_timeouts(now() + interval '1 day')::text$$), '2',
    'and both tenants'' workflow instances past their timeout');
SELECT is((SELECT string_agg(DISTINCT tenant, ',' ORDER BY tenant) FROM ops.events WHERE event_type = 'task_retry_scheduled'), 'ta,tb',
    'the sweep wrote each tenant''s events under that tenant');
SELECT is((SELECT string_agg(DISTINCT tenant, ',' ORDER BY tenant) FROM cdl.workflow_execution_log WHERE event_type = 'workflow_timeout'), 'ta,tb',
    'and each timeout log row under its instance''s tenant');
SELECT is(pg_temp.as_login(NULL, NULL, $$SELECT ops.expire_workflows(now() + interval '1 day')::text$$), '0',
    'runs without a deadline do not expire');
SELECT is(pg_temp.as_login(NULL, NULL, $$SELECT cdl.render_character_documents()::text$$) ~ '^\d+$', true,
    'rendering runs for every tenant');
SELECT is(pg_temp.as_login(NULL, NULL, $$SELECT cdl.refresh_character_analytics()::text$$), '', 'the administrator refreshes analytics');
SELECT is((SELECT string_agg(tenant, ',' ORDER BY tenant) FROM cdl.character_analytics), 'default,ta,tb',
    'which cover every tenant and say whose each row is');
SELECT is(pg_temp.as_login('t13_bound_a', NULL, $$SELECT cdl.refresh_character_analytics()::text$$), 'CD006',
    'a tenant may not refresh them (it would see only its own rows)');
SELECT is(pg_temp.as_login('t13_app', NULL, $$SELECT ops.expire_tasks()::text$$), 'CD009',
    'the unbound app login must name a tenant for maintenance too');
SELECT is(pg_temp.as_login('t13_bound_a', NULL, $$SELECT set_config('cdlstore.all_tenants', 'on', false) || (SELECT jsonb_array_length(docstore.list_documents('game', 'accounts') -> 'items'))::text$$),
    'on1', 'setting cdlstore.all_tenants does not widen a bound login''s view');

-- 6. bindings: administration only, keyed by the role itself, bad input refused
SELECT is(pg_temp.as_login('t13_app', 'ta', $$SELECT cdlstore.bind_tenant('t13_app', 'tb')::text$$), '42501',
    'the application cannot bind (nor rebind) a login');
SELECT is(pg_temp.as_login('t13_bound_a', NULL, $$SELECT cdlstore.unbind_tenant('t13_bound_a')::text$$), '42501',
    'nor can a bound login unbind itself');
SELECT is(pg_temp.as_login('t13_app', 'ta', $$SELECT count(*)::text FROM cdlstore_internal.tenant_bindings$$), '42501',
    'nor read the bindings');
SELECT throws_ok($$SELECT cdlstore.bind_tenant('t13_no_such_role', 'ta')$$, 'CD002', NULL, 'binding an unknown role: CD002');
SELECT throws_ok($$SELECT cdlstore.bind_tenant('t13_app', 'bad tenant')$$, 'CD001', NULL, 'a malformed tenant: CD001');
SELECT throws_ok($$SELECT cdlstore.bind_tenant('t13_app', NULL)$$, 'CD001', NULL, 'no tenant: CD001');
SELECT throws_ok($$SELECT cdlstore.bind_tenant(session_user, 'ta')$$, 'CD001', NULL, 'a superuser cannot be bound: CD001');
SELECT is(pg_has_role('t13_bound_a', 'cdlstore_bound', 'MEMBER') AND NOT pg_has_role('t13_app', 'cdlstore_bound', 'MEMBER'), true,
    'a bound login is a member of cdlstore_bound, an unbound one is not');
DROP ROLE t13_bound_b;
CREATE ROLE t13_bound_b LOGIN IN ROLE cdlstore_app;
SELECT is(pg_temp.as_login('t13_bound_b', NULL, $$SELECT docstore.get_tagged('shared', 'config', 'production')::text$$), 'CD009',
    'a role created again under a bound name is not bound');
SELECT is(cdlstore.unbind_tenant('t13_bound_b'), false, 'and has no binding to remove');
SELECT is((SELECT count(*) FROM cdlstore_internal.tenant_bindings WHERE role_name = 't13_bound_b'), 0::bigint,
    'the dropped role''s binding was removed with it on the next administration call');
SELECT is(cdlstore.unbind_tenant('t13_bound_a'), true, 'unbinding a login');
SELECT is(pg_temp.as_login('t13_bound_a', 'tb', $$SELECT cdl.get_character_complete('ada_lovelace')::jsonb #>> '{cdl,identity,secret}'$$),
    'b-secret', 'makes it an unbound login that acts as the tenant it names');

SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
           WHERE p.oid IN ('pg_catalog.ts_match_vq(tsvector,tsquery)'::regprocedure, 'pg_catalog.to_tsvector(regconfig,text)'::regprocedure,
                           'pg_catalog.jsonb_contains(jsonb,jsonb)'::regprocedure, 'pg_catalog.enum_eq(anyenum,anyenum)'::regprocedure,
                           'pg_catalog.enum_ne(anyenum,anyenum)'::regprocedure, 'pg_catalog.array_eq(anyarray,anyarray)'::regprocedure)
             AND NOT p.proleakproof), NULL,
    'full-text matching, jsonb containment, enum and array equality are LEAKPROOF, so that queries under the policies keep their indexes');

SELECT * FROM finish();
ROLLBACK;
