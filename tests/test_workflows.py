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
    [candidate] = wf.check_workflow_triggers("u1", "iris_marlow", "I'd like a COCOA")
    assert (candidate.workflow, candidate.keyword, candidate.context) == (
        "hot_drink",
        "cocoa",
        {"drink": "cocoa", "price": 3},
    )
    step = wf.process_workflow_message("u1", "iris_marlow", "I'd like a cocoa")
    assert (step.action, step.state, step.status) == ("started", "brewing", "active")
    assert step.prompt_injection and "cocoa for 3 coins" in step.prompt_injection
    assert wf.process_workflow_message("u1", "iris_marlow", "open a tab").action == "unchanged"
    assert [a.workflow_name for a in wf.get_user_active_workflows("u1")] == ["hot_drink"]
    step = wf.process_workflow_message("u1", "iris_marlow", "here you are")
    assert (step.action, step.state, step.status) == ("transitioned", "served", "completed")
    assert wf.get_user_active_workflows("u1") == []
    assert wf.process_workflow_message("u1", "iris_marlow", "lovely weather").action == "none"


def test_llm_validation_start_cancel_and_timeouts(iris: Client) -> None:
    wf = iris.workflows
    pending = wf.process_workflow_message("u2", "iris_marlow", "warm me up")
    assert pending.action == "needs_llm_validation"
    assert pending.llm_prompt and '"warm me up"' in pending.llm_prompt
    assert (
        wf.process_workflow_message("u2", "iris_marlow", "warm me up", llm_confirmed=True).status
        == "completed"
    )
    instance = wf.start_workflow_instance("u2", "iris_marlow", "fisherman_tab", {"total": 12})
    assert wf.render_workflow_prompt(instance) == "The tab is open at 12 coins."
    with pytest.raises(errors.LimitExceeded):
        wf.start_workflow_instance("u2", "iris_marlow", "hot_drink")
    assert wf.cancel_workflow_instance(instance, "closing time") is True
    assert wf.cancel_workflow_instance(instance) is False
    wf.process_workflow_message("u2", "iris_marlow", "pour me a tea")
    assert wf.expire_workflow_timeouts(datetime.now(UTC) + timedelta(minutes=5)) == 0
    assert wf.expire_workflow_timeouts(datetime.now(UTC) + timedelta(minutes=11)) == 1
    assert wf.get_user_active_workflows("u2") == []


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is absent")
def test_the_fixture_bartender_end_to_end(client: Client) -> None:
    """The shipped WhisperEngine file as it is, called as WhisperEngine calls it: no context."""
    client.characters.import_file(FIXTURES / "dotty.json")
    client.workflows.import_file("dotty", FIXTURES / "dotty_bartender.yaml")
    wf = client.workflows
    step = wf.process_workflow_message(
        "bob", "dotty", "I'll have a whiskey"
    )  # context_required: message_type
    assert (step.action, step.workflow_name, step.context) == (
        "started",
        "drink_order",
        {"drink_name": "whiskey", "price": 5},
    )
    assert step.prompt_injection and "Price: 5 coins" in step.prompt_injection
    assert wf.process_workflow_message("bob", "dotty", "here you go, 5 coins").status == "completed"
    assert wf.process_workflow_message("bob", "dotty", "give me a beer").context["price"] == 4
    assert wf.process_workflow_message("bob", "dotty", "never mind").status == "cancelled"
    assert (
        wf.process_workflow_message("bob", "dotty", "surprise me").action == "needs_llm_validation"
    )
    assert (
        wf.process_workflow_message("bob", "dotty", "surprise me", llm_confirmed=True).state
        == "pending"
    )
    assert wf.process_workflow_message("bob", "dotty", "sounds perfect").status == "completed"
    step = wf.process_workflow_message("bob", "dotty", "open a tab")
    assert step.prompt_injection and "Current tab total: 0 coins" in step.prompt_injection
    assert wf.process_workflow_message("bob", "dotty", "close my tab").status == "completed"
    wf.process_workflow_message("bob", "dotty", "order a rum")
    assert wf.expire_workflow_timeouts(datetime.now(UTC) + timedelta(minutes=6)) == 1
    assert (
        wf.process_workflow_message(
            "sam", "dotty", "I'll have a whiskey", request_context={"message_type": "system"}
        ).action
        == "none"
    )


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is absent")
def test_the_fixture_bartender_stems_and_llm_fall_through(client: Client) -> None:
    client.characters.import_file(FIXTURES / "dotty.json")
    client.workflows.import_file("dotty", FIXTURES / "dotty_bartender.yaml")
    wf = client.workflows
    assert wf.check_workflow_triggers("ann", "dotty", "let's begin") == []  # gin is not in begin
    assert wf.check_workflow_triggers("ann", "dotty", "a table for two") == []  # tab is not table
    step = wf.process_workflow_message(
        "ann", "dotty", "Two beers for my friend"
    )  # beer by its stem
    assert (step.action, step.workflow_name) == ("started", "drink_order")
    assert (
        wf.check_workflow_triggers("ann", "dotty", "Two beers for my friend")[0].keyword == "beer"
    )
    assert wf.process_workflow_message("ann", "dotty", "paid").status == "completed"
    message = "Surprise me and put it on my tab"
    asked = wf.process_workflow_message("ann", "dotty", message)
    assert (asked.action, asked.workflow_name) == ("needs_llm_validation", "custom_drink_order")
    step = wf.process_workflow_message(
        "ann", "dotty", message, llm_verdicts={"custom_drink_order": False}
    )
    assert (step.action, step.workflow_name, step.state) == ("started", "open_tab", "active")


