"""Crash tests on a cluster of their own: the postmaster is killed (SIGKILL) while a character
import, a workflow step and a document put are in flight; after the restart each one is fully
there or not there at all, and the data that was committed is intact."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import cdlstore
from cdlstore import migrations
from cdlstore.dev import localdb

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="kills a server: only with the project-local cluster",
)


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CDLSTORE_PGDATA", str(tmp_path / "pgdata"))
    monkeypatch.setenv("CDLSTORE_DB_PORT", str(40000 + os.getpid() % 20000))
    dsn = localdb.start()
    migrations.migrate(dsn)
    try:
        yield dsn
    finally:
        localdb.stop()


def kill_postmaster_and_restart() -> None:
    pid = int((localdb.data_dir() / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):  # wait until it is gone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    localdb.start()


def in_flight(dsn: str, statements: list[tuple[str, Any]], started: threading.Event) -> None:
    """Run the statements in one transaction and sleep before committing: the crash comes then."""
    try:
        with psycopg.connect(dsn) as conn:
            for query, params in statements:
                conn.execute(query, params)
            started.set()
            conn.execute("SELECT pg_sleep(30)")
    except psycopg.Error:
        pass  # the server went away under it, as intended


def big_character(name: str) -> dict[str, Any]:
    return {
        "identity": {"name": name},
        **{
            f"section_{i}": {f"field_{j}": f"value {i}.{j} " * 20 for j in range(50)}
            for i in range(20)
        },
    }


def test_a_crash_loses_exactly_the_uncommitted(cluster: str) -> None:
    examples = ROOT / "examples"
    with cdlstore.connect(cluster) as client:
        client.characters.import_character_from_json(big_character("Committed One"))
        client.characters.import_file(examples / "characters" / "iris_marlow.json")
        client.workflows.import_file("iris_marlow", examples / "workflows" / "iris_marlow.yaml")
        step = client.workflows.process_workflow_message("u1", "iris_marlow", "pour me a tea")
        ref = client.documents.put_document("ns", "config", {"v": 1})

    started = threading.Event()
    worker = threading.Thread(
        target=in_flight,
        args=(
            cluster,
            [
                (
                    "SELECT cdl.import_character_from_json(%s)",
                    [Jsonb(big_character("Half Imported"))],
                ),
                ("SELECT cdl.process_workflow_message('u1', 'iris_marlow', 'here you are')", None),
                (
                    "SELECT docstore.put_document('ns', 'config', %s, document_uuid => %s)",
                    [Jsonb({"v": 2}), ref.document_uuid],
                ),
            ],
            started,
        ),
    )
    worker.start()
    assert started.wait(60)
    kill_postmaster_and_restart()
    worker.join(timeout=60)

    with cdlstore.connect(cluster) as client:
        names = {c.normalized_name for c in client.characters.list_characters()}
        assert names == {"committed_one", "iris_marlow"}  # not half of "Half Imported"
        committed = client.characters.get_character_complete("committed_one")
        assert committed.cdl == big_character("Committed One")
        active = client.workflows.get_user_active_workflows("u1")
        assert [(a.instance_id, a.state) for a in active] == [(step.instance_id, "brewing")]
        assert client.documents.get_document(ref.document_uuid).version == 1
        with psycopg.connect(cluster) as conn:
            orphans = conn.execute("""
                SELECT (SELECT count(*) FROM cdl.character_field_values v
                        WHERE NOT EXISTS (SELECT FROM cdl.characters c
                                          WHERE c.id = v.character_id)),
                       (SELECT count(*) FROM cdl.characters c
                        WHERE NOT EXISTS (SELECT FROM cdl.character_documents d
                                          WHERE d.character_id = c.id)),
                       (SELECT count(*) FROM docstore.document_header),
                       (SELECT count(*) FROM docstore.change_event)
            """).fetchone()
        assert orphans == (0, 0, 1, 1)  # one version, one change event: nothing of the lost put
        # and the store works on after the crash
        assert (
            client.workflows.process_workflow_message("u1", "iris_marlow", "here you are").state
            == "served"
        )
