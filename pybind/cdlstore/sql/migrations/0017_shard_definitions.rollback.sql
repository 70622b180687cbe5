-- The cdlstore_proxy role stays: roles are cluster-wide and other databases may use it.
DROP FUNCTION IF EXISTS cdl.apply_definition(bigint, text, text[], varchar);
DROP FUNCTION IF EXISTS cdl.definition_version();
DROP FUNCTION IF EXISTS cdl.definition_log_since(bigint, integer);
DROP FUNCTION IF EXISTS cdl._require_proxy();
DROP TABLE cdl.definition_log;
