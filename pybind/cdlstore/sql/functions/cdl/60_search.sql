-- Full-text search over characters, and the analytics view.

CREATE OR REPLACE FUNCTION cdl._field_place(p_character_id bigint, keys text[])
RETURNS integer[]
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    node json;
    place integer[];
    n integer;
BEGIN
    SELECT ARRAY[s.position], s.ordered INTO place, node
    FROM cdl.character_sections AS s WHERE s.character_id = p_character_id AND s.section = keys[1];
    FOR i IN 2 .. cardinality(keys) LOOP
        SELECT e.n::integer, e.value INTO n, node
        FROM json_each(CASE WHEN json_typeof(node) = 'object' THEN node ELSE '{}' END)
             WITH ORDINALITY AS e (key, value, n)
        WHERE e.key = keys[i];
        place := place || n;
    END LOOP;
    RETURN place;
END
$$;

COMMENT ON FUNCTION cdl._field_place(bigint, text[]) IS
    'Where a field stands in its character''s document order: the place of each key on its '
    'path (sorting by it gives the order the character was written in).';

CREATE OR REPLACE FUNCTION cdl._search(p_character_id bigint, query text, max_results integer)
RETURNS TABLE (character_id bigint, source text, match_path text, snippet text, rank real,
               place integer[])
LANGUAGE plpgsql
STABLE
SET search_path = cdl, pg_temp
AS $$
DECLARE
    tsq tsquery;
BEGIN
    IF query IS NULL OR btrim(query) = '' THEN
        RAISE EXCEPTION 'search query is empty' USING ERRCODE = 'CD001';
    END IF;
    PERFORM cdlstore_internal.input_text(query, 'search query', 1000);
    IF max_results IS NULL OR max_results NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_results must be between 1 and 1000, got %', max_results
            USING ERRCODE = 'CD001';
    END IF;
    tsq := websearch_to_tsquery('english', query);
    -- equal ranks: fields in their character's document order, then the rest by path
    RETURN QUERY
    SELECT m.character_id, m.source, m.match_path,
           ts_headline('english', m.body, tsq, 'MaxWords=20, MinWords=8, MaxFragments=1'), m.rank, m.place
    FROM (
        SELECT r.*, CASE WHEN r.keys IS NOT NULL THEN cdl._field_place(r.character_id, r.keys) END AS place
        FROM (
        SELECT v.character_id, 'field'::text AS source, d.field_path AS match_path, d.path_keys AS keys,
               v.string_value AS body,
               ts_rank(to_tsvector('english'::regconfig, v.string_value), tsq) AS rank
        FROM cdl.character_field_values v
        JOIN cdl.character_field_definitions d ON d.id = v.field_definition_id
        WHERE to_tsvector('english'::regconfig, v.string_value) @@ tsq
          AND (p_character_id IS NULL OR v.character_id = p_character_id)
        UNION ALL
        SELECT k.character_id, 'knowledge', k.knowledge_type || '.' || k.knowledge_key, NULL, k.content,
               ts_rank(k.search_vector, tsq)
        FROM cdl.character_knowledge k
        WHERE k.search_vector @@ tsq AND (p_character_id IS NULL OR k.character_id = p_character_id)
        UNION ALL
        SELECT p.character_id, 'communication_pattern', p.pattern_type || '.' || p.pattern_name, NULL,
               p.pattern_value, ts_rank(to_tsvector('english'::regconfig, p.pattern_value), tsq)
        FROM cdl.communication_patterns p
        WHERE to_tsvector('english'::regconfig, p.pattern_value) @@ tsq
          AND (p_character_id IS NULL OR p.character_id = p_character_id)
        ORDER BY rank DESC, match_path
        LIMIT max_results
        ) AS r
    ) AS m
    ORDER BY m.rank DESC, m.character_id, m.place NULLS LAST, m.match_path;
END
$$;

COMMENT ON FUNCTION cdl._search(bigint, text, integer) IS
    'Ranked full-text matches in string field values, knowledge and communication patterns; '
    'equal ranks list a character''s fields in its document order (place), then the rest by path.';

CREATE OR REPLACE FUNCTION cdl.search_characters(
    query text, status varchar DEFAULT NULL, max_results integer DEFAULT 20)
RETURNS TABLE (name varchar, normalized_name varchar, rank real, source text, match_path text,
               snippet text)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    IF max_results IS NULL OR max_results NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_results must be between 1 and 1000, got %', max_results USING ERRCODE = 'CD001';
    END IF;
    IF status IS NOT NULL THEN
        PERFORM cdl._check_label(status, enum_range(NULL::cdl.character_status_enum), 'status');
    END IF;
    RETURN QUERY
    SELECT best.name, best.normalized_name, best.rank, best.source, best.match_path, best.snippet
    FROM (SELECT DISTINCT ON (c.id) c.name, c.normalized_name, s.rank, s.source, s.match_path, s.snippet
          FROM cdl._search(NULL, query, 1000) s
          JOIN cdl.characters c ON c.id = s.character_id
          WHERE search_characters.status IS NULL
             OR c.status = search_characters.status::cdl.character_status_enum
          ORDER BY c.id, s.rank DESC, s.place NULLS LAST, s.match_path) AS best
    ORDER BY best.rank DESC, best.normalized_name
    LIMIT max_results;
END
$$;

COMMENT ON FUNCTION cdl.search_characters(text, varchar, integer) IS
    'Characters whose string fields, knowledge or communication patterns match a web-search '
    'style query, best first, each with its best matching path and a snippet.';

CREATE OR REPLACE FUNCTION cdl.search_character_knowledge(
    name varchar, query text, max_results integer DEFAULT 20)
RETURNS TABLE (rank real, source text, match_path text, snippet text)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    v_id bigint;
BEGIN
    v_id := cdl._character_id(search_character_knowledge.name);
    RETURN QUERY
    SELECT s.rank, s.source, s.match_path, s.snippet FROM cdl._search(v_id, query, max_results) s;
END
$$;

COMMENT ON FUNCTION cdl.search_character_knowledge(varchar, text, integer) IS
    'Ranked matches of a query in one character''s string fields, knowledge and patterns.';

CREATE OR REPLACE FUNCTION cdl.refresh_character_analytics()
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
BEGIN
    PERFORM cdlstore_internal.current_tenant();  -- the tenant, checked before any row is read
    PERFORM cdlstore_internal.all_tenants(true);  -- CD006 unless an administrator naming no tenant
    REFRESH MATERIALIZED VIEW CONCURRENTLY cdl.character_analytics;
    PERFORM cdlstore_internal.all_tenants(false);
END
$$;

COMMENT ON FUNCTION cdl.refresh_character_analytics() IS
    'Refresh cdl.character_analytics (every tenant''s characters, with their tenant) without '
    'blocking its readers: an administrator''s duty (CD006 for a tenant). Nothing else depends on it.';
