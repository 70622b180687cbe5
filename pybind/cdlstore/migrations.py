"""Schema migrations (yoyo) plus the function files re-applied after every migrate.

The SQL ships inside the package (``cdlstore/sql/``, read with ``importlib.resources``):
``migrations/NNNN_topic.sql`` (with ``NNNN_topic.rollback.sql``) hold tables, enums, indexes
and views; they never change once released. ``functions/**/*.sql`` hold
``CREATE OR REPLACE FUNCTION`` files; after the migrations they are applied in sorted order,
followed by ``privileges.sql`` (ownership and grants), all in one transaction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .errors import ConnectionFailed, MigrationError

MIGRATION_TABLE = "_yoyo_migration"


def db_dir() -> Path:
    """The SQL of this package; ``CDLSTORE_SQL_DIR`` replaces it (tests use a changed copy)."""
    return Path(os.environ.get("CDLSTORE_SQL_DIR") or str(resources.files("cdlstore") / "sql"))


def function_files() -> list[Path]:
    return sorted((db_dir() / "functions").rglob("*.sql"))


@contextmanager
def _backend(dsn: str) -> Iterator[Any]:
    from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
    from yoyo.connections import DatabaseURI

    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConnectionFailed(f"invalid database URL: {exc}") from exc
    uri = DatabaseURI(
        "postgresql+psycopg",
        None,
        None,
        None,
        None,
        params.pop("dbname", None),
        {k: str(v) for k, v in params.items()},
    )
    try:
        backend = PostgresqlPsycopgBackend(uri, MIGRATION_TABLE)
        backend.init_database()
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


def migrate(dsn: str, target: str | None = None) -> list[str]:
    """Apply pending migrations (up to and including ``target`` when given), then the function
    files. Each migration is a transaction: one that fails leaves the database at the step before.
    Returns the applied migration ids."""
    with _backend(dsn) as backend, backend.lock():
        pending = backend.to_apply(_read())
        if target is not None:
            known = [m.id for m in _read()]
            if target not in known:
                raise MigrationError(f"unknown migration {target!r}; known: {', '.join(known)}")
            pending = pending.__class__([m for m in pending if m.id <= target])
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
        applied = list(backend.to_rollback(_read()))[:count]
        try:
            backend.rollback_migrations(_read().__class__(applied))
        except psycopg.Error as exc:
            raise MigrationError(f"rollback failed: {_one_line(exc)}") from exc
        return [m.id for m in applied]
