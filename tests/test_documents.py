"""client.documents against real PostgreSQL: versions, tags, listing, deletion, retention,
change capture, notifications, bad input and concurrency."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

import cdlstore
from cdlstore import Client, errors


def test_versions_and_optimistic_writes(client: Client) -> None:
    docs = client.documents
    ref = docs.put_document(
        "ns",
        "agent_config",
        {"model": "a"},
        name="cfg",
        metadata={"env": "prod"},
        created_by="alice",
        session_id="s1",
    )
    assert ref.version == 1
    assert (
        docs.put_document(
            "ns",
            "agent_config",
            {"model": "b"},
            document_uuid=ref.document_uuid,
            expected_version=1,
        ).version
        == 2
    )
    with pytest.raises(errors.Conflict, match="is at version 2, not 1"):
        docs.put_document(
            "ns",
            "agent_config",
            {"model": "c"},
            document_uuid=ref.document_uuid,
            expected_version=1,
        )
    assert docs.get_document(ref.document_uuid).body == {"model": "b"}
    assert docs.get_document(ref.document_uuid, 1).metadata == {"env": "prod"}
    with pytest.raises(errors.NotFound):
        docs.get_document(uuid.uuid4())


def test_tags_history_and_time_travel(client: Client) -> None:
    docs = client.documents
    ref = docs.put_document("ns", "agent_config", {"v": 1})
    docs.put_document("ns", "agent_config", {"v": 2}, document_uuid=ref.document_uuid)
    assert docs.set_tag(ref.document_uuid, 1, "production", actor="ops") is None
    assert docs.set_tag(ref.document_uuid, 2, "production", expected_version=1) == 1
    with pytest.raises(errors.Conflict):
        docs.set_tag(ref.document_uuid, 1, "production", expected_version=1)
    with pytest.raises(errors.NotFound):
        docs.set_tag(ref.document_uuid, 7, "staging")
    assert docs.get_document_by_tag(ref.document_uuid, "production").body == {"v": 2}
    assert [d.version for d in docs.get_tagged("ns", "agent_config", "production")] == [2]
    assert [e.operation for e in docs.tag_history(ref.document_uuid, "production")] == [
        "set",
        "move",
    ]
    assert (
        docs.get_document_by_tag_at(
            ref.document_uuid, "production", datetime(2000, 1, 1, tzinfo=UTC)
        )
        is None
    )
    docs.declare_tag("ns", "production", is_protected=True)
    with pytest.raises(errors.Forbidden, match="protected"):
        docs.remove_tag(ref.document_uuid, "production")
    assert docs.remove_tag(ref.document_uuid, "production", force=True) == 2


def test_session_listing_pages(client: Client) -> None:
    docs = client.documents
    refs = [
        docs.put_document("ns", "message" if i % 2 else "context", {"i": i}, session_id="sess")
        for i in range(5)
    ]
    listed = list(docs.get_by_session("sess", page_size=2))
    assert [d.body["i"] for d in listed] == [4, 3, 2, 1, 0]
    assert [d.document_uuid for d in listed] == [r.document_uuid for r in reversed(refs)]
    only = list(docs.get_by_session("sess", types=["message"], include_body=False, page_size=1))
    assert [d.type for d in only] == ["message", "message"] and only[0].body is None
    with pytest.raises(errors.InvalidInput, match="invalid page cursor"):
        docs.list_by_session("sess", after="bm90LWEtY3Vyc29y")
    with pytest.raises(errors.InvalidInput, match="page_size"):
        docs.list_by_session("sess", page_size=-1)


def test_list_delete_purge_prune(client: Client) -> None:
    docs = client.documents
    keep = docs.put_document("ns", "kb", {"t": "keep"}, metadata={"lang": "en"})
    gone = docs.put_document("ns", "kb", {"t": "gone"}, metadata={"lang": "en"})
    docs.put_document("ns", "kb", {"t": "fr"}, metadata={"lang": "fr"})
    assert {d.body["t"] for d in docs.list("ns", "kb", {"lang": "en"}, include_body=True)} == {
        "keep",
        "gone",
    }
    assert docs.delete_document(gone.document_uuid, actor="me", actor_type="agent") is True
    assert docs.delete_document(gone.document_uuid) is False
    history = docs.document_history(gone.document_uuid)
    assert (history.deleted_by, history.deleted_by_type) == ("me", "agent")
    assert [d.document_uuid for d in docs.list("ns", "kb", {"lang": "en"})] == [keep.document_uuid]
    with pytest.raises(errors.InvalidState):
        docs.put_document("ns", "kb", {}, document_uuid=gone.document_uuid)
    assert docs.purge_document(gone.document_uuid) is True
    for i in range(3):
        docs.put_document("ns", "kb", {"t": i}, document_uuid=keep.document_uuid)
    report = docs.prune_versions("ns", "kb", keep_last=2, older_than=timedelta(0))
    assert report.dry_run and report.count == 0  # written in this transaction: not older than now
    with pytest.raises(errors.InvalidInput):
        docs.prune_versions("ns", "kb", keep_last=0, older_than=timedelta(0))


def test_bad_input_raises_our_errors(client: Client) -> None:
    docs = client.documents
    with pytest.raises(errors.InvalidInput, match="metadata must be a JSON object"):
        docs.put_document("ns", "t", {}, metadata=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidInput, match="namespace"):
        docs.put_document("", "t", {})
    with pytest.raises(errors.NotFound):
        docs.get_document_by_tag(uuid.uuid4(), "production")
    with pytest.raises(errors.NotFound):
        docs.tag_history(uuid.uuid4(), "production")


def test_change_capture_misses_nothing(own_clone: str) -> None:
    with cdlstore.connect(own_clone) as client, psycopg.connect(own_clone) as other:
        docs = client.documents
        for i in range(3):
            docs.put_document("ns", "note", {"i": i})
        assert [e.operation for e in docs.changes("indexer")] == ["put"] * 3
        assert list(docs.changes("indexer")) == []  # acknowledged: nothing repeated
        # a transaction still open when a later one commits: the later event waits for it
        other.execute("SELECT docstore.put_document('ns', 'note', '{\"slow\": true}')")
        fast = docs.put_document("ns", "note", {"fast": True})
        assert docs.read_changes("indexer") == []
        other.commit()
        events = docs.read_changes("indexer")
        assert len(events) == 2 and events[1].document_uuid == fast.document_uuid
        assert docs.read_changes("indexer") == events  # not acknowledged: read again
        assert docs.ack_changes("indexer", events[-1].id) is True
        assert docs.ack_changes("indexer", events[0].id) is False  # never backwards


def test_listen_gets_notifications(own_clone: str) -> None:
    with cdlstore.connect(own_clone) as client:
        received: list[dict[str, Any]] = []
        ready = threading.Event()

        def listen() -> None:
            notes = client.documents.listen(timeout=5)
            ready.set()
            for note in notes:
                received.append(note)
                break

        thread = threading.Thread(target=listen)
        thread.start()
        ready.wait(5)
        for _ in range(20):  # the LISTEN may start a moment after the generator is made
            client.documents.put_document("ns", "note", {"hello": 1})
            thread.join(timeout=0.2)
            if received:
                break
        thread.join(timeout=10)
        assert received and received[0]["operation"] == "put"


def test_create_metadata_index(own_clone: str) -> None:
    with cdlstore.connect(own_clone) as client:
        ddl = client.documents.create_metadata_index("agent_config", "env")
        assert ddl.startswith("CREATE INDEX CONCURRENTLY")
    with psycopg.connect(own_clone) as conn:
        row = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexdef LIKE '%%(metadata ->> %%'"
        ).fetchone()
    assert row and "(metadata ->> 'env'::text)" in row[0] and "agent_config" in row[0]


def run_threads(count: int, work: Any) -> list[Any]:
    results: list[Any] = []
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        try:
            results.append(work())
        except errors.CdlstoreError as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_many_writers_on_one_document(own_clone: str) -> None:
    with cdlstore.connect(own_clone, min_size=8, max_size=8) as client:
        docs = client.documents
        ref = docs.put_document("ns", "counter", {"n": 0})
        versions = run_threads(
            8,
            lambda: [
                docs.put_document(
                    "ns", "counter", {"n": i}, document_uuid=ref.document_uuid
                ).version
                for i in range(10)
            ],
        )
        flat = sorted(v for vs in versions for v in vs)
        assert flat == list(range(2, 82))  # gap-free, none collide
        outcomes = run_threads(
            8,
            lambda: docs.put_document(
                "ns", "counter", {"cas": True}, document_uuid=ref.document_uuid, expected_version=81
            ),
        )
        won = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(won) == 1 and won[0].version == 82
        assert all(isinstance(o, errors.Conflict) for o in outcomes if o not in won)
        movers = run_threads(
            2, lambda: docs.set_tag(ref.document_uuid, 82, "live", expected_version=None)
        )
        assert sorted(map(str, movers)) == ["82", "None"]  # one sets it, the other finds it set
        docs.set_tag(ref.document_uuid, 1, "stable")
        cas = run_threads(
            2, lambda: docs.set_tag(ref.document_uuid, 82, "stable", expected_version=1)
        )
        assert sorted(type(c).__name__ for c in cas) == ["Conflict", "int"]


def test_tenants_are_confined(own_clone: str) -> None:
    with (
        cdlstore.connect(own_clone, tenant="acme") as acme,
        cdlstore.connect(own_clone, tenant="globex") as globex,
    ):
        ref = acme.documents.put_document("ns", "config", {"secret": 1}, session_id="s")
        acme.documents.set_tag(ref.document_uuid, 1, "production")
        page = acme.documents.list_by_session("s", page_size=1)
        with pytest.raises(errors.NotFound):
            globex.documents.get_document(ref.document_uuid)
        with pytest.raises(errors.NotFound):
            globex.documents.put_document(
                "ns", "config", {"secret": 2}, document_uuid=ref.document_uuid
            )
        with pytest.raises(errors.NotFound):
            globex.documents.set_tag(ref.document_uuid, 1, "production", force=True)
        assert globex.documents.list_by_session("s").items == []
        forged = (
            acme.documents.list_by_session("s", page_size=1, after=page.next_cursor)
            if page.next_cursor
            else page
        )
        assert globex.documents.list_by_session("s", after=forged.next_cursor or None).items == []
        assert list(globex.documents.changes("indexer")) == []
        assert [e.document_uuid for e in acme.documents.changes("indexer")][:1] == [
            ref.document_uuid
        ]
        assert acme.documents.get_document(ref.document_uuid).body == {"secret": 1}


def _other_database(dsn: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, dbname="postgres")


def test_a_transaction_that_writes_no_event_holds_the_feed_back_nowhere(own_clone: str) -> None:
    with (
        cdlstore.connect(own_clone) as client,
        psycopg.connect(own_clone) as same_db,
        psycopg.connect(_other_database(own_clone)) as other_db,
    ):
        for idle in (same_db, other_db):  # each holds an xid and stays open
            idle.execute("SELECT pg_current_xact_id()")
        refs = [client.documents.put_document("ns", "note", {"i": i}) for i in range(5)]
        events = client.documents.read_changes("indexer")
        assert [e.document_uuid for e in events] == [r.document_uuid for r in refs]


def test_a_late_writer_is_not_skipped_and_an_ack_ahead_is_refused(own_clone: str) -> None:
    with cdlstore.connect(own_clone) as client, psycopg.connect(own_clone) as slow:
        docs = client.documents
        # the slow transaction has its xid before the fast one, and writes its event later
        slow.execute("SELECT pg_current_xact_id()")
        fast = docs.put_document("ns", "note", {"fast": True})
        [event] = docs.read_changes("indexer")
        assert docs.ack_changes("indexer", event.id) is True
        slow.execute("SELECT docstore.put_document('ns', 'note', '{\"slow\": true}')")
        # an id taken from elsewhere (a NOTIFY) while the slow event is not committed yet
        later = docs.put_document("ns", "note", {"later": True})
        notified = slow.execute("SELECT max(id) FROM docstore.change_event").fetchone()
        assert notified is not None
        with pytest.raises(errors.InvalidInput, match="not been handed out"):
            docs.ack_changes("indexer", notified[0])
        slow.commit()
        rest = docs.read_changes("indexer")
        assert len(rest) == 2 and rest[1].document_uuid == later.document_uuid
        assert fast.document_uuid == event.document_uuid
        assert docs.ack_changes("indexer", rest[-1].id) is True
        assert docs.read_changes("indexer") == []
