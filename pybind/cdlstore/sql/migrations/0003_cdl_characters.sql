-- The character store of the cdl schema.
-- A character's CDL document is stored field by field (character_field_values, one row per
-- leaf: scalar, array, empty object or null), keyed by field definitions shared by all
-- characters. character_documents holds the derived, always-fresh document that
-- get_character_complete returns in one index lookup; the write functions maintain it in
-- the same transaction, touching only the character they change.

CREATE TABLE cdl.characters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name varchar(200) NOT NULL,
    normalized_name varchar(200) NOT NULL UNIQUE CHECK (normalized_name ~ '^[a-z0-9_]+$'),
    occupation text,
    description text,
    archetype cdl.character_archetype_enum NOT NULL DEFAULT 'real_world',
    status cdl.character_status_enum NOT NULL DEFAULT 'active',
    cdl_version varchar(20) NOT NULL DEFAULT '1.0',
    file_description text,  -- the "description" beside "character" in a wrapped file
    import_source varchar(100),
    version_count integer NOT NULL DEFAULT 0 CHECK (version_count >= 0),
    created_by varchar(200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX characters_status_archetype_idx ON cdl.characters (status, archetype);

CREATE TABLE cdl.character_field_definitions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    field_path text NOT NULL UNIQUE,         -- dot path; '.' and '\' inside a key are '\'-escaped
    path_keys text[] NOT NULL UNIQUE CHECK (cardinality(path_keys) BETWEEN 1 AND 32),
    field_name text NOT NULL,
    parent_field_id bigint REFERENCES cdl.character_field_definitions (id),
    field_type cdl.field_type_enum NOT NULL DEFAULT 'custom',
    data_type cdl.data_type_enum NOT NULL,
    category varchar(100),
    description text,
    validation_rules jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(validation_rules) = 'object'),
    is_required boolean NOT NULL DEFAULT false,
    is_inferred boolean NOT NULL DEFAULT false,  -- registered on the fly by an import: not enforced
    sort_order integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX character_field_definitions_parent_idx ON cdl.character_field_definitions (parent_field_id);
CREATE INDEX character_field_definitions_type_idx ON cdl.character_field_definitions (field_type, sort_order);
CREATE INDEX character_field_definitions_required_idx ON cdl.character_field_definitions (id)
    WHERE is_required AND NOT is_inferred;

CREATE TABLE cdl.character_field_values (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    character_id bigint NOT NULL REFERENCES cdl.characters (id) ON DELETE CASCADE,
    field_definition_id bigint NOT NULL REFERENCES cdl.character_field_definitions (id),
    string_value text,
    number_value numeric,
    boolean_value boolean,
    json_value jsonb,                        -- arrays, empty objects and JSON null
    confidence numeric(3, 2) NOT NULL DEFAULT 1.0 CHECK (confidence BETWEEN 0 AND 1),
    source varchar(100) NOT NULL DEFAULT 'import',
    is_public boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (character_id, field_definition_id),
    CHECK (num_nonnulls(string_value, number_value, boolean_value, json_value) = 1)
);
CREATE INDEX character_field_values_definition_idx ON cdl.character_field_values (field_definition_id);
CREATE INDEX character_field_values_fts_idx ON cdl.character_field_values
    USING gin (to_tsvector('english'::regconfig, string_value));

CREATE TABLE cdl.communication_patterns (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    character_id bigint NOT NULL REFERENCES cdl.characters (id) ON DELETE CASCADE,
    pattern_type cdl.communication_pattern_enum NOT NULL,
    pattern_name varchar(100) NOT NULL,
    pattern_value text NOT NULL,
    context varchar(100),
    frequency varchar(20) NOT NULL DEFAULT 'regular'
        CHECK (frequency IN ('rare', 'occasional', 'regular', 'frequent', 'always')),
    priority integer NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT communication_patterns_name_key UNIQUE (character_id, pattern_type, pattern_name)
);
CREATE INDEX communication_patterns_fts_idx ON cdl.communication_patterns
    USING gin (to_tsvector('english'::regconfig, pattern_value));

CREATE TABLE cdl.response_templates (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    character_id bigint NOT NULL REFERENCES cdl.characters (id) ON DELETE CASCADE,
    scenario cdl.response_scenario_enum NOT NULL,
    template_name varchar(100) NOT NULL,
    template_text text NOT NULL,
    conditions jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(conditions) = 'object'),
    priority integer NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT response_templates_name_key UNIQUE (character_id, scenario, template_name)
);

