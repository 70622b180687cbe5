-- Characters: import forms, names, one-call loading, export round trip, bad input.
BEGIN;
SELECT plan(57);

-- wrapped form
SELECT lives_ok($$SELECT cdl.import_character_from_json(tests.sample_cdl())$$, 'wrapped CDL imports');
SELECT is((SELECT normalized_name::text FROM cdl.characters WHERE name = 'Ada Lovelace'), 'ada_lovelace',
    'normalized name derived from the name');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb -> 'cdl', tests.sample_cdl() -> 'character',
    'get_character_complete returns the CDL exactly as imported');
SELECT is(cdl.get_character_complete('Ada Lovelace')::jsonb, cdl.get_character_complete('ada_lovelace')::jsonb,
    'any name that normalizes to it finds the character');
SELECT is(cdl.get_character_complete('  ADA   lovelace!! ')::jsonb, cdl.get_character_complete('ada_lovelace')::jsonb,
    'case, spaces and punctuation do not matter');
SELECT throws_ok($$SELECT cdl.get_character_complete('nobody at all')$$, 'CD002',
    'character ''nobody at all'' not found', 'an unknown name raises CD002 naming it');
CREATE FUNCTION pg_temp.error_table(query text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    s text;
    t text;
BEGIN
    EXECUTE query;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS s = SCHEMA_NAME, t = TABLE_NAME;
    RETURN s || '.' || t;
END
$f$;
SELECT is(pg_temp.error_table($$SELECT cdl.get_character_complete('nobody at all')$$), 'cdl.characters',
    'the error names the table of what is missing (clients raise CharacterNotFound for it)');
SELECT is(tests.cdl_from_rows('ada_lovelace'), tests.sample_cdl() -> 'character',
    'the field value rows rebuild the same document');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #> '{cdl,custom section}',
    '{"key.with.dots": "dotted", "key with spaces": 1e3, "back\\slash": "escaped"}'::jsonb,
    'keys with dots, spaces and backslashes survive');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #> '{cdl,personality,values}',
    '["curiosity", "rigour", "imagination"]'::jsonb, 'array order survives');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #> '{cdl,personality}' -> 'nickname', 'null'::jsonb,
    'JSON null survives');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #> '{cdl,personality,secrets}', '{}'::jsonb,
    'empty objects survive');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #> '{cdl,personality,quirks}', '[]'::jsonb,
    'empty arrays survive');
SELECT is((SELECT data_type::text FROM cdl.character_field_definitions WHERE field_path = 'custom section.key\.with\.dots'),
    'string', 'a dotted key is addressed with an escaped path');
SELECT is((SELECT field_type::text FROM cdl.character_field_definitions WHERE field_path = 'personality.big_five.openness'),
    'personality', 'field type comes from the top section');
SELECT is((SELECT field_type::text FROM cdl.character_field_definitions WHERE field_path = 'custom section'),
    'custom', 'an unknown top section is custom');
SELECT is((SELECT data_type::text FROM cdl.character_field_definitions WHERE field_path = 'identity.age'),
    'number', 'data type is inferred');
SELECT is((SELECT p.field_path FROM cdl.character_field_definitions c
           JOIN cdl.character_field_definitions p ON p.id = c.parent_field_id
           WHERE c.field_path = 'personality.big_five.neuroticism.value'),
    'personality.big_five.neuroticism', 'definitions form a hierarchy');

SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb ->> 'occupation', 'Mathematician', 'columns come along');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb ->> 'archetype', 'historical', 'archetype from identity');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb -> 'communication_patterns', '[]'::jsonb, 'lists are there');

-- export round trip
SELECT is(cdl.export_character_json('ada_lovelace')::jsonb, tests.sample_cdl(), 'export gives the wrapped file back');
SELECT is(cdl.import_character_from_json(cdl.export_character_json('ada_lovelace')::text),
    (SELECT id FROM cdl.characters WHERE normalized_name = 'ada_lovelace'),
    're-importing the export updates the same character');
SELECT is(cdl.export_character_json('ada_lovelace')::jsonb, tests.sample_cdl(), 'and changes nothing');

-- flat and mixed forms
SELECT lives_ok($$SELECT cdl.import_character_from_json(
    '{"identity": {"name": "Élodie Ñúñez-O''Brien"}, "personality": {"calm": true}}')$$, 'flat CDL imports');
