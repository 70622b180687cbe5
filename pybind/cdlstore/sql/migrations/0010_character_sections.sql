-- The CDL of a character is stored one row per top-level section instead of inside one jsonb
-- document. A field write then reads and writes its section (1-3 KB) instead of the whole
-- document (30 KB for a realistic character, rewritten to TOAST on every write). The
-- rendered text of the whole character stays in character_documents for get_character_complete;
-- lists holds communication_patterns, response_templates, knowledge and workflows, which change
-- only with their own tables. The columns come from characters itself.
CREATE TABLE cdl.character_sections (
    character_id bigint NOT NULL REFERENCES cdl.characters (id) ON DELETE CASCADE,
    section text NOT NULL,
    content jsonb NOT NULL,
    PRIMARY KEY (character_id, section)
);
DO $$
BEGIN
    ALTER TABLE cdl.character_sections ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: character sections use pglz';
END
$$;
INSERT INTO cdl.character_sections (character_id, section, content)
SELECT d.character_id, s.key, s.value
FROM cdl.character_documents AS d, jsonb_each(d.complete -> 'cdl') AS s;

ALTER TABLE cdl.character_documents ADD COLUMN lists jsonb NOT NULL DEFAULT '{}';
UPDATE cdl.character_documents
SET lists = jsonb_build_object(
    'communication_patterns', coalesce(complete -> 'communication_patterns', '[]'),
    'response_templates', coalesce(complete -> 'response_templates', '[]'),
    'knowledge', coalesce(complete -> 'knowledge', '[]'),
    'workflows', coalesce(complete -> 'workflows', '[]'));
ALTER TABLE cdl.character_documents DROP COLUMN complete;

-- functions whose signature changes are dropped here; the function files create them anew
DROP FUNCTION IF EXISTS cdl._lock_character(text);
DROP FUNCTION IF EXISTS cdl._save_document(bigint, jsonb, text[]);
