"""Every API function, walked from the catalog: each text, number and JSON parameter gets
oversized, empty, negative and out-of-range values, and the call either succeeds or raises one
of our CD codes. Any other SQLSTATE (54000 from a btree index, 23514 from a CHECK, 22001, 2201W,
22003 from a cast inside the function ...) is a bad-input path that escaped our checks."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

# past the ~2.7 KB a btree index entry may hold, even compressed
LONG = base64.b64encode(random.Random(14).randbytes(3000)).decode()
INT4 = ["-1", "0", "2147483647", "-2147483648"]
INT8 = ["-1", "0", "9223372036854775807", "-9223372036854775808"]
NUMERIC = ["-1", "0", "1e30", "-1e30"]
TEXT = ["", " ", LONG]
JSONS = [
    "{}",
    "[]",
    '""',
    "-1",
    "1e30",
    json.dumps(LONG),
    json.dumps({LONG: LONG}),
    json.dumps([LONG]),
    json.dumps({"a": {"b": LONG}}),
]

HOSTILE: dict[str, list[str]] = {
    "text": TEXT,
    "character varying": TEXT,
    "integer": INT4,
    "smallint": ["-1", "0", "32767", "-32768"],
    "bigint": INT8,
    "numeric": NUMERIC,
    "double precision": ["-1", "0", "1e300", "-1e300"],
    "real": ["-1", "0", "1e38"],
    "jsonb": JSONS,
    "json": JSONS,
    "text[]": ["{}", '{""}', "{" + json.dumps(LONG) + "}"],
    "character varying[]": ["{}", '{""}', "{" + json.dumps(LONG) + "}"],
}

# a plausible value for each other required parameter, so that calls get past the first check
BASE: dict[str, str] = {
    "text": "x",
    "character varying": "x",
    "integer": "1",
    "smallint": "1",
    "bigint": "1",
    "numeric": "1",
    "double precision": "1",
    "real": "1",
    "jsonb": "{}",
    "json": "{}",
    "uuid": "00000000-0000-0000-0000-000000000001",
    "boolean": "false",
    "date": "2026-01-01",
    "timestamp with time zone": "2026-01-01T00:00:00Z",
    "interval": "1 day",
    "text[]": "{x}",
    "character varying[]": "{x}",
}
BASE_BY_NAME = {
    "email": "a@example.com",
    "severity": "info",
    "role": "user",
    "pattern_type": "greeting",
    "knowledge_type": "identity",
    "scenario": "first_meeting",
    "data_type": "string",
    "field_type": "identity",
    "field_path": "identity.age",
    "container": "accounts",
}


def seed(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], str]:
    """Objects for the walk's calls to find (a character x, a profile, a session, a document,
    a workflow run, a running task), by (parameter name, type)."""
    one = conn.execute
    one('SELECT cdl.import_character_from_json(\'{"identity": {"name": "x"}}\')')
    account = one("SELECT game.create_account('walk@example.com')").fetchone()
    assert account is not None
    profile = one("SELECT game.create_profile(%s, 'p')", account).fetchone()
    assert profile is not None
    session = one("SELECT game.start_game_session(%s, 'forest') ->> 'id'", profile).fetchone()
    document = one("SELECT document_uuid FROM docstore.put_document('x', 'x', '{}')").fetchone()
    run = one("SELECT ops.create_workflow('x')").fetchone()
    one("SELECT ops.enqueue_task('x', 'x')")
    task = one("SELECT ops.claim_tasks('w', '{x}') -> 0 ->> 'execution_id'").fetchone()
    assert session and document and run and task
    return {
        ("account_id", "bigint"): str(account[0]),
        ("profile_id", "bigint"): str(profile[0]),
        ("session_id", "bigint"): str(session[0]),
        ("document_uuid", "uuid"): str(document[0]),
        ("workflow_id", "uuid"): str(run[0]),
        ("execution_id", "uuid"): str(task[0]),
        ("version", "integer"): "1",
    }


SKIP = {
    "docstore.create_metadata_index",  # returns DDL for an autocommit connection to run
}


def api_functions(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            """SELECT p.oid::regprocedure::text AS signature, n.nspname || '.' || p.proname AS name,
                  p.proargnames[1:p.pronargs] AS names,
                  ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) AS t) AS types,
                  p.pronargs - p.pronargdefaults AS required
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game') AND p.prosecdef
           ORDER BY 1"""
        )
        .fetchall()
    )


def call(
    conn: psycopg.Connection[Any],
    fn: dict[str, Any],
    index: int,
    value: str,
    seeded: dict[tuple[str, str], str],
) -> str | None:
    """Call fn with argument ``index`` set to ``value``; returns the SQLSTATE, None on success."""
    args = []
    for i, (name, type_) in enumerate(zip(fn["names"], fn["types"], strict=True)):
        if i == index:
            literal = value
        elif i < fn["required"]:
            literal = seeded.get((name, type_)) or BASE_BY_NAME.get(name, BASE.get(type_, "x"))
        else:
            continue
        args.append(
            sql.SQL("{} => {}::{}").format(
                sql.Identifier(name), sql.Literal(literal), sql.SQL(type_)
            )
        )
    schema, function = fn["name"].split(".")
    query = sql.SQL("SELECT {}.{}({})").format(
        sql.Identifier(schema), sql.Identifier(function), sql.SQL(", ").join(args)
    )
    try:
        with conn.transaction():
            conn.execute("SET LOCAL ROLE cdlstore_app")
            conn.execute("SET LOCAL statement_timeout = '20s'")
            conn.execute(query)
    except psycopg.Error as exc:
        return exc.sqlstate or "?"
    return None


def test_every_api_parameter_refuses_hostile_values_with_our_codes(
    conn: psycopg.Connection[Any],
) -> None:
    functions = [f for f in api_functions(conn) if f["name"] not in SKIP]
    seeded = seed(conn)
    assert len(functions) > 80  # the walk sees the API, not an empty catalog
    escaped: list[str] = []
    walked = 0
    for fn in functions:
        for index, type_ in enumerate(fn["types"]):
            for value in HOSTILE.get(type_, []):
                walked += 1
                code = call(conn, fn, index, value, seeded)
                if code is not None and not code.startswith("CD"):
                    escaped.append(f"{fn['signature']} {fn['names'][index]}={value[:20]!r}: {code}")
    assert walked > 500
    assert not escaped, "\n".join(escaped)
