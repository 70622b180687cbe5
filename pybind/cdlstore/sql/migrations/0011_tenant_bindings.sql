-- Tenancy that holds against the application itself, and fails closed (docs/reliability.md).
-- Every table of the four schemas gets a NOT NULL tenant column and a FORCEd row-level
-- security policy. Which tenant a session acts as is decided in one place,
-- cdlstore_internal.current_tenant(), at the start of every API call, from
-- the login (session_user), never from current_user:
-- - a login bound with cdlstore.bind_tenant acts as its tenant, whatever it sets;
-- - an administrator (superuser, cdlstore_owner, cdlstore_tenant_admin) names any tenant,
--   and acts as 'default' with none named;
-- - any other login must name its tenant in cdlstore.tenant, or every call raises CD009.
-- Rows that had no tenant move to 'default'. Uniqueness becomes per tenant (tenant last in
-- each key, so the lookups by the other columns keep their index).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cdlstore_tenant_admin') THEN
        BEGIN
            CREATE ROLE cdlstore_tenant_admin NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by a migration of another database
        END;
    END IF;
END
$$;
GRANT cdlstore_app TO cdlstore_tenant_admin;
-- Every bound login is also a member of cdlstore_bound, so that the guard looks bindings up for
-- those logins only (a membership test is nearly free, a table lookup is not). The owner grants
-- it in cdlstore.bind_tenant.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'cdlstore_bound') THEN
        BEGIN
            CREATE ROLE cdlstore_bound NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END
$$;
GRANT cdlstore_bound TO cdlstore_owner WITH ADMIN OPTION;

-- Shared internals: granted to no one. cdlstore: the tenant administration API.
CREATE SCHEMA cdlstore_internal AUTHORIZATION cdlstore_owner;
CREATE SCHEMA cdlstore AUTHORIZATION cdlstore_owner;
COMMENT ON SCHEMA cdlstore_internal IS 'Internals shared by the cdlstore schemas (tenancy); granted to no one';
COMMENT ON SCHEMA cdlstore IS 'Administration of cdlstore: tenant bindings of login roles';
REVOKE ALL ON SCHEMA cdlstore_internal FROM PUBLIC;
GRANT USAGE ON SCHEMA cdlstore TO cdlstore_tenant_admin;

-- Keyed by the role's oid: a role dropped and created again under the same name is a new
-- role, and not bound. role_name is informational (the name at binding time).
CREATE TABLE cdlstore_internal.tenant_bindings (
    role_oid oid PRIMARY KEY,
    role_name name NOT NULL,
    tenant text NOT NULL,
    bound_by name NOT NULL DEFAULT session_user,
    bound_at timestamptz NOT NULL DEFAULT now()
);

-- Administrators by their login: superusers (members of every role), cdlstore_owner and
-- members of cdlstore_tenant_admin. SET ROLE does not change session_user.
CREATE FUNCTION cdlstore_internal.is_administrator()
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT pg_catalog.pg_has_role(session_user, 'cdlstore_owner', 'MEMBER')
        OR pg_catalog.pg_has_role(session_user, 'cdlstore_tenant_admin', 'MEMBER')
$$;

-- The errors of tenant resolution, raised from the SQL expressions below.
CREATE FUNCTION cdlstore_internal.tenant_error(code text, named text)
RETURNS text
LANGUAGE plpgsql STABLE  -- so that the SQL functions calling it stay inlinable
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF code = 'CD008' THEN
        RAISE EXCEPTION 'tenant mismatch: login role % is bound to another tenant than %', session_user, named
            USING ERRCODE = 'CD008', DETAIL = 'A login bound with cdlstore.bind_tenant acts as its own tenant only.',
                  HINT = 'Leave cdlstore.tenant unset, or set it to the tenant the login is bound to.';
    ELSIF code = 'CD009' THEN
        RAISE EXCEPTION 'no tenant named: login role % must set cdlstore.tenant', session_user
            USING ERRCODE = 'CD009',
                  DETAIL = 'An application login that is not bound to a tenant names its tenant per session or transaction.',
                  HINT = 'SET cdlstore.tenant = ''<tenant>'' (or SET LOCAL per transaction), or bind the login with cdlstore.bind_tenant.';
    END IF;
    RAISE EXCEPTION 'invalid tenant name %', coalesce(left(named, 120), 'NULL')
        USING ERRCODE = 'CD001',
              DETAIL = 'A tenant name is 1 to 100 letters, digits and _.:@- and starts with a letter or digit.',
              HINT = 'Name a tenant such as acme.';
END
$$;

