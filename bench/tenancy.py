"""What tenancy costs (`python -m bench.tenancy`). Numbers only, never pass/fail.

get_character_complete and process_workflow_message with 2 pgbench clients on two databases of the
current server: one migrated with the SQL of ``BENCH_BEFORE_REV`` (default 2eba2fd, the commit
before tenant-scoped RLS covered every schema), one with this checkout's, called there both by the
administrator and by a login bound to the tenant default. The runs take turns, best of three.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import cdlstore
from bench.characters import realistic_character
from bench.common import SECONDS, best_alternating
from bench.workflows import BAR
from cdlstore.dev import testdb

BEFORE_REV = os.environ.get("BENCH_BEFORE_REV", "2eba2fd")
ROOT = Path(__file__).resolve().parents[1]
LOGIN = "cdlstore_bench_bound"
GET = "SELECT cdl.get_character_complete('bench_target');\n"
PROCESS = (
    "\\set u random(1, 1000)\n\\set m random(1, 3)\n"
    "SELECT cdl.process_workflow_message('user' || :u, 'bench_bar', "
    "(ARRAY['pour me a grog', 'here you are', 'lovely weather'])[:m]);\n"
)


def migrated(name: str, sql_dir: str | None) -> str:
    previous = os.environ.pop("CDLSTORE_SQL_DIR", None)
    if sql_dir:
        os.environ["CDLSTORE_SQL_DIR"] = sql_dir
    try:
        dsn = testdb.create_template(name)
    finally:
        os.environ.pop("CDLSTORE_SQL_DIR", None)
        if previous:
            os.environ["CDLSTORE_SQL_DIR"] = previous
    with cdlstore.connect(dsn) as client:
        client.characters.import_character_from_json(realistic_character("Bench Target"))
        client.characters.import_character_from_json({"name": "bench_bar"})
        client.workflows.import_workflow_from_yaml("bench_bar", BAR)
    return dsn


def bound_login(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [LOGIN]).fetchone():
            conn.execute(f"CREATE ROLE {LOGIN} LOGIN IN ROLE cdlstore_app")
        conn.execute("SELECT cdlstore.bind_tenant(%s, 'default')", [LOGIN])
    params = conninfo_to_dict(dsn)
    params["user"] = LOGIN
    return make_conninfo(**params)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BEFORE_REV, "pybind/cdlstore/sql"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        before = migrated("cdlstore_bench_tenancy_before", f"{tmp}/pybind/cdlstore/sql")
    after = migrated("cdlstore_bench_tenancy_after", None)
    bound = bound_login(after)
    print(f"before: SQL of {BEFORE_REV}; {SECONDS} s per pgbench run, 2 clients", flush=True)
    two = ["-c", "2", "-j", "2"]
    for label, script in (("get_character_complete", GET), ("process_workflow_message", PROCESS)):
        best = best_alternating(
            {
                "before": (before, two, script),
                "after, administrator": (after, two, script),
                "after, bound login": (bound, two, script),
            }
        )
        base = best["before"]["tps"]
        for name, run in best.items():
            print(
                f"{label:26} {name:22} {run['tps']:8.0f} calls/s  "
                f"{run['latency_ms']:.3f} ms  {run['tps'] / base:.2f} x before",
                flush=True,
            )
    for name in ("cdlstore_bench_tenancy_before", "cdlstore_bench_tenancy_after"):
        testdb.drop(name)


if __name__ == "__main__":
    main()
