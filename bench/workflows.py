"""Workflow engine benchmark (`make bench`). Numbers only, never pass/fail.

1. process_workflow_message calls/s for 1,000 users with 2 clients, against pgbench TPC-B
   (the default script) on the same server in the same run;
2. check_workflow_triggers p95 latency on one character with 32 and with 500 trigger patterns.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg
from tests import testdb

import cdlstore
from bench.common import SECONDS, pgbench, pgbench_init

DB = "cdlstore_bench_workflows"
BAR = {
    "workflows": {
        "order": {
            "triggers": {
                "patterns": ["pour me (a |an |some )?(\\w+)"],
                "keywords": ["tea", "grog"],
            },
            "states": {
                "waiting": {
                    "prompt_injection": "ordered {context.drink}",
                    "transitions": [
                        {
                            "to_state": "served",
                            "triggers": {"patterns": ["here you are"]},
                            "action": "complete_transaction",
                        }
                    ],
                },
                "served": {"final": True},
            },
            "initial_state": "waiting",
            "on_trigger": {
                "extract_context": {
                    "drink": {"from": "pattern_group", "group": 2, "default": "tea"}
                }
            },
        }
    },
    "config": {"default_timeout_seconds": 600},
}


def many_patterns(count: int) -> dict[str, Any]:
    """One workflow per 16 patterns, each pattern distinct; the last one is the one that hits."""
    workflows = {}
    for w in range(0, count, 16):
        patterns = [f"order number {i} (\\w+)" for i in range(w, min(w + 16, count))]
        workflows[f"w{w}"] = {
            "triggers": {"patterns": patterns},
            "states": {"done": {"final": True}},
            "initial_state": "done",
        }
    return {"workflows": workflows}


def p95_ms(conn: psycopg.Connection[Any], messages: list[str], rounds: int = 1000) -> float:
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        conn.execute(
            "SELECT cdl.check_workflow_triggers('patterns', %s, 'u')", [messages[i % len(messages)]]
        ).fetchone()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.quantiles(times, n=20)[18]


def main() -> None:
    dsn = testdb.create_template(DB)
    print(f"benchmark database {DB}; {SECONDS} s per pgbench run", flush=True)
    results = []
    with cdlstore.connect(dsn) as client:
        client.characters.import_json({"name": "bench_bar"})
        client.workflows.import_data("bench_bar", BAR)
        pgbench_init(dsn)
        tpcb = pgbench(dsn, "-c", "2", "-j", "2")
        script = (
            "\\set u random(1, 1000)\n\\set m random(1, 3)\n"
            "SELECT cdl.process_workflow_message('user' || :u, 'bench_bar', "
            "(ARRAY['pour me a grog', 'here you are', 'lovely weather'])[:m]);\n"
        )
        ours = pgbench(dsn, "-c", "2", "-j", "2", script=script)
        results.append(
            (
                "process_workflow_message, 1,000 users, 2 clients",
                f"{ours['tps']:.0f} msgs/s",
                f"{ours['tps'] / tpcb['tps']:.2f} x pgbench TPC-B "
                f"({tpcb['tps']:.0f} tps); goal 0.8",
            )
        )
        client.characters.import_json({"name": "patterns"})
        with psycopg.connect(dsn, autocommit=True) as conn:
            p95 = {}
            for count in (32, 500):
                client.workflows.import_data("patterns", many_patterns(count))
                for kind, message in (
                    ("no match", "nothing to see here"),
                    ("last pattern", f"order number {count - 1} please"),
                ):
                    p95_ms(conn, [message], 100)  # warm up
                    p95[count, kind] = p95_ms(conn, [message])
            for kind in ("no match", "last pattern"):
                results.append(
                    (
                        f"check_workflow_triggers p95, {kind}, 32 patterns",
                        f"{p95[32, kind]:.3f} ms",
                        "",
                    )
                )
                results.append(
                    (
                        f"check_workflow_triggers p95, {kind}, 500 patterns",
                        f"{p95[500, kind]:.3f} ms",
                        f"{p95[500, kind] / p95[32, kind]:.2f} x the time at 32; "
                        "goals under 1 ms and 2 x",
                    )
                )
    print()
    for what, value, against in results:
        print(f"{what:<50} {value:<14} {against}")
    testdb.drop(DB)


if __name__ == "__main__":
    main()
