"""client.characters against real PostgreSQL: import forms, loading, changes, versions, search,
bad input (our error, nothing written), the fixture corpus, concurrency and the CLI."""

from __future__ import annotations

import copy
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
from cdlstore.characters import CharacterNotFound

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "characters").glob("*.json"))
CORPUS_DIR = ROOT.parent / "shared" / "fixtures" / "whisperengine"
CORPUS = sorted(CORPUS_DIR.glob("*.json")) if CORPUS_DIR.is_dir() else []
WRAPPER_KEYS = {"cdl_version", "format", "description", "character"}


def merged_character(doc: dict[str, Any]) -> dict[str, Any]:
    """What a file should load as: sections beside "character" merged, "character" winning."""

    def merge(base: dict[str, Any], winner: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in winner.items():
            both_objects = isinstance(out.get(key), dict) and isinstance(value, dict)
            out[key] = merge(out[key], value) if both_objects else value
        return out

    if isinstance(doc.get("character"), dict):
        beside = {k: v for k, v in doc.items() if k not in WRAPPER_KEYS}
        return merge(beside, doc["character"])
    return doc


def table_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    tables = [
        "characters",
        "character_field_definitions",
        "character_field_values",
        "character_change_log",
        "character_versions",
        "character_documents",
        "character_sections",
    ]
    return {t: conn.execute(f"SELECT count(*) AS n FROM cdl.{t}").fetchone()["n"] for t in tables}  # noqa: S608


SAMPLE = {
    "cdl_version": "1.0",
    "format": "json",
    "character": {
        "metadata": {"name": "Tess Ting"},
        "identity": {"name": "Tess Ting", "age": 30, "occupation": "Tester"},
        "personality": {"values": ["b", "a", "c"], "empty": {}, "none": None, "list": []},
        "odd keys": {"a.b": 1, "c d": "x"},
    },
}


def test_import_and_get(client: Client) -> None:
    character_id = client.characters.import_character_from_json(SAMPLE)
    character = client.characters.get_character_complete("Tess Ting")
    assert character.id == character_id
    assert character.normalized_name == "tess_ting"
    assert character.occupation == "Tester"
    assert character.cdl == SAMPLE["character"]
    assert client.characters.export_character_json("tess_ting") == SAMPLE


def test_get_unknown_raises_character_not_found(client: Client) -> None:
    with pytest.raises(CharacterNotFound) as info:
        client.characters.get_character_complete("nobody here")
    assert isinstance(info.value, errors.NotFound)
    assert info.value.sqlstate == "CD002"  # raised by get_character_complete, not by Python
    assert info.value.message == "character 'nobody here' not found"
    for unknown in (  # every lookup of a character by name says which kind of thing is missing
        lambda: client.characters.export_character_json("nobody here"),
        lambda: client.characters.upsert_character_field("nobody here", "identity.age", 1),
    ):
        with pytest.raises(CharacterNotFound):
            unknown()


def test_other_missing_things_are_not_character_not_found(client: Client) -> None:
    client.characters.import_character_from_json(SAMPLE)
    with pytest.raises(errors.NotFound) as info:
        client.characters.remove_character_field("tess_ting", "identity.no_such_field")
    assert not isinstance(info.value, CharacterNotFound)


@pytest.mark.parametrize("path", EXAMPLES + CORPUS, ids=lambda p: p.name)
def test_files_import_load_export_and_search(client: Client, path: Path) -> None:
    doc = json.loads(path.read_text())
    expected = merged_character(doc)
    character_id = client.characters.import_file(path)
    name = next(c.name for c in client.characters.list_characters() if c.id == character_id)
    character = client.characters.get_character_complete(name)
    assert character.cdl == expected
    exported = client.characters.export_character_json(character.normalized_name)
    assert exported["character"] == expected
    assert client.characters.import_character_from_json(exported) == character_id
    assert client.characters.get_character_complete(character.normalized_name).cdl == expected
    word = next(w for w in (character.occupation or character.name).split() if len(w) > 4)
    hits = client.characters.search_characters(word)
    assert character.normalized_name in {h.normalized_name for h in hits}


def test_field_changes_versions_and_diff(client: Client, conn: psycopg.Connection[Any]) -> None:
    client.characters.import_character_from_json(SAMPLE)
    conn.execute(  # as if just rendered: the writes below come within the second
        "UPDATE cdl.character_documents SET rendered_at = clock_timestamp() + interval '1 minute'"
    )
    assert client.characters.create_character_version("tess_ting", "v1") == 1
    assert client.characters.upsert_character_field("tess_ting", "identity.age", 31) == 1
    assert (
        client.characters.upsert_character_field("tess_ting", "odd keys.a\\.b", {"deep": True}) == 2
    )
    assert client.characters.get_character_complete("tess_ting").cdl["odd keys"]["a.b"] == {
        "deep": True
    }
    assert (
        client.characters.render_character_documents() == 1
    )  # the burst of writes left it unrendered
    assert client.characters.render_character_documents() == 0
    assert client.characters.get_character_complete("tess_ting").cdl["identity"]["age"] == 31
    assert client.characters.remove_character_field("tess_ting", "personality.list") == 1
    assert client.characters.create_character_version("tess_ting", "v2") == 2
    diff = client.characters.diff_character_versions("tess_ting", 1, 2)
    assert [c.path for c in diff.changed] == ["identity.age"]
    assert [c.path for c in diff.added] == ["odd keys.a\\.b.deep"]
    assert {c.path for c in diff.removed} == {"odd keys.a\\.b", "personality.list"}
    assert client.characters.rollback_character("tess_ting", 1) == 3
    assert client.characters.get_character_complete("tess_ting").cdl == SAMPLE["character"]
    assert [v.version_name for v in client.characters.list_character_versions("tess_ting")] == [
        "v1",
        "v2",
        "rollback to 1",
    ]


def test_definitions_are_enforced(client: Client) -> None:
    client.characters.import_character_from_json(SAMPLE)
    client.characters.define_character_field(
        "identity.age", "number", validation_rules={"minimum": 0}
    )
    with pytest.raises(errors.InvalidInput, match="identity.age breaks its rule minimum 0"):
        client.characters.upsert_character_field("tess_ting", "identity.age", -1)
    with pytest.raises(errors.InvalidInput, match="must be a number"):
        client.characters.import_character_from_json({"identity": {"name": "Other", "age": "old"}})


def test_lists_search_and_archive(client: Client) -> None:
    client.characters.import_character_from_json(SAMPLE)
    client.characters.upsert_communication_pattern(
        "tess_ting", "greeting", "hi", "Hello, shall we test it?"
    )
    client.characters.upsert_response_template(
        "tess_ting", "casual_chat", "chat", "So, {topic}?", {"a": 1}
    )
    client.characters.upsert_knowledge(
        "tess_ting", "expertise", "qa", "Exploratory testing heuristics"
    )
    client.characters.upsert_knowledge("tess_ting", "expertise", "qa.fuzz", "Fuzzing parsers", "qa")
    character = client.characters.get_character_complete("tess_ting")
    assert [p.pattern_name for p in character.communication_patterns] == ["hi"]
    assert character.response_templates[0].conditions == {"a": 1}
    assert {k.knowledge_key: k.parent_key for k in character.knowledge} == {
        "qa": None,
        "qa.fuzz": "qa",
    }
    assert [
        h.match_path for h in client.characters.search_character_knowledge("tess_ting", "fuzzing")
    ] == ["expertise.qa.fuzz"]
    assert client.characters.archive_character("tess_ting") is True
    assert [
        c.normalized_name for c in client.characters.list_characters(status_filter="archived")
    ] == ["tess_ting"]
    assert client.characters.remove_communication_pattern("tess_ting", "greeting", "hi") is True
    assert client.characters.remove_response_template("tess_ting", "casual_chat", "chat") is True
    assert client.characters.remove_knowledge("tess_ting", "qa") is True
    client.characters.refresh_character_analytics()


def deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        node = {"n": node}
    return node


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        ([1, 2, 3], errors.InvalidInput, "must be a JSON object"),
        ({"identity": {"age": 3}}, errors.InvalidInput, "has no name"),
        ({"name": "???"}, errors.InvalidInput, "normalizes to nothing"),
        ({"identity": {"name": 7}, "name": "Seven"}, errors.InvalidInput, "must be a string"),
        ({"name": "Huge", "blob": "x" * (10 * 1024 * 1024)}, errors.LimitExceeded, "at most 4 MiB"),
        ({"name": "Deep", "d": deep(60)}, errors.InvalidInput, "at most 32"),
    ],
    ids=["not-an-object", "no-name", "empty-normalized", "wrong-type", "10MB", "deep"],
)
def test_bad_documents_raise_our_error_and_write_nothing(
    client: Client, conn: psycopg.Connection[Any], document: Any, error: type, message: str
) -> None:
    client.characters.import_character_from_json(SAMPLE)
    before = table_counts(conn)
    with pytest.raises(error, match=message):
        client.characters.import_character_from_json(document)
    assert table_counts(conn) == before


