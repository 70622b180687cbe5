"""The cost of one definition for two clients: calls/s of one small API call through the sync
Client (the coroutine driven by run_sync), through the AsyncClient (one connection, awaited in
turn) and through bare psycopg running the same SQL, each the best of seven alternating rounds.
Numbers only, never pass/fail.

    python -m bench.clients      (after make db)
"""

from __future__ import annotations

import asyncio
import time

import psycopg

import cdlstore
from cdlstore.dev import testdb

from .common import timed_loops

DB = "cdlstore_bench_clients"
SQL = "SELECT cdl.schema_version() AS version"
N = 2000


async def async_rate(dsn: str, rounds: int = 7) -> float:
    best = 0.0
    async with await cdlstore.connect_async(dsn, min_size=1, max_size=1) as client:
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(N):
                await client.schema_version()
            best = max(best, N / (time.perf_counter() - start))
    return best


def main() -> None:
    dsn = testdb.create_template(DB)
    try:
        with (
            cdlstore.connect(dsn, min_size=1, max_size=1) as client,
            psycopg.connect(dsn, autocommit=True) as bare,
        ):
            rates = timed_loops(
                {
                    "sync": client.schema_version,
                    "bare": lambda: bare.execute(SQL).fetchone(),
                },
                N,
                rounds=7,
            )
        rates["async"] = asyncio.run(async_rate(dsn))
        for name in ("sync", "async"):
            print(
                f"{name:<5} client.schema_version(): {rates[name]:8.0f} calls/s = "
                f"{rates[name] / rates['bare']:.2f} x bare psycopg ({rates['bare']:.0f}/s)"
            )
    finally:
        testdb.drop(DB)


if __name__ == "__main__":
    main()
