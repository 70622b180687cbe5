"""``cdlstore.Worker``: runs task handlers and the periodic maintenance duties.

Python owns only the loop (DESIGN.md): claims, leases, retries and the duties themselves are SQL
functions. A worker claims in batches (``ops.claim_tasks``), runs each task's handler in a thread
of its own, completes or fails it with the claim's ``lease_token``, keeps the lease alive with
``ops.heartbeat_task`` while the handler runs, and wakes on ``NOTIFY cdlstore_tasks`` (sent once
per enqueue transaction) with a poll as fallback. On SIGTERM/SIGINT it stops claiming, gives back
(``ops.release_task``) what it claimed but did not start, lets running handlers finish within the
grace period, and returns.

Every worker also runs :data:`DUTIES` (``Maintenance``): each is one call of an SQL function that
is safe from any number of sessions at once (``FOR UPDATE SKIP LOCKED`` or an advisory lock).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from psycopg import sql

from .errors import CdlstoreError, Conflict, InvalidInput, translated
from .models import Task

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("cdlstore.worker")

WAKE_CHANNEL = "cdlstore_tasks"
Handler = Callable[[Task], Any]


@dataclass(frozen=True)
class Duty:
    """One periodic duty: an SQL call, how often it runs at the latest, its pg_cron schedule,
    and (optionally) the query of its next deadline, so that it runs then and not later."""

    name: str
    call: str
    every: float
    cron: str
    next_due: str | None = None


DUTIES: tuple[Duty, ...] = (
    Duty(
        "workflow_timeouts",
        "SELECT cdl.expire_workflow_timeouts()",
        60,
        "* * * * *",
        "SELECT cdl.next_workflow_timeout()",
    ),
    Duty(
        "task_leases",
        "SELECT ops.expire_tasks()",
        60,
        "* * * * *",
        "SELECT ops.next_task_timeout()",
    ),
    Duty("workflow_run_deadlines", "SELECT ops.expire_workflows()", 60, "* * * * *"),
    Duty("render_documents", "SELECT cdl.render_character_documents()", 30, "* * * * *"),
    Duty("analytics", "SELECT cdl.refresh_character_analytics()", 900, "*/15 * * * *"),
    Duty("retention", "SELECT docstore.apply_retention()", 3600, "7 * * * *"),
)


class Maintenance:
    """Runs :data:`DUTIES` on time. ``recheck`` is how often the next deadlines are looked up
    (a new instance may time out before the deadline known so far)."""

    def __init__(self, client: Client, duties: Sequence[Duty] = DUTIES, recheck: float = 2.0):
        self._client = client
        self._duties = tuple(duties)
        self._recheck = recheck

    def run_duty(self, duty: Duty) -> Any:
        return self._client._one(duty.call + " AS result")["result"]

    def run_once(self, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """One round of every duty; a duty that fails is logged and reported as its error.
        ``progress`` is called with each duty's name when it is done (the CLI's progress bar)."""
        results: dict[str, Any] = {}
        for duty in self._duties:
            try:
                results[duty.name] = self.run_duty(duty)
            except CdlstoreError as exc:
                log.error("maintenance duty %s failed: %s", duty.name, exc)
                results[duty.name] = f"error: {exc}"
            if progress is not None:
                progress(duty.name)
        return results

    def _deadline(self, duty: Duty) -> float | None:
        """Seconds from now to the duty's next deadline, when it has one."""
        if duty.next_due is None:
            return None
        due: datetime | None = self._client._one(duty.next_due + " AS due")["due"]
        return None if due is None else (due - datetime.now(UTC)).total_seconds()

    def run(self, stop: threading.Event) -> None:
        """Run the duties until ``stop`` is set: each at its deadline, else every ``every`` s."""
        next_run = {d.name: 0.0 for d in self._duties}
        last_run = {d.name: -1.0 for d in self._duties}
        while not stop.is_set():
            now = time.monotonic()
            for duty in self._duties:
                try:
                    left = self._deadline(duty)
                    if left is not None:  # at the deadline, but twice a second at most
                        due = max(now + left, last_run[duty.name] + 0.5)
                        next_run[duty.name] = min(next_run[duty.name], due)
                    if next_run[duty.name] <= now:
                        result = self.run_duty(duty)
                        log.debug("maintenance %s: %s", duty.name, result)
                        last_run[duty.name] = now
                        next_run[duty.name] = now + duty.every
                except CdlstoreError as exc:
                    log.error("maintenance duty %s failed: %s", duty.name, exc)
                    next_run[duty.name] = now + min(duty.every, 10.0)
            wait = min(next_run.values()) - time.monotonic()
            stop.wait(max(0.05, min(wait, self._recheck)))


