"""Development databases: a migrated template, clones of it, schema dumps, plpgsql_check.

All of them live on the server of ``cdlstore.dsn.default_dsn()`` (``DATABASE_URL`` or the
local cluster), beside its database. Used by the Makefile (``python -m cdlstore.dev.testdb ...``),
by the pytest fixtures and by the benchmarks; it works in a checkout (db/schema.sql and
db/tests/helpers are read from there), not from an installed wheel.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cdlstore import migrations
from cdlstore.dev import localdb

ROOT = Path(__file__).resolve().parents[3]  # the checkout: pybind/cdlstore/dev/testdb.py
SCHEMA_FILE = ROOT / "db" / "schema.sql"
SCHEMAS = ("cdl", "docstore", "ops", "game", "cdlstore", "cdlstore_internal")


def dsn_for(dbname: str) -> str:
    return make_conninfo(localdb.default_dsn(), dbname=dbname)


_LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "dbname": "PGDATABASE",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
}


def libpq_env(dsn: str) -> dict[str, str]:
    """Environment variables that point libpq tools (psql, pg_prove, pgbench) at ``dsn``."""
    params = conninfo_to_dict(dsn)
    unknown = sorted(set(params) - set(_LIBPQ_ENV))
    if unknown:
        raise ValueError(f"cannot pass {', '.join(unknown)} to psql through the environment")
    return {_LIBPQ_ENV[k]: str(v) for k, v in params.items()}


def env_exports(dsn: str) -> str:
    """Shell ``export`` lines of :func:`libpq_env`."""
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in libpq_env(dsn).items())


def _admin() -> psycopg.Connection:
    return psycopg.connect(localdb.default_dsn(), autocommit=True)


def drop(name: str) -> None:
    with _admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def create_empty(name: str, template: str | None = None) -> str:
    drop(name)
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with _admin() as conn:
        conn.execute(query)
    return dsn_for(name)


def create_template(name: str) -> str:
    """A new database migrated from nothing."""
    dsn = create_empty(name)
    migrations.migrate(dsn)
    return dsn


def clone(template: str, name: str, pgtap: bool = False) -> str:
    dsn = create_empty(name, template)
    if pgtap:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgtap")
            for helper in sorted((ROOT / "db" / "tests" / "helpers").glob("*.sql")):
                conn.execute(helper.read_text())
    return dsn


def dump_schema(dsn: str) -> str:
    """``pg_dump --schema-only`` without yoyo's tables, comments-free and session-free."""
    out = subprocess.run(
        [
            str(localdb.find_bindir() / "pg_dump"),
            "--schema-only",
            "--no-tablespaces",
            "--exclude-table=public._yoyo_*",
            "--exclude-table=public.yoyo_lock",
            "--dbname",
            dsn,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    kept = [
        line.rstrip()
        for line in out.splitlines()
        if not re.match(r"(--|SET |SELECT pg_catalog\.set_config|\\(un)?restrict )", line)
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip() + "\n"


# plpgsql_check runs with every warning on (extra, other and performance). What it says and the
# project decides otherwise, each for a stated reason:
ACCEPTED_WARNINGS = (
    # every API function resolves its caller's tenant in its first DECLARE line (a catalog test
    # checks it): the variable is there for the call, not to be read
    ('never read variable "call_tenant"', ""),
    # volatility is the project's rule (docs/design.md): a function that raises is not IMMUTABLE
    ("routine is marked as %", ""),
    # RETURN QUERY EXECUTE sets the OUT columns, which the checker cannot see
    ("OUT variable % is maybe unmodified", "cannot to determine result of dynamic SQL"),
)


def plpgsql_check(template: str) -> list[str]:
    """Problems plpgsql_check finds in every plpgsql function of our schemas, every warning on."""
    dsn = clone(template, "cdlstore_test_lint")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            available = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'plpgsql_check'"
            ).fetchone()
            if not available:
                print(
                    "lint: plpgsql_check is not installed; plpgsql functions not checked",
                    file=sys.stderr,
                )
                return []
            conn.execute("CREATE EXTENSION plpgsql_check")
            rows = conn.execute(
                """
                SELECT p.oid::regprocedure::text AS fn, c.level, c.message, c.lineno,
                       coalesce(c.detail, '') AS detail
                FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
                CROSS JOIN LATERAL plpgsql_check_function_tb(
                    p.oid, fatal_errors => false, extra_warnings => true,
                    other_warnings => true, performance_warnings => true) c
                WHERE n.nspname = ANY(%s) AND p.prorettype <> 'trigger'::regtype
                  AND NOT EXISTS (SELECT FROM unnest(%s::text[], %s::text[]) AS a (message, detail)
                                  WHERE c.message LIKE a.message
                                    AND coalesce(c.detail, '') LIKE a.detail || '%%')
                """,
                [
                    list(SCHEMAS),
                    [m for m, _ in ACCEPTED_WARNINGS],
                    [d for _, d in ACCEPTED_WARNINGS],
                ],
            ).fetchall()
            count = conn.execute(
                """SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
                   WHERE n.nspname = ANY(%s)""",
                [list(SCHEMAS)],
            ).fetchone()
            print(f"lint: plpgsql_check over {count[0] if count else 0} functions", file=sys.stderr)
            return [
                f"{fn}:{lineno}: {level}: {message}" + (f" ({detail})" if detail else "")
                for fn, level, message, lineno, detail in rows
            ]
    finally:
        drop("cdlstore_test_lint")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m cdlstore.dev.testdb")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("template", help="migrate a new template database").add_argument("name")
    p = sub.add_parser("clone", help="clone a template, print its DSN")
    p.add_argument("template")
    p.add_argument("name")
    p.add_argument("--pgtap", action="store_true", help="add pgTAP and db/tests/helpers")
    p.add_argument("--env", action="store_true", help="print libpq export lines, not a DSN")
    sub.add_parser("plpgsql-check", help="plpgsql_check every function").add_argument("template")
    sub.add_parser("schema", help="write db/schema.sql from a freshly migrated database")
    args = parser.parse_args()
    try:
        if args.command == "template":
            create_template(args.name)
        elif args.command == "clone":
            dsn = clone(args.template, args.name, args.pgtap)
            print(env_exports(dsn) if args.env else dsn)
        elif args.command == "plpgsql-check":
            problems = plpgsql_check(args.template)
            print("\n".join(problems), file=sys.stderr)
            return 1 if problems else 0
        elif args.command == "schema":
            dsn = create_template("cdlstore_test_schema")
            SCHEMA_FILE.write_text(dump_schema(dsn))
            drop("cdlstore_test_schema")
            print(f"wrote {SCHEMA_FILE.relative_to(ROOT)}")
    except Exception as exc:  # one line for the make output, not a traceback
        print(f"testdb {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
