-- The versioned document store: a NoSQL-like API over tables, with versions, tags, change events.
-- Any document type works without a schema change.

CREATE TABLE docstore.document_body (
    document_body_uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    body_hash bytea NOT NULL UNIQUE,      -- identical bodies share one row
    body jsonb NOT NULL
);

-- One row per document: its identity, newest version and tombstone. Writers lock it, which
-- keeps versions gap-free.
CREATE TABLE docstore.documents (
    document_uuid uuid PRIMARY KEY,
    namespace text NOT NULL CHECK (namespace <> '' AND length(namespace) <= 200),
    type text NOT NULL CHECK (type <> '' AND length(type) <= 200),
    latest_version integer NOT NULL CHECK (latest_version > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    deleted_by text
);
CREATE INDEX documents_type_idx ON docstore.documents (namespace, type) WHERE deleted_at IS NULL;

CREATE TABLE docstore.document_header (
    id bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    namespace text NOT NULL,
    type text NOT NULL,
    document_uuid uuid NOT NULL REFERENCES docstore.documents (document_uuid) ON DELETE CASCADE,
    version integer NOT NULL CHECK (version > 0),
    name text,
    metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    document_body_uuid uuid NOT NULL REFERENCES docstore.document_body (document_body_uuid),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text,
    created_by_type text,
    session_id text,
    PRIMARY KEY (namespace, type, document_uuid, version),
    UNIQUE (document_uuid, version)
);
CREATE INDEX document_header_session_idx ON docstore.document_header (session_id, created_at DESC, id DESC)
    INCLUDE (type, document_uuid, version) WHERE session_id IS NOT NULL;
CREATE INDEX document_header_type_idx ON docstore.document_header (namespace, type, created_at DESC, id DESC);
CREATE INDEX document_header_metadata_idx ON docstore.document_header USING gin (metadata jsonb_path_ops);
CREATE INDEX document_header_body_idx ON docstore.document_header (document_body_uuid);

CREATE TABLE docstore.tag_policy (
    namespace text NOT NULL,
    tag text NOT NULL CHECK (tag <> '' AND length(tag) <= 100),
    is_protected boolean NOT NULL DEFAULT false,   -- moved or removed only with force
    is_immutable boolean NOT NULL DEFAULT false,   -- once set, never moved or removed (releases)
    PRIMARY KEY (namespace, tag)
);

CREATE TABLE docstore.active_tag (
    document_uuid uuid NOT NULL REFERENCES docstore.documents (document_uuid) ON DELETE CASCADE,
    tag text NOT NULL CHECK (tag <> '' AND length(tag) <= 100),
    document_version integer NOT NULL,
    document jsonb NOT NULL,              -- the tagged version as get_document_by_tag returns it
    is_deleted boolean NOT NULL DEFAULT false,  -- the document is a tombstone
    set_by text,
    set_by_type text,
    set_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_uuid, tag),
    FOREIGN KEY (document_uuid, document_version) REFERENCES docstore.document_header (document_uuid, version)
);
CREATE INDEX active_tag_tag_idx ON docstore.active_tag (tag, document_uuid) INCLUDE (document_version);

CREATE TABLE docstore.tag_event (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_uuid uuid NOT NULL REFERENCES docstore.documents (document_uuid) ON DELETE CASCADE,
    tag text NOT NULL,
    operation text NOT NULL CHECK (operation IN ('set', 'move', 'remove')),
    old_version integer,
    new_version integer,
    actor text,
    actor_type text,
    session_id text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX tag_event_tag_idx ON docstore.tag_event (document_uuid, tag, created_at, id);

-- Change data capture. Consumers read in (xid, id) order, and only the events of transactions
-- that have ended: so nothing committed later can appear behind their acknowledged offset.
CREATE TABLE docstore.change_event (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    operation text NOT NULL CHECK (operation IN ('put', 'tag', 'untag', 'delete', 'purge', 'prune')),
    namespace text NOT NULL,
    type text NOT NULL,
    document_uuid uuid NOT NULL,
    version integer,
    tag text,
    actor text,
    session_id text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX change_event_order_idx ON docstore.change_event (xid, id);

CREATE TABLE docstore.consumer_offset (
    consumer text PRIMARY KEY CHECK (consumer <> '' AND length(consumer) <= 200),
    last_xid xid8 NOT NULL DEFAULT '0',
    last_id bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TYPE docstore.document_ref AS (document_uuid uuid, version integer);
