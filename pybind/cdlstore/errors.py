"""Exceptions of cdlstore, mapped in one place from PostgreSQL SQLSTATE codes.

cdlstore raises its own errors from SQL with ``RAISE ... USING ERRCODE = 'CDnnn'``;
the class ``CD`` is ours (see docs/errors.md, which a test keeps equal to ``CODES``).
Any other database error becomes a plain :class:`CdlstoreError`, raised ``from`` the
psycopg exception so that nothing is hidden.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg

P = ParamSpec("P")
T = TypeVar("T")


class CdlstoreError(Exception):
    """Base class of every error cdlstore raises."""

    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate or self.code
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        parts = [self.message]
        if self.detail:
            parts.append(f"DETAIL: {self.detail}")
        if self.hint:
            parts.append(f"HINT: {self.hint}")
        return " | ".join(parts)


class ConnectionFailed(CdlstoreError):
    """The database could not be reached or the DSN is malformed."""


class InvalidInput(CdlstoreError):
    """Input that breaks a rule: wrong shape, wrong type, bad name, bad definition."""

    code = "CD001"


class NotFound(CdlstoreError):
    """The named object does not exist."""

    code = "CD002"


class CharacterNotFound(NotFound):
    """No character has that name (CD002 naming the table ``cdl.characters``)."""


class Conflict(CdlstoreError):
    """An optimistic-concurrency or compare-and-swap check failed."""

    code = "CD003"


class InvalidState(CdlstoreError):
    """The change is not allowed from the object's current state."""

    code = "CD004"


class AlreadyExists(CdlstoreError):
    """An object that must be unique exists already."""

    code = "CD005"


class Forbidden(CdlstoreError):
    """The change is refused by a rule of the data (protected, immutable, other tenant)."""

    code = "CD006"


class LimitExceeded(CdlstoreError):
    """A size or count limit was exceeded."""

    code = "CD007"


class TenantMismatch(CdlstoreError):
    """A login bound to a tenant named another tenant (``cdlstore.tenant``)."""

    code = "CD008"


class NoTenant(CdlstoreError):
    """A login that is neither bound to a tenant nor an administrator named no tenant."""

    code = "CD009"


class ShardUnavailable(CdlstoreError):
    """Through the proxy: the shard that holds the call's key cannot be reached (retry later)."""

    code = "CD011"


class MigrationError(CdlstoreError):
    """A migration or a function file failed to apply."""


CODES: dict[str, type[CdlstoreError]] = {
    cls.code: cls
    for cls in (
        InvalidInput,
        NotFound,
        Conflict,
        InvalidState,
        AlreadyExists,
        Forbidden,
        LimitExceeded,
        TenantMismatch,
        NoTenant,
        ShardUnavailable,
    )
    if cls.code
}


# A code's class made more specific by the table the error names (``RAISE ... USING SCHEMA,
# TABLE``): a subclass of the code's class, so that catching the code's class still works.
BY_TABLE: dict[tuple[str, str], type[CdlstoreError]] = {
    ("CD002", "cdl.characters"): CharacterNotFound,
}


# Failures that a second try of the same idempotent call may not meet: a serialization failure,
# a deadlock, and a connection lost or refused (class 08, the server shutting down or starting).
# A statement timeout (57014) is not among them: it is a limit, retrying it multiplies the wait.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03"})


def is_transient(exc: CdlstoreError) -> bool:
    """Whether ``exc`` is worth a retry of an idempotent call (:data:`TRANSIENT_SQLSTATES`)."""
    state = exc.sqlstate
    if state in TRANSIENT_SQLSTATES or (state or "").startswith("08"):
        return True
    cause = exc.__cause__  # a connection that broke client-side has no SQLSTATE
    return state is None and isinstance(cause, psycopg.OperationalError)


def retry_transient(
    attempts: int = 5, base_delay: float = 0.05
) -> Callable[
    [Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]],
    Callable[Concatenate[Any, P], Coroutine[Any, Any, T]],
]:
    """The one retry policy: decorate an idempotent domain definition (under ``@method``) to run
    it again after a transient failure (:func:`is_transient`), waiting 0.05 s, 0.1 s, 0.2 s ...
    with jitter, at most ``attempts`` times; any other error is raised at once. The wait is the
    client's own (``self._client._sleep``), so a sync and an async client both wait properly.
    Inside the caller's own transaction a retry cannot help after a serialization failure (the
    transaction is doomed): use it on pooled clients."""

    def decorate(
        fn: Callable[Concatenate[Any, P], Coroutine[Any, Any, T]],
    ) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
        async def call(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
            for attempt in range(attempts):
                try:
                    return await fn(self, *args, **kwargs)
                except CdlstoreError as exc:
                    if attempt == attempts - 1 or not is_transient(exc):
                        raise
                await self._client._sleep(base_delay * 2**attempt * (0.5 + random.random()))  # noqa: S311
            raise AssertionError("unreachable")

        functools.update_wrapper(call, fn)
        return call

    return decorate


# Input that PostgreSQL itself refuses before our functions see it (a NUL in a JSON string, a
# number out of range, nesting deeper than the server's stack) or that runs past the statement
# timeout: our classes, their own SQLSTATE.
SERVER_INPUT_CODES: dict[str, type[CdlstoreError]] = {
    "22P05": InvalidInput,  # untranslatable character (\u0000 in jsonb)
    "22P02": InvalidInput,  # invalid text representation
    "22021": InvalidInput,  # character not in repertoire
    "22003": InvalidInput,  # numeric value out of range
    "54001": LimitExceeded,  # statement too complex (stack depth)
    "57014": LimitExceeded,  # canceled: the statement timeout (connect(statement_timeout=...))
}


def from_psycopg(exc: psycopg.Error) -> CdlstoreError:
    """Build the cdlstore exception that stands for a psycopg error."""
    diag = exc.diag
    table = f"{diag.schema_name}.{diag.table_name}" if diag.table_name else ""
    cls = (
        BY_TABLE.get((exc.sqlstate or "", table))
        or CODES.get(exc.sqlstate or "")
        or SERVER_INPUT_CODES.get(exc.sqlstate or "", CdlstoreError)
    )
    if exc.sqlstate is None and isinstance(exc, psycopg.DataError):
        cls = InvalidInput  # refused by psycopg before sending, e.g. a NUL byte in a text value
    message = diag.message_primary or str(exc).strip()
    return cls(message, sqlstate=exc.sqlstate, detail=diag.message_detail, hint=diag.message_hint)


@contextmanager
def translated(params: Any = None) -> Iterator[None]:
    """Re-raise psycopg errors as cdlstore errors (``from`` the original). With the call's
    ``params``, an integer past PostgreSQL's range becomes InvalidInput naming it."""
    try:
        yield
    except psycopg.Error as exc:
        raise _out_of_range(from_psycopg(exc), params) from exc


INT4 = range(-(2**31), 2**31)


def _out_of_range(exc: CdlstoreError, params: Any) -> CdlstoreError:
    """A Python int past PostgreSQL's integer is sent as bigint or numeric, and then no API
    function matches (42883): that is bad input, InvalidInput naming the parameter."""
    if exc.sqlstate != "42883" or not isinstance(params, dict):
        return exc
    bad = [
        f"{name}={value}"
        for name, value in params.items()
        if isinstance(value, int) and not isinstance(value, bool) and value not in INT4
    ]
    if not bad:
        return exc
    return InvalidInput(
        f"integer out of range: {', '.join(bad)}",
        hint="Integer parameters hold -2147483648 to 2147483647 (bigint ones more).",
    )
