-- Retention policies: stored per (namespace, type), applied by docstore.apply_retention(), one of
-- the maintenance duties (cdlstore worker, cdlstore maintain --once, pg_cron).

CREATE OR REPLACE FUNCTION docstore.set_retention_policy(
    namespace text, type text, keep_last integer, older_than interval DEFAULT interval '0')
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
BEGIN
    PERFORM docstore._check_name(namespace, 'namespace');
    PERFORM docstore._check_name(type, 'type');
    IF keep_last IS NULL THEN  -- no policy: nothing is pruned any more
        DELETE FROM docstore.retention_policy p WHERE p.namespace = namespace AND p.type = type;
        RETURN NULL;
    END IF;
    IF keep_last < 1 OR older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'keep_last must be at least 1 and older_than a positive interval' USING ERRCODE = 'CD001';
    END IF;
    INSERT INTO docstore.retention_policy AS p (namespace, type, keep_last, older_than)
    VALUES (namespace, type, keep_last, older_than)
    ON CONFLICT ON CONSTRAINT retention_policy_key
    DO UPDATE SET keep_last = excluded.keep_last, older_than = excluded.older_than, updated_at = now();
    RETURN jsonb_build_object('namespace', namespace, 'type', type, 'keep_last', keep_last,
                              'older_than', older_than);
END
$$;

COMMENT ON FUNCTION docstore.set_retention_policy(text, text, integer, interval) IS
    'Keep the keep_last newest versions of each document of (namespace, type), and any version younger '
    'than older_than or pointed to by a tag; apply_retention prunes the rest. keep_last NULL removes the policy.';

CREATE OR REPLACE FUNCTION docstore.apply_retention()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = docstore, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    policy docstore.retention_policy;
    pruned integer := cdlstore_internal.sweep(  -- an administrator naming no tenant: every tenant
        'SELECT tenant FROM docstore.retention_policy WHERE $1', 'SELECT docstore.apply_retention() WHERE $1', true)::integer;
BEGIN
    IF pruned IS NOT NULL THEN
        RETURN pruned;
    END IF;
    pruned := 0;
    IF NOT pg_try_advisory_xact_lock(hashtext('docstore.apply_retention'), hashtext(call_tenant)) THEN
        RETURN 0;  -- another session is applying this tenant's policies right now
    END IF;
    FOR policy IN SELECT * FROM docstore.retention_policy p ORDER BY p.namespace, p.type LOOP
        pruned := pruned + (docstore.prune_versions(policy.namespace, policy.type, policy.keep_last,
                                                    policy.older_than, dry_run => false) ->> 'count')::integer;
    END LOOP;
    RETURN pruned;
END
$$;

COMMENT ON FUNCTION docstore.apply_retention() IS
    'Prune every (namespace, type) by its retention policy (untagged old versions only): the caller''s '
    'tenant, every tenant for an administrator naming none. Returns how many versions went. A '
    'maintenance duty: safe to run from many sessions at once.';
