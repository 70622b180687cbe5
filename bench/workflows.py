"""Workflow engine benchmark (`make bench`). Numbers only, never pass/fail.

1. process_workflow_message calls/s for 1,000 users with 2 clients, against pgbench TPC-B
   (the default script) on the same server in the same run: each pgbench transaction is an
   order and its payment (two calls), and only the messages whose action was started or
   transitioned are counted (from the execution log); the share of the others is printed.
   Beside it, in the same alternating rounds, the floor prototype (FLOOR, installed into the
   schema bench_floor for the run and dropped after it): the smallest SECURITY DEFINER
   function that does what a message of this conversation requires (the tenant guard, the
   character, the user's lock, the locked active instance, trigger and transition matching,
   the instance written with its log rows, the result), so that the gap between the two is what
   the real function does beyond the requirements. Both are called by an unbound login in
   cdlstore_app naming its tenant (BENCH_TENANT, default "bench"): tenancy on;
2. check_workflow_triggers p95 latency on one character with 32 and with 500 trigger patterns.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import cdlstore
from bench.common import SECONDS, pgbench, pgbench_init
from cdlstore.dev import testdb

DB = "cdlstore_bench_workflows"
TENANT = os.environ.get("BENCH_TENANT", "bench")
ON = f"-c cdlstore.tenant={TENANT}"  # tenancy on for the app login's pgbench runs
LOGIN = "cdlstore_bench_app"  # an unbound login in cdlstore_app, as an application connects
BAR = {
    "workflows": {
        "order": {
            "triggers": {
                "patterns": ["pour me (a |an |some )?(\\w+)"],
                "keywords": ["tea", "grog"],
            },
            "states": {
                "waiting": {
                    "prompt_injection": "ordered {context.drink}",
                    "transitions": [
                        {
                            "to_state": "served",
                            "triggers": {"patterns": ["here you are"]},
                            "action": "complete_transaction",
                        }
                    ],
                },
                "served": {"final": True},
            },
            "initial_state": "waiting",
            "on_trigger": {
                "extract_context": {
                    "drink": {"from": "pattern_group", "group": 2, "default": "tea"}
                }
            },
        }
    },
    "config": {"default_timeout_seconds": 600},
}


def many_patterns(count: int) -> dict[str, Any]:
    """One workflow per 16 patterns, each pattern distinct; the last one is the one that hits."""
    workflows = {}
    for w in range(0, count, 16):
        patterns = [f"order number {i} (\\w+)" for i in range(w, min(w + 16, count))]
        workflows[f"w{w}"] = {
            "triggers": {"patterns": patterns},
            "states": {"done": {"final": True}},
            "initial_state": "done",
        }
    return {"workflows": workflows}


def p95_ms(conn: psycopg.Connection[Any], messages: list[str], rounds: int = 1000) -> float:
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        conn.execute(
            "SELECT cdl.check_workflow_triggers('patterns', %s, 'u')", [messages[i % len(messages)]]
        ).fetchone()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.quantiles(times, n=20)[18]


# The floor: what one message of the bench's order -> pay conversation must do, and nothing else
# (no other extractor kind, no LLM verdicts, no context_required, no limits beyond "one active
# instance", no start into a final state): run as the API runs, SECURITY DEFINER, owned by
# cdlstore_owner, on the real tables with their RLS, indexes and triggers.
FLOOR = """
CREATE SCHEMA bench_floor;
CREATE FUNCTION bench_floor.process_message(user_id varchar, character_name varchar, message text)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = cdl, pg_temp
AS $$
DECLARE
    call_tenant text := cdlstore_internal.current_tenant();  -- the real guard, first
    v_character bigint;
    inst record;
    tr record;
    w record;
    x jsonb;
    p text;
    g text[];
    v_context jsonb := '{}';