def test_a_file_that_is_not_json_raises_invalid_input(client: Client, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": ')
    with pytest.raises(errors.InvalidInput, match="broken.json"):
        client.characters.import_file(broken)


def test_concurrent_versions_never_collide(own_clone: str) -> None:
    with cdlstore.connect(own_clone, max_size=4) as client:
        client.characters.import_character_from_json(SAMPLE)
        numbers: list[int] = []
        failures: list[BaseException] = []

        def work() -> None:
            try:
                for i in range(10):
                    numbers.append(client.characters.create_character_version("tess_ting"))
                    client.characters.upsert_character_field(
                        "tess_ting", f"counter.t{threading.get_ident()}", i
                    )
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not failures
        assert sorted(numbers) == list(range(1, 41))
        character = client.characters.get_character_complete("tess_ting")
        assert character.version_count == 40
        assert sorted(character.cdl["counter"].values()) == [9, 9, 9, 9]


def test_a_field_write_waiting_for_a_deletion_finds_no_character(own_clone: str) -> None:
    """The change log has no foreign key (migration 0031): a deletion is held open while a field
    write waits for the character's lock; the write then raises CharacterNotFound and leaves no
    log row behind, and the deletion took the character's whole change log with it."""
    with cdlstore.connect(own_clone) as client:
        client.characters.import_character_from_json(SAMPLE)
        client.characters.upsert_character_field("tess_ting", "identity.age", 40)
    with (
        psycopg.connect(own_clone) as deleter,
        psycopg.connect(own_clone, autocommit=True) as watcher,
        cdlstore.connect(own_clone) as writer,
    ):
        deleter.execute("DELETE FROM cdl.characters WHERE normalized_name = 'tess_ting'")
        failures: list[BaseException] = []

        def write() -> None:
            try:
                writer.characters.upsert_character_field("tess_ting", "identity.age", 41)
            except BaseException as exc:  # noqa: BLE001 - checked below
                failures.append(exc)

        thread = threading.Thread(target=write)
        thread.start()
        for _ in range(2000):  # until the write waits for the lock: no guessed sleep
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND pid <> %s",
                [deleter.info.backend_pid],
            ).fetchone()
            if waiting and waiting[0] > 0:
                break
            threading.Event().wait(0.005)
        else:
            raise AssertionError("the field write never waited for the character's lock")
        deleter.commit()
        thread.join(timeout=30)
        assert len(failures) == 1 and isinstance(failures[0], CharacterNotFound)
        orphans = watcher.execute(
            "SELECT count(*) FROM cdl.character_change_log l"
            " WHERE NOT EXISTS (SELECT FROM cdl.characters c WHERE c.id = l.character_id)"
        ).fetchone()
        assert orphans == (0,)