-- A tenant name: 1 to 100 letters, digits and _.:@-, starting with a letter or digit; CD001 otherwise.
CREATE FUNCTION cdlstore_internal.check_tenant_name(tenant text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN tenant ~ '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$' THEN tenant
                ELSE cdlstore_internal.tenant_error('CD001', tenant) END
$$;

-- The rules:
-- - a bound login: its tenant; naming another raises CD008 (bound_tenant);
-- - an unbound login naming a tenant: that tenant (checked);
-- - an unbound administrator naming none: 'default', or '*' (every tenant) inside a maintenance
--   sweep (cdlstore.all_tenants = 'on', set by the maintenance functions around one query);
-- - anyone else naming none: CD009.
CREATE FUNCTION cdlstore_internal.unbound_tenant()
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN nullif(current_setting('cdlstore.tenant', true), '') IS NOT NULL THEN
            cdlstore_internal.check_tenant_name(current_setting('cdlstore.tenant', true))
        WHEN cdlstore_internal.is_administrator() THEN
            CASE WHEN current_setting('cdlstore.all_tenants', true) = 'on' THEN '*' ELSE 'default' END
        ELSE cdlstore_internal.tenant_error('CD009', NULL)
    END
$$;

-- The tenant the session's login is bound to (NULL when it is not); CD008 when the session
-- names another one.
CREATE FUNCTION cdlstore_internal.bound_tenant()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bound text;
    named text := nullif(current_setting('cdlstore.tenant', true), '');
BEGIN
    SELECT b.tenant INTO bound FROM cdlstore_internal.tenant_bindings AS b
    WHERE b.role_oid = quote_ident(session_user)::regrole::oid;
    IF bound <> named THEN
        PERFORM cdlstore_internal.tenant_error('CD008', named);
    END IF;
    RETURN bound;
END
$$;

-- The guard every API call runs first: resolves the tenant of the session's login in full and
-- records it for the rest of the transaction (cdlstore_internal.tenant); the policies read that
-- record. Any call writes it anew before it reads a row, so a value the application sets
-- itself never reaches a policy (db/tests/90_privileges.sql proves every API function starts so).
-- Inlined: no function call at all for unbound logins and superusers.
CREATE FUNCTION cdlstore_internal.current_tenant()
RETURNS text
LANGUAGE sql VOLATILE
AS $$
    SELECT set_config('cdlstore_internal.tenant', coalesce(
        -- a superuser is never bound (bind_tenant refuses one); other logins only in cdlstore_bound
        CASE WHEN current_setting('is_superuser') = 'off'
                  AND pg_catalog.pg_has_role(session_user, 'cdlstore_bound', 'MEMBER')
             THEN cdlstore_internal.bound_tenant() END,
        cdlstore_internal.unbound_tenant()), true)
$$;

-- The tenant the running call resolved (NULL when none did: no row is then visible, none
-- can be written). Inlined into the policies, evaluated once per statement.
CREATE FUNCTION cdlstore_internal.call_tenant()
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT nullif(current_setting('cdlstore_internal.tenant', true), '')
$$;

-- The tenant column's default: the call's tenant, never '*' (a sweep reads every tenant but
-- writes as one); outside any call (a migration run by a superuser), resolved here.
CREATE FUNCTION cdlstore_internal.default_tenant()
RETURNS text
LANGUAGE sql VOLATILE  -- as current_tenant, so that it is inlined
AS $$
    SELECT nullif(coalesce(cdlstore_internal.call_tenant(), cdlstore_internal.current_tenant()), '*')
$$;

-- The one piece that makes a table tenant-scoped: a NOT NULL tenant column filled with the
-- session's tenant (existing rows: 'default'), row-level security FORCEd (it binds the owner's
-- SECURITY DEFINER functions too) and the tenant_isolation policy. Idempotent. Unique keys
-- stay the caller's job: add tenant as their last column.
CREATE PROCEDURE cdlstore_internal.make_tenant_scoped(tbl regclass)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = tbl AND attname = 'tenant' AND NOT attisdropped) THEN
        EXECUTE format('UPDATE %s SET tenant = %L WHERE tenant IS NULL', tbl, 'default');
    ELSE
        EXECUTE format('ALTER TABLE %s ADD COLUMN tenant text DEFAULT %L', tbl, 'default');
    END IF;
    EXECUTE format('ALTER TABLE %s ALTER COLUMN tenant SET NOT NULL, '
                   'ALTER COLUMN tenant SET DEFAULT cdlstore_internal.default_tenant(), '
                   'ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s '
                   'USING ((SELECT cdlstore_internal.call_tenant()) = ANY (ARRAY[tenant, ''*''])) '
                   'WITH CHECK (tenant = (SELECT nullif(cdlstore_internal.call_tenant(), ''*'')))', tbl);
END
$$;

DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game') AND c.relkind IN ('r', 'p')
        ORDER BY 1::text
    LOOP
        CALL cdlstore_internal.make_tenant_scoped(t);
    END LOOP;
