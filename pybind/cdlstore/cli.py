"""The ``cdlstore`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import __version__, localdb, migrations
from .client import check_dsn, connect
from .errors import CdlstoreError


def _migrate(args: argparse.Namespace) -> None:
    dsn = localdb.default_dsn()
    check_dsn(dsn)
    applied = migrations.migrate(dsn)
    for mid in applied:
        print(f"applied {mid}")
    print(f"{len(applied)} migration(s) applied; function files re-applied")


def _rollback(args: argparse.Namespace) -> None:
    dsn = localdb.default_dsn()
    check_dsn(dsn)
    rolled = migrations.rollback(dsn, args.count)
    for mid in rolled:
        print(f"rolled back {mid}")
    if not rolled:
        print("nothing to roll back")


def _db_url(args: argparse.Namespace) -> None:
    print(localdb.default_dsn())


def _version(args: argparse.Namespace) -> None:
    print(f"cdlstore {__version__}")
    with connect(min_size=1, max_size=1) as client:
        print(f"schema {client.schema_version() or 'none'}")


def _db(args: argparse.Namespace) -> None:
    if args.action == "bindir":
        print(localdb.find_bindir())
    elif args.action == "status":
        print("running" if localdb.is_running() else "stopped")
    elif localdb.external_database():
        print("DATABASE_URL is set: using it, no local cluster is managed", file=sys.stderr)
    elif args.action == "start":
        localdb.start()
        print(f"local cluster running in {localdb.data_dir()}", file=sys.stderr)
    else:
        stopped = localdb.stop()
        print(
            "local cluster stopped" if stopped else "local cluster was not running",
            file=sys.stderr,
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdlstore",
        description="PostgreSQL storage for AI characters and agents. The database is "
        "DATABASE_URL when set, else the project-local cluster in .pgdata/.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], None], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        return p

    add(
        "migrate",
        _migrate,
        "Apply pending migrations from db/migrations, then re-apply every "
        "function file in db/functions and db/privileges.sql. Running it twice changes nothing.",
    )
    p = add(
        "rollback",
        _rollback,
        "Roll back the newest applied migration (or --count of them) using its .rollback.sql file.",
    )
    p.add_argument("--count", type=int, default=1, help="how many migrations (default 1)")
    add("db-url", _db_url, "Print the connection URL in use: DATABASE_URL, else the local cluster.")
    add("version", _version, "Print the package version and the database schema version.")
    p = add(
        "db",
        _db,
        "Manage the project-local cluster in .pgdata/ (ignored when DATABASE_URL "
        "is set): start (initdb on first use), stop, status, bindir (server binaries).",
    )
    p.add_argument("action", choices=["start", "stop", "status", "bindir"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CdlstoreError as exc:
        print(f"cdlstore: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
