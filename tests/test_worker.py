"""cdlstore.Worker, the maintenance duties and the lease token, against real PostgreSQL.

Races are forced by holding a transaction open on one connection while the other runs; waits
are for a condition of the database (with a deadline), never a sleep that hopes for an order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import cdlstore
from cdlstore import Client, Worker, cli, errors
from cdlstore.models import Task
from cdlstore.worker import Maintenance, load_app

ROOT = Path(__file__).resolve().parents[1]


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


@pytest.fixture
def app(own_clone: str) -> Iterator[Client]:
    with cdlstore.connect(own_clone, role="cdlstore_app", max_size=12) as client:
        yield client


@pytest.fixture
def admin(own_clone: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(own_clone, autocommit=True) as conn:
        yield conn


def scalar(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params or None).fetchone()
    return None if row is None else row[0]


def statuses(conn: psycopg.Connection[Any], task_type: str) -> Counter[str]:
    rows = conn.execute(
        "SELECT status FROM ops.task_executions WHERE task_type = %s", [task_type]
    ).fetchall()
    return Counter(r[0] for r in rows)


def test_a_stale_lease_cannot_complete_the_reclaimed_task(
    app: Client, admin: psycopg.Connection[Any], own_clone: str
) -> None:
    """Worker A's lease lapses; B expires and re-claims the task in a transaction held open
    while A's completion waits for the row; after B commits, A is refused and nothing changes."""
    ops = app.operations
    task_id = ops.enqueue_task("raced", "race", timeout_seconds=1)
    [a] = ops.claim_tasks("worker-a", ["race"])
    with psycopg.connect(own_clone) as b:
        b.execute("SET ROLE cdlstore_app")
        b.execute("SELECT ops.expire_tasks(now() + interval '1 minute')")
        b.execute("RESET ROLE")  # the backoff is the test's to skip, as the owner
        b.execute(
            "UPDATE ops.task_executions SET available_at = now() WHERE execution_id = %s", [task_id]
        )
        b.execute("SET ROLE cdlstore_app")
        b_token = b.execute(
            "SELECT ops.claim_tasks('worker-b', '{race}') -> 0 ->> 'lease_token'"
        ).fetchone()
        assert b_token is not None and b_token[0] is not None
        outcome: list[BaseException | Task] = []

        def complete_as_a() -> None:
            try:
                outcome.append(ops.complete_task(task_id, a.lease_token, {"by": "a"}))
            except BaseException as exc:  # noqa: BLE001 - inspected below
                outcome.append(exc)

        thread = threading.Thread(target=complete_as_a)
        thread.start()
        wait_until(
            lambda: scalar(
                admin,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE %s",
                "%complete_task%",
            ),
            what="A's completion to wait for B's lock",
        )
        b.commit()
        thread.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], errors.Conflict), outcome
    row = admin.execute(
        "SELECT status, agent_id, output_data, retry_count FROM ops.task_executions "
        "WHERE execution_id = %s",
        [task_id],
    ).fetchone()
    assert row == ("running", "worker-b", None, 1)  # B's attempt, untouched
    done = ops.complete_task(task_id, b_token[0], {"by": "b"})
    assert (done.status, done.output_data) == ("completed", {"by": "b"})


def test_worker_runs_handlers_and_wakes_on_new_work(
    app: Client, admin: psycopg.Connection[Any]
) -> None:
    ops = app.operations
    worker = Worker(app, concurrency=2, poll_interval=60, maintenance=False)

    @worker.task("double")
    def double(task: Task) -> Any:
        return {"n": task.input_data["n"] * 2}

    @worker.task("broken")
    def broken(task: Task) -> Any:
        raise ValueError(f"no good: {task.input_data['n']}")

    @worker.task("opaque")
    def opaque(task: Task) -> Any:
        return object()

    runner = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    runner.start()
    try:
        # the poll interval is a minute: only the NOTIFY of the enqueue can wake the worker
        wait_until(
            lambda: scalar(
                admin, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
            )
        )
        ids = ops.enqueue_tasks(
            [
                {"task_name": f"d{n}", "task_type": "double", "input_data": {"n": n}}
                for n in range(5)
            ]
        )
        bad = ops.enqueue_task("b", "broken", {"n": 7}, max_retries=0)
        odd = ops.enqueue_task("o", "opaque", max_retries=0)
        wait_until(lambda: statuses(admin, "double") == {"completed": 5}, 15, "the doubles")
        wait_until(
            lambda: ops.get_task(bad).status == "failed" and ops.get_task(odd).status == "failed"
        )
    finally:
        worker.stop()
        runner.join(30)
    assert not runner.is_alive()
    assert [ops.get_task(i).output_data for i in ids] == [{"n": 2 * n} for n in range(5)]
    assert ops.get_task(bad).error == "ValueError: no good: 7"
    assert (ops.get_task(odd).error or "").startswith("result is not JSON")


