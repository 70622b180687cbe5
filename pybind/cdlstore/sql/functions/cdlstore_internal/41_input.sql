-- Input checks the four schemas share: a value is refused with our code before a column's
-- CHECK, a varchar length or a btree index (at most ~2.7 KB an entry) would refuse it.

CREATE OR REPLACE FUNCTION cdlstore_internal.input_text(
    value text, what text, max_length integer DEFAULT 200, required boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql
-- no SET: run with the search_path of its caller, a pinned API function (docs/design.md); it
-- names no object but built-in functions and operators
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
AS $$
BEGIN
    IF required AND (value IS NULL OR btrim(value) = '') THEN
        RAISE EXCEPTION '% must not be empty', what USING ERRCODE = 'CD001';
    ELSIF length(value) > max_length THEN
        RAISE EXCEPTION '% is % characters long; at most % are allowed', what, length(value), max_length
            USING ERRCODE = 'CD001';
    END IF;
    RETURN value;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.input_text(text, text, integer, boolean) IS
    'The value, unless it is empty (when required) or longer than max_length characters: CD001.';
