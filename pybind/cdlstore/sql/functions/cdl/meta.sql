-- Package metadata.
CREATE OR REPLACE FUNCTION cdl.schema_version()
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
    SELECT max(migration_id) FROM public._yoyo_migration
$$;

COMMENT ON FUNCTION cdl.schema_version() IS
    'The id of the newest applied migration (e.g. 0002_cdl_enums); NULL before any.';
