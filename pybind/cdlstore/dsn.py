"""Which database the package talks to when no DSN is given.

``DATABASE_URL`` when set; else the address of the local development cluster. Only the address
lives here: starting and stopping that cluster is :mod:`cdlstore.dev.localdb`, which the runtime
never imports. Settings (environment):

- ``DATABASE_URL``: use this database; no local cluster is started.
- ``CDLSTORE_PGDATA``: data directory of the local cluster. Default: ``<checkout>/.pgdata`` when
  the package is installed from a checkout (``make setup``), else
  ``$XDG_DATA_HOME/cdlstore/pgdata`` (``~/.local/share/cdlstore/pgdata``).
- ``CDLSTORE_DB_PORT``: port of the local cluster (default 5432; it names the unix socket).
- ``CDLSTORE_DB_NAME``: database created in the local cluster (default ``cdlstore``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from .errors import ConnectionFailed

SUPERUSER = "postgres"
APP_LOGIN = "cdlstore_local_app"  # a real login, member of cdlstore_app, bound to APP_TENANT
APP_TENANT = "default"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes, the socket file name needs a few


def project_root() -> Path | None:
    """The checkout this package was installed from (editable install), else None."""
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").is_file() and (here / "db" / "tests").is_dir():
        return here
    return None


def data_dir() -> Path:
    configured = os.environ.get("CDLSTORE_PGDATA")
    if configured:
        return Path(configured).absolute()
    root = project_root()
    if root is not None:
        return root / ".pgdata"
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home).absolute() / "cdlstore" / "pgdata"


def port() -> int:
    value = os.environ.get("CDLSTORE_DB_PORT", "5432")
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConnectionFailed(f"CDLSTORE_DB_PORT must be a port number, got {value!r}")
    return int(value)


def database_name() -> str:
    return os.environ.get("CDLSTORE_DB_NAME", "cdlstore")


def socket_dir() -> Path:
    """The socket lives in the data directory unless that path is too long for a socket."""
    pgdata = data_dir()
    if len(str(pgdata)) + len(f"/.s.PGSQL.{port()}.lock") <= _SOCKET_PATH_MAX:
        return pgdata
    digest = hashlib.sha1(str(pgdata).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"cdlstore-{digest}"


def local_url(dbname: str | None = None) -> str:
    host = quote(str(socket_dir()), safe="/")
    return f"postgresql://{SUPERUSER}@/{dbname or database_name()}?host={host}&port={port()}"


def app_url(dbname: str | None = None) -> str:
    """The URL of the local cluster's application login (created by ``cdlstore migrate`` on the
    local cluster: a member of cdlstore_app bound to the tenant ``default``)."""
    return local_url(dbname).replace(f"//{SUPERUSER}@", f"//{APP_LOGIN}@", 1)


def default_dsn() -> str:
    """``DATABASE_URL`` when set, else the local development cluster."""
    return os.environ.get("DATABASE_URL") or local_url()


def external_database() -> bool:
    return bool(os.environ.get("DATABASE_URL"))
