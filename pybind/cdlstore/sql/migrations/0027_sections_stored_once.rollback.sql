ALTER TABLE cdl.character_sections ADD COLUMN content jsonb;
UPDATE cdl.character_sections SET content = ordered::jsonb;
ALTER TABLE cdl.character_sections ALTER COLUMN content SET NOT NULL;
