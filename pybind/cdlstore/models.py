"""Pydantic models of what the SQL API returns, built from named columns or JSON keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, RootModel


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class CommunicationPattern(_Model):
    pattern_type: str
    pattern_name: str
    pattern_value: str
    context: str | None = None
    frequency: str
    priority: int


class ResponseTemplate(_Model):
    scenario: str
    template_name: str
    template_text: str
    conditions: dict[str, Any]
    priority: int
    is_active: bool


class Knowledge(_Model):
    knowledge_type: str
    knowledge_key: str
    content: str
    parent_key: str | None = None
    confidence: float
    importance: int
    tags: list[str]
    is_public: bool


class Character(_Model):
    """A whole character, as ``cdl.get_character_complete`` returns it."""

    id: int
    name: str
    normalized_name: str
    occupation: str | None = None
    description: str | None = None
    archetype: str
    status: str
    cdl_version: str
    import_source: str | None = None
    version_count: int
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime
    cdl: dict[str, Any]
    communication_patterns: list[CommunicationPattern]
    response_templates: list[ResponseTemplate]
    knowledge: list[Knowledge]
    workflows: list[dict[str, Any]]


class CharacterSummary(_Model):
    id: int
    name: str
    normalized_name: str
    occupation: str | None = None
    archetype: str
    status: str
    version_count: int
    updated_at: datetime


class CharacterVersion(_Model):
    version_number: int
    version_name: str | None = None
    description: str | None = None
    created_by: str | None = None
    created_at: datetime


class FieldChange(_Model):
    path: str
    value: Any = None
    old_value: Any = None
    new_value: Any = None


class VersionDiff(_Model):
    from_version: int
    to_version: int
    added: list[FieldChange]
    removed: list[FieldChange]
    changed: list[FieldChange]


class SearchHit(_Model):
    name: str
    normalized_name: str
    rank: float
    source: str
    match_path: str
    snippet: str


class KnowledgeHit(_Model):
    rank: float
    source: str
    match_path: str
    snippet: str


class TriggerCandidate(_Model):
    """A workflow a message would start (``cdl.check_workflow_triggers``)."""

    workflow: str
    pattern_matched: bool
    pattern: str | None = None
    keyword_matched: bool
    keyword: str | None = None
    context: dict[str, Any]
    llm_validation_required: bool
    llm_prompt: str | None = None


class WorkflowStep(_Model):
    """What ``cdl.process_workflow_message`` did with a message."""

    action: str  # started, transitioned, unchanged, needs_llm_validation, none
    instance_id: int | None = None
    workflow_name: str | None = None
    state: str | None = None
    status: str | None = None
    context: dict[str, Any] = {}
    prompt_injection: str | None = None
    system_prompt_addition: str | None = None
    llm_prompt: str | None = None


class ActiveWorkflow(WorkflowStep):
    character: str
    started_at: datetime
    timeout_at: datetime | None = None


class DocumentRef(_Model):
    document_uuid: UUID
    version: int


class Document(_Model):
    """One version of a document (``body`` only when asked for)."""

    namespace: str
    type: str
    document_uuid: UUID
    version: int
    name: str | None = None
    metadata: dict[str, Any]
    created_at: datetime
    created_by: str | None = None
    created_by_type: str | None = None
    session_id: str | None = None
    body: Any = None
    tag: str | None = None


class DocumentVersion(Document):
    """A version in a document's history, with the tags that point at it."""

    tags: list[str] = []


class DocumentHistory(_Model):
    document_uuid: UUID
    namespace: str
    type: str
    latest_version: int
    created_at: datetime
    deleted_at: datetime | None = None
    deleted_by: str | None = None
    deleted_by_type: str | None = None
    versions: list[DocumentVersion]


class DocumentPage(_Model):
    items: list[Document]
    next_cursor: str | None = None


class TagEvent(_Model):
    operation: str
    old_version: int | None = None
    new_version: int | None = None
    actor: str | None = None
    actor_type: str | None = None
    session_id: str | None = None
    created_at: datetime


class ChangeEvent(_Model):
    id: int
    operation: str
    namespace: str
    type: str
    document_uuid: UUID
    version: int | None = None
    tag: str | None = None
    actor: str | None = None
    session_id: str | None = None
    created_at: datetime


