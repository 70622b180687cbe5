-- Field writes: upsert, remove, definitions and their rules, the change log, freshness.
BEGIN;
SELECT plan(58);

SELECT cdl.import_character_from_json(tests.sample_cdl());
SET LOCAL cdlstore.actor = 'pgtap-author';

-- upsert a scalar, fresh in the same transaction
SELECT is(cdl.upsert_character_field('ada_lovelace', 'identity.age', '40', 'editor'), 1, 'one value changed');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #> '{cdl,identity,age}', '40'::jsonb,
    'the write is visible to the next call in the same transaction');
SELECT is(cdl.upsert_character_field('ada_lovelace', 'identity.age', '40', 'editor'), 0,
    'writing the same value changes nothing');
SELECT results_eq(
    $$SELECT change_type::text, old_value, new_value, change_source::text, changed_by::text
      FROM cdl.character_change_log WHERE field_path = 'identity.age' AND change_type = 'field_updated'$$,
    $$VALUES ('field_updated', '36'::jsonb, '40'::jsonb, 'editor', 'pgtap-author')$$,
    'the change log has old and new value, source and author');

-- new nested paths, escaped keys, objects
SELECT is(cdl.upsert_character_field('ada_lovelace', 'skills.math\.analysis.level', '"expert"'), 1,
    'a new nested path with an escaped key');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #> '{cdl,skills,math.analysis,level}', '"expert"'::jsonb,
    'the document gains the nested object');
SELECT is((SELECT field_type::text FROM cdl.character_field_definitions WHERE field_path = 'skills.math\.analysis.level'),
    'skills', 'its definition is registered on the fly');
SELECT is(cdl.upsert_character_field('ada_lovelace', 'personality.big_five', '{"openness": 1, "extra": {"a": []}}'),
    3, 'an object value replaces the subtree: 1 updated, 1 removed, 1 added');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #> '{cdl,personality,big_five}',
    '{"openness": 1, "extra": {"a": []}}'::jsonb, 'the subtree is replaced');
SELECT is(cdl.upsert_character_field('ada_lovelace', 'personality.secrets.first', '"none"'), 2,
    'writing inside an empty object: the empty object row goes, the new value comes');
SELECT is(tests.cdl_from_rows('ada_lovelace'), cdl.get_character_complete('ada_lovelace')::jsonb -> 'cdl',
    'rows and document agree after upserts');

-- remove
SELECT is(cdl.remove_character_field('ada_lovelace', 'personality.big_five.extra'), 1, 'remove a subtree');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #> '{cdl,personality,big_five}', '{"openness": 1}'::jsonb,
    'the subtree is gone');
SELECT is(cdl.remove_character_field('ada_lovelace', 'skills.math\.analysis.level'), 1, 'remove the only field of an object');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb -> 'cdl' ? 'skills', false, 'objects left empty go too');
SELECT is((SELECT count(*)::int FROM cdl.character_change_log WHERE change_type = 'field_removed'
           AND field_path = 'skills.math\.analysis.level' AND change_source = 'manual'), 1, 'removals are logged');
SELECT is(tests.cdl_from_rows('ada_lovelace'), cdl.get_character_complete('ada_lovelace')::jsonb -> 'cdl',
    'rows and document agree after removals');

-- declared definitions and their rules
SELECT lives_ok($$SELECT cdl.define_character_field('identity.age', 'number', NULL,
    '{"minimum": 0, "maximum": 150}', 'Age in years')$$, 'declare a number field with bounds');
SELECT throws_ok($$SELECT cdl.upsert_character_field('ada_lovelace', 'identity.age', '"old"')$$, 'CD001',
    'field identity.age must be a number (data type number), got a string', 'wrong type');
SELECT throws_ok($$SELECT cdl.upsert_character_field('ada_lovelace', 'identity.age', '151')$$, 'CD001',
    'field identity.age breaks its rule maximum 150', 'above maximum');
SELECT lives_ok($$SELECT cdl.define_character_field('identity.mood', 'enum', NULL,
    '{"allowed_values": ["calm", "curious"]}')$$, 'declare an enum field');
SELECT throws_ok($$SELECT cdl.upsert_character_field('ada_lovelace', 'identity.mood', '"angry"')$$, 'CD001',
    'field identity.mood breaks its rule allowed_values ["calm", "curious"]', 'not an allowed value');
SELECT lives_ok($$SELECT cdl.upsert_character_field('ada_lovelace', 'identity.mood', '"calm"')$$, 'an allowed value');
SELECT lives_ok($$SELECT cdl.define_character_field('identity.code', 'string', NULL,
    '{"pattern": "^[A-Z]{3}$", "max_length": 3}')$$, 'declare a pattern');
SELECT throws_ok($$SELECT cdl.upsert_character_field('ada_lovelace', 'identity.code', '"abc"')$$, 'CD001',
    'field identity.code breaks its rule pattern "^[A-Z]{3}$"', 'pattern mismatch');
SELECT throws_ok($$SELECT cdl.define_character_field('identity.name', 'number')$$, 'CD001',
    NULL, 'a definition that existing values break is refused');
SELECT throws_ok($$SELECT cdl.define_character_field('x.y', 'string', NULL, '{"pattern": "("}')$$, 'CD001',
    NULL, 'a pattern that does not compile');
SELECT throws_like($$SELECT cdl.define_character_field('x.y', 'string', NULL, '{"pattern": "(\\w*\\s*){1,250}"}')$$,
    'validation pattern of x.y repeats a group with {1,250}; a group may be counted at most 10 times',
    'a validation pattern is checked like a trigger pattern');
SELECT throws_like($$SELECT cdl.define_character_field('x.y', 'string', NULL, '{"pattern": "(?=.*(?=.*z))a"}')$$,
    'validation pattern of x.y uses a lookahead or lookbehind constraint%', 'a lookahead is refused (cubic matching)');
SELECT lives_ok($$SELECT cdl.define_character_field('identity.motto', 'string', NULL, '{"pattern": "^[a-z ]*$"}')$$,
    'declare a pattern on a free text field');
SELECT throws_like($$SELECT cdl.upsert_character_field('ada_lovelace', 'identity.motto', to_jsonb(repeat('a ', 5000) || 'a'))$$,
    'field identity.motto is 10001 characters long; a value checked against a pattern may have at most 10000',
    'a value checked against a pattern has a length limit');
SELECT is(cdl.get_character_complete('ada_lovelace')::jsonb #> '{cdl,identity,motto}', NULL, 'and nothing was written');
SELECT lives_ok($$SELECT cdl.upsert_character_field('ada_lovelace', 'identity.motto', to_jsonb(repeat('a ', 5000)))$$,
    'a value at the limit is matched');
SELECT throws_ok($$SELECT cdl.define_character_field('x.y', 'string', NULL, '{"colour": "red"}')$$, 'CD001',
    NULL, 'an unknown rule');
SELECT throws_ok($$SELECT cdl.define_character_field('x.y', 'colour')$$, 'CD001', NULL, 'an unknown data type');
SELECT lives_ok($$SELECT cdl.define_character_field('identity.name', 'string', NULL, '{"max_length": 200}',
    NULL, true)$$, 'the name becomes required');
SELECT throws_ok($$SELECT cdl.remove_character_field('ada_lovelace', 'identity.name')$$, 'CD001',
    'field identity.name is required', 'a required field cannot be removed');

SELECT is(cdl.upsert_character_field('ada_lovelace', 'quirks.habit', '"tea"'), 1, 'a new section');
SELECT lives_ok($$SELECT cdl.define_character_field('quirks.habit', 'string', NULL, '{}', NULL, true)$$,
    'a field every character holds becomes required');

-- bad input leaves everything as it was
CREATE TEMP TABLE before_counts AS SELECT tests.cdl_counts() AS counts, cdl.get_character_complete('ada_lovelace')::jsonb AS doc;
SELECT throws_ok($$SELECT cdl.upsert_character_field('ada_lovelace', 'identity.name.first', '"A"')$$, 'CD001',
    'cannot set identity.name.first: identity.name holds a string, not an object', 'a path through a scalar');
SELECT throws_ok($$SELECT cdl.upsert_character_field('nobody', 'identity.age', '1')$$, 'CD002',
    'character ''nobody'' not found', 'unknown character');
SELECT throws_ok($$SELECT cdl.remove_character_field('ada_lovelace', 'no.such.field')$$, 'CD002',
    NULL, 'unknown field');
SELECT throws_ok($$SELECT cdl.upsert_character_field('ada_lovelace', 'bad\', '1')$$, 'CD001', NULL,
    'a path ending in an escape');
-- a leaf write finds its row and checks only its own definition: nothing below a stored leaf can
-- be declared required, and a leaf over an object is checked as any other value
SELECT throws_ok($$SELECT cdl.define_character_field('identity.age.years', 'number', NULL, '{}', NULL, true)$$,
    'CD001', NULL, 'a field below a stored leaf cannot be declared required');
SELECT throws_ok($$SELECT cdl.upsert_character_field('ada_lovelace', 'quirks', '"none"')$$, 'CD001',
    'field quirks.habit is required', 'a leaf cannot replace an object that holds a required field');
SELECT throws_ok($$SELECT cdl.upsert_character_field('ada_lovelace', 'identity.name', to_jsonb(repeat('x', 512 * 1024 + 1)))$$,
    'CD007', 'the string at identity.name is over 512 KiB', 'a string leaf over a leaf is at most 512 KiB');
SELECT throws_ok($$SELECT cdl.upsert_character_field('ada_lovelace', 'identity.motto', to_jsonb(repeat('x', 512 * 1024 + 1)))$$,
    'CD007', 'the string at identity.motto is over 512 KiB', 'a string leaf at a new path is at most 512 KiB');
SELECT is(tests.cdl_counts() || jsonb_build_object('doc', cdl.get_character_complete('ada_lovelace')::jsonb),
    (SELECT counts || jsonb_build_object('doc', doc) FROM before_counts), 'failed writes wrote nothing');
SELECT lives_ok($$SELECT cdl.define_character_field('quirks.habit', 'string', NULL, '{}', NULL, false)$$,
    'the field is optional again, for the characters imported below');

-- the row rules that were CHECK constraints until migration 0027 hold as trigger checks, with
-- the same SQLSTATE, even for a direct write; a field write does not fire the characters one
SELECT throws_ok($$UPDATE cdl.characters SET normalized_name = 'Ada Lovelace' WHERE normalized_name = 'ada_lovelace'$$,
    '23514', NULL, 'a character key with a space is refused');
SELECT throws_ok($$UPDATE cdl.characters SET normalized_name = '' WHERE normalized_name = 'ada_lovelace'$$,
    '23514', NULL, 'an empty character key is refused');
SELECT throws_ok($$UPDATE cdl.characters SET version_count = -1 WHERE normalized_name = 'ada_lovelace'$$,
    '23514', NULL, 'a negative version count is refused');
SELECT throws_ok($$UPDATE cdl.character_field_values SET number_value = 1
                   WHERE id = (SELECT min(id) FROM cdl.character_field_values WHERE string_value IS NOT NULL)$$,
    '23514', NULL, 'a field value row holding two values is refused');
SELECT throws_ok($$UPDATE cdl.character_field_values SET confidence = 2
                   WHERE id = (SELECT min(id) FROM cdl.character_field_values)$$,
    '23514', NULL, 'a confidence above 1 is refused');
SELECT lives_ok($$UPDATE cdl.characters SET updated_at = now(), version_count = 0
                  WHERE normalized_name = 'ada_lovelace'$$, 'a row that keeps the rules is written');

-- the change log has no foreign key since migration 0031: its cascade is a statement trigger
SELECT cdl.import_character_from_json('{"identity": {"name": "Log Keeper", "age": 3}}'::text);
SELECT lives_ok($$DELETE FROM cdl.characters WHERE normalized_name = 'ada_lovelace'$$,
    'a character can be deleted (its field values log their removal as they go)');
SELECT is((SELECT count(*)::int FROM cdl.character_change_log l
           WHERE NOT EXISTS (SELECT FROM cdl.characters c WHERE c.id = l.character_id)), 0,
    'and its whole change log goes with it, the field_removed rows of that deletion too');
SELECT ok((SELECT count(*) FROM cdl.character_change_log l JOIN cdl.characters c ON c.id = l.character_id
           WHERE c.normalized_name = 'log_keeper') > 0, 'another character keeps its change log');

SELECT * FROM finish();
ROLLBACK;
