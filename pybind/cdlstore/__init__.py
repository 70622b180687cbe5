"""cdlstore: PostgreSQL storage for AI characters and agents, with thin typed bindings."""

from importlib.metadata import PackageNotFoundError, version

from .client import AsyncClient, Client, connect, connect_async
from .errors import CdlstoreError
from .worker import Worker

try:
    __version__ = version("cdlstore")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "AsyncClient",
    "CdlstoreError",
    "Client",
    "Worker",
    "__version__",
    "connect",
    "connect_async",
]
