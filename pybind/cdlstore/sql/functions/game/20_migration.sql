-- Moving documents in (import_documents) and checking both copies agree (compare_with_documents).
-- Containers: accounts, user_profiles (with embedded earnedBadges), game_sessions,
-- player_scenario_scores; documents use string ids and camelCase fields.

CREATE OR REPLACE FUNCTION game._container(container text)
RETURNS text
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = game, pg_temp
AS $$
DECLARE
    v text := CASE container WHEN 'userProfiles' THEN 'user_profiles' WHEN 'gameSessions' THEN 'game_sessions'
                             WHEN 'playerScenarioScores' THEN 'player_scenario_scores' ELSE container END;
BEGIN
    IF v IS NULL OR v NOT IN ('accounts', 'user_profiles', 'game_sessions', 'player_scenario_scores') THEN
        RAISE EXCEPTION 'unknown container %', coalesce(quote_literal(container), 'NULL') USING ERRCODE = 'CD001',
            DETAIL = 'Known: accounts, user_profiles, game_sessions, player_scenario_scores.';
    END IF;
    RETURN v;
END
$$;

COMMENT ON FUNCTION game._container(text) IS 'The canonical name of a container (camelCase accepted); CD001 when unknown.';

CREATE OR REPLACE FUNCTION game._ref(tbl text, external_id text, field text)
RETURNS bigint
LANGUAGE plpgsql
STABLE
SET search_path = game, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF external_id IS NULL THEN
        RAISE EXCEPTION '% is missing', field USING ERRCODE = 'CD001';
    END IF;
    EXECUTE format('SELECT id FROM game.%I WHERE external_id = $1', tbl) INTO v_id USING external_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION '% % is not imported', field, external_id USING ERRCODE = 'CD001';
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION game._ref(text, text, text) IS 'The id of an imported record by its document id; CD001 when absent.';

