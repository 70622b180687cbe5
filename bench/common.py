"""What the benchmarks share: pgbench runs and timed loops. Numbers only, never pass/fail."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cdlstore.dev import localdb, testdb

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))


def pgbench_init(dsn: str) -> None:
    subprocess.run(
        [str(localdb.find_bindir() / "pgbench"), "-i", "-q", "-s", "1"],
        env=dict(os.environ, **testdb.libpq_env(dsn)),
        capture_output=True,
        check=True,
    )


def pgbench(dsn: str, *args: str, script: str | None = None, options: str = "") -> dict[str, float]:
    env = dict(os.environ, **testdb.libpq_env(dsn), PGOPTIONS=options)
    cmd = [
        str(localdb.find_bindir() / "pgbench"),
        "-n",
        "-M",
        "prepared",
        "-T",
        str(SECONDS),
        *args,
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        if script:
            f.write(script)
            cmd += ["-f", f.name]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    Path(f.name).unlink()
    if out.returncode != 0:
        sys.exit(f"pgbench failed: {out.stderr}")
    tps = float(re.search(r"tps = ([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms", out.stdout).group(1))  # type: ignore[union-attr]
    done = re.search(r"number of transactions actually processed: (\d+)", out.stdout)
    return {"tps": tps, "latency_ms": latency, "transactions": float(done.group(1) if done else 0)}


def best_alternating(
    runs: dict[str, tuple[str, list[str], str | None]], options: str = "", rounds: int = 3
) -> dict[str, dict[str, float]]:
    """The fastest of each named pgbench run (database, arguments, script), the runs taking
    turns for a few rounds: noise here only ever slows a run down, and comes and goes within
    seconds, so runs compared with each other should share its stretches."""
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for name, (dsn, args, script) in runs.items():
            run = pgbench(dsn, *args, script=script, options=options)
            if name not in best or run["tps"] > best[name]["tps"]:
                best[name] = run
    return best


def timed_loops(fns: dict[str, Any], n: int, rounds: int = 3) -> dict[str, float]:
    """Calls/s of each function, the best of a few rounds of n calls, the functions taking turns."""
    best = dict.fromkeys(fns, 0.0)
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = max(best[name], n / (time.perf_counter() - start))
    return best
