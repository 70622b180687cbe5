"""The local development cluster: initdb, start, stop (``cdlstore db``, ``make db``).

The runtime (``cdlstore.connect``, ``cdlstore migrate``) never imports this module: where the
cluster is and its URL are :mod:`cdlstore.dsn` (settings ``DATABASE_URL``, ``CDLSTORE_PGDATA``,
``CDLSTORE_DB_PORT``, ``CDLSTORE_DB_NAME``), re-exported here. One more setting:
- ``CDLSTORE_DB_LISTEN``: TCP address to listen on (default: none, unix socket only).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from ..dsn import APP_LOGIN as APP_LOGIN
from ..dsn import APP_TENANT as APP_TENANT
from ..dsn import SUPERUSER as SUPERUSER
from ..dsn import app_url as app_url
from ..dsn import data_dir as data_dir
from ..dsn import database_name as database_name
from ..dsn import default_dsn as default_dsn
from ..dsn import external_database as external_database
from ..dsn import local_url as local_url
from ..dsn import port as port
from ..dsn import project_root as project_root
from ..dsn import socket_dir as socket_dir
from ..errors import CdlstoreError

SERVER_USER = "postgres"  # the OS user that runs the server when we are root


class LocalDbError(CdlstoreError):
    """The local cluster could not be set up, started or stopped."""


def ensure_app_login(dsn: str) -> None:
    """Create the local application login (LOGIN, member of cdlstore_app) when it is missing and
    bind it to the default tenant in the database of ``dsn`` (a migrated one): a login that acts
    as one tenant whatever it sets, like an application on a real server."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_LOGIN]).fetchone():
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN IN ROLE cdlstore_app").format(
                    sql.Identifier(APP_LOGIN)
                )
            )
        conn.execute("SELECT cdlstore.bind_tenant(%s, %s)", [APP_LOGIN, APP_TENANT])


def find_bindir() -> Path:
    """Server binaries: on PATH, via ``pg_config --bindir``, or the newest /usr/lib/postgresql."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidate = Path(out.stdout.strip())
        if out.returncode == 0 and (candidate / "initdb").exists():
            return candidate
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()]
    found.sort(key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0))
    if found:
        return found[-1]
    raise LocalDbError(
        "PostgreSQL server binaries not found (initdb, pg_ctl)",
        hint="install the PostgreSQL server (Debian: apt-get install postgresql) "
        "or put its bin directory on PATH",
    )


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise LocalDbError(
            f"running as root, and there is no '{SERVER_USER}' user to run PostgreSQL",
            hint=f"create it (useradd --system {SERVER_USER}) or run as an ordinary user",
        ) from None
    return ["runuser", "-u", SERVER_USER, "--", *cmd]


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(_as_server_user(cmd), capture_output=True, text=True)
    if proc.returncode != 0:
        raise LocalDbError(f"{what} failed", detail=(proc.stderr or proc.stdout).strip())
    return proc.stdout


def _give_to_server_user(path: Path) -> None:
    """As root: own ``path`` by the server user and let it traverse the parents."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(SERVER_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)  # search (x) only: no listing, no writing


def is_running() -> bool:
    pgdata = data_dir()
    if not (pgdata / "PG_VERSION").exists():
        return False
    status = subprocess.run(
        _as_server_user([str(find_bindir() / "pg_ctl"), "status", "-D", str(pgdata)]),
        capture_output=True,
    )
    return status.returncode == 0


def _write_settings(pgdata: Path, sock: Path) -> None:
    listen = os.environ.get("CDLSTORE_DB_LISTEN", "")
    settings = (
        "# written by cdlstore at every start; edit CDLSTORE_DB_* instead\n"
        f"listen_addresses = '{listen}'\n"
        f"port = {port()}\n"
        f"unix_socket_directories = '{sock}'\n"
        "unix_socket_permissions = 0700\n"
    )
    if (find_bindir().parent / "lib" / "pg_cron.so").exists():  # installed by setup-pg-tools.sh
        settings += (
            "shared_preload_libraries = 'pg_cron'\n"
            "cron.use_background_workers = on  # no TCP here: jobs run in background workers\n"
            "max_worker_processes = 16\n"
        )
    (pgdata / "cdlstore.conf").write_text(settings)
    os.chmod(pgdata / "cdlstore.conf", 0o644)


def start() -> str:
    """initdb on first use, then start the cluster and create the database. Idempotent."""
    if external_database():
        return default_dsn()
    bindir = find_bindir()
    pgdata = data_dir()
    sock = socket_dir()
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(parents=True, exist_ok=True)
        _give_to_server_user(pgdata)
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            "initdb",
        )
        with open(pgdata / "postgresql.conf", "a") as conf:
            conf.write("\ninclude_if_exists = 'cdlstore.conf'\n")
    if sock != pgdata:
        sock.mkdir(mode=0o700, exist_ok=True)
        _give_to_server_user(sock)
    if not is_running():
        _write_settings(pgdata, sock)
        _run(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-D",
                str(pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(pgdata / "server.log"),
            ],
            f"starting PostgreSQL (log: {pgdata / 'server.log'})",
        )
    _create_database(database_name())
    return local_url()


def _create_database(dbname: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(local_url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def stop() -> bool:
    """Stop the local cluster; False when it was not running."""
    if external_database() or not is_running():
        return False
    _run(
        [str(find_bindir() / "pg_ctl"), "stop", "-D", str(data_dir()), "-m", "fast", "-w"],
        "stopping PostgreSQL",
    )
    return True
