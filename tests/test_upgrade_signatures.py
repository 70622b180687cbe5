"""The _v2 rule, checked from the catalog: a database of the previous step (migrated with that
step's own SQL, function files included) and then upgraded has exactly the functions of a fresh
database, and every API signature of the previous step that a fresh database lacks was dropped by
a later migration. An API function whose signature changes in place (CREATE OR REPLACE with other
arguments makes a new overload, and the old one stays behind in every upgraded database) fails here.

The previous step is the tree before the newest migration was added (``git log --first-parent``:
on main, the state before the merge that brought it), taken from git; without git history the
test is skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import psycopg
import pytest

from cdlstore import migrations
from cdlstore.dev import testdb

ROOT = testdb.ROOT
SQL = "pybind/cdlstore/sql"
SIGNATURES = """
    SELECT p.oid::regprocedure::text, p.prosecdef, coalesce(p.proargnames, '{}')
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = ANY(%s) AND p.prokind IN ('f', 'p')
"""


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def previous_step(tmp_path: Path) -> tuple[Path, list[str]]:
    """The SQL directory of the previous step and the migration ids added since."""
    try:
        newest = sorted((ROOT / SQL / "migrations").glob("[0-9]*[0-9]_*.sql"))
        newest = [p for p in newest if not p.name.endswith(".rollback.sql")]
        added = git(
            "log",
            "--first-parent",
            "--diff-filter=A",
            "--format=%H",
            "-1",
            "--",
            f"{SQL}/migrations/{newest[-1].name}",
        )
        rev = f"{added}^" if added else "HEAD"
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", rev, SQL],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no git history to take the previous step from: {exc}")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tmp_path, filter="data")
    old = tmp_path / SQL
    old_ids = {p.name for p in (old / "migrations").glob("*.sql")}
    new = [p.name.removesuffix(".sql") for p in newest if p.name not in old_ids]
    return old, new


def catalog(dsn: str) -> dict[str, tuple[bool, list[str]]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            SIGNATURES,
            [list(testdb.SCHEMAS)],
        ).fetchall()
    return {sig: (definer, names) for sig, definer, names in rows}


def dropped_by(dsn: str, migration_ids: list[str]) -> set[str]:
    """The signatures the DROP FUNCTION statements of these migrations name, resolved in ``dsn``."""
    statements = []
    for mid in migration_ids:
        text = (ROOT / SQL / "migrations" / f"{mid}.sql").read_text()
        statements += re.findall(r"DROP\s+FUNCTION\s+(?:IF\s+EXISTS\s+)?([\w.]+\([^)]*\))", text)
    with psycopg.connect(dsn) as conn:
        return {
            row[0]
            for s in statements
            if (row := conn.execute("SELECT to_regprocedure(%s)::text", [s]).fetchone()) and row[0]
        }


def test_an_upgrade_from_the_previous_step_keeps_every_signature_or_drops_it_by_migration(
    own_db: str, template_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_sql, new_migrations = previous_step(tmp_path)
    monkeypatch.setenv("CDLSTORE_SQL_DIR", str(old_sql))
    migrations.migrate(own_db)
    monkeypatch.delenv("CDLSTORE_SQL_DIR")
    before = catalog(own_db)
    dropped = dropped_by(own_db, new_migrations)
    migrations.migrate(own_db)
    after = catalog(own_db)
    fresh = catalog(testdb.dsn_for(template_db))

    gone = sorted(s for s, (definer, _) in before.items() if definer and s not in fresh)
    assert [s for s in gone if s not in dropped] == [], (
        "API functions of the previous step that a fresh database lacks and no later migration "
        "drops: keep them beside their _v2 until a later migration drops them"
    )
    assert sorted(set(after) - set(fresh)) == [], (
        "functions an upgraded database keeps and a fresh one lacks: drop them in a migration"
    )
    assert sorted(set(fresh) - set(after)) == []
    renamed = sorted(
        s
        for s, (definer, names) in before.items()
        if definer and s in fresh and fresh[s][1] != names
    )
    assert renamed == [], "SQL parameter names never change (callers pass them with =>)"
    shutil.rmtree(tmp_path / "pybind")
