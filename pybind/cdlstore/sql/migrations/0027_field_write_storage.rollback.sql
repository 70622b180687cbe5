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
                   'USING ((SELECT cdlstore_internal.call_tenant()) = ANY (ARRAY[tenant, ''*''])) '
                   'WITH CHECK (tenant = (SELECT nullif(cdlstore_internal.call_tenant(), ''*'')))', tbl);
END
$$;

DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT p.polrelid::regclass FROM pg_policy AS p WHERE p.polname = 'tenant_isolation'
             ORDER BY 1::text LOOP
        EXECUTE format('ALTER POLICY tenant_isolation ON %s '
                       'USING ((SELECT cdlstore_internal.call_tenant()) = ANY (ARRAY[tenant, ''*''])) '
                       'WITH CHECK (tenant = (SELECT nullif(cdlstore_internal.call_tenant(), ''*'')))', t);
    END LOOP;
END
$$;

DROP TRIGGER IF EXISTS characters_check_row ON cdl.characters;
DROP FUNCTION IF EXISTS cdl._check_character_row();
ALTER TABLE cdl.characters
    ADD CONSTRAINT characters_normalized_name_check
        CHECK (normalized_name::text <> ''
               AND normalized_name::text !~ '[A-Z[:space:]\u0001-\u002f\u003a-\u0040\u005b-\u005e\u0060\u007b-\u007f]'),
    ADD CONSTRAINT characters_version_count_check CHECK (version_count >= 0);
ALTER TABLE cdl.character_field_values
    ADD CONSTRAINT character_field_values_check
        CHECK (num_nonnulls(string_value, number_value, boolean_value, json_value) = 1),
    ADD CONSTRAINT character_field_values_confidence_check CHECK (confidence >= 0 AND confidence <= 1);

ALTER TABLE cdl.character_sections ADD COLUMN content jsonb;
UPDATE cdl.character_sections SET content = ordered::jsonb;
ALTER TABLE cdl.character_sections ALTER COLUMN content SET NOT NULL;
