"""What the task events (the audit trail of the queue) cost: the cdlstore claim + complete runs
of bench/peers.py on two databases, one with claim_tasks, complete_task and complete_tasks as
shipped and one with their event inserts taken out, taking turns (`python -m bench.task_events`).
Numbers only.
"""

from __future__ import annotations

import re
import statistics

import psycopg

import bench.common as common
from bench.peers import CDL, FILL, ROUNDS, SECONDS
from cdlstore import migrations
from cdlstore.dev import testdb

RUNS = ("claim 1 + complete", "claim 100 + complete")


def without_events() -> list[str]:
    """claim_tasks, complete_task and complete_tasks as shipped, less their event inserts."""
    src = (migrations.db_dir() / "functions" / "ops" / "30_tasks.sql").read_text()

    def function(name: str) -> str:
        found = re.search(rf"CREATE OR REPLACE FUNCTION ops\.{name}\(.*?\n\$\$;\n", src, re.S)
        assert found is not None
        return found.group(0)

    claim = re.sub(
        r"    \), logged AS \(\n        INSERT INTO ops.events.*?FROM taken x\n    \)\n",
        "    )\n",
        function("claim_tasks"),
        flags=re.S,
    )
    completes = [
        re.sub(
            r"    \), logged AS \(\n        INSERT INTO ops.events.*?FROM done d\n    \)\n",
            "    )\n",
            function(name),
            flags=re.S,
        )
        for name in ("complete_task", "complete_tasks")
    ]
    assert "ops.events" not in claim + "".join(completes)
    return [claim, *completes]


def main() -> None:
    common.SECONDS = int(SECONDS)
    dsns = {k: testdb.create_template(f"cdlstore_bench_events_{k}") for k in ("with", "without")}
    with psycopg.connect(dsns["without"], autocommit=True) as conn:
        for function in without_events():
            conn.execute(function)  # this package's own function text, less the event inserts
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(ROUNDS):
        for name, dsn in dsns.items():
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("DELETE FROM ops.task_executions")
                conn.execute(
                    "INSERT INTO ops.task_executions (task_name, task_type) "
                    "SELECT 'bench', 'work' FROM generate_series(1, %s)",
                    [FILL],
                )
                conn.execute("VACUUM ANALYZE")
            for what in RUNS:
                script, per_tx = CDL[what]
                tps = common.pgbench(dsn, "-c", "2", "-j", "2", script=script)["tps"]
                rates.setdefault((name, what), []).append(tps * per_tx)
    for what in RUNS:
        with_events = statistics.median(rates[("with", what)])
        without = statistics.median(rates[("without", what)])
        print(
            f"{what:<22} with events {with_events:>7.0f} tasks/s, without {without:>7.0f}: "
            f"the events cost {100 * (1 - with_events / without):.0f}%"
        )
    for name in dsns:
        testdb.drop(f"cdlstore_bench_events_{name}")


if __name__ == "__main__":
    main()
