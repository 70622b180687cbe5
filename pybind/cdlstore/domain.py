"""One definition of each domain method, run by a sync and by an async client.

A domain method is written once, as ``async def``, against :class:`Executor` -- the only thing
that does I/O. It calls its SQL function in one way: ``await self._call("schema.function",
name=value, ...)`` with the function's own parameter names (:func:`call_query`). The async
client runs the coroutine on psycopg's async pool. The sync client drives the very same
coroutine with :func:`run_sync`: its executor does blocking psycopg calls inside ``async def``
methods that never suspend, so the coroutine finishes in a single step and no event loop is
involved.

``@method`` marks a call (sync: returns the value; async: a coroutine), ``@iterator`` a method
that iterates (sync: an iterator; async: an async iterator). Inside a definition, ``await
self.other(...)`` calls the other definition in either client.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import time
import warnings
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterator,
)
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from contextvars import ContextVar
from types import MethodType
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

import psycopg
from psycopg import sql

from .errors import CdlstoreError, translated

P = ParamSpec("P")
T = TypeVar("T")
M = TypeVar("M")
Row = dict[str, Any]
Query = str | sql.SQL | sql.Composed


class Sync:
    """Marks a domain object of the sync :class:`~cdlstore.Client`."""


class Async:
    """Marks a domain object of the :class:`~cdlstore.AsyncClient`."""


# True while run_sync drives a definition: a definition that calls another gets its coroutine
_driving: ContextVar[bool] = ContextVar("cdlstore_driving", default=False)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (a definition on the sync executor) to its end."""
    token = _driving.set(True)
    try:
        coro.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        _driving.reset(token)
    coro.close()
    raise RuntimeError("a sync cdlstore call tried to suspend")


def iterate_sync(items: AsyncIterator[T]) -> Iterator[T]:
    """An async iterator of the sync executor as a plain iterator."""
    try:
        while True:
            try:
                item: T = run_sync(items.__anext__())  # type: ignore[arg-type]
            except StopAsyncIteration:
                return
            yield item
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            run_sync(close())


class Executor(Protocol):
    """What a definition may ask of its client: the only place where I/O happens."""

    is_async: bool

    async def _all(self, query: Query, params: Any = None) -> list[Row]: ...
    async def _one(self, query: Query, params: Any = None) -> Row: ...
    async def _call(self, function: str, params: dict[str, Any]) -> Any: ...
    async def _sleep(self, seconds: float) -> None: ...
    async def _execute_outside_transaction(self, statement: Query) -> None: ...
    async def _copy_out(
        self, copy: Query, write: Callable[[bytes], Any], setup: Query | None = None
    ) -> int: ...
    def listen(self, channel: str, timeout: float | None = None) -> AsyncIterator[Any]: ...


class Domain(Generic[M]):
    """Base of the domain classes: ``Characters[Sync]`` for Client, ``Characters[Async]`` for
    AsyncClient, one class body for both."""

    def __init__(self, client: Executor) -> None:
        self._client = client

    async def _call(self, function: str, /, **named: Any) -> Any:
        """Call the API function ``schema.function`` with named arguments, the function's own
        parameter names (see :func:`call_query` for what comes back)."""
        return await self._client._call(function, named)


class method(Generic[P, T]):  # noqa: N801 - used as a decorator
    """A domain call defined once as a coroutine function."""

    def __init__(self, fn: Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @overload
    def __get__(self, obj: None, owner: type) -> method[P, T]: ...
    @overload
    def __get__(self, obj: Domain[Sync], owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: Domain[Async], owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, obj: Domain[Any], owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, obj: Domain[Any] | None, owner: type) -> Any:
        if obj is None:
            return self
        fn = self.fn
        if obj._client.is_async or _driving.get():
            return MethodType(fn, obj)

        def call(*args: Any, **kwargs: Any) -> Any:
            return run_sync(fn(obj, *args, **kwargs))

        return call


class iterator(Generic[P, T]):  # noqa: N801 - used as a decorator
    """A domain method that iterates, defined once as an async generator function."""

    def __init__(self, fn: Callable[Concatenate[Any, P], AsyncIterator[T]]) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @overload
    def __get__(self, obj: None, owner: type) -> iterator[P, T]: ...
    @overload
    def __get__(self, obj: Domain[Sync], owner: type) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, obj: Domain[Async], owner: type) -> Callable[P, AsyncIterator[T]]: ...
    @overload
    def __get__(self, obj: Domain[Any], owner: type) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, obj: Domain[Any] | None, owner: type) -> Any:
        if obj is None:
            return self
        fn = self.fn
        if obj._client.is_async or _driving.get():
            return MethodType(fn, obj)

        def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
            return iterate_sync(fn(obj, *args, **kwargs))

        return call


