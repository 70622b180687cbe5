DROP FUNCTION IF EXISTS cdl._lock_character(text, text[]);
DROP FUNCTION IF EXISTS cdl._save_document(bigint, jsonb, text[], text[]);
DROP FUNCTION IF EXISTS cdl._render_document(bigint);
DROP FUNCTION IF EXISTS cdl._stored_cdl(bigint, text[]);
ALTER TABLE cdl.character_documents ADD COLUMN complete jsonb;
UPDATE cdl.character_documents AS d
SET complete = jsonb_build_object(
        'id', c.id, 'name', c.name, 'normalized_name', c.normalized_name,
        'occupation', c.occupation, 'description', c.description, 'archetype', c.archetype,
        'status', c.status, 'cdl_version', c.cdl_version, 'import_source', c.import_source,
        'version_count', c.version_count, 'created_by', c.created_by,
        'created_at', c.created_at, 'updated_at', c.updated_at)
    || d.lists
    || jsonb_build_object('cdl', coalesce((SELECT jsonb_object_agg(s.section, s.content)
                                           FROM cdl.character_sections AS s
                                           WHERE s.character_id = d.character_id), '{}'))
FROM cdl.characters AS c WHERE c.id = d.character_id;
ALTER TABLE cdl.character_documents ALTER COLUMN complete SET NOT NULL, DROP COLUMN lists;
DO $$
BEGIN
    ALTER TABLE cdl.character_documents ALTER COLUMN complete SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: character documents use pglz';
END
$$;
DROP TABLE cdl.character_sections;
