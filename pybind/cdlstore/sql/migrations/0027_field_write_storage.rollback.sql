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
