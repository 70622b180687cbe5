"""The async client: the same scenarios through Client and AsyncClient, on real PostgreSQL.

A scenario is written once, as ``async def``; the sync client runs it through ``Awaited`` (each
call's result handed over as an already finished awaitable, each iterator as an async one), the
async client runs it as it is. Both must give the same results."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

import cdlstore
from cdlstore import AsyncClient, Client, errors
from cdlstore.client import SingleAsyncConnection
from cdlstore.domain import Domain, alias, iterator, method

from .conftest import AsAppRole

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "examples" / "characters" / "iris_marlow.json"
IRIS_WORKFLOWS = ROOT / "examples" / "workflows" / "iris_marlow.yaml"
DOMAINS = ("characters", "workflows", "documents", "operations", "game")


async def _done(value: Any) -> Any:
    return value


async def _aiter(items: Iterator[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


class Awaited:
    """A sync domain object seen through the async interface (for running one scenario on both)."""

    def __init__(self, domain: Domain[Any]) -> None:
        self._domain = domain

    def __getattr__(self, name: str) -> Callable[..., Any]:
        kind = inspect.getattr_static(type(self._domain), name)
        if isinstance(kind, alias):  # a method whose old keywords are kept
            kind = kind.inner
        call = getattr(self._domain, name)
        if isinstance(kind, iterator):
            return lambda *a, **k: _aiter(call(*a, **k))
        return lambda *a, **k: _done(call(*a, **k))


class AwaitedClient:
    def __init__(self, client: Client) -> None:
        for name in DOMAINS:
            setattr(self, name, Awaited(getattr(client, name)))
        self._client = client

    def schema_version(self) -> Awaitable[str | None]:
        return _done(self._client.schema_version())


async def scenario(c: Any) -> dict[str, Any]:
    """One pass over every store; returns what must be equal whichever client ran it."""
    out: dict[str, Any] = {"schema": await c.schema_version()}
    await c.characters.import_file(IRIS)
    await c.characters.upsert_character_field("iris_marlow", "identity.age", 62)
    version = await c.characters.create_character_version("iris_marlow", "after birthday")
    iris = await c.characters.get_character_complete("iris_marlow")
    out["character"] = (iris.name, iris.cdl["identity"]["age"], version)
    out["listed"] = [s.normalized_name for s in await c.characters.list_characters()]
    with pytest.raises(errors.NotFound):
        await c.characters.get_character_complete("nobody at all")

    await c.workflows.import_file("iris_marlow", IRIS_WORKFLOWS)
    step = await c.workflows.process_workflow_message("u1", "iris_marlow", "I'd like a cocoa")
    out["step"] = (step.action, step.state, step.status)
    out["active"] = [a.workflow_name for a in await c.workflows.get_user_active_workflows("u1")]

    ref = await c.documents.put_document("acme", "agent_config", {"model": "x"}, session_id="s1")
    await c.documents.put_document(
        "acme", "agent_config", {"model": "y"}, document_uuid=ref.document_uuid, session_id="s1"
    )
    await c.documents.set_tag(ref.document_uuid, 2, "production")
    out["tagged"] = (await c.documents.get_document_by_tag(ref.document_uuid, "production")).body
    out["session"] = [d.version async for d in c.documents.get_by_session("s1", page_size=1)]
    out["listed_docs"] = [d.version async for d in c.documents.list("acme", "agent_config")]
    # change events show after commit only; in this transaction there are none yet
    out["changes"] = [e.operation async for e in c.documents.changes("indexer", max_count=1)]

    await c.operations.enqueue_task("embed 1", "embed", {"doc": 1})
    [task] = await c.operations.claim_tasks("worker-1", ["embed"])
    done = await c.operations.complete_task(task.execution_id, task.lease_token, {"ok": True})
    out["task"] = (done.status, done.output_data)
    events = await c.operations.list_events(entity_id=str(task.execution_id))
    out["events"] = sorted(e.event_type for e in events.items)

    account = await c.game.create_account("lee@example.com", "Lee")
    profile = await c.game.create_profile(account, "Lee")
    session = await c.game.start_game_session(profile, "forest")
    await c.game.record_scene_choice(session.id, session.version, "bridge", "cross", {"speed": 2})
    out["game"] = (await c.game.get_profile_compass_totals(profile)).root
    return out


@pytest.fixture
def async_conn(test_dsn: str) -> Iterator[tuple[asyncio.AbstractEventLoop, AsyncClient]]:
    """An AsyncClient on one async connection, acting as cdlstore_app, rolled back afterwards."""
    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(psycopg.AsyncConnection.connect(test_dsn))
    loop.run_until_complete(conn.execute("SET ROLE cdlstore_app"))
    try:
        yield loop, AsyncClient(SingleAsyncConnection(conn))
    finally:
        loop.run_until_complete(conn.rollback())
        loop.run_until_complete(conn.close())
        loop.close()


async def run_async_scenario(dsn: str) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await conn.execute("SET ROLE cdlstore_app")
        try:
            return await scenario(AsyncClient(SingleAsyncConnection(conn)))
        finally:
            await conn.rollback()


def test_both_clients_run_the_same_scenario(test_dsn: str) -> None:
    """One after the other, each in a transaction rolled back at its end (two open ones would
    wait on each other's unique rows)."""
    with psycopg.connect(test_dsn) as conn, conn.transaction(force_rollback=True):
        sync_result = asyncio.run(scenario(AwaitedClient(Client(AsAppRole(conn)))))
    async_result = asyncio.run(run_async_scenario(test_dsn))
    assert sync_result == async_result
    assert sync_result["step"] == ("started", "brewing", "active")
    assert sync_result["session"] == [2, 1] and sync_result["listed_docs"] == [2]
    assert sync_result["changes"] == [] and sync_result["game"] == {"speed": 2}
    assert sync_result["task"] == ("completed", {"ok": True})


def test_every_public_domain_method_is_a_definition_of_both_clients(
    client: Client, async_conn: tuple[asyncio.AbstractEventLoop, AsyncClient]
) -> None:
    """A plain ``def`` on a domain class would be a method of the sync client alone."""
    _, aclient = async_conn
    for name in DOMAINS:
        cls = type(getattr(client, name))
        public = {k: v for k, v in vars(cls).items() if not k.startswith("_")}
        assert public, name
        for attr, kind in public.items():
            if isinstance(kind, alias):  # a deprecated name (test_api_surface) or keyword
                if kind.inner is None:
                    continue
                kind = kind.inner
            assert isinstance(kind, method | iterator), f"{name}.{attr} is not a definition"
            bound = getattr(getattr(aclient, name), attr)
            if isinstance(kind, method):
                assert inspect.iscoroutinefunction(bound), f"{name}.{attr}"
            else:
                assert inspect.isasyncgenfunction(bound), f"{name}.{attr}"


def test_connect_async_pools_concurrent_calls(own_clone: str) -> None:
    """Eight concurrent messages of one user on the async pool: one start, seven see it."""

    async def run() -> list[str]:
        async with await cdlstore.connect_async(own_clone, max_size=4, role="cdlstore_app") as c:
            await c.characters.import_file(IRIS)
            await c.workflows.import_file("iris_marlow", IRIS_WORKFLOWS)
            steps = await asyncio.gather(
                *(
                    c.workflows.process_workflow_message("u9", "iris_marlow", "I'd like a cocoa")
                    for _ in range(8)
                )
            )
            notes = c.operations.listen_events(timeout=5)
            first = asyncio.ensure_future(anext(notes))
            await asyncio.sleep(0)  # the listener connects while the event is recorded
            while not first.done():
                await c.operations.record_event("ping", payload={"at": str(datetime.now(UTC))})
                await asyncio.wait([first], timeout=0.2)
            await notes.aclose()  # type: ignore[attr-defined]
            assert first.result()["event_type"] == "ping"
            return sorted(s.action for s in steps)

    actions = asyncio.run(run())
    assert actions.count("started") == 1 and len(actions) == 8


def test_connect_async_unreachable_server_raises_connection_failed() -> None:
    with pytest.raises(errors.ConnectionFailed, match="cannot connect"):
        asyncio.run(cdlstore.connect_async("postgresql://nobody@127.0.0.1:1/none"))
