"""Tenancy with real logins: two logins bound to tenants, an unbound application login and the
administrator (the superuser of the test cluster), each with a connection of its own, over every
domain's read, list, search, feed, export, metric, compare, delete and purge path."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import cdlstore
from cdlstore import Client, errors

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SUFFIX = os.getpid()
BOUND_A, BOUND_B, APP = (f"cdlstore_test_{n}_{SUFFIX}" for n in ("bound_a", "bound_b", "app"))


def as_login(dsn: str, login: str) -> str:
    params = conninfo_to_dict(dsn)
    params["user"] = login
    return make_conninfo(**params)


@pytest.fixture(scope="module")
def tenancy_db(template_db: str) -> Iterator[str]:
    """A committed clone with the three logins; a and b bound to ta and tb, each holding the same
    character, document, run, task, event, account and compared record with its own secret."""
    from cdlstore.dev import testdb

    name = f"cdlstore_test_tenancy_{SUFFIX}"
    dsn = testdb.clone(template_db, name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for login in (BOUND_A, BOUND_B, APP):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN IN ROLE cdlstore_app").format(sql.Identifier(login))
            )
        conn.execute(
            "SELECT cdlstore.bind_tenant(%s, 'ta'), cdlstore.bind_tenant(%s, 'tb')",
            [BOUND_A, BOUND_B],
        )
    for login, secret in ((BOUND_A, "a-secret"), (BOUND_B, "b-secret")):
        with cdlstore.connect(as_login(dsn, login), max_size=1) as client:
            seed(client, secret)
    yield dsn
    testdb.drop(name)
    with psycopg.connect(testdb.dsn_for("postgres"), autocommit=True) as conn:
        for login in (BOUND_A, BOUND_B, APP):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))


def seed(client: Client, secret: str) -> None:
    client.characters.import_file(EXAMPLES / "characters" / "iris_marlow.json")
    client.characters.upsert_character_field("iris_marlow", "identity.secret", secret)
    client.workflows.import_file("iris_marlow", EXAMPLES / "workflows" / "iris_marlow.yaml")
    client.workflows.process_workflow_message("u1", "iris_marlow", "I'd like a cocoa, please")
    ref = client.documents.put_document("shared", "config", {"secret": secret}, session_id="s")
    client.documents.set_tag(ref.document_uuid, 1, "production")
    run = client.operations.create_workflow("run " + secret)
    client.operations.enqueue_task("job " + secret, "work", workflow_id=run)
    client.operations.record_event("secret_event", payload={"secret": secret})
    account = {"id": "acc-1", "email": "lee@example.org", "displayName": secret}
    client.game.import_documents("accounts", [account])
    client.documents.put_document("game", "accounts", account)
    client.game.create_account("kim@example.org", secret)  # the same e-mail in both tenants


def paths(client: Client, out_dir: Path) -> dict[str, Any]:
    """What each path shows of the secrets (a login's own rows are the positive control)."""
    ops = client.operations
    export, _ = ops.export("events", datetime.now(UTC).date(), "jsonl", out_dir)
    return {
        "character": client.characters.get_character_complete("iris_marlow").cdl["identity"][
            "secret"
        ],
        "character list": [c.normalized_name for c in client.characters.list_characters()],
        "search": sorted(
            {h.normalized_name for h in client.characters.search_characters("lighthouse")}
        ),
        "instances": len(client.workflows.get_user_active_workflows("u1")),
        "tagged": [
            d.body["secret"] for d in client.documents.get_tagged("shared", "config", "production")
        ],
        "listed": [d.document_uuid is not None for d in client.documents.list("shared", "config")],
        "session": len(client.documents.list_by_session("s").items),
        "feed": sorted({e.namespace for e in client.documents.read_changes("indexer", 1000)}),
        "events": [e.payload["secret"] for e in ops.list_events(event_type="secret_event").items],
        "export": [s for s in ("a-secret", "b-secret") if s in export.read_text()],
        "metrics": ops.metrics().queue_depth,
        "compare": client.game.compare_with_documents("accounts").records,
    }


OWN = {
    "character list": ["iris_marlow"],
    "search": ["iris_marlow"],
    "instances": 1,
    "listed": [True],
    "session": 1,
    "feed": ["game", "shared"],
    "metrics": 1,
    "compare": 1,
}


def test_a_bound_login_sees_its_own_rows_only(tenancy_db: str, tmp_path: Path) -> None:
    for login, secret in ((BOUND_A, "a-secret"), (BOUND_B, "b-secret")):
        with cdlstore.connect(as_login(tenancy_db, login), max_size=1) as client:
            seen = paths(client, tmp_path / login)
            mine = {"character": secret, "tagged": [secret], "events": [secret], "export": [secret]}
            assert seen == {**OWN, **mine}


@pytest.mark.parametrize("named", ["tb", "default", "ta; tb"])
def test_a_bound_login_naming_another_tenant_gets_tenant_mismatch(
    tenancy_db: str, tmp_path: Path, named: str
) -> None:
    with cdlstore.connect(as_login(tenancy_db, BOUND_A), tenant=named, max_size=1) as client:
        for call in every_call(client, tmp_path).values():
            with pytest.raises(errors.TenantMismatch):
                call()


def every_call(client: Client, out_dir: Path) -> dict[str, Callable[[], Any]]:
    day = datetime.now(UTC).date()
    return {
        "character": lambda: client.characters.get_character_complete("iris_marlow"),
        "unknown character": lambda: client.characters.get_character_complete("nobody_at_all"),
        "list": lambda: client.characters.list_characters(),
        "search": lambda: client.characters.search_characters("lighthouse"),
        "instances": lambda: client.workflows.get_user_active_workflows("u1"),
        "tagged": lambda: client.documents.get_tagged("shared", "config", "production"),
        "feed": lambda: client.documents.read_changes("indexer"),
        "events": lambda: client.operations.list_events(event_type="secret_event"),
        "export": lambda: client.operations.export("events", day, "csv", out_dir),
        "metrics": lambda: client.operations.metrics(),
        "compare": lambda: client.game.compare_with_documents("accounts"),
        "put": lambda: client.documents.put_document("n", "t", {}),
        "enqueue": lambda: client.operations.enqueue_task("x", "work"),
        "account": lambda: client.game.create_account("new@example.org"),
    }


def test_resetting_the_role_or_the_setting_does_not_unbind(tenancy_db: str) -> None:
    with psycopg.connect(as_login(tenancy_db, BOUND_A), autocommit=True) as conn:
        conn.execute("RESET ROLE")
        conn.execute("SET cdlstore.tenant = 'tb'")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT cdl.get_character_complete('iris_marlow')")
        assert info.value.sqlstate == "CD008"
        conn.execute("RESET cdlstore.tenant")
        row = conn.execute(
            "SELECT cdl.get_character_complete('iris_marlow')::jsonb #>> '{cdl,identity,secret}'"
        )
        assert row.fetchone() == ("a-secret",)


def test_an_unbound_app_login_must_name_its_tenant(tenancy_db: str, tmp_path: Path) -> None:
    with cdlstore.connect(as_login(tenancy_db, APP), max_size=1) as client:
        for call in every_call(client, tmp_path).values():
            with pytest.raises(errors.NoTenant):
                call()
    with cdlstore.connect(as_login(tenancy_db, APP), tenant="ta", max_size=1) as client:
        assert (
            client.characters.get_character_complete("iris_marlow").cdl["identity"]["secret"]
            == "a-secret"
        )


def test_set_local_per_transaction_and_a_rolled_back_set_config(tenancy_db: str) -> None:
    """Behind a transaction-pooling proxy: SET LOCAL names the tenant of one transaction only."""
    with psycopg.connect(as_login(tenancy_db, APP)) as conn:
        client = Client.from_connection(conn)
        with conn.transaction():
            conn.execute("SET LOCAL cdlstore.tenant = 'tb'")
            assert (
                client.characters.get_character_complete("iris_marlow").cdl["identity"]["secret"]
                == "b-secret"
            )
        with pytest.raises(errors.NoTenant), conn.transaction():
            client.documents.get_tagged("shared", "config", "production")
        with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
            conn.execute("SELECT set_config('cdlstore.tenant', 'ta', false)")
            conn.execute("DO $$ BEGIN RAISE EXCEPTION 'roll back'; END $$")
        with pytest.raises(errors.NoTenant), conn.transaction():  # the tenant went with it
            client.documents.put_document("n", "t", {})
        with pytest.raises(errors.NoTenant), conn.transaction():
            client.documents.get_tagged("shared", "config", "production")


def test_the_administrator_acts_as_default(tenancy_db: str, tmp_path: Path) -> None:
    with cdlstore.connect(tenancy_db, max_size=1) as admin:
        assert admin.characters.list_characters() == []
        assert admin.documents.get_tagged("shared", "config", "production") == []
        assert admin.operations.expire_tasks() == 0
        assert admin.game.compare_with_documents("accounts").records == 0
    with cdlstore.connect(tenancy_db, tenant="tb", max_size=1) as admin_as_b:
        assert (
            admin_as_b.characters.get_character_complete("iris_marlow").cdl["identity"]["secret"]
            == "b-secret"
        )


def test_deletes_and_purges_stay_in_their_tenant(tenancy_db: str) -> None:
    with (
        cdlstore.connect(as_login(tenancy_db, BOUND_A), max_size=1) as a,
        cdlstore.connect(as_login(tenancy_db, BOUND_B), max_size=1) as b,
    ):
        ref = a.documents.put_document("shared", "doomed", {"same": "body"})
        b_ref = b.documents.put_document("shared", "doomed", {"same": "body"})
        run = a.operations.create_workflow("a's run")
        with pytest.raises(errors.NotFound):
            b.documents.delete_document(ref.document_uuid)
        assert b.documents.purge_document(ref.document_uuid) is False
        with pytest.raises(errors.NotFound):
            b.operations.enqueue_task("probe", "work", workflow_id=run)
        assert b.documents.purge_document(b_ref.document_uuid) is True
        assert a.documents.get_document(ref.document_uuid).body == {"same": "body"}
        assert a.documents.purge_document(ref.document_uuid) is True


def test_one_consumer_name_keeps_an_offset_per_tenant(tenancy_db: str) -> None:
    """Each bound login reads and acknowledges its own feed under the same consumer name; the
    offsets stay apart, each at its own tenant's newest event (the events are committed: a feed
    hands out only what has ended)."""
    newest = {}
    for login, tenant in ((BOUND_A, "ta"), (BOUND_B, "tb")):
        with cdlstore.connect(as_login(tenancy_db, login), max_size=1) as client:
            events = client.documents.read_changes("offsets", 1000)
            assert events and {e.namespace for e in events} == {"game", "shared"}
            newest[tenant] = max(e.id for e in events)
            assert client.documents.ack_changes("offsets", newest[tenant]) is True
    with psycopg.connect(tenancy_db) as conn:
        acked = dict(
            conn.execute(
                "SELECT tenant, acked_id FROM cdlstore_internal.feed_consumers"
                " WHERE feed = 'docstore' AND consumer = 'offsets'"
            ).fetchall()
        )
        own = dict(
            conn.execute(
                "SELECT tenant, max(id) FROM docstore.change_event"
                " WHERE tenant IN ('ta', 'tb') GROUP BY tenant"
            ).fetchall()
        )
    assert acked == newest == own
    for login in (BOUND_A, BOUND_B):
        with cdlstore.connect(as_login(tenancy_db, login), max_size=1) as client:
            assert client.documents.read_changes("offsets", 1000) == []
