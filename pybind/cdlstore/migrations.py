"""Schema migrations (yoyo) plus the function files re-applied after every migrate.

The SQL ships inside the package (``cdlstore/sql/``, read with ``importlib.resources``):
``migrations/NNNN_topic.sql`` (with ``NNNN_topic.rollback.sql``) hold tables, enums, indexes
and views; they never change once released. ``functions/**/*.sql`` hold
``CREATE OR REPLACE FUNCTION`` files; after the migrations they are applied in sorted order,
followed by ``privileges.sql`` (ownership and grants), all in one transaction, on every
``migrate`` that leaves no migration pending -- also when none was pending (yoyo's own post-apply
steps run only when a migration is applied). yoyo is used through its public API only
(``get_backend``, ``read_migrations``, the backend's ``lock``/``to_apply``/``apply_migrations``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .errors import ConnectionFailed, MigrationError

MIGRATION_TABLE = "_yoyo_migration"


def db_dir() -> Path:
    """The SQL of this package; ``CDLSTORE_SQL_DIR`` replaces it (tests use a changed copy)."""
    return Path(os.environ.get("CDLSTORE_SQL_DIR") or str(resources.files("cdlstore") / "sql"))


def function_files() -> list[Path]:
    return sorted((db_dir() / "functions").rglob("*.sql"))


def yoyo_uri(dsn: str) -> str:
    """The DSN (a URL or ``key=value`` pairs) as the URI ``yoyo.get_backend`` takes: every
    libpq parameter travels as a query argument, which yoyo hands to ``psycopg.connect``."""
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except psycopg.ProgrammingError as exc:
        raise ConnectionFailed(f"invalid database URL: {_one_line(exc)}") from exc
    return f"postgresql+psycopg:///?{urlencode(params)}"


@contextmanager
def _backend(dsn: str) -> Iterator[Any]:
    from yoyo import get_backend

    try:
        backend = get_backend(yoyo_uri(dsn), migration_table=MIGRATION_TABLE)
    except psycopg.OperationalError as exc:
        raise ConnectionFailed(f"cannot connect to the database: {_one_line(exc)}") from exc
    try:
        yield backend
    finally:
        backend.connection.close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _read() -> Any:
    from yoyo import read_migrations

    return read_migrations(str(db_dir() / "migrations"))


def apply_functions(conn: psycopg.Connection[Any]) -> None:
    """Apply every function file, then the privileges file, in one transaction."""
    files = [*function_files(), db_dir() / "privileges.sql"]
    with conn.transaction():
        for path in files:
            try:
                conn.execute(path.read_text())  # trusted file of this package
            except psycopg.Error as exc:
                raise MigrationError(f"{path.relative_to(db_dir())}: {_one_line(exc)}") from exc


@dataclass(frozen=True)
class Plan:
    """What ``migrate`` finds and would do (``cdlstore migrate --status`` / ``--dry-run``)."""

    applied: list[str]  # migrations applied already, oldest first
    to_apply: list[str]  # what migrate (up to its target) would apply now
    left_pending: list[str]  # pending beyond the target
    function_files: list[str]  # re-applied after them; none while migrations stay pending
    unknown_applied: int = 0  # applied migrations this package does not have (a newer one's)


def _up_to(migrations: Any, target: str | None) -> Any:
    """The migrations up to and including ``target`` (all when None); unknown ids are refused."""
    if target is None:
        return migrations
    known = [m.id for m in _read()]
    if target not in known:
        raise MigrationError(f"unknown migration {target!r}; known: {', '.join(known)}")
    return type(migrations)([m for m in migrations if m.id <= target], migrations.post_apply)


def _has_migration_table(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [MIGRATION_TABLE]).fetchone()
    except psycopg.Error as exc:
        raise ConnectionFailed(f"cannot connect to the database: {_one_line(exc)}") from exc
    return bool(row and row[0])


def plan(dsn: str, target: str | None = None) -> Plan:
    """What :func:`migrate` would do, writing nothing (a database yoyo has never seen has no
    bookkeeping table: everything is pending, and no table is created to find that out)."""
    every = _read()
    unknown = 0
    if _has_migration_table(dsn):
        with _backend(dsn) as backend:
            pending = backend.to_apply(every)
            known = {m.hash for m in every}
            unknown = len(set(backend.get_applied_migration_hashes()) - known)
    else:
        pending = every
    pending_ids = [m.id for m in pending]
    selected = [m.id for m in _up_to(pending, target)]
    left = [mid for mid in pending_ids if mid not in selected]
    files = [*function_files(), db_dir() / "privileges.sql"]
    return Plan(
        applied=[m.id for m in every if m.id not in pending_ids],
        to_apply=selected,
        left_pending=left,
        function_files=[] if left else [str(f.relative_to(db_dir())) for f in files],
        unknown_applied=unknown,
    )


def migrate(dsn: str, target: str | None = None) -> list[str]:
    """Apply pending migrations (up to and including ``target`` when given), then -- also when
    none was pending -- every function file and the privileges, unless migrations stay pending.
    Each migration is a transaction: one that fails leaves the database at the step before.
    Returns the applied migration ids."""
    with _backend(dsn) as backend, backend.lock():
        pending = _up_to(backend.to_apply(_read()), target)
        try:
            backend.apply_migrations(pending)
        except psycopg.Error as exc:
            raise MigrationError(f"migration failed: {_one_line(exc)}") from exc
        if not backend.to_apply(_read()):  # the function files belong to the newest schema
            apply_functions(backend.connection)
        return [m.id for m in pending]


def rollback(dsn: str, count: int = 1) -> list[str]:
    """Roll back the last ``count`` applied migrations. Returns their ids."""
    with _backend(dsn) as backend, backend.lock():
        every = _read()
        applied = list(backend.to_rollback(every))[:count]
        try:
            backend.rollback_migrations(type(every)(applied, every.post_apply))
        except psycopg.Error as exc:
            raise MigrationError(f"rollback failed: {_one_line(exc)}") from exc
        return [m.id for m in applied]
