"""The CLI of every store, run in-process (cdlstore.cli.main) against a database of its own:
--json documents, tables, error lines with our codes, exit codes, chat written to ops,
workflow graphs, and the metrics endpoint while the database is up, gone and back."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

import cdlstore
from cdlstore import cli, diagrams, errors
from cdlstore.metrics import OpsCollector, make_server

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "characters").glob("*.json"))
IRIS_WORKFLOWS = ROOT / "examples" / "workflows" / "iris_marlow.yaml"
FIXTURES = ROOT.parent / "shared" / "fixtures" / "whisperengine"


@pytest.fixture
def db(own_clone: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", own_clone)
    monkeypatch.setenv("CDLSTORE_CHAT_HISTORY", "/dev/null")
    return own_clone


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_characters_list_and_import_print_their_keys(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    imported = as_json(capsys, "character", "import", *map(str, EXAMPLES))
    assert [i["key"] for i in imported] == ["iris_marlow", "professor_anselm_quill"]
    code, out, _ = run(capsys, "character", "list")
    assert code == 0 and out.splitlines()[0].split() == ["KEY", "NAME", "STATUS", "UPDATED"]
    assert "professor_anselm_quill  Professor Anselm Quill  active" in out
    listed = as_json(capsys, "character", "list")
    assert [c["normalized_name"] for c in listed] == ["iris_marlow", "professor_anselm_quill"]
    assert as_json(capsys, "character", "render") == {"rendered": 0}


def test_docs_commands(db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text('{"model": "x"}')
    ref = as_json(capsys, "docs", "put", "acme", "cfg", str(body), "--session", "s1")
    uuid = ref["document_uuid"]
    body.write_text('{"model": "y"}')
    second = as_json(
        capsys, "docs", "put", "acme", "cfg", str(body), "--uuid", uuid, "--expected-version", "1"
    )
    assert second["version"] == 2
    assert as_json(capsys, "docs", "tag", uuid, "1", "production")["previous_version"] is None
    assert as_json(capsys, "docs", "get", uuid, "--tag", "production")["body"] == {"model": "x"}
    assert as_json(capsys, "docs", "get", uuid)["body"] == {"model": "y"}
    history = as_json(capsys, "docs", "history", uuid)
    assert [(v["version"], v["tags"]) for v in history["versions"]] == [
        (2, []),
        (1, ["production"]),
    ]
    tagged = as_json(capsys, "docs", "tagged", "acme", "cfg", "production")
    assert [(d["document_uuid"], d["version"]) for d in tagged] == [(uuid, 1)]
    assert [d["version"] for d in as_json(capsys, "docs", "list", "acme", "cfg")] == [2]
    code, out, _ = run(capsys, "docs", "history", uuid)
    assert code == 0 and re.search(r"^1\s+\S+\s+-\s+s1\s+\[\"production\"\]$", out, re.M)
    assert [e["operation"] for e in as_json(capsys, "docs", "changes", "idx", "--peek")] == [
        "put",
        "put",
        "tag",
    ]
    assert len(as_json(capsys, "docs", "changes", "idx")) == 3
    assert as_json(capsys, "docs", "changes", "idx") == []  # acknowledged
    code, _, err = run(capsys, "docs", "put", "acme", "cfg", str(body), "--uuid", uuid,
                       "--expected-version", "1")  # fmt: skip
    assert code == 6 and err.startswith("cdlstore: error: [CD003] ") and err.count("\n") == 1


def test_ops_commands(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with cdlstore.connect(db) as client:
        first = client.operations.enqueue_task("t1", "embed")
        client.operations.enqueue_task("t2", "summarize")
        run_id = client.operations.create_workflow("nightly", "etl")
    tasks = as_json(capsys, "ops", "tasks", "list")
    assert [t["task_name"] for t in tasks] == ["t2", "t1"]
    assert [t["task_name"] for t in as_json(capsys, "ops", "tasks", "list", "--type", "embed")] == [
        "t1"
    ]
    cancelled = as_json(capsys, "ops", "tasks", "cancel", str(first), "--reason", "no need")
    assert (cancelled["status"], cancelled["error"]) == ("cancelled", "no need")
    assert as_json(capsys, "ops", "tasks", "show", str(first))["status"] == "cancelled"
    assert as_json(capsys, "ops", "tasks", "retry", str(first))["status"] == "pending"
    code, _, err = run(capsys, "ops", "tasks", "retry", str(first))
    assert code == 6 and "[CD004]" in err and "only a failed or cancelled task" in err
    code, _, err = run(capsys, "ops", "tasks", "show", "00000000-0000-0000-0000-000000000000")
    assert code == 4 and "[CD002]" in err
    code, _, err = run(capsys, "ops", "tasks", "show", "not-a-uuid")
    assert code == 5 and "[22P02]" in err
    assert [r["name"] for r in as_json(capsys, "ops", "runs", "list")] == ["nightly"]
    assert as_json(capsys, "ops", "runs", "show", str(run_id))["status"] == "pending"
    code, out, _ = run(capsys, "ops", "events", "tail", "--no-follow", "--json")
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [e["event_type"] for e in events][-2:] == [
        "task_cancelled",
        "task_retried",
    ]


def test_events_tail_follows_the_feed(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The tail prints the past event, then a new one recorded while it listens."""
    with cdlstore.connect(db) as client:
        client.operations.record_event("before")
        tail = threading.Thread(
            target=cli.main, args=(["ops", "events", "tail", "--json", "--max-events", "1"],)
        )
        tail.start()
        while tail.is_alive():  # until the listener, once connected, has seen one
            client.operations.record_event("after")
            tail.join(0.2)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["event_type"] == "before" and lines[-1]["event_type"] == "after"


