"""A bounded stress test: many clients at once over characters, workflows, documents and the task
queue, then the invariants. STRESS_CLIENTS and STRESS_ROUNDS scale it (`make stress`)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

import cdlstore
from cdlstore import errors

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = int(os.environ.get("STRESS_CLIENTS", "8"))
ROUNDS = int(os.environ.get("STRESS_ROUNDS", "25"))


def leaves(value: Any) -> int:
    if isinstance(value, dict) and value:
        return sum(leaves(v) for v in value.values())
    return 1


def test_many_clients_keep_every_invariant(own_clone: str) -> None:
    with cdlstore.connect(own_clone, min_size=CLIENTS, max_size=CLIENTS) as client:
        client.characters.import_file(ROOT / "examples" / "characters" / "iris_marlow.json")
        client.workflows.import_file(
            "iris_marlow", ROOT / "examples" / "workflows" / "iris_marlow.yaml"
        )
        doc = client.documents.put_document("stress", "config", {"n": 0})
        client.documents.set_tag(doc.document_uuid, 1, "live")
        for first in range(0, CLIENTS * ROUNDS, 1000):  # batches hold at most 1,000
            client.operations.enqueue_tasks(
                [
                    {"task_name": f"t{i}", "task_type": "stress", "max_retries": 0}
                    for i in range(first, min(first + 1000, CLIENTS * ROUNDS))
                ]
            )
        outcomes: Counter[str] = Counter()
        completed: list[str] = []
        lock = threading.Lock()
        failures: list[BaseException] = []

        def work(n: int) -> None:
            rng = random.Random(n)
            try:
                for r in range(ROUNDS):
                    client.characters.upsert_character_field(
                        "iris_marlow", f"stress.client{n}.round", r
                    )
                    if r % 5 == 0:
                        client.characters.create_character_version("iris_marlow", f"c{n} r{r}")
                    message = rng.choice(
                        ["pour me a tea", "here you are", "never mind", "lovely weather"]
                    )
                    step = client.workflows.process_workflow_message(
                        f"user{n % 3}", "iris_marlow", message
                    )
                    ref = client.documents.put_document(
                        "stress", "config", {"n": n, "r": r}, document_uuid=doc.document_uuid
                    )
                    try:
                        client.documents.set_tag(
                            doc.document_uuid, ref.version, "live", expected_version=ref.version - 1
                        )
                        tag = "tag-moved"
                    except errors.Conflict:
                        tag = "tag-conflict"
                    tasks = client.operations.claim_tasks(f"w{n}", ["stress"], 1)
                    for task in tasks:
                        client.operations.complete_task(task.execution_id, task.lease_token)
                    with lock:
                        outcomes[step.action] += 1
                        outcomes[tag] += 1
                        completed.extend(str(t.execution_id) for t in tasks)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        start = time.monotonic()
        threads = [threading.Thread(target=work, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not failures, failures[:3]
        assert time.monotonic() - start < 300

        # characters: versions gap-free, every client's last write there, rows match the document
        iris = client.characters.get_character_complete("iris_marlow")
        assert [
            v.version_number for v in client.characters.list_character_versions("iris_marlow")
        ] == list(range(1, iris.version_count + 1))
        assert iris.version_count == CLIENTS * ((ROUNDS + 4) // 5)
        assert {k: v["round"] for k, v in iris.cdl["stress"].items()} == {
            f"client{n}": ROUNDS - 1 for n in range(CLIENTS)
        }
    with psycopg.connect(own_clone) as conn:
        rows = conn.execute("SELECT count(*) FROM cdl.character_field_values").fetchone()[0]
        assert rows == leaves(iris.cdl)
        # workflows: one transition logged per transition result, never two from one state
        transitions = conn.execute(
            "SELECT count(*) FROM cdl.workflow_execution_log "
            "WHERE event_type = 'transition_triggered'"
        ).fetchone()[0]
        assert transitions == outcomes["transitioned"]
        doubled = conn.execute("""
            SELECT count(*) FROM (SELECT user_id FROM cdl.workflow_instances
                                  WHERE status = 'active' GROUP BY user_id HAVING count(*) > 1) x
        """).fetchone()[0]
        assert doubled == 0
        # documents: versions gap-free, one change event per put, the tag moved once per success
        versions = conn.execute(
            "SELECT array_agg(version ORDER BY version) FROM docstore.document_header"
        ).fetchone()[0]
        assert versions == list(range(1, CLIENTS * ROUNDS + 2))
        puts = conn.execute(
            "SELECT count(*) FROM docstore.change_event WHERE operation = 'put'"
        ).fetchone()[0]
        assert puts == len(versions)
        moves = conn.execute(
            "SELECT count(*) FROM docstore.tag_event WHERE operation = 'move'"
        ).fetchone()[0]
        assert moves == outcomes["tag-moved"]
        # the queue: every task claimed once and completed once
        claims = conn.execute("""SELECT count(*), count(DISTINCT entity_id) FROM ops.events
                                 WHERE event_type = 'task_claimed'""").fetchone()
        assert claims[0] == claims[1] == len(completed) == len(set(completed))
        assert conn.execute(
            "SELECT count(*) FROM ops.task_executions WHERE status = 'completed'"
        ).fetchone()[0] == len(completed)
