"""ops.metrics() for Prometheus, through prometheus_client (no hand-written exposition format)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .client import Client


class OpsCollector(Collector):
    """Reads ops.metrics() at every scrape."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def collect(self) -> Iterator[Metric]:
        m = self._client.operations.metrics()
        runs = GaugeMetricFamily(
            "cdlstore_workflow_runs", "Workflow runs by status", labels=["status"]
        )
        for status, n in m["workflows_by_status"].items():
            runs.add_metric([status], n)
        yield runs
        tasks = GaugeMetricFamily("cdlstore_tasks", "Tasks by status", labels=["status"])
        for status, n in m["tasks_by_status"].items():
            tasks.add_metric([status], n)
        yield tasks
        yield CounterMetricFamily(
            "cdlstore_task_retries", "Task retries", value=m["task_retries_total"]
        )
        yield CounterMetricFamily("cdlstore_events", "Events recorded", value=m["events_total"])
        yield GaugeMetricFamily(
            "cdlstore_task_error_rate", "Failed / finished tasks", value=float(m["task_error_rate"])
        )
        yield GaugeMetricFamily("cdlstore_queue_depth", "Pending tasks", value=m["queue_depth"])
        yield GaugeMetricFamily(
            "cdlstore_oldest_pending_task_age_seconds",
            "Age of the oldest pending task",
            value=float(m["oldest_pending_age_seconds"]),
        )
        times = GaugeMetricFamily(
            "cdlstore_task_execution_ms",
            "Task execution time percentiles over the last hour",
            labels=["quantile"],
        )
        for name, q in (("p50", "0.5"), ("p90", "0.9"), ("p99", "0.99")):
            if m["task_execution_ms"][name] is not None:
                times.add_metric([q], float(m["task_execution_ms"][name]))
        yield times
