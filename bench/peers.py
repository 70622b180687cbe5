"""The cdlstore queue beside pgqueuer and procrastinate, in one run on one server
(`make bench-peers`; the peers come from PyPI through the `bench` extra). Numbers only.

Each queue runs the SQL its own library sends, driven by pgbench (2 clients, prepared
statements) on a database of its own: a claim of one job and its completion, a claim of 100 and
their completion, an enqueue of 100. pgqueuer's statements are rendered by its own query builder;
procrastinate's are its SQL functions (it claims one job at a time, so it has no batch claim).
The runs take turns for PEERS_ROUNDS rounds (default 5) of PEERS_SECONDS seconds (default 5);
the medians are printed with their ratios, and TPC-B (pgbench's own) on the same server.

cdlstore is called as the application would call it: by a login of cdlstore_app, with tenancy on
(cdlstore.tenant set), through the tenant guard and row level security. Beside it run the queue's
floors (bench/queue_floor.sql, installed into the schema bench_floor at run time): the least a
claim, a completion and an enqueue must do and keep the guarantees, on minimal tables ("min") and
on ops' own tables ("ops"), with one event row per task or one per statement ("batch").
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from importlib import resources

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.common import pgbench, pgbench_init
from cdlstore.dev import testdb

ROUNDS = int(os.environ.get("PEERS_ROUNDS", "5"))
SECONDS = os.environ.get("PEERS_SECONDS", "5")
FILL = 300_000  # jobs queued before each round's claim runs

CDL = {
    "claim 1 + complete": (
        "SELECT c ->> 'execution_id' AS id, c ->> 'lease_token' AS token "
        "FROM (SELECT ops.claim_tasks('w' || :client_id, '{work}', 1) -> 0 AS c) s \\gset\n"
        "SELECT ops.complete_task(:id::text::uuid, :token::text::uuid) WHERE :id::text <> '';\n",
        1,
    ),
    "claim 100 + complete": (
        "SELECT jsonb_agg(jsonb_build_object('execution_id', t ->> 'execution_id', "
        "'lease_token', t ->> 'lease_token')) AS batch "
        "FROM jsonb_array_elements(ops.claim_tasks('w' || :client_id, '{work}', 100)) t \\gset\n"
        "SELECT ops.complete_tasks(:batch::text::jsonb) WHERE :batch::text <> '';\n",
        100,
    ),
    "enqueue 100": (
        "SELECT ops.enqueue_tasks(jsonb_agg(jsonb_build_object('task_name', 'e', "
        "'task_type', 'enq'))) FROM generate_series(1, 100);\n",
        100,
    ),
}

TENANT = "bench"
APP_LOGIN = "cdlstore_bench_peers"  # a login of cdlstore_app, bound to no tenant
APP_OPTIONS = f"-c cdlstore.tenant={TENANT}"

# the trail of a floor variant: one event row per task and transition (ops' design), or one row
# per statement carrying the ids of its tasks
FLOOR_EVENTS = {
    "task": (
        "SELECT 'task_claimed', 'task', x.execution_id::text, x.workflow_id, x.agent_id, 'ops', "
        "jsonb_build_object('attempt', x.retry_count + 1), 'info' FROM taken x",
        "SELECT 'task_completed', 'task', d.execution_id::text, d.workflow_id, d.agent_id, 'ops', "
        "jsonb_build_object('execution_time_ms', d.execution_time_ms), 'info' FROM done d",
        "SELECT 'task_enqueued', 'task', q.execution_id::text, q.workflow_id, NULL, 'ops', "
        "jsonb_object(ARRAY['task_type', q.task_type]), 'info' FROM queued q",
    ),
    "batch": (
        "SELECT 'task_claimed', 'task_batch', NULL, NULL, min(x.agent_id), 'ops', "
        "jsonb_build_object('ids', jsonb_agg(x.execution_id), "
        "'attempts', jsonb_agg(x.retry_count + 1)), 'info' FROM taken x HAVING count(*) > 0",
        "SELECT 'task_completed', 'task_batch', NULL, NULL, NULL, 'ops', "
        "jsonb_build_object('ids', jsonb_agg(d.execution_id), 'execution_time_ms', "
        "jsonb_agg(d.execution_time_ms)), 'info' FROM done d HAVING count(*) > 0",
        "SELECT 'task_enqueued', 'task_batch', NULL, NULL, NULL, 'ops', "
        "jsonb_build_object('ids', jsonb_agg(q.execution_id), "
        "'task_types', jsonb_agg(q.task_type)), 'info' FROM queued q HAVING count(*) > 0",
    ),
}
FLOOR_TABLES = {
    "min": ("bench_floor.tasks", "bench_floor.events"),
    "ops": ("ops.task_executions", "ops.events"),
}
# (tables, trail) of each floor row
FLOORS = {
    "claim 1 + complete": [("min", "task"), ("ops", "task")],
    "claim 100 + complete": [("min", "task"), ("min", "batch"), ("ops", "task"), ("ops", "batch")],
    "enqueue 100": [("min", "task"), ("min", "batch"), ("ops", "task"), ("ops", "batch")],
}


def floor_sql() -> str:
    """bench/queue_floor.sql with its functions once per variant."""
    text = (resources.files("bench") / "queue_floor.sql").read_text()
    head, _, functions = text.partition("-- FUNCTIONS\n")
    parts = [head]
    for tables, trail in {v for variants in FLOORS.values() for v in variants}:
        body = functions
        for key, value in {
            "{name}": f"{tables}_{trail}",
            "{tasks}": FLOOR_TABLES[tables][0],
            "{events}": FLOOR_TABLES[tables][1],
            "{claim_event}": FLOOR_EVENTS[trail][0],
            "{done_event}": FLOOR_EVENTS[trail][1],
            "{enqueue_event}": FLOOR_EVENTS[trail][2],
        }.items():
            body = body.replace(key, value)
        parts.append(body)
    return "".join(parts)


def floor_scripts() -> dict[str, tuple[str, int]]:
    """The cdlstore scripts, calling a floor variant's functions instead of ops'."""
    out = {}
    for what, variants in FLOORS.items():
        for tables, trail in variants:
            name = f"{tables}_{trail}"
            script, per = CDL[what]
            script = (
                script.replace("ops.claim_tasks", f"bench_floor.claim_{name}")
                .replace("ops.complete_tasks", f"bench_floor.complete_batch_{name}")
                .replace("ops.complete_task", f"bench_floor.complete_{name}")
                .replace("ops.enqueue_tasks", f"bench_floor.enqueue_{name}")
            )
            out[f"{what}, {tables}, event per {trail}"] = (script, per)
    return out


PROCRASTINATE = {
    "claim 1 + complete": (
        "SELECT id FROM procrastinate_fetch_job_v2('{work}'::varchar[], :client_id + 1) \\gset\n"
        "SELECT procrastinate_finish_job_v1(:id::text::bigint, 'succeeded', false) "
        "WHERE :id::text <> '';\n",
        1,
    ),
    "enqueue 100": (
        "SELECT procrastinate_defer_jobs_v1(array_agg(ROW('enq', 't', 0, NULL, NULL, '{}', NULL)"
        "::procrastinate_job_to_defer_v1)) FROM generate_series(1, 100);\n",
        100,
    ),
}


def _literal(value: object) -> str:
    return sql.Literal(value).as_string(None)


def _bind(query: str, args: dict[int, str]) -> str:
    """Replace $n placeholders (highest first, so that $1 does not eat $10), drop the comments
    and put the statement on one line, as a pgbench script wants it."""
    for n in sorted(args, reverse=True):
        query = query.replace(f"${n}", args[n])
    return " ".join(re.sub(r"--[^\n]*", "", query).split())


def pgqueuer_scripts() -> dict[str, tuple[str, int]]:
    from pgqueuer.adapters.persistence import qb

    builder = qb.QueryQueueBuilder()

    def claim(batch: int) -> str:
        composed = builder.build_dequeue_query(
            batch_size=batch,
            entrypoints=["work"],
            concurrency_limits=[0],
            queue_manager_id=uuid.uuid4(),
            global_concurrency_limit=None,
            heartbeat_timeout=timedelta(seconds=30),
        )
        dequeue = _bind(composed.sql, {n + 1: _literal(a) for n, a in enumerate(composed.args)})
        head, _, _ = dequeue.rpartition("SELECT * FROM claimed")
        ids = f"{head} SELECT coalesce(array_agg(id), '{{}}') AS ids FROM claimed"  # noqa: S608
        done = _bind(
            builder.build_log_job_query(),
            {
                1: ":ids::text::bigint[]",
                2: "array_fill('successful'::text, ARRAY[cardinality(:ids::text::bigint[])])",
                3: "array_fill(NULL::text, ARRAY[cardinality(:ids::text::bigint[])])",
            },
        )
        return f"{ids} \\gset\n{done};\n"

    enqueue = _bind(
        builder.build_enqueue_query("raise"),
        {
            1: "array_fill(0, ARRAY[100])",
            2: "array_fill('enq'::text, ARRAY[100])",
            3: "array_fill(NULL::bytea, ARRAY[100])",
            4: "array_fill('0'::interval, ARRAY[100])",
            5: "array_fill(NULL::text, ARRAY[100])",
            6: "array_fill('null'::jsonb, ARRAY[100])",
        },
    )
    return {
        "claim 1 + complete": (claim(1), 1),
        "claim 100 + complete": (claim(100), 100),
        "enqueue 100": (enqueue + ";\n", 100),
    }


def install_pgqueuer(dsn: str) -> None:
    from pgqueuer.queries import Queries

    async def install() -> None:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        try:
            await Queries.from_psycopg_connection(conn).install()
        finally:
            await conn.close()

    asyncio.run(install())


def install_procrastinate(dsn: str) -> None:
    schema = (resources.files("procrastinate") / "sql" / "schema.sql").read_text()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(schema)  # the library's own schema file
        for _ in range(2):  # one registered worker per pgbench client
            conn.execute("SELECT procrastinate_register_worker_v1()")


def _fill_cdlstore(c: psycopg.Connection, n: int) -> None:
    c.execute(
        "INSERT INTO ops.task_executions (task_name, task_type, tenant) "
        "SELECT 'bench', 'work', %s FROM generate_series(1, %s)",
        [TENANT, n],
    )


def _fill_floor(c: psycopg.Connection, n: int) -> None:
    _fill_cdlstore(c, n)
    c.execute(
        "INSERT INTO bench_floor.tasks (task_name, task_type, tenant) "
        "SELECT 'bench', 'work', %s FROM generate_series(1, %s)",
        [TENANT, n],
    )


FILLS: dict[str, Callable[[psycopg.Connection, int], None]] = {
    "cdlstore": _fill_cdlstore,
    "floor": _fill_floor,
    "pgqueuer": lambda c, n: c.execute(
        "INSERT INTO pgqueuer (priority, entrypoint, status) "
        "SELECT 0, 'work', 'queued' FROM generate_series(1, %s)",
        [n],
    ),
    "procrastinate": lambda c, n: c.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
        "SELECT 'work', 't', '{}' FROM generate_series(1, %s)",
        [n],
    ),
}
EMPTY = {
    "cdlstore": "DELETE FROM ops.task_executions",
    "floor": "DELETE FROM ops.task_executions; TRUNCATE bench_floor.tasks",
    "pgqueuer": "TRUNCATE pgqueuer, pgqueuer_log",
    "procrastinate": "TRUNCATE procrastinate_jobs CASCADE",
}


def install_floor(dsn: str) -> str:
    """The floor's schema and functions, and the application's login; returns its dsn."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_LOGIN]).fetchone():
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN IN ROLE cdlstore_app").format(
                    sql.Identifier(APP_LOGIN)
                )
            )
        conn.execute(floor_sql())
    return make_conninfo(dsn, user=APP_LOGIN)


