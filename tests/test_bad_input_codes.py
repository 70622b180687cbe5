"""Each bad input the review found reaching callers with PostgreSQL's own SQLSTATE now raises one
of our codes and writes nothing; and integrity errors do not escape concurrent calls."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import cdlstore
from cdlstore import Client, errors
from cdlstore.files import MAX_YAML_NODES, load_yaml

ROOT = Path(__file__).resolve().parents[1] / "examples"


def workflow(states: str, extract: str = "") -> str:
    return (
        '{"workflows": {"w": {"initial_state": "a", "triggers": {"keywords": ["go"]},'
        f' "on_trigger": {{"action": "none"{extract}}}, "states": {{{states}}}}}}}}}'
    )


FINAL = '"final": true'


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (workflow(f'"a": {{{FINAL}}}, "a": {{{FINAL}}}'), "each given once"),  # was 23505
        (workflow(f'"a": {{{FINAL}}}, "{"s" * 101}": {{{FINAL}}}'), "1 to 100"),  # was 22001
        (
            workflow(
                f'"a": {{{FINAL}}}',
                ', "extract_context": {"k": {"literal": 1}, "k": {"literal": 2}}',
            ),
            "each given once",  # was 23505
        ),
        (
            workflow(
                '"a": {"final": true, "timeout": {"duration_seconds": 3e9, "action": "none"}}'
            ),
            "at most 2147483647",  # was 22003
        ),
    ],
)
def test_bad_workflow_files_raise_invalid_input(
    client: Client, conn: psycopg.Connection[Any], document: str, message: str
) -> None:
    client.characters.import_character_from_json({"identity": {"name": "w"}})
    with pytest.raises(errors.InvalidInput, match=message):
        client._one("SELECT cdl.import_workflow_from_yaml('w', %(f)s::json) AS id", {"f": document})
    assert conn.execute("SELECT count(*) AS n FROM cdl.workflow_files").fetchone() == {"n": 0}


def test_values_that_reached_constraints_and_indexes(
    client: Client, conn: psycopg.Connection[Any]
) -> None:
    ops, docs, game = client.operations, client.documents, client.game
    with pytest.raises(errors.NotFound, match="workflow run"):  # was 23503
        ops.enqueue_task("t", "embed", {}, workflow_id="00000000-0000-0000-0000-000000000001")
    ref = docs.put_document("ns", "t", {})
    with pytest.raises(errors.InvalidInput, match="tag"):  # 101 characters: was 23514
        docs.set_tag(ref.document_uuid, 1, "t" * 101)
    account = game.create_account("a@example.com")
    profile = game.create_profile(account, "p")
    session = game.start_game_session(profile, "forest")
    with pytest.raises(errors.InvalidInput, match="compass axis"):  # was 23514
        game.record_scene_choice(session.id, session.version, "bridge", "cross", {"": 1})
    with pytest.raises(errors.InvalidInput, match="max_results"):  # was 2201W
        client.characters.search_characters("lighthouse", max_results=-1)
    with pytest.raises(errors.LimitExceeded, match="512 KiB"):  # a tsvector over 1 MB: 54000
        client.characters.import_character_from_json(
            {"identity": {"name": "Wordy"}, "notes": " ".join(f"w{i}" for i in range(200_000))}
        )
    assert conn.execute("SELECT count(*) AS n FROM ops.task_executions").fetchone() == {"n": 0}


def test_integers_out_of_range_raise_invalid_input(client: Client) -> None:
    with pytest.raises(errors.InvalidInput, match="priority"):
        client.operations.enqueue_task("t", "embed", {}, priority=2**31)
    with pytest.raises(errors.InvalidInput, match="priority"):
        client.operations.enqueue_task("t", "embed", {}, priority=-(2**70))
    with pytest.raises(errors.InvalidInput, match="out of range"):
        client.documents.read_changes("c", 2**40)


def test_execution_time_past_24_days_does_not_overflow(
    client: Client, conn: psycopg.Connection[Any]
) -> None:
    ops = client.operations
    for name in ("done", "failed", "expired"):
        ops.enqueue_task(name, "long", {}, max_retries=0)
    tasks = {t.task_name: t for t in ops.claim_tasks("w", ["long"], 3)}
    conn.execute(
        "UPDATE ops.task_executions SET started_at = now() - interval '30 days',"
        " timeout_at = now() - interval '1 day'"
    )
    done, failed = tasks["done"], tasks["failed"]
    assert (
        ops.complete_task(done.execution_id, done.lease_token).execution_time_ms > 2**31
    )  # was 22003
    assert ops.fail_task(failed.execution_id, failed.lease_token, "boom").execution_time_ms > 2**31
    assert ops.expire_tasks() == 1


def test_a_yaml_alias_bomb_is_refused_before_it_is_built() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    bomb = "\n".join(levels) + "\n"
    assert len(bomb) < 500  # 9 ** 9 values once expanded
    with pytest.raises(errors.InvalidInput, match="expands to over"):
        load_yaml(bomb)
    with pytest.raises(errors.InvalidInput, match="contains itself"):
        load_yaml("a: &a [*a]\n")
    sample = (ROOT / "workflows" / "iris_marlow.yaml").read_text()
    assert load_yaml(sample)["workflows"]  # a real file loads as before
    wide = "[" + ", ".join(["1"] * MAX_YAML_NODES) + "]"
    with pytest.raises(errors.InvalidInput):
        load_yaml(wide)


def test_racing_writers_never_see_integrity_errors(own_clone: str) -> None:
    """Each race forced by a transaction held open while the other call runs (was 23503)."""
    with cdlstore.connect(own_clone) as client, psycopg.connect(own_clone) as held:
        docs = client.documents
        # a put shares the body of a document being purged: the purge keeps the body
        doomed = docs.put_document("ns", "race", {"shared": 1})
        held.execute("SELECT docstore.put_document('ns', 'race', '{\"shared\": 1}')")
        assert race(held, lambda: docs.purge_document(doomed.document_uuid)) is True
        assert conn_count(held, "SELECT count(*) FROM docstore.document_body") == 1
        # a prune meets a tag being set on a version it would remove: it leaves that version
        ref = docs.put_document("ns", "race2", {"v": 1})
        for v in (2, 3):
            docs.put_document("ns", "race2", {"v": v}, document_uuid=ref.document_uuid)
        held.execute("SELECT docstore.set_tag(%s, 1, 'old')", (ref.document_uuid,))
        report = race(
            held,
            lambda: docs.prune_versions(
                "ns", "race2", keep_last=1, older_than=timedelta(0), dry_run=False
            ),
        )
        assert [v.version for v in report.versions] == [2]
        # a tag set on a version a prune is removing: NotFound
        ref3 = docs.put_document("ns", "race3", {"v": 1})
        docs.put_document("ns", "race3", {"v": 2}, document_uuid=ref3.document_uuid)
        held.execute("SELECT docstore.prune_versions('ns', 'race3', 1, '0', false)")
        with pytest.raises(errors.NotFound):
            race(held, lambda: docs.set_tag(ref3.document_uuid, 1, "old"))


def conn_count(conn: psycopg.Connection[Any], query: str) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def race(held: psycopg.Connection[Any], call: Any) -> Any:
    """Run call on a thread while held's transaction stays open; commit held once the call has
    finished or waits for one of held's locks (polled in the catalog, never slept on)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("ok", call()))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome.append(("error", exc))

    worker = threading.Thread(target=run)
    worker.start()
    pid = held.info.backend_pid
    with psycopg.connect(held.info.dsn, autocommit=True) as probe:
        while worker.is_alive():
            row = probe.execute(
                "SELECT EXISTS (SELECT FROM pg_stat_activity"
                " WHERE %s = ANY (pg_blocking_pids(pid)))",
                (pid,),
            ).fetchone()
            if row and row[0]:
                break
    held.commit()
    worker.join()
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value
