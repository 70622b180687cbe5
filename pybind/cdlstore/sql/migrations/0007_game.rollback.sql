DROP TABLE game.player_scenario_scores CASCADE;
DROP TABLE game.game_sessions CASCADE;
DROP TABLE game.user_badges CASCADE;
DROP TABLE game.user_profiles CASCADE;
DROP TABLE game.accounts CASCADE;