def test_chat_writes_every_message_to_ops(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import io

    assert run(capsys, "character", "import", str(EXAMPLES[0]))[0] == 0
    assert run(capsys, "workflow", "import", "iris_marlow", str(IRIS_WORKFLOWS))[0] == 0
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("I'd like a cocoa\nhere you are\n/quit\nnot read\n")
    )
    code, out, err = run(capsys, "chat", "Iris Marlow", "--user", "u1")
    assert code == 0, err
    assert out.splitlines()[0] == "Iris Marlow: started · hot_drink → brewing (active)"
    assert "prompt: " in out and "hot_drink → served (completed)" in out
    with cdlstore.connect(db) as client:
        talk = client.operations.get_conversation("chat:iris_marlow:u1")
    assert sorted((m.role, m.content) for m in talk if m.role == "user") == [
        ("user", "I'd like a cocoa"),
        ("user", "here you are"),
    ]
    assert [m.role for m in talk].count("assistant") == 2
    today = datetime.now(UTC).date().isoformat()
    exported = as_json(
        capsys, "export-training", "--type", "messages", "--date", today, "--out", str(tmp_path)
    )
    assert exported["rows"] == 4
    rows = [json.loads(x) for x in Path(exported["path"]).read_text().splitlines()]
    assert {r["content"] for r in rows} >= {"I'd like a cocoa", "here you are"}
    # the kinds and formats are SQL's (ops.export_source): one line, CD001, exit 5, no file
    code, _, err = run(
        capsys, "export-training", "--type", "secrets", "--date", today, "--out", str(tmp_path)
    )
    assert code == 5 and "[CD001] unknown export kind: secrets" in err, err
    assert "HINT: The kinds are events, tasks, workflows and messages." in err
    assert not (tmp_path / "secrets").exists()


def test_errors_are_one_line_with_code_and_exit_code(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "character", "show", "nobody")
    assert (code, err) == (
        4,
        "cdlstore: error: [CD002] character 'nobody' not found"
        " | HINT: Names match after normalization (cdl.normalize_name).\n",
    )
    code, _, err = run(capsys, "workflow", "graph", "nobody")
    assert code == 4 and err.startswith("cdlstore: error: [CD002] ")
    with pytest.raises(SystemExit) as usage:
        cli.main(["docs", "put"])
    assert usage.value.code == 2 and "usage:" in capsys.readouterr().err
    # the local cluster, stopped: how to start it
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("CDLSTORE_PGDATA", str(tmp_path / "nothing"))
    code, _, err = run(capsys, "character", "list")
    assert code == 3 and err.count("\n") == 1 and "HINT: " in err and "cdlstore db start" in err


