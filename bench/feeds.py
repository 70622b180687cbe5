"""What the gap-free event feed costs the task queue (`python -m bench.feeds`). Numbers only.

Two databases of the current schema: in one, writers announce themselves to the feed as they do
in production (cdlstore_internal.feed_announce, a shared advisory lock per transaction) and
ops.events has its (xid, event_id) index; in the other both are removed. Each round appends
5,000 task events, one transaction each (as claim and complete do; synchronous_commit off, so
that the disk's flush does not drown the difference), on both databases in turn; the best of
three rounds is kept. A task writes three events (enqueued, claimed, completed). Then the
latency of one read_events call.
"""

from __future__ import annotations

import time

import psycopg

from cdlstore.dev import testdb

EVENTS = 5000
LOOP = (
    f"DO $$ BEGIN FOR i IN 1..{EVENTS} LOOP PERFORM ops._event('task_claimed', 'task', i::text,"
    " NULL, NULL, NULL, 'ops', '{}', 'info', false); COMMIT; END LOOP; END $$"
)


def per_event(dsn: str) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        started = time.perf_counter()
        conn.execute(LOOP)
        return (time.perf_counter() - started) / EVENTS * 1e6


def main() -> None:
    dbs = {"feed": "cdlstore_bench_feed_on", "no feed": "cdlstore_bench_feed_off"}
    dsns = {name: testdb.create_template(db) for name, db in dbs.items()}
    try:
        with psycopg.connect(dsns["no feed"], autocommit=True) as conn:
            conn.execute("DROP INDEX ops.events_feed_idx")
            conn.execute(
                "CREATE OR REPLACE FUNCTION cdlstore_internal.feed_announce() RETURNS void"
                " LANGUAGE sql AS 'SELECT'"
            )
        best = {name: per_event(dsns[name]) for name in dsns}
        for _ in range(2):
            for name in dsns:
                best[name] = min(best[name], per_event(dsns[name]))
        on, off = best["feed"], best["no feed"]
        print(f"one event transaction: {on:.0f} us with the feed, {off:.0f} us without")
        print(f"feed cost per task (3 events): {3 * (on - off):.0f} us")
        with psycopg.connect(dsns["feed"], autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute("SELECT ops.read_events('bench', 100)")
            print(f"read_events(100), first batch: {(time.perf_counter() - started) * 1e3:.1f} ms")
    finally:
        for db in dbs.values():
            testdb.drop(db)


if __name__ == "__main__":
    main()
