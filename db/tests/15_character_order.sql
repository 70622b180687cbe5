-- Key order: the text form of import keeps the order of the file; field writes keep places,
-- append new keys and keep the rest in order when one goes; rollback restores the order.
BEGIN;
SELECT plan(28);

CREATE FUNCTION pg_temp.keys(doc json) RETURNS text[] LANGUAGE sql AS
    $$ SELECT ARRAY(SELECT json_object_keys(doc)) $$;
CREATE FUNCTION pg_temp.cdl(name text) RETURNS json LANGUAGE sql AS
    $$ SELECT cdl.get_character_complete(name) -> 'cdl' $$;

SELECT cdl.import_character_from_json('{"cdl_version": "1.0", "format": "json",
    "character": {"zeta": {"bb": 1, "a": 2, "bb": 3},
                  "identity": {"name": "Orla Order", "occupation": "Clerk", "age": 40},
                  "alpha": [{"z": 1, "a": 2}, 3]},
    "identity": {"pronouns": "she", "age": 99}, "beta": {"q": 1}}');

SELECT is(pg_temp.keys(pg_temp.cdl('orla_order')), ARRAY['zeta', 'identity', 'alpha', 'beta'],
    'sections come in the order of character, then those only beside it');
SELECT is(pg_temp.keys(pg_temp.cdl('orla_order') -> 'identity'), ARRAY['name', 'occupation', 'age', 'pronouns'],
    'a merged object: the keys of character in order, then the keys only the outside brings');
