"""connect(), the DSN rules and schema_version() against a real database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import cdlstore
from cdlstore import Client, errors
from cdlstore.dev import localdb

MIGRATIONS = Path(__file__).resolve().parents[1] / "pybind" / "cdlstore" / "sql" / "migrations"


def newest_migration() -> str:
    return max(
        p.name.removesuffix(".sql")
        for p in MIGRATIONS.glob("*.sql")
        if not p.name.endswith(".rollback.sql")
    )


def test_schema_version_is_the_newest_migration(client: Client) -> None:
    assert client.schema_version() == newest_migration()


def test_connect_uses_database_url(test_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", test_dsn)
    with cdlstore.connect() as client:
        assert client.schema_version() == newest_migration()


def test_explicit_dsn_wins_over_database_url(
    test_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    with cdlstore.connect(test_dsn) as client:
        assert client.schema_version() == newest_migration()


def test_without_database_url_the_local_cluster_is_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CDLSTORE_PGDATA", str(tmp_path / "pgdata"))
    monkeypatch.setenv("CDLSTORE_DB_PORT", "6543")
    assert localdb.default_dsn() == localdb.local_url()
    assert localdb.default_dsn() == (
        f"postgresql://postgres@/cdlstore?host={tmp_path}/pgdata&port=6543"
    )


def test_a_long_data_directory_puts_the_socket_in_a_temp_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CDLSTORE_PGDATA", str(tmp_path / ("x" * 120)))
    sock = localdb.socket_dir()
    assert sock != localdb.data_dir() and len(str(sock)) < 60


def test_bad_port_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDLSTORE_DB_PORT", "not-a-port")
    with pytest.raises(errors.CdlstoreError, match="CDLSTORE_DB_PORT"):
        localdb.local_url()


@pytest.mark.parametrize("dsn", ["postgresql://nobody@127.0.0.1:1/none", "host=/nonexistent-dir"])
def test_unreachable_server_raises_connection_failed(dsn: str) -> None:
    with pytest.raises(errors.ConnectionFailed, match="cannot connect"):
        cdlstore.connect(dsn)


def test_malformed_dsn_raises_connection_failed() -> None:
    with pytest.raises(errors.ConnectionFailed, match="invalid database URL"):
        cdlstore.connect("this is = not a dsn = at all")


def test_password_is_not_shown_in_errors() -> None:
    with pytest.raises(errors.ConnectionFailed) as info:
        cdlstore.connect("postgresql://me:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(info.value)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdlstore.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    import os

    return dict(os.environ)


@pytest.mark.parametrize("command", ["version", "migrate", "rollback"])
def test_bad_database_url_gives_one_line_not_a_traceback(
    command: str, cli_env: dict[str, str]
) -> None:
    cli_env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    proc = run_cli(command, env=cli_env)
    assert proc.returncode == 3  # ConnectionFailed (cdlstore.cli.EXIT_CODES)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cdlstore: error: cannot connect"), proc.stderr


def test_cli_version_and_db_url(test_dsn: str, cli_env: dict[str, str]) -> None:
    cli_env["DATABASE_URL"] = test_dsn
    proc = run_cli("version", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"cdlstore {cdlstore.__version__}",
        f"schema {newest_migration()}",
    ]
    assert run_cli("db-url", env=cli_env).stdout.strip() == test_dsn


def test_cli_help_explains_each_command(cli_env: dict[str, str]) -> None:
    out = run_cli("--help", env=cli_env).stdout
    for command in ("migrate", "rollback", "db-url", "version", "db"):
        assert f"    {command}" in out
    assert "newest applied migration" in run_cli("rollback", "--help", env=cli_env).stdout


def test_db_start_with_database_url_starts_nothing(
    test_dsn: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli_env.update(DATABASE_URL=test_dsn, CDLSTORE_PGDATA=str(tmp_path / "pgdata"))
    proc = run_cli("db", "start", env=cli_env)
    assert proc.returncode == 0 and "DATABASE_URL is set" in proc.stderr
    assert not (tmp_path / "pgdata").exists()


def test_a_client_acting_as_the_app_role_reaches_only_the_api(test_dsn: str) -> None:
    with cdlstore.connect(test_dsn, role="cdlstore_app", actor="tester") as client:
        assert client.schema_version() == newest_migration()
        with pytest.raises(errors.CdlstoreError) as info:
            client._one("SELECT count(*) AS n FROM cdl.characters")
        assert info.value.sqlstate == "42501"


def test_an_unknown_role_is_one_clear_error(test_dsn: str) -> None:
    with pytest.raises(errors.ConnectionFailed, match="no_such_role"):
        cdlstore.connect(test_dsn, role="no_such_role")


def test_the_actor_is_the_author_of_changes(own_clone: str) -> None:
    import psycopg

    with cdlstore.connect(own_clone, role="cdlstore_app", actor="editor-7") as client:
        client.characters.import_character_from_json({"identity": {"name": "Authored"}})
        client.characters.upsert_character_field("authored", "identity.age", 3)
    with psycopg.connect(own_clone) as conn:
        authors = conn.execute(
            "SELECT DISTINCT changed_by FROM cdl.character_change_log"
        ).fetchall()
    assert authors == [("editor-7",)]


def test_connect_with_nothing_to_connect_to_says_how_to_start_a_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CDLSTORE_PGDATA", str(tmp_path / "pgdata"))
    monkeypatch.setenv("CDLSTORE_DB_PORT", "1")
    with pytest.raises(errors.ConnectionFailed) as info:
        cdlstore.connect()
    message = str(info.value)
    assert "DATABASE_URL is not set" in message and str(tmp_path / "pgdata") in message
    assert "`cdlstore db start`" in message and "CDLSTORE_PGDATA" in message


def test_in_a_checkout_the_local_cluster_lives_in_dot_pgdata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cdlstore import dsn

    monkeypatch.delenv("CDLSTORE_PGDATA", raising=False)
    assert dsn.data_dir() == Path(__file__).resolve().parents[1] / ".pgdata"


RUNTIME_ONLY = """
import pkgutil, sys
import cdlstore, cdlstore.cli
for module in pkgutil.iter_modules(cdlstore.__path__, "cdlstore."):
    if module.name != "cdlstore.dev":
        __import__(module.name)
