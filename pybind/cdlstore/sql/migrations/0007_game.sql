-- Relational game data: accounts, profiles, badges, game sessions, player scenario scores.
-- external_id is the record's id in the document store it is migrated from.

CREATE TABLE game.accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id text UNIQUE,
    email text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    display_name text,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_email_idx ON game.accounts (lower(email));

CREATE TABLE game.user_profiles (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id text UNIQUE,
    account_id bigint NOT NULL REFERENCES game.accounts (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (name <> ''),
    age_group text,
    avatar text,
    preferences jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(preferences) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_profiles_account_idx ON game.user_profiles (account_id);

CREATE TABLE game.user_badges (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id bigint NOT NULL REFERENCES game.user_profiles (id) ON DELETE CASCADE,
    badge text NOT NULL CHECK (badge <> ''),
    axis text,
    earned_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_badges_profile_badge_key UNIQUE (profile_id, badge)
);

CREATE TABLE game.game_sessions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id text UNIQUE,
    account_id bigint NOT NULL REFERENCES game.accounts (id) ON DELETE CASCADE,
    profile_id bigint NOT NULL REFERENCES game.user_profiles (id) ON DELETE CASCADE,
    scenario_id text NOT NULL CHECK (scenario_id <> ''),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'abandoned')),
    current_scene text,
    choices_made jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(choices_made) = 'array'),
    compass_values jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(compass_values) = 'object'),
    version integer NOT NULL DEFAULT 1 CHECK (version > 0),
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX game_sessions_profile_idx ON game.game_sessions (profile_id, started_at DESC);

CREATE TABLE game.player_scenario_scores (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id text UNIQUE,
    profile_id bigint NOT NULL REFERENCES game.user_profiles (id) ON DELETE CASCADE,
    scenario_id text NOT NULL CHECK (scenario_id <> ''),
    compass_axis text NOT NULL CHECK (compass_axis <> ''),
    score numeric NOT NULL,
    session_id bigint REFERENCES game.game_sessions (id) ON DELETE SET NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT player_scenario_scores_key UNIQUE (profile_id, scenario_id, compass_axis)
);
CREATE INDEX player_scenario_scores_board_idx ON game.player_scenario_scores (scenario_id, compass_axis, score DESC);
