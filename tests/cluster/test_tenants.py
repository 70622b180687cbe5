"""Tenancy through the proxy: logins of the proxy's server, bound there with cdlstore.bind_tenant,
are confined on the shards exactly as on one node (the one-node suite's own seed and paths of
tests/test_tenancy.py, run through the proxy); naming another tenant is CD008, naming none CD009;
only the proxy's login, which is no superuser, may call the shard-side entry point; an
administrator's maintenance through the proxy still reaches every tenant on every shard."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import cdlstore
from cdlstore import errors
from cdlstore.dev import cluster

from .. import test_tenancy
from ..test_tenancy import OWN, as_login, every_call, seed
from .conftest import Cluster
from .test_proxy import definitions

SUFFIX = os.getpid()
BOUND_A, BOUND_B, APP = (f"cdlstore_proxy_test_{n}_{SUFFIX}" for n in ("bound_a", "bound_b", "app"))
SECRETS = {BOUND_A: "a-secret", BOUND_B: "b-secret"}


def roles(dsn: str, logins: tuple[str, ...], create: bool) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for login in logins:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))
            if create:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN IN ROLE cdlstore_app").format(
                        sql.Identifier(login)
                    )
                )


@pytest.fixture(scope="module")
def tenants(sharded: Cluster) -> Iterator[Cluster]:
    """Three logins of the proxy's server: a and b bound there to ta and tb, each seeded through
    the proxy with the one-node suite's rows and its own secret; and an unbound app login."""
    roles(sharded.proxy, (BOUND_A, BOUND_B, APP), create=True)
    with psycopg.connect(sharded.proxy, autocommit=True) as conn:
        conn.execute(
            "SELECT cdlstore.bind_tenant(%s, 'ta'), cdlstore.bind_tenant(%s, 'tb')",
            [BOUND_A, BOUND_B],
        )
    for login, secret in SECRETS.items():
        with cdlstore.connect(as_login(sharded.proxy, login), max_size=1) as client:
            seed(client, secret)
    yield sharded
    roles(sharded.proxy, (BOUND_A, BOUND_B, APP), create=False)


def through_proxy_paths(client: cdlstore.Client, out_dir: Path) -> dict[str, Any]:
    """The one-node suite's paths, the change feed drained as a consumer does through the proxy
    (a read returns the next events of one shard: docs/scale-out.md)."""
    seen = test_tenancy.paths(client, out_dir)
    feed: set[str] = set()
    while batch := client.documents.read_changes("indexer", 1000):
        feed |= {e.namespace for e in batch}
        client.documents.ack_changes("indexer", batch[-1].id)
    return {**seen, "feed": sorted(feed)}


def test_a_bound_login_through_the_proxy_sees_its_own_rows_only(
    tenants: Cluster, tmp_path: Path
) -> None:
    for login, secret in SECRETS.items():
        with cdlstore.connect(as_login(tenants.proxy, login), max_size=1) as client:
            seen = through_proxy_paths(client, tmp_path / login)
        mine = {"character": secret, "tagged": [secret], "events": [secret], "export": [secret]}
        assert seen == {**OWN, **mine}, login


