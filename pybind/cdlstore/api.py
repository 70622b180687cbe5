"""The API surface beyond "one method per SQL function", declared in one place.

Every method of a domain class calls one SQL API function through ``self._call("schema.function",
**named)``, is named after it and takes its parameter names (docs/design.md). What else there
is, is listed here, and tests/test_api_surface.py checks all of it against the catalog:

- :data:`HELPERS`: methods that call no function themselves but page, stream, read a file or
  listen over the methods of the functions named (``documents.list`` over ``list_documents``);
- :data:`SQL_ONLY`: API functions granted to ``cdlstore_app`` that no method wraps, and why;
- :data:`ALIASES`: the names of the previous release, kept for one release. Each call warns with
  :class:`~cdlstore.domain.RenamedWarning` (a DeprecationWarning) and calls the new method, old
  keyword names renamed on the way; a row whose old name is the method's own renames keywords
  only. They go in the next release.
"""

from __future__ import annotations

from .characters import Characters
from .documents import Documents
from .domain import Domain, alias, iterator, method
from .game import Game
from .operations import Operations
from .workflows import Workflows

# "domain.method": the SQL functions it goes over (through other methods, or by COPY); a
# helper never calls ``_call`` itself
HELPERS: dict[str, tuple[str, ...]] = {
    "characters.import_file": ("cdl.import_character_from_json",),
    "workflows.import_file": ("cdl.import_workflow_from_yaml",),
    "workflows.graph": ("cdl.get_workflow_graph",),
    "documents.get_by_session": ("docstore.list_by_session",),
    "documents.list": ("docstore.list_documents",),
    "documents.changes": ("docstore.read_changes", "docstore.ack_changes"),
    "documents.listen": (),  # NOTIFY cdlstore_docstore
    "operations.events": ("ops.read_events", "ops.ack_events"),
    "operations.listen_events": (),  # NOTIFY cdlstore_ops_events
    "operations.export": (
        "ops.export_source",
        "ops.export_events",
        "ops.export_tasks",
        "ops.export_workflows",
        "ops.export_messages",
    ),
}

# API functions no method wraps: not an application's calls
_PROXY = "the proxy's copy of definitions to every shard and a shard's identity (docs/scale-out.md)"
SQL_ONLY: dict[str, str] = {
    "cdl.definition_version": _PROXY,
    "cdl.definition_log_since": _PROXY,
    "cdl.apply_definition": _PROXY,
    "cdl.set_shard_identity": _PROXY,
    "cdl.definition_writes_since": _PROXY,
}

