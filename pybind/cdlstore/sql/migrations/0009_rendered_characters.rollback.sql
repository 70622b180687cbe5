DROP FUNCTION IF EXISTS cdl.get_character_complete(varchar);
ALTER TABLE cdl.character_documents DROP COLUMN rendered, DROP COLUMN rendered_at;
