"""What the gap-free event feed costs the task queue (`python -m bench.feeds`). Numbers only.

Two databases of the current schema: in one, writers announce themselves to the feed as they
do in production (cdlstore_internal.feed_announce, a shared advisory lock per transaction); in
the other the announcement is replaced by a no-op. pgbench runs the whole task cycle (enqueue,
claim, complete: three transactions, three events) on both, taking turns, best of three; the
difference is the cost per task. Then the cost of one read_events call with 2 clients writing.
"""

from __future__ import annotations

import psycopg
from tests import testdb

from bench.common import best_alternating

CYCLE = (
    "SELECT ops.enqueue_task('cycle', 'cycle');\n"
    "SELECT ops.claim_tasks('c' || :client_id, '{cycle}', 1) -> 0 ->> 'execution_id' AS id \\gset\n"
    "SELECT ops.complete_task(:id::text::uuid) WHERE :id::text <> '';\n"
)
READ = "SELECT ops.read_events('bench', 100);\n"


def main() -> None:
    with_feed = testdb.create_template("cdlstore_bench_feed_on")
    without = testdb.create_template("cdlstore_bench_feed_off")
    try:
        with psycopg.connect(without, autocommit=True) as conn:
            conn.execute(
                "CREATE OR REPLACE FUNCTION cdlstore_internal.feed_announce() RETURNS void"
                " LANGUAGE sql AS 'SELECT'"
            )
        best = best_alternating(
            {
                "announced": (with_feed, ["-c", "2", "-j", "2"], CYCLE),
                "not announced": (without, ["-c", "2", "-j", "2"], CYCLE),
            }
        )
        on, off = best["announced"]["tps"], best["not announced"]["tps"]
        print(f"task cycles/s, 2 clients: feed {on:,.0f}, without the announcement {off:,.0f}")
        print(f"cost per task (3 events): {(1 / on - 1 / off) * 2 * 1e6:,.0f} us of a client")
        read = best_alternating({"read": (with_feed, ["-c", "1"], READ)}, rounds=1)["read"]
        print(f"read_events(100) with a full batch waiting: {read['latency_ms']:.2f} ms")
    finally:
        testdb.drop("cdlstore_bench_feed_on")
        testdb.drop("cdlstore_bench_feed_off")


if __name__ == "__main__":
    main()
