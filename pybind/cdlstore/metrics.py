"""ops.metrics() for Prometheus, through prometheus_client (no hand-written exposition format).

``cdlstore metrics serve`` answers ``/metrics`` with 200 whatever the database does: while it
cannot be reached, ``cdlstore_up 0`` and the process metrics; ``/healthz`` answers on its own,
without the database. The pool checks each connection before a scrape uses it, so the first scrape
after a database restart gets a new connection instead of a dead one."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from .client import Client
    from .models import Metrics


class OpsCollector(Collector):
    """Reads ops.metrics() at every scrape; ``cdlstore_up`` says whether that worked.

    ``client`` is a client, or a function that makes one (called again after it failed)."""

    def __init__(self, client: Client | Callable[[], Client]) -> None:
        from .client import Client

        self._client: Client | None = client if isinstance(client, Client) else None
        self._connect: Callable[[], Client] | None = None if self._client else client  # type: ignore[assignment]
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def _metrics(self) -> Metrics | None:
        with self._lock:
            try:
                if self._client is None and self._connect is not None:
                    self._client = self._connect()
                assert self._client is not None
                result = self._client.operations.metrics()
            except Exception as exc:  # noqa: BLE001 - any failure is "down", never a 500
                self.last_error = " ".join(str(exc).split()) or type(exc).__name__
                print(f"cdlstore metrics: database unavailable: {self.last_error}", file=sys.stderr)
                return None
            self.last_error = None
            return result

    def collect(self) -> Iterator[Metric]:
        m = self._metrics()
        yield GaugeMetricFamily(
            "cdlstore_up", "1 when ops.metrics() answered this scrape", value=int(m is not None)
        )
        if m is not None:
            yield from self._ops(m)

    def _ops(self, m: Metrics) -> Iterator[Metric]:
        runs = GaugeMetricFamily(
            "cdlstore_workflow_runs", "Workflow runs by status", labels=["status"]
        )
        for status, n in m.workflows_by_status.items():
            runs.add_metric([status], n)
        yield runs
        tasks = GaugeMetricFamily("cdlstore_tasks", "Tasks by status", labels=["status"])
        for status, n in m.tasks_by_status.items():
            tasks.add_metric([status], n)
        yield tasks
        yield CounterMetricFamily(
            "cdlstore_task_retries", "Task retries", value=m.task_retries_total
        )
        yield CounterMetricFamily("cdlstore_events", "Events recorded", value=m.events_total)
        yield GaugeMetricFamily(
            "cdlstore_task_error_rate", "Failed / finished tasks", value=m.task_error_rate
        )
        yield GaugeMetricFamily("cdlstore_queue_depth", "Pending tasks", value=m.queue_depth)
        yield GaugeMetricFamily(
            "cdlstore_oldest_pending_task_age_seconds",
            "Age of the oldest pending task",
            value=m.oldest_pending_age_seconds,
        )
        times = GaugeMetricFamily(
            "cdlstore_task_execution_ms",
            "Task execution time percentiles over the last hour",
            labels=["quantile"],
        )
        for value, q in (
            (m.task_execution_ms.p50, "0.5"),
            (m.task_execution_ms.p90, "0.9"),
            (m.task_execution_ms.p99, "0.99"),
        ):
            if value is not None:
                times.add_metric([q], value)
        yield times


def registry_for(collector: OpsCollector) -> CollectorRegistry:
    """A registry of its own: the ops metrics and the process and platform metrics."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(collector)
    return registry


def make_server(host: str, port: int, collector: OpsCollector) -> ThreadingHTTPServer:
    """``/metrics`` (always 200) and ``/healthz`` (200 while the process serves)."""
    registry = registry_for(collector)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                try:
                    body, ctype = generate_latest(registry), CONTENT_TYPE_LATEST
                except Exception as exc:  # noqa: BLE001 - still no 500: say it in the text format
                    body = (
                        f"# scrape failed: {' '.join(str(exc).split())}\ncdlstore_up 0\n".encode()
                    )
                    ctype = CONTENT_TYPE_LATEST
                self._answer(200, body, ctype)
            elif path == "/healthz":
                self._answer(200, b"ok\n", "text/plain; charset=utf-8")
            else:
                self._answer(404, b"not found: try /metrics or /healthz\n", "text/plain")

        def _answer(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


def serve(host: str, port: int, dsn: str | None = None) -> None:
    """Serve until interrupted; the database may come and go meanwhile."""
    from .client import connect

    collector = OpsCollector(
        lambda: connect(dsn, min_size=0, max_size=2, statement_timeout=10, pool_timeout=5)
    )
    server = make_server(host, port, collector)
    print(f"serving ops metrics on http://{host}:{port}/metrics", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if collector._client is not None:
            collector._client.close()
