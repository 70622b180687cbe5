"""The PL/Proxy scale-out: a proxy in front of two shards gives the results of one node, keeps
each user's rows on one shard and the definitions equal on every shard, and survives a shard
that stops (during a definition write, too)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cdlstore import Client, errors

from .conftest import Cluster, app_client

ROOT = Path(__file__).resolve().parents[2]
CHARACTER = ROOT / "examples" / "characters" / "iris_marlow.json"
SECOND_CHARACTER = ROOT / "examples" / "characters" / "professor_quill.json"
WORKFLOWS = ROOT / "examples" / "workflows" / "iris_marlow.yaml"
USERS = [f"guest-{n}" for n in range(200)]
# the canteen conversation of tests/test_workflows.py, and a tab opened, read and closed by id
CONVERSATION = [
    ("I'd like a cocoa", False),
    ("open a tab", False),
    ("here you are", False),
    ("lovely weather", False),
    ("warm me up", False),
    ("warm me up", True),
    ("pour me a tea", False),
    ("never mind", False),
]
# the definition tables, compared shard by shard (timestamps are each shard's own clock)
DEFINITION_TABLES = [
    "characters", "character_field_definitions", "character_field_values", "character_sections",
    "communication_patterns", "response_templates", "character_knowledge", "character_versions",
    "character_change_log", "workflow_files", "character_workflows", "workflow_triggers",
    "workflow_states", "workflow_transitions", "workflow_context_extractors",
    "workflow_lookup_tables", "definition_log",
]  # fmt: skip


def load(client: Client) -> None:
    client.characters.import_file(CHARACTER)
    client.workflows.import_file("iris_marlow", WORKFLOWS)


def converse(client: Client, user: str) -> list[Any]:
    """One guest's conversation; what it returns leaves out the ids, which differ by design."""
    wf, seen = client.workflows, []
    for message, confirmed in CONVERSATION:
        step = wf.process_workflow_message(user, "iris_marlow", message, llm_confirmed=confirmed)
        seen.append((step.action, step.workflow_name, step.state, step.status, step.context))
    seen.append([(a.workflow_name, a.state) for a in wf.get_user_active_workflows(user)])
    tab = wf.start_workflow_instance(user, "iris_marlow", "fisherman_tab", {"total": 12})
    seen += [
        wf.render_workflow_prompt(tab),
        wf.cancel_workflow_instance(tab, "closing time"),
        wf.cancel_workflow_instance(tab),
    ]
    seen.append(
        wf.process_workflow_message(user, "iris_marlow", "I'd like a soup").context
    )  # left to time out
    seen.append([(a.workflow_name, a.state) for a in wf.get_user_active_workflows(user)])
    return seen


def per_user(sharded: Cluster, index: int) -> dict[str, tuple[int, int]]:
    """user -> (instances, log rows) on one shard."""
    rows = sharded.on_shard(
        index,
        """SELECT i.user_id, count(DISTINCT i.id), count(l.id) FROM cdl.workflow_instances i
           LEFT JOIN cdl.workflow_execution_log l ON l.instance_id = i.id GROUP BY i.user_id""",
    )
    return {user: (instances, logs) for user, instances, logs in rows}


def definitions(sharded: Cluster, index: int) -> dict[str, list[Any]]:
    """Every definition table of a shard, rows in id order, without timestamp columns."""
    out = {}
    for table in DEFINITION_TABLES:
        columns = [
            name
            for (name,) in sharded.on_shard(
                index,
                """SELECT column_name FROM information_schema.columns
                   WHERE table_schema = 'cdl' AND table_name = %s
                     AND data_type NOT LIKE 'timestamp%%' ORDER BY ordinal_position""",
                [table],
            )
        ]
        cols = ", ".join(f'"{c}"::text' for c in columns)  # as text: json has no ordering
        query = f"SELECT {cols} FROM cdl.{table} ORDER BY {cols}"  # noqa: S608 (catalog names)
        out[table] = sharded.on_shard(index, query)
    return out


