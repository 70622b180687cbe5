"""The client: one method per SQL API function, over a psycopg pool or one connection."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from .characters import Characters
from .documents import Documents
from .errors import CdlstoreError, ConnectionFailed, translated
from .game import Game
from .localdb import default_dsn
from .operations import Operations
from .workflows import Workflows

Connection = psycopg.Connection[dict[str, Any]]

DEFAULT_STATEMENT_TIMEOUT = 30.0


class ConnectionSource(Protocol):
    def connection(self) -> AbstractContextManager[Connection]: ...


class SingleConnection:
    """Use one caller-owned connection, e.g. to run cdlstore calls inside your transaction."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        conn.row_factory = dict_row
        self._conn: Connection = conn

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        yield self._conn


class Client:
    """Typed access to the cdlstore SQL API. Build it with :func:`cdlstore.connect`."""

    def __init__(self, source: ConnectionSource, *, pool: ConnectionPool[Any] | None = None):
        self._source = source
        self._pool = pool

    @classmethod
    def from_connection(cls, conn: psycopg.Connection[Any]) -> Client:
        return cls(SingleConnection(conn))

    def _all(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one API call: one statement, so one transaction of its own on a pooled
        (autocommit) connection, or a savepoint inside the caller's transaction."""
        with translated(), self._source.connection() as conn:
            if conn.autocommit:
                return conn.execute(query, params).fetchall()
            with conn.transaction():
                return conn.execute(query, params).fetchall()

    def _one(self, query: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Like :meth:`_all`, for calls that return exactly one row."""
        rows = self._all(query, params)
        if len(rows) != 1:
            raise CdlstoreError(f"expected one row, got {len(rows)}")
        return rows[0]

    def _call(self, function: str, params: dict[str, Any]) -> Any:
        """``SELECT schema.function(name => value, ...)``: one API call with named arguments."""
        schema, name = function.split(".")
        query = sql.SQL("SELECT {}({}) AS result").format(
            sql.Identifier(schema, name),
            sql.SQL(", ").join(
                sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in params
            ),
        )
        return self._one(query.as_string(), params)["result"]

    def listen(self, channel: str, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """The JSON payloads NOTIFY sends on a channel, on a connection of its own. Stops after
        ``timeout`` seconds without one, when given."""
        if self.conninfo is None:
            raise CdlstoreError("listening needs a client made by cdlstore.connect (a DSN)")
        with translated(), psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            for note in conn.notifies(timeout=timeout):
                yield json.loads(note.payload)

    @cached_property
    def characters(self) -> Characters:
        """Characters (CDL): import, load, change, version, search."""
        return Characters(self)

    @cached_property
    def documents(self) -> Documents:
        """The versioned document store: put, get, tags, listing, changes."""
        return Documents(self)

    @property
    def conninfo(self) -> str | None:
        """The DSN of the pool, when the client has one."""
        if self._pool is None or not isinstance(self._pool.conninfo, str):
            return None
        return self._pool.conninfo

    @cached_property
    def game(self) -> Game:
        """Game data: accounts, profiles, sessions, scores, document import and comparison."""
        return Game(self)

    @cached_property
    def operations(self) -> Operations:
        """Agent operations: workflow runs, the task queue, events, conversations, metrics."""
        return Operations(self)

    @cached_property
    def workflows(self) -> Workflows:
        """Character workflows: import files, process messages, instances, timeouts."""
        return Workflows(self)

    def schema_version(self) -> str | None:
        """The id of the newest applied migration, e.g. ``0002_cdl_enums``."""
        version: str | None = self._one("SELECT cdl.schema_version() AS version")["version"]
        return version

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _redact(dsn: str) -> str:
    """The DSN without its password, for error messages."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    params.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **params)


def _session_setup(
    role: str | None,
    actor: str | None,
    tenant: str | None = None,
    statement_timeout: float | None = None,
) -> Callable[[psycopg.Connection[Any]], None]:
    """What every pooled connection runs first: the role to act as, the actor of change logs,
    the tenant it names (cdlstore.tenant), the statement timeout."""
    timeout = None if statement_timeout is None else f"{max(1, round(statement_timeout * 1000))}ms"

    def configure(conn: psycopg.Connection[Any]) -> None:
        if role:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        for setting, value in (
            ("cdlstore.actor", actor),
            ("cdlstore.tenant", tenant),
            ("statement_timeout", timeout),
        ):
            if value:
                conn.execute("SELECT set_config(%s, %s, false)", [setting, value])

    return configure


def check_dsn(dsn: str, timeout: int = 5, role: str | None = None) -> None:
    """Fail fast with one clear line when the DSN is malformed, the server unreachable or the
    role not ours to use."""
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConnectionFailed(f"invalid database URL: {' '.join(str(exc).split())}") from exc
    try:
        with psycopg.connect(dsn, connect_timeout=timeout, autocommit=True) as conn:
            _session_setup(role, None)(conn)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        raise ConnectionFailed(f"cannot connect to {_redact(dsn)}: {reason}") from exc


def connect(
    dsn: str | None = None,
    *,
    min_size: int = 1,
    max_size: int = 10,
    role: str | None = None,
    actor: str | None = None,
    tenant: str | None = None,
    statement_timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,
) -> Client:
    """A :class:`Client` over a connection pool.

    ``dsn`` defaults to ``DATABASE_URL``, then to the local development cluster. ``role``
    (default ``CDLSTORE_ROLE``), e.g. ``cdlstore_app``, is the role every connection acts as
    (``SET ROLE``), so that the client can do what the API allows and nothing else. It is not a
    security boundary: over a more privileged login any code on the connection can ``RESET
    ROLE``, and tenancy follows the login (``session_user``), not the role -- a superuser login
    stays an administrator. To confine an application, give it a login of its own that is a
    member of ``cdlstore_app`` and bind it to its tenant (``cdlstore.bind_tenant``; README).
    ``actor`` is recorded as the author of character changes; ``tenant`` sets
    ``cdlstore.tenant``, the tenant an unbound login acts as (required for an application login
    that is not bound: every call raises :class:`~cdlstore.errors.NoTenant` without it; a bound
    login naming another tenant gets :class:`~cdlstore.errors.TenantMismatch`; an administrator
    naming none acts as the tenant ``default``; see docs/reliability.md).
    ``statement_timeout`` (seconds; None for the server's own setting) bounds every call, so
    that no input -- a pathological trigger pattern, a huge document -- can keep a server
    process busy for longer: a call past it raises
    :class:`~cdlstore.errors.LimitExceeded` (SQLSTATE 57014) and writes nothing. Exports are not
    bounded by it.
    """
    dsn = dsn or default_dsn()
    role = role or os.environ.get("CDLSTORE_ROLE") or None
    check_dsn(dsn, role=role)
    pool: ConnectionPool[Any] = ConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        configure=_session_setup(role, actor, tenant, statement_timeout),
        open=True,
    )
    return Client(pool, pool=pool)
