"""Error mapping: SQLSTATE codes raised by real PostgreSQL become cdlstore exceptions."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from cdlstore import CdlstoreError, Client, errors

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def _raise(client: Client, code: str) -> None:
    client._one(
        "DO $$ BEGIN RAISE EXCEPTION 'it broke' USING ERRCODE = '" + code + "', "
        "DETAIL = 'the detail', HINT = 'the hint'; END $$"
    )


@pytest.mark.parametrize("code", sorted(errors.CODES))
def test_each_code_maps_to_its_class(client: Client, code: str) -> None:
    with pytest.raises(errors.CODES[code]) as info:
        _raise(client, code)
    exc = info.value
    assert exc.sqlstate == code
    assert (exc.message, exc.detail, exc.hint) == ("it broke", "the detail", "the hint")
    assert isinstance(exc.__cause__, psycopg.Error)
    assert str(exc) == "it broke | DETAIL: the detail | HINT: the hint"


def test_unknown_database_error_becomes_the_base_class(client: Client) -> None:
    with pytest.raises(CdlstoreError) as info:
        client._one("SELECT 1 / 0")
    assert type(info.value) is CdlstoreError
    assert info.value.sqlstate == "22012"
    assert isinstance(info.value.__cause__, psycopg.errors.DivisionByZero)


def test_an_unlisted_code_of_our_class_is_still_a_cdlstore_error(client: Client) -> None:
    with pytest.raises(CdlstoreError) as info:
        _raise(client, "CD999")
    assert type(info.value) is CdlstoreError and info.value.sqlstate == "CD999"


def test_codes_follow_the_convention() -> None:
    for code in errors.CODES:
        assert re.fullmatch(r"CD[0-9A-Z]{3}", code) and not code.endswith("000")


def test_documented_table_equals_the_mapping() -> None:
    rows = re.findall(r"^\| (CD\w{3}) \| (\w+) \|", DOC.read_text(), flags=re.M)
    assert {code: name for code, name in rows} == {
        code: cls.__name__ for code, cls in errors.CODES.items()
    }


def test_a_failed_call_leaves_the_callers_transaction_usable(client: Client) -> None:
    with pytest.raises(errors.NotFound):
        _raise(client, "CD002")
    assert client.schema_version()
