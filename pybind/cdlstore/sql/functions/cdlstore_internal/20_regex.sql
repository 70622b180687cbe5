-- Regular expressions from outside (workflow triggers and transitions, field validation rules):
-- the accepted subset of ARE, its limits, and the one expression that runs for a checked pattern.
-- A pattern is checked once, when it is stored (cdl.import_workflow_from_yaml,
-- cdl.define_character_field); what runs later is runnable_regex(pattern) of a checked pattern.

CREATE OR REPLACE FUNCTION cdlstore_internal.regex_bracket_end(pattern text, start integer)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
DECLARE
    n integer := length(pattern);
    i integer := start + 1;
    closing integer;
BEGIN
    -- start is the "[" of a bracket expression: [^...], a leading "]" is a member,
    -- [:class:], [.element.] and [=class=] nest, a backslash escapes the next character
    IF substr(pattern, i, 1) = '^' THEN i := i + 1; END IF;
    IF substr(pattern, i, 1) = ']' THEN i := i + 1; END IF;
    WHILE i <= n AND substr(pattern, i, 1) <> ']' LOOP
        IF substr(pattern, i, 2) IN ('[:', '[.', '[=') THEN
            closing := strpos(substr(pattern, i + 2), substr(pattern, i + 1, 1) || ']');
            i := CASE WHEN closing = 0 THEN n + 1 ELSE i + closing + 3 END;
        ELSE
            i := i + CASE WHEN substr(pattern, i, 1) = '\' THEN 2 ELSE 1 END;
        END IF;
    END LOOP;
    RETURN i;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.regex_bracket_end(text, integer) IS
    'The position of the "]" that closes the bracket expression opened at start (past the end when none).';

CREATE OR REPLACE FUNCTION cdlstore_internal.runnable_regex(pattern text)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    -- the one expression that runs for a pattern from outside: group 1 is the whole match
    SELECT '(' || pattern || ')'
$$;

COMMENT ON FUNCTION cdlstore_internal.runnable_regex(text) IS
    'The expression that runs for a checked pattern (trigger, transition or field validation).';

CREATE OR REPLACE FUNCTION cdlstore_internal.regex_limit(what text)
RETURNS integer
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE what WHEN 'length' THEN 1000        -- characters of a pattern
                     WHEN 'size' THEN 1000          -- items once counted repetitions are expanded
                     WHEN 'group_count' THEN 10     -- {m,n} on a group
                     WHEN 'text' THEN 10000 END     -- characters of a text matched against a pattern
$$;

COMMENT ON FUNCTION cdlstore_internal.regex_limit(text) IS
    'The limits of patterns from outside and of the texts matched against them.';

CREATE OR REPLACE FUNCTION cdlstore_internal.regex_bound(
    pattern text, i integer, of_group boolean, group_holds_bound boolean,
    OUT problem text, OUT factor integer, OUT width integer)
RETURNS record
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
DECLARE
    -- the bound {m}, {m,} or {m,n} at position i (and a non-greedy ?)
    bound text[] := regexp_match(substr(pattern, i, 16), '^\{([0-9]{1,4})(,([0-9]{0,4}))?\}(\??)');
BEGIN
    IF bound IS NULL THEN
        problem := 'does not compile: a malformed bound {m,n}';
        RETURN;
    END IF;
    factor := greatest(bound[1]::integer, coalesce(nullif(bound[3], '')::integer,
                                                   bound[1]::integer + (bound[2] IS NOT NULL)::integer), 1);
    width := length(bound[1]) + length(coalesce(bound[2], '')) + 2 + length(bound[4]);
    IF of_group AND group_holds_bound THEN
        problem := format('repeats a group with {%s%s} and that group holds a counted repetition itself; '
                          'nested counted repetitions are too costly to compile', bound[1], coalesce(bound[2], ''));
    ELSIF of_group AND factor > cdlstore_internal.regex_limit('group_count') THEN
        problem := format('repeats a group with {%s%s}; a group may be counted at most %s times',
                          bound[1], coalesce(bound[2], ''), cdlstore_internal.regex_limit('group_count'));
    END IF;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.regex_bound(text, integer, boolean, boolean) IS
    'The counted repetition at position i of a pattern: how many times it repeats, how long it is '
    'written, and why it is refused when it repeats a group too often or around another bound.';