def test_bad_workflow_files(iris: Client, tmp_path: Path, conn: psycopg.Connection[Any]) -> None:
    before = conn.execute("SELECT count(*) AS n FROM cdl.character_workflows").fetchone()
    broken = tmp_path / "broken.yaml"
    broken.write_text("workflows: [unclosed")
    with pytest.raises(errors.InvalidInput, match="broken.yaml"):
        iris.workflows.import_file("iris_marlow", broken)
    with pytest.raises(errors.InvalidInput, match="must be a mapping"):
        iris.workflows.import_workflow_from_yaml("iris_marlow", ["a", "list"])
    bad_regex = EXAMPLE_WORKFLOWS.read_text().replace('"warm me up"', '"warm (me up"')
    broken.write_text(bad_regex)
    with pytest.raises(
        errors.InvalidInput, match=r"workflows\.storm_special\.triggers\.patterns\[1\]"
    ):
        iris.workflows.import_file("iris_marlow", broken)
    assert conn.execute("SELECT count(*) AS n FROM cdl.character_workflows").fetchone() == before


@pytest.mark.parametrize("message", ["(((", "a{2,}[", "\\", ".*" * 50, "é ñ 漢字 🙂"])
def test_messages_are_text_not_regex(iris: Client, message: str) -> None:
    assert iris.workflows.check_workflow_triggers("u3", "iris_marlow", message) == []
    assert iris.workflows.process_workflow_message("u3", "iris_marlow", message).action == "none"


def test_bad_messages(iris: Client) -> None:
    with pytest.raises(errors.InvalidInput):
        iris.workflows.process_workflow_message("", "iris_marlow", "hi")
    with pytest.raises(errors.LimitExceeded):
        iris.workflows.process_workflow_message("u4", "iris_marlow", "x" * 10001)
    with pytest.raises(errors.NotFound):
        iris.workflows.process_workflow_message("u4", "nobody", "hi")


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
            8, lambda: wf.process_workflow_message("same", "iris_marlow", "pour me a tea").action
        )
        assert Counter(starts) == {"started": 1, "unchanged": 7}
        pays = run_in_threads(
            8, lambda: wf.process_workflow_message("same", "iris_marlow", "here you are").action
        )
        assert Counter(pays) == {"transitioned": 1, "none": 7}
        for i in range(20):
            wf.process_workflow_message(f"user{i}", "iris_marlow", "pour me a soup")
        later = datetime.now(UTC) + timedelta(hours=1)
        assert sum(run_in_threads(4, lambda: wf.expire_workflow_timeouts(later))) == 20
    with psycopg.connect(own_clone) as conn:
        events = dict(
            conn.execute(
                "SELECT event_type::text, count(*) FROM cdl.workflow_execution_log GROUP BY 1"
            ).fetchall()
        )
    assert events["workflow_started"] == 21
    assert events["transition_triggered"] == 1
    assert events["workflow_timeout"] == 20