BEGIN
    IF user_id IS NULL OR length(user_id) NOT BETWEEN 1 AND 200 OR length(message) > 10000 THEN
        RAISE EXCEPTION 'bad input' USING ERRCODE = 'CD001';
    END IF;
    SELECT c.id INTO v_character FROM cdl.characters c WHERE c.normalized_name = character_name;
    IF v_character IS NULL THEN
        RAISE EXCEPTION 'character % not found', character_name USING ERRCODE = 'CD002';
    END IF;
    -- one message of a user to a character at a time
    PERFORM pg_advisory_xact_lock(hashtext('cdlstore.workflow.' || v_character), hashtext(user_id));
    SELECT i.id, i.workflow_id, i.current_state, i.context, i.timeout_at <= now() AS overdue
    INTO inst
    FROM cdl.workflow_instances i
    WHERE i.user_id = process_message.user_id AND i.character_id = v_character
      AND i.status = 'active'
    FOR UPDATE;
    IF inst.overdue THEN
        PERFORM cdl._expire(now(), user_id, v_character);
        inst := NULL;
    END IF;
    IF inst.id IS NOT NULL THEN
        FOR tr IN SELECT t.to_state, t.patterns, t.keyword_query, t.action, t.to_final,
                         t.to_timeout_seconds, t.to_prompt_injection, t.workflow_name,
                         t.system_prompt_addition,
                         cdl._state_status(t.to_final, t.to_state, t.action) AS status
                  FROM cdl.workflow_transitions t
                  WHERE t.workflow_id = inst.workflow_id AND t.from_state = inst.current_state
                  ORDER BY t.sort_order LOOP
            p := NULL;
            FOREACH p IN ARRAY tr.patterns LOOP
                EXIT WHEN message ~* ('(' || p || ')');
                p := NULL;
            END LOOP;
            CONTINUE WHEN p IS NULL
                AND NOT coalesce(to_tsvector('cdl.keywords', message) @@ tr.keyword_query, false);
            WITH moved AS (
                UPDATE cdl.workflow_instances i
                SET current_state = tr.to_state, status = tr.status, updated_at = now(),
                    timeout_at = cdl._state_timeout(tr.to_final, tr.to_timeout_seconds, now()),
                    completed_at = CASE WHEN tr.status <> 'active' THEN now() END
                WHERE i.id = inst.id
                RETURNING i.id
            )
            INSERT INTO cdl.workflow_execution_log (instance_id, user_id, event_type, from_state,
                                                    to_state, message, details)
            SELECT moved.id, process_message.user_id, e.event, e.from_state, e.to_state, e.message,
                   e.details
            FROM moved,
                 (VALUES (1, 'transition_triggered'::cdl.workflow_event_enum,
                          inst.current_state::text, tr.to_state::text, message,
                          jsonb_build_object('pattern', p, 'action', tr.action)),
                         (2, cdl._end_event(tr.status), tr.to_state::text, NULL, NULL, '{}'::jsonb))
                 AS e (n, event, from_state, to_state, message, details)
            WHERE e.event IS NOT NULL
            ORDER BY e.n;
            RETURN cdl._step_json('transitioned', inst.id, tr.workflow_name, tr.to_state, tr.status,
                                  inst.context, tr.to_prompt_injection, tr.system_prompt_addition);
        END LOOP;
        RETURN jsonb_build_object('action', 'unchanged', 'instance_id', inst.id);
    END IF;
    -- the workflow rows are locked as a foreign key's check would lock them (FOR KEY SHARE)
    FOR w IN SELECT cw.id, cw.patterns, cw.keyword_query, cw.extractors, cw.initial_state,
                    cw.workflow_name, cw.on_trigger_action, cw.definition_version,
                    cw.initial_prompt_injection, cw.system_prompt_addition,
                    cdl._state_status(cw.initial_final, cw.initial_state, cw.on_trigger_action)
                        AS status,
                    cdl._state_timeout(cw.initial_final, cw.initial_timeout_seconds, now())
                        AS timeout_at
             FROM cdl.character_workflows cw
             WHERE cw.character_id = v_character AND cw.is_current
             ORDER BY cw.sort_order
             FOR KEY SHARE LOOP
        p := NULL;
        FOREACH p IN ARRAY w.patterns LOOP
            g := regexp_match(message, '(' || p || ')', 'i');
            EXIT WHEN g IS NOT NULL;
            p := NULL;
        END LOOP;
        CONTINUE WHEN p IS NULL
            AND NOT coalesce(to_tsvector('cdl.keywords', message) @@ w.keyword_query, false);
        FOR i IN 0 .. jsonb_array_length(w.extractors) - 1 LOOP  -- pattern_group extractors only
            x := w.extractors -> i;
            v_context := v_context || jsonb_build_object(x ->> 'key', coalesce(
                to_jsonb(nullif(btrim(g[(x -> 'config' ->> 'group')::integer + 1]), '')),
                x -> 'config' -> 'default'));
        END LOOP;
        WITH started AS (
            INSERT INTO cdl.workflow_instances (id, user_id, character_id, workflow_id,
                                                current_state, context, status, timeout_at)
            OVERRIDING SYSTEM VALUE
            VALUES (cdl._instance_id(user_id), user_id, v_character, w.id, w.initial_state,
                    v_context, w.status, w.timeout_at)
            RETURNING id
        )
        INSERT INTO cdl.workflow_execution_log (instance_id, user_id, event_type, to_state, message,
                                                details)
        SELECT s.id, process_message.user_id, 'workflow_started', w.initial_state, message,
               jsonb_build_object('pattern', p, 'definition_version', w.definition_version,
                                  'action', w.on_trigger_action)
        FROM started s
        RETURNING instance_id INTO inst;
        RETURN cdl._step_json('started', inst.instance_id, w.workflow_name, w.initial_state,
                              w.status, v_context, w.initial_prompt_injection,
                              w.system_prompt_addition);
    END LOOP;
    RETURN jsonb_build_object('action', 'none');