def conversations(dsn: str, users: list[str], threads: int = 4) -> dict[str, list[Any]]:
    """Every user's conversation, the users shared out among a few clients of their own."""
    results: dict[str, list[Any]] = {}

    def run(share: list[str]) -> None:
        for client in app_client(dsn):
            results.update((user, converse(client, user)) for user in share)

    workers = [threading.Thread(target=run, args=(users[n::threads],)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    return results


def test_two_shards_give_the_results_of_one_node(
    sharded: Cluster, proxied: Client, single: Client, single_dsn: str
) -> None:
    load(proxied)
    load(single)
    through_proxy = conversations(sharded.proxy, USERS)
    assert sorted(through_proxy) == sorted(USERS)
    assert through_proxy == conversations(single_dsn, USERS)
    later = datetime.now(UTC) + timedelta(minutes=11)
    expired = proxied.workflows.expire_workflow_timeouts(later)  # on every shard, counts added
    assert expired == single.workflows.expire_workflow_timeouts(later) == len(USERS)
    assert proxied.workflows.expire_workflow_timeouts(later) == 0, (
        "every shard's timeouts were ended"
    )
    shards = [per_user(sharded, 0), per_user(sharded, 1)]
    assert shards[0] and shards[1], "both shards hold users"
    assert not set(shards[0]) & set(shards[1]), "each user's rows are on one shard"
    assert sorted({**shards[0], **shards[1]}) == sorted(USERS)
    for user, part in sharded.shards_of(USERS).items():
        assert user in shards[part], f"{user} is on the shard its hash names"
    with psycopg.connect(single_dsn) as conn:
        one_node = conn.execute(
            """SELECT count(*), (SELECT count(*) FROM cdl.workflow_execution_log)
               FROM cdl.workflow_instances"""
        ).fetchone()
    assert one_node is not None
    totals = tuple(sum(s[u][k] for s in shards for u in s) for k in (0, 1))
    assert totals[0] == one_node[0] and totals[1] == one_node[1]
    ids = [
        i for s in range(2) for (i,) in sharded.on_shard(s, "SELECT id FROM cdl.workflow_instances")
    ]
    assert len(ids) == len(set(ids)), "instance ids are unique across the shards"
    first = definitions(sharded, 0)
    assert first["characters"] and first["definition_log"]
    assert definitions(sharded, 1) == first


def users_of(sharded: Cluster, index: int, count: int, prefix: str) -> list[str]:
    parts = sharded.shards_of([f"{prefix}-{n}" for n in range(100)])
    return [u for u, part in parts.items() if part == index][:count]


def test_a_stopped_shard(sharded: Cluster, proxied: Client) -> None:
    if not sharded.on_shard(
        0, "SELECT 1 FROM cdl.characters WHERE normalized_name = 'iris_marlow'"
    ):
        load(proxied)
    [up_user] = users_of(sharded, 0, 1, "up")
    [down_user] = users_of(sharded, 1, 1, "down")
    wf = proxied.workflows
    assert (
        wf.process_workflow_message(down_user, "iris_marlow", "I'd like a grog").state == "brewing"
    )
    before = sharded.on_shard(1, "SELECT * FROM cdl.workflow_execution_log ORDER BY id")

    sharded.stop(1)
    try:
        started = time.monotonic()
        with pytest.raises(errors.ShardUnavailable, match="shard 1"):
            wf.process_workflow_message(down_user, "iris_marlow", "here you are")
        with pytest.raises(errors.ShardUnavailable):
            wf.get_user_active_workflows(down_user)
        assert time.monotonic() - started < 5, "fails fast"
        assert (
            wf.process_workflow_message(up_user, "iris_marlow", "I'd like a tea").state == "brewing"
        )
        assert wf.process_workflow_message(up_user, "iris_marlow", "2 coins").status == "completed"
        # a definition write while a shard is down reaches the others; reads go on
        proxied.characters.upsert_character_field("iris_marlow", "identity.age", 63)
        assert proxied.characters.get_character_complete("iris_marlow").cdl["identity"]["age"] == 63
    finally:
        sharded.start(1)

    assert sharded.on_shard(1, "SELECT * FROM cdl.workflow_execution_log ORDER BY id") == before
    step = wf.process_workflow_message(
        down_user, "iris_marlow", "here you are"
    )  # repairs the shard first
    assert (step.action, step.status) == ("transitioned", "completed")
    assert definitions(sharded, 1) == definitions(sharded, 0)
    instances, logs = per_user(sharded, 1)[down_user]
    assert instances == 1 and logs > len([r for r in before if r[2] == down_user])
    triggered = sharded.on_shard(
        1,
        """SELECT count(*) FROM cdl.workflow_execution_log
           WHERE user_id = %s AND event_type = 'transition_triggered'""",
        [down_user],
    )
    assert triggered == [(1,)], "the payment was applied once"
    assert per_user(sharded, 0)[up_user][0] == 1


def test_a_shard_stopped_during_an_import(sharded: Cluster, proxied: Client) -> None:
    if not sharded.on_shard(
        0, "SELECT 1 FROM cdl.characters WHERE normalized_name = 'iris_marlow'"
    ):
        load(proxied)
    version = sharded.on_shard(0, "SELECT cdl.definition_version()")[0][0]
    done: list[Any] = []
    # the shard's definition lock is held, so the write waits there; then the shard stops under it
    holder = psycopg.connect(sharded.shards[1])  # closed, not committed: the shard stops under it
    try:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('cdlstore.definitions'))")
        writer = threading.Thread(
            target=lambda: done.append(proxied.characters.import_file(SECOND_CHARACTER))
        )
        writer.start()
        wait_for(
            lambda: sharded.on_shard(
                1,
                """SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                   AND query LIKE '%apply_definition%'""",
            )
        )
        assert sharded.on_shard(0, "SELECT cdl.definition_version()")[0][0] == version + 1
        sharded.stop(1)
    finally:
        holder.close()
    writer.join(timeout=60)
    sharded.start(1)
    assert done, "the import succeeded on the shard that stayed up"
    assert sharded.on_shard(1, "SELECT cdl.definition_version()")[0][0] == version
    quill = "SELECT id FROM cdl.characters WHERE normalized_name = 'professor_anselm_quill'"
    assert sharded.on_shard(1, quill) == [], "the stopped shard missed it"
    # the next definition write (or a call of a user of the shard) re-applies what it missed
    proxied.characters.upsert_character_field("iris_marlow", "identity.age", 71)
    assert sharded.on_shard(1, "SELECT cdl.definition_version()")[0][0] == version + 2
    assert sharded.on_shard(1, quill) == sharded.on_shard(0, quill) != [], "same id on both"
    assert definitions(sharded, 1) == definitions(sharded, 0)
    with psycopg.connect(sharded.proxy) as conn:
        report = conn.execute("SELECT cdlstore_proxy.repair_definitions()").fetchone()
    assert report == ({"0": version + 2, "1": version + 2},), "a repair again changes nothing"


def wait_for(condition: Any, timeout: float = 30) -> None:
    """Poll a condition another connection makes true (a lock wait), up to a timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_bad_input_through_the_proxy(sharded: Cluster, proxied: Client) -> None:
    """The shards' own errors come through with their class and words (a missing character as
    CharacterNotFound, as without the proxy); nothing is written."""
    if not sharded.on_shard(
        0, "SELECT 1 FROM cdl.characters WHERE normalized_name = 'iris_marlow'"
    ):
        load(proxied)
    versions = [sharded.on_shard(i, "SELECT cdl.definition_version()") for i in range(2)]
    wf = proxied.workflows
    with pytest.raises(errors.InvalidInput) as bad:
        wf.process_workflow_message("", "iris_marlow", "hi")
    assert "REMOTE" not in str(bad.value) and "PL/Proxy" not in str(bad.value)
    with pytest.raises(errors.LimitExceeded):
        wf.process_workflow_message("guest-1", "iris_marlow", "x" * 10001)
    with pytest.raises(errors.CharacterNotFound, match="nobody"):
        wf.process_workflow_message("guest-1", "nobody", "hi")
    with pytest.raises(errors.NotFound) as other:  # another CD002 names no character
        wf.cancel_workflow_instance(-1)
    assert not isinstance(other.value, errors.CharacterNotFound)
    with pytest.raises(errors.InvalidInput, match="must be a mapping"):
        wf.import_workflow_from_yaml("iris_marlow", ["a", "list"])
    with pytest.raises(errors.InvalidInput):
        proxied.characters.upsert_character_field("iris_marlow", "", 1)
    assert [sharded.on_shard(i, "SELECT cdl.definition_version()") for i in range(2)] == versions
    # a malformed tenant name is refused on the proxy (CD001), and nothing is written
    documents = [sharded.on_shard(i, "SELECT count(*) FROM docstore.documents") for i in range(2)]
    with psycopg.connect(sharded.proxy, autocommit=True) as conn:
        conn.execute("SET ROLE cdlstore_app")
        conn.execute("SET cdlstore.tenant = 'acme; drop'")
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("SELECT docstore.put_document('acme', 'agent_config', '{}')")
    assert refused.value.sqlstate == "CD001"
    assert [
        sharded.on_shard(i, "SELECT count(*) FROM docstore.documents") for i in range(2)
    ] == documents


def test_a_function_added_to_the_shards_gets_a_proxy(sharded: Cluster) -> None:
    """The proxy's API is generated from the shards' catalog: a new API function needs no code."""
    added = """
        CREATE OR REPLACE FUNCTION cdl.test_added_count(user_id varchar, plus integer DEFAULT 1)
        RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = cdl, pg_temp
        AS $$ SELECT count(*) + plus FROM cdl.workflow_instances i WHERE i.user_id = $1 $$;
        GRANT EXECUTE ON FUNCTION cdl.test_added_count(varchar, integer) TO cdlstore_app"""
    for index in range(2):
        with psycopg.connect(sharded.shards[index]) as conn:
            conn.execute(added)
    try:
        with psycopg.connect(sharded.proxy, autocommit=True) as conn:
            conn.execute("SELECT cdlstore_proxy.generate()")
            conn.execute("SET ROLE cdlstore_app")
            for user, part in sharded.shards_of(USERS[:6]).items():
                direct = sharded.on_shard(part, "SELECT cdl.test_added_count(%s)", [user])
                row = conn.execute("SELECT cdl.test_added_count(user_id => %s)", [user])
                assert row.fetchall() == direct, "routed by user_id, with its default"
    finally:
        for index in range(2):
            with psycopg.connect(sharded.shards[index]) as conn:
                conn.execute("DROP FUNCTION cdl.test_added_count(varchar, integer)")


def test_the_cli_through_the_proxy(sharded: Cluster, proxied: Client) -> None:
    if not sharded.on_shard(
        0, "SELECT 1 FROM cdl.characters WHERE normalized_name = 'iris_marlow'"
    ):
        load(proxied)
    env = dict(os.environ, DATABASE_URL=sharded.proxy, CDLSTORE_ROLE="cdlstore_app")
    cli = [sys.executable, "-m", "cdlstore.cli"]
    shown = subprocess.run([*cli, "character", "show", "iris_marlow"], env=env, capture_output=True)
    assert shown.returncode == 0, shown.stderr
    assert b"Iris Marlow" in shown.stdout
    check = [*cli, "workflow", "check", "iris_marlow", "I'd like a cocoa"]
    checked = subprocess.run(check, env=env, capture_output=True, text=True)
    assert checked.returncode == 0 and "hot_drink" in checked.stdout, checked.stderr


def test_the_proxy_functions_pass_plpgsql_check(sharded: Cluster) -> None:
    """make lint checks the shards' functions; this checks the proxy's own and generated ones."""
    with psycopg.connect(sharded.proxy, autocommit=True) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'plpgsql_check'"
        ).fetchone():
            pytest.skip("plpgsql_check is not installed")
        conn.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
        problems = conn.execute(
            """SELECT p.oid::regprocedure::text, c.message
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
               CROSS JOIN LATERAL plpgsql_check_function_tb(
                   p.oid, fatal_errors => false, extra_warnings => false,
                   other_warnings => false, performance_warnings => false) c
               WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game', 'cdlstore_proxy')"""
        ).fetchall()
        checked = conn.execute(
            """SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname IN ('cdl', 'cdlstore_proxy') AND p.prolang =
                     (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')"""
        ).fetchone()
    assert checked is not None and checked[0] > 40
    assert problems == []


