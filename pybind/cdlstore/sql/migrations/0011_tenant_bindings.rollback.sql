ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) NOT LEAKPROOF;
ALTER FUNCTION pg_catalog.to_tsvector(regconfig, text) NOT LEAKPROOF;
ALTER FUNCTION pg_catalog.jsonb_contains(jsonb, jsonb) NOT LEAKPROOF;
ALTER FUNCTION pg_catalog.enum_eq(anyenum, anyenum) NOT LEAKPROOF;
ALTER FUNCTION pg_catalog.enum_ne(anyenum, anyenum) NOT LEAKPROOF;
ALTER FUNCTION pg_catalog.array_eq(anyarray, anyarray) NOT LEAKPROOF;
-- Back to 0010: tenant columns and policies only on the docstore and ops tables of 0008
-- (nullable, the setting or every row), global uniqueness, no bindings.
DROP MATERIALIZED VIEW cdl.character_analytics;
CREATE MATERIALIZED VIEW cdl.character_analytics AS
SELECT c.id AS character_id,
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

DROP INDEX game.accounts_email_idx;
ALTER TABLE game.player_scenario_scores DROP CONSTRAINT player_scenario_scores_external_id_key;
ALTER TABLE game.game_sessions DROP CONSTRAINT game_sessions_external_id_key;
ALTER TABLE game.user_profiles DROP CONSTRAINT user_profiles_external_id_key;
ALTER TABLE game.accounts DROP CONSTRAINT accounts_external_id_key;
ALTER TABLE docstore.consumer_offset DROP CONSTRAINT consumer_offset_pkey;
ALTER TABLE docstore.tag_policy DROP CONSTRAINT tag_policy_pkey;
ALTER TABLE docstore.document_body DROP CONSTRAINT document_body_body_hash_key;
ALTER TABLE cdl.character_field_definitions DROP CONSTRAINT character_field_definitions_field_path_key,
    DROP CONSTRAINT character_field_definitions_path_keys_key;
ALTER TABLE cdl.character_documents DROP CONSTRAINT character_documents_pkey;
ALTER TABLE cdl.characters DROP CONSTRAINT characters_normalized_name_key;

DO $$
DECLARE
    t regclass;
    of_0008 regclass[] := ARRAY['docstore.documents', 'docstore.document_header', 'docstore.document_body',
                                'docstore.active_tag', 'docstore.tag_event', 'docstore.tag_policy',
                                'docstore.change_event', 'docstore.consumer_offset', 'ops.workflows',
                                'ops.task_executions', 'ops.events', 'ops.agent_playground_messages'];
BEGIN
    FOR t IN
        SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game') AND c.relkind IN ('r', 'p')
    LOOP
        EXECUTE format('DROP POLICY tenant_isolation ON %s', t);
        IF t = ANY (of_0008) THEN
            EXECUTE format('ALTER TABLE %s ALTER COLUMN tenant DROP NOT NULL, '
                           'ALTER COLUMN tenant SET DEFAULT nullif(current_setting(''cdlstore.tenant'', true), '''')', t);
            EXECUTE format($p$CREATE POLICY tenant_isolation ON %s
                USING (nullif(current_setting('cdlstore.tenant', true), '') IS NULL
                       OR tenant = current_setting('cdlstore.tenant', true))
                WITH CHECK (nullif(current_setting('cdlstore.tenant', true), '') IS NULL
                            OR tenant = current_setting('cdlstore.tenant', true))$p$, t);
        ELSE
            EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY, '
                           'DROP COLUMN tenant', t);
        END IF;
    END LOOP;
END
$$;

ALTER TABLE cdl.characters ADD CONSTRAINT characters_normalized_name_key UNIQUE (normalized_name);
ALTER TABLE cdl.character_documents ADD CONSTRAINT character_documents_pkey PRIMARY KEY (normalized_name);
ALTER TABLE cdl.character_field_definitions
    ADD CONSTRAINT character_field_definitions_field_path_key UNIQUE (field_path),
    ADD CONSTRAINT character_field_definitions_path_keys_key UNIQUE (path_keys);
ALTER TABLE docstore.document_body ADD CONSTRAINT document_body_body_hash_key UNIQUE NULLS NOT DISTINCT (tenant, body_hash);
ALTER TABLE docstore.tag_policy ADD CONSTRAINT tag_policy_pkey UNIQUE NULLS NOT DISTINCT (tenant, namespace, tag);
ALTER TABLE docstore.consumer_offset ADD CONSTRAINT consumer_offset_pkey UNIQUE NULLS NOT DISTINCT (tenant, consumer);
ALTER TABLE game.accounts ADD CONSTRAINT accounts_external_id_key UNIQUE (external_id);
CREATE UNIQUE INDEX accounts_email_idx ON game.accounts (lower(email));
ALTER TABLE game.user_profiles ADD CONSTRAINT user_profiles_external_id_key UNIQUE (external_id);
ALTER TABLE game.game_sessions ADD CONSTRAINT game_sessions_external_id_key UNIQUE (external_id);
ALTER TABLE game.player_scenario_scores ADD CONSTRAINT player_scenario_scores_external_id_key UNIQUE (external_id);

DROP FUNCTION IF EXISTS cdlstore.bind_tenant(name, text);
DROP FUNCTION IF EXISTS cdlstore.unbind_tenant(name);
DROP SCHEMA cdlstore CASCADE;
DROP SCHEMA cdlstore_internal CASCADE;
REVOKE cdlstore_app FROM cdlstore_tenant_admin;
REVOKE cdlstore_bound FROM cdlstore_owner;
