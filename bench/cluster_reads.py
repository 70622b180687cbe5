"""What a cross-shard read costs through the PL/Proxy proxy with 2 shards: calls per second of a
key-routed write and read (one shard) and of a session listing merged across both shards, beside
the same listing on one shard called directly. Numbers only, never pass/fail; every node shares
this machine's cores, so only the ratios mean anything.

Runs on the local cluster of cdlstore.dev.cluster, in a database of its own
(``cdlstore_bench_reads``).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from cdlstore.dev import cluster

from .common import SECONDS

DBNAME = "cdlstore_bench_reads"


def rate(dsn: str, query: str, params: Any, seconds: float) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET ROLE cdlstore_app")
        n, stop = 0, time.monotonic() + seconds
        while time.monotonic() < stop:
            conn.execute(query, params(n) if callable(params) else params).fetchall()
            n += 1
    return n / seconds


def main() -> None:
    proxy = cluster.start(2, DBNAME, fresh=True)
    shard0 = cluster.shard_urls(DBNAME, 2)[0]
    put = "SELECT docstore.put_document(%s, 'note', '{\"x\": 1}', session_id => 'bench')"
    listing = "SELECT docstore.list_by_session('bench', page_size => 50)"
    seconds = max(SECONDS / 2, 1)
    figures = {
        "put_document (key: one shard), proxy": rate(
            proxy, put, lambda n: [f"ns-{n % 64}"], seconds
        ),
        "put_document, shard 0 directly": rate(shard0, put, lambda n: [f"ns-{n % 64}"], seconds),
        "list_by_session 50 rows (pages: 2 shards), proxy": rate(proxy, listing, None, seconds),
        "list_by_session 50 rows, shard 0 directly": rate(shard0, listing, None, seconds),
    }
    for what, per_second in figures.items():
        print(f"{what:55s} {per_second:8.1f}/s")


if __name__ == "__main__":
    main()
