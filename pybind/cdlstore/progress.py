"""The progress bar of the command line (imports, exports, maintain --once)."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(total: int | None, unit: str, label: str) -> Any:
    """A tqdm progress bar on stderr while stdout is a terminal; None otherwise."""
    if not sys.stdout.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=label, leave=False, file=sys.stderr)
