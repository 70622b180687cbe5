"""Agent operations benchmark (`make bench`). Numbers only, never pass/fail.
(A claim that finds nothing, when another worker took the task first, completes nothing.)

In one run against pgbench TPC-B on the same server: tasks claimed + completed per second with
2 workers, the whole enqueue -> claim -> complete cycle, the claim+complete rate at 16 workers
against 2, and export throughput (rows/s) with the peak memory of the exporting process for
1,000,000 events.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime

import psycopg

from bench.common import SECONDS, pgbench, pgbench_init
from cdlstore.dev import testdb

DB = "cdlstore_bench_ops"
CLAIM_COMPLETE = (
    "SELECT c ->> 'execution_id' AS id, c ->> 'lease_token' AS token "
    "FROM (SELECT ops.claim_tasks('w' || :client_id, '{work}', 1) -> 0 AS c) s \\gset\n"
    "SELECT ops.complete_task(:id::text::uuid, :token::text::uuid) WHERE :id::text <> '';\n"
)
BATCH_CLAIM_COMPLETE = (
    "SELECT jsonb_agg(jsonb_build_object('execution_id', t ->> 'execution_id', "
    "'lease_token', t ->> 'lease_token')) AS batch "
    "FROM jsonb_array_elements(ops.claim_tasks('w' || :client_id, '{work}', 10)) t \\gset\n"
    "SELECT ops.complete_tasks(:batch::text::jsonb) WHERE :batch::text <> '';\n"
)
BATCH_CYCLE = (
    "SELECT ops.enqueue_tasks(jsonb_agg(jsonb_build_object('task_name', 'cycle', "
    "'task_type', 'cycle'))) "
    "FROM generate_series(1, 10);\n"
    "SELECT jsonb_agg(jsonb_build_object('execution_id', t ->> 'execution_id', "
    "'lease_token', t ->> 'lease_token')) AS batch "
    "FROM jsonb_array_elements(ops.claim_tasks('c' || :client_id, '{cycle}', 10)) t \\gset\n"
    "SELECT ops.complete_tasks(:batch::text::jsonb) WHERE :batch::text <> '';\n"
)
CYCLE = (
    "SELECT ops.enqueue_task('cycle', 'cycle', '{\"n\": 1}');\n"
    "SELECT c ->> 'execution_id' AS id, c ->> 'lease_token' AS token "
    "FROM (SELECT ops.claim_tasks('c' || :client_id, '{cycle}', 1) -> 0 AS c) s \\gset\n"
    "SELECT ops.complete_task(:id::text::uuid, :token::text::uuid) WHERE :id::text <> '';\n"
)
EXPORT = """
import resource, sys, time
from datetime import date
import cdlstore
with cdlstore.connect(sys.argv[1]) as client:
    start = time.perf_counter()
    day = date.fromisoformat(sys.argv[2])
    path, rows = client.operations.export("events", day, "jsonl", sys.argv[3])
    elapsed = time.perf_counter() - start
print(rows, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def fill_queue(conn: psycopg.Connection, count: int) -> None:
    conn.execute(
        "INSERT INTO ops.task_executions (task_name, task_type) "
        "SELECT 'bench', 'work' FROM generate_series(1, %s)",
        [count],
    )
    conn.execute("VACUUM ANALYZE ops.task_executions")


def main() -> None:
    dsn = testdb.create_template(DB)
    print(f"benchmark database {DB}; {SECONDS} s per pgbench run", flush=True)
    results = []
    pgbench_init(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        tpcb = pgbench(dsn, "-c", "2", "-j", "2")
        fill_queue(conn, 400_000)
        two = pgbench(dsn, "-c", "2", "-j", "2", script=CLAIM_COMPLETE)
        results.append(
            (
                "claim + complete, 2 workers",
                f"{two['tps']:.0f} tasks/s",
                f"{two['tps'] / tpcb['tps']:.2f} x pgbench TPC-B ({tpcb['tps']:.0f} tps); goal 1.5",
            )
        )
        cycle = pgbench(dsn, "-c", "2", "-j", "2", script=CYCLE)
        results.append(
            (
                "enqueue -> claim -> complete, 2 clients",
                f"{cycle['tps']:.0f} cycles/s",
                f"{cycle['tps'] / tpcb['tps']:.2f} x TPC-B; goal 0.5",
            )
        )
        batch = pgbench(dsn, "-c", "2", "-j", "2", script=BATCH_CLAIM_COMPLETE)
        results.append(
            (
                "claim 10 + complete 10, 2 workers",
                f"{batch['tps'] * 10:.0f} tasks/s",
                f"{batch['tps'] * 10 / tpcb['tps']:.2f} x TPC-B; goal 1.5",
            )
        )
        bcycle = pgbench(dsn, "-c", "2", "-j", "2", script=BATCH_CYCLE)
        results.append(
            (
                "the same cycle in batches of 10",
                f"{bcycle['tps'] * 10:.0f} tasks/s",
                f"{bcycle['tps'] * 10 / tpcb['tps']:.2f} x TPC-B; goal 0.5",
            )
        )
        sixteen_batch = pgbench(dsn, "-c", "16", "-j", "2", script=BATCH_CLAIM_COMPLETE)
        results.append(
            (
                "claim 10 + complete 10, 16 workers",
                f"{sixteen_batch['tps'] * 10:.0f} tasks/s",
                f"{sixteen_batch['tps'] / batch['tps']:.2f} x the rate at 2 workers; goal 0.9",
            )
        )
        sixteen = pgbench(dsn, "-c", "16", "-j", "2", script=CLAIM_COMPLETE)
        results.append(
            (
                "claim + complete, 16 workers",
                f"{sixteen['tps']:.0f} tasks/s",
                f"{sixteen['tps'] / two['tps']:.2f} x the rate at 2 workers; goal 0.9",
            )
        )

        print("writing 1,000,000 events ...", flush=True)
        conn.execute("""
            INSERT INTO ops.events (event_type, entity_type, entity_id, source, payload)
            SELECT 'bench', 'task', i::text, 'bench', jsonb_build_object('i', i, 'text', 'hello')
            FROM generate_series(1, 1000000) AS i""")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            EXPORT,
            dsn,
            datetime.now(UTC).date().isoformat(),
            f"/tmp/{DB}-export",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows, elapsed, peak_kb = out.stdout.split()
    results.append(
        (
            "export 1,000,000+ events to JSONL",
            f"{int(rows) / float(elapsed):.0f} rows/s",
            f"peak memory of the exporting process {int(peak_kb) / 1024:.0f} MB",
        )
    )
    print()
    for what, value, against in results:
        print(f"{what:<44} {value:<16} {against}")
    testdb.drop(DB)


if __name__ == "__main__":
    started = time.time()
    main()
    print(json.dumps({"seconds": round(time.time() - started)}))