def test_an_enqueue_batch_wakes_the_workers_once(app: Client, own_clone: str) -> None:
    with psycopg.connect(own_clone, autocommit=True) as listener:
        listener.execute("LISTEN cdlstore_tasks")
        app.operations.enqueue_tasks(
            [{"task_name": f"n{n}", "task_type": "wake"} for n in range(5)]
        )
        app.operations.enqueue_task("one more", "wake")
        notes = list(listener.notifies(timeout=0.5))
    assert [n.channel for n in notes] == ["cdlstore_tasks", "cdlstore_tasks"]  # two transactions


def test_heartbeats_keep_the_lease_and_a_time_limit_cancels(
    app: Client, admin: psycopg.Connection[Any]
) -> None:
    ops = app.operations
    worker = Worker(app, concurrency=2, poll_interval=0.2, maintenance=False)
    release = threading.Event()

    @worker.task("long")
    def long(task: Task) -> Any:
        release.wait(30)
        return "done"

    @worker.task("endless", time_limit=0.5)
    def endless(task: Task) -> Any:
        while True:
            time.sleep(0.01)

    long_id = ops.enqueue_task("l", "long", timeout_seconds=3)
    endless_id = ops.enqueue_task("e", "endless", max_retries=0)
    runner = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    runner.start()
    try:
        first = wait_until(lambda: ops.get_task(long_id).timeout_at, what="the claim")
        # the lease is 3 s long; the worker extends it (every second) while the handler runs
        wait_until(lambda: ops.get_task(long_id).timeout_at > first, 10, "a heartbeat")
        assert ops.expire_tasks() == 0 and ops.get_task(long_id).status == "running"
        wait_until(lambda: ops.get_task(endless_id).status == "failed", 10, "the time limit")
        assert ops.get_task(endless_id).error == "time limit of 0.5 s exceeded"
        release.set()
        wait_until(lambda: ops.get_task(long_id).status == "completed")
    finally:
        release.set()
        worker.stop()
        runner.join(30)
    assert not runner.is_alive()


SLOW_APP = """
import os, pathlib, time, cdlstore

client = cdlstore.connect(max_size=8)
worker = cdlstore.Worker(client, poll_interval=0.5, grace_period=20)
DIR = pathlib.Path(os.environ["WORKER_TEST_DIR"])

@worker.task("slow")
def slow(task):
    with open(DIR / "runs", "a") as runs:
        runs.write(f"{task.execution_id}\\n")
    while not (DIR / "go").exists():
        time.sleep(0.02)
    return {"n": task.input_data["n"]}
"""


