"""Property-based tests against the real database: whatever arrives, a call either succeeds or
raises one of our errors (never an internal error), and a failed call writes nothing."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cdlstore
from cdlstore import Client, errors

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)
names = st.text(min_size=0, max_size=30)


def counts(conn: psycopg.Connection[Any]) -> tuple[int, ...]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM cdl.characters), "
        "(SELECT count(*) FROM cdl.character_field_values),"
        " (SELECT count(*) FROM cdl.character_change_log)"
    ).fetchone()
    return tuple(row.values())


@SETTINGS
@given(body=st.dictionaries(st.text(max_size=12), json_values, max_size=6), name=names)
def test_any_character_document(
    client: Client, conn: psycopg.Connection[Any], body: dict[str, Any], name: str
) -> None:
    document = {"identity": {"name": name}, **body}
    before = counts(conn)
    try:
        character_id = client.characters.import_character_from_json(document)
    except errors.CdlstoreError as exc:
        assert type(exc) is not errors.CdlstoreError, exc  # one of our classes, not "unknown"
        assert counts(conn) == before
        return
    character = client.characters.get_character_complete(
        next(c.name for c in client.characters.list_characters() if c.id == character_id)
    )
    assert (
        client.characters.export_character_json(character.normalized_name)["character"]
        == character.cdl
    )


@SETTINGS
@given(message=st.text(max_size=200), user=st.text(min_size=1, max_size=20))
def test_any_message_to_the_workflows(client: Client, message: str, user: str) -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "examples"
    if not client.characters.list_characters():
        client.characters.import_file(root / "characters" / "iris_marlow.json")
        client.workflows.import_file("iris_marlow", root / "workflows" / "iris_marlow.yaml")
    for call in (
        lambda: client.workflows.check_workflow_triggers(user, "iris_marlow", message),
        lambda: client.workflows.process_workflow_message(user, "iris_marlow", message),
    ):
        try:
            call()
        except errors.CdlstoreError as exc:
            assert type(exc) is not errors.CdlstoreError, exc  # one of our classes, not "unknown"


@SETTINGS
@given(
    cursor=st.text(max_size=80),
    metadata=st.dictionaries(st.text(max_size=8), json_scalars, max_size=3),
)
def test_any_cursor_and_metadata_filter(
    client: Client, cursor: str, metadata: dict[str, Any]
) -> None:
    for call in (
        lambda: client.documents.list_by_session("s", after=cursor),
        lambda: client.documents.list_documents(
            "ns", "t", metadata_filter=metadata, after=cursor or None
        ),
    ):
        try:
            call()
        except errors.CdlstoreError as exc:
            assert type(exc) is not errors.CdlstoreError, exc  # one of our classes, not "unknown"


@pytest.mark.parametrize(
    "text",
    ["nul \u0000 inside", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")],
)
def test_strings_postgres_cannot_store(client: Client, text: str) -> None:
    try:
        client.characters.import_character_from_json({"identity": {"name": "Nul"}, "note": text})
    except errors.CdlstoreError as exc:
        assert type(exc) is not errors.CdlstoreError, exc


state_names = st.sampled_from(["start", "middle", "done", "cancelled", "x"])
patterns = st.text(alphabet="ab()[]*+?|\\.^$ {}1", max_size=12)
workflow_files = (
    st.fixed_dictionaries(
        {
            "workflows": st.dictionaries(
                st.text(min_size=1, max_size=8),
                st.fixed_dictionaries(
                    {
                        "triggers": st.fixed_dictionaries(
                            {
                                "patterns": st.lists(patterns, max_size=3),
                                "keywords": st.lists(st.text(max_size=6), max_size=3),
                            }
                        ),
                        "states": st.dictionaries(
                            state_names,
                            st.fixed_dictionaries(
                                {
                                    "final": st.booleans(),
                                    "prompt_injection": st.text(
                                        alphabet="ab {}.context", max_size=20
                                    ),
                                    "transitions": st.lists(
                                        st.fixed_dictionaries(
                                            {
                                                "to_state": state_names,
                                                "triggers": st.fixed_dictionaries(
                                                    {"patterns": st.lists(patterns, max_size=2)}
                                                ),
                                                "action": st.sampled_from(
                                                    [
                                                        "complete_transaction",
                                                        "cancel_transaction",
                                                        "explode",
                                                    ]
                                                ),
                                            }
                                        ),
                                        max_size=2,
                                    ),
                                }
                            ),
                            max_size=3,
                        ),
                        "initial_state": state_names,
                        "on_trigger": st.fixed_dictionaries(
                            {
                                "extract_context": st.dictionaries(
                                    st.text(alphabet="abc", min_size=1, max_size=3),
                                    st.fixed_dictionaries(
                                        {
                                            "from": st.sampled_from(
                                                ["pattern_group", "message", "literal", "telepathy"]
                                            ),
                                            "value": json_scalars,
                                        }
                                    ),
                                    max_size=2,
                                )
                            }
                        ),
                    }
                ),
                max_size=2,
            ),
            "config": st.fixed_dictionaries(
                {"workflow_priority": st.sampled_from(["first_match", "best_match", "nope"])}
            ),
        }
    )
    | json_values
)


@SETTINGS
@given(document=workflow_files)
def test_any_workflow_file(client: Client, conn: psycopg.Connection[Any], document: Any) -> None:
    if not client.characters.list_characters():
        client.characters.import_character_from_json({"identity": {"name": "Wf"}})
    before = conn.execute(
        "SELECT (SELECT count(*) FROM cdl.workflow_files) + "
        "(SELECT count(*) FROM cdl.character_workflows) AS n"
    ).fetchone()["n"]
    try:
        client.workflows.import_workflow_from_yaml("wf", document)
    except errors.CdlstoreError as exc:
        assert type(exc) is not errors.CdlstoreError, (
            exc
        )  # one of our classes, with the place named
        after = conn.execute(
            "SELECT (SELECT count(*) FROM cdl.workflow_files) + "
            "(SELECT count(*) FROM cdl.character_workflows) AS n"
        ).fetchone()["n"]
        assert after == before
        return
    for message in ("ab", "a(b", "start"):
        try:
            client.workflows.process_workflow_message("u", "wf", message)
        except errors.CdlstoreError as exc:
            assert type(exc) is not errors.CdlstoreError, exc


@SETTINGS
@given(pattern=st.text(alphabet="ab()[]*+?|\\.{},0123456789:w", max_size=24))
def test_any_regex_is_refused_or_runs_as_checked(
    client: Client, conn: psycopg.Connection[Any], pattern: str
) -> None:
    """A pattern from outside is refused with CD001 or accepted -- and then runs, as a validation
    rule and as a trigger, never past a statement timeout (LimitExceeded would fail this test)
    and never with a server error (2201B: what ran is not what was checked)."""
    conn.execute("SET statement_timeout = '5s'")
    rules = "SELECT array_agg(validation_rules) AS r FROM cdl.character_field_definitions"
    before = conn.execute(rules).fetchone()
    try:
        client.characters.define_character_field(
            "hostile.rule", "string", validation_rules={"pattern": pattern}
        )
    except errors.InvalidInput:
        assert conn.execute(rules).fetchone() == before
        return
    # accepted: it runs as checked, on a value and as a workflow trigger, without a server error
    for call in (
        lambda: client.characters.import_character_from_json(
            {"identity": {"name": "Rex"}, "hostile": {"rule": "ab" * 40}}
        ),
        lambda: client.characters.import_character_from_json({"identity": {"name": "Wf"}}),
        lambda: client.workflows.import_workflow_from_yaml(
            "wf",
            {
                "workflows": {
                    "w": {
                        "triggers": {"patterns": [pattern]},
                        "states": {"s": {"final": True}},
                        "initial_state": "s",
                    }
                }
            },
        ),
        lambda: client.workflows.process_workflow_message("u", "wf", "ab" * 40 + "{},:w"),
    ):
        try:
            with conn.transaction():
                call()
        except errors.CdlstoreError as exc:
            assert type(exc) is not errors.CdlstoreError, exc  # one of our classes, not 2201B
            assert exc.sqlstate != "57014", exc  # not cancelled by the statement timeout


def test_matching_runs_under_the_statement_timeout(own_clone: str) -> None:
    """Patterns that pass the import checks still cost something per message: with a statement
    timeout (connect(statement_timeout=...), 30 s by default) a call that runs past it is
    cancelled, raises LimitExceeded and writes nothing."""
    heavy = [f"[ab]*a[ab]{{{200 + i}}}x?$" for i in range(12)]  # each compiles and runs in ms
    workflow = {
        "workflows": {
            "heavy": {
                "triggers": {"patterns": heavy},
                "states": {"done": {"final": True}},
                "initial_state": "done",
            }
        }
    }
    message = ("ab" * 5000)[:10000]
    with (
        cdlstore.connect(own_clone) as slow,
        cdlstore.connect(own_clone, statement_timeout=0.001) as bounded,
    ):
        slow.characters.import_character_from_json({"identity": {"name": "Timer"}})
        slow.workflows.import_workflow_from_yaml("timer", workflow)
        assert (
            slow.workflows.check_workflow_triggers("u1", "timer", message) is not None
        )  # runs unbounded
        assert bounded._one("SHOW statement_timeout")["statement_timeout"] == "1ms"
        with pytest.raises(errors.LimitExceeded) as caught:
            bounded.workflows.process_workflow_message("u1", "timer", message)
        assert caught.value.sqlstate == "57014"
        row = slow._one(
            "SELECT (SELECT count(*) FROM cdl.workflow_instances) AS instances, "
            "(SELECT count(*) FROM cdl.workflow_execution_log) AS log"
        )
        assert row == {"instances": 0, "log": 0}
