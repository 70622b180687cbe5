-- Back to 0018: the functions of tenancy through the proxy go. The grant of 0019 stays, as
-- cdlstore_proxy does (0017): roles are cluster-wide and other databases may use them.
DROP FUNCTION IF EXISTS cdl.as_tenant(text, anyelement);
DROP FUNCTION IF EXISTS cdl.definition_writes_since(bigint, integer);
DROP FUNCTION IF EXISTS cdl.apply_definition(bigint, text, text[], varchar, text);