def start_worker(dsn: str, folder: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, DATABASE_URL=dsn, CDLSTORE_ROLE="cdlstore_app")
    env["WORKER_TEST_DIR"] = str(folder)
    command = [sys.executable, "-m", "cdlstore.cli", "worker", "--app", "slowapp:worker"]
    return subprocess.Popen(
        [*command, "--concurrency", "2", "--log-level", "info"],
        cwd=folder,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_cli_worker_survives_sigterm_without_losing_or_repeating_a_task(
    app: Client, admin: psycopg.Connection[Any], own_clone: str, tmp_path: Path
) -> None:
    (tmp_path / "slowapp.py").write_text(SLOW_APP)
    runs = tmp_path / "runs"
    ops = app.operations
    ids = ops.enqueue_tasks(
        [{"task_name": f"s{n}", "task_type": "slow", "input_data": {"n": n}} for n in range(6)]
    )
    proc = start_worker(own_clone, tmp_path)
    try:
        # two handlers run, two more tasks are claimed ahead (prefetch), two wait in the queue
        wait_until(lambda: runs.exists() and len(runs.read_text().split()) == 2, 30, "two handlers")
        wait_until(lambda: statuses(admin, "slow") == {"running": 4, "pending": 2})
        proc.send_signal(signal.SIGTERM)
        # the claimed but not started are given back at once, the running ones finish
        wait_until(lambda: statuses(admin, "slow") == {"running": 2, "pending": 4}, 20, "release")
        (tmp_path / "go").write_text("")
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, stderr
    assert "2 completed, 0 failed, 2 released, 0 lost" in stderr
    rows = admin.execute(
        "SELECT retry_count, agent_id FROM ops.task_executions WHERE status = 'pending'"
    ).fetchall()
    assert rows == [(0, None)] * 4  # released: no attempt counted
    again = start_worker(own_clone, tmp_path)
    try:
        wait_until(lambda: statuses(admin, "slow") == {"completed": 6}, 30, "the rest")
        again.send_signal(signal.SIGTERM)
        again.communicate(timeout=30)
    finally:
        again.kill() if again.poll() is None else None
    assert again.returncode == 0
    assert Counter(runs.read_text().split()) == Counter(str(i) for i in ids)  # each ran once
    assert [ops.get_task(i).output_data for i in ids] == [{"n": n} for n in range(6)]


def overdue_work(
    app: Client, admin: psycopg.Connection[Any], user: str, due: str
) -> tuple[int, Any]:
    """An active workflow instance and a running task whose deadlines are ``now() + due``."""
    if not scalar(admin, "SELECT count(*) FROM cdl.characters"):
        app.characters.import_file(ROOT / "examples" / "characters" / "iris_marlow.json")
        app.workflows.import_file(
            "iris_marlow", ROOT / "examples" / "workflows" / "iris_marlow.yaml"
        )
    step = app.workflows.process_workflow_message(user, "iris_marlow", "I'd like a cocoa")
    assert step.action == "started" and step.instance_id is not None
    admin.execute(
        "UPDATE cdl.workflow_instances SET timeout_at = now() + %s::interval WHERE id = %s",
        [due, step.instance_id],
    )
    task_id = app.operations.enqueue_task(f"lease of {user}", "lapsing")
    app.operations.claim_tasks("gone-worker", ["lapsing"])
    admin.execute(
        "UPDATE ops.task_executions SET timeout_at = now() + %s::interval WHERE execution_id = %s",
        [due, task_id],
    )
    return step.instance_id, task_id


def ended(admin: psycopg.Connection[Any], instance_id: int, task_id: Any) -> bool:
    instance = scalar(
        admin, "SELECT status::text FROM cdl.workflow_instances WHERE id = %s", instance_id
    )
    task = admin.execute(
        "SELECT status, retry_count FROM ops.task_executions WHERE execution_id = %s", [task_id]
    ).fetchone()
    return instance == "timeout" and task == ("pending", 1)


def test_maintain_once_ends_overdue_instances_and_lapsed_leases(
    app: Client,
    admin: psycopg.Connection[Any],
    own_clone: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    instance_id, task_id = overdue_work(app, admin, "u1", "-1 second")
    monkeypatch.setenv("DATABASE_URL", own_clone)
    monkeypatch.setenv("CDLSTORE_ROLE", "cdlstore_app")
    assert cli.main(["maintain", "--once"]) == 0
    out = capsys.readouterr().out
    assert "workflow_timeouts: 1" in out and "task_leases: 1" in out and "retention: 0" in out
    assert ended(admin, instance_id, task_id)


def test_maintenance_ends_an_instance_at_its_deadline(
    app: Client, admin: psycopg.Connection[Any]
) -> None:
    instance_id, task_id = overdue_work(app, admin, "u2", "1.5 seconds")
    stop = threading.Event()
    duties = threading.Thread(target=Maintenance(app).run, args=(stop,))
    duties.start()
    try:
        wait_until(lambda: ended(admin, instance_id, task_id), 15, "the deadline")
    finally:
        stop.set()
        duties.join(10)
    late = scalar(
        admin,
        "SELECT extract(epoch FROM completed_at - timeout_at) FROM cdl.workflow_instances "
        "WHERE id = %s",
        instance_id,
    )
    assert 0 <= late < 1.0  # run at the deadline, not a fixed interval later


def test_worker_input_is_checked(app: Client) -> None:
    worker = Worker(app)
    with pytest.raises(errors.InvalidInput, match="no handler"):
        worker.run(["nothing"], install_signals=False)
    with pytest.raises(errors.InvalidInput):
        worker.task(" ")
    with pytest.raises(errors.InvalidInput, match="module:worker"):
        load_app("no_colon")
    with pytest.raises(errors.InvalidInput, match="cannot load"):
        load_app("no_such_module_here:worker")
    task_id = app.operations.enqueue_task("x", "checked")
    [task] = app.operations.claim_tasks("w", ["checked"])
    with pytest.raises(errors.InvalidInput):
        app.operations.heartbeat_task(task_id, task.lease_token, 0)
    with pytest.raises(errors.Conflict):
        app.operations.release_task(task_id, task.execution_id)  # not the token
    assert app.operations.release_task(task_id, task.lease_token).status == "pending"


def pg_cron_available(admin: psycopg.Connection[Any]) -> bool:
    return bool(
        scalar(admin, "SELECT current_setting('cron.database_name', true)")
        and scalar(admin, "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_cron'")
    )


def test_pg_cron_runs_the_duties_with_no_worker(
    app: Client, admin: psycopg.Connection[Any], own_clone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_cron schedules by the minute: this waits for the next minute to begin (at most ~60 s)."""
    if not pg_cron_available(admin):
        pytest.skip("pg_cron is not installed and preloaded on this server")
    instance_id, task_id = overdue_work(app, admin, "u3", "-1 second")
    monkeypatch.setenv("DATABASE_URL", own_clone)
    try:
        assert cli.main(["schedule", "--pg-cron"]) == 0
        wait_until(lambda: ended(admin, instance_id, task_id), 75, "pg_cron's run")
    finally:
        assert cli.main(["schedule", "--pg-cron", "--remove"]) == 0
