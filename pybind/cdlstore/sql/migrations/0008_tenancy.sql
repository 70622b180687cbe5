-- Tenancy: docstore and ops rows belong to the tenant of the session that wrote them
-- (setting cdlstore.tenant). With the setting, every function sees and writes only that
-- tenant's rows; row-level security enforces it, for the owner too (FORCE). Without it
-- (administration, single-tenant use) every row is visible.

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['docstore.documents', 'docstore.document_header', 'docstore.document_body',
                             'docstore.active_tag', 'docstore.tag_event', 'docstore.tag_policy',
                             'docstore.change_event', 'docstore.consumer_offset', 'ops.workflows',
                             'ops.task_executions', 'ops.events', 'ops.agent_playground_messages'] LOOP
        EXECUTE format('ALTER TABLE %s ADD COLUMN tenant text DEFAULT nullif(current_setting(''cdlstore.tenant'', true), '''')', t);
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %s
            USING (nullif(current_setting('cdlstore.tenant', true), '') IS NULL
                   OR tenant = current_setting('cdlstore.tenant', true))
            WITH CHECK (nullif(current_setting('cdlstore.tenant', true), '') IS NULL
                        OR tenant = current_setting('cdlstore.tenant', true))$p$, t);
    END LOOP;
END
$$;

-- uniqueness that must hold per tenant, not across tenants
ALTER TABLE docstore.document_body DROP CONSTRAINT document_body_body_hash_key;
ALTER TABLE docstore.document_body ADD CONSTRAINT document_body_body_hash_key
    UNIQUE NULLS NOT DISTINCT (tenant, body_hash);
ALTER TABLE docstore.tag_policy DROP CONSTRAINT tag_policy_pkey;
ALTER TABLE docstore.tag_policy ADD CONSTRAINT tag_policy_pkey UNIQUE NULLS NOT DISTINCT (tenant, namespace, tag);
ALTER TABLE docstore.consumer_offset DROP CONSTRAINT consumer_offset_pkey;
ALTER TABLE docstore.consumer_offset ADD CONSTRAINT consumer_offset_pkey UNIQUE NULLS NOT DISTINCT (tenant, consumer);
