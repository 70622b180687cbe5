"""Character store benchmark (`make bench`). Numbers only, never pass/fail.

Measures, on one fresh database of the current server:
1. get_character_complete calls/s with 2 clients on a ~30 KB character, against `pgbench -S`
   (best of three alternating rounds each);
2. upsert_character_field latency with 10 characters and with 10,000 in the database (two
   databases, the runs on each taking turns, the best of three each);
3. field writes/s against the same single-row UPDATE on a copy of the values table with no
   triggers, no document and no log (synchronous_commit on, then off to show CPU cost alone),
   and the floor under a field write: the real value row's UPDATE with its change-log trigger
   (best of three alternating rounds each);
4. client.characters.get calls/s against bare psycopg running the same SQL (best of seven
   alternating rounds of 500 calls each).
Beside 1 and 3, in the same alternating rounds, the floor prototypes of bench/characters_floor.sql
(installed into a schema bench_floor of the bench database, called by a login of cdlstore_app,
bench_app, as the real functions are): what the least code that keeps the guarantees reaches, and
the real functions called by that login too.
Every run of the character store has tenancy on: the clients and pgbench sessions set
cdlstore.tenant (BENCH_TENANT, default "bench"). Characters are imported from JSON text, so
they keep the key order of the document (what is loaded is the ordered text).
Set BENCH_SECONDS (default 10) for the length of each pgbench run.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

import cdlstore
from bench.common import (
    SECONDS,
    best_alternating,
    pgbench,
    pgbench_init,
    timed_loops,
)
from cdlstore.dev import testdb

GET_SQL = "SELECT cdl.get_character_complete(%(name)s) AS doc"  # the bare call, no client

TENANT = os.environ.get("BENCH_TENANT", "bench")
ON = f"-c cdlstore.tenant={TENANT}"  # tenancy on, for every pgbench run of the character store
APP = "bench_app"  # an unbound login of cdlstore_app: the floor prototypes' caller
FLOOR_SQL = Path(__file__).with_name("characters_floor.sql")
DB = "cdlstore_bench"
DB_BIG = "cdlstore_bench_10k"
WORDS = (
    "memory light harbour whisper ember velvet storm quiet lantern river amber echo silver "
    "garden compass winter thread bridge hollow meadow signal orchard cedar tide ribbon "
    "canvas ledger marble saffron willow cobalt thunder"
).split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def realistic_character(name: str, size_kb: int = 30, seed: int = 7) -> dict[str, Any]:
    """A wrapped CDL document of about size_kb, shaped like real files: nested sections of
    strings, numbers, lists and objects."""
    rng = random.Random(seed)
    character: dict[str, Any] = {
        "metadata": {
            "name": name,
            "version": "1.0.0",
            "tags": [rng.choice(WORDS) for _ in range(8)],
        },
        "identity": {
            "name": name,
            "age": 33,
            "occupation": "Keeper of the " + sentence(rng, 2),
            "description": sentence(rng, 90),
            "voice": {"tone": sentence(rng, 6)},
        },
        "personality": {
            "big_five": {
                t: round(rng.random(), 2)
                for t in (
                    "openness",
                    "conscientiousness",
                    "extraversion",
                    "agreeableness",
                    "neuroticism",
                )
            },
            "values": [sentence(rng, 8) for _ in range(6)],
            "quirks": [sentence(rng, 10) for _ in range(5)],
        },
    }
    section = 0
    while len(json.dumps(character)) < size_kb * 1024:
        section += 1
        character[f"section_{section}"] = {
            f"topic_{i}": {
                "summary": sentence(rng, 25),
                "weight": rng.randint(1, 10),
                "examples": [sentence(rng, 12) for _ in range(2)],
            }
            for i in range(6)
        }
    return {"cdl_version": "1.0", "format": "json", "character": character}


def main() -> None:
    dsn = testdb.create_template(DB)
    print(f"benchmark database {DB}; {SECONDS} s per pgbench run", flush=True)
    results: list[tuple[str, str, str]] = []
    with (
        cdlstore.connect(dsn, tenant=TENANT) as client,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        target = realistic_character("Bench Target")
        client.characters.import_character_from_json(target)
        size = len(json.dumps(target["character"]))
        fields = conn.execute("SELECT count(*) FROM cdl.character_field_values").fetchone()[0]
        print(f"target character: {size / 1024:.1f} KB of CDL, {fields} field values", flush=True)
        for i in range(9):
            client.characters.import_character_from_json(
                realistic_character(f"Filler {i}", 3, seed=i)
            )

        conn.execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_app') THEN "
            "CREATE ROLE bench_app LOGIN IN ROLE cdlstore_app; END IF; END $$"
        )
        conn.execute(FLOOR_SQL.read_text())
        app = make_conninfo(dsn, user=APP)

        # 1. loading against pgbench -S, and the floor under it
        pgbench_init(dsn)
        two = ["-c", "2", "-j", "2"]
        get_script = "SELECT cdl.get_character_complete('bench_target');\n"
        floor_loads = {  # run as bench_floor.<function>('bench_target')
            "floor": ("  floor: guard + one SELECT, plpgsql SEC. DEF.", "get_rendered"),
            "floor_sql": ("  the same as LANGUAGE sql SECURITY DEFINER", "get_rendered_sql"),
            "view_fn": ("  plpgsql, no SEC. DEF., over a guarded view", "get_view"),
        }
        calls = {
            k: f"SELECT bench_floor.{fn}('bench_target');\n" for k, (_, fn) in floor_loads.items()
        }
        best = best_alternating(
            {
                "select": (dsn, ["-S", *two], None),
                "load": (dsn, two, get_script),
                "load_app": (app, two, get_script),
                **{k: (app, two, call) for k, call in calls.items()},
                "view": (
                    app,
                    two,
                    "SELECT r.rendered FROM bench_floor.rendered AS r "
                    "WHERE r.normalized_name = 'bench_target';\n",
                ),
                "bare": (
                    dsn,
                    two,
                    "SELECT d.rendered FROM cdl.character_documents AS d "
                    "WHERE d.normalized_name = 'bench_target';\n",
                ),
            },
            options=ON,
        )
        select, load = best["select"], best["load"]
        results.append(
            (
                "get_character_complete, 2 clients",
                f"{load['tps']:.0f} calls/s",
                f"{load['tps'] / select['tps']:.2f} x pgbench -S "
                f"({select['tps']:.0f} tps); goal 0.4",
            )
        )
        rows = [("  the same, called by a cdlstore_app login", "load_app")]
        rows += [(label, key) for key, (label, _) in floor_loads.items()]
        rows.append(("  no function: that view read by the app", "view"))
        rows.append(("  bare SELECT as superuser: no RLS, no guard", "bare"))
        for label, key in rows:
            results.append(
                (
                    label,
                    f"{best[key]['tps']:.0f} calls/s",
                    f"{best[key]['tps'] / select['tps']:.2f} x pgbench -S, "
                    f"{best[key]['tps'] / best['load_app']['tps']:.2f} x the real one (app)",
                )
            )

        # 2 and 3. field writes against a bare UPDATE
        upsert = (
            "\\set v random(1, 1000000)\n"
            "SELECT cdl.upsert_character_field('bench_target', 'identity.age', :v::text::jsonb);\n"
        )
        conn.execute(
            "CREATE TABLE public.bare_values AS SELECT * FROM cdl.character_field_values v "
            "WHERE v.character_id = "
            "(SELECT id FROM cdl.characters WHERE normalized_name = 'bench_target')"
        )
        conn.execute("ALTER TABLE public.bare_values ADD PRIMARY KEY (id)")
        row_id = conn.execute(
            "SELECT v.id FROM public.bare_values v JOIN cdl.character_field_definitions d "
            "ON d.id = v.field_definition_id WHERE d.field_path = 'identity.age'"
        ).fetchone()[0]
        bare = (
            "\\set v random(1, 1000000)\n"
            f"UPDATE public.bare_values SET number_value = :v WHERE id = {row_id};\n"
        )
        real_id = conn.execute(
            "SELECT v.id FROM cdl.character_field_values v "
            "JOIN cdl.character_field_definitions d ON d.id = v.field_definition_id "
            "JOIN cdl.characters c ON c.id = v.character_id "
            "WHERE c.normalized_name = 'bench_target' AND d.field_path = 'identity.age'"
        ).fetchone()[0]
        log_only = (
            "\\set v random(1, 1000000)\n"
            "UPDATE cdl.character_field_values SET number_value = :v, updated_at = now() "
            f"WHERE id = {real_id};\n"
        )
        proto = (
            "\\set v random(1, 1000000)\n"
            "SELECT bench_floor.write_field('bench_target', 'identity.age', :v::text::jsonb);\n"
        )
        conn.execute("CHECKPOINT")
        for label, options in (
            ("synchronous_commit on", ""),
            ("synchronous_commit off", "-c synchronous_commit=off"),
        ):
            # the floor is the value row UPDATE with its change-log trigger and nothing else (no
            # lock, no validation, no document; the next field write levels the document again)
            one = ["-c", "1"]
            best = best_alternating(
                {
                    "ours": (dsn, one, upsert),
                    "plain": (dsn, one, bare),
                    "floor": (dsn, one, log_only),
                    "ours_app": (app, one, upsert),
                    "proto": (app, one, proto),
                },
                options=f"{options} {ON}",
            )
            results.append(
                (
                    f"field writes, 1 client, {label}",
                    f"{best['ours']['tps']:.0f} writes/s",
                    f"{best['ours']['tps'] / best['plain']['tps']:.2f} x bare UPDATE "
                    f"({best['plain']['tps']:.0f}/s); goal 0.25",
                )
            )
            results.append(
                (
                    "  value row UPDATE + change-log trigger only",
                    f"{best['floor']['tps']:.0f} writes/s",
                    f"{best['floor']['tps'] / best['plain']['tps']:.2f} x bare UPDATE: "
                    "a field write's floor",
                )
            )
            for what, key in (
                ("  upsert_character_field by a cdlstore_app login", "ours_app"),
                ("  floor prototype (lock, check, row, section)", "proto"),
            ):
                results.append(
                    (
                        what,
                        f"{best[key]['tps']:.0f} writes/s",
                        f"{best[key]['tps'] / best['plain']['tps']:.2f} x bare UPDATE, "
                        f"{best[key]['tps'] / best['ours_app']['tps']:.2f} x the real one (app)",
                    )
                )

    # 2 and the rest at 10,000 characters: a database of its own, the same target and fillers,
    # so that the runs at 10 and at 10,000 characters can take turns
    big = testdb.create_template(DB_BIG)
    with (
        cdlstore.connect(big, tenant=TENANT) as client,
        psycopg.connect(big, autocommit=True) as conn,
    ):
        print("importing 10,000 characters into a second database ...", flush=True)
        start = time.perf_counter()
        client.characters.import_character_from_json(target)
        for i in range(9999):
            client.characters.import_character_from_json(
                realistic_character(f"Filler {i}", 3, seed=i)
            )
        print(
            f"  {10000 / (time.perf_counter() - start):.0f} imports/s of ~3 KB characters",
            flush=True,
        )
        conn.execute("VACUUM ANALYZE")
        for db in (dsn, big):  # the imports' WAL is not the writes'
            with psycopg.connect(db, autocommit=True) as each:
                each.execute("CHECKPOINT")
        one = ["-c", "1"]
        best = best_alternating({"10": (dsn, one, upsert), "10k": (big, one, upsert)}, options=ON)
        at_10, at_10k = best["10"], best["10k"]
        results.append(
            (
                "upsert_character_field latency",
                f"{at_10['latency_ms']:.3f} ms at 10 characters",
                f"{at_10k['latency_ms']:.3f} ms at 10,000: "
                f"{at_10k['latency_ms'] / at_10['latency_ms']:.2f} x; goal 1.2",
            )
        )
        # the writes just above left the document unrendered: the slow path, then the fast one
        unrendered = pgbench(big, *two, script=get_script, options=ON)
        results.append(
            (
                "  the same, right after a burst of writes",
                f"{unrendered['tps']:.0f} calls/s",
                f"{unrendered['tps'] / select['tps']:.2f} x pgbench -S (built from the tables)",
            )
        )
        for db in (dsn, big):
            with psycopg.connect(db, autocommit=True) as each:
                each.execute("SELECT cdl.render_character_documents()")
        best = best_alternating(
            {"10": (dsn, two, get_script), "10k": (big, two, get_script)}, options=ON
        )
        results.append(
            (
                "get_character_complete at 10,000 characters",
                f"{best['10k']['tps']:.0f} calls/s",
                f"{best['10k']['tps'] / best['10']['tps']:.2f} x the rate at 10 characters",
            )
        )

        # 4. the Python call against bare psycopg
        params = {"name": "bench_target"}
        with psycopg.connect(big, autocommit=True, options=ON) as bare_conn:
            rates = timed_loops(
                {
                    "ours": lambda: client.characters.get_character_complete("bench_target"),
                    "bare": lambda: bare_conn.execute(GET_SQL, params).fetchone(),
                },
                500,
                rounds=7,  # a round is under a second: a few more find the quiet stretches
            )
            ours_py, bare_py = rates["ours"], rates["bare"]
        results.append(
            (
                "client.characters.get",
                f"{ours_py:.0f} calls/s",
                f"{ours_py / bare_py:.2f} x bare psycopg running the same SQL "
                f"({bare_py:.0f}/s); goal 0.8",
            )
        )

    print()
    for what, value, against in results:
        print(f"{what:<46} {value:<26} {against}")
    testdb.drop(DB)
    testdb.drop(DB_BIG)
    with psycopg.connect(testdb.dsn_for("postgres"), autocommit=True) as conn:
        try:  # its grants went with the databases, unless another database still has some
            conn.execute("DROP ROLE IF EXISTS bench_app")
        except psycopg.errors.DependentObjectsStillExist:
            pass


if __name__ == "__main__":
    main()