# class: {old name: (new name, {old keyword: new keyword})}
ALIASES: dict[type[Domain[object]], dict[str, tuple[str, dict[str, str]]]] = {
    Characters: {
        "import_json": ("import_character_from_json", {"document": "character_json"}),
        "get": ("get_character_complete", {}),
        "export": ("export_character_json", {}),
        "upsert_field": (
            "upsert_character_field",
            {"path": "field_path", "value": "field_value", "source": "field_source"},
        ),
        "remove_field": ("remove_character_field", {"path": "field_path"}),
        "define_field": ("define_character_field", {"path": "field_path"}),
        "create_version": ("create_character_version", {}),
        "versions": ("list_character_versions", {}),
        "rollback": ("rollback_character", {"version": "version_number"}),
        "diff": ("diff_character_versions", {}),
        "search": ("search_characters", {"limit": "max_results"}),
        "search_knowledge": ("search_character_knowledge", {"limit": "max_results"}),
        "list": ("list_characters", {"status": "status_filter", "archetype": "archetype_filter"}),
        "archive": ("archive_character", {}),
        "upsert_pattern": ("upsert_communication_pattern", {"name": "character_name"}),
        "remove_pattern": ("remove_communication_pattern", {"name": "character_name"}),
        "upsert_template": ("upsert_response_template", {"name": "character_name"}),
        "remove_template": ("remove_response_template", {"name": "character_name"}),
        "upsert_knowledge": (
            "upsert_knowledge",
            {"name": "character_name", "key": "knowledge_key"},
        ),
        "remove_knowledge": (
            "remove_knowledge",
            {"name": "character_name", "key": "knowledge_key"},
        ),
        "render_documents": ("render_character_documents", {}),
        "refresh_analytics": ("refresh_character_analytics", {}),
    },
    Workflows: {
        "import_data": (
            "import_workflow_from_yaml",
            {"character": "character_name", "data": "workflow_yaml"},
        ),
        "import_file": ("import_file", {"character": "character_name"}),
        "check": (
            "check_workflow_triggers",
            {
                "character": "character_name",
                "message": "user_message",
                "context": "request_context",
            },
        ),
        "process": (
            "process_workflow_message",
            {"character": "character_name", "context": "request_context"},
        ),
        "start": (
            "start_workflow_instance",
            {"character": "character_name", "workflow": "workflow_name"},
        ),
        "active": ("get_user_active_workflows", {}),
        "cancel": ("cancel_workflow_instance", {}),
        "expire_timeouts": ("expire_workflow_timeouts", {}),
        "render_prompt": ("render_workflow_prompt", {}),
        "get_graph": (
            "get_workflow_graph",
            {"character": "character_name", "workflow": "workflow_name"},
        ),
        "graph": ("graph", {"character": "character_name", "workflow": "workflow_name"}),
    },
    Documents: {
        "put": ("put_document", {}),
        "get": ("get_document", {}),
        "get_by_tag": ("get_document_by_tag", {}),
        "get_by_tag_at": ("get_document_by_tag_at", {}),
        "declare_tag": (
            "declare_tag",
            {"protected": "is_protected", "immutable": "is_immutable"},
        ),
        "session_page": ("list_by_session", {}),
        "get_by_session": ("get_by_session", {"limit": "page_size"}),
        "list_page": ("list_documents", {}),
        "delete": ("delete_document", {}),
        "purge": ("purge_document", {}),
        "prune": ("prune_versions", {}),
        "changes": ("changes", {"batch": "max_count"}),
        "history": ("document_history", {}),
    },
    Operations: {
        "advance_step": ("advance_workflow_step", {}),
        "enqueue": ("enqueue_task", {}),
        "enqueue_many": ("enqueue_tasks", {}),
        "complete_many": ("complete_tasks", {}),
        "claim": ("claim_tasks", {}),
        "complete": ("complete_task", {}),
        "fail": ("fail_task", {}),
        "heartbeat": ("heartbeat_task", {}),
        "release": ("release_task", {}),
        "events": ("events", {"batch": "max_count"}),
        "get_conversation": ("get_conversation", {"limit": "max_messages"}),
    },
    Game: {
        "start_session": ("start_game_session", {}),
        "record_choice": ("record_scene_choice", {}),
        "complete_session": ("complete_game_session", {}),
        "abandon_session": ("abandon_game_session", {}),
        "get_session": ("get_game_session", {}),
        "compass_totals": ("get_profile_compass_totals", {}),
        "leaderboard": ("get_scenario_leaderboard", {"limit": "max_rows"}),
        "compare": ("compare_with_documents", {}),
    },
}


def install() -> None:
    """Put the aliases on their classes (once; cdlstore.client imports this module)."""
    for cls, names in ALIASES.items():
        for old, (new, params) in names.items():
            if isinstance(cls.__dict__.get(old), alias):
                continue
            if old == new:
                inner = cls.__dict__[new]
                assert isinstance(inner, method | iterator), f"{cls.__name__}.{new}"
                descriptor = alias(None, params, inner=inner)
            else:
                assert old not in cls.__dict__, f"{cls.__name__}.{old} is a method"
                assert isinstance(cls.__dict__[new], method | iterator), f"{cls.__name__}.{new}"
                descriptor = alias(new, params)
            descriptor.__set_name__(cls, old)
            descriptor.new = new
            setattr(cls, old, descriptor)


install()
