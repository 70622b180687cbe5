"""client.workflows against real PostgreSQL: files, conversations, the fixture bartender, bad
input, concurrency and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import cdlstore
from cdlstore import Client, errors

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CHARACTER = ROOT / "examples" / "characters" / "iris_marlow.json"
EXAMPLE_WORKFLOWS = ROOT / "examples" / "workflows" / "iris_marlow.yaml"
FIXTURES = ROOT.parent / "shared" / "fixtures" / "whisperengine"


@pytest.fixture
def iris(client: Client) -> Client:
    client.characters.import_file(EXAMPLE_CHARACTER)
    client.workflows.import_file("iris_marlow", EXAMPLE_WORKFLOWS)
    return client


def test_a_conversation(iris: Client) -> None:
    wf = iris.workflows
    [candidate] = wf.check("iris_marlow", "I'd like a COCOA", "u1")
    assert (candidate.workflow, candidate.keyword, candidate.context) == (
        "hot_drink",
        "cocoa",
        {"drink": "cocoa", "price": 3},
    )
    step = wf.process("u1", "iris_marlow", "I'd like a cocoa")
    assert (step.action, step.state, step.status) == ("started", "brewing", "active")
    assert step.prompt_injection and "cocoa for 3 coins" in step.prompt_injection
    assert wf.process("u1", "iris_marlow", "open a tab").action == "unchanged"
    assert [a.workflow_name for a in wf.active("u1")] == ["hot_drink"]
    step = wf.process("u1", "iris_marlow", "here you are")
    assert (step.action, step.state, step.status) == ("transitioned", "served", "completed")
    assert wf.active("u1") == []
    assert wf.process("u1", "iris_marlow", "lovely weather").action == "none"


def test_llm_validation_start_cancel_and_timeouts(iris: Client) -> None:
    wf = iris.workflows
    pending = wf.process("u2", "iris_marlow", "warm me up")
    assert pending.action == "needs_llm_validation"
    assert pending.llm_prompt and '"warm me up"' in pending.llm_prompt
    assert wf.process("u2", "iris_marlow", "warm me up", llm_confirmed=True).status == "completed"
    instance = wf.start("u2", "iris_marlow", "fisherman_tab", {"total": 12})
    assert wf.render_prompt(instance) == "The tab is open at 12 coins."
    with pytest.raises(errors.LimitExceeded):
        wf.start("u2", "iris_marlow", "hot_drink")
    assert wf.cancel(instance, "closing time") is True
    assert wf.cancel(instance) is False
    wf.process("u2", "iris_marlow", "pour me a tea")
    assert wf.expire_timeouts(datetime.now(UTC) + timedelta(minutes=5)) == 0
    assert wf.expire_timeouts(datetime.now(UTC) + timedelta(minutes=11)) == 1
    assert wf.active("u2") == []


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is absent")
def test_the_fixture_bartender_end_to_end(client: Client) -> None:
    client.characters.import_file(FIXTURES / "dotty.json")
    client.workflows.import_file("dotty", FIXTURES / "dotty_bartender.yaml")
    wf, request = client.workflows, {"message_type": "user_request"}
    assert wf.process("bob", "dotty", "I'll have a whiskey").action == "none"  # context_required
    step = wf.process("bob", "dotty", "I'll have a whiskey", context=request)
    assert (step.workflow_name, step.context) == (
        "drink_order",
        {"drink_name": "whiskey", "price": 5},
    )
    assert wf.process("bob", "dotty", "here you go, 5 coins").status == "completed"
    assert wf.process("bob", "dotty", "give me a beer", context=request).context["price"] == 4
    assert wf.process("bob", "dotty", "never mind").status == "cancelled"
    assert wf.process("bob", "dotty", "surprise me").action == "needs_llm_validation"
    assert wf.process("bob", "dotty", "surprise me", llm_confirmed=True).state == "pending"
    assert wf.process("bob", "dotty", "sounds perfect").status == "completed"
    step = wf.process("bob", "dotty", "open a tab")
    assert step.prompt_injection and "Current tab total: 0 coins" in step.prompt_injection
    assert wf.process("bob", "dotty", "close my tab").status == "completed"
    wf.process("bob", "dotty", "order a rum", context=request)
    assert wf.expire_timeouts(datetime.now(UTC) + timedelta(minutes=6)) == 1


def test_bad_workflow_files(iris: Client, tmp_path: Path, conn: psycopg.Connection[Any]) -> None:
    before = conn.execute("SELECT count(*) AS n FROM cdl.character_workflows").fetchone()
    broken = tmp_path / "broken.yaml"
    broken.write_text("workflows: [unclosed")
    with pytest.raises(errors.InvalidInput, match="broken.yaml"):
        iris.workflows.import_file("iris_marlow", broken)
    with pytest.raises(errors.InvalidInput, match="must be a mapping"):
        iris.workflows.import_data("iris_marlow", ["a", "list"])
    bad_regex = EXAMPLE_WORKFLOWS.read_text().replace('"warm me up"', '"warm (me up"')
    broken.write_text(bad_regex)
    with pytest.raises(
        errors.InvalidInput, match=r"workflows\.storm_special\.triggers\.patterns\[1\]"
    ):
        iris.workflows.import_file("iris_marlow", broken)
    assert conn.execute("SELECT count(*) AS n FROM cdl.character_workflows").fetchone() == before


@pytest.mark.parametrize("message", ["(((", "a{2,}[", "\\", ".*" * 50, "é ñ 漢字 🙂"])
def test_messages_are_text_not_regex(iris: Client, message: str) -> None:
    assert iris.workflows.check("iris_marlow", message, "u3") == []
    assert iris.workflows.process("u3", "iris_marlow", message).action == "none"


def test_bad_messages(iris: Client) -> None:
    with pytest.raises(errors.InvalidInput):
        iris.workflows.process("", "iris_marlow", "hi")
    with pytest.raises(errors.LimitExceeded):
        iris.workflows.process("u4", "iris_marlow", "x" * 10001)
    with pytest.raises(errors.NotFound):
        iris.workflows.process("u4", "nobody", "hi")


def run_in_threads(count: int, work: Any) -> list[Any]:
    results: list[Any] = []
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        results.append(work())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_concurrent_messages_of_one_user(own_clone: str) -> None:
    with cdlstore.connect(own_clone, min_size=8, max_size=8) as client:
        client.characters.import_file(EXAMPLE_CHARACTER)
        client.workflows.import_file("iris_marlow", EXAMPLE_WORKFLOWS)
        wf = client.workflows
        starts = run_in_threads(
            8, lambda: wf.process("same", "iris_marlow", "pour me a tea").action
        )
        assert Counter(starts) == {"started": 1, "unchanged": 7}
        pays = run_in_threads(8, lambda: wf.process("same", "iris_marlow", "here you are").action)
        assert Counter(pays) == {"transitioned": 1, "none": 7}
        for i in range(20):
            wf.process(f"user{i}", "iris_marlow", "pour me a soup")
        later = datetime.now(UTC) + timedelta(hours=1)
        assert sum(run_in_threads(4, lambda: wf.expire_timeouts(later))) == 20
    with psycopg.connect(own_clone) as conn:
        events = dict(
            conn.execute(
                "SELECT event_type::text, count(*) FROM cdl.workflow_execution_log GROUP BY 1"
            ).fetchall()
        )
    assert events["workflow_started"] == 21
    assert events["transition_triggered"] == 1
    assert events["workflow_timeout"] == 20


def run_cli(dsn: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DATABASE_URL=dsn)
    return subprocess.run(
        [sys.executable, "-m", "cdlstore.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_workflow_and_chat(own_clone: str) -> None:
    assert run_cli(own_clone, "character", "import", str(EXAMPLE_CHARACTER)).returncode == 0
    out = run_cli(own_clone, "workflow", "import", "iris_marlow", str(EXAMPLE_WORKFLOWS))
    assert out.returncode == 0, out.stderr
    check = run_cli(own_clone, "workflow", "check", "iris_marlow", "I'd like some tea")
    assert json.loads(check.stdout.splitlines()[0])["workflow"] == "hot_drink"
    chat = run_cli(
        own_clone,
        "chat",
        "iris_marlow",
        "--user",
        "cli-user",
        "--json",
        stdin="pour me a grog\nhere you are\nwarm me up\n/yes\n",
    )
    assert chat.returncode == 0, chat.stderr
    actions = [json.loads(line)["action"] for line in chat.stdout.splitlines()]
    assert actions == ["started", "transitioned", "needs_llm_validation", "started"]
    bad = run_cli(own_clone, "workflow", "check", "iris_marlow", "hi", "--context", "[1]")
    assert bad.returncode == 2 and "must be a JSON object" in bad.stderr
