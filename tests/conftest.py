"""Fixtures: every test database is a clone of one migrated template (see cdlstore/dev/testdb.py).

``make test`` builds the template and passes its name in ``CDLSTORE_TEST_TEMPLATE``; a plain
``pytest`` run builds its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from cdlstore import Client
from cdlstore.client import SingleConnection
from cdlstore.dev import testdb


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    name = os.environ.get("CDLSTORE_TEST_TEMPLATE")
    if name:
        yield name
        return
    name = f"cdlstore_test_tpl_{os.getpid()}"
    testdb.create_template(name)
    yield name
    testdb.drop(name)


@pytest.fixture(scope="session")
def test_dsn(template_db: str) -> Iterator[str]:
    """A clone of the template shared by the session; tests roll back what they write."""
    name = f"cdlstore_test_py_{os.getpid()}"
    dsn = testdb.clone(template_db, name)
    yield dsn
    testdb.drop(name)


@pytest.fixture
def conn(test_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection inside a transaction that is rolled back after the test."""
    with psycopg.connect(test_dsn) as connection:
        with connection.transaction(force_rollback=True):
            yield connection


class AsAppRole(SingleConnection):
    """Every client call runs as cdlstore_app: the tests prove that the app role can do all that
    the package does (and the test's own direct table checks keep the superuser connection)."""

    @contextmanager
    def connection(self) -> Iterator[Any]:
        self._conn.execute("SET ROLE cdlstore_app")
        try:
            yield self._conn
        finally:
            self._conn.execute("RESET ROLE")


@pytest.fixture
def client(conn: psycopg.Connection[Any]) -> Client:
    return Client(AsAppRole(conn))


@pytest.fixture
def own_db() -> Iterator[str]:
    """An empty database of the test's own, for tests that must commit or migrate."""
    name = f"cdlstore_test_own_{os.getpid()}"
    yield testdb.create_empty(name)
    testdb.drop(name)


@pytest.fixture
def own_clone(template_db: str) -> Iterator[str]:
    """A migrated database of the test's own, for tests that must commit."""
    name = f"cdlstore_test_clone_{os.getpid()}"
    yield testdb.clone(template_db, name)
    testdb.drop(name)