def run_cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DATABASE_URL=dsn)
    return subprocess.run(
        [sys.executable, "-m", "cdlstore.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_character_commands(own_clone: str) -> None:
    out = run_cli(own_clone, "character", "import", *map(str, EXAMPLES))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("imported") == len(EXAMPLES)
    show = run_cli(own_clone, "character", "show", "Iris Marlow")
    assert "Iris Marlow (iris_marlow)" in show.stdout and "lighthouse" in show.stdout.lower()
    doc = json.loads(run_cli(own_clone, "character", "show", "iris_marlow", "--json").stdout)
    assert doc["cdl"] == merged_character(json.loads(EXAMPLES[0].read_text()))
    exported = json.loads(run_cli(own_clone, "character", "export", "iris_marlow").stdout)
    assert exported["character"] == doc["cdl"]
    assert "lighthouse" in run_cli(own_clone, "character", "search", "lighthouse").stdout.lower()
    assert run_cli(own_clone, "character", "versions", "iris_marlow").stdout == ""
    missing = run_cli(own_clone, "character", "show", "nobody")
    assert missing.returncode == 4  # NotFound (cdlstore.cli.EXIT_CODES)
    assert missing.stderr.strip() == (
        "cdlstore: error: [CD002] character 'nobody' not found"
        " | HINT: Names match after normalization (cdl.normalize_name)."
    )
    diff = run_cli(own_clone, "character", "diff", "iris_marlow", "1", "2")
    assert diff.returncode == 4 and "version 1 not found" in diff.stderr
    render = run_cli(own_clone, "character", "render")
    assert render.returncode == 0 and render.stdout == "0 document(s) rendered\n"


def test_a_copy_of_the_sample_is_not_changed_by_import(client: Client) -> None:
    sample = copy.deepcopy(SAMPLE)
    client.characters.import_character_from_json(sample)
    assert sample == SAMPLE


def test_names_whose_letters_normalization_would_drop_do_not_collide(client: Client) -> None:
    chars = client.characters
    ids = {
        name: chars.import_character_from_json({"identity": {"name": name}})
        for name in NAMES_OF_SCRIPTS
    }
    assert len(set(ids.values())) == 3  # before: one character overwritten twice
    for name, key in NAMES_OF_SCRIPTS.items():
        found = chars.get_character_complete(name)
        assert (found.id, found.normalized_name, found.name) == (ids[name], key, name)
    # case, accents, width and punctuation still fold: one character
    elena = chars.import_character_from_json({"identity": {"name": "Élena"}})
    assert chars.import_character_from_json({"identity": {"name": "ELENA!"}}) == elena
    assert chars.import_character_from_json({"identity": {"name": "Ｅｌｅｎａ"}}) == elena
    assert chars.get_character_complete("elena").id == elena


NAMES_OF_SCRIPTS = {
    "Agent Смирнов": "agent_смирнов",
    "Agent Иванов": "agent_иванов",
    "Agent 王": "agent_王",
}


def test_a_derived_key_of_another_name_is_a_conflict(
    client: Client, conn: psycopg.Connection[Any]
) -> None:
    chars = client.characters
    iris = chars.import_character_from_json(
        {"identity": {"name": "Iris Marlow"}}, normalized_name="iris"
    )
    before = table_counts(conn)
    with pytest.raises(errors.Conflict, match="belongs to the character 'Iris Marlow'"):
        chars.import_character_from_json({"identity": {"name": "Iris", "age": 3}})
    assert table_counts(conn) == before
    assert chars.get_character_complete("iris").name == "Iris Marlow"
    # passing the key says the caller means that character
    assert (
        chars.import_character_from_json({"identity": {"name": "Iris"}}, normalized_name="iris")
        == iris
    )
    with pytest.raises(errors.InvalidInput):
        chars.import_character_from_json({"identity": {"name": "X"}}, normalized_name="Not A Key")


def test_a_document_of_too_many_values_is_refused_early(
    client: Client, conn: psycopg.Connection[Any]
) -> None:
    before = table_counts(conn)
    wide = {"identity": {"name": "Wide"}, "memory": {f"k{i}": i for i in range(100_000)}}
    with pytest.raises(errors.LimitExceeded, match="at most 20,000"):
        client.characters.import_character_from_json(wide)
    assert table_counts(conn) == before
    fits = {"identity": {"name": "Fits"}, "memory": {f"k{i}": i for i in range(19_990)}}
    assert client.characters.import_character_from_json(fits) > 0