def call_query(function: str, params: dict[str, Any]) -> str:
    """``SELECT * FROM schema.function(name => %(name)s, ...)``: one API call with named
    arguments. PostgreSQL names the one column of a scalar function after the function."""
    return _call_text(function, tuple(params))


@functools.lru_cache(maxsize=1024)
def _call_text(function: str, params: tuple[str, ...]) -> str:
    schema, name = function.split(".")
    return (
        sql.SQL("SELECT * FROM {}({})")
        .format(
            sql.Identifier(schema, name),
            sql.SQL(", ").join(
                sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in params
            ),
        )
        .as_string()
    )


def call_result(function: str, rows: list[Row]) -> Any:
    """What ``_call`` returns: the value of a scalar function (its one row's one column, named
    after it), else the rows of a set-returning or composite one as dicts. No API function
    returns a set of a scalar type (tests/test_api_surface.py checks it), so this is exact."""
    name = function.rsplit(".", 1)[-1]
    if len(rows) == 1 and list(rows[0]) == [name]:
        return rows[0][name]
    return rows


def given(**named: Any) -> dict[str, Any]:
    """The named arguments that are not None: the others take the SQL function's default."""
    return {k: v for k, v in named.items() if v is not None}


def single(rows: list[Row]) -> Row:
    if len(rows) != 1:
        raise CdlstoreError(f"expected one row, got {len(rows)}")
    return rows[0]


SyncConnection = psycopg.Connection[dict[str, Any]]
AsyncConnection = psycopg.AsyncConnection[dict[str, Any]]


class SyncSource(Protocol):
    def connection(self) -> AbstractContextManager[SyncConnection]: ...


class AsyncSource(Protocol):
    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]: ...


class SyncExecutor:
    """Blocking psycopg calls behind ``async def``: each returns without suspending."""

    is_async = False

    def __init__(self, source: SyncSource, conninfo: Callable[[], str | None]) -> None:
        self._source = source
        self._conninfo = conninfo

    async def _all(self, query: Query, params: Any = None) -> list[Row]:
        """One API call: one statement, so one transaction of its own on a pooled (autocommit)
        connection, or a savepoint inside the caller's transaction."""
        with translated(params), self._source.connection() as conn:
            if conn.autocommit:
                return conn.execute(query, params).fetchall()
            with conn.transaction():
                return conn.execute(query, params).fetchall()

    async def _one(self, query: Query, params: Any = None) -> Row:
        return single(await self._all(query, params))

    async def _call(self, function: str, params: dict[str, Any]) -> Any:
        return call_result(function, await self._all(call_query(function, params), params))

    async def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def _execute_outside_transaction(self, statement: Query) -> None:
        with translated(), self._source.connection() as conn:
            if not conn.autocommit:
                raise CdlstoreError("this call needs an autocommit connection")
            conn.execute(statement)

    async def _copy_out(
        self, copy: Query, write: Callable[[bytes], Any], setup: Query | None = None
    ) -> int:
        """COPY ... TO STDOUT in one transaction, each chunk to ``write``; returns the rows."""
        with translated(), self._source.connection() as conn, conn.cursor() as cur:
            with conn.transaction():
                if setup is not None:
                    cur.execute(setup)
                with cur.copy(copy) as stream:
                    for chunk in stream:
                        write(bytes(chunk))
                return cur.rowcount

    async def listen(self, channel: str, timeout: float | None = None) -> AsyncIterator[Any]:
        """The JSON payloads NOTIFY sends on a channel, on a connection of its own. Stops after
        ``timeout`` seconds without one, when given."""
        conninfo = self._conninfo()
        if conninfo is None:
            raise CdlstoreError("listening needs a client made by cdlstore.connect (a DSN)")
        with translated(), psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            for note in conn.notifies(timeout=timeout):
                yield json.loads(note.payload)


