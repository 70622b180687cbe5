-- A workflow step is written by one statement: the instance row and its log rows together
-- (cdl._start, cdl._transition), the end event named by cdl._end_event. The helper that logged
-- an end on its own goes.
DROP FUNCTION IF EXISTS cdl._log_end(bigint, text, cdl.workflow_status_enum, text);
