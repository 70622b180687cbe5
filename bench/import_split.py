"""The workflow import and the keyset listings before and after issue 18 (validate/store split,
shared page helpers). Numbers only, never pass/fail.

    python -m bench.import_split        (BENCH_BASE=<git rev> to choose the "before" tree;
                                         default: the tree before the newest migration was added)

Two databases on the same server: one migrated with the SQL of the "before" tree (taken from git),
one with this checkout's. In each, the pgTAP fixtures' sample character and workflow file, then,
the calls of both databases taking turns, best of 5 rounds of N calls (BENCH_CALLS, default 200):
- the import of a changed file (its config alternates, so every workflow gets a new version);
- the import of the character's current file again (found by its hash, not validated again);
- the validation step alone (after only);
- list_documents, one page of 100 of 1,000 documents, and list_events, one page of 100.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import psycopg

from bench.common import timed_loops
from cdlstore import migrations
from cdlstore.dev import testdb

CALLS = int(os.environ.get("BENCH_CALLS", "200"))
SQL = "pybind/cdlstore/sql"


def base_rev() -> str:
    if os.environ.get("BENCH_BASE"):
        return os.environ["BENCH_BASE"]
    newest = sorted(
        p.name
        for p in (testdb.ROOT / SQL / "migrations").glob("*.sql")
        if not p.name.endswith(".rollback.sql")
    )[-1]
    added = subprocess.run(
        [
            "git",
            "-C",
            str(testdb.ROOT),
            "log",
            "--first-parent",
            "--diff-filter=A",
            "--format=%H",
            "-1",
            "--",
            f"{SQL}/migrations/{newest}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"{added}^" if added else "HEAD"


def database(name: str, sql_dir: Path | None) -> str:
    dsn = testdb.create_empty(name)
    if sql_dir:
        os.environ["CDLSTORE_SQL_DIR"] = str(sql_dir)
    try:
        migrations.migrate(dsn)
    finally:
        os.environ.pop("CDLSTORE_SQL_DIR", None)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for helper in sorted((testdb.ROOT / "db" / "tests" / "helpers").glob("*.sql")):
            conn.execute(helper.read_text())
        conn.execute("SELECT cdl.import_character_from_json(tests.sample_cdl())")
        conn.execute(
            "SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow())"
        )
        conn.execute(
            "SELECT docstore.put_document('bench', 'note', jsonb_build_object('n', n)) "
            "FROM generate_series(1, 1000) AS n"
        )
        conn.execute("SELECT ops.record_event('bench') FROM generate_series(1, 1000)")
    return dsn


def calls(conn: psycopg.Connection, split: bool) -> dict[str, object]:
    flip = [0]

    def changed() -> None:
        flip[0] ^= 1
        conn.execute(
            "SELECT cdl.import_workflow_from_yaml('ada_lovelace', "
            "tests.sample_workflow('\"max_pending_per_user\": 1', %s))",
            [f'"max_pending_per_user": {1 + flip[0]}'],
        )

    fns: dict[str, object] = {
        "import, changed file": changed,
        "import, unchanged file": lambda: conn.execute(
            "SELECT cdl.import_workflow_from_yaml('ada_lovelace', tests.sample_workflow())"
        ),
        "list_documents, page of 100": lambda: conn.execute(
            "SELECT docstore.list_documents('bench', 'note', page_size => 100)"
        ),
        "list_events, page of 100": lambda: conn.execute(
            "SELECT ops.list_events(page_size => 100)"
        ),
    }
    if split:
        fns["validation step alone"] = lambda: conn.execute(
            "SELECT cdl._validate_workflow_file(tests.sample_workflow())"
        )
    return fns


def main() -> None:
    rev = base_rev()
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(testdb.ROOT), "archive", "--format=tar", rev, SQL],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        before_dsn = database("cdlstore_bench_split_before", Path(tmp) / SQL)
    after_dsn = database("cdlstore_bench_split_after", None)
    try:
        with (
            psycopg.connect(before_dsn, autocommit=True) as b,
            psycopg.connect(after_dsn, autocommit=True) as a,
        ):
            old, new = calls(b, False), calls(a, True)
            fns = {}  # each call of the one database right after the same call of the other
            for k, f in new.items():
                if k in old:
                    fns[("before", k)] = old[k]
                fns[("after", k)] = f
            rates = timed_loops(fns, CALLS, rounds=5)  # type: ignore[arg-type]
            before = {k: r for (side, k), r in rates.items() if side == "before"}
            after = {k: r for (side, k), r in rates.items() if side == "after"}
    finally:
        testdb.drop("cdlstore_bench_split_before")
        testdb.drop("cdlstore_bench_split_after")
    print(f"before = {rev}, {CALLS} calls a round, best of 5 (calls/s, ms a call)")
    for name, rate in after.items():
        was = before.get(name)
        line = f"{name:32s} after {rate:8.0f}/s {1000 / rate:7.2f} ms"
        if was:
            line += f"   before {was:8.0f}/s {1000 / was:7.2f} ms   after/before {rate / was:.2f}x"
        print(line)


if __name__ == "__main__":
    main()
