"""``client.operations``: one method per SQL function of the ops schema, plus the exports."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from .domain import Domain, M, given, iterator, method
from .models import Event, EventPage, Message, Metrics, Task, WorkflowRun, WorkflowRunPage

EVENT_CHANNEL = "cdlstore_ops_events"


class Operations(Domain[M]):
    # workflow runs
    @method
    async def create_workflow(
        self,
        name: str,
        workflow_type: str = "generic",
        *,
        description: str | None = None,
        total_steps: int | None = None,
        state_data: Any = None,
        assigned_agents: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        tags: Sequence[str] = (),
        deadline: datetime | None = None,
    ) -> UUID:
        result: UUID = await self._call(
            "ops.create_workflow",
            name=name,
            workflow_type=workflow_type,
            description=description,
            total_steps=total_steps,
            state_data=Jsonb(state_data if state_data is not None else {}),
            assigned_agents=list(assigned_agents),
            metadata=Jsonb(metadata or {}),
            tags=list(tags),
            deadline=deadline,
        )
        return result

    @method
    async def start_workflow(self, workflow_id: UUID | str) -> WorkflowRun:
        return WorkflowRun.model_validate(
            await self._call("ops.start_workflow", workflow_id=workflow_id)
        )

    @method
    async def advance_workflow_step(
        self, workflow_id: UUID | str, step_result: Any = None, state_data: Any = None
    ) -> WorkflowRun:
        return WorkflowRun.model_validate(
            await self._call(
                "ops.advance_workflow_step",
                workflow_id=workflow_id,
                step_result=Jsonb(step_result if step_result is not None else {}),
                state_data=Jsonb(state_data) if state_data is not None else None,
            )
        )

    @method
    async def complete_workflow(self, workflow_id: UUID | str, result: Any = None) -> WorkflowRun:
        return WorkflowRun.model_validate(
            await self._call(
                "ops.complete_workflow",
                workflow_id=workflow_id,
                result=Jsonb(result) if result is not None else None,
            )
        )

    @method
    async def fail_workflow(self, workflow_id: UUID | str, error: str) -> WorkflowRun:
        return WorkflowRun.model_validate(
            await self._call("ops.fail_workflow", workflow_id=workflow_id, error=error)
        )

    @method
    async def get_workflow(self, workflow_id: UUID | str) -> WorkflowRun:
        return WorkflowRun.model_validate(
            await self._call("ops.get_workflow", workflow_id=workflow_id)
        )

    @method
    async def list_workflows(
        self,
        status: str | None = None,
        workflow_type: str | None = None,
        page_size: int = 100,
        after: str | None = None,
    ) -> WorkflowRunPage:
        return WorkflowRunPage.model_validate(
            await self._call(
                "ops.list_workflows",
                status=status,
                workflow_type=workflow_type,
                page_size=page_size,
                after=after,
            )
        )

    @method
    async def expire_workflows(self, as_of: datetime | None = None) -> int:
        return int(await self._call("ops.expire_workflows", **given(as_of=as_of)))

    # the task queue
    @method
    async def enqueue_task(
        self,
        task_name: str,
        task_type: str,
        input_data: Any = None,
        *,
        priority: int = 0,
        workflow_id: UUID | str | None = None,
        max_retries: int = 3,
        timeout_seconds: int = 300,
        available_at: datetime | None = None,
    ) -> UUID:
        result: UUID = await self._call(
            "ops.enqueue_task",
            task_name=task_name,
            task_type=task_type,
            input_data=Jsonb(input_data if input_data is not None else {}),
            priority=priority,
            workflow_id=workflow_id,
            max_retries=max_retries,
            timeout_seconds=timeout_seconds,
            available_at=available_at,
        )
        return result

    @method
    async def enqueue_tasks(self, tasks: Sequence[dict[str, Any]]) -> list[UUID]:
        """Queue a batch ({task_name, task_type, input_data, priority, ...}) in one transaction."""
        result: list[UUID] = await self._call("ops.enqueue_tasks", tasks=Jsonb(list(tasks)))
        return result

    @method
    async def complete_tasks(self, completions: Sequence[tuple[Task, Any]]) -> int:
        """Complete a batch of claimed tasks ((task, output) pairs) in one transaction."""
        batch = [
            {"execution_id": str(t.execution_id), "lease_token": str(t.lease_token), "output": out}
            for t, out in completions
        ]
        return int(await self._call("ops.complete_tasks", completions=Jsonb(batch)))

    @method
    async def claim_tasks(
        self, agent_id: str, task_types: Sequence[str], max_count: int = 1
    ) -> list[Task]:
        rows = await self._call(
            "ops.claim_tasks",
            agent_id=agent_id,
            task_types=list(task_types),
            max_count=max_count,
        )
        return [Task.model_validate(r) for r in rows]

    @method
    async def complete_task(
        self, execution_id: UUID | str, lease_token: UUID | str, output: Any = None
    ) -> Task:
        return Task.model_validate(
            await self._call(
                "ops.complete_task",
                execution_id=execution_id,
                lease_token=lease_token,
                output=Jsonb(output) if output is not None else None,
            )
        )

    @method
    async def fail_task(
        self, execution_id: UUID | str, lease_token: UUID | str, error: str
    ) -> Task:
        return Task.model_validate(
            await self._call(
                "ops.fail_task",
                execution_id=execution_id,
                lease_token=lease_token,
                error=error,
            )
        )

    @method
    async def heartbeat_task(
        self, execution_id: UUID | str, lease_token: UUID | str, extend_seconds: int | None = None
    ) -> datetime:
        """Extend a claimed task's lease; returns its new end. Conflict when the lease is stale."""
        result: datetime = await self._call(
            "ops.heartbeat_task",
            execution_id=execution_id,
            lease_token=lease_token,
            extend_seconds=extend_seconds,
        )
        return result

    @method
    async def release_task(self, execution_id: UUID | str, lease_token: UUID | str) -> Task:
        """Give back a claimed task that was not started: pending again at once."""
        return Task.model_validate(
            await self._call("ops.release_task", execution_id=execution_id, lease_token=lease_token)
        )

    @method
    async def expire_tasks(self, as_of: datetime | None = None) -> int:
        return int(await self._call("ops.expire_tasks", **given(as_of=as_of)))

    @method
    async def next_task_timeout(self) -> datetime | None:
        """The earliest lease end of any running task; None when none runs."""
        due: datetime | None = await self._call("ops.next_task_timeout")
        return due

    @method
    async def get_task(self, execution_id: UUID | str) -> Task:
        return Task.model_validate(await self._call("ops.get_task", execution_id=execution_id))

    @method
    async def list_tasks(
        self,
        status: str | None = None,
        task_type: str | None = None,
        workflow_id: UUID | str | None = None,
        max_count: int = 50,
        before: datetime | None = None,
    ) -> list[Task]:
        """Tasks, newest first; ``before`` (the last one's created_at) gives the next page."""
        rows = await self._call(
            "ops.list_tasks",
            status=status,
            task_type=task_type,
            workflow_id=workflow_id,
            max_count=max_count,
            before=before,
        )
        return [Task.model_validate(r) for r in rows]

    @method
    async def retry_task(self, execution_id: UUID | str) -> Task:
        """Queue a failed or cancelled task again, its retries starting over."""
        return Task.model_validate(await self._call("ops.retry_task", execution_id=execution_id))

    @method
    async def cancel_task(self, execution_id: UUID | str, reason: str | None = None) -> Task:
        """Cancel a pending or running task."""
        return Task.model_validate(
            await self._call("ops.cancel_task", execution_id=execution_id, reason=reason)
        )

    # events and conversations
    @method
    async def record_event(
        self,
        event_type: str,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        workflow_id: UUID | str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        source: str | None = None,
        payload: Any = None,
        severity: str = "info",
    ) -> int:
        return int(
            await self._call(
                "ops.record_event",
                event_type=event_type,
                entity_type=entity_type,
                entity_id=entity_id,
                workflow_id=workflow_id,
                agent_id=agent_id,
                session_id=session_id,
                source=source,
                payload=Jsonb(payload if payload is not None else {}),
                severity=severity,
            )
        )

    @method
    async def list_events(
        self,
        *,
        event_type: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        workflow_id: UUID | str | None = None,
        severity: str | None = None,
        page_size: int = 100,
        after: str | None = None,
    ) -> EventPage:
        return EventPage.model_validate(
            await self._call(
                "ops.list_events",
                event_type=event_type,
                entity_type=entity_type,
                entity_id=entity_id,
                workflow_id=workflow_id,
                severity=severity,
                page_size=page_size,
                after=after,
            )
        )

    @method
    async def read_events(self, consumer: str, max_count: int = 100) -> list[Event]:
        """The consumer's next events, gap-free (task lifecycle included); the same again until
        acknowledged with ``ack_events``."""
        events = await self._call("ops.read_events", consumer=consumer, max_count=max_count)
        return [Event.model_validate(e) for e in events]

    @method
    async def ack_events(self, consumer: str, up_to_id: int) -> bool:
        return bool(await self._call("ops.ack_events", consumer=consumer, up_to_id=up_to_id))

    @iterator
    async def events(self, consumer: str, max_count: int = 100) -> AsyncIterator[Event]:
        """Read, yield and acknowledge until caught up (``read_events``, ``ack_events``): after
        a crash a consumer resumes after the last batch it finished, missing nothing."""
        while True:
            events = await self.read_events(consumer, max_count)
            if not events:
                return
            for event in events:
                yield event
            await self.ack_events(consumer, events[-1].event_id)

    @iterator
    async def listen_events(self, timeout: float | None = None) -> AsyncIterator[dict[str, Any]]:
        """New events as they are recorded (small payloads; list_events has the full rows)."""
        async for note in self._client.listen(EVENT_CHANNEL, timeout):
            yield note

    @method
    async def append_message(
        self,
        instance_id: str,
        role: str,
        content: str,
        *,
        tool_calls: Any = None,
        metadata: dict[str, Any] | None = None,
        agent_id: str | None = None,
        is_error: bool = False,
    ) -> int:
        return int(
            await self._call(
                "ops.append_message",
                instance_id=instance_id,
                role=role,
                content=content,
                tool_calls=Jsonb(tool_calls) if tool_calls is not None else None,
                metadata=Jsonb(metadata or {}),
                agent_id=agent_id,
                is_error=is_error,
            )
        )

    @method
    async def get_conversation(
        self, instance_id: str, max_messages: int = 100, before: int | None = None
    ) -> list[Message]:
        rows = await self._call(
            "ops.get_conversation",
            instance_id=instance_id,
            max_messages=max_messages,
            before=before,
        )
        return [Message.model_validate(r) for r in rows]

    @method
    async def metrics(self) -> Metrics:
        return Metrics.model_validate(await self._call("ops.metrics"))

    # exports
    @method
    async def export_source(self, kind: str, format: str) -> str:
        """The function whose rows an export of ``kind`` streams (``ops.export_<kind>``);
        InvalidInput for a kind or format that is not exported: the one list is in SQL."""
        function: str = await self._call("ops.export_source", kind=kind, format=format)
        return function

    @method
    async def export(
        self,
        kind: str,
        day: date,
        fmt: str,
        out_dir: str | Path,
        progress: Callable[[int], None] | None = None,
        on_chunk: Callable[[bytes], None] | None = None,
    ) -> tuple[Path, int]:
        """Stream one UTC day of `kind` with COPY ... TO STDOUT into out_dir/kind/kind_DAY.fmt,
        replacing that file atomically. Returns the file and its row count. ``progress`` gets
        the bytes written so far, ``on_chunk`` each chunk as it is written."""
        schema, function = (await self.export_source(kind, fmt)).split(".")
        rows = sql.SQL("SELECT * FROM {}({})").format(
            sql.Identifier(schema, function), sql.Literal(day)
        )
        if fmt == "csv":
            copy = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(rows)
        else:  # one JSON document per line; JSON text has no raw control characters to quote
            copy = sql.SQL(
                "COPY (SELECT row_to_json(r)::text FROM ({}) r) TO STDOUT "
                "(FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
            ).format(rows)
        target = Path(out_dir) / kind / f"{kind}_{day.isoformat()}.{fmt}"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        written = 0
        with partial.open("wb") as out:

            def write(chunk: bytes) -> None:
                nonlocal written
                out.write(chunk)
                written += len(chunk)
                if progress:
                    progress(written)
                if on_chunk:
                    on_chunk(chunk)

            # an export may rightly take longer than the client's statement timeout
            count = await self._client._copy_out(
                copy, write, setup="SELECT set_config('statement_timeout', '0', true)"
            )
        os.replace(partial, target)
        return target, count