class AsyncExecutor:
    """The same calls on psycopg's async connections."""

    is_async = True

    def __init__(self, source: AsyncSource, conninfo: Callable[[], str | None]) -> None:
        self._source = source
        self._conninfo = conninfo

    async def _all(self, query: Query, params: Any = None) -> list[Row]:
        with translated(params):
            async with self._source.connection() as conn:
                if conn.autocommit:
                    return await (await conn.execute(query, params)).fetchall()
                async with conn.transaction():
                    return await (await conn.execute(query, params)).fetchall()

    async def _one(self, query: Query, params: Any = None) -> Row:
        return single(await self._all(query, params))

    async def _call(self, function: str, params: dict[str, Any]) -> Any:
        return call_result(function, await self._all(call_query(function, params), params))

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _execute_outside_transaction(self, statement: Query) -> None:
        with translated():
            async with self._source.connection() as conn:
                if not conn.autocommit:
                    raise CdlstoreError("this call needs an autocommit connection")
                await conn.execute(statement)

    async def _copy_out(
        self, copy: Query, write: Callable[[bytes], Any], setup: Query | None = None
    ) -> int:
        with translated():
            async with self._source.connection() as conn, conn.cursor() as cur:
                async with conn.transaction():
                    if setup is not None:
                        await cur.execute(setup)
                    async with cur.copy(copy) as stream:
                        async for chunk in stream:
                            write(bytes(chunk))
                    return cur.rowcount

    async def listen(self, channel: str, timeout: float | None = None) -> AsyncIterator[Any]:
        conninfo = self._conninfo()
        if conninfo is None:
            raise CdlstoreError("listening needs a client made by cdlstore.connect_async (a DSN)")
        with translated():
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                async for note in conn.notifies(timeout=timeout):
                    yield json.loads(note.payload)


class RenamedWarning(DeprecationWarning):
    """A method or keyword name of the previous release was used (cdlstore.aliases)."""


class alias:  # noqa: N801 - used like the decorators above
    """A deprecated name kept for one release (the table in :mod:`cdlstore.aliases`).

    ``alias(new, params)`` under an old method name calls the method ``new``, warning each time;
    ``alias(None, params, inner=definition)`` keeps a method's own name but renames its keyword
    ``params`` (old -> new), warning only when an old keyword is used. Positional arguments pass
    unchanged: the new methods keep their order."""

    def __init__(
        self,
        new: str | None,
        params: dict[str, str] | None = None,
        inner: method[Any, Any] | iterator[Any, Any] | None = None,
    ) -> None:
        self.new = new
        self.params = dict(params or {})
        self.inner = inner
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = f"{owner.__name__.lower()}.{name}"

    def __get__(self, obj: Domain[Any] | None, owner: type) -> Any:
        if obj is None:
            return self
        if self.inner is not None:
            target = self.inner.__get__(obj, owner)
        else:
            assert self.new is not None
            target = getattr(obj, self.new)
        if inspect.iscoroutinefunction(target):  # the async client's method: still a coroutine

            async def call(*args: Any, **kwargs: Any) -> Any:
                return await self._call(target, *args, _stacklevel=3, **kwargs)

            return call
        if inspect.isasyncgenfunction(target):  # and its iterator: still an async generator

            async def items(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                async for item in self._call(target, *args, _stacklevel=3, **kwargs):
                    yield item

            return items
        return functools.partial(self._call, target)

    def _call(
        self, target: Callable[..., Any], *args: Any, _stacklevel: int = 2, **kwargs: Any
    ) -> Any:
        old = sorted(k for k in kwargs if k in self.params)
        if self.inner is None or old:
            what = f"{self.name} is deprecated: use {self.new}" if self.inner is None else ""
            renamed = ", ".join(f"{k}= -> {self.params[k]}=" for k in old)
            text = "; ".join(t for t in (what, renamed and f"{self.name}: {renamed}") if t)
            warnings.warn(text, RenamedWarning, stacklevel=_stacklevel)
        return target(*args, **{self.params.get(k, k): v for k, v in kwargs.items()})
