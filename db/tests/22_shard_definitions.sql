-- The shard side of the PL/Proxy scale-out: instance ids carry their user's hash, definitions
-- are applied as numbered versions with ids that depend only on the version, and only the
-- proxy's login may apply them.
BEGIN;
SELECT plan(31);

-- ids: the low 10 bits are the user's hash, so the proxy finds the shard from the id alone
SELECT cdl.import_character_from_json(tests.sample_cdl());
SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow());
SELECT is(cdl.start_workflow_instance(u, 'ada_lovelace', 'order') & 1023, (hashtext(u) & 1023)::bigint,
          'an instance id of ' || u || ' carries its hash')
FROM unnest(ARRAY['u1', 'someone else', '漢字']) AS u;

-- applying versions: the first, the same again, a gap, another write at a used version
SELECT is(cdl.definition_version(), 0::bigint, 'nothing applied through a proxy yet');
SELECT is(cdl.apply_definition(1, 'cdl.import_character_from_json(jsonb,character varying,character varying)',
                               ARRAY[tests.sample_cdl('Grace Hopper')::text, 'json_import', NULL], 'editor-1'),
          '1048576'::jsonb, 'version 1 runs the write and returns its result (the id) as jsonb');
SELECT is((SELECT id FROM cdl.characters WHERE normalized_name = 'grace_hopper'), 1048576::bigint,
          'its ids start at the version''s block, on every shard alike');
SELECT is((SELECT DISTINCT changed_by FROM cdl.character_change_log c JOIN cdl.characters ch ON ch.id = c.character_id
           WHERE ch.normalized_name = 'grace_hopper' LIMIT 1), 'editor-1', 'the caller''s actor is the author');
SELECT is(cdl.apply_definition(1, 'cdl.import_character_from_json(jsonb,character varying,character varying)',
                               ARRAY[tests.sample_cdl('Grace Hopper')::text, 'json_import', NULL], 'editor-1'),
          to_jsonb(1048576::bigint), 'the same version again returns the first result');
SELECT is((SELECT count(*) FROM cdl.characters WHERE normalized_name = 'grace_hopper'), 1::bigint,
          'and writes nothing');
SELECT throws_ok($$SELECT cdl.apply_definition(1, 'cdl.archive_character(character varying)', ARRAY['grace_hopper'], 'x')$$,
                 'CD003', NULL, 'another write at a version already applied');
SELECT throws_ok($$SELECT cdl.apply_definition(3, 'cdl.archive_character(character varying)', ARRAY['grace_hopper'], 'x')$$,
                 'CD004', NULL, 'a version after a gap');
SELECT is(cdl.apply_definition(2, 'cdl.upsert_character_field(character varying,character varying,jsonb,character varying,numeric,boolean)',
                               ARRAY['grace_hopper', 'identity.age', '85', 'manual', '1.0', 'true'], NULL),
          '1'::jsonb, 'arguments are text cast to each parameter''s type');
SELECT is(cdl.definition_version(), 2::bigint, 'the shard reports its newest version');
SELECT is((SELECT array_agg(version ORDER BY version) FROM cdl.definition_log_since(0)), ARRAY[1, 2]::bigint[],
          'and lists what it applied, for a shard that missed it');

-- bad input: not a definition write, unknown, a refused write; nothing is logged
SELECT throws_ok($$SELECT cdl.apply_definition(3, 'cdl.process_workflow_message(character varying,character varying,text,boolean,jsonb)',
                 ARRAY['u', 'ada_lovelace', 'hi', NULL, NULL], 'x')$$, 'CD001', NULL, 'a per-user call is not a definition');
SELECT throws_ok($$SELECT cdl.apply_definition(3, 'no such thing(', ARRAY[]::text[], 'x')$$, 'CD001', NULL,
                 'an unknown function');
SELECT throws_ok($$SELECT cdl.apply_definition(3, 'cdl.archive_character(character varying)', ARRAY['nobody'], 'x')$$,
                 'CD002', NULL, 'the write''s own error comes through');
SELECT is(cdl.definition_version(), 2::bigint, 'and none of them was logged');

-- a write as the tenant the proxy resolved: its rows and its log row are that tenant's
SELECT is(cdl.apply_definition(3, 'cdl.import_character_from_json(jsonb,character varying,character varying)',
                               ARRAY[tests.sample_cdl('Grace Hopper')::text, 'json_import', NULL], 'editor-2', 'acme'),
          to_jsonb(3 * 1048576::bigint), 'a version written as tenant acme');
SELECT is((SELECT array_agg(tenant ORDER BY id) FROM cdl.characters WHERE normalized_name = 'grace_hopper'),
          ARRAY['default', 'acme'], 'acme has a grace_hopper of its own beside default''s');
SELECT is((SELECT array_agg(w.tenant ORDER BY w.version) FROM cdl.definition_writes_since(0) w),
          ARRAY['default', 'default', 'acme'], 'the log says whose each write was, for replays');
SELECT is(cdl.definition_version(), 3::bigint, 'the proxy''s view (an administrator naming none): every tenant''s versions');
SELECT throws_ok($$SELECT cdl.apply_definition(3, 'cdl.import_character_from_json(jsonb,character varying,character varying)',
                 ARRAY[tests.sample_cdl('Grace Hopper')::text, 'json_import', NULL], 'editor-2', 'default')$$,
                 'CD003', NULL, 'the same write as another tenant is another write');
SELECT throws_ok($$SELECT cdl.apply_definition(4, 'cdl.archive_character(character varying)', ARRAY['grace_hopper'], 'x', 'bad name!')$$,
                 'CD001', NULL, 'a malformed tenant');
SELECT is(cdl.definition_version(), 3::bigint, 'and it was not logged');
SET LOCAL cdlstore.tenant = 'default';
SELECT is(cdl.definition_version(), 2::bigint, 'a caller naming a tenant sees its own versions');
RESET cdlstore.tenant;

-- the entry point the proxy's routed calls wrap their first argument in; the proxy's login is an
-- administrator through cdlstore_proxy (0019), so it may name any tenant, or none for a sweep
SELECT ok(pg_has_role('cdlstore_proxy', 'cdlstore_tenant_admin', 'MEMBER'), 'cdlstore_proxy is an administrator');
SELECT is(cdl.as_tenant('acme', 5) + 0 * length(current_setting('cdlstore.tenant')), 5,
          'cdl.as_tenant returns its value');
SELECT is(current_setting('cdlstore.tenant'), 'acme', 'and names the tenant for the rest of the transaction');
SELECT set_config('cdlstore.tenant', '', true);

-- only the proxy's login: the app role is refused, whatever it passes
SET LOCAL SESSION AUTHORIZATION cdlstore_app;
SET LOCAL cdlstore.tenant = 'default';  -- an unbound app login names its tenant
SELECT throws_ok($$SELECT cdl.apply_definition(3, 'cdl.archive_character(character varying)', ARRAY['grace_hopper'], 'x')$$,
                 'CD006', NULL, 'the app role may not apply definitions');
SELECT throws_ok($$SELECT cdl.as_tenant('acme', 1)$$, '42501', NULL, 'nor call the proxy''s entry point');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