def test_the_rows_a_bound_login_writes_through_the_proxy_are_its_tenants(
    tenants: Cluster,
) -> None:
    """On the shards (read as their superuser, past row-level security): each tenant's document,
    task, workflow message and character rows carry that tenant; a definition is on every shard."""
    queries = {
        "document": """SELECT h.tenant, b.body ->> 'secret' FROM docstore.document_header h
                       JOIN docstore.document_body b USING (document_body_uuid)
                       WHERE h.namespace = 'shared' AND h.type = 'config'""",
        "task": "SELECT tenant, task_name FROM ops.task_executions WHERE task_name LIKE 'job %'",
        "message": """SELECT l.tenant, i.tenant FROM cdl.workflow_execution_log l
                      JOIN cdl.workflow_instances i ON i.id = l.instance_id
                      WHERE l.user_id = 'u1'""",
        "character": """SELECT v.tenant, v.string_value FROM cdl.character_field_values v
                        JOIN cdl.character_field_definitions f ON f.id = v.field_definition_id
                        WHERE f.field_path = 'identity.secret'""",
    }
    expected = {
        "document": {("ta", "a-secret"), ("tb", "b-secret")},
        "task": {("ta", "job a-secret"), ("tb", "job b-secret")},
        "message": {("ta", "ta"), ("tb", "tb")},
        "character": {("ta", "a-secret"), ("tb", "b-secret")},
    }
    for name, query in queries.items():
        per_shard = [
            {r for r in tenants.on_shard(i, query) if r[0] in ("ta", "tb")} for i in (0, 1)
        ]
        assert per_shard[0] | per_shard[1] == expected[name], name
        assert not per_shard[0] & per_shard[1] or name == "character", f"one {name} on one shard"
    assert [len(tenants.on_shard(i, queries["character"])) for i in (0, 1)] == [2, 2]


@pytest.mark.parametrize("named", ["tb", "default"])
def test_a_bound_login_naming_another_tenant_through_the_proxy_is_cd008(
    tenants: Cluster, tmp_path: Path, named: str
) -> None:
    counts = shard_counts(tenants)
    url = as_login(tenants.proxy, BOUND_A)
    with cdlstore.connect(url, tenant=named, max_size=1) as client:
        for name, call in every_call(client, tmp_path).items():
            with pytest.raises(errors.TenantMismatch):
                call()
                pytest.fail(name)
    assert shard_counts(tenants) == counts, "nothing was written"


def test_an_unbound_app_login_naming_none_through_the_proxy_is_cd009(
    tenants: Cluster, tmp_path: Path
) -> None:
    counts = shard_counts(tenants)
    with cdlstore.connect(as_login(tenants.proxy, APP), max_size=1) as client:
        for name, call in every_call(client, tmp_path).items():
            with pytest.raises(errors.NoTenant):
                call()
                pytest.fail(name)
    assert shard_counts(tenants) == counts, "nothing was written"
    with cdlstore.connect(as_login(tenants.proxy, APP), tenant="tb", max_size=1) as client:
        assert (
            client.characters.get_character_complete("iris_marlow").cdl["identity"]["secret"]
            == "b-secret"
        )


def shard_counts(sharded: Cluster) -> list[Any]:
    """Rows of a few tables on every shard, every tenant's."""
    query = """SELECT (SELECT count(*) FROM docstore.document_header),
                      (SELECT count(*) FROM ops.task_executions),
                      (SELECT count(*) FROM game.accounts),
                      (SELECT count(*) FROM cdl.definition_log)"""
    return [sharded.on_shard(i, query) for i in range(len(sharded.shards))]


ENTRY = "cdl.as_tenant(text, anyelement)"