SELECT is(cdl.get_character_complete('elodie_nunez_o_brien')::jsonb #> '{cdl,personality,calm}', 'true'::jsonb,
    'accents are removed, other runs become _');
SELECT lives_ok($$SELECT cdl.import_character_from_json(
    '{"cdl_version": "1.1", "format": "json",
      "character": {"metadata": {"name": "Mixy"}, "identity": {"name": "Mixy", "mood": "inside"}},
      "identity": {"mood": "beside", "hobby": "chess"}, "extra": {"x": 1}}')$$, 'mixed CDL imports');
SELECT is(cdl.get_character_complete('mixy')::jsonb -> 'cdl',
    '{"metadata": {"name": "Mixy"}, "identity": {"name": "Mixy", "mood": "inside", "hobby": "chess"}, "extra": {"x": 1}}'::jsonb,
    'sections beside character are deep-merged, character winning');
SELECT is(cdl.export_character_json('mixy') ->> 'cdl_version', '1.1', 'cdl_version is kept');
SELECT lives_ok($$SELECT cdl.import_character_from_json('{"name": "Plain", "x": 1}', 'test', 'custom_key')$$,
    'the name may be top-level and the normalized name given');
SELECT isnt(cdl.get_character_complete('custom_key')::jsonb, NULL, 'found by the given normalized name');

-- re-import updates in place and logs only what changed
SELECT cdl.import_character_from_json(jsonb_set(tests.sample_cdl(), '{character,identity,age}', '37'));
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #> '{cdl,identity,age}', '37'::jsonb, 're-import updates in place');
SELECT is((SELECT count(*)::int FROM cdl.character_change_log l JOIN cdl.characters c ON c.id = l.character_id
           WHERE c.normalized_name = 'ada_lovelace' AND l.change_type = 'field_updated'),
    1, 'one field_updated row for the one changed field');
SELECT is((SELECT count(*)::int FROM cdl.characters WHERE normalized_name = 'ada_lovelace'), 1, 'no duplicate');

-- bad input: our code, a clear message, nothing written
CREATE TEMP TABLE before_counts AS SELECT tests.cdl_counts() AS counts;
SELECT throws_ok($$SELECT cdl.import_character_from_json('[1, 2]')$$, 'CD001',
    'a CDL document must be a JSON object, got array', 'not an object');
SELECT throws_ok($$SELECT cdl.import_character_from_json('{"identity": {"age": 3}}')$$, 'CD001',
    'the CDL document has no name', 'no name');
SELECT throws_ok($$SELECT cdl.import_character_from_json('{"name": "!!! ???"}')$$, 'CD001',
    'the name ''!!! ???'' normalizes to nothing', 'a name that normalizes to nothing');
SELECT throws_ok($$SELECT cdl.import_character_from_json('{"name": "X"}', 'json_import', 'Bad Key')$$, 'CD001',
    NULL, 'a malformed normalized name');
SELECT throws_ok($$SELECT cdl.import_character_from_json('{"identity": {"name": 42}, "name": "Y"}')$$, 'CD001',
    'field identity.name must be a string (data type string), got a number', 'wrong type for a defined field');
SELECT throws_ok($$SELECT cdl.import_character_from_json(jsonb_build_object('name', 'Big', 'blob', repeat('x', 5 * 1024 * 1024)))$$,
    'CD007', NULL, 'a document over 4 MiB');
SELECT throws_ok($$SELECT cdl.import_character_from_json(jsonb_build_object('name', 'Deep', 'd',
        (SELECT repeat('{"a":', 40) || '1' || repeat('}', 40))::jsonb))$$,
    'CD001', 'CDL is nested 41 levels deep; at most 32 are allowed', 'deeply nested input');
SELECT throws_ok($$SELECT cdl.import_character_from_json(jsonb_build_object('name', repeat('n', 201)))$$,
    'CD001', NULL, 'a name over 200 characters');
SELECT throws_ok($$SELECT cdl.import_character_from_json('{"name": "Z"}', '')$$, 'CD001', NULL, 'empty import source');
SELECT is(tests.cdl_counts(), (SELECT counts FROM before_counts), 'failed imports wrote nothing');

-- the rendered text: written with the document, skipped within a second of the last render
-- (a burst of writes), and get_character_complete is exactly as fresh either way
SELECT cdl.import_character_from_json('{"identity": {"name": "Render Me", "age": 1}}');
SELECT is(pg_typeof(cdl.get_character_complete('render_me'))::text, 'json', 'the document comes as json');
SELECT isnt((SELECT rendered FROM cdl.character_documents WHERE normalized_name = 'render_me')::text, NULL,
    'an import renders the document');
UPDATE cdl.character_documents SET rendered_at = clock_timestamp() + interval '1 minute'
WHERE normalized_name = 'render_me';  -- as if just rendered, however slow this machine is
SELECT cdl.upsert_character_field('render_me', 'identity.age', '2');
SELECT is((SELECT rendered FROM cdl.character_documents WHERE normalized_name = 'render_me')::text, NULL,
    'a write within a second of the last render leaves it unrendered');
SELECT is(cdl.get_character_complete('render_me')::jsonb #>> '{cdl,identity,age}', '2',
    'and the next call sees the write all the same');
SELECT is(cdl.get_character_complete('Render Me')::jsonb #>> '{cdl,identity,age}', '2',
    'so does a call by display name (the key is looked up after the name as given)');
SELECT ok(cdl.render_character_documents() >= 1, 'render_character_documents renders what was left');
SELECT is(cdl.get_character_complete('Render Me')::text,
    (SELECT cdl._render_document(character_id)::text FROM cdl.character_documents
     WHERE normalized_name = 'render_me'),
    'the rendered text is the document built from the tables');

-- a key given at import is its own key: one that normalize_name would fold further is refused,
-- so a lookup by the name as given finds what a lookup by its key finds
SELECT throws_ok($$SELECT cdl.import_character_from_json('{"identity": {"name": "Odd Key"}}', 'json_import', 'odd__key')$$,
    'CD001', 'normalized name ''odd__key'' must be a key normalize_name returns unchanged, such as ''odd_key'', at most 200 characters',
    'a key that folds further is refused');
SELECT cdl.import_character_from_json('{"identity": {"name": "Odd Key"}}', 'json_import', 'odd_key_2');
SELECT is(cdl.get_character_complete('odd_key_2')::jsonb #>> '{cdl,identity,name}', 'Odd Key',
    'a stored key is found as given');

-- the CDL is stored a row per top-level section: a field write rewrites its own section only
SELECT cdl.import_character_from_json('{"identity": {"name": "Sec Tion", "age": 1}, "other": {"x": [1, {}]},
                                        "empty": {}, "nothing": null}');
CREATE TEMP TABLE sections_before AS
SELECT s.section, s.ctid::text AS place FROM cdl.character_sections s
JOIN cdl.characters c ON c.id = s.character_id WHERE c.normalized_name = 'sec_tion';
SELECT cdl.upsert_character_field('sec_tion', 'identity.age', '2');
SELECT results_eq(
    $$SELECT s.section, s.ctid::text = b.place FROM cdl.character_sections s
      JOIN cdl.characters c ON c.id = s.character_id JOIN sections_before b USING (section)
      WHERE c.normalized_name = 'sec_tion' ORDER BY 1$$,
    $$VALUES ('empty', true), ('identity', false), ('nothing', true), ('other', true)$$,
    'a field write rewrites only the section it is in');
SELECT cdl.remove_character_field('sec_tion', 'other.x');
SELECT is((SELECT array_agg(s.section ORDER BY s.section) FROM cdl.character_sections s
           JOIN cdl.characters c ON c.id = s.character_id WHERE c.normalized_name = 'sec_tion'),
    ARRAY['empty', 'identity', 'nothing'], 'a section emptied by a removal goes');
SELECT is(cdl.get_character_complete('sec_tion')::jsonb -> 'cdl',
    '{"identity": {"name": "Sec Tion", "age": 2}, "empty": {}, "nothing": null}',
    'and the document follows, empty objects and nulls kept');
SELECT throws_ok($$SELECT cdl.render_character_documents(0)$$, 'CD001', 'max_count must be at least 1, got 0',
    'a batch of nothing');

SELECT * FROM finish();
ROLLBACK;
