-- The four schemas (rooms) of cdlstore and its three roles.
-- Roles are cluster-wide: an existing role is kept as it is.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['cdlstore_owner', 'cdlstore_app', 'cdlstore_readonly'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a migration of another database
            END;
        END IF;
    END LOOP;
END
$$;

CREATE SCHEMA cdl AUTHORIZATION cdlstore_owner;
CREATE SCHEMA docstore AUTHORIZATION cdlstore_owner;
CREATE SCHEMA ops AUTHORIZATION cdlstore_owner;
CREATE SCHEMA game AUTHORIZATION cdlstore_owner;

COMMENT ON SCHEMA cdl IS 'AI characters (CDL) and their workflows';
COMMENT ON SCHEMA docstore IS 'Versioned JSON document store';
COMMENT ON SCHEMA ops IS 'Operational state of agent systems';
COMMENT ON SCHEMA game IS 'Relational game data';

GRANT USAGE ON SCHEMA cdl, docstore, ops, game TO cdlstore_app, cdlstore_readonly;

-- Functions are not executable by everyone: API functions are granted to cdlstore_app
-- one by one (db/privileges.sql).
ALTER DEFAULT PRIVILEGES FOR ROLE cdlstore_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
