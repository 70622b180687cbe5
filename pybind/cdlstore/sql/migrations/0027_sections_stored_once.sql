-- Each character section is stored once, as its json text in the order to keep (issue 15: a
-- field write wrote every section twice, as jsonb content and as ordered text: most of its WAL,
-- and a jsonb parse of the whole section per write). jsonb is parsed from the text where a
-- function needs it (cdl._stored_cdl); a field write reads only the nodes it touches.
ALTER TABLE cdl.character_sections DROP COLUMN content;
