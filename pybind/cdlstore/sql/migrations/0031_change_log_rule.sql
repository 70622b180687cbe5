-- The change log's foreign key to its character cost one referential check (an SPI query) per
-- log row: about 30 k instructions of every field write's 1,490 k. Log rows are written only by
-- the character functions (the app role has no privilege on the table), each for a character
-- it has just inserted or holds locked in the same transaction (cdl._lock_character: a
-- character's deletion needs a lock that conflicts with it, so it waits, and a write waiting
-- for a deletion finds no character: CD002). The key's other half, ON DELETE CASCADE, is the
-- statement trigger characters_delete_change_log (cdl._delete_change_log,
-- functions/cdl/20_fields.sql). docs/reliability.md says what this covers and what it does not.
ALTER TABLE cdl.character_change_log DROP CONSTRAINT character_change_log_character_id_fkey;