def test_the_app_role_on_the_proxy(sharded: Cluster) -> None:
    """On the proxy the app role may execute the API wrappers and nothing else."""
    with psycopg.connect(sharded.proxy, autocommit=True) as conn:
        functions = conn.execute(
            """SELECT n.nspname, p.prosecdef, pg_get_userbyid(p.proowner),
                      has_function_privilege('cdlstore_app', p.oid, 'EXECUTE'),
                      p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game', 'cdlstore_proxy')"""
        ).fetchall()
        api = [f for f in functions if f[0] != "cdlstore_proxy"]
        assert len(api) > 80 and all(f[1:] == (True, "cdlstore_owner", True, True) for f in api)
        helpers = [f for f in functions if f[0] == "cdlstore_proxy"]
        assert helpers and not any(f[3] for f in helpers), "no helper is the app's"
        assert all(f[2] == "cdlstore_owner" for f in helpers)
        privileges = conn.execute(
            """SELECT has_server_privilege('cdlstore_app', 'cdlstore', 'USAGE'),
                      has_schema_privilege('cdlstore_app', 'cdlstore_proxy', 'USAGE'),
                      (SELECT lanpltrusted FROM pg_language WHERE lanname = 'plproxy')"""
        ).fetchone()
        assert privileges == (False, False, False), "no way to a shard but the wrappers"
        conn.execute("SET ROLE cdlstore_app")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT cdlstore_proxy.repair_definitions()")
