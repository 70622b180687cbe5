-- Accounts, profiles, badges, sessions and scores.

CREATE OR REPLACE FUNCTION game.create_account(email text, display_name text DEFAULT NULL, external_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
BEGIN
    PERFORM cdlstore_internal.input_text(email, 'email', 254),
            cdlstore_internal.input_text(external_id, 'external_id', 200, false);
    IF email IS NULL OR email !~ '^[^@\s]+@[^@\s]+$' THEN
        RAISE EXCEPTION 'invalid email %', coalesce(quote_literal(email), 'NULL') USING ERRCODE = 'CD001';
    END IF;
    IF EXISTS (SELECT FROM game.accounts a WHERE lower(a.email) = lower(create_account.email)) THEN
        RAISE EXCEPTION 'an account with email % exists already', email USING ERRCODE = 'CD005';
    END IF;
    INSERT INTO game.accounts (email, display_name, external_id) VALUES (email, display_name, external_id)
    RETURNING id INTO v_id;
    RETURN v_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'an account with email % or id % exists already', email, external_id USING ERRCODE = 'CD005';
END
$$;

COMMENT ON FUNCTION game.create_account(text, text, text) IS
    'A new account; email unique whatever its case (CD005 when taken). Returns its id.';

CREATE OR REPLACE FUNCTION game.create_profile(
    account_id bigint, name text, age_group text DEFAULT NULL, avatar text DEFAULT NULL,
    preferences jsonb DEFAULT '{}', external_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
BEGIN
    PERFORM cdlstore_internal.input_text(external_id, 'external_id', 200, false);
    IF coalesce(btrim(name), '') = '' OR preferences IS NULL OR jsonb_typeof(preferences) <> 'object' THEN
        RAISE EXCEPTION 'a profile needs a name, and preferences must be a JSON object' USING ERRCODE = 'CD001';
    END IF;
    IF NOT EXISTS (SELECT FROM game.accounts a WHERE a.id = create_profile.account_id) THEN
        RAISE EXCEPTION 'account % not found', account_id USING ERRCODE = 'CD002';
    END IF;
    INSERT INTO game.user_profiles (account_id, name, age_group, avatar, preferences, external_id)
    VALUES (account_id, name, age_group, avatar, preferences, external_id)
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION game.create_profile(bigint, text, text, text, jsonb, text) IS 'A profile of an account. Returns its id.';

CREATE OR REPLACE FUNCTION game._session_json(s game.game_sessions)
RETURNS jsonb
LANGUAGE sql
STABLE  -- as to_jsonb is, so that it is inlined
AS $$
    SELECT to_jsonb(s)
$$;

COMMENT ON FUNCTION game._session_json(game.game_sessions) IS 'A game session as the API returns it.';

CREATE OR REPLACE FUNCTION game.start_game_session(profile_id bigint, scenario_id text)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    s game.game_sessions;
BEGIN
    PERFORM cdlstore_internal.input_text(scenario_id, 'scenario_id');
    INSERT INTO game.game_sessions (account_id, profile_id, scenario_id)
    SELECT p.account_id, p.id, scenario_id FROM game.user_profiles p WHERE p.id = start_game_session.profile_id
    RETURNING * INTO s;
    IF s.id IS NULL THEN
        RAISE EXCEPTION 'profile % not found', profile_id USING ERRCODE = 'CD002';
    END IF;
    RETURN game._session_json(s);
END
$$;

COMMENT ON FUNCTION game.start_game_session(bigint, text) IS 'Start a session of a profile in a scenario (version 1).';

CREATE OR REPLACE FUNCTION game._session_for_change(p_id bigint, p_expected integer)
RETURNS game.game_sessions
LANGUAGE plpgsql
SET search_path = game, pg_temp
AS $$
DECLARE
    s game.game_sessions;
BEGIN
    SELECT * INTO s FROM game.game_sessions x WHERE x.id = p_id FOR UPDATE;
    IF s.id IS NULL THEN
        RAISE EXCEPTION 'game session % not found', p_id USING ERRCODE = 'CD002';
    ELSIF p_expected IS NOT NULL AND s.version <> p_expected THEN
        RAISE EXCEPTION 'game session % is at version %, not %', p_id, s.version, p_expected
            USING ERRCODE = 'CD003', HINT = 'Reload the session and try again.';
    ELSIF s.status <> 'active' THEN
        RAISE EXCEPTION 'game session % is %', p_id, s.status USING ERRCODE = 'CD004';
    END IF;
    RETURN s;
END
$$;

COMMENT ON FUNCTION game._session_for_change(bigint, integer) IS
    'Lock an active session at the expected version (CD002, CD003, CD004).';

CREATE OR REPLACE FUNCTION game.record_scene_choice(
    session_id bigint, expected_version integer, scene_id text, choice text, compass_deltas jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    s game.game_sessions;
BEGIN
    IF expected_version IS NULL OR coalesce(btrim(scene_id), '') = '' OR choice IS NULL THEN
        RAISE EXCEPTION 'expected_version, scene_id and choice are required' USING ERRCODE = 'CD001';
    END IF;
    IF compass_deltas IS NULL OR jsonb_typeof(compass_deltas) <> 'object'
       OR EXISTS (SELECT FROM jsonb_each(compass_deltas) d WHERE jsonb_typeof(d.value) <> 'number') THEN
        RAISE EXCEPTION 'compass_deltas must map each axis to a number' USING ERRCODE = 'CD001';
    END IF;
    PERFORM cdlstore_internal.input_text(d.key, 'a compass axis') FROM jsonb_each(compass_deltas) d;
    PERFORM cdlstore_internal.input_text(scene_id, 'scene_id'), cdlstore_internal.input_text(choice, 'choice', 1000, false);
    s := game._session_for_change(session_id, expected_version);
    UPDATE game.game_sessions x
    SET current_scene = scene_id, version = x.version + 1, updated_at = now(),
        choices_made = x.choices_made || jsonb_build_array(jsonb_build_object('scene', scene_id, 'choice', choice,
                                                                              'at', now())),
        compass_values = x.compass_values || (
            SELECT coalesce(jsonb_object_agg(d.key, coalesce((x.compass_values ->> d.key)::numeric, 0) + d.value::numeric), '{}')
            FROM jsonb_each(compass_deltas) d)
    WHERE x.id = s.id RETURNING * INTO s;
    INSERT INTO game.player_scenario_scores AS p (profile_id, scenario_id, compass_axis, score, session_id)
    SELECT s.profile_id, s.scenario_id, d.key, d.value::numeric, s.id FROM jsonb_each(compass_deltas) d
    ON CONFLICT ON CONSTRAINT player_scenario_scores_key DO UPDATE
    SET score = p.score + EXCLUDED.score, session_id = EXCLUDED.session_id, recorded_at = now();
    RETURN game._session_json(s);
END
$$;

COMMENT ON FUNCTION game.record_scene_choice(bigint, integer, text, text, jsonb) IS
    'One transaction: the session moves to the scene (choices, compass values, version + 1) and the '
    'profile''s scenario scores add the deltas. A stale expected_version raises CD003.';

CREATE OR REPLACE FUNCTION game._end_session(p_id bigint, p_expected integer, p_status text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = game, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    s game.game_sessions := game._session_for_change(p_id, p_expected);
BEGIN
    UPDATE game.game_sessions x SET status = p_status, completed_at = now(), updated_at = now(), version = x.version + 1
    WHERE x.id = s.id RETURNING * INTO s;
    RETURN game._session_json(s);
END
$$;

COMMENT ON FUNCTION game._end_session(bigint, integer, text) IS 'End an active session as completed or abandoned.';

CREATE OR REPLACE FUNCTION game.complete_game_session(session_id bigint, expected_version integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
    SELECT game._end_session(session_id, expected_version, 'completed')
    WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
$$;

COMMENT ON FUNCTION game.complete_game_session(bigint, integer) IS 'An active session is completed. CD004 otherwise.';

CREATE OR REPLACE FUNCTION game.abandon_game_session(session_id bigint, expected_version integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
    SELECT game._end_session(session_id, expected_version, 'abandoned')
    WHERE (SELECT cdlstore_internal.current_tenant()) IS NOT NULL  -- checked once, first
$$;

COMMENT ON FUNCTION game.abandon_game_session(bigint, integer) IS 'An active session is abandoned. CD004 otherwise.';

CREATE OR REPLACE FUNCTION game.get_game_session(session_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    result jsonb;
BEGIN
    SELECT game._session_json(s) INTO result FROM game.game_sessions s WHERE s.id = get_game_session.session_id;
    IF result IS NULL THEN
        RAISE EXCEPTION 'game session % not found', session_id USING ERRCODE = 'CD002';
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION game.get_game_session(bigint) IS 'A game session. CD002 when unknown.';

CREATE OR REPLACE FUNCTION game.award_badge(profile_id bigint, badge text, axis text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdlstore_internal.input_text(badge, 'badge'), cdlstore_internal.input_text(axis, 'axis', 200, false);
    IF NOT EXISTS (SELECT FROM game.user_profiles p WHERE p.id = award_badge.profile_id) THEN
        RAISE EXCEPTION 'profile % not found', profile_id USING ERRCODE = 'CD002';
    END IF;
    INSERT INTO game.user_badges (profile_id, badge, axis) VALUES (profile_id, badge, axis)
    ON CONFLICT ON CONSTRAINT user_badges_profile_badge_key DO NOTHING;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION game.award_badge(bigint, text, text) IS 'Award a badge; idempotent (false when the profile had it).';

CREATE OR REPLACE FUNCTION game.get_profile_compass_totals(profile_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF NOT EXISTS (SELECT FROM game.user_profiles p WHERE p.id = get_profile_compass_totals.profile_id) THEN
        RAISE EXCEPTION 'profile % not found', profile_id USING ERRCODE = 'CD002';
    END IF;
    RETURN (SELECT coalesce(jsonb_object_agg(t.axis, t.total ORDER BY t.axis), '{}')
            FROM (SELECT s.compass_axis AS axis, sum(s.score) AS total FROM game.player_scenario_scores s
                  WHERE s.profile_id = get_profile_compass_totals.profile_id GROUP BY 1) t);
END
$$;

COMMENT ON FUNCTION game.get_profile_compass_totals(bigint) IS 'A profile''s score per compass axis over every scenario.';

CREATE OR REPLACE FUNCTION game.get_scenario_leaderboard(scenario_id text, axis text, max_rows integer DEFAULT 10)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdlstore_internal.input_text(scenario_id, 'scenario_id'), cdlstore_internal.input_text(axis, 'axis');
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000' USING ERRCODE = 'CD001';
    END IF;
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('rank', b.rank, 'profile_id', b.profile_id,
                                                         'name', b.name, 'score', b.score) ORDER BY b.rank, b.profile_id), '[]')
            FROM (SELECT rank() OVER (ORDER BY s.score DESC) AS rank, s.profile_id, p.name, s.score
                  FROM game.player_scenario_scores s JOIN game.user_profiles p ON p.id = s.profile_id
                  WHERE s.scenario_id = get_scenario_leaderboard.scenario_id AND s.compass_axis = axis
                  ORDER BY s.score DESC LIMIT max_rows) b);
END
$$;

COMMENT ON FUNCTION game.get_scenario_leaderboard(text, text, integer) IS 'The best scores of a scenario on one compass axis.';
