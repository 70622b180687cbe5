"""The cost of one definition for two clients: calls/s of one small API call through the sync
Client (the coroutine driven by run_sync), through the AsyncClient (one connection, awaited in
turn) and through bare psycopg running the same SQL, each the best of seven alternating rounds.
Then the two ways of writing one call in SQL, bare: ``SELECT f(...)`` and ``SELECT * FROM
f(...)``, the form ``_call`` sends (it tells a scalar from rows by the column name). Numbers only,
never pass/fail.

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
SQL = "SELECT * FROM cdl.schema_version()"  # what client.schema_version() sends
N = 2000
FORMS = {
    "schema_version": (
        "SELECT cdl.schema_version()",
        "SELECT * FROM cdl.schema_version()",
    ),
    "get_character_complete": (
        "SELECT cdl.get_character_complete(name => 'bench_forms')",
        "SELECT * FROM cdl.get_character_complete(name => 'bench_forms')",
    ),
}


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
        call_forms(dsn)
    finally:
        testdb.drop(DB)


def call_forms(dsn: str) -> None:
    with (
        cdlstore.connect(dsn, min_size=1, max_size=1) as client,
        psycopg.connect(dsn, autocommit=True) as bare,
    ):
        client.characters.import_character_from_json({"identity": {"name": "bench_forms"}})
        for name, (select, select_from) in FORMS.items():
            rates = timed_loops(
                {
                    "select": lambda q=select: bare.execute(q).fetchone(),
                    "from": lambda q=select_from: bare.execute(q).fetchone(),
                },
                N,
                rounds=7,
            )
            print(
                f"{name}: the FROM form {rates['from']:8.0f} calls/s = "
                f"{rates['from'] / rates['select']:.2f} x the select-list form "
                f"({rates['select']:.0f}/s)"
            )


if __name__ == "__main__":
    main()