SELECT is(pg_temp.cdl('orla_order') #>> '{identity,age}', '40', 'character still wins the merge');
SELECT is(pg_temp.keys(pg_temp.cdl('orla_order') -> 'zeta'), ARRAY['bb', 'a'],
    'a key written twice keeps its first place ...');
SELECT is(pg_temp.cdl('orla_order') #>> '{zeta,bb}', '3', '... and its last value, as jsonb keeps it');
SELECT is(pg_temp.keys(pg_temp.cdl('orla_order') #> '{alpha,0}'), ARRAY['z', 'a'],
    'objects inside arrays keep their order');
SELECT is(pg_temp.keys(cdl.export_character_json('orla_order') -> 'character'),
    pg_temp.keys(pg_temp.cdl('orla_order')), 'export gives the same order');
SELECT is(pg_temp.keys(cdl.export_character_json('orla_order')), ARRAY['cdl_version', 'format', 'character'],
    'export is in the wrapped form');
SELECT hasnt_column('cdl', 'character_sections', 'content',
    'each section is stored once, as its ordered text (migration 0027)');

-- the three write cases
SELECT cdl.upsert_character_field('orla_order', 'identity.age', '41');
SELECT is(pg_temp.keys(pg_temp.cdl('orla_order') -> 'identity'), ARRAY['name', 'occupation', 'age', 'pronouns'],
    'updating a value keeps its place');
SELECT is(pg_temp.cdl('orla_order') #>> '{identity,age}', '41', 'and the value is the new one');
SELECT cdl.upsert_character_field('orla_order', 'identity.aaa', '"new"');
SELECT cdl.upsert_character_field('orla_order', 'identity.voice.tone', '"dry"');
SELECT is(pg_temp.keys(pg_temp.cdl('orla_order') -> 'identity'),
    ARRAY['name', 'occupation', 'age', 'pronouns', 'aaa', 'voice'],
    'a new key is appended to its parent, a new object too');
SELECT cdl.upsert_character_field('orla_order', 'aardvark', '{"x": 1}');
SELECT is(pg_temp.keys(pg_temp.cdl('orla_order')), ARRAY['zeta', 'identity', 'alpha', 'beta', 'aardvark'],
    'a new section goes last');
SELECT cdl.remove_character_field('orla_order', 'identity.occupation');
SELECT is(pg_temp.keys(pg_temp.cdl('orla_order') -> 'identity'), ARRAY['name', 'age', 'pronouns', 'aaa', 'voice'],
    'removing a key keeps the order of the rest');
SELECT cdl.remove_character_field('orla_order', 'beta.q');
SELECT is(pg_temp.keys(pg_temp.cdl('orla_order')), ARRAY['zeta', 'identity', 'alpha', 'aardvark'],
    'a section emptied by a removal goes, the others keep their order');
SELECT cdl.upsert_character_field('orla_order', 'alpha', '[3, {"z": 1, "a": 2}]');
SELECT is((pg_temp.cdl('orla_order') -> 'alpha')::jsonb, '[3, {"a": 2, "z": 1}]'::jsonb, 'arrays keep their order');
SELECT is(tests.cdl_from_rows('orla_order'), (pg_temp.cdl('orla_order'))::jsonb,
    'after the writes, the field rows hold what the ordered text holds');

-- rollback restores the order of the version
SELECT cdl.import_character_from_json('{"name": "Rolf Back", "zeta": {"y": 1, "b": 2}, "alpha": {"k": 1}}');
SELECT cdl.create_character_version('rolf_back', 'first');
SELECT cdl.remove_character_field('rolf_back', 'zeta');
SELECT cdl.upsert_character_field('rolf_back', 'zeta.b', '2');
SELECT cdl.upsert_character_field('rolf_back', 'zeta.y', '1');
SELECT is(pg_temp.keys(pg_temp.cdl('rolf_back')), ARRAY['name', 'alpha', 'zeta'], 'written anew, zeta is last');
SELECT cdl.rollback_character('rolf_back', 1);
SELECT is(pg_temp.keys(pg_temp.cdl('rolf_back')), ARRAY['name', 'zeta', 'alpha'], 'rollback restores the sections'' order');
SELECT is(pg_temp.keys(pg_temp.cdl('rolf_back') -> 'zeta'), ARRAY['y', 'b'], 'and the keys'' order');

-- search: equal ranks come in the character's document order
SELECT cdl.import_character_from_json('{"name": "Sear Ch", "zeta": {"note": "a lighthouse keeper"},
    "alpha": {"b": {"note": "a lighthouse keeper"}, "a": "a lighthouse keeper"}}');
SELECT is(ARRAY(SELECT match_path FROM cdl.search_character_knowledge('sear_ch', 'lighthouse')),
    ARRAY['zeta.note', 'alpha.b.note', 'alpha.a'], 'equal ranks: fields in document order');
SELECT is((SELECT match_path FROM cdl.search_characters('lighthouse keeper') WHERE normalized_name = 'sear_ch'),
    'zeta.note', 'the best match of a character is its first in document order');

-- bad text: our error, nothing written
CREATE TEMP TABLE before AS SELECT (SELECT count(*) FROM cdl.characters) AS n,
                                   (SELECT count(*) FROM cdl.character_change_log) AS log;
SELECT throws_ok($$SELECT cdl.import_character_from_json('{"name": "Half"')$$, 'CD001', NULL, 'text that is not JSON');
SELECT throws_ok($$SELECT cdl.import_character_from_json('{"name": "Nul\u0000"}')$$, 'CD001', NULL,
    'a \u0000 PostgreSQL cannot store');
SELECT throws_ok($$SELECT cdl.import_character_from_json(repeat('[', 100) || repeat(']', 100))$$, 'CD001', NULL,
    'not an object');
SELECT throws_ok($$SELECT cdl.import_character_from_json('{"name": "Big", "blob": "' || repeat('x', 5 * 1024 * 1024) || '"}')$$,
    'CD007', NULL, 'over 4 MiB of text');
SELECT throws_ok($$SELECT cdl.import_character_from_json('{"name": "Deep", "d": ' || repeat('{"a": ', 100) || '1'
                                                         || repeat('}', 100) || '}')$$,
    'CD001', NULL, 'nested 100 levels deep');
SELECT is((SELECT ROW((SELECT count(*) FROM cdl.characters), (SELECT count(*) FROM cdl.character_change_log))::text),
    (SELECT ROW(n, log)::text FROM before), 'the refused imports wrote nothing');

SELECT * FROM finish();
ROLLBACK;
