-- Helpers with no caller left, or replaced by one shared helper.
-- cdl._jsonb_set_path lost its last caller when sections became ordered json (0013: field
-- writes use cdl._json_set); only a pgTAP fixture used it, which now has its own copy
-- (db/tests/helpers/cdl.sql). Function files only create, so an upgraded database drops it here.
DROP FUNCTION IF EXISTS cdl._jsonb_set_path(jsonb, text[], jsonb);

-- cdl._log writes a step's end row too (an optional last argument), so that starts and
-- transitions share it instead of each writing its own INSERT; the old signature goes.
DROP FUNCTION IF EXISTS cdl._log(bigint, text, cdl.workflow_event_enum, text, text, text, jsonb);