CREATE TABLE cdl.character_knowledge (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    character_id bigint NOT NULL REFERENCES cdl.characters (id) ON DELETE CASCADE,
    knowledge_type cdl.knowledge_type_enum NOT NULL,
    knowledge_key varchar(200) NOT NULL,
    content text NOT NULL,
    parent_knowledge_id bigint REFERENCES cdl.character_knowledge (id) ON DELETE SET NULL,
    confidence numeric(3, 2) NOT NULL DEFAULT 1.0 CHECK (confidence BETWEEN 0 AND 1),
    importance integer NOT NULL DEFAULT 5 CHECK (importance BETWEEN 1 AND 10),
    tags text[] NOT NULL DEFAULT '{}',
    is_public boolean NOT NULL DEFAULT true,
    search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, knowledge_key), 'A')
        || setweight(to_tsvector('english'::regconfig, content), 'B')) STORED,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT character_knowledge_key UNIQUE (character_id, knowledge_key)
);
CREATE INDEX character_knowledge_type_idx ON cdl.character_knowledge (character_id, knowledge_type);
CREATE INDEX character_knowledge_parent_idx ON cdl.character_knowledge (parent_knowledge_id);
CREATE INDEX character_knowledge_fts_idx ON cdl.character_knowledge USING gin (search_vector);
CREATE INDEX character_knowledge_tags_idx ON cdl.character_knowledge USING gin (tags);

CREATE TABLE cdl.character_versions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    character_id bigint NOT NULL REFERENCES cdl.characters (id) ON DELETE CASCADE,
    version_number integer NOT NULL CHECK (version_number > 0),
    version_name varchar(100),
    description text,
    snapshot jsonb NOT NULL,
    created_by varchar(200),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (character_id, version_number)
);

CREATE TABLE cdl.character_change_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    character_id bigint NOT NULL REFERENCES cdl.characters (id) ON DELETE CASCADE,
    change_type cdl.change_type_enum NOT NULL,
    field_path text,
    old_value jsonb,
    new_value jsonb,
    change_source varchar(100),
    changed_by varchar(200) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX character_change_log_character_idx ON cdl.character_change_log (character_id, id);

-- Derived: the document get_character_complete returns. Rebuildable from the tables above.
CREATE TABLE cdl.character_documents (
    normalized_name varchar(200) PRIMARY KEY,
    character_id bigint NOT NULL UNIQUE REFERENCES cdl.characters (id) ON DELETE CASCADE,
    complete jsonb NOT NULL
);

-- The one field definition cdlstore declares itself: a character's name.
INSERT INTO cdl.character_field_definitions
    (field_path, path_keys, field_name, field_type, data_type, validation_rules, is_required,
     description)
VALUES
    ('identity', '{identity}', 'identity', 'identity', 'object', '{}', false,
     'Who the character is'),
    ('identity.name', '{identity,name}', 'name', 'identity', 'string',
     '{"max_length": 200}', false, 'The character''s display name');
UPDATE cdl.character_field_definitions
SET parent_field_id = (SELECT id FROM cdl.character_field_definitions WHERE field_path = 'identity')
WHERE field_path = 'identity.name';

-- Cross-character analytics; refreshed by cdl.refresh_character_analytics(), never read
-- by the per-character functions.
CREATE MATERIALIZED VIEW cdl.character_analytics AS
SELECT c.id AS character_id,
       c.normalized_name,
       c.status,
       c.archetype,
       (SELECT count(*) FROM cdl.character_field_values v WHERE v.character_id = c.id) AS field_count,
       (SELECT count(*) FROM cdl.character_knowledge k WHERE k.character_id = c.id) AS knowledge_count,
       (SELECT count(*) FROM cdl.communication_patterns p WHERE p.character_id = c.id) AS pattern_count,
       (SELECT count(*) FROM cdl.response_templates t WHERE t.character_id = c.id) AS template_count,
       c.version_count,
       greatest(c.updated_at, (SELECT max(l.created_at) FROM cdl.character_change_log l
                                WHERE l.character_id = c.id)) AS last_change_at
FROM cdl.characters c;
CREATE UNIQUE INDEX character_analytics_character_idx ON cdl.character_analytics (character_id);

-- lz4 (de)compresses documents several times faster than the default pglz; servers built
-- without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE cdl.character_documents ALTER COLUMN complete SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: character documents use pglz';
END
$$;