def test_only_the_proxys_login_may_call_the_shard_side_entry_point(tenants: Cluster) -> None:
    shard = tenants.shards[0]
    bound, owner = f"cdlstore_shard_bound_{SUFFIX}", f"cdlstore_shard_owner_{SUFFIX}"
    with psycopg.connect(shard, autocommit=True) as conn:
        for login, group in ((bound, "cdlstore_app"), (owner, "cdlstore_owner")):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                    sql.Identifier(login), sql.Identifier(group)
                )
            )
        conn.execute("SELECT cdlstore.bind_tenant(%s, 'ta')", [bound])
    try:
        candidates = ["public", "cdlstore_app", "cdlstore_tenant_admin", "cdlstore_readonly", bound]
        executable = tenants.on_shard(
            0,
            "SELECT array_agg(r ORDER BY r) FROM unnest(%s::text[]) r"
            " WHERE has_function_privilege(r, %s, 'EXECUTE')",
            [[*candidates, cluster.PROXY_LOGIN], ENTRY],
        )
        assert executable == [([cluster.PROXY_LOGIN],)], "of these, the proxy's login alone"
        granted = tenants.on_shard(
            0,
            "SELECT array_agg(grantee::regrole::text ORDER BY grantee::regrole::text)"
            " FROM pg_proc p, aclexplode(p.proacl) WHERE p.oid = %s::regprocedure",
            [ENTRY],
        )
        assert granted == [(["cdlstore_owner", "cdlstore_proxy"],)]
        members = tenants.on_shard(
            0,
            "SELECT array_agg(member::regrole::text), bool_or(r.rolsuper OR r.rolbypassrls)"
            " FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member"
            " WHERE m.roleid = 'cdlstore_proxy'::regrole",
        )
        assert members == [([cluster.PROXY_LOGIN], False)], "one member, no superuser"
        admin = tenants.on_shard(
            0,
            "SELECT pg_has_role(%s, 'cdlstore_tenant_admin', 'MEMBER'), EXISTS (SELECT FROM"
            " pg_auth_members WHERE member = %s::regrole AND roleid <> 'cdlstore_proxy'::regrole)",
            [cluster.PROXY_LOGIN, cluster.PROXY_LOGIN],
        )
        assert admin == [(True, False)], "an administrator through cdlstore_proxy alone (0019)"
        for login in ("cdlstore_app", bound):  # the application, bound or not: no privilege
            with psycopg.connect(shard, autocommit=True) as conn:
                conn.execute(sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(login)))
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("SELECT cdl.as_tenant('tb', 1)")
        # the owner's members hold the privilege; the function still refuses them: CD006
        with psycopg.connect(as_login(shard, owner), autocommit=True) as conn:
            with pytest.raises(psycopg.Error) as refused:
                conn.execute("SELECT cdl.as_tenant('tb', 1)")
        assert refused.value.sqlstate == "CD006"
        # a bound login given the proxy's role by mistake still cannot leave its tenant
        with psycopg.connect(shard, autocommit=True) as conn:
            conn.execute(sql.SQL("GRANT cdlstore_proxy TO {}").format(sql.Identifier(bound)))
        with psycopg.connect(as_login(shard, bound), autocommit=True) as conn:
            with pytest.raises(psycopg.Error) as mismatch:
                conn.execute(
                    "SELECT cdl.get_character_complete(cdl.as_tenant('tb', 'iris_marlow'::varchar))"
                )
        assert mismatch.value.sqlstate == "CD008"
        with psycopg.connect(as_login(shard, cluster.PROXY_LOGIN)) as conn:
            named = conn.execute(
                "SELECT cdl.as_tenant('tb', 7), current_setting('cdlstore.tenant')"
            )
            assert named.fetchone() == (7, "tb"), "the positive control"
    finally:
        with psycopg.connect(shard, autocommit=True) as conn:
            conn.execute("SELECT cdlstore.unbind_tenant(%s)", [bound])
            for login in (bound, owner):
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))


def test_the_proxy_connects_to_the_shards_as_its_own_login(tenants: Cluster) -> None:
    with cdlstore.connect(as_login(tenants.proxy, BOUND_A), max_size=1) as client:
        assert (
            client.characters.get_character_complete("iris_marlow").cdl["identity"]["secret"]
            == "a-secret"
        )
        for index in range(2):  # the proxy keeps its connection to each shard it called
            client.operations.metrics()
            users = tenants.on_shard(
                index,
                "SELECT array_agg(DISTINCT a.usename::text), bool_or(r.rolsuper)"
                " FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid"
                " WHERE a.datname = current_database() AND a.usename = %s",
                [cluster.PROXY_LOGIN],
            )
            assert users == [([cluster.PROXY_LOGIN], False)]


