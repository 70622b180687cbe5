-- Internal helpers of the cdl character store: names, field paths, JSON nodes.
-- None is SECURITY DEFINER: they are granted to no one and called by the API functions.
-- The LANGUAGE sql helpers carry no SET search_path, so that the planner can inline them
-- into the calling query; they name every object of ours with its schema, and pg_catalog
-- is always searched first. The plpgsql ones pin their search_path.

CREATE OR REPLACE FUNCTION cdl._fold_name(name text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- compatibility forms (width) folded, accents removed, lower case; letters and digits of
    -- every script are kept, every run of spaces, punctuation, symbols and controls becomes '_'
    -- (a name of over 1,000 characters has no key: no character can have it)
    RETURN CASE WHEN length(name) > 1000 THEN NULL
                    ELSE nullif(trim(BOTH '_' FROM regexp_replace(
            lower(replace(replace(replace(replace(replace(replace(replace(replace(
                regexp_replace(normalize(name, NFKD),
                               '[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g'),
                'ß', 'ss'), 'Æ', 'ae'), 'æ', 'ae'), 'Œ', 'oe'), 'œ', 'oe'), 'Ø', 'o'), 'ø', 'o'), 'ł', 'l')),
            '[\u0001-\u002f\u003a-\u0040\u005b-\u0060\u007b-\u00bf\u00d7\u00f7\u02b9-\u02ff\u2000-\u2bff'
            '\u2e00-\u2e7f\u3000-\u303f\ufe10-\ufe1f\ufe30-\ufe6f\ufeff\uff01-\uff0f\uff1a-\uff20'
            '\uff3b-\uff40\uff5b-\uff65\ufff0-\uffff\U0001f000-\U0001faff[:space:]]+', '_', 'g')), '') END;
END
$$;

COMMENT ON FUNCTION cdl._fold_name(text) IS
    'The key of a name that is not in key form already: the slow part of cdl.normalize_name.';

CREATE OR REPLACE FUNCTION cdl.normalize_name(name text)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE  -- not STRICT: a STRICT function is inlined only when its body is strict
AS $$
    -- a name already in key form (the usual argument) is returned as it is, cheaply. The folding
    -- is a function of its own that the planner does not inline: an inlined expression is set
    -- up in full (every function of it checked for EXECUTE) in every transaction that runs it,
    -- also when the short path is taken, and folding holds some twenty functions
    SELECT CASE WHEN name ~ '^[a-z0-9]+(_[a-z0-9]+)*$' THEN name ELSE cdl._fold_name(name) END
$$;

COMMENT ON FUNCTION cdl.normalize_name(text) IS
    'The key of a character name: width and accents folded, lower case, letters and digits of any '
    'script kept, every other run of characters one ''_'' ("Agent Смирнов" -> agent_смирнов); '
    'NULL when nothing is left or the name is over 1,000 characters.';

CREATE OR REPLACE FUNCTION cdl._check_key(p_key text, p_name text)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    owner text;
BEGIN
    -- a derived key may not take over a character whose name folds to something else
    -- (an older key, one passed explicitly, or a name cut at 200 characters)
    SELECT c.name::text INTO owner FROM cdl.characters c WHERE c.normalized_name = p_key;
    IF owner IS NOT NULL AND cdl.normalize_name(owner) IS DISTINCT FROM cdl.normalize_name(p_name) THEN
        RAISE EXCEPTION 'the key % of % belongs to the character %', quote_literal(p_key),
            quote_literal(p_name), quote_literal(owner)
            USING ERRCODE = 'CD003', HINT = 'Pass normalized_name to choose the key: the same one to replace that character.';
    END IF;
    RETURN p_key;
END
$$;

COMMENT ON FUNCTION cdl._check_key(text, text) IS
    'A key derived from a name, unless it belongs to a character of another name (CD003).';

CREATE OR REPLACE FUNCTION cdl._check_key_count(doc jsonb)
RETURNS void
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = cdl, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    -- every value (object member or array element) takes at least two bytes of JSON text, so a
    -- small document is not counted; .type() counts without copying the values
    IF octet_length(doc::text) > 2 * 20000 THEN
        n := jsonb_array_length(jsonb_path_query_array(doc, 'strict $.**.type()')) - 1;
        IF n > 20000 THEN
            RAISE EXCEPTION 'CDL document has % values; at most 20,000 are accepted', n
                USING ERRCODE = 'CD007', HINT = 'Every object member and array element counts.';
        END IF;
    END IF;
END
$$;

COMMENT ON FUNCTION cdl._check_key_count(jsonb) IS
    'Refuse a CDL document of more than 20,000 values (CD007) before importing any of it.';

CREATE OR REPLACE FUNCTION cdl._actor()
RETURNS varchar
LANGUAGE sql
STABLE
AS $$
    SELECT coalesce(nullif(current_setting('cdlstore.actor', true), ''), session_user)::varchar
$$;

COMMENT ON FUNCTION cdl._actor() IS
    'Who is changing data: the cdlstore.actor setting, else the session user.';

CREATE OR REPLACE FUNCTION cdl._path_text(keys text[])
RETURNS text
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    k text;
    escaped text[] := '{}'::text[];
BEGIN
    FOREACH k IN ARRAY keys LOOP
        escaped := escaped || replace(replace(k, '\', '\\'), '.', '\.');
    END LOOP;
    RETURN CASE WHEN cardinality(keys) > 0 THEN array_to_string(escaped, '.') END;  -- '' is the key ''

END
$$;

COMMENT ON FUNCTION cdl._path_text(text[]) IS
    'Keys to a dot path; a "." or "\" inside a key is escaped with "\".';

CREATE OR REPLACE FUNCTION cdl._parse_path(field_path text)
RETURNS text[]
LANGUAGE plpgsql
-- no SET: a field-write helper, run with the search_path of its caller (docs/design.md)
STABLE PARALLEL SAFE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
AS $$
DECLARE
    keys text[] := '{}'::text[];
    current_key text := '';
    ch text;
    i integer := 1;
BEGIN
    IF octet_length(field_path) > 1000 THEN
        RAISE EXCEPTION 'a field path is at most 1,000 bytes long, got %', octet_length(field_path)
            USING ERRCODE = 'CD001';
    END IF;
    IF field_path IS NULL OR field_path = '' THEN
        RAISE EXCEPTION 'field path is empty' USING ERRCODE = 'CD001',
            HINT = 'Give a dot path such as identity.name.';
    END IF;
    IF strpos(field_path, '\') = 0 THEN
        keys := string_to_array(field_path, '.');
    ELSE
        WHILE i <= length(field_path) LOOP
            ch := substr(field_path, i, 1);
            IF ch = '\' THEN
                IF i = length(field_path) THEN
                    RAISE EXCEPTION 'field path "%" ends with an escape character', field_path
                        USING ERRCODE = 'CD001', HINT = 'Write "\\" for a backslash inside a key.';
                END IF;
                current_key := current_key || substr(field_path, i + 1, 1);
                i := i + 1;
            ELSIF ch = '.' THEN
                keys := keys || current_key;
                current_key := '';
            ELSE
                current_key := current_key || ch;
            END IF;
            i := i + 1;
        END LOOP;
        keys := keys || current_key;
    END IF;
    IF cardinality(keys) > 32 THEN
        RAISE EXCEPTION 'field path "%" is deeper than 32 levels', left(field_path, 200)
            USING ERRCODE = 'CD001';
    END IF;
    RETURN keys;
END
$$;

COMMENT ON FUNCTION cdl._parse_path(text) IS
    'A dot path to its keys; "\." is a dot inside a key, "\\" a backslash.';

CREATE OR REPLACE FUNCTION cdl._is_leaf(node jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(jsonb_typeof(node) <> 'object' OR node = '{}', false)
$$;

COMMENT ON FUNCTION cdl._is_leaf(jsonb) IS
    'Whether node is what one character_field_values row holds (a scalar, null, array or empty '
    'object); false for an object with keys and for SQL NULL (nothing there).';

CREATE OR REPLACE FUNCTION cdl._nodes(prefix text[], doc jsonb)
RETURNS TABLE (path text[], value jsonb, is_leaf boolean)
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    WITH RECURSIVE t (path, value) AS (
        SELECT prefix, doc
        UNION ALL
        SELECT t.path || e.key, e.value
        FROM t
        CROSS JOIN LATERAL jsonb_each(
            CASE WHEN jsonb_typeof(t.value) = 'object' THEN t.value ELSE '{}' END) AS e
    )
    SELECT t.path, t.value, cdl._is_leaf(t.value)
    FROM t
    WHERE cardinality(t.path) > 0
$$;

COMMENT ON FUNCTION cdl._nodes(text[], jsonb) IS
    'Every node of doc placed at prefix (the root too, unless prefix is empty). Leaves are '
    'scalars, nulls, arrays and empty objects: they are what character_field_values stores.';

-- The CDL keeps the key order of the file it came from. jsonb orders an object's keys by
-- length, then bytes, so the order lives in json text: the helpers below take and give json,
-- keep every object's keys in their order and put what is new at the end.

CREATE OR REPLACE FUNCTION cdl._json_ordered(doc json, depth integer DEFAULT 0)
RETURNS json
LANGUAGE plpgsql
STABLE PARALLEL SAFE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = cdl, pg_temp
AS $$
BEGIN
    IF depth > 64 THEN
        RAISE EXCEPTION 'CDL is nested more than 64 levels deep; at most 32 are allowed'
            USING ERRCODE = 'CD001';
    END IF;
    IF json_typeof(doc) = 'object' THEN
        -- a key written twice keeps its first place and its last value, as jsonb keeps the last
        RETURN (SELECT coalesce(json_object_agg(e.key,
                       CASE WHEN json_typeof(e.value) IN ('object', 'array')
                            THEN cdl._json_ordered(e.value, depth + 1) ELSE e.value END
                       ORDER BY e.first), '{}')
                FROM (SELECT DISTINCT ON (m.key) m.key, m.value, min(m.n) OVER (PARTITION BY m.key) AS first
                      FROM json_each(doc) WITH ORDINALITY AS m (key, value, n)
                      ORDER BY m.key, m.n DESC) AS e);
    ELSIF json_typeof(doc) = 'array' THEN
        RETURN (SELECT coalesce(json_agg(
                       CASE WHEN json_typeof(a.value) IN ('object', 'array')
                            THEN cdl._json_ordered(a.value, depth + 1) ELSE a.value END
                       ORDER BY a.n), '[]')
                FROM json_array_elements(doc) WITH ORDINALITY AS a (value, n));
    END IF;
    RETURN doc;
END
$$;

COMMENT ON FUNCTION cdl._json_ordered(json, integer) IS
    'A JSON text with every object''s keys in their written order, each once: a key written '
    'twice keeps its first place and its last value (the value jsonb keeps). CD001 past 64 levels.';

CREATE OR REPLACE FUNCTION cdl._json_merge(base json, winner json)
RETURNS json
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = cdl, pg_temp
AS $$
BEGIN
    -- the keys of winner in its order, then the keys only base has, in base's order
    RETURN (SELECT coalesce(json_object_agg(coalesce(w.key, b.key),
               CASE WHEN json_typeof(b.value) = 'object' AND json_typeof(w.value) = 'object'
                    THEN cdl._json_merge(b.value, w.value)
                    ELSE coalesce(w.value, b.value) END
               ORDER BY w.n NULLS LAST, b.n), '{}')
            FROM json_each(winner) WITH ORDINALITY AS w (key, value, n)
            FULL JOIN json_each(base) WITH ORDINALITY AS b (key, value, n) ON b.key = w.key);
END
$$;

COMMENT ON FUNCTION cdl._json_merge(json, json) IS
    'Objects (keys written once) merged key by key; where both sides hold a non-object value, '
    'winner wins. Winner''s keys come first, in its order, then the keys only base has.';

CREATE OR REPLACE FUNCTION cdl._json_set(doc json, keys text[], new_value json)
RETURNS json
LANGUAGE plpgsql
-- no SET: a field-write helper, run with the search_path and plan_cache_mode of its caller
IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    result json;
BEGIN
    IF cardinality(keys) = 0 THEN
        RETURN new_value;
    END IF;
    IF json_typeof(doc) IS DISTINCT FROM 'object' THEN
        doc := '{}';
    END IF;
    -- a key that is there keeps its place (the usual case: one pass) ...
    SELECT CASE WHEN bool_or(e.key = keys[1]) THEN json_object_agg(e.key,
               CASE WHEN e.key <> keys[1] THEN e.value
                    WHEN cardinality(keys) = 1 THEN new_value
                    ELSE cdl._json_set(e.value, keys[2:], new_value) END ORDER BY e.n) END
    INTO result
    FROM json_each(doc) WITH ORDINALITY AS e (key, value, n);
    IF result IS NULL THEN  -- ... and a new one goes to the end
        SELECT json_object_agg(s.key, s.value ORDER BY s.n) INTO result
        FROM (SELECT e.key, e.value, e.n FROM json_each(doc) WITH ORDINALITY AS e (key, value, n)
              UNION ALL
              SELECT keys[1], cdl._json_set(NULL, keys[2:], new_value), 9223372036854775807) AS s;
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION cdl._json_set(json, text[], json) IS
    'The object doc with new_value at the path keys (the missing objects on the way created): a key '
    'already there keeps its place, a new key is appended to its parent.';

CREATE OR REPLACE FUNCTION cdl._json_remove(doc json, keys text[])
RETURNS json
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    child json;
BEGIN
    IF cardinality(keys) > 1 THEN
        child := cdl._json_remove(doc -> keys[1], keys[2:]);
    END IF;
    -- the other keys keep their order; an object emptied by the removal goes too
    RETURN (SELECT coalesce(json_object_agg(e.key, CASE WHEN e.key = keys[1] THEN child ELSE e.value END
                                             ORDER BY e.n), '{}')
            FROM json_each(doc) WITH ORDINALITY AS e (key, value, n)
            WHERE e.key <> keys[1] OR (child IS NOT NULL AND child::text <> '{}'));
END
$$;

COMMENT ON FUNCTION cdl._json_remove(json, text[]) IS
    'The object doc without the path keys, the other keys in their order; objects that the '
    'removal leaves empty go too.';

CREATE OR REPLACE FUNCTION cdl._value_jsonb(
    string_value text, number_value numeric, boolean_value boolean, json_value jsonb)
RETURNS jsonb
LANGUAGE sql
STABLE PARALLEL SAFE  -- as to_jsonb is; an IMMUTABLE label would keep it from being inlined
AS $$
    SELECT coalesce(to_jsonb(string_value), to_jsonb(number_value), to_jsonb(boolean_value),
                    json_value)
$$;

COMMENT ON FUNCTION cdl._value_jsonb(text, numeric, boolean, jsonb) IS
    'The JSON value held by the typed columns of a character_field_values row.';

CREATE OR REPLACE FUNCTION cdl._check_label(value text, labels anyarray, what text)
RETURNS text
LANGUAGE plpgsql
STABLE  -- it raises: not IMMUTABLE, so that it is never folded at plan time
SET search_path = cdl, pg_temp
AS $$
BEGIN
    IF value IS NULL OR NOT value = ANY (labels::text[]) THEN
        RAISE EXCEPTION 'invalid %: %', what, coalesce(quote_literal(value), 'NULL')
            USING ERRCODE = 'CD001', DETAIL = format('Allowed: %s.', array_to_string(labels, ', '));
    END IF;
    RETURN value;
END
$$;

COMMENT ON FUNCTION cdl._check_label(text, anyarray, text) IS
    'The value when it is one of the labels (e.g. enum_range(NULL::some_enum)), else CD001.';