class TaskCancelled(BaseException):
    """Raised inside a handler whose time limit passed or whose lease was lost."""


@dataclass
class _Held:
    """A task this worker holds a lease on."""

    task: Task
    next_beat: float
    started: float | None = None
    thread: threading.Thread | None = None
    cancelled: bool = False
    finished: bool = False


@dataclass
class _Registered:
    handler: Handler
    time_limit: float | None


@dataclass
class _Stats:
    counts: Counter[str] = field(default_factory=Counter)


def _cancel_thread(thread: threading.Thread) -> None:
    """Raise TaskCancelled in a handler thread (at its next Python bytecode)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(TaskCancelled)
        )


class Worker:
    """Runs registered handlers for task types::

    worker = cdlstore.Worker(client)

    @worker.task("embed")
    def embed(task):
        return {"vector": ...}       # JSON-able: completes the task; an exception fails it

    worker.run()                     # or: cdlstore worker --app module:worker
    """

    def __init__(
        self,
        client: Client,
        *,
        agent_id: str | None = None,
        concurrency: int = 4,
        prefetch: int | None = None,
        poll_interval: float = 5.0,
        grace_period: float = 30.0,
        maintenance: bool = True,
    ) -> None:
        self.client = client
        self.agent_id = agent_id or f"{socket.gethostname()}:{os.getpid()}"
        self.concurrency = concurrency
        self.prefetch = prefetch
        self.poll_interval = poll_interval
        self.grace_period = grace_period
        self.maintenance = maintenance
        self._handlers: dict[str, _Registered] = {}
        self._held: dict[UUID, _Held] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._ready: queue.Queue[Task | None] = queue.Queue()
        self._stats = _Stats()

    # registration
    def task(
        self, task_type: str, *, time_limit: float | None = None
    ) -> Callable[[Handler], Handler]:
        """Register ``handler(task)`` for a task type; past ``time_limit`` seconds it is
        cancelled and its task failed."""

        if not task_type.strip():
            raise InvalidInput("a task type must not be empty")

        def register(handler: Handler) -> Handler:
            self._handlers[task_type] = _Registered(handler, time_limit)
            return handler

        return register

    @property
    def task_types(self) -> list[str]:
        return list(self._handlers)

    # running
    def stop(self) -> None:
        """Stop claiming and shut down (what SIGTERM and SIGINT do)."""
        self._stop.set()
        self._wake.set()

    def run(self, types: Sequence[str] | None = None, *, install_signals: bool = True) -> None:
        """Claim and run tasks of ``types`` (default: every registered type) until :meth:`stop`
        or SIGTERM/SIGINT; then release what was not started and wait for the rest."""
        types = list(types or self.task_types)
        unknown = sorted(set(types) - set(self._handlers))
        if not types or unknown:
            raise InvalidInput(f"no handler registered for task types: {', '.join(unknown) or '-'}")
        if self.concurrency < 1:
            raise InvalidInput("concurrency must be at least 1")
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        pool = self.client._pool
        if pool is not None and pool.max_size < self.concurrency + 3:
            log.warning(
                "the client's pool has %d connections; %d handlers, the claim loop, the "
                "heartbeats and maintenance want %d",
                pool.max_size,
                self.concurrency,
                self.concurrency + 3,
            )
        self._stop.clear()
        helpers = [
            threading.Thread(target=self._handle_loop, name=f"cdlstore-handler-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        helpers.append(threading.Thread(target=self._listen, name="cdlstore-listen", daemon=True))
        helpers.append(threading.Thread(target=self._beat, name="cdlstore-heartbeat", daemon=True))
        if self.maintenance:
            duties = Maintenance(self.client)
            helpers.append(
                threading.Thread(
                    target=duties.run, args=(self._stop,), name="cdlstore-maint", daemon=True
                )
            )
        for thread in helpers:
            thread.start()
        log.info("worker %s: types %s, concurrency %d", self.agent_id, types, self.concurrency)
        try:
            self._claim_loop(types)
        finally:
            self._shutdown(helpers[: self.concurrency])
        log.info("worker %s stopped: %s", self.agent_id, self._summary())

    def _summary(self) -> str:
        c = self._stats.counts
        return ", ".join(f"{c[k]} {k}" for k in ("completed", "failed", "released", "lost"))

    def _claim_loop(self, types: list[str]) -> None:
        prefetch = self.concurrency if self.prefetch is None else self.prefetch
        last_summary = time.monotonic()
        while not self._stop.is_set():
            self._wake.clear()  # before claiming: a wake-up meanwhile is not lost
            space = self.concurrency + prefetch - len(self._held)
            claimed: list[Task] = []
            if space > 0:
                try:
                    claimed = self.client.operations.claim_tasks(self.agent_id, types, space)
                except CdlstoreError as exc:
                    log.error("claiming failed: %s", exc)
            for task in claimed:
                with self._lock:
                    beat = time.monotonic() + task.timeout_seconds / 3
                    self._held[task.execution_id] = _Held(task, beat)
                self._ready.put(task)
            if time.monotonic() - last_summary >= 60:
                log.info("worker %s: %s", self.agent_id, self._summary())
                last_summary = time.monotonic()
            if not claimed or len(claimed) < space:  # else: more may be waiting, claim again
                self._wake.wait(self.poll_interval)

    def _handle_loop(self) -> None:
        while True:
            task = self._ready.get()
            if task is None:
                return
            try:
                self._run_one(task)
            except TaskCancelled:  # delivered late, after the handler had returned
                pass
            except Exception:  # e.g. no pooled connection in time: keep the thread serving
                log.exception("task %s: its outcome may not be recorded", task.execution_id)

    def _run_one(self, task: Task) -> None:
        registered = self._handlers[task.task_type]
        with self._lock:
            held = self._held[task.execution_id]
            held.started, held.thread = time.monotonic(), threading.current_thread()
        outcome = "failed"
        try:
            outcome = self._outcome(task, held, registered.handler)
        except TaskCancelled:
            pass
        finally:
            with self._lock:
                held.finished = True
                self._held.pop(task.execution_id, None)
                self._stats.counts[outcome] += 1
            self._wake.set()
        log.debug("task %s (%s) %s", task.execution_id, task.task_type, outcome)

    def _outcome(self, task: Task, held: _Held, handler: Handler) -> str:
        """Run the handler, then complete or fail the task. Returns what became of it."""
        ops = self.client.operations
        token = task.lease_token
        assert token is not None
        try:
            try:
                result = handler(task)
            except TaskCancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - the handler's failure fails the task
                with self._lock:
                    held.finished = True
                if not held.cancelled:
                    ops.fail_task(task.execution_id, token, f"{type(exc).__name__}: {exc}"[:10000])
                return "failed"
            with self._lock:
                held.finished = True
            if held.cancelled:
                return "failed"
            try:
                ops.complete_task(task.execution_id, token, result)
            except TypeError as exc:  # the result is not JSON-able
                ops.fail_task(task.execution_id, token, f"result is not JSON: {exc}")
                return "failed"
            return "completed"
        except Conflict:
            log.warning("task %s: the lease was lost, its result dropped", task.execution_id)
        except CdlstoreError as exc:
            log.error("task %s: could not record its outcome: %s", task.execution_id, exc)
        return "lost"

    def _beat(self) -> None:
        """Heartbeats for held tasks, and the time limits of running handlers; after stop, as
        long as handlers run."""
        while True:
            if not self._stop.is_set():
                self._stop.wait(0.25)
            else:
                with self._lock:
                    if not any(h.started is not None for h in self._held.values()):
                        return
                time.sleep(0.25)
            now = time.monotonic()
            with self._lock:
                held = list(self._held.values())
            for h in held:
                limit = self._handlers[h.task.task_type].time_limit
                if h.cancelled or h.finished:
                    continue
                if h.started is not None and limit is not None and now - h.started > limit:
                    self._cancel(h, f"time limit of {limit:g} s exceeded", fail=True)
                elif now >= h.next_beat:
                    self._heartbeat(h, now)

    def _heartbeat(self, h: _Held, now: float) -> None:
        token = h.task.lease_token
        assert token is not None
        try:
            self.client.operations.heartbeat_task(
                h.task.execution_id, token, h.task.timeout_seconds
            )
            h.next_beat = now + h.task.timeout_seconds / 3
        except Conflict:
            self._cancel(h, "the lease was lost", fail=False)
        except CdlstoreError as exc:
            log.warning("heartbeat of task %s failed: %s", h.task.execution_id, exc)
            h.next_beat = now + 1

    def _cancel(self, h: _Held, reason: str, *, fail: bool) -> None:
        with self._lock:
            if h.cancelled or h.finished:
                return
            h.cancelled = True
        log.warning("task %s cancelled: %s", h.task.execution_id, reason)
        token = h.task.lease_token
        if fail and token is not None:
            try:
                self.client.operations.fail_task(h.task.execution_id, token, reason)
            except CdlstoreError as exc:
                log.warning("task %s: %s", h.task.execution_id, exc)
        with self._lock:
            if h.thread is not None and not h.finished:
                _cancel_thread(h.thread)

    def _listen(self) -> None:
        """Wake the claim loop on NOTIFY cdlstore_tasks; the poll interval covers any gap."""
        conninfo = self.client.conninfo
        if conninfo is None:
            return
        while not self._stop.is_set():
            try:
                with translated(), psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(WAKE_CHANNEL)))
                    self._wake.set()  # anything queued before LISTEN
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake.set()
            except CdlstoreError as exc:
                log.warning("listening for new tasks failed (polling meanwhile): %s", exc)
                self._stop.wait(self.poll_interval)

    def _shutdown(self, handlers: list[threading.Thread]) -> None:
        ops = self.client.operations
        while True:  # claimed, not started: back to the queue, for another worker at once
            try:
                task = self._ready.get_nowait()
            except queue.Empty:
                break
            if task is None:
                continue
            with self._lock:
                self._held.pop(task.execution_id, None)
            try:
                assert task.lease_token is not None
                ops.release_task(task.execution_id, task.lease_token)
                self._stats.counts["released"] += 1
            except CdlstoreError as exc:
                log.warning("task %s could not be released: %s", task.execution_id, exc)
        for _ in handlers:
            self._ready.put(None)
        deadline = time.monotonic() + self.grace_period
        for thread in handlers:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            late = [h for h in self._held.values() if not h.cancelled]
        for h in late:
            reason = f"the worker stopped; its grace period of {self.grace_period:g} s ended"
            self._cancel(h, reason, fail=True)


# the command line: cdlstore worker, maintain, schedule


def load_app(spec: str) -> Worker:
    """``module:attribute`` -> the Worker it names (the working directory is importable)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidInput(f"--app must be module:worker, got {spec!r}")
    sys.path.insert(0, os.getcwd())
    try:
        worker = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"cannot load {spec}: {exc}") from exc
    if not isinstance(worker, Worker):
        raise InvalidInput(f"{spec} is not a cdlstore.Worker")
    return worker


