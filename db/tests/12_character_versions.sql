-- Versions: snapshots, rollback as a new version, diff.
BEGIN;
SELECT plan(14);

SELECT cdl.import_character_from_json(tests.sample_cdl());
SELECT cdl.upsert_communication_pattern('ada_lovelace', 'greeting', 'hello', 'Good day to you.');
SELECT is(cdl.create_character_version('ada_lovelace', 'first', 'as imported'), 1, 'first version is 1');
SELECT cdl.upsert_character_field('ada_lovelace', 'identity.age', '37');
SELECT cdl.remove_character_field('ada_lovelace', 'personality.quirks');
SELECT cdl.upsert_character_field('ada_lovelace', 'identity.hobby', '"horses"');
SELECT cdl.remove_communication_pattern('ada_lovelace', 'greeting', 'hello');
SELECT is(cdl.create_character_version('ada_lovelace', 'second'), 2, 'second version is 2');

SELECT is(cdl.diff_character_versions('ada_lovelace', 1, 2)::jsonb,
    '{"from_version": 1, "to_version": 2,
      "added": [{"path": "identity.hobby", "value": "horses"}],
      "removed": [{"path": "personality.quirks", "value": []}],
      "changed": [{"path": "identity.age", "old_value": 36, "new_value": 37}]}'::jsonb,
    'diff lists added, removed and changed fields');
SELECT is(cdl.diff_character_versions('ada_lovelace', 2, 2)::jsonb -> 'changed', '[]'::jsonb, 'a version equals itself');

SELECT is(cdl.rollback_character('ada_lovelace', 1), 3, 'rollback creates version 3');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb -> 'cdl', tests.sample_cdl() -> 'character',
    'the CDL is back to version 1');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #>> '{communication_patterns,0,pattern_value}',
    'Good day to you.', 'communication patterns are restored');
SELECT is(tests.cdl_from_rows('ada_lovelace'), tests.sample_cdl() -> 'character', 'and so are the rows');
SELECT is((SELECT (snapshot -> 'cdl') #> '{identity,hobby}' FROM cdl.character_versions
           WHERE version_number = 2), '"horses"'::jsonb, 'version 2 is still there: nothing lost');
SELECT results_eq($$SELECT version_number, version_name::text FROM cdl.list_character_versions('Ada Lovelace')$$,
    $$VALUES (1, 'first'), (2, 'second'), (3, 'rollback to 1')$$, 'versions are listed in order');
SELECT is((cdl.get_character_complete('ada_lovelace')::jsonb ->> 'version_count')::int, 3, 'the document counts versions');

SELECT throws_ok($$SELECT cdl.rollback_character('ada_lovelace', 9)$$, 'CD002', 'version 9 not found',
    'rollback to an unknown version');
SELECT throws_ok($$SELECT cdl.diff_character_versions('ada_lovelace', 1, 9)$$, 'CD002', NULL, 'diff with an unknown version');
SELECT throws_ok($$SELECT cdl.create_character_version('nobody')$$, 'CD002', NULL, 'version of an unknown character');

SELECT * FROM finish();
ROLLBACK;
