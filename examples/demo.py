"""`make demo`: import the example characters and workflows, then play a scripted conversation
at the lighthouse canteen -- order and pay, order and cancel, a confirmed storm special, a tab
opened and settled, and an order left to time out -- printing every step."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cdlstore
from cdlstore.cli import _print_step

EXAMPLES = Path(__file__).resolve().parent
SCRIPT = [
    ("I'd like a cocoa, please", False),
    ("here you are, 3 coins", False),
    ("could I have some grog", False),
    ("never mind, changed my mind", False),
    ("something for the storm", False),
    ("something for the storm", True),  # the LLM said yes
    ("open a tab for the crew", False),
    ("settle my tab", False),
    ("pour me a soup", False),
]


def main() -> None:
    with cdlstore.connect() as client:
        for path in sorted((EXAMPLES / "characters").glob("*.json")):
            client.characters.import_file(path)
        client.workflows.import_file("iris_marlow", EXAMPLES / "workflows" / "iris_marlow.yaml")
        iris = client.characters.get_character_complete("iris_marlow")
        print(
            f"{iris.name}: {iris.occupation}; workflows: "
            + ", ".join(w["workflow_name"] for w in iris.workflows)
        )
        user = f"visitor-{uuid.uuid4().hex[:8]}"
        for message, confirmed in SCRIPT:
            print(f"> {message}" + ("   [LLM confirmed]" if confirmed else ""))
            _print_step(
                client.workflows.process_workflow_message(user, "iris_marlow", message, confirmed)
            )
        later = datetime.now(UTC) + timedelta(hours=1)
        expired = client.workflows.expire_workflow_timeouts(as_of=later)
        print(
            f"an hour later: {expired} order(s) timed out; "
            f"{user} has {len(client.workflows.get_user_active_workflows(user))} active workflow(s)"
        )


if __name__ == "__main__":
    main()
