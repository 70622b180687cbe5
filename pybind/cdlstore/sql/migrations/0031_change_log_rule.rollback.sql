DROP TRIGGER IF EXISTS characters_delete_change_log ON cdl.characters;
DROP FUNCTION IF EXISTS cdl._delete_change_log();
DELETE FROM cdl.character_change_log l
WHERE NOT EXISTS (SELECT FROM cdl.characters c WHERE c.id = l.character_id);
ALTER TABLE cdl.character_change_log ADD CONSTRAINT character_change_log_character_id_fkey
    FOREIGN KEY (character_id) REFERENCES cdl.characters (id) ON DELETE CASCADE;
