"""The PL/Proxy scale-out: the proxy hop on process_workflow_message (proxy vs the same shard
called directly, in the same run) and message throughput through the proxy with 1 and 2 shards.

Runs on the local cluster of cdlstore.dev.cluster (its own databases, ``cdlstore_bench_*``).
Numbers only: every shard shares this machine's cores with the proxy and the clients, so the
1- vs 2-shard figure says what the routing costs here, not how far two machines carry.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg

import cdlstore
from cdlstore.dev import cluster

from .common import SECONDS

ROOT = Path(__file__).resolve().parents[1]
CALL = "SELECT cdl.process_workflow_message(%s, 'iris_marlow', %s)"
MESSAGES = ["I'd like a cocoa", "here you are"]  # start, then complete: one instance per pair


def load(proxy: str) -> None:
    with cdlstore.connect(proxy) as client:
        client.characters.import_file(ROOT / "examples" / "characters" / "iris_marlow.json")
        client.workflows.import_file(
            "iris_marlow", ROOT / "examples" / "workflows" / "iris_marlow.yaml"
        )


def run(dsn: str, clients: int, seconds: float, tag: str) -> float:
    """Messages per second from ``clients`` threads, each its own user set and connection."""
    counts = [0] * clients
    stop = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def worker(n: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET ROLE cdlstore_app")
            barrier.wait()
            i = 0
            while time.monotonic() < stop:
                user = f"{tag}-{n}-{(i // 2) % 50}"
                conn.execute(CALL, [user, MESSAGES[i % 2]])
                i += 1
            counts[n] = i

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def best_of(rounds: int, runs: dict[str, Any]) -> dict[str, float]:
    """The best of each run, the runs taking turns: noise here only slows runs down."""
    best: dict[str, float] = {}
    for r in range(rounds):
        for name, work in runs.items():
            best[name] = max(best.get(name, 0.0), work(r))
    return best


def main() -> None:
    seconds = max(SECONDS / 3, 2)
    one = cluster.start(1, "cdlstore_bench_one", fresh=True)
    [direct] = cluster.shard_urls("cdlstore_bench_one", 1)
    load(one)
    hop = best_of(
        3,
        {
            "direct": lambda r: run(direct, 1, seconds, f"d{r}"),
            "proxy": lambda r: run(one, 1, seconds, f"p{r}"),
        },
    )
    print(
        f"process_workflow_message, 1 client: direct {hop['direct']:.0f}/s, through the proxy "
        f"{hop['proxy']:.0f}/s ({hop['proxy'] / hop['direct']:.2f} x)"
    )
    two = cluster.start(2, "cdlstore_bench_two", fresh=True)
    load(two)
    for clients in (1, 4):
        scale = best_of(
            3,
            {
                "1 shard": lambda r, c=clients: run(one, c, seconds, f"s1-{c}-{r}"),
                "2 shards": lambda r, c=clients: run(two, c, seconds, f"s2-{c}-{r}"),
            },
        )
        print(
            f"through the proxy, {clients} clients: 1 shard {scale['1 shard']:.0f}/s, "
            f"2 shards {scale['2 shards']:.0f}/s (all on this machine's cores)"
        )


if __name__ == "__main__":
    main()