def _log_level(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _worker_command(args: argparse.Namespace) -> None:
    _log_level(args.log_level)
    worker = load_app(args.app)
    if args.concurrency is not None:
        worker.concurrency = args.concurrency
    worker.run(args.types or None)


def _maintain_command(args: argparse.Namespace) -> None:
    from .client import connect

    _log_level(args.log_level)
    with connect(min_size=1, max_size=2) as client:
        duties = Maintenance(client)
        if args.once:
            from .progress import progress_bar  # on stderr while stdout is a terminal

            bar = progress_bar(len(duties._duties), "duty", "maintenance")
            results = duties.run_once(lambda name: bar.update(1) if bar is not None else None)
            if bar is not None:
                bar.close()
            for name, result in results.items():
                print(f"{name}: {result}")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        duties.run(stop)


def _schedule_command(args: argparse.Namespace) -> None:
    from .dsn import default_dsn

    if not args.pg_cron:
        raise InvalidInput("say where to schedule the duties: --pg-cron")
    for line in schedule_pg_cron(default_dsn(), remove=args.remove):
        print(line)


def schedule_pg_cron(dsn: str, *, remove: bool = False) -> list[str]:
    """Register (or with ``remove``, unregister) :data:`DUTIES` with pg_cron's
    ``cron.schedule_in_database``, as jobs named ``cdlstore:<database>:<duty>``. pg_cron lives
    in one database of the server (``cron.database_name``); this connects there."""
    with translated(), psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_database(), current_setting('cron.database_name', true)"
        ).fetchone()
    assert row is not None
    database, cron_db = row
    if not cron_db:
        raise InvalidInput(
            "pg_cron is not loaded on this server",
            hint="install pg_cron (Debian: postgresql-NN-cron) and preload it",
        )
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["dbname"] = cron_db
    done = []
    with translated(), psycopg.connect(**params, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        prefix = f"cdlstore:{database}:"
        conn.execute(
            "SELECT cron.unschedule(jobid) FROM cron.job WHERE starts_with(jobname, %s)", [prefix]
        )
        if remove:
            return [f"unscheduled the cdlstore duties of {database}"]
        for duty in DUTIES:
            conn.execute(
                "SELECT cron.schedule_in_database(%s, %s, %s, %s)",
                [prefix + duty.name, duty.cron, duty.call, database],
            )
            done.append(f"scheduled {prefix}{duty.name} '{duty.cron}': {duty.call}")
    return done


def add_commands(add: Callable[[str, Callable[[argparse.Namespace], None], str], Any]) -> None:
    """The worker, maintain and schedule subcommands (cli.build_parser calls this)."""
    levels = ["debug", "info", "warning", "error"]
    p = add(
        "worker",
        _worker_command,
        "Run the handlers of a cdlstore.Worker (--app module:worker) and the maintenance "
        "duties; SIGTERM/SIGINT stop it gracefully.",
    )
    p.add_argument("--app", required=True, help="module:attribute naming a cdlstore.Worker")
    p.add_argument(
        "--types", nargs="+", metavar="TYPE", help="task types (default: all registered)"
    )
    p.add_argument("--concurrency", type=int, help="handlers running at once")
    p.add_argument("--log-level", default="info", choices=levels)
    p = add(
        "maintain",
        _maintain_command,
        "Run the maintenance duties (workflow timeouts, lapsed leases, rendering, analytics, "
        "retention): --once for one round (e.g. from cron), else until SIGTERM.",
    )
    p.add_argument("--once", action="store_true", help="one round, then exit")
    p.add_argument("--log-level", default="info", choices=levels)
    p = add(
        "schedule",
        _schedule_command,
        "Register the maintenance duties inside the database (--pg-cron: with pg_cron's "
        "cron.schedule_in_database), so that they run with no worker; --remove unregisters them.",
    )
    p.add_argument("--pg-cron", action="store_true", help="schedule them with pg_cron")
    p.add_argument("--remove", action="store_true", help="unregister them instead")
