"""The functions of the SQL function files whose body is longer than a limit (default 80 lines).

    python scripts/function_lengths.py [limit]

Prints ``lines file:line name`` for each, longest first; exits 0 (a report, not a check).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[1] / "pybind" / "cdlstore" / "sql" / "functions"
DEFINITION = re.compile(
    r"CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE)\s+([\w.]+)\s*\(.*?\$(\w*)\$(.*?)\$\2\$",
    re.S | re.I,
)


def long_functions(limit: int) -> list[tuple[int, str, str]]:
    found = []
    for path in sorted(FUNCTIONS.rglob("*.sql")):
        text = path.read_text()
        for m in DEFINITION.finditer(text):
            lines = m.group(3).strip("\n").count("\n") + 1
            if lines > limit:
                where = f"{path.relative_to(FUNCTIONS)}:{text[: m.start()].count(chr(10)) + 1}"
                found.append((lines, where, m.group(1)))
    return sorted(found, reverse=True)


if __name__ == "__main__":
    for lines, where, name in long_functions(int(sys.argv[1]) if len(sys.argv) > 1 else 80):
        print(f"{lines:4d} {where} {name}")
