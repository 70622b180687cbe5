"""cdlstore: PostgreSQL storage for AI characters and agents, with thin typed bindings."""

from importlib.metadata import PackageNotFoundError, version

from .client import Client, connect
from .errors import CdlstoreError
from .worker import Worker

try:
    __version__ = version("cdlstore")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["CdlstoreError", "Client", "Worker", "__version__", "connect"]