class RetentionPolicy(_Model):
    """A retention policy as ``docstore.set_retention_policy`` stored it."""

    namespace: str
    type: str
    keep_last: int
    older_than: str  # as PostgreSQL writes an interval, e.g. "7 days"


class PruneReport(_Model):
    dry_run: bool
    count: int
    versions: list[DocumentRef]


class WorkflowRun(_Model):
    workflow_id: UUID
    name: str
    description: str | None = None
    workflow_type: str
    status: str
    current_step: int
    total_steps: int | None = None
    completed_steps: int
    state_data: Any
    step_results: list[Any]
    assigned_agents: list[str]
    checkpoints: list[dict[str, Any]]
    error: str | None = None
    error_count: int
    metadata: dict[str, Any]
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    deadline: datetime | None = None


class WorkflowRunPage(_Model):
    items: list[WorkflowRun]
    next_cursor: str | None = None


class Task(_Model):
    execution_id: UUID
    workflow_id: UUID | None = None
    agent_id: str | None = None
    task_name: str
    task_type: str
    priority: int
    status: str
    input_data: Any
    output_data: Any = None
    error: str | None = None
    retry_count: int
    max_retries: int
    timeout_seconds: int
    execution_time_ms: int | None = None
    created_at: datetime
    available_at: datetime
    started_at: datetime | None = None
    timeout_at: datetime | None = None
    completed_at: datetime | None = None
    lease_token: UUID | None = None  # only in claim_tasks' answer: the token of this claim's lease


class Event(_Model):
    event_id: int
    event_type: str
    entity_type: str | None = None
    entity_id: str | None = None
    workflow_id: UUID | None = None
    agent_id: str | None = None
    session_id: str | None = None
    source: str | None = None
    payload: Any
    severity: str
    created_at: datetime


class EventPage(_Model):
    items: list[Event]
    next_cursor: str | None = None


class Message(_Model):
    message_id: int
    instance_id: str
    agent_id: str | None = None
    role: str
    content: str
    tool_calls: Any = None
    is_error: bool
    metadata: dict[str, Any]
    created_at: datetime


class TaskExecutionTimes(_Model):
    """Percentiles of task execution time (ms) over the last hour; None without tasks."""

    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


class Metrics(_Model):
    """``ops.metrics()``: gauges and counters of runs, tasks and events."""

    workflows_by_status: dict[str, int]
    tasks_by_status: dict[str, int]
    task_retries_total: int
    task_error_rate: float
    queue_depth: int
    oldest_pending_age_seconds: float
    task_execution_ms: TaskExecutionTimes
    events_total: int


# game: the fields of the JSON objects in the order jsonb keeps their keys (shorter first), so
# that a model dumped with exclude_unset (the CLI's --json) gives back the very JSON of the call


class GameSession(_Model):
    """A game session (``game.start_game_session`` and the calls that change one)."""

    id: int
    external_id: str | None = None
    account_id: int
    profile_id: int
    scenario_id: str
    status: str
    current_scene: str | None = None
    choices_made: list[Any]
    compass_values: dict[str, Any]
    version: int
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None


class CompassTotals(RootModel[dict[str, int | float]]):
    """A profile's score per compass axis (``.root`` is the mapping)."""

    model_config = ConfigDict(frozen=True)


class LeaderboardEntry(_Model):
    name: str
    rank: int
    score: int | float
    profile_id: int


class ImportedDocument(_Model):
    id: str | None = None
    reason: str | None = None  # why it was rejected
    status: str  # inserted, updated, unchanged or rejected


class ImportReport(_Model):
    """What ``game.import_documents`` did with each document of a container."""

    updated: int
    inserted: int
    rejected: int
    container: str
    documents: list[ImportedDocument]
    unchanged: int


class Difference(_Model):
    id: str
    field: str | None = None
    problem: str  # missing_in_relational, missing_in_documents or differs
    document: Any = None
    relational: Any = None


class Comparison(_Model):
    """``game.compare_with_documents``: the records that differ from their documents."""

    records: int
    container: str
    documents: int
    differences: list[Difference]
