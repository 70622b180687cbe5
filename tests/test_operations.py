"""client.operations against real PostgreSQL: runs, the queue under concurrency, a killed worker,
events, conversations, exports and metrics."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry, generate_latest

import cdlstore
from cdlstore import Client, errors
from cdlstore.metrics import OpsCollector


def test_workflow_run_lifecycle(client: Client) -> None:
    ops = client.operations
    run_id = ops.create_workflow("nightly", "etl", total_steps=2, tags=["nightly"])
    assert ops.get_workflow(run_id).status == "pending"
    ops.start_workflow(run_id)
    run = ops.advance_workflow_step(run_id, {"rows": 3}, state_data={"cursor": 3})
    assert (run.completed_steps, run.checkpoints[0]["state_data"]) == (1, {"cursor": 3})
    assert ops.complete_workflow(run_id, {"ok": True}).status == "completed"
    with pytest.raises(errors.InvalidState):
        ops.fail_workflow(run_id, "too late")
    assert [r.workflow_id for r in ops.list_workflows(status="completed").items] == [run_id]
    late = ops.create_workflow("late", deadline=datetime.now(UTC) - timedelta(seconds=1))
    assert ops.expire_workflows() == 1 and ops.get_workflow(late).error == "deadline passed"
    with pytest.raises(errors.NotFound):
        ops.get_workflow("00000000-0000-0000-0000-000000000000")


def test_queue_retries_and_events(client: Client) -> None:
    ops = client.operations
    task_id = ops.enqueue_task("embed doc", "embed", {"doc": 1}, priority=5, max_retries=1)
    [task] = ops.claim_tasks("worker-1", ["embed"])
    assert task.execution_id == task_id and task.status == "running"
    assert task.lease_token is not None and ops.get_task(task_id).lease_token is None
    failed = ops.fail_task(task_id, task.lease_token, "model overloaded")
    assert (failed.status, failed.retry_count) == ("pending", 1)
    assert ops.claim_tasks("worker-1", ["embed"]) == []  # backing off
    assert ops.expire_tasks() == 0
    with pytest.raises(errors.Conflict):  # the lease ended with the failure
        ops.complete_task(task_id, task.lease_token)
    page = ops.list_events(entity_id=str(task_id), page_size=2)
    assert [e.event_type for e in page.items] == ["task_retry_scheduled", "task_claimed"]
    older = ops.list_events(entity_id=str(task_id), page_size=2, after=page.next_cursor)
    assert [e.event_type for e in older.items] == ["task_enqueued"] and older.next_cursor is None
    with pytest.raises(errors.InvalidInput):
        ops.claim_tasks("worker-1", [])
    with pytest.raises(errors.InvalidInput):
        ops.record_event("x", severity="loud")


def test_conversations_and_metrics(client: Client) -> None:
    ops = client.operations
    first = ops.append_message("chat-1", "user", "hello")
    ops.append_message("chat-1", "assistant", "hi", tool_calls=[{"name": "lookup"}])
    assert [m.content for m in ops.get_conversation("chat-1")] == ["hello", "hi"]
    assert ops.get_conversation("chat-1", before=first + 1)[0].message_id == first
    with pytest.raises(errors.InvalidInput, match="role"):
        ops.append_message("chat-1", "narrator", "x")
    ops.enqueue_task("t", "embed")
    registry = CollectorRegistry()
    registry.register(OpsCollector(client))
    text = generate_latest(registry).decode()
    assert 'cdlstore_tasks{status="pending"} 1.0' in text
    assert "cdlstore_queue_depth 1.0" in text


def test_exports_stream_and_replace_atomically(own_clone: str, tmp_path: Path) -> None:
    with cdlstore.connect(own_clone) as client:
        ops = client.operations
        for i in range(3):
            ops.record_event("note", payload={"i": i, "text": 'quote " and \\ backslash\nnewline'})
        day = datetime.now(UTC).date()
        path, rows = ops.export("events", day, "jsonl", tmp_path)
        lines = path.read_text().splitlines()
        assert rows == 3 and len(lines) == 3
        assert json.loads(lines[2])["payload"]["text"] == 'quote " and \\ backslash\nnewline'
        path, rows = ops.export("events", day, "csv", tmp_path)
        table = list(csv.DictReader(path.open()))
        assert rows == 3 and json.loads(table[0]["payload"])["i"] == 0
        ops.record_event("note")
        assert ops.export("events", day, "csv", tmp_path)[1] == 4  # re-run replaces the file
        assert sorted(p.name for p in (tmp_path / "events").iterdir()) == [
            f"events_{day}.csv",
            f"events_{day}.jsonl",
        ]
        # the list of exports is SQL's (ops.export_source): refused before a file is opened
        with pytest.raises(errors.InvalidInput, match="unknown export kind: secrets"):
            ops.export("secrets", day, "csv", tmp_path)
        with pytest.raises(errors.InvalidInput, match="unknown export format: xml"):
            ops.export("events", day, "xml", tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["events"]


def test_workers_claim_every_task_exactly_once(own_clone: str) -> None:
    with cdlstore.connect(own_clone, min_size=8, max_size=8) as client:
        ops = client.operations
        ids = {ops.enqueue_task(f"t{i}", "work", max_retries=5) for i in range(200)}
        done: list[Any] = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            while True:
                tasks = ops.claim_tasks(f"w{n}", ["work"], 3)
                if not tasks:
                    return
                for t in tasks:
                    if int(t.execution_id.hex, 16) % 7 == 0 and t.retry_count == 0:
                        ops.fail_task(t.execution_id, t.lease_token, "flaky")  # retried after 1 s
                    else:
                        ops.complete_task(t.execution_id, t.lease_token)
                        with lock:
                            done.append(t.execution_id)

        for _ in range(3):  # passes, so that backed-off retries come round
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            time.sleep(1.2)
        assert Counter(done) == Counter(ids)  # every task completed once, none lost
        metrics = ops.metrics()
        assert metrics.tasks_by_status == {"completed": 200}
        assert metrics.task_retries_total == sum(1 for i in ids if int(i.hex, 16) % 7 == 0)


WORKER = """
import sys, time, cdlstore
with cdlstore.connect(sys.argv[1]) as client:
    [task] = client.operations.claim_tasks("doomed-worker", ["work"])
    print(task.execution_id, flush=True)
    time.sleep(60)
