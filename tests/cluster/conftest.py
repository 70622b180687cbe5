"""Fixtures of the sharded scenarios: a PL/Proxy proxy in front of two shards, each a cluster of
its own (cdlstore.dev.cluster), on databases made fresh for the session, and one ordinary node
(a clone of the test template) to compare with. Run by ``make test-cluster``, which sets
``CDLSTORE_TEST_CLUSTER``; a plain pytest run skips them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from cdlstore import Client
from cdlstore.dev import cluster, testdb

DBNAME = "cdlstore_test_cluster"
SHARDS = 2

if not os.environ.get("CDLSTORE_TEST_CLUSTER"):
    pytest.skip("the cluster scenarios run with make test-cluster", allow_module_level=True)


@dataclass
class Cluster:
    proxy: str
    shards: list[str]

    def shards_of(self, users: list[str]) -> dict[str, int]:
        """The partition PL/Proxy sends each user to, computed by the proxy's own hashtext."""
        with psycopg.connect(self.proxy) as conn:
            rows = conn.execute(
                "SELECT u, hashtext(u) & %s FROM unnest(%s::text[]) u", [SHARDS - 1, users]
            ).fetchall()
        return {user: int(part) for user, part in rows}

    def stop(self, index: int) -> None:
        assert cluster.stop_node(*cluster.shard_node(index))

    def start(self, index: int) -> None:
        cluster.start_node(*cluster.shard_node(index), DBNAME)

    def on_shard(self, index: int, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.shards[index]) as conn:
            return conn.execute(query, params).fetchall()


@pytest.fixture(scope="session")
def sharded() -> Iterator[Cluster]:
    proxy = cluster.start(SHARDS, DBNAME, fresh=True)
    yield Cluster(proxy, cluster.shard_urls(DBNAME, SHARDS))
    for index in range(SHARDS):  # a failed test may leave a shard stopped
        cluster.start_node(*cluster.shard_node(index), DBNAME)


def app_client(dsn: str) -> Iterator[Client]:
    """A client on one autocommit connection acting as cdlstore_app, like an application."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET ROLE cdlstore_app")
        yield Client.from_connection(conn)


@pytest.fixture
def proxied(sharded: Cluster) -> Iterator[Client]:
    yield from app_client(sharded.proxy)


@pytest.fixture
def single_dsn(template_db: str) -> Iterator[str]:
    """One ordinary node to compare with: a clone of the test template."""
    name = f"cdlstore_test_single_{os.getpid()}"
    yield testdb.clone(template_db, name)
    testdb.drop(name)


@pytest.fixture
def single(single_dsn: str) -> Iterator[Client]:
    yield from app_client(single_dsn)
