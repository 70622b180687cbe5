-- Characters keep the key order of their file. jsonb orders an object's keys by length and
-- then bytes, so the order lives beside it as json text: each section's text with its keys in
-- file order (ordered; content stays its jsonb, content = ordered::jsonb) and its place among
-- the sections (position). Versions keep the text of their CDL too (cdl_text).
-- What was stored before keeps the order it is shown in today: sections by name, keys as jsonb.
ALTER TABLE cdl.character_sections ADD COLUMN position integer, ADD COLUMN ordered json;
UPDATE cdl.character_sections AS s
SET ordered = s.content::json, position = o.n
FROM (SELECT x.character_id, x.section,
             row_number() OVER (PARTITION BY x.character_id ORDER BY x.section) AS n
      FROM cdl.character_sections AS x) AS o
WHERE o.character_id = s.character_id AND o.section = s.section;
ALTER TABLE cdl.character_sections
    ALTER COLUMN position SET NOT NULL,
    ALTER COLUMN ordered SET NOT NULL;
DO $$
BEGIN
    ALTER TABLE cdl.character_sections ALTER COLUMN ordered SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: character sections use pglz';
END
$$;

ALTER TABLE cdl.character_versions ADD COLUMN cdl_text json;
UPDATE cdl.character_versions
SET cdl_text = (SELECT coalesce(json_object_agg(e.key, e.value::json ORDER BY e.key), '{}')
                FROM jsonb_each(snapshot -> 'cdl') AS e);
ALTER TABLE cdl.character_versions ALTER COLUMN cdl_text SET NOT NULL;

-- functions whose signature changes, or that are gone, are dropped here; the function files
-- create the new ones. export_character_json(varchar) and diff_character_versions(varchar, ...)
-- stay beside their json forms for running clients, until a later release drops them.
DROP FUNCTION IF EXISTS cdl._lock_character(text, text[]);
DROP FUNCTION IF EXISTS cdl._save_document(bigint, jsonb, text[], text[]);
DROP FUNCTION IF EXISTS cdl._store_cdl(bigint, jsonb, jsonb, varchar);
DROP FUNCTION IF EXISTS cdl._deep_merge(jsonb, jsonb);
DROP FUNCTION IF EXISTS cdl._jsonb_remove_path(jsonb, text[]);
DROP FUNCTION IF EXISTS cdl._search(bigint, text, integer);
