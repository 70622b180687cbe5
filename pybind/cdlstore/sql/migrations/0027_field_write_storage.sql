-- Each character section is stored once, as its json text in the order to keep (issue 15: a
-- field write wrote every section twice, as jsonb content and as ordered text: most of its WAL,
-- and a jsonb parse of the whole section per write). jsonb is parsed from the text where a
-- function needs it (cdl._stored_cdl); a field write reads only the nodes it touches.
ALTER TABLE cdl.character_sections DROP COLUMN content;

-- The CHECK constraints of the two tables every field write updates become trigger checks with
-- the same rules, names and SQLSTATE (23514). PostgreSQL parses a table's CHECK constraints from
-- their stored text on every statement that writes the table: 64 k instructions of the 2,245 k
-- of a field write for cdl.characters (whose updated_at it sets), 71 k for the value row.
-- cdl.characters: a BEFORE trigger that fires only when normalized_name or version_count is
-- written (cdl._check_character_row); cdl.character_field_values: the change-log trigger that
-- fires on every row anyway (cdl._log_field_change). Both are created by the function files.
ALTER TABLE cdl.characters
    DROP CONSTRAINT characters_normalized_name_check,
    DROP CONSTRAINT characters_version_count_check;
ALTER TABLE cdl.character_field_values
    DROP CONSTRAINT character_field_values_check,
    DROP CONSTRAINT character_field_values_confidence_check;