def graph_states(graphs: list[dict[str, Any]]) -> set[str]:
    return {s["name"] for g in graphs for s in g["states"]}


def check_drawings(client: cdlstore.Client, character: str) -> None:
    graphs = client.workflows.get_workflow_graph(character)
    mermaid = client.workflows.graph(character)
    dot = client.workflows.graph(character, format="dot")
    assert mermaid.startswith("stateDiagram-v2\n") and dot.startswith("digraph ")
    for g in graphs:
        for s in g["states"]:
            assert f'state "{s["name"]}" as ' in mermaid
            assert f'[label="{s["name"]}"' in dot
        assert re.search(rf"\[\*\] --> {g['workflow_name']}__{g['initial_state']}\b", mermaid)
    svg = subprocess.run(
        ["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=False, timeout=60
    )
    assert svg.returncode == 0, svg.stderr
    assert svg.stdout.lstrip().startswith("<?xml") and "</svg>" in svg.stdout
    for name in graph_states(graphs):
        assert f">{name}</text>" in svg.stdout


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_workflow_graphs_of_the_example(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with cdlstore.connect(db) as client:
        client.characters.import_file(EXAMPLES[0])
        client.workflows.import_file("iris_marlow", IRIS_WORKFLOWS)
        check_drawings(client, "iris_marlow")
        code, out, _ = run(capsys, "workflow", "graph", "iris_marlow", "hot_drink")
        assert code == 0 and out == client.workflows.graph("iris_marlow", "hot_drink")
        assert "hot_drink__brewing --> [*] : timeout 600s / cancel_transaction" in out
        code, out, _ = run(capsys, "workflow", "graph", "iris_marlow", "--format", "svg")
        assert code == 0 and "</svg>" in out
    with pytest.raises(errors.InvalidInput):
        diagrams.render([], "png", "x")


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is absent")
@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_workflow_graphs_of_the_fixture(db: str) -> None:
    with cdlstore.connect(db) as client:
        client.characters.import_file(FIXTURES / "dotty.json")
        client.workflows.import_file("dotty", FIXTURES / "dotty_bartender.yaml")
        check_drawings(client, "dotty")


def test_svg_without_graphviz_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(diagrams.GraphvizMissing) as missing:
        diagrams.to_svg("digraph {}")
    assert missing.value.hint and "apt-get install graphviz" in missing.value.hint


@pytest.fixture
def serve(request: pytest.FixtureRequest) -> Iterator[Any]:
    servers = []

    def start(collector: OpsCollector) -> str:
        server = make_server("127.0.0.1", 0, collector)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - local test server
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_while_the_database_is_unreachable(serve: Any) -> None:
    def unreachable() -> cdlstore.Client:
        return cdlstore.connect("postgresql://nobody@127.0.0.1:1/none")

    base = serve(OpsCollector(unreachable))
    for _ in range(3):
        status, text = get(base + "/metrics")
        assert status == 200 and "cdlstore_up 0.0" in text
        assert "process_cpu_seconds_total" in text and "cdlstore_queue_depth" not in text
    assert get(base + "/healthz") == (200, "ok\n")
    assert get(base + "/nothing")[0] == 404


def test_metrics_replace_connections_a_restart_left_dead(own_clone: str, serve: Any) -> None:
    """Every backend of the pool killed (as a restart does): the next scrape still answers."""
    client = cdlstore.connect(own_clone, min_size=2, max_size=2)
    try:
        base = serve(OpsCollector(client))
        status, text = get(base + "/metrics")
        assert status == 200 and "cdlstore_up 1.0" in text and "cdlstore_queue_depth" in text
        with psycopg.connect(own_clone, autocommit=True) as admin:
            pids = [
                pid
                for (pid,) in admin.execute(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
            ]
            assert pids
            admin.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM unnest(%s::int[]) pid", [pids]
            )
        for _ in range(3):
            status, text = get(base + "/metrics")
            assert status == 200 and "cdlstore_up 1.0" in text
    finally:
        client.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_metrics_serve_answers_while_the_database_is_stopped(tmp_path: Path) -> None:
    """The command itself, on a local cluster that is not running: 200 and cdlstore_up 0."""
    import os
    import signal
    import sys
    import time

    port = free_port()
    env = dict(os.environ, CDLSTORE_PGDATA=str(tmp_path / "stopped"))
    env.pop("DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "cdlstore.cli", "metrics", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # until the process listens
            try:
                assert get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        for _ in range(2):
            status, text = get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200 and "cdlstore_up 0.0" in text and "process_" in text
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0 and "database unavailable" in err


def test_shell_completion_completes_commands(tmp_path: Path) -> None:
    import os
    import sys

    out = tmp_path / "completions"
    env = dict(
        os.environ,
        _ARGCOMPLETE="1",
        COMP_LINE="cdlstore op",
        COMP_POINT="11",
        _ARGCOMPLETE_STDOUT_FILENAME=str(out),
    )
    done = subprocess.run(
        [sys.executable, "-m", "cdlstore.cli"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0 and out.read_text().split() == ["ops"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_odd_names_and_triggers_still_draw() -> None:
    """Quotes, backslashes, braces, colons and newlines in names and triggers: dot still renders
    the dot text, and Mermaid ids stay plain."""
    odd = 'a "quoted" \\ back{slash}: #1\nnext'
    graph = {
        "workflow_name": odd,
        "initial_state": odd,
        "on_trigger_action": "create_transaction",
        "triggers": [{"type": "pattern_match", "value": '(?:x|"y");{2}'}],
        "states": [
            {"name": odd, "final": False, "timeout_seconds": 5, "timeout_action": None},
            {"name": "end", "final": True, "timeout_seconds": None, "timeout_action": None},
        ],
        "transitions": [
            {"from_state": odd, "to_state": "end", "patterns": ["\\d+:"], "keywords": ['"k"'],
             "action": "complete_transaction"}
        ],
    }  # fmt: skip
    svg = subprocess.run(
        ["dot", "-Tsvg"], input=diagrams.to_dot([graph], odd), capture_output=True, text=True
    )
    assert svg.returncode == 0 and "</svg>" in svg.stdout, svg.stderr
    mermaid = diagrams.to_mermaid([graph])
    for line in mermaid.splitlines()[1:]:
        ids = re.findall(r"(?:^|--> )(\S+)", line.strip())
        assert all(re.fullmatch(r"\[\*\]|\w+|state|\}", i) for i in ids), line
    assert "\n" not in odd.join(diagrams._edges(graph)[0][2:3])  # labels are one line


def _cli_on_a_terminal(dsn: str, *args: str) -> tuple[int, str]:
    """Run the CLI with its stdout on a pseudo-terminal; returns the exit code and stderr."""
    import os
    import pty
    import sys

    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cdlstore.cli", *args],
            env=dict(os.environ, DATABASE_URL=dsn),
            stdout=follower,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(follower)
        os.close(leader)
    return done.returncode, done.stderr.decode()


def test_progress_bars_show_on_a_terminal_only(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    examples = Path(__file__).resolve().parents[1] / "examples" / "characters"
    files = sorted(str(p) for p in examples.glob("*.json"))[:2]
    assert len(files) == 2
    code, err = _cli_on_a_terminal(db, "character", "import", *files)
    assert code == 0 and "import" in err and "file" in err, err
    code, err = _cli_on_a_terminal(db, "maintain", "--once")
    assert code == 0 and "maintenance" in err and "duty" in err, err
    code, out, err = run(capsys, "maintain", "--once")  # stdout is no terminal here: no bar
    assert code == 0 and "maintenance" not in err and "workflow_timeouts" in out, (out, err)
