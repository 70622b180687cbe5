-- What the maintenance schedule of the worker needs to know from the cdl schema.

CREATE OR REPLACE FUNCTION cdl.next_workflow_timeout()
RETURNS timestamptz
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
    SELECT min(i.timeout_at) FROM cdl.workflow_instances i WHERE i.status = 'active' AND i.timeout_at IS NOT NULL
$$;

COMMENT ON FUNCTION cdl.next_workflow_timeout() IS
    'When the next active workflow instance times out (NULL: none will); the worker''s maintenance '
    'runs expire_workflow_timeouts then.';