def test_maintenance_through_the_proxy_reaches_every_tenant_on_every_shard(
    tenants: Cluster,
) -> None:
    parts = tenants.shards_of([f"sweep-{n}" for n in range(40)])
    users = [next(u for u, p in parts.items() if p == index) for index in (0, 1)]
    for login in SECRETS:
        with cdlstore.connect(as_login(tenants.proxy, login), max_size=1) as client:
            for user in users:  # an instance left to time out, on each shard
                client.workflows.process_workflow_message(user, "iris_marlow", "I'd like a soup")
    later = datetime.now(UTC) + timedelta(minutes=11)
    due = """SELECT tenant, count(*) FROM cdl.workflow_instances
             WHERE status = 'active' AND timeout_at < %s GROUP BY tenant"""
    before = [dict(tenants.on_shard(i, due, [later])) for i in (0, 1)]
    assert all(b.get("ta") and b.get("tb") for b in before), "both tenants due on both shards"
    with cdlstore.connect(as_login(tenants.proxy, BOUND_A), max_size=1) as a:
        assert a.workflows.expire_workflow_timeouts(later) == sum(b["ta"] for b in before), (
            "ta's only"
        )
    with psycopg.connect(tenants.proxy, autocommit=True) as conn:  # an administrator naming none
        conn.execute("SET ROLE cdlstore_app")
        rest = cdlstore.Client.from_connection(conn).workflows.expire_workflow_timeouts(later)
    assert rest == sum(n for b in before for t, n in b.items() if t != "ta")
    assert [tenants.on_shard(i, due, [later]) for i in (0, 1)] == [[], []]


def test_a_tenants_definition_write_a_shard_missed_is_repaired_as_that_tenant(
    tenants: Cluster,
) -> None:
    age = """SELECT v.tenant, v.number_value FROM cdl.character_field_values v
             JOIN cdl.character_field_definitions f ON f.id = v.field_definition_id
             WHERE f.field_path = 'identity.age' AND v.tenant IN ('ta', 'tb') ORDER BY 1"""
    before = tenants.on_shard(1, age)
    tenants.stop(1)
    try:
        with cdlstore.connect(as_login(tenants.proxy, BOUND_A), max_size=1) as a:
            a.characters.upsert_character_field("iris_marlow", "identity.age", 64)
    finally:
        tenants.start(1)
    assert tenants.on_shard(1, age) == before, "shard 1 missed it"
    with cdlstore.connect(as_login(tenants.proxy, BOUND_B), max_size=1) as b:
        b.characters.upsert_character_field(
            "iris_marlow", "identity.age", 50
        )  # repairs shard 1 first
        assert b.characters.get_character_complete("iris_marlow").cdl["identity"]["age"] == 50
    assert tenants.on_shard(1, age) == tenants.on_shard(0, age) == [("ta", 64), ("tb", 50)]
    assert definitions(tenants, 1) == definitions(tenants, 0)


def test_the_bindings_on_the_proxy_are_the_administrators(tenants: Cluster) -> None:
    """On the proxy, as on one node: the bindings and their administration are out of the
    application's reach (the app role and a bound login get 42501 and change nothing)."""
    with psycopg.connect(tenants.proxy, autocommit=True) as conn:
        bind = "cdlstore.bind_tenant(name, text)"
        reach = conn.execute(
            """SELECT has_function_privilege('cdlstore_app', %(bind)s, 'EXECUTE'),
                      has_function_privilege('cdlstore_tenant_admin', %(bind)s, 'EXECUTE'),
                      has_schema_privilege('cdlstore_app', 'cdlstore_internal', 'USAGE'),
                      has_table_privilege('cdlstore_app', 'cdlstore_internal.tenant_bindings',
                                          'SELECT'),
                      (SELECT array_agg(DISTINCT pg_get_userbyid(p.proowner)) FROM pg_proc p
                       WHERE p.pronamespace::regnamespace::text
                             IN ('cdlstore', 'cdlstore_internal'))""",
            {"bind": bind},
        ).fetchone()
    assert reach == (False, True, False, False, ["cdlstore_owner"])
    for login in (BOUND_A, APP):
        with psycopg.connect(as_login(tenants.proxy, login), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT cdlstore.unbind_tenant(%s)", [BOUND_A])
    with psycopg.connect(tenants.proxy) as conn:
        bound = conn.execute(
            "SELECT tenant FROM cdlstore_internal.tenant_bindings WHERE role_name = %s", [BOUND_A]
        )
        assert bound.fetchall() == [("ta",)]