def main() -> None:
    started = time.time()
    names = {
        q: f"cdlstore_bench_peers_{q}" for q in ("tpcb", "cdlstore", "pgqueuer", "procrastinate")
    }
    dsns = {q: testdb.create_empty(db) for q, db in names.items()}
    pgbench_init(dsns["tpcb"])
    from cdlstore import migrations

    migrations.migrate(dsns["cdlstore"])
    app = install_floor(dsns["cdlstore"])
    dsns["floor"] = dsns["cdlstore"]  # the floor's schema lives beside ops
    install_pgqueuer(dsns["pgqueuer"])
    install_procrastinate(dsns["procrastinate"])
    scripts = {
        "cdlstore": CDL,
        "floor": floor_scripts(),
        "pgqueuer": pgqueuer_scripts(),
        "procrastinate": PROCRASTINATE,
    }
    import bench.common

    bench.common.SECONDS = int(SECONDS)  # the length of each pgbench run
    rates: dict[tuple[str, str], list[float]] = {}
    print(f"{ROUNDS} rounds of {SECONDS} s runs, 2 clients", flush=True)
    for r in range(ROUNDS):
        rates.setdefault(("tpcb", "TPC-B"), []).append(
            pgbench(dsns["tpcb"], "-c", "2", "-j", "2")["tps"]
        )
        for queue, runs in scripts.items():
            with psycopg.connect(dsns[queue], autocommit=True) as conn:
                conn.execute(EMPTY[queue])
                FILLS[queue](conn, FILL)
                conn.execute("VACUUM ANALYZE")
            # cdlstore and its floors as the application: its login, tenancy on
            dsn, options = (
                (app, APP_OPTIONS) if queue in ("cdlstore", "floor") else (dsns[queue], "")
            )
            for what, (script, per_tx) in runs.items():
                tps = pgbench(dsn, "-c", "2", "-j", "2", script=script, options=options)["tps"]
                rates.setdefault((queue, what), []).append(tps * per_tx)
        print(f"round {r + 1} done", flush=True)
    median = {k: statistics.median(v) for k, v in rates.items()}
    tpcb = median[("tpcb", "TPC-B")]
    print(f"\nmedians (jobs/s; TPC-B {tpcb:.0f} tps)")
    print(f"{'':<22}{'cdlstore':>10}{'pgqueuer':>10}{'procr.':>10}  ratios")
    for what in CDL:
        row = [median.get((q, what)) for q in ("cdlstore", "pgqueuer", "procrastinate")]
        cells = "".join(f"{v:>10.0f}" if v else f"{'n/a':>10}" for v in row)
        peers = zip(("pgqueuer", "procr."), row[1:], strict=True)
        ratios = [f"{row[0] / v:.2f} x {q}" for q, v in peers if v and row[0]]
        if what == "claim 1 + complete" and row[0]:
            ratios.append(f"{row[0] / tpcb:.2f} x TPC-B")
        print(f"{what:<22}{cells}  {', '.join(ratios)}")
    print("\nfloors (bench/queue_floor.sql; jobs/s, ratios to the same run's rows)")
    for what in FLOORS:
        real, pgq = median.get(("cdlstore", what)), median.get(("pgqueuer", what))
        pcr = median.get(("procrastinate", what))
        for name in (n for n in scripts["floor"] if n.startswith(what + ",")):
            v = median[("floor", name)]
            ratios = [f"{v / real:.2f} x cdlstore", f"{v / pgq:.2f} x pgqueuer"]
            if pcr:
                ratios.append(f"{v / pcr:.2f} x procr.")
            if what == "claim 1 + complete":
                ratios.append(f"{v / tpcb:.2f} x TPC-B")
            print(f"{name:<42}{v:>10.0f}  {', '.join(ratios)}")
    for db in names.values():
        testdb.drop(db)
    with psycopg.connect(testdb.dsn_for("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(APP_LOGIN)))
    print(json.dumps({"seconds": round(time.time() - started)}))


if __name__ == "__main__":
    main()
