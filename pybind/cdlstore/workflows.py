"""``client.workflows``: one method per SQL function of the cdl workflow engine."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg.types.json import Json, Jsonb

from . import diagrams
from .characters import read_document
from .domain import Domain, M, method
from .errors import InvalidInput
from .models import ActiveWorkflow, TriggerCandidate, WorkflowStep


def _dumps(data: Any) -> str:
    # YAML dates and times become ISO strings; mapping order is kept
    return json.dumps(data, default=str)


class Workflows(Domain[M]):
    @method
    async def import_data(self, character: str, data: Any) -> int:
        """Import a workflow file already parsed from YAML; returns the workflow file id.

        It travels as ``json`` (not ``jsonb``) so that the order of its mappings survives."""
        row = await self._client._one(
            "SELECT cdl.import_workflow_from_yaml(character_name => %(c)s, "
            "workflow_yaml => %(f)s) AS id",
            {"c": character, "f": Json(data, dumps=_dumps)},
        )
        return int(row["id"])

    @method
    async def import_file(self, character: str, path: str | Path) -> int:
        """Import a YAML workflow file (Python parses it: PostgreSQL cannot read YAML)."""
        return await self.import_data(character, read_document(Path(path)))

    @method
    async def check(
        self, user_id: str, character: str, message: str, context: dict[str, Any] | None = None
    ) -> list[TriggerCandidate]:
        """Which workflows the message would start; nothing is started. The user comes first,
        as in ``process`` (it is the shard key)."""
        row = await self._client._one(
            "SELECT cdl.check_workflow_triggers(character_name => %(c)s, user_message => %(m)s, "
            "user_id => %(u)s, request_context => %(ctx)s) AS candidates",
            {"c": character, "m": message, "u": user_id, "ctx": Jsonb(context or {})},
        )
        return [TriggerCandidate.model_validate(c) for c in row["candidates"]]

    @method
    async def process(
        self,
        user_id: str,
        character: str,
        message: str,
        llm_confirmed: bool = False,
        context: dict[str, Any] | None = None,
        llm_verdicts: dict[str, bool] | None = None,
    ) -> WorkflowStep:
        """The one call per user message: start, move or leave the user's workflow.

        ``llm_verdicts`` maps workflow names to the caller's LLM answers: a declined workflow is
        skipped and the next candidate is offered or started."""
        row = await self._client._one(
            "SELECT cdl.process_workflow_message(user_id => %(u)s, character_name => %(c)s, "
            "message => %(m)s, llm_confirmed => %(llm)s, request_context => %(ctx)s, "
            "llm_verdicts => %(v)s) AS step",
            {
                "u": user_id,
                "c": character,
                "m": message,
                "llm": llm_confirmed,
                "ctx": Jsonb(context or {}),
                "v": Jsonb(llm_verdicts or {}),
            },
        )
        return WorkflowStep.model_validate(row["step"])

    @method
    async def start(
        self,
        user_id: str,
        character: str,
        workflow: str,
        initial_context: dict[str, Any] | None = None,
    ) -> int:
        row = await self._client._one(
            "SELECT cdl.start_workflow_instance(user_id => %(u)s, character_name => %(c)s, "
            "workflow_name => %(w)s, initial_context => %(ctx)s) AS id",
            {"u": user_id, "c": character, "w": workflow, "ctx": Jsonb(initial_context or {})},
        )
        return int(row["id"])

    @method
    async def active(self, user_id: str) -> list[ActiveWorkflow]:
        row = await self._client._one(
            "SELECT cdl.get_user_active_workflows(user_id => %(u)s) AS active", {"u": user_id}
        )
        return [ActiveWorkflow.model_validate(a) for a in row["active"]]

    @method
    async def cancel(self, instance_id: int, reason: str | None = None) -> bool:
        row = await self._client._one(
            "SELECT cdl.cancel_workflow_instance(instance_id => %(i)s, reason => %(r)s) AS done",
            {"i": instance_id, "r": reason},
        )
        return bool(row["done"])

    @method
    async def expire_timeouts(self, as_of: datetime | None = None) -> int:
        row = await self._client._one(
            "SELECT cdl.expire_workflow_timeouts(coalesce(%(t)s::timestamptz, now())) AS n",
            {"t": as_of},
        )
        return int(row["n"])

    @method
    async def render_prompt(self, instance_id: int) -> str | None:
        row = await self._client._one(
            "SELECT cdl.render_workflow_prompt(instance_id => %(i)s) AS prompt", {"i": instance_id}
        )
        prompt: str | None = row["prompt"]
        return prompt

    @method
    async def get_graph(self, character: str, workflow: str | None = None) -> list[dict[str, Any]]:
        """The current workflows of a character (or the one named) as graphs: triggers, states,
        transitions, timeouts (``cdl.get_workflow_graph``)."""
        row = await self._client._one(
            "SELECT cdl.get_workflow_graph(character_name => %(c)s, workflow_name => %(w)s) AS g",
            {"c": character, "w": workflow},
        )
        graphs: list[dict[str, Any]] = row["g"]
        return graphs

    @method
    async def graph(
        self, character: str, workflow: str | None = None, format: str = "mermaid"
    ) -> str:
        """The workflows drawn as Mermaid ``stateDiagram-v2``, Graphviz dot, or SVG (drawn by
        Graphviz's ``dot``; :class:`~cdlstore.diagrams.GraphvizMissing` without it)."""
        if format not in diagrams.FORMATS:
            raise InvalidInput(f"format must be one of {', '.join(diagrams.FORMATS)}")
        graphs = await self.get_graph(character, workflow)
        return diagrams.render(graphs, format, character)
