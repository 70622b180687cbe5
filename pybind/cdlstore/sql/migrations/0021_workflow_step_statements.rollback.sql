-- the helper of this step (the function files of the step before bring back cdl._log_end)
DROP FUNCTION IF EXISTS cdl._end_event(cdl.workflow_status_enum);
