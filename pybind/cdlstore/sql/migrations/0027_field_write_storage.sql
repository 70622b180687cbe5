-- Each character section is stored once, as its json text in the order to keep (issue 15: a
-- field write wrote every section twice, as jsonb content and as ordered text: most of its WAL,
-- and a jsonb parse of the whole section per write). jsonb is parsed from the text where a
-- function needs it (cdl._stored_cdl); a field write reads only the nodes it touches.
ALTER TABLE cdl.character_sections DROP COLUMN IF EXISTS content;

-- The CHECK constraints of the two tables every field write updates become trigger checks with
-- the same rules, names and SQLSTATE (23514). PostgreSQL parses a table's CHECK constraints from
-- their stored text on every statement that writes the table: 64 k instructions of the 2,245 k
-- of a field write for cdl.characters (whose updated_at it sets), 71 k for the value row.
-- cdl.characters: a BEFORE trigger that fires only when normalized_name or version_count is
-- written (cdl._check_character_row); cdl.character_field_values: the change-log trigger that
-- fires on every row anyway (cdl._log_field_change). Both are created by the function files.
ALTER TABLE cdl.characters
    DROP CONSTRAINT IF EXISTS characters_normalized_name_check,
    DROP CONSTRAINT IF EXISTS characters_version_count_check;
ALTER TABLE cdl.character_field_values
    DROP CONSTRAINT IF EXISTS character_field_values_check,
    DROP CONSTRAINT IF EXISTS character_field_values_confidence_check;

-- The tenant_isolation policy compares tenant with call_tenant() directly instead of through a
-- scalar subquery (the same rule: a row is visible to its own tenant and to '*', and is written
-- with the call's tenant, never with '*'). Each subquery was an InitPlan with a Result node that
-- every statement built anew for every table it touches, USING and WITH CHECK: 285 k of the
-- 2,131 k instructions of a field write, which touches six tables. call_tenant() is an inlined
-- read of a setting, evaluated per row: no slower on scans than comparing with the subquery's value.
CREATE OR REPLACE PROCEDURE cdlstore_internal.make_tenant_scoped(tbl regclass)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = tbl AND attname = 'tenant' AND NOT attisdropped) THEN
        EXECUTE format('UPDATE %s SET tenant = %L WHERE tenant IS NULL', tbl, 'default');
    ELSE
        EXECUTE format('ALTER TABLE %s ADD COLUMN tenant text DEFAULT %L', tbl, 'default');
    END IF;
    EXECUTE format('ALTER TABLE %s ALTER COLUMN tenant SET NOT NULL, '
                   'ALTER COLUMN tenant SET DEFAULT cdlstore_internal.default_tenant(), '
                   'ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s '
                   'USING (tenant = cdlstore_internal.call_tenant() OR cdlstore_internal.call_tenant() = ''*'') '
                   'WITH CHECK (tenant = nullif(cdlstore_internal.call_tenant(), ''*''))', tbl);
END
$$;

DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT p.polrelid::regclass FROM pg_policy AS p WHERE p.polname = 'tenant_isolation'
             ORDER BY 1::text LOOP
        EXECUTE format('ALTER POLICY tenant_isolation ON %s '
                       'USING (tenant = cdlstore_internal.call_tenant() OR cdlstore_internal.call_tenant() = ''*'') '
                       'WITH CHECK (tenant = nullif(cdlstore_internal.call_tenant(), ''*''))', t);
    END LOOP;
END
$$;
