"""Every domain through the proxy with two shards: the document, queue, conversation and game
scenarios of the one-node suite pass unchanged; ids route to the shard that holds their rows;
listings that span both shards page every row once in one node's order; workers claim across
the shards; a change feed through the proxy loses and duplicates nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from cdlstore import Client, errors

from .. import test_documents, test_game, test_operations
from .conftest import Cluster, app_client

# the one-node scenarios (each on an empty store), run as they are against the proxy
SCENARIOS: list[Callable[[Client], None]] = [
    test_documents.test_versions_and_optimistic_writes,
    test_documents.test_tags_history_and_time_travel,
    test_documents.test_session_listing_pages,
    # (test_list_delete_purge_prune is left out: it counts on one open transaction)
    test_documents.test_bad_input_raises_our_errors,
    test_operations.test_workflow_run_lifecycle,
    test_operations.test_queue_retries_and_events,
    test_operations.test_conversations_and_metrics,
    test_operations.test_batches_are_all_or_none,
    test_game.test_play,
]
DATA_SCHEMAS = ("docstore", "ops", "game")


def empty_shards(sharded: Cluster) -> None:
    """Remove the rows of docstore, ops and game on every shard (definitions stay)."""
    for url in sharded.shards:
        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "SELECT string_agg(format('%%I.%%I', schemaname, tablename), ', ') FROM pg_tables"
                " WHERE schemaname = ANY (%s)",
                [list(DATA_SCHEMAS)],
            ).fetchone()
            assert tables and tables[0]
            conn.execute("SET session_replication_role = replica")  # past the append-only guards
            conn.execute(f"TRUNCATE {tables[0]} CASCADE")


@pytest.fixture
def empty(sharded: Cluster) -> Iterator[Client]:
    empty_shards(sharded)
    yield from app_client(sharded.proxy)


@pytest.mark.parametrize(
    "scenario", SCENARIOS, ids=lambda s: f"{s.__module__.split('.')[-1]}.{s.__name__}"
)
def test_one_node_scenarios_through_the_proxy(
    scenario: Callable[[Client], None], empty: Client
) -> None:
    scenario(empty)


def count_on(sharded: Cluster, query: str, params: Any = None) -> list[int]:
    return [int(sharded.on_shard(i, query, params)[0][0]) for i in range(len(sharded.shards))]


def test_ids_route_to_the_shard_that_holds_their_rows(sharded: Cluster, empty: Client) -> None:
    tasks = [empty.operations.enqueue_task(f"t{i}", "route") for i in range(40)]
    docs = [empty.documents.put_document(f"ns-{i}", "note", {"i": i}) for i in range(40)]
    accounts = [empty.game.create_account(f"p{i}@example.org") for i in range(20)]
    profiles = [empty.game.create_profile(a, "P") for a in accounts]
    sessions = [empty.game.start_game_session(p, "forest").id for p in profiles]
    with psycopg.connect(sharded.proxy) as conn:  # the shard the proxy routes each id to
        task_part = conn.execute(
            "SELECT array_agg(cdlstore_proxy.uuid_hash(u) & 1 ORDER BY o)"
            " FROM unnest(%s::uuid[]) WITH ORDINALITY x(u, o)",
            [tasks],
        ).fetchone()[0]  # fmt: skip
    for index in (0, 1):
        held = {
            r[0] for r in sharded.on_shard(index, "SELECT execution_id FROM ops.task_executions")
        }
        assert held == {t for t, p in zip(tasks, task_part, strict=True) if p == index} and held
        docs_held = {
            r[0] for r in sharded.on_shard(index, "SELECT document_uuid FROM docstore.documents")
        }
        assert docs_held and all(
            int(str(d)[-3:], 16) & 1 == index for d in docs_held
        )  # fmt: skip
        for table, ids in (
            ("accounts", accounts),
            ("user_profiles", profiles),
            ("game_sessions", sessions),
        ):
            rows = {r[0] for r in sharded.on_shard(index, f"SELECT id FROM game.{table}")}  # noqa: S608
            assert rows == {i for i in ids if i & 1 == index} and rows
    assert sum(count_on(sharded, "SELECT count(*) FROM docstore.documents")) == len(docs)
    for ref in docs:  # every id-addressed call finds its document
        assert empty.documents.get_document(ref.document_uuid).version == 1
    for session in sessions:
        assert empty.game.get_game_session(session).status == "active"


def test_a_listing_that_spans_both_shards_pages_every_row_once(
    sharded: Cluster, empty: Client, single: Client
) -> None:
    for client in (empty, single):
        for i in range(30):
            client.documents.put_document(f"ns-{i % 7}", "note", {"i": i}, session_id="spread")
            client.operations.record_event("step", entity_id=str(i))
    assert all(
        count_on(
            sharded, "SELECT count(*) FROM docstore.document_header WHERE session_id = 'spread'"
        )
    )
    for page_size in (1, 4, 7, 30, 100):
        seen = {
            name: [
                d.body["i"] for d in client.documents.get_by_session("spread", page_size=page_size)
            ]
            for name, client in (("proxy", empty), ("node", single))
        }
        assert seen["proxy"] == seen["node"] == list(range(29, -1, -1))
    for client in (empty, single):
        page, events = client.operations.list_events(event_type="step", page_size=4), []
        while True:
            events += [e.entity_id for e in page.items]
            if page.next_cursor is None:
                break
            page = client.operations.list_events(
                event_type="step", page_size=4, after=page.next_cursor
            )
        assert events == [str(i) for i in range(29, -1, -1)]
    with pytest.raises(errors.InvalidInput, match="invalid page cursor"):
        empty.documents.list_by_session("spread", after="bm90LWEtY3Vyc29y")
    with pytest.raises(errors.InvalidInput, match="invalid page cursor"):  # a shard's own cursor
        empty.documents.list_by_session(
            "spread", after=single.documents.list_by_session("spread", page_size=1).next_cursor
        )


def test_workers_claim_across_shards_every_task_once(sharded: Cluster, empty: Client) -> None:
    ids = {empty.operations.enqueue_task(f"t{i}", "spread-claim") for i in range(60)}
    assert all(count_on(sharded, "SELECT count(*) FROM ops.task_executions"))
    claimed: list[Any] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        for client in app_client(sharded.proxy):
            while batch := client.operations.claim_tasks(name, ["spread-claim"], 7):
                with lock:
                    claimed.extend(t.execution_id for t in batch)

    workers = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(map(str, claimed)) == sorted(map(str, ids))  # each once, none left behind
    assert empty.operations.claim_tasks("late", ["spread-claim"], 5) == []


def test_a_change_feed_through_the_proxy_loses_and_duplicates_nothing(
    sharded: Cluster, empty: Client
) -> None:
    docs = empty.documents
    written = {docs.put_document(f"feed-{i}", "note", {"i": i}).document_uuid for i in range(25)}
    assert all(count_on(sharded, "SELECT count(*) FROM docstore.change_event"))
    seen: list[Any] = []
    while batch := docs.read_changes("indexer", 4):
        assert docs.read_changes("indexer", 4)  # not acknowledged yet: still there
        seen += [e.document_uuid for e in batch]
        assert docs.ack_changes("indexer", batch[-1].id) is True
    assert sorted(map(str, seen)) == sorted(map(str, written))


def test_shard_identity_is_the_proxys_alone(sharded: Cluster) -> None:
    with psycopg.connect(sharded.shards[0], autocommit=True) as conn:
        conn.execute("SET SESSION AUTHORIZATION cdlstore_app")  # a login of the application
        conn.execute("SET cdlstore.tenant = 'default'")  # naming its tenant, as it must
        with pytest.raises(psycopg.Error) as caught:
            conn.execute("SELECT cdl.set_shard_identity(1, 2)")
        assert caught.value.sqlstate == "CD006"
    assert sharded.on_shard(0, "SELECT part, partitions FROM cdlstore_internal.shard_identity") == [
        (0, 2)
    ]


def test_a_new_document_with_a_uuid_that_routes_elsewhere_is_refused(
    sharded: Cluster, empty: Client
) -> None:
    with pytest.raises(errors.InvalidInput, match="does not route"):
        empty.documents.put_document(
            "ns", "note", {}, document_uuid="00000000-0000-4000-8000-000000000fff"
        )
    assert count_on(sharded, "SELECT count(*) FROM docstore.documents") == [0, 0]


def test_a_claim_passes_over_a_stopped_shard(sharded: Cluster, empty: Client) -> None:
    ids = [empty.operations.enqueue_task(f"t{i}", "stopped-claim") for i in range(30)]
    on_first = {r[0] for r in sharded.on_shard(0, "SELECT execution_id FROM ops.task_executions")}
    assert on_first and len(on_first) < len(ids)
    sharded.stop(1)
    try:
        claimed = empty.operations.claim_tasks("w", ["stopped-claim"], 100)
        assert {t.execution_id for t in claimed} == on_first  # the other shard's tasks wait
    finally:
        sharded.start(1)
    rest = empty.operations.claim_tasks("w", ["stopped-claim"], 100)
    assert {t.execution_id for t in rest} == set(ids) - on_first


def test_an_email_is_unique_across_the_shards(sharded: Cluster, empty: Client) -> None:
    for i in range(16):  # each email's shard checks it, whatever its case
        empty.game.create_account(f"same-{i}@example.org")
        with pytest.raises(errors.AlreadyExists):
            empty.game.create_account(f"SAME-{i}@example.org")
    assert all(count_on(sharded, "SELECT count(*) FROM game.accounts"))
    assert sum(count_on(sharded, "SELECT count(*) FROM game.accounts")) == 16
