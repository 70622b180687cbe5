"""A local sharded cluster for ``make cluster``: a PL/Proxy proxy in front of N shards.

Each node is a PostgreSQL cluster of its own (the local cluster of :mod:`cdlstore.localdb`
with another data directory and port), so a shard can really be stopped. Ports: the proxy at
``CDLSTORE_CLUSTER_PORT`` (default 5450), shard *i* at that port + 1 + *i*. Data directories:
``CDLSTORE_CLUSTER_DIR`` (default ``<project>/.pgcluster``)/``proxy`` and ``/shard<i>``.

The shards run the ordinary schema (``cdlstore migrate``); the proxy database gets the SQL of
``cdlstore/sql/proxy/`` and then generates its API functions from the shards' catalog
(``cdlstore_proxy.generate()``), so it has every API function the shards grant.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cdlstore import migrations
from cdlstore.dev import localdb
from cdlstore.errors import CdlstoreError

MAX_SHARDS = 8  # PL/Proxy partition counts are powers of two; ten ports leave room for 8
# The login the proxy connects to the shards as: not a superuser; a member of cdlstore_proxy (the
# shard-side entry point cdl.as_tenant, definition versions, shard ids), which makes it an
# administrator there (migration 0019: it names the caller's tenant, or none for a sweep).
PROXY_LOGIN = "cdlstore_proxy_login"
PROXY_LOGIN_SQL = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{PROXY_LOGIN}') THEN
        CREATE ROLE {PROXY_LOGIN} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
GRANT cdlstore_proxy TO {PROXY_LOGIN};
"""


def base_port() -> int:
    value = os.environ.get("CDLSTORE_CLUSTER_PORT", "5450")
    if not value.isdigit() or not 0 < int(value) < 65536 - MAX_SHARDS:
        raise localdb.LocalDbError(f"CDLSTORE_CLUSTER_PORT must be a port number, got {value!r}")
    return int(value)


def cluster_dir() -> Path:
    """CDLSTORE_CLUSTER_DIR, else .pgcluster/ beside the local cluster's data directory."""
    default = localdb.data_dir().parent / ".pgcluster"
    return Path(os.environ.get("CDLSTORE_CLUSTER_DIR") or default).absolute()


def _nodes(shards: int) -> list[tuple[str, int]]:
    return [("proxy", base_port())] + [(f"shard{i}", base_port() + 1 + i) for i in range(shards)]


@contextmanager
def _node(name: str, port: int, dbname: str = "cdlstore") -> Iterator[None]:
    """Point :mod:`cdlstore.localdb` at one node of the cluster for the duration."""
    settings = {
        "CDLSTORE_PGDATA": str(cluster_dir() / name),
        "CDLSTORE_DB_PORT": str(port),
        "CDLSTORE_DB_NAME": dbname,
        "CDLSTORE_DB_LISTEN": "",
        "DATABASE_URL": "",
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def node_url(name: str, port: int, dbname: str = "cdlstore") -> str:
    with _node(name, port, dbname):
        return localdb.local_url()


def shard_count() -> int:
    """The shards of the last ``start``: the count written in the cluster directory."""
    try:
        return int((cluster_dir() / "shards").read_text())
    except (OSError, ValueError):
        return 0


def proxy_url(dbname: str = "cdlstore") -> str:
    return node_url(*_nodes(0)[0], dbname)


def shard_urls(dbname: str = "cdlstore", shards: int | None = None) -> list[str]:
    count = shard_count() if shards is None else shards
    return [node_url(name, port, dbname) for name, port in _nodes(count)[1:]]


def start_node(name: str, port: int, dbname: str = "cdlstore") -> str:
    with _node(name, port, dbname):
        return localdb.start()


def stop_node(name: str, port: int) -> bool:
    with _node(name, port):
        return localdb.stop()


def shard_node(index: int) -> tuple[str, int]:
    return _nodes(index + 1)[index + 1]


def _recreate(url: str) -> None:
    dbname = str(conninfo_to_dict(url)["dbname"])
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def start(shards: int, dbname: str = "cdlstore", fresh: bool = False) -> str:
    """Start the proxy and ``shards`` shards, migrate the shards, (re)build the proxy's
    functions. ``fresh`` drops and recreates the databases first. Returns the proxy's URL."""
    if shards not in (1, 2, 4, 8):
        raise localdb.LocalDbError(f"SHARDS must be 1, 2, 4 or 8 (a power of two), got {shards}")
    cluster_dir().mkdir(parents=True, exist_ok=True)
    urls = []
    for name, port in _nodes(shards):
        url = start_node(name, port, dbname)
        if fresh:
            _recreate(url)
        urls.append(url)
    with ThreadPoolExecutor(max_workers=shards) as pool:  # each shard is a server of its own
        list(pool.map(migrations.migrate, urls[1:]))
    for url in urls[1:]:
        add_proxy_login(url)
    setup_proxy(urls[0], urls[1:])
    (cluster_dir() / "shards").write_text(f"{shards}\n")
    return urls[0]


def add_proxy_login(shard: str) -> None:
    """The proxy's login on a shard (trust on the local unix socket; a deployment gives it a
    password in the proxy's user mapping)."""
    with psycopg.connect(shard, autocommit=True) as conn:
        conn.execute(PROXY_LOGIN_SQL)  # trusted text of this module


def proxy_files() -> list[Path]:
    return sorted((migrations.db_dir() / "proxy").glob("*.sql"))


def setup_proxy(proxy: str, shards: list[str]) -> None:
    """Apply the proxy SQL, point the PL/Proxy cluster ``cdlstore`` at the shards (in partition
    order) and generate the API functions, in one transaction."""
    with psycopg.connect(proxy) as conn, conn.transaction():
        for path in proxy_files():
            conn.execute(path.read_text())  # trusted file of this package
        conn.execute(
            "SELECT cdlstore_proxy.configure(%s, %s)",
            [[_libpq(url) for url in shards], PROXY_LOGIN],
        )
        conn.execute("SELECT cdlstore_proxy.generate()")


def _libpq(url: str) -> str:
    """A URL as a key=value connection string, the form PL/Proxy's partitions take."""
    params: dict[str, Any] = conninfo_to_dict(url)
    params.pop("user", None)  # the user comes from the user mapping
    params.setdefault("connect_timeout", "2")
    return make_conninfo(**params)


def stop() -> list[str]:
    """Stop every node that has a data directory; returns the names of those stopped."""
    stopped = []
    root = cluster_dir()
    for name, port in _nodes(MAX_SHARDS):
        if (root / name / "PG_VERSION").exists() and stop_node(name, port):
            stopped.append(name)
    return stopped


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m cdlstore.dev.cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("start", help="start the proxy and N shards, migrate, generate the proxy")
    p.add_argument("--shards", type=int, default=2)
    sub.add_parser("stop", help="stop the proxy and every shard")
    sub.add_parser("url", help="the proxy's URL")
    sub.add_parser("shard-urls", help="each shard's administrator URL, in partition order")
    args = parser.parse_args()
    try:
        if args.command == "start":
            start(args.shards)
        elif args.command == "stop":
            stop()
        elif args.command == "url":
            print(proxy_url())
        else:
            print("\n".join(shard_urls()))
    except (CdlstoreError, psycopg.Error) as exc:  # one line for the make output
        print(f"cluster {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
