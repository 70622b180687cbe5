-- Communication patterns, response templates and knowledge of a character.

CREATE OR REPLACE FUNCTION cdl.upsert_communication_pattern(
    character_name varchar, pattern_type varchar, pattern_name varchar, pattern_value text,
    context varchar DEFAULT NULL, frequency varchar DEFAULT 'regular', priority integer DEFAULT 50)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
    v_id bigint;
BEGIN
    PERFORM cdl._check_label(pattern_type, enum_range(NULL::cdl.communication_pattern_enum), 'pattern type');
    PERFORM cdl._check_label(frequency, ARRAY['rare', 'occasional', 'regular', 'frequent', 'always'], 'frequency');
    PERFORM cdlstore_internal.input_text(context, 'context', 100, false);
    IF octet_length(pattern_value) > 512 * 1024 THEN  -- searched as a tsvector: at most 1 MB
        RAISE EXCEPTION 'pattern_value is over 512 KiB' USING ERRCODE = 'CD007';
    END IF;
    IF coalesce(btrim(pattern_name), '') = '' OR length(pattern_name) > 100 THEN
        RAISE EXCEPTION 'pattern_name must be 1 to 100 characters' USING ERRCODE = 'CD001';
    END IF;
    IF coalesce(btrim(pattern_value), '') = '' THEN
        RAISE EXCEPTION 'pattern_value must not be empty' USING ERRCODE = 'CD001';
    END IF;
    IF priority IS NULL OR priority NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'priority must be between 0 and 100, got %', priority USING ERRCODE = 'CD001';
    END IF;
    target := cdl._lock_character(character_name);
    INSERT INTO cdl.communication_patterns AS p
        (character_id, pattern_type, pattern_name, pattern_value, context, frequency, priority)
    VALUES (target.character_id, pattern_type::cdl.communication_pattern_enum, pattern_name,
            pattern_value, context, frequency, priority)
    ON CONFLICT ON CONSTRAINT communication_patterns_name_key DO UPDATE
    SET pattern_value = EXCLUDED.pattern_value, context = EXCLUDED.context,
        frequency = EXCLUDED.frequency, priority = EXCLUDED.priority, updated_at = now()
    RETURNING p.id INTO v_id;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['communication_patterns']);
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION cdl.upsert_communication_pattern(varchar, varchar, varchar, text, varchar, varchar, integer) IS
    'Add or replace a communication pattern (type, name) of a character. Returns its id.';

CREATE OR REPLACE FUNCTION cdl.remove_communication_pattern(
    character_name varchar, pattern_type varchar, pattern_name varchar)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
BEGIN
    PERFORM cdl._check_label(pattern_type, enum_range(NULL::cdl.communication_pattern_enum), 'pattern type');
    target := cdl._lock_character(character_name);
    DELETE FROM cdl.communication_patterns p
    WHERE p.character_id = target.character_id
      AND p.pattern_type = remove_communication_pattern.pattern_type::cdl.communication_pattern_enum
      AND p.pattern_name = remove_communication_pattern.pattern_name;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['communication_patterns']);
    RETURN true;
END
$$;

COMMENT ON FUNCTION cdl.remove_communication_pattern(varchar, varchar, varchar) IS
    'Remove a communication pattern; false when there was none.';

CREATE OR REPLACE FUNCTION cdl.upsert_response_template(
    character_name varchar, scenario varchar, template_name varchar, template_text text,
    conditions jsonb DEFAULT '{}', priority integer DEFAULT 50, is_active boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
    v_id bigint;
BEGIN
    PERFORM cdl._check_label(scenario, enum_range(NULL::cdl.response_scenario_enum), 'scenario');
    IF coalesce(btrim(template_name), '') = '' OR length(template_name) > 100 THEN
        RAISE EXCEPTION 'template_name must be 1 to 100 characters' USING ERRCODE = 'CD001';
    END IF;
    IF coalesce(btrim(template_text), '') = '' THEN
        RAISE EXCEPTION 'template_text must not be empty' USING ERRCODE = 'CD001';
    END IF;
    IF conditions IS NULL OR jsonb_typeof(conditions) <> 'object' THEN
        RAISE EXCEPTION 'conditions must be a JSON object' USING ERRCODE = 'CD001';
    END IF;
    IF priority IS NULL OR priority NOT BETWEEN 0 AND 100 OR is_active IS NULL THEN
        RAISE EXCEPTION 'priority must be between 0 and 100 and is_active not NULL'
            USING ERRCODE = 'CD001';
    END IF;
    target := cdl._lock_character(character_name);
    INSERT INTO cdl.response_templates AS t
        (character_id, scenario, template_name, template_text, conditions, priority, is_active)
    VALUES (target.character_id, scenario::cdl.response_scenario_enum, template_name,
            template_text, conditions, priority, is_active)
    ON CONFLICT ON CONSTRAINT response_templates_name_key DO UPDATE
    SET template_text = EXCLUDED.template_text, conditions = EXCLUDED.conditions,
        priority = EXCLUDED.priority, is_active = EXCLUDED.is_active, updated_at = now()
    RETURNING t.id INTO v_id;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['response_templates']);
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION cdl.upsert_response_template(varchar, varchar, varchar, text, jsonb, integer, boolean) IS
    'Add or replace a response template (scenario, name) of a character. Returns its id.';

CREATE OR REPLACE FUNCTION cdl.remove_response_template(
    character_name varchar, scenario varchar, template_name varchar)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
