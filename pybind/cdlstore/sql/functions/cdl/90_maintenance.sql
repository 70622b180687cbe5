-- What the maintenance schedule of the worker needs to know from the cdl schema.

CREATE OR REPLACE FUNCTION cdl.next_workflow_timeout()
RETURNS timestamptz
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
BEGIN
    RETURN cdlstore_internal.earliest(
        $q$SELECT min(i.timeout_at) FROM cdl.workflow_instances i WHERE i.status = 'active'$q$);
END
$$;

COMMENT ON FUNCTION cdl.next_workflow_timeout() IS
    'When the next active workflow instance times out (NULL: none will); the worker''s maintenance '
    'runs expire_workflow_timeouts then. The caller''s tenant, every tenant for an administrator naming none.';
