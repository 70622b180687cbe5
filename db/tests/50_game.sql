-- game: accounts, sessions with optimistic versions, scores, badges, import and comparison.
BEGIN;
SELECT plan(26);

CREATE TEMP TABLE ids AS SELECT game.create_account('Kim@Example.org', 'Kim') AS account;
SELECT throws_ok($$SELECT game.create_account('kim@example.ORG')$$, 'CD005', NULL, 'email is unique whatever its case');
SELECT throws_ok($$SELECT game.create_account('not-an-email')$$, 'CD001', NULL, 'a bad email');
ALTER TABLE ids ADD COLUMN profile bigint;
UPDATE ids SET profile = game.create_profile(account, 'Kimmy', 'teen');
SELECT throws_ok($$SELECT game.create_profile(-1, 'x')$$, 'CD002', NULL, 'a profile needs an account');
ALTER TABLE ids ADD COLUMN session bigint;
UPDATE ids SET session = (game.start_game_session(profile, 'forest') ->> 'id')::bigint;
SELECT is((game.record_scene_choice((SELECT session FROM ids), 1, 'gate', 'open', '{"courage": 2, "kindness": 1}') ->> 'version')::int, 2,
    'a choice moves the version on');
SELECT throws_ok(format($$SELECT game.record_scene_choice(%s, 1, 'gate', 'again', '{}')$$, (SELECT session FROM ids)), 'CD003', NULL,
    'a stale version is a conflict');
SELECT is(game.record_scene_choice((SELECT session FROM ids), 2, 'bridge', 'cross', '{"courage": 3}') -> 'compass_values',
    '{"courage": 5, "kindness": 1}'::jsonb, 'compass values add up');
SELECT is(jsonb_array_length(game.get_game_session((SELECT session FROM ids)) -> 'choices_made'), 2, 'choices are kept');
SELECT is(game.get_profile_compass_totals((SELECT profile FROM ids)), '{"courage": 5, "kindness": 1}'::jsonb, 'scores follow');
SELECT throws_ok(format($$SELECT game.record_scene_choice(%s, 3, 'x', 'y', '{"courage": "lots"}')$$, (SELECT session FROM ids)),
    'CD001', NULL, 'deltas must be numbers');
SELECT is(game.complete_game_session((SELECT session FROM ids)) ->> 'status', 'completed', 'complete');
SELECT throws_ok(format($$SELECT game.record_scene_choice(%s, 4, 'x', 'y')$$, (SELECT session FROM ids)), 'CD004', NULL,
    'no choice after the end');
SELECT throws_ok(format($$SELECT game.abandon_game_session(%s)$$, (SELECT session FROM ids)), 'CD004', NULL, 'nor abandoning');
SELECT is(game.award_badge((SELECT profile FROM ids), 'brave', 'courage'), true, 'award a badge');
SELECT is(game.award_badge((SELECT profile FROM ids), 'brave', 'courage'), false, 'idempotently');
SELECT is(game.get_scenario_leaderboard('forest', 'courage') -> 0 ->> 'name', 'Kimmy', 'leaderboard');

-- import
SELECT is(game.import_documents('accounts', '[{"id": "acc-1", "email": "lee@example.org", "displayName": "Lee"}]') ->> 'inserted', '1',
    'import inserts');
SELECT is(game.import_documents('accounts', '[{"id": "acc-1", "email": "lee@example.org", "displayName": "Lee"}]') #>> '{documents,0,status}',
    'unchanged', 'and is idempotent');
SELECT is(game.import_documents('accounts', '[{"id": "acc-1", "email": "lee@example.org", "displayName": "Lee K"}]') #>> '{documents,0,status}',
    'updated', 'a changed document updates');
CREATE TEMP TABLE before_counts AS SELECT (SELECT count(*) FROM game.user_profiles) AS profiles, (SELECT count(*) FROM game.user_badges) AS badges;
SELECT is(game.import_documents('userProfiles', '[{"accountId": "acc-1", "name": "no id"},
    {"id": "pro-1", "accountId": "acc-404", "name": "x"},
    {"id": "pro-2", "accountId": "acc-1", "name": "y", "earnedBadges": "brave"},
    {"id": "pro-3", "accountId": "acc-1", "name": "z", "earnedBadges": [{"badge": "brave"}, {"badge": ""}]}]') -> 'documents',
    '[{"id": null, "status": "rejected", "reason": "id is missing"},
      {"id": "pro-1", "status": "rejected", "reason": "accountId acc-404 is not imported"},
      {"id": "pro-2", "status": "rejected", "reason": "preferences must be an object and earnedBadges a list"},
      {"id": "pro-3", "status": "rejected", "reason": "new row for relation \"user_badges\" violates check constraint \"user_badges_badge_check\""}]'::jsonb,
    'bad documents are rejected with the reason');
SELECT is((SELECT count(*) FROM game.user_profiles) || '/' || (SELECT count(*) FROM game.user_badges),
    (SELECT profiles || '/' || badges FROM before_counts), 'and nothing of them is written, not even half a profile');
SELECT throws_ok($$SELECT game.import_documents('planets', '[]')$$, 'CD001', 'unknown container ''planets''', 'an unknown container');
SELECT throws_ok($$SELECT game.import_documents('accounts', '{}')$$, 'CD001', NULL, 'documents must be a list');

-- compare with docstore
SELECT docstore.put_document('game', 'accounts', '{"id": "acc-1", "email": "lee@example.org", "displayName": "Lee K"}');
SELECT is(game.compare_with_documents('accounts') -> 'differences', '[]'::jsonb, 'both copies agree');
SELECT docstore.put_document('game', 'accounts', '{"id": "acc-2", "email": "mo@example.org"}');
SELECT is(game.compare_with_documents('accounts') -> 'differences', '[{"id": "acc-2", "problem": "missing_in_relational"}]'::jsonb,
    'a document with no record');
SELECT game.import_documents('accounts', '[{"id": "acc-2", "email": "mo@example.org", "displayName": "Mo"}]');
SELECT is(jsonb_array_length(game.compare_with_documents('accounts') -> 'differences'), 0,
    'a field the document does not hold is not compared');
SELECT docstore.put_document('game', 'accounts', '{"id": "acc-2", "email": "mo@example.org", "displayName": "Moe"}',
    document_uuid => (SELECT h.document_uuid FROM docstore.document_header h
                      JOIN docstore.document_body b ON b.document_body_uuid = h.document_body_uuid
                      WHERE b.body ->> 'id' = 'acc-2' LIMIT 1));
SELECT is(game.compare_with_documents('accounts') -> 'differences',
    '[{"id": "acc-2", "problem": "differs", "field": "displayName", "relational": "Mo", "document": "Moe"}]'::jsonb,
    'a field that differs');

SELECT * FROM finish();
ROLLBACK;