def _wait_until_blocked(watcher: psycopg.Connection[Any], pid: int) -> None:
    """Until the backend pid waits for a lock (a deterministic interleaving, not a sleep)."""
    for _ in range(2000):
        row = watcher.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone()
        if row and row[0] == "Lock":
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"backend {pid} never waited for a lock")


def _ends(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT event_type::text FROM cdl.workflow_execution_log WHERE event_type IN "
        "('workflow_timeout', 'workflow_completed', 'workflow_cancelled') ORDER BY id"
    ).fetchall()
    return [r[0] for r in rows]


def test_the_sweeper_first_then_a_message_ends_an_instance_once(own_clone: str) -> None:
    """The sweeper's transaction holds the instance it is timing out while the payment arrives:
    the message waits, then sees the instance has ended (no transition, no second end)."""
    with cdlstore.connect(own_clone) as client:
        client.characters.import_file(EXAMPLE_CHARACTER)
        client.workflows.import_file("iris_marlow", EXAMPLE_WORKFLOWS)
        assert (
            client.workflows.process_workflow_message("pat", "iris_marlow", "pour me a tea").action
            == "started"
        )
    with (
        psycopg.connect(own_clone) as sweeper,
        psycopg.connect(own_clone, autocommit=True) as payer,
        psycopg.connect(own_clone, autocommit=True) as watcher,
    ):
        later = datetime.now(UTC) + timedelta(hours=1)
        assert sweeper.execute("SELECT cdl.expire_workflow_timeouts(%s)", [later]).fetchone() == (
            1,
        )
        result: list[Any] = []
        pay = threading.Thread(
            target=lambda: result.append(
                payer.execute(
                    "SELECT cdl.process_workflow_message('pat', 'iris_marlow', 'here you are')"
                ).fetchone()[0]
            )
        )
        pay.start()
        _wait_until_blocked(watcher, payer.info.backend_pid)
        sweeper.commit()
        pay.join(timeout=30)
        assert result and result[0]["action"] != "transitioned"
        status = watcher.execute("SELECT status::text FROM cdl.workflow_instances").fetchall()
        assert status == [("timeout",)]
        assert _ends(watcher) == ["workflow_timeout"]


def test_a_message_first_then_the_sweeper_ends_an_instance_once(own_clone: str) -> None:
    """The payment's transaction is open when the sweeper runs: the sweeper skips the instance
    (SKIP LOCKED) and the payment completes it."""
    with cdlstore.connect(own_clone) as client:
        client.characters.import_file(EXAMPLE_CHARACTER)
        client.workflows.import_file("iris_marlow", EXAMPLE_WORKFLOWS)
        client.workflows.process_workflow_message("pat", "iris_marlow", "pour me a tea")
    with (
        psycopg.connect(own_clone) as payer,
        psycopg.connect(own_clone, autocommit=True) as sweeper,
    ):
        step = payer.execute(
            "SELECT cdl.process_workflow_message('pat', 'iris_marlow', 'here you are')"
        ).fetchone()[0]
        assert step["action"] == "transitioned"
        later = datetime.now(UTC) + timedelta(hours=1)
        assert sweeper.execute("SELECT cdl.expire_workflow_timeouts(%s)", [later]).fetchone() == (
            0,
        )
        payer.commit()
        assert sweeper.execute("SELECT cdl.expire_workflow_timeouts(%s)", [later]).fetchone() == (
            0,
        )
        status = sweeper.execute("SELECT status::text FROM cdl.workflow_instances").fetchall()
        assert status == [("completed",)]
        assert _ends(sweeper) == ["workflow_completed"]


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
        stdin="pour me a grog\nhere you are\nwarm me up\n/yes\nwarm me up\n/no\n",
    )
    assert chat.returncode == 0, chat.stderr
    actions = [json.loads(line)["action"] for line in chat.stdout.splitlines()]
    assert actions == [
        "started",
        "transitioned",
        "needs_llm_validation",
        "started",
        "needs_llm_validation",
        "none",  # declined, and no other workflow matches
    ]
    bad = run_cli(own_clone, "workflow", "check", "iris_marlow", "hi", "--context", "[1]")
    assert bad.returncode == 2 and "must be a JSON object" in bad.stderr