END
$$;
ALTER FUNCTION bench_floor.process_message(varchar, varchar, text) OWNER TO cdlstore_owner;
REVOKE ALL ON FUNCTION bench_floor.process_message(varchar, varchar, text) FROM PUBLIC;
GRANT USAGE ON SCHEMA bench_floor TO cdlstore_app;
GRANT EXECUTE ON FUNCTION bench_floor.process_message(varchar, varchar, text) TO cdlstore_app;
"""


def order_and_pay_script(function: str, prefix: str) -> str:
    """An order and its payment by one of 500 users per client (users per client and per
    function: every order can start)."""
    user = f"'{prefix}' || :client_id || '-' || :u"
    return (
        "\\set u random(1, 500)\n"
        f"SELECT {function}({user}, 'bench_bar', 'pour me a grog');\n"
        f"SELECT {function}({user}, 'bench_bar', 'here you are');\n"
    )


ORDER_AND_PAY = order_and_pay_script("cdl.process_workflow_message", "c")
FLOOR_ORDER_AND_PAY = order_and_pay_script("bench_floor.process_message", "f")
REAL_STEPS = (
    "SELECT count(*) FILTER (WHERE event_type IN ('workflow_started', 'transition_triggered')) "
    "FROM cdl.workflow_execution_log"
)


def app_login(dsn: str) -> str:
    """The dsn of an unbound login in cdlstore_app (created once per server)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [LOGIN]).fetchone():
            conn.execute(f"CREATE ROLE {LOGIN} LOGIN IN ROLE cdlstore_app")
    params = conninfo_to_dict(dsn)
    params["user"] = LOGIN
    return make_conninfo(**params)


def order_and_pay(dsn: str, rounds: int = 3) -> dict[str, tuple[float, float]]:
    """Best of a few alternating rounds (TPC-B, the real function, the floor, again): TPC-B tps,
    and for each function the real messages/s (started or transitioned) and the share of the
    other messages."""
    app = app_login(dsn)
    two = ["-c", "2", "-j", "2"]
    best: dict[str, tuple[float, float]] = {"tpcb": (0.0, 0.0)}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(rounds):
            tps = pgbench(dsn, *two)["tps"]
            best["tpcb"] = max(best["tpcb"], (tps, 0.0))
            for name, script in (("real", ORDER_AND_PAY), ("floor", FLOOR_ORDER_AND_PAY)):
                before = conn.execute(REAL_STEPS).fetchone()[0]  # type: ignore[index]
                run = pgbench(app, *two, script=script, options=ON)
                steps = conn.execute(REAL_STEPS).fetchone()[0] - before  # type: ignore[index]
                sent = 2 * run["transactions"]
                real = 2 * run["tps"] * steps / sent if sent else 0.0
                if real > best.get(name, (0.0, 0.0))[0]:
                    best[name] = (real, 1 - steps / sent)
    return best


def main() -> None:
    dsn = testdb.create_template(DB)
    print(f"benchmark database {DB}; {SECONDS} s per pgbench run", flush=True)
    results = []
    with cdlstore.connect(dsn, tenant=TENANT) as client:
        client.characters.import_character_from_json({"name": "bench_bar"})
        client.workflows.import_workflow_from_yaml("bench_bar", BAR)
        pgbench_init(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(FLOOR)
        best = order_and_pay(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA bench_floor CASCADE")
        tpcb = best["tpcb"][0]
        for name, label in (
            ("real", "process_workflow_message"),
            ("floor", "floor prototype (bench_floor)"),
        ):
            real, share_other = best[name]
            results.append(
                (
                    f"{label}, order -> pay, 2 clients",
                    f"{real:.0f} msgs/s",
                    f"{real / tpcb:.2f} x pgbench TPC-B ({tpcb:.0f} tps); goal 0.8; "
                    f"{share_other:.1%} of the messages were neither started nor transitioned",
                )
            )
        real_rate, floor_rate = best["real"][0], best["floor"][0]
        results.append(
            (
                "process_workflow_message / floor prototype",
                f"{real_rate / floor_rate:.2f} x" if floor_rate else "-",
                "",
            )
        )
        client.characters.import_character_from_json({"name": "patterns"})
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT set_config('cdlstore.tenant', %s, false)", [TENANT])
            p95 = {}
            for count in (32, 500):
                client.workflows.import_workflow_from_yaml("patterns", many_patterns(count))
                for kind, message in (
                    ("no match", "nothing to see here"),
                    ("last pattern", f"order number {count - 1} please"),
                ):
                    p95_ms(conn, [message], 100)  # warm up
                    p95[count, kind] = p95_ms(conn, [message])
            for kind in ("no match", "last pattern"):
                results.append(
                    (
                        f"check_workflow_triggers p95, {kind}, 32 patterns",
                        f"{p95[32, kind]:.3f} ms",
                        "",
                    )
                )
                results.append(
                    (
                        f"check_workflow_triggers p95, {kind}, 500 patterns",
                        f"{p95[500, kind]:.3f} ms",
                        f"{p95[500, kind] / p95[32, kind]:.2f} x the time at 32; "
                        "goals under 1 ms and 2 x",
                    )
                )
    print()
    for what, value, against in results:
        print(f"{what:<50} {value:<14} {against}")
    testdb.drop(DB)


if __name__ == "__main__":
    main()