CREATE OR REPLACE FUNCTION cdlstore_internal.regex_group_problem(opening text)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    -- opening: the ( of a group and the three characters after it
    SELECT CASE WHEN left(opening, 3) IN ('(?=', '(?!') OR opening IN ('(?<=', '(?<!')
                THEN 'uses a lookahead or lookbehind constraint; they can make matching cubic'
                WHEN left(opening, 2) = '(?' AND left(opening, 3) <> '(?:'
                THEN 'uses embedded options or a comment (?...); write the expression itself '
                     '(matching is case-insensitive for triggers)' END
$$;

COMMENT ON FUNCTION cdlstore_internal.regex_group_problem(text) IS
    'Why a group opening (its ( and the three characters after) is refused: lookaround or embedded options; NULL when fine.';

CREATE OR REPLACE FUNCTION cdlstore_internal.regex_grammar_problem(pattern text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE STRICT PARALLEL SAFE
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
DECLARE
    n integer := length(pattern);
    i integer := 1;
    c text;
    bound record;
    size integer[] := ARRAY[0];          -- per open group: its items so far, repetitions expanded
    holds_bound boolean[] := ARRAY[false];
    last_size integer;                   -- the item a quantifier would apply to; NULL when none
    last_group boolean;
    last_bound boolean;
    k integer;
BEGIN
    -- The accepted language: PostgreSQL ARE without directors (***), embedded options (?x),
    -- lookahead or lookbehind, back-references; bounded repetition under small limits.
    IF left(pattern, 3) = '***' THEN
        RETURN 'starts with a director (***= or ***:); write the expression itself';
    END IF;
    WHILE i <= n LOOP
        c := substr(pattern, i, 1);
        k := cardinality(size);
        IF c = '(' THEN
            IF cdlstore_internal.regex_group_problem(substr(pattern, i, 4)) IS NOT NULL THEN
                RETURN cdlstore_internal.regex_group_problem(substr(pattern, i, 4));
            END IF;
            size := size || 0;
            holds_bound := holds_bound || false;
            last_size := NULL;
            i := i + CASE WHEN substr(pattern, i, 3) = '(?:' THEN 3 ELSE 1 END;
            CONTINUE;
        ELSIF c = ')' THEN
            IF k = 1 THEN
                RETURN 'does not compile: a ) closes no group';
            END IF;
            last_size := size[k];
            last_group := true;
            last_bound := holds_bound[k];
            size := size[1:k - 2] || (size[k - 1] + last_size);
            holds_bound := holds_bound[1:k - 2] || (holds_bound[k - 1] OR last_bound);
        ELSIF c IN ('*', '+', '?', '|') THEN
            last_size := NULL;
            i := i + CASE WHEN c <> '|' AND substr(pattern, i + 1, 1) = '?' THEN 2 ELSE 1 END;  -- non-greedy
            CONTINUE;
        ELSIF c = '{' AND substr(pattern, i + 1, 1) ~ '^[0-9]$' THEN
            bound := cdlstore_internal.regex_bound(pattern, i, coalesce(last_size IS NOT NULL AND last_group, false),
                                      coalesce(last_bound, false));
            IF bound.problem IS NOT NULL OR last_size IS NULL THEN
                RETURN coalesce(bound.problem, 'does not compile: a bound {m,n} that follows nothing to repeat');
            END IF;
            size[k] := size[k] + last_size * (bound.factor - 1);
            holds_bound[k] := true;
            IF size[k] > cdlstore_internal.regex_limit('size') THEN
                RETURN format('expands to %s or more items once its counted repetitions are written out; '
                              'at most %s are allowed', size[k], cdlstore_internal.regex_limit('size'));
            END IF;
            last_size := NULL;
            i := i + bound.width;
            CONTINUE;
        ELSIF c = '\' AND substr(pattern, i + 1, 1) ~ '^[1-9]$' THEN
            RETURN format('uses the back-reference \%s; back-references can make matching exponential',
                          substr(pattern, i + 1, 1));
        ELSE
            last_size := 1;
            last_group := false;
            size[k] := size[k] + 1;
            i := CASE c WHEN '\' THEN i + 1 WHEN '[' THEN cdlstore_internal.regex_bracket_end(pattern, i) ELSE i END;
        END IF;
        i := i + 1;
    END LOOP;
    RETURN CASE WHEN cardinality(size) > 1 THEN 'does not compile: a ( is not closed' END;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.regex_grammar_problem(text) IS
    'Why a pattern is outside the accepted subset of ARE (director, embedded options, lookaround, '
    'back-reference, counted repetition over the limits, unbalanced groups); NULL when inside.';

CREATE OR REPLACE FUNCTION cdlstore_internal.regex_problem(pattern text, case_insensitive boolean)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = cdlstore_internal, pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
    started timestamptz;
    took interval;
BEGIN
    IF length(pattern) > cdlstore_internal.regex_limit('length') THEN
        RETURN format('is %s characters long; at most %s are allowed', length(pattern), cdlstore_internal.regex_limit('length'));
    END IF;
    problem := cdlstore_internal.regex_grammar_problem(pattern);
    IF problem IS NOT NULL THEN
        RETURN problem;
    END IF;
    -- compile exactly what will run
    started := clock_timestamp();
    BEGIN
        IF case_insensitive THEN
            PERFORM '' ~* cdlstore_internal.runnable_regex(pattern);
        ELSE
            PERFORM '' ~ cdlstore_internal.runnable_regex(pattern);
        END IF;
    EXCEPTION WHEN invalid_regular_expression OR program_limit_exceeded THEN
        RETURN format('does not compile: %s', SQLERRM);
    END;
    took := clock_timestamp() - started;
    IF took > interval '250 ms' THEN  -- a backstop: the limits above keep compiling to a few ms
        RETURN format('takes %s ms to compile; at most 250 ms are allowed',
                      round(extract(epoch FROM took) * 1000));
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION cdlstore_internal.regex_problem(text, boolean) IS
    'Why a user-supplied regular expression is refused (too long, outside the accepted subset of '
    'ARE: see regex_grammar_problem, does not compile as it will run, slow to compile); NULL when safe.';
