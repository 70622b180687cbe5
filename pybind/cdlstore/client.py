"""The client: one method per SQL API function, over a psycopg pool or one connection."""

from __future__ import annotations

import os
import select
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from functools import cached_property
from typing import Any, Generic, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from . import api  # noqa: F401 - puts the deprecated names of the previous release in place
from .characters import Characters
from .documents import Documents
from .domain import (
    Async,
    AsyncExecutor,
    AsyncSource,
    Domain,
    Executor,
    M,
    Sync,
    SyncExecutor,
    iterate_sync,
    method,
    run_sync,
)
from .dsn import data_dir, default_dsn, external_database, port
from .errors import ConnectionFailed
from .game import Game
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


class SingleAsyncConnection:
    """Use one caller-owned async connection (inside your transaction)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        conn.row_factory = dict_row
        self._conn: psycopg.AsyncConnection[dict[str, Any]] = conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
        yield self._conn


class Meta(Domain[M]):
    """Calls that belong to no store."""

    @method
    async def schema_version(self) -> str | None:
        """The id of the newest applied migration, e.g. ``0002_cdl_enums``."""
        version: str | None = await self._call("cdl.schema_version")
        return version


class _Domains(Generic[M]):
    """The domain objects of a client: the same classes for Client and AsyncClient."""

    _executor: Executor

    @cached_property
    def characters(self) -> Characters[M]:
        """Characters (CDL): import, load, change, version, search."""
        return Characters(self._executor)

    @cached_property
    def documents(self) -> Documents[M]:
        """The versioned document store: put, get, tags, listing, changes."""
        return Documents(self._executor)

    @cached_property
    def game(self) -> Game[M]:
        """Game data: accounts, profiles, sessions, scores, document import and comparison."""
        return Game(self._executor)

    @cached_property
    def operations(self) -> Operations[M]:
        """Agent operations: workflow runs, the task queue, events, conversations, metrics."""
        return Operations(self._executor)

    @cached_property
    def workflows(self) -> Workflows[M]:
        """Character workflows: import files, process messages, instances, timeouts."""
        return Workflows(self._executor)

    @cached_property
    def _meta(self) -> Meta[M]:
        return Meta(self._executor)


class Client(_Domains[Sync]):
    """Typed access to the cdlstore SQL API. Build it with :func:`cdlstore.connect`."""

    def __init__(self, source: ConnectionSource, *, pool: ConnectionPool[Any] | None = None):
        self._source = source
        self._pool = pool
        self._executor: Executor = SyncExecutor(source, lambda: self.conninfo)

    @classmethod
    def from_connection(cls, conn: psycopg.Connection[Any]) -> Client:
        return cls(SingleConnection(conn))

    def _all(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one statement (see :class:`~cdlstore.domain.SyncExecutor`)."""
        return run_sync(self._executor._all(query, params))

    def _one(self, query: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Like :meth:`_all`, for calls that return exactly one row."""
        return run_sync(self._executor._one(query, params))

    def _call(self, function: str, params: dict[str, Any]) -> Any:
        """``SELECT schema.function(name => value, ...)``: one API call with named arguments."""
        return run_sync(self._executor._call(function, params))

    def listen(self, channel: str, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """The JSON payloads NOTIFY sends on a channel, on a connection of its own. Stops after
        ``timeout`` seconds without one, when given."""
        return iterate_sync(self._executor.listen(channel, timeout))

    @property
    def conninfo(self) -> str | None:
        """The DSN of the pool, when the client has one."""
        if self._pool is None or not isinstance(self._pool.conninfo, str):
            return None
        return self._pool.conninfo

    def schema_version(self) -> str | None:
        """The id of the newest applied migration, e.g. ``0002_cdl_enums``."""
        return self._meta.schema_version()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Domains[Async]):
    """The same API as :class:`Client`, as coroutines. Build it with
    ``await cdlstore.connect_async(...)``."""

    def __init__(
        self,
        source: AsyncSource,
        *,
        pool: AsyncConnectionPool[Any] | None = None,
    ) -> None:
        self._source = source
        self._pool = pool
        self._executor: Executor = AsyncExecutor(source, lambda: self.conninfo)

    @classmethod
    def from_connection(cls, conn: psycopg.AsyncConnection[Any]) -> AsyncClient:
        return cls(SingleAsyncConnection(conn))

    async def _all(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return await self._executor._all(query, params)

    async def _one(self, query: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._executor._one(query, params)

    async def _call(self, function: str, params: dict[str, Any]) -> Any:
        return await self._executor._call(function, params)

    def listen(self, channel: str, timeout: float | None = None) -> AsyncIterator[dict[str, Any]]:
        """Like :meth:`Client.listen`, as an async iterator."""
        return self._executor.listen(channel, timeout)

    @property
    def conninfo(self) -> str | None:
        if self._pool is None or not isinstance(self._pool.conninfo, str):
            return None
        return self._pool.conninfo

    async def schema_version(self) -> str | None:
        return await self._meta.schema_version()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _check_connection(conn: psycopg.Connection[Any]) -> None:
    """The pool's check before handing out a connection: a round trip only when the server has
    sent something to an idle connection (the error and EOF of a terminated backend or of a
    restart; seen with a zero-timeout select), so that a healthy connection costs no round trip."""
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


async def _check_async_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        await AsyncConnectionPool.check_connection(conn)


def _redact(dsn: str) -> str:
    """The DSN without its password, for error messages."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    params.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **params)


def _session_statements(
    role: str | None,
    actor: str | None,
    tenant: str | None = None,
    statement_timeout: float | None = None,
) -> list[tuple[sql.Composed | str, list[str] | None]]:
    """What every pooled connection runs first: the role to act as, the actor of change logs,
    the tenant it names (cdlstore.tenant), the statement timeout."""
    timeout = None if statement_timeout is None else f"{max(1, round(statement_timeout * 1000))}ms"
    statements: list[tuple[sql.Composed | str, list[str] | None]] = []
    if role:
        statements.append((sql.SQL("SET ROLE {}").format(sql.Identifier(role)), None))
    for setting, value in (
        ("cdlstore.actor", actor),
        ("cdlstore.tenant", tenant),
        ("statement_timeout", timeout),
    ):
        if value:
            statements.append(("SELECT set_config(%s, %s, false)", [setting, value]))
    return statements


def _session_setup(
    role: str | None,
    actor: str | None,
    tenant: str | None = None,
    statement_timeout: float | None = None,
) -> Callable[[psycopg.Connection[Any]], None]:
    statements = _session_statements(role, actor, tenant, statement_timeout)

    def configure(conn: psycopg.Connection[Any]) -> None:
        for query, params in statements:
            conn.execute(query, params)

    return configure


def _async_session_setup(
    role: str | None,
    actor: str | None,
    tenant: str | None = None,
    statement_timeout: float | None = None,
) -> Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]:
    statements = _session_statements(role, actor, tenant, statement_timeout)

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        for query, params in statements:
            await conn.execute(query, params)

    return configure