BEGIN
    PERFORM cdl._check_label(scenario, enum_range(NULL::cdl.response_scenario_enum), 'scenario');
    target := cdl._lock_character(character_name);
    DELETE FROM cdl.response_templates t
    WHERE t.character_id = target.character_id
      AND t.scenario = remove_response_template.scenario::cdl.response_scenario_enum
      AND t.template_name = remove_response_template.template_name;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['response_templates']);
    RETURN true;
END
$$;

COMMENT ON FUNCTION cdl.remove_response_template(varchar, varchar, varchar) IS
    'Remove a response template; false when there was none.';

CREATE OR REPLACE FUNCTION cdl.upsert_knowledge(
    character_name varchar, knowledge_type varchar, knowledge_key varchar, content text,
    parent_key varchar DEFAULT NULL, confidence numeric DEFAULT 1.0, importance integer DEFAULT 5,
    tags text[] DEFAULT '{}', is_public boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
    v_id bigint;
    v_parent bigint;
BEGIN
    PERFORM cdl._check_label(knowledge_type, enum_range(NULL::cdl.knowledge_type_enum), 'knowledge type');
    IF coalesce(btrim(knowledge_key), '') = '' OR length(knowledge_key) > 200 THEN
        RAISE EXCEPTION 'knowledge_key must be 1 to 200 characters' USING ERRCODE = 'CD001';
    END IF;
    IF coalesce(btrim(content), '') = '' THEN
        RAISE EXCEPTION 'knowledge content must not be empty' USING ERRCODE = 'CD001';
    END IF;
    IF octet_length(content) > 512 * 1024 THEN  -- a tsvector holds at most 1 MB
        RAISE EXCEPTION 'knowledge content is over 512 KiB' USING ERRCODE = 'CD007';
    END IF;
    PERFORM cdlstore_internal.input_text(t, 'a tag') FROM unnest(tags) AS t;
    IF confidence IS NULL OR confidence NOT BETWEEN 0 AND 1
       OR importance IS NULL OR importance NOT BETWEEN 1 AND 10
       OR tags IS NULL OR array_position(tags, NULL) IS NOT NULL OR is_public IS NULL THEN
        RAISE EXCEPTION 'confidence must be in [0, 1], importance in [1, 10], tags without NULLs'
            USING ERRCODE = 'CD001';
    END IF;
    target := cdl._lock_character(character_name);
    IF parent_key IS NOT NULL THEN
        SELECT k.id INTO v_parent FROM cdl.character_knowledge k
        WHERE k.character_id = target.character_id AND k.knowledge_key = parent_key;
        IF v_parent IS NULL THEN
            RAISE EXCEPTION 'parent knowledge % not found', quote_literal(parent_key)
                USING ERRCODE = 'CD002';
        END IF;
        -- the parent must not be the entry itself or one of its descendants
        IF EXISTS (
            WITH RECURSIVE up (id, parent, key) AS (
                SELECT k.id, k.parent_knowledge_id, k.knowledge_key
                FROM cdl.character_knowledge k WHERE k.id = v_parent
                UNION
                SELECT k.id, k.parent_knowledge_id, k.knowledge_key
                FROM cdl.character_knowledge k JOIN up ON k.id = up.parent)
            SELECT FROM up WHERE up.key = upsert_knowledge.knowledge_key) THEN
            RAISE EXCEPTION 'knowledge % cannot have % as parent: that makes a cycle',
                quote_literal(knowledge_key), quote_literal(parent_key) USING ERRCODE = 'CD001';
        END IF;
    END IF;
    INSERT INTO cdl.character_knowledge AS k
        (character_id, knowledge_type, knowledge_key, content, parent_knowledge_id, confidence,
         importance, tags, is_public)
    VALUES (target.character_id, knowledge_type::cdl.knowledge_type_enum, knowledge_key, content,
            v_parent, confidence, importance, tags, is_public)
    ON CONFLICT ON CONSTRAINT character_knowledge_key DO UPDATE
    SET knowledge_type = EXCLUDED.knowledge_type, content = EXCLUDED.content,
        parent_knowledge_id = EXCLUDED.parent_knowledge_id, confidence = EXCLUDED.confidence,
        importance = EXCLUDED.importance, tags = EXCLUDED.tags, is_public = EXCLUDED.is_public,
        updated_at = now()
    RETURNING k.id INTO v_id;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['knowledge']);
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION cdl.upsert_knowledge(varchar, varchar, varchar, text, varchar, numeric, integer, text[], boolean) IS
    'Add or replace a knowledge entry (by key) of a character, optionally under a parent entry. '
    'Returns its id. CD001 bad input or a cycle, CD002 unknown character or parent.';

CREATE OR REPLACE FUNCTION cdl.remove_knowledge(character_name varchar, knowledge_key varchar)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- first of all: the call's tenant
    target record;
BEGIN
    target := cdl._lock_character(character_name);
    DELETE FROM cdl.character_knowledge k
    WHERE k.character_id = target.character_id AND k.knowledge_key = remove_knowledge.knowledge_key;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM cdl._save_document(target.character_id, NULL, ARRAY['knowledge']);
    RETURN true;
END
$$;

COMMENT ON FUNCTION cdl.remove_knowledge(varchar, varchar) IS
    'Remove a knowledge entry (its children become top-level entries); false when there was none.';