"""


def test_a_killed_worker_times_out_and_the_task_is_retried(own_clone: str) -> None:
    with cdlstore.connect(own_clone) as client:
        ops = client.operations
        task_id = ops.enqueue_task("fragile", "work", timeout_seconds=1)
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, own_clone],
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == str(task_id)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert ops.get_task(task_id).status == "running"
        time.sleep(1.1)
        assert ops.expire_tasks() == 1
        task = ops.get_task(task_id)
        assert (task.status, task.retry_count, task.error) == ("pending", 1, "timed out")
    with psycopg.connect(own_clone) as conn:
        kinds = [
            r[0]
            for r in conn.execute(
                "SELECT event_type FROM ops.events WHERE entity_id = %s ORDER BY event_id",
                [str(task_id)],
            )
        ]
    assert kinds == ["task_enqueued", "task_claimed", "task_retry_scheduled"]


def test_batches_are_all_or_none(client: Client) -> None:
    ops = client.operations
    ids = ops.enqueue_tasks(
        [{"task_name": f"b{i}", "task_type": "batch", "priority": i} for i in range(3)]
    )
    assert len(ids) == 3
    with pytest.raises(errors.InvalidInput):
        ops.enqueue_tasks(
            [{"task_name": "ok", "task_type": "batch"}, {"task_name": "", "task_type": "batch"}]
        )
    claimed = ops.claim_tasks("w", ["batch"], 10)
    assert [t.task_name for t in claimed] == ["b2", "b1", "b0"]
    assert ops.complete_tasks([(t, {"n": t.priority}) for t in claimed]) == 3
    assert ops.get_task(ids[0]).output_data == {"n": 0}
    with pytest.raises(errors.Conflict):  # completed: the leases are spent
        ops.complete_tasks([(claimed[0], None)])


def test_the_event_feed_misses_no_task_event(own_clone: str) -> None:
    with (
        cdlstore.connect(own_clone) as client,
        psycopg.connect(own_clone) as slow,
        psycopg.connect(psycopg.conninfo.make_conninfo(own_clone, dbname="postgres")) as idle,
    ):
        ops = client.operations
        idle.execute("SELECT pg_current_xact_id()")  # an unrelated xid holds nothing back
        first = ops.enqueue_task("a", "embed", {})
        assert [e.entity_id for e in ops.events("tail")] == [str(first)]
        # a task enqueued in a transaction still open: later events wait for it, then both come
        slow.execute("SELECT ops.enqueue_task('b', 'embed')")
        [task] = ops.claim_tasks("worker-1", ["embed"])
        assert ops.read_events("tail") == []
        slow.commit()
        events = ops.read_events("tail")
        assert [e.event_type for e in events] == ["task_enqueued", "task_claimed"]
        assert events[1].entity_id == str(task.execution_id)
        ahead = ops.record_event("later")  # committed, but not handed out yet
        with pytest.raises(errors.InvalidInput):
            ops.ack_events("tail", ahead)
        with pytest.raises(errors.NotFound):
            ops.ack_events("tail", 10**12)
        assert ops.ack_events("tail", events[-1].event_id) is True
        assert ops.ack_events("tail", events[0].event_id) is False
        assert [e.event_id for e in ops.events("tail")] == [ahead]
