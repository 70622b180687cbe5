-- Roles stay: they are cluster-wide and other databases may use them.
DROP SCHEMA game CASCADE;
DROP SCHEMA ops CASCADE;
DROP SCHEMA docstore CASCADE;
DROP SCHEMA cdl CASCADE;
ALTER DEFAULT PRIVILEGES FOR ROLE cdlstore_owner GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