END
$$;

-- uniqueness per tenant
ALTER TABLE cdl.characters DROP CONSTRAINT characters_normalized_name_key,
    ADD CONSTRAINT characters_normalized_name_key UNIQUE (normalized_name, tenant);
ALTER TABLE cdl.character_documents DROP CONSTRAINT character_documents_pkey,
    ADD CONSTRAINT character_documents_pkey PRIMARY KEY (normalized_name, tenant);
ALTER TABLE cdl.character_field_definitions DROP CONSTRAINT character_field_definitions_field_path_key,
    ADD CONSTRAINT character_field_definitions_field_path_key UNIQUE (field_path, tenant),
    DROP CONSTRAINT character_field_definitions_path_keys_key,
    ADD CONSTRAINT character_field_definitions_path_keys_key UNIQUE (path_keys, tenant);
ALTER TABLE docstore.document_body DROP CONSTRAINT document_body_body_hash_key,
    ADD CONSTRAINT document_body_body_hash_key UNIQUE (body_hash, tenant);
ALTER TABLE docstore.tag_policy DROP CONSTRAINT tag_policy_pkey,
    ADD CONSTRAINT tag_policy_pkey PRIMARY KEY (namespace, tag, tenant);
ALTER TABLE docstore.consumer_offset DROP CONSTRAINT consumer_offset_pkey,
    ADD CONSTRAINT consumer_offset_pkey PRIMARY KEY (consumer, tenant);
ALTER TABLE game.accounts DROP CONSTRAINT accounts_external_id_key,
    ADD CONSTRAINT accounts_external_id_key UNIQUE (external_id, tenant);
DROP INDEX game.accounts_email_idx;
CREATE UNIQUE INDEX accounts_email_idx ON game.accounts (lower(email), tenant);
ALTER TABLE game.user_profiles DROP CONSTRAINT user_profiles_external_id_key,
    ADD CONSTRAINT user_profiles_external_id_key UNIQUE (external_id, tenant);
ALTER TABLE game.game_sessions DROP CONSTRAINT game_sessions_external_id_key,
    ADD CONSTRAINT game_sessions_external_id_key UNIQUE (external_id, tenant);
ALTER TABLE game.player_scenario_scores DROP CONSTRAINT player_scenario_scores_external_id_key,
    ADD CONSTRAINT player_scenario_scores_external_id_key UNIQUE (external_id, tenant);

-- Analytics cover every tenant (refreshed by an administrator's sweep) and say whose each row is:
-- cdlstore_readonly reads all tenants' rows, so it is an administrator's role.
DROP MATERIALIZED VIEW cdl.character_analytics;
CREATE MATERIALIZED VIEW cdl.character_analytics AS
SELECT c.id AS character_id,
       c.tenant,
       c.normalized_name,
       c.status,
       c.archetype,
       (SELECT count(*) FROM cdl.character_field_values v WHERE v.character_id = c.id) AS field_count,
       (SELECT count(*) FROM cdl.character_knowledge k WHERE k.character_id = c.id) AS knowledge_count,
       (SELECT count(*) FROM cdl.communication_patterns p WHERE p.character_id = c.id) AS pattern_count,
       (SELECT count(*) FROM cdl.response_templates t WHERE t.character_id = c.id) AS template_count,
       c.version_count,
       (SELECT count(*) FROM cdl.character_workflows w
        WHERE w.character_id = c.id AND w.is_current) AS workflow_count,
       greatest(c.updated_at, (SELECT max(l.created_at) FROM cdl.character_change_log l
                                WHERE l.character_id = c.id)) AS last_change_at
FROM cdl.characters c;
CREATE UNIQUE INDEX character_analytics_character_idx ON cdl.character_analytics (character_id);

-- Row-level security keeps a qual whose functions are not LEAKPROOF from running before the
-- policy, so it can no longer use an index: full-text search and metadata filters would scan
-- every tenant's rows, an enum in a partial index's predicate (status = 'active') would no longer
-- select that index, and path_keys = ... (text[]) would scan the field definitions. These cannot
-- reveal a row through an error (their errors name no value), so they are marked LEAKPROOF in
-- this database (needs a superuser, as migrating does).
ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
ALTER FUNCTION pg_catalog.to_tsvector(regconfig, text) LEAKPROOF;
ALTER FUNCTION pg_catalog.jsonb_contains(jsonb, jsonb) LEAKPROOF;
ALTER FUNCTION pg_catalog.enum_eq(anyenum, anyenum) LEAKPROOF;
ALTER FUNCTION pg_catalog.enum_ne(anyenum, anyenum) LEAKPROOF;
ALTER FUNCTION pg_catalog.array_eq(anyarray, anyarray) LEAKPROOF;
