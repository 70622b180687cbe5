"""``client.workflows``: one method per SQL function of the cdl workflow engine."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg.types.json import Json, Jsonb

from . import diagrams
from .domain import Domain, M, given, method
from .errors import InvalidInput
from .files import read_document
from .models import ActiveWorkflow, TriggerCandidate, WorkflowStep


def _dumps(data: Any) -> str:
    # YAML dates and times become ISO strings; mapping order is kept
    return json.dumps(data, default=str)


class Workflows(Domain[M]):
    @method
    async def import_workflow_from_yaml(self, character_name: str, workflow_yaml: Any) -> int:
        """Import a workflow file already parsed from YAML; returns the workflow file id.

        It travels as ``json`` (not ``jsonb``) so that the order of its mappings survives."""
        return int(
            await self._call(
                "cdl.import_workflow_from_yaml",
                character_name=character_name,
                workflow_yaml=Json(workflow_yaml, dumps=_dumps),
            )
        )

    @method
    async def import_file(self, character_name: str, path: str | Path) -> int:
        """Import a YAML workflow file (Python parses it: PostgreSQL cannot read YAML)."""
        return await self.import_workflow_from_yaml(character_name, read_document(Path(path)))

    @method
    async def check_workflow_triggers(
        self,
        user_id: str,
        character_name: str,
        user_message: str,
        request_context: dict[str, Any] | None = None,
    ) -> list[TriggerCandidate]:
        """Which workflows the message would start; nothing is started. The user comes first,
        as in ``process_workflow_message`` (it is the shard key)."""
        candidates = await self._call(
            "cdl.check_workflow_triggers",
            user_id=user_id,
            character_name=character_name,
            user_message=user_message,
            request_context=Jsonb(request_context or {}),
        )
        return [TriggerCandidate.model_validate(c) for c in candidates]

    @method
    async def process_workflow_message(
        self,
        user_id: str,
        character_name: str,
        message: str,
        llm_confirmed: bool = False,
        request_context: dict[str, Any] | None = None,
        llm_verdicts: dict[str, bool] | None = None,
    ) -> WorkflowStep:
        """The one call per user message: start, move or leave the user's workflow.

        ``llm_verdicts`` maps workflow names to the caller's LLM answers: a declined workflow is
        skipped and the next candidate is offered or started."""
        return WorkflowStep.model_validate(
            await self._call(
                "cdl.process_workflow_message",
                user_id=user_id,
                character_name=character_name,
                message=message,
                llm_confirmed=llm_confirmed,
                request_context=Jsonb(request_context or {}),
                llm_verdicts=Jsonb(llm_verdicts or {}),
            )
        )

    @method
    async def start_workflow_instance(
        self,
        user_id: str,
        character_name: str,
        workflow_name: str,
        initial_context: dict[str, Any] | None = None,
    ) -> int:
        return int(
            await self._call(
                "cdl.start_workflow_instance",
                user_id=user_id,
                character_name=character_name,
                workflow_name=workflow_name,
                initial_context=Jsonb(initial_context or {}),
            )
        )

    @method
    async def get_user_active_workflows(self, user_id: str) -> list[ActiveWorkflow]:
        active = await self._call("cdl.get_user_active_workflows", user_id=user_id)
        return [ActiveWorkflow.model_validate(a) for a in active]

    @method
    async def cancel_workflow_instance(self, instance_id: int, reason: str | None = None) -> bool:
        return bool(
            await self._call("cdl.cancel_workflow_instance", instance_id=instance_id, reason=reason)
        )

    @method
    async def expire_workflow_timeouts(self, as_of: datetime | None = None) -> int:
        """Time out the instances whose state deadline passed (by ``as_of``, default now)."""
        return int(await self._call("cdl.expire_workflow_timeouts", **given(as_of=as_of)))

    @method
    async def next_workflow_timeout(self) -> datetime | None:
        """The earliest state deadline of any running instance; None when there is none."""
        due: datetime | None = await self._call("cdl.next_workflow_timeout")
        return due

    @method
    async def render_workflow_prompt(self, instance_id: int) -> str | None:
        prompt: str | None = await self._call("cdl.render_workflow_prompt", instance_id=instance_id)
        return prompt

    @method
    async def get_workflow_graph(
        self, character_name: str, workflow_name: str | None = None
    ) -> list[dict[str, Any]]:
        """The current workflows of a character (or the one named) as graphs: triggers, states,
        transitions, timeouts (``cdl.get_workflow_graph``; what :mod:`cdlstore.diagrams`
        draws)."""
        graphs: list[dict[str, Any]] = await self._call(
            "cdl.get_workflow_graph", character_name=character_name, workflow_name=workflow_name
        )
        return graphs

    @method
    async def graph(
        self, character_name: str, workflow_name: str | None = None, format: str = "mermaid"
    ) -> str:
        """The workflows drawn as Mermaid ``stateDiagram-v2``, Graphviz dot, or SVG (drawn by
        Graphviz's ``dot``; :class:`~cdlstore.diagrams.GraphvizMissing` without it)."""
        if format not in diagrams.FORMATS:
            raise InvalidInput(f"format must be one of {', '.join(diagrams.FORMATS)}")
        graphs = await self.get_workflow_graph(character_name, workflow_name)
        return diagrams.render(graphs, format, character_name)
