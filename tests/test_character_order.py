"""Characters come back with their keys in the order they were written: through import, loading,
export, versions, rollback and diff, for the project's examples, the real fixture files and
random documents (checked as order, not as dict equality)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdlstore import Client

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "characters").glob("*.json"))
CORPUS_DIR = ROOT.parent / "shared" / "fixtures" / "whisperengine"
CORPUS = sorted(CORPUS_DIR.glob("*.json")) if CORPUS_DIR.is_dir() else []
WRAPPER_KEYS = ("cdl_version", "format", "description", "character")


def ordered_merge(base: dict[str, Any], winner: dict[str, Any]) -> dict[str, Any]:
    """The mixed form's rule: winner's keys in its order (objects on both sides merged), then
    the keys only base has, in base's order."""
    out: dict[str, Any] = {}
    for key, value in winner.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = ordered_merge(base[key], value) if both else value
    for key, value in base.items():
        out.setdefault(key, value)
    return out


def expected_cdl(doc: dict[str, Any]) -> dict[str, Any]:
    if isinstance(doc.get("character"), dict):
        beside = {k: v for k, v in doc.items() if k not in WRAPPER_KEYS}
        return ordered_merge(beside, doc["character"])
    return doc


def order_problem(got: Any, want: Any, path: str = "$") -> str | None:
    """Where got differs from want, key order included; None when they are the same."""
    if isinstance(want, dict) and isinstance(got, dict):
        if list(got) != list(want):
            return f"{path}: keys {list(got)} instead of {list(want)}"
        for key in want:
            problem = order_problem(got[key], want[key], f"{path}.{key}")
            if problem:
                return problem
        return None
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            problem = order_problem(g, w, f"{path}[{i}]")
            if problem:
                return problem
        return None
    return None if got == want and type(got) is type(want) else f"{path}: {got!r} != {want!r}"


def assert_same_order(got: Any, want: Any) -> None:
    problem = order_problem(got, want)
    assert problem is None, problem


@pytest.mark.parametrize("path", EXAMPLES + CORPUS, ids=lambda p: p.name)
def test_files_keep_their_key_order_everywhere(client: Client, path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    want = expected_cdl(doc)
    character_id = client.characters.import_file(path)
    name = next(
        c.normalized_name for c in client.characters.list_characters() if c.id == character_id
    )
    assert_same_order(client.characters.get_character_complete(name).cdl, want)
    exported = client.characters.export_character_json(name)
    assert list(exported) == [k for k in WRAPPER_KEYS if k in exported]
    assert_same_order(exported["character"], want)
    assert (
        client.characters.import_character_from_json(exported) == character_id
    )  # the export imports as is
    assert_same_order(client.characters.get_character_complete(name).cdl, want)
    client.characters.create_character_version(name, "as imported")
    first_section = next(iter(want))
    client.characters.upsert_character_field(name, "zz_added.note", "appended")
    client.characters.remove_character_field(name, first_section)
    client.characters.rollback_character(name, 1)
    assert_same_order(client.characters.get_character_complete(name).cdl, want)


def test_the_jsonb_form_keeps_working_in_jsonb_order(client: Client, conn: Any) -> None:
    conn.execute(
        "SELECT cdl.import_character_from_json("
        """'{"name": "Jay Sonb", "zeta": {"bb": 1, "a": 2}}'::jsonb)"""
    )
    cdl = client.characters.get_character_complete("jay_sonb").cdl
    assert list(cdl) == ["name", "zeta"]  # jsonb: shorter keys first
    assert list(cdl["zeta"]) == ["a", "bb"]
    old = conn.execute("SELECT cdl.export_character_json('jay_sonb'::varchar) AS e").fetchone()
    assert old["e"]["character"] == cdl  # the jsonb export of the last release still answers


def test_diff_lists_fields_in_document_order(client: Client) -> None:
    client.characters.import_character_from_json(
        {"name": "Dee Ff", "zeta": {"y": 1, "b": 2}, "alpha": {"k": 1}}
    )
    client.characters.create_character_version("dee_ff")
    client.characters.upsert_character_field("dee_ff", "zeta.y", 5)
    client.characters.upsert_character_field("dee_ff", "zeta.b", 6)
    client.characters.upsert_character_field("dee_ff", "zeta.new", {"z": 1, "a": 2})
    client.characters.upsert_character_field("dee_ff", "alpha.first", 0)
    client.characters.create_character_version("dee_ff")
    diff = client.characters.diff_character_versions("dee_ff", 1, 2)
    assert [c.path for c in diff.changed] == ["zeta.y", "zeta.b"]
    assert [c.path for c in diff.added] == ["zeta.new.a", "zeta.new.z", "alpha.first"]


KEYS = st.text(alphabet="abcdefghij. _", min_size=0, max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.text(max_size=8).filter(lambda s: "\x00" not in s)  # PostgreSQL stores no NUL
)


def pairs_text(pairs: list[tuple[str, Any]]) -> str:
    """An object written pair by pair: a key may come twice, as in a hand-written file."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


objects = st.recursive(
    SCALARS.map(json.dumps),
    lambda inner: (
        st.lists(st.tuples(KEYS, inner), max_size=5).map(pairs_text)
        | st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
    ),
    max_leaves=25,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sections=st.lists(st.tuples(KEYS, objects), min_size=1, max_size=6))
def test_random_documents_come_back_in_their_order(
    client: Client, sections: list[tuple[str, str]]
) -> None:
    text = pairs_text([*sections, ("name", '"Rand Om"')])
    want = json.loads(text)  # a key written twice keeps its first place and its last value
    character_id = client.characters.import_character_from_json(text)
    assert client.characters.import_character_from_json(text) == character_id
    assert_same_order(client.characters.get_character_complete("rand_om").cdl, want)
    assert_same_order(client.characters.export_character_json("rand_om")["character"], want)
