ALTER TABLE docstore.consumer_offset DROP CONSTRAINT consumer_offset_pkey;
ALTER TABLE docstore.consumer_offset ADD CONSTRAINT consumer_offset_pkey PRIMARY KEY (consumer);
ALTER TABLE docstore.tag_policy DROP CONSTRAINT tag_policy_pkey;
ALTER TABLE docstore.tag_policy ADD CONSTRAINT tag_policy_pkey PRIMARY KEY (namespace, tag);
ALTER TABLE docstore.document_body DROP CONSTRAINT document_body_body_hash_key;
ALTER TABLE docstore.document_body ADD CONSTRAINT document_body_body_hash_key UNIQUE (body_hash);
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['docstore.documents', 'docstore.document_header', 'docstore.document_body',
                             'docstore.active_tag', 'docstore.tag_event', 'docstore.tag_policy',
                             'docstore.change_event', 'docstore.consumer_offset', 'ops.workflows',
                             'ops.task_executions', 'ops.events', 'ops.agent_playground_messages'] LOOP
        EXECUTE format('DROP POLICY tenant_isolation ON %s', t);
        EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s DROP COLUMN tenant', t);
    END LOOP;
END
$$;