cdlstore.cli.main(["migrate", "--status", "--dsn", sys.argv[1]])
cdlstore.cli.main(["version"])
with cdlstore.connect(sys.argv[1]) as client:
    client.schema_version()
print(sorted(m for m in sys.modules if m.startswith("cdlstore.dev")))
"""


def test_the_runtime_never_imports_the_development_cluster_code(
    test_dsn: str, cli_env: dict[str, str]
) -> None:
    cli_env["DATABASE_URL"] = test_dsn
    proc = subprocess.run(
        [sys.executable, "-c", RUNTIME_ONLY, test_dsn],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]", proc.stdout


def test_cli_version_flag_needs_no_database(cli_env: dict[str, str]) -> None:
    cli_env.update(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    proc = run_cli("--version", env=cli_env)
    expected = (0, f"cdlstore {cdlstore.__version__}\n", "")
    assert (proc.returncode, proc.stdout, proc.stderr) == expected


def cli_out(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    """The CLI in this process (faster than a subprocess): its output lines; exit status 0."""
    from cdlstore import cli

    assert cli.main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out.splitlines()


def test_cli_migrate_status_dry_run_and_dsn(
    own_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")  # --dsn wins
    ids = sorted(
        p.name.removesuffix(".sql")
        for p in MIGRATIONS.glob("*.sql")
        if not p.name.endswith(".rollback.sql")
    )
    status = cli_out(capsys, "migrate", "--status", "--dsn", own_db)
    assert status == [*(f"pending  {i}" for i in ids), f"0 applied, {len(ids)} pending"]
    assert cli_out(capsys, "migrate", "--dry-run", "--to", ids[1], "--dsn", own_db) == [
        f"would apply {ids[0]}",
        f"would apply {ids[1]}",
        f"would leave {len(ids) - 2} migration(s) pending and no function file",
        "nothing was changed (dry run)",
    ]
    assert cli_out(capsys, "migrate", "--status", "--dsn", own_db) == status
    done = cli_out(capsys, "migrate", "--to", ids[1], "--dsn", own_db)
    assert done[-1] == f"2 migration(s) applied; {len(ids) - 2} left pending"
    after = cli_out(capsys, "migrate", "--status", "--dsn", own_db)
    assert after[:3] == [f"applied  {ids[0]}", f"applied  {ids[1]}", f"pending  {ids[2]}"]
    dry = cli_out(capsys, "migrate", "--dry-run", "--dsn", own_db)
    assert dry[0] == f"would apply {ids[2]}" and dry[-2:] == [
        "  privileges.sql",
        "nothing was changed (dry run)",
    ]


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--to", "0042_nothing", "--dry-run"], "cdlstore: error: unknown migration '0042_", 1),
        (["--dsn", "this is = not a dsn"], "cdlstore: error: invalid database URL", 3),
        (["--dsn", "postgresql://nobody@127.0.0.1:1/none"], "cdlstore: error: cannot connect", 3),
    ],
)
def test_cli_migrate_bad_input_is_one_line_and_changes_nothing(
    own_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
    code: int,
) -> None:
    from cdlstore import cli

    monkeypatch.setenv("DATABASE_URL", own_db)
    assert cli.main(["migrate", *args]) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), err
    with psycopg.connect(own_db) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_cli_status_and_dry_run_are_exclusive(cli_env: dict[str, str]) -> None:
    proc = run_cli("migrate", "--status", "--dry-run", env=cli_env)
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr
