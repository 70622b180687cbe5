-- The app role reaches characters only through the API; readonly reads analytics only.
BEGIN;
SELECT plan(11);

SET LOCAL ROLE cdlstore_app;
SELECT lives_ok($$SELECT cdl.import_character_from_json('{"identity": {"name": "Role Play"}}')$$,
    'the app role imports');
SELECT lives_ok($$SELECT cdl.upsert_character_field('role_play', 'identity.age', '5')$$, 'and writes fields');
SELECT is(cdl.get_character_complete('role_play')::jsonb #>> '{cdl,identity,age}', '5', 'and loads');
SELECT throws_ok($$SELECT * FROM cdl.characters$$, '42501', NULL, 'but cannot read a table');
SELECT throws_ok($$UPDATE cdl.character_field_values SET number_value = 1$$, '42501', NULL, 'or update one');
SELECT throws_ok($$DELETE FROM cdl.character_change_log$$, '42501', NULL, 'or delete from one');
SELECT throws_ok($$INSERT INTO cdl.character_documents VALUES ('x', 1, '{}')$$, '42501', NULL, 'or insert');
SELECT throws_ok($$SELECT cdl._nodes('{}', '{}')$$, '42501', NULL, 'or call an internal helper');
SELECT throws_ok($$SELECT * FROM cdl.character_analytics$$, '42501', NULL, 'or read analytics');
RESET ROLE;

SET LOCAL ROLE cdlstore_readonly;
SELECT lives_ok($$SELECT * FROM cdl.character_analytics$$, 'readonly reads the analytics view');
SELECT throws_ok($$SELECT cdl.get_character_complete('role_play')::jsonb$$, '42501', NULL,
    'readonly cannot call the API');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
