-- Floor prototypes for bench/characters.py (issue 15): the least code that does what one call
-- must, run as the real API runs -- plpgsql SECURITY DEFINER owned by cdlstore_owner, called by a
-- login of cdlstore_app with tenancy on, the real tenant guard first -- against the real tables.
-- Installed by the bench into a schema of its own on its own database, never by a migration.
-- The bench creates the login bench_app (LOGIN, member of cdlstore_app, not bound) before this.

DROP SCHEMA IF EXISTS bench_floor CASCADE;
CREATE SCHEMA bench_floor AUTHORIZATION cdlstore_owner;
GRANT USAGE ON SCHEMA bench_floor TO cdlstore_app;
SET ROLE cdlstore_owner;

-- Loading: the guard and one read of the rendered text by key. Nothing else: no display-name
-- fallback, no rendering of a document a burst of writes left unrendered, no CD002.
CREATE FUNCTION bench_floor.get_rendered(name varchar)
RETURNS json
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();
    doc json;
BEGIN
    -- SELECT INTO, not RETURN (SELECT ...): a subquery adds a Result node and a SubPlan
    SELECT d.rendered INTO doc FROM cdl.character_documents AS d WHERE d.normalized_name = name;
    RETURN doc;
END
$$;

-- The same as LANGUAGE sql: a SECURITY DEFINER (or SET) SQL function is never inlined, so each
-- call parses nothing but plans both statements again.
CREATE FUNCTION bench_floor.get_rendered_sql(name varchar)
RETURNS json
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
    SELECT cdlstore_internal.current_tenant();
    SELECT d.rendered FROM cdl.character_documents AS d WHERE d.normalized_name = name;
$$;

-- Without SECURITY DEFINER: a view the application may read, owned by cdlstore_owner (so the
-- table's own policy applies, with the owner's rights), that calls the guard once per statement
-- (an InitPlan). A row shows only when both agree: the policy (tenant = the setting the guard
-- writes, which the caller can set itself) and the view (tenant = what the guard returns, which
-- it cannot). The guard runs before the policy reads the setting only because the planner makes
-- "tenant = (guard)" an index condition: liveness, not isolation, hangs on that plan.
CREATE VIEW bench_floor.rendered WITH (security_barrier) AS
    SELECT d.normalized_name, d.rendered FROM cdl.character_documents AS d
    WHERE d.tenant = (SELECT cdlstore_internal.current_tenant());

CREATE FUNCTION bench_floor.get_view(name varchar)
RETURNS json
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    doc json;
BEGIN
    SELECT r.rendered INTO doc FROM bench_floor.rendered AS r WHERE r.normalized_name = name;
    RETURN doc;
END
$$;

-- A field write of a leaf whose row is there: lock the character, check the field definition,
-- write the typed value row (its change-log row comes from the real trigger), rewrite its
-- section text in order, keep the next get_character_complete fresh (drop the rendered text).
-- Nothing else: no path parsing beyond dots, no input checks, no new or removed fields, no
-- derived columns, no re-rendering.
CREATE FUNCTION bench_floor.write_field(name varchar, field_path varchar, field_value jsonb)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();
    keys text[] := string_to_array(field_path, '.');
    v_id bigint;
    def record;
BEGIN
    UPDATE cdl.characters AS c SET updated_at = now() WHERE c.normalized_name = write_field.name
    RETURNING c.id INTO v_id;
    SELECT d.id, d.field_path, d.data_type, d.validation_rules, d.is_required, d.is_inferred INTO def
    FROM cdl.character_field_definitions AS d WHERE d.path_keys = keys;
    IF NOT def.is_inferred THEN
        PERFORM cdl._check_field_value(def.field_path, def.data_type, def.validation_rules,
                                       def.is_required, field_value);
    END IF;
    UPDATE cdl.character_field_values AS v
    SET string_value = CASE jsonb_typeof(field_value) WHEN 'string' THEN field_value #>> '{}' END,
        number_value = CASE jsonb_typeof(field_value) WHEN 'number' THEN field_value::numeric END,
        boolean_value = CASE jsonb_typeof(field_value) WHEN 'boolean' THEN field_value::boolean END,
        json_value = CASE WHEN jsonb_typeof(field_value) IN ('array', 'object', 'null') THEN field_value END,
        updated_at = now()
    WHERE v.character_id = v_id AND v.field_definition_id = def.id;
    UPDATE cdl.character_sections AS s SET ordered = cdl._json_set(s.ordered, keys[2:], field_value::json)
    WHERE s.character_id = v_id AND s.section = keys[1];
    IF (SELECT d.rendered IS NOT NULL FROM cdl.character_documents AS d WHERE d.character_id = v_id) THEN
        UPDATE cdl.character_documents AS d SET rendered = NULL WHERE d.character_id = v_id;
    END IF;
    RETURN 1;
END
$$;

RESET ROLE;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bench_floor TO cdlstore_app;
-- what the view needs of its caller: the guard (inlined with the caller's rights) and the policy
GRANT SELECT ON bench_floor.rendered TO bench_app;
GRANT USAGE ON SCHEMA cdlstore_internal TO bench_app;
GRANT EXECUTE ON FUNCTION cdlstore_internal.current_tenant(), cdlstore_internal.call_tenant(),
    cdlstore_internal.full_tenant_check() TO bench_app;
