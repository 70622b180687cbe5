-- CASCADE: function signatures use these types; migrate re-creates the functions.
DROP TYPE docstore.document_ref CASCADE;
DROP TABLE docstore.consumer_offset;
DROP TABLE docstore.change_event;
DROP TABLE docstore.tag_event;
DROP TABLE docstore.active_tag;
DROP TABLE docstore.tag_policy;
DROP TABLE docstore.document_header CASCADE;
DROP TABLE docstore.documents;
DROP TABLE docstore.document_body;
