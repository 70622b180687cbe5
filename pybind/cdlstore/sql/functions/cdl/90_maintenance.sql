-- What the maintenance schedule of the worker needs to know from the cdl schema.

CREATE OR REPLACE FUNCTION cdl.next_workflow_timeout()
RETURNS timestamptz
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    every_tenant boolean := cdlstore_internal.sweeping();  -- an administrator naming none
    next_at timestamptz;
BEGIN
    IF every_tenant THEN
        PERFORM cdlstore_internal.all_tenants(true);
    END IF;
    SELECT min(i.timeout_at) INTO next_at FROM cdl.workflow_instances i
    WHERE i.status = 'active' AND i.timeout_at IS NOT NULL;
    IF every_tenant THEN
        PERFORM cdlstore_internal.all_tenants(false);
    END IF;
    RETURN next_at;
END
$$;

COMMENT ON FUNCTION cdl.next_workflow_timeout() IS
    'When the next active workflow instance times out (NULL: none will); the worker''s maintenance '
    'runs expire_workflow_timeouts then. The caller''s tenant, every tenant for an administrator naming none.';
