"""What a new user does after ``pip install cdlstore`` and ``cdlstore migrate``.

``scripts/wheel_smoke.py`` copies this file into a temporary directory outside the checkout and
runs it there with the python of a fresh virtualenv that holds only the wheel and its
dependencies, ``DATABASE_URL`` pointing at a freshly migrated database. It imports a character,
imports a workflow file and processes a message, puts a document, enqueues and claims a task,
all as the application role, and fails (exit status 1, AssertionError) when any step does not
give what the README promises. It imports nothing from the checkout.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cdlstore

WORKFLOW_YAML = """\
version: "1.0"
character: "smoke_tester"
workflows:
  hot_drink:
    description: "Order a hot drink"
    triggers:
      patterns: ["i'?d like (a |an |some )?(\\\\w+)"]
    states:
      brewing:
        prompt_injection: "The visitor ordered {context.drink}."
        transitions:
          - to_state: "served"
            triggers:
              keywords: ["paid"]
      served:
        final: true
    initial_state: "brewing"
    on_trigger:
      extract_context:
        drink:
          from: "pattern_group"
          group: 2
          default: "tea"
          transform: "lowercase"
"""


def main() -> None:
    installed = Path(cdlstore.__file__).resolve()
    assert Path(sys.prefix).resolve() in installed.parents, f"cdlstore from {installed}"
    with cdlstore.connect(role="cdlstore_app", actor="smoke", tenant="smoke") as client:
        character_id = client.characters.import_character_from_json(
            {"identity": {"name": "Smoke Tester", "occupation": "canteen keeper"}}
        )
        character = client.characters.get_character_complete("Smoke Tester")
        assert character.id == character_id and character.occupation == "canteen keeper"

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "smoke_tester.yaml"
            path.write_text(WORKFLOW_YAML)
            client.workflows.import_file("smoke_tester", path)
        step = client.workflows.process_workflow_message(
            "user-1", "smoke_tester", "I'd like a Cocoa"
        )
        assert (step.action, step.state) == ("started", "brewing"), step
        assert step.prompt_injection == "The visitor ordered cocoa.", step
        step = client.workflows.process_workflow_message("user-1", "smoke_tester", "paid")
        assert (step.action, step.state) == ("transitioned", "served"), step

        ref = client.documents.put_document("acme", "agent_config", {"model": "x"}, session_id="s1")
        document = client.documents.get_document(ref.document_uuid)
        assert (document.version, document.session_id) == (1, "s1"), document

        task_id = client.operations.enqueue_task("embed doc 7", "embed", {"doc": 7}, priority=5)
        claimed = client.operations.claim_tasks("worker-1", ["embed"], 10)
        assert [t.task_name for t in claimed] == ["embed doc 7"], claimed
        assert claimed[0].execution_id == task_id and claimed[0].status == "running"
        done = client.operations.complete_task(task_id, claimed[0].lease_token, {"ok": True})
        assert done.status == "completed", done
    dev = sorted(name for name in sys.modules if name.startswith("cdlstore.dev"))
    assert not dev, f"the runtime imported the development-cluster code: {dev}"
    print(f"smoke: character {character_id}, workflow, document, task: all fine (from {installed})")


if __name__ == "__main__":
    main()