CREATE OR REPLACE FUNCTION game._as_document(container text, p_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = game, pg_temp
AS $$
BEGIN
    -- the relational record in the document's shape: the fields both copies hold
    RETURN CASE container
    WHEN 'accounts' THEN (SELECT jsonb_build_object('id', a.external_id, 'email', a.email,
                                                    'displayName', a.display_name, 'status', a.status)
                          FROM game.accounts a WHERE a.id = p_id)
    WHEN 'user_profiles' THEN (
        SELECT jsonb_build_object('id', p.external_id, 'accountId', a.external_id, 'name', p.name,
                                  'ageGroup', p.age_group, 'avatar', p.avatar, 'preferences', p.preferences,
                                  'earnedBadges', (SELECT coalesce(jsonb_agg(b.badge ORDER BY b.badge), '[]')
                                                   FROM game.user_badges b WHERE b.profile_id = p.id))
        FROM game.user_profiles p JOIN game.accounts a ON a.id = p.account_id WHERE p.id = p_id)
    WHEN 'game_sessions' THEN (
        SELECT jsonb_build_object('id', s.external_id, 'accountId', a.external_id, 'profileId', p.external_id,
                                  'scenarioId', s.scenario_id, 'status', s.status, 'currentScene', s.current_scene,
                                  'choicesMade', s.choices_made, 'compassValues', s.compass_values)
        FROM game.game_sessions s JOIN game.accounts a ON a.id = s.account_id
        JOIN game.user_profiles p ON p.id = s.profile_id WHERE s.id = p_id)
    ELSE (
        SELECT jsonb_build_object('id', x.external_id, 'profileId', p.external_id, 'scenarioId', x.scenario_id,
                                  'compassAxis', x.compass_axis, 'score', x.score, 'sessionId', s.external_id)
        FROM game.player_scenario_scores x JOIN game.user_profiles p ON p.id = x.profile_id
        LEFT JOIN game.game_sessions s ON s.id = x.session_id WHERE x.id = p_id)
    END;
END
$$;

COMMENT ON FUNCTION game._as_document(text, bigint) IS 'A relational record in the shape of its document (the compared fields).';

CREATE OR REPLACE FUNCTION game._normalized(container text, doc jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
AS $$
    -- a document as compared: embedded badges by name, in order
    SELECT CASE WHEN container = 'user_profiles' THEN doc || jsonb_build_object('earnedBadges',
               (SELECT coalesce(jsonb_agg(coalesce(b ->> 'badge', b ->> 'badgeId', b #>> '{}')
                                          ORDER BY coalesce(b ->> 'badge', b ->> 'badgeId', b #>> '{}')), '[]')
                FROM jsonb_array_elements(CASE WHEN jsonb_typeof(doc -> 'earnedBadges') = 'array'
                                               THEN doc -> 'earnedBadges' ELSE '[]' END) b))
           ELSE doc END
$$;

COMMENT ON FUNCTION game._normalized(text, jsonb) IS 'A document as compare_with_documents sees it.';

CREATE OR REPLACE FUNCTION game._import_profile(p_external_id text, doc jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = game, pg_temp
AS $$
DECLARE
    v_id bigint;
    badge jsonb;
BEGIN
    INSERT INTO game.user_profiles AS p (external_id, account_id, name, age_group, avatar, preferences)
    VALUES (p_external_id, game._ref('accounts', doc ->> 'accountId', 'accountId'), doc ->> 'name',
            doc ->> 'ageGroup', doc ->> 'avatar', coalesce(doc -> 'preferences', '{}'))
    ON CONFLICT (external_id, tenant) DO UPDATE
    SET account_id = EXCLUDED.account_id, name = EXCLUDED.name, age_group = EXCLUDED.age_group,
        avatar = EXCLUDED.avatar, preferences = EXCLUDED.preferences
    RETURNING p.id INTO v_id;
    DELETE FROM game.user_badges b WHERE b.profile_id = v_id
      AND NOT b.badge IN (SELECT e FROM jsonb_array_elements_text(
              game._normalized('user_profiles', doc) -> 'earnedBadges') e);
    FOR badge IN SELECT * FROM jsonb_array_elements(coalesce(doc -> 'earnedBadges', '[]')) LOOP
        INSERT INTO game.user_badges (profile_id, badge, axis, earned_at)
        VALUES (v_id, coalesce(badge ->> 'badge', badge ->> 'badgeId', badge #>> '{}'), badge ->> 'axis',
                coalesce((badge ->> 'earnedAt')::timestamptz, now()))
        ON CONFLICT ON CONSTRAINT user_badges_profile_badge_key DO UPDATE SET axis = EXCLUDED.axis;
    END LOOP;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION game._import_profile(text, jsonb) IS
    'Upsert one checked user_profiles document with its earned badges; returns the profile id.';

CREATE OR REPLACE FUNCTION game._import_one(container text, doc jsonb)
RETURNS text
LANGUAGE plpgsql
SET search_path = game, pg_temp
AS $$
DECLARE
    v_ext text := doc ->> 'id';
    v_id bigint;
    v_before jsonb;
BEGIN
    IF jsonb_typeof(doc) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'a document must be a JSON object' USING ERRCODE = 'CD001';
    END IF;
    IF coalesce(jsonb_typeof(doc -> 'id'), 'missing') NOT IN ('string', 'number') OR v_ext = '' THEN
        RAISE EXCEPTION 'id is missing' USING ERRCODE = 'CD001';
    END IF;
    EXECUTE format('SELECT id FROM game.%I WHERE external_id = $1', container) INTO v_id USING v_ext;
    v_before := CASE WHEN v_id IS NULL THEN NULL ELSE game._as_document(container, v_id) END;
    CASE container
    WHEN 'accounts' THEN
        IF jsonb_typeof(doc -> 'email') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'email must be a string' USING ERRCODE = 'CD001';
        END IF;
        INSERT INTO game.accounts AS a (external_id, email, display_name, status)
        VALUES (v_ext, doc ->> 'email', doc ->> 'displayName', coalesce(doc ->> 'status', 'active'))
        ON CONFLICT (external_id, tenant) DO UPDATE
        SET email = EXCLUDED.email, display_name = EXCLUDED.display_name, status = EXCLUDED.status, updated_at = now()
        RETURNING a.id INTO v_id;
    WHEN 'user_profiles' THEN
        IF jsonb_typeof(doc -> 'preferences') NOT IN ('object', 'null')
           OR jsonb_typeof(doc -> 'earnedBadges') NOT IN ('array', 'null') THEN
            RAISE EXCEPTION 'preferences must be an object and earnedBadges a list' USING ERRCODE = 'CD001';
        END IF;
        v_id := game._import_profile(v_ext, doc);
    WHEN 'game_sessions' THEN
        IF jsonb_typeof(doc -> 'choicesMade') NOT IN ('array', 'null')
           OR jsonb_typeof(doc -> 'compassValues') NOT IN ('object', 'null') THEN
            RAISE EXCEPTION 'choicesMade must be a list and compassValues an object' USING ERRCODE = 'CD001';
        END IF;
        INSERT INTO game.game_sessions AS s (external_id, account_id, profile_id, scenario_id, status, current_scene,
                                             choices_made, compass_values)
        VALUES (v_ext, game._ref('accounts', doc ->> 'accountId', 'accountId'),
                game._ref('user_profiles', doc ->> 'profileId', 'profileId'), doc ->> 'scenarioId',
                coalesce(doc ->> 'status', 'active'), doc ->> 'currentScene',
                coalesce(doc -> 'choicesMade', '[]'), coalesce(doc -> 'compassValues', '{}'))
        ON CONFLICT (external_id, tenant) DO UPDATE
        SET account_id = EXCLUDED.account_id, profile_id = EXCLUDED.profile_id, scenario_id = EXCLUDED.scenario_id,
            status = EXCLUDED.status, current_scene = EXCLUDED.current_scene, choices_made = EXCLUDED.choices_made,
            compass_values = EXCLUDED.compass_values, updated_at = now(),
            version = s.version + CASE WHEN (s.status, s.current_scene, s.choices_made, s.compass_values)
                                            IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.current_scene,
                                                              EXCLUDED.choices_made, EXCLUDED.compass_values)
                                       THEN 1 ELSE 0 END
        RETURNING s.id INTO v_id;
    ELSE
        IF jsonb_typeof(doc -> 'score') IS DISTINCT FROM 'number' THEN
            RAISE EXCEPTION 'score must be a number' USING ERRCODE = 'CD001';
        END IF;
        INSERT INTO game.player_scenario_scores AS x (external_id, profile_id, scenario_id, compass_axis, score, session_id)
        VALUES (v_ext, game._ref('user_profiles', doc ->> 'profileId', 'profileId'), doc ->> 'scenarioId',
                doc ->> 'compassAxis', (doc ->> 'score')::numeric,
                CASE WHEN doc ->> 'sessionId' IS NOT NULL THEN game._ref('game_sessions', doc ->> 'sessionId', 'sessionId') END)
        ON CONFLICT (external_id, tenant) DO UPDATE
        SET profile_id = EXCLUDED.profile_id, scenario_id = EXCLUDED.scenario_id, compass_axis = EXCLUDED.compass_axis,
            score = EXCLUDED.score, session_id = EXCLUDED.session_id
        RETURNING x.id INTO v_id;
    END CASE;
    RETURN CASE WHEN v_before IS NULL THEN 'inserted'
                WHEN v_before = game._as_document(container, v_id) THEN 'unchanged' ELSE 'updated' END;
END
$$;

COMMENT ON FUNCTION game._import_one(text, jsonb) IS 'Upsert one document of a container; raises CD001 (or a constraint error) when it does not fit.';

CREATE OR REPLACE FUNCTION game.import_documents(container text, documents jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_container text := game._container(container);
    doc jsonb;
    status text;
    report jsonb := '[]'::jsonb;
BEGIN
    IF documents IS NULL OR jsonb_typeof(documents) <> 'array' THEN
        RAISE EXCEPTION 'documents must be a JSON array' USING ERRCODE = 'CD001';
    END IF;
    FOR doc IN SELECT * FROM jsonb_array_elements(documents) LOOP
        BEGIN  -- each document on its own: a bad one is rejected whole, the others go on
            status := game._import_one(v_container, doc);
            report := report || jsonb_build_object('id', doc ->> 'id', 'status', status);
        EXCEPTION WHEN SQLSTATE 'CD001' OR not_null_violation OR check_violation OR unique_violation
                       OR foreign_key_violation OR invalid_text_representation OR invalid_datetime_format
                       OR datetime_field_overflow OR numeric_value_out_of_range THEN
            report := report || jsonb_build_object('id', CASE WHEN jsonb_typeof(doc) = 'object' THEN doc ->> 'id' END,
                                                   'status', 'rejected', 'reason', SQLERRM);
        END;
    END LOOP;
    RETURN jsonb_build_object('container', v_container,
        'inserted', (SELECT count(*) FROM jsonb_array_elements(report) r WHERE r ->> 'status' = 'inserted'),
        'updated', (SELECT count(*) FROM jsonb_array_elements(report) r WHERE r ->> 'status' = 'updated'),
        'unchanged', (SELECT count(*) FROM jsonb_array_elements(report) r WHERE r ->> 'status' = 'unchanged'),
        'rejected', (SELECT count(*) FROM jsonb_array_elements(report) r WHERE r ->> 'status' = 'rejected'),
        'documents', report);
END
$$;

COMMENT ON FUNCTION game.import_documents(text, jsonb) IS
    'Upsert exported documents of a container, idempotently; per document inserted, updated, '
    'unchanged or rejected with the reason (a rejected document writes nothing).';

CREATE OR REPLACE FUNCTION game.compare_with_documents(container text)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = game, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_container text := game._container(container);
    page jsonb;
    after text;
    docs jsonb := '{}'::jsonb;
    rel jsonb := '{}'::jsonb;
    differences jsonb := '[]'::jsonb;
BEGIN
    -- the latest version of every live document of the container in docstore (namespace game)
    LOOP
        page := docstore.list_documents('game', v_container, NULL, true, 1000, after);
        SELECT docs || coalesce(jsonb_object_agg(i #>> '{body,id}', game._normalized(v_container, i -> 'body')), '{}')
        INTO docs FROM jsonb_array_elements(page -> 'items') i WHERE i #>> '{body,id}' IS NOT NULL;
        after := page ->> 'next_cursor';
        EXIT WHEN after IS NULL;
    END LOOP;
    EXECUTE format('SELECT coalesce(jsonb_object_agg(t.external_id, game._as_document(%L, t.id)), ''{}'')
                    FROM game.%I t WHERE t.external_id IS NOT NULL', v_container, v_container) INTO rel;
    SELECT coalesce(jsonb_agg(d ORDER BY d ->> 'id', d ->> 'field'), '[]') INTO differences FROM (
        SELECT jsonb_build_object('id', k, 'problem', 'missing_in_relational') AS d
        FROM jsonb_object_keys(docs) k WHERE NOT rel ? k
        UNION ALL
        SELECT jsonb_build_object('id', k, 'problem', 'missing_in_documents')
        FROM jsonb_object_keys(rel) k WHERE NOT docs ? k
        UNION ALL
        SELECT jsonb_build_object('id', r.key, 'problem', 'differs', 'field', f.key,
                                  'relational', f.value, 'document', docs -> r.key -> f.key)
        FROM jsonb_each(rel) r CROSS JOIN LATERAL jsonb_each(r.value) f
        WHERE docs ? r.key AND docs -> r.key ? f.key  -- the fields the document holds
          AND f.value IS DISTINCT FROM docs -> r.key -> f.key) x;
    RETURN jsonb_build_object('container', v_container, 'documents', (SELECT count(*) FROM jsonb_object_keys(docs)),
                              'records', (SELECT count(*) FROM jsonb_object_keys(rel)), 'differences', differences);
END
$$;

COMMENT ON FUNCTION game.compare_with_documents(text) IS
    'Every record whose relational copy differs from its latest docstore document (namespace game, '
    'type = container): missing on either side, or each field that differs.';