def _resolve_dsn(dsn: str | None) -> tuple[str, bool]:
    """The DSN to use (``dsn``, else :func:`cdlstore.dsn.default_dsn`) and whether it is the
    local development cluster's default; a malformed one raises ConnectionFailed."""
    local_default = not dsn and not external_database()
    dsn = dsn or default_dsn()
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise ConnectionFailed(f"invalid database URL: {' '.join(str(exc).split())}") from exc
    return dsn, local_default


def _connection_failed(dsn: str, local_default: bool, exc: psycopg.Error) -> ConnectionFailed:
    reason = " ".join(str(exc).split())
    if local_default and isinstance(exc, psycopg.OperationalError):
        return _no_database(reason)
    return ConnectionFailed(f"cannot connect to {_redact(dsn)}: {reason}")


def _no_database(reason: str) -> ConnectionFailed:
    """No DSN given, DATABASE_URL unset, and the local cluster does not answer."""
    return ConnectionFailed(
        "cannot connect: no database given (DATABASE_URL is not set) and the local cluster "
        f"in {data_dir()} (port {port()}) does not answer",
        detail=reason,
        hint="set DATABASE_URL (or pass a DSN) to use a server, or start the local "
        "development cluster with `cdlstore db start` (`make db` in a checkout; "
        "CDLSTORE_PGDATA sets where it keeps its data)",
    )


def check_dsn(dsn: str | None = None, timeout: int = 5, role: str | None = None) -> str:
    """Fail fast with one clear line when the DSN is malformed, the server unreachable or the
    role not ours to use. ``dsn`` defaults to :func:`cdlstore.dsn.default_dsn`; returns it."""
    dsn, local_default = _resolve_dsn(dsn)
    try:
        with psycopg.connect(dsn, connect_timeout=timeout, autocommit=True) as conn:
            _session_setup(role, None)(conn)
    except psycopg.Error as exc:
        raise _connection_failed(dsn, local_default, exc) from exc
    return dsn


async def check_dsn_async(dsn: str | None = None, timeout: int = 5, role: str | None = None) -> str:
    """:func:`check_dsn` on an async connection."""
    dsn, local_default = _resolve_dsn(dsn)
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=timeout, autocommit=True)
        async with conn:
            await _async_session_setup(role, None)(conn)
    except psycopg.Error as exc:
        raise _connection_failed(dsn, local_default, exc) from exc
    return dsn


def connect(
    dsn: str | None = None,
    *,
    min_size: int = 1,
    max_size: int = 10,
    role: str | None = None,
    actor: str | None = None,
    tenant: str | None = None,
    statement_timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,
    pool_timeout: float = 30.0,
) -> Client:
    """A :class:`Client` over a connection pool.

    ``dsn`` defaults to ``DATABASE_URL``, then to the local development cluster; with neither
    answering, :class:`~cdlstore.errors.ConnectionFailed` says how to get one. ``role``
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
    bounded by it. The pool checks each connection before handing it out, so that connections
    left stale by a database restart are replaced, not used; a call waits at most
    ``pool_timeout`` seconds for a connection.
    """
    role = role or os.environ.get("CDLSTORE_ROLE") or None
    dsn = check_dsn(dsn, role=role)
    pool: ConnectionPool[Any] = ConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        configure=_session_setup(role, actor, tenant, statement_timeout),
        check=_check_connection,
        timeout=pool_timeout,
        open=True,
    )
    return Client(pool, pool=pool)


async def connect_async(
    dsn: str | None = None,
    *,
    min_size: int = 1,
    max_size: int = 10,
    role: str | None = None,
    actor: str | None = None,
    tenant: str | None = None,
    statement_timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,
    pool_timeout: float = 30.0,
) -> AsyncClient:
    """An :class:`AsyncClient` over psycopg's async pool; the arguments are :func:`connect`'s."""
    role = role or os.environ.get("CDLSTORE_ROLE") or None
    dsn = await check_dsn_async(dsn, role=role)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        configure=_async_session_setup(role, actor, tenant, statement_timeout),
        check=_check_async_connection,
        timeout=pool_timeout,
        open=False,
    )
    await pool.open()
    return AsyncClient(pool, pool=pool)
