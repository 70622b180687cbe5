"""client.game against real PostgreSQL: play, import, compare with docstore, bad documents,
concurrent scene choices, retries and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

import cdlstore
from cdlstore import Client, errors
from cdlstore.domain import Domain, SyncExecutor, method
from cdlstore.errors import retry_transient
from cdlstore.models import GameSession

ACCOUNTS = [
    {"id": "acc-1", "email": "lee@example.org", "displayName": "Lee"},
    {"id": "acc-2", "email": "mo@example.org", "displayName": "Mo", "status": "active"},
]
PROFILES = [
    {
        "id": "pro-1",
        "accountId": "acc-1",
        "name": "Lee Jr",
        "ageGroup": "child",
        "preferences": {"theme": "dark"},
        "earnedBadges": [{"badge": "brave", "axis": "courage"}],
    }
]
SESSIONS = [
    {
        "id": "ses-1",
        "accountId": "acc-1",
        "profileId": "pro-1",
        "scenarioId": "forest",
        "status": "active",
        "currentScene": "gate",
        "choicesMade": [{"scene": "start", "choice": "go"}],
        "compassValues": {"courage": 2},
    }
]
SCORES = [
    {
        "id": "sco-1",
        "profileId": "pro-1",
        "scenarioId": "forest",
        "compassAxis": "courage",
        "score": 2,
        "sessionId": "ses-1",
    }
]
ALL = [
    ("accounts", ACCOUNTS),
    ("user_profiles", PROFILES),
    ("game_sessions", SESSIONS),
    ("player_scenario_scores", SCORES),
]


def test_play(client: Client) -> None:
    game = client.game
    account = game.create_account("kim@example.org", "Kim")
    with pytest.raises(errors.AlreadyExists):
        game.create_account("KIM@example.org")
    profile = game.create_profile(account, "Kimmy")
    session = game.start_game_session(profile, "forest")
    after = game.record_scene_choice(session.id, 1, "gate", "open", {"courage": 2, "kindness": 1})
    assert after.version == 2 and after.compass_values == {"courage": 2, "kindness": 1}
    with pytest.raises(errors.Conflict):
        game.record_scene_choice(session.id, 1, "gate", "again")
    game.record_scene_choice(session.id, 2, "bridge", "cross", {"courage": 1.5})
    assert game.get_profile_compass_totals(profile).root == {"courage": 3.5, "kindness": 1}
    assert (
        game.award_badge(profile, "brave") is True and game.award_badge(profile, "brave") is False
    )
    assert game.get_scenario_leaderboard("forest", "courage")[0].name == "Kimmy"
    assert game.complete_game_session(session.id).status == "completed"
    with pytest.raises(errors.InvalidState):
        game.abandon_game_session(session.id)


def test_import_then_compare_round_trip(client: Client, conn: psycopg.Connection[Any]) -> None:
    for container, docs in ALL:
        for doc in docs:
            client.documents.put_document("game", container, doc)
        report = client.game.import_documents(container, docs)
        assert report.inserted == len(docs) and report.rejected == 0
        assert client.game.import_documents(container, docs).unchanged == len(docs)
    for container, _ in ALL:
        assert client.game.compare_with_documents(container).differences == [], container

    # a change on the relational side ...
    session_id = conn.execute(
        "SELECT id FROM game.game_sessions WHERE external_id = 'ses-1'"
    ).fetchone()["id"]
    client.game.record_scene_choice(session_id, 1, "bridge", "cross", {"courage": 1})
    fields = {d.field for d in client.game.compare_with_documents("game_sessions").differences}
    assert fields == {"currentScene", "choicesMade", "compassValues"}
    scores = client.game.compare_with_documents("player_scenario_scores")
    assert [d.field for d in scores.differences] == ["score"]
    # ... and on the document side
    ref = next(
        d
        for d in client.documents.list("game", "accounts", include_body=True)
        if d.body["id"] == "acc-2"
    )
    client.documents.put_document(
        "game", "accounts", {**ACCOUNTS[1], "displayName": "Moe"}, document_uuid=ref.document_uuid
    )
    client.documents.put_document("game", "accounts", {"id": "acc-3", "email": "new@example.org"})
    differences = client.game.compare_with_documents("accounts").differences
    assert [d.model_dump(exclude_unset=True) for d in differences] == [
        {
            "id": "acc-2",
            "problem": "differs",
            "field": "displayName",
            "relational": "Mo",
            "document": "Moe",
        },
        {"id": "acc-3", "problem": "missing_in_relational"},
    ]


def test_bad_documents_are_rejected_whole(client: Client, conn: psycopg.Connection[Any]) -> None:
    client.game.import_documents("accounts", ACCOUNTS)
    before = conn.execute(
        "SELECT (SELECT count(*) FROM game.user_profiles) AS p, "
        "(SELECT count(*) FROM game.user_badges) AS b"
    ).fetchone()
    report = client.game.import_documents(
        "userProfiles",
        [
            {"accountId": "acc-1", "name": "no id"},
            {"id": "pro-9", "accountId": "acc-1", "name": 12, "preferences": "dark"},
            {
                "id": "pro-8",
                "accountId": "acc-1",
                "name": "ok",
                "earnedBadges": [{"badge": "a"}, {"badge": ""}],
            },
            {"id": "pro-7", "accountId": "acc-1", "name": "fine", "earnedBadges": [{"badge": "a"}]},
        ],
    )
    assert [d.status for d in report.documents] == [
        "rejected",
        "rejected",
        "rejected",
        "inserted",
    ]
    assert all(d.reason for d in report.documents[:3])
    after = conn.execute(
        "SELECT (SELECT count(*) FROM game.user_profiles) AS p, "
        "(SELECT count(*) FROM game.user_badges) AS b"
    ).fetchone()
    assert (after["p"] - before["p"], after["b"] - before["b"]) == (1, 1)
    with pytest.raises(errors.InvalidInput, match="unknown container"):
        client.game.import_documents("planets", [])


def choose_at_once(game: Any, session_id: int, version: int, count: int) -> list[Any]:
    """count players make a choice on the same version of one session at the same moment."""
    outcomes: list[Any] = []
    barrier = threading.Barrier(count)

    def choose(n: int) -> None:
        barrier.wait()
        try:
            outcomes.append(
                game.record_scene_choice(
                    session_id, version, f"scene{version}", f"c{n}", {"speed": 1}
                )
            )
        except errors.Conflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=choose, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


def test_concurrent_scene_choices_one_wins_per_version(own_clone: str) -> None:
    with cdlstore.connect(own_clone, min_size=8, max_size=8) as client:
        game = client.game
        profile = game.create_profile(game.create_account("race@example.org"), "Racer")
        session = game.start_game_session(profile, "race")
        for version in range(1, 4):
            outcomes = choose_at_once(game, session.id, version, 8)
            assert sum(1 for o in outcomes if isinstance(o, GameSession)) == 1
            assert sum(1 for o in outcomes if isinstance(o, errors.Conflict)) == 7
        final = game.get_game_session(session.id)
        assert final.version == 4 and len(final.choices_made) == 3
        assert game.get_profile_compass_totals(profile).root == {"speed": 3}


class Flaky(Domain[Any]):
    """A domain whose one definition fails as told, under the project's retry policy."""

    def __init__(self, failures: list[errors.CdlstoreError]) -> None:
        super().__init__(SyncExecutor(None, lambda: None))  # type: ignore[arg-type]  # only sleeps
        self.failures = failures
        self.calls = 0

    @method
    @retry_transient(attempts=4, base_delay=0.001)
    async def call(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def transient(sqlstate: str | None) -> errors.CdlstoreError:
    try:  # raised as translated() raises it: from the psycopg error
        raise errors.CdlstoreError("transient", sqlstate=sqlstate) from psycopg.OperationalError()
    except errors.CdlstoreError as exc:
        return exc


def test_retry_policy_retries_transient_failures_only() -> None:
    # serialization failure, deadlock, a connection lost without a SQLSTATE: tried again
    flaky = Flaky([transient("40001"), transient("40P01"), transient(None)])
    assert flaky.call() == "ok" and flaky.calls == 4
    # at most `attempts` times
    flaky = Flaky([transient("40001")] * 4)
    with pytest.raises(errors.CdlstoreError, match="transient"):
        flaky.call()
    assert flaky.calls == 4
    # bad input, and a statement timeout (a limit, not a transient failure): raised at once
    for failure in (errors.InvalidInput("bad document"), transient("57014")):
        flaky = Flaky([failure])
        with pytest.raises(errors.CdlstoreError):
            flaky.call()
        assert flaky.calls == 1


def test_cli_game_import_and_compare(own_clone: str, tmp_path: Path) -> None:
    env = dict(os.environ, DATABASE_URL=own_clone)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cdlstore.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    path = tmp_path / "accounts.json"
    path.write_text(json.dumps(ACCOUNTS + [{"id": "bad"}]))
    out = cli("game", "import", "accounts", str(path))
    assert out.returncode == 0, out.stderr
    assert "2 inserted, 0 updated, 0 unchanged, 1 rejected" in out.stdout
    assert "rejected bad: email must be a string" in out.stderr
    # --json prints the call's own JSON: the same keys, in the same order, as SQL gives them
    with psycopg.connect(own_clone) as conn:
        raw = conn.execute("SELECT game.compare_with_documents('accounts')::text").fetchone()
    assert raw is not None
    shown = cli("game", "compare", "accounts", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.dumps(json.loads(shown.stdout)) == json.dumps(json.loads(raw[0]))
    again = cli("game", "import", "accounts", str(path), "--json")  # unchanged, as the next call
    with psycopg.connect(own_clone) as conn:
        raw = conn.execute(
            "SELECT game.import_documents('accounts', %s::jsonb)::text", [path.read_text()]
        ).fetchone()
    assert raw is not None and again.returncode == 0, again.stderr
    assert json.dumps(json.loads(again.stdout)) == json.dumps(json.loads(raw[0]))
    compare = cli("game", "compare", "accounts")
    assert [json.loads(line)["problem"] for line in compare.stdout.splitlines()] == [
        "missing_in_documents",
        "missing_in_documents",
    ]
