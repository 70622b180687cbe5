"""The wheel smoke test of ``make test`` (``make smoke``): ``pip install cdlstore`` is enough.

1. Builds the sdist and, from the sdist, the wheel (``python -m build``) from a copy of the
   checkout's files (what a fresh clone holds), and checks that each carries every file of
   ``pybind/cdlstore/sql/``, byte for byte.
2. Installs the wheel into a fresh virtualenv in a temporary directory outside the checkout.
3. From that directory, with that virtualenv only (no ``CDLSTORE_*``, ``PG*`` or ``PYTHON*``
   setting of the caller): ``cdlstore --version`` with no database anywhere; where an installed
   ``cdlstore db`` keeps its data (``CDLSTORE_PGDATA``, else under ``XDG_DATA_HOME``); then, on a
   fresh database of the test server, ``cdlstore migrate --status`` and ``--dry-run`` (which
   change nothing), ``cdlstore migrate --dsn``, ``cdlstore migrate`` again (nothing pending,
   function files re-applied), ``--status``, and ``scripts/wheel_smoke_user.py`` (a character, a
   workflow message, a document, a task).

Exits 1 with the failing step's output. Run with the checkout's virtualenv: ``python
scripts/wheel_smoke.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import cdlstore
from cdlstore.client import _redact
from cdlstore.dev import testdb

ROOT = testdb.ROOT
SQL = ROOT / "pybind" / "cdlstore" / "sql"
DATABASE = "cdlstore_test_wheel"


class SmokeFailed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SmokeFailed(what)


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, code: int = 0) -> str:
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    # no password of DATABASE_URL in the log: a DSN is shown without it
    shown = " ".join([Path(cmd[0]).name, *(_redact(c) if "dbname" in c else c for c in cmd[1:])])
    print(f"smoke: {shown}  ({time.monotonic() - started:.1f} s)", file=sys.stderr)
    check(
        proc.returncode == code,
        f"`{shown}` exited {proc.returncode}, not {code}:\n{proc.stdout}{proc.stderr}",
    )
    return proc.stdout


def sql_files() -> dict[str, str]:
    """Every file of the checkout's SQL (path under ``cdlstore/sql/`` -> sha256)."""
    return {
        str(p.relative_to(SQL)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(SQL.rglob("*"))
        if p.is_file()
    }


def packed(names_and_bytes: list[tuple[str, bytes]], prefix: str) -> dict[str, str]:
    return {
        name.removeprefix(prefix): hashlib.sha256(data).hexdigest()
        for name, data in names_and_bytes
        if name.startswith(prefix) and not name.endswith("/")
    }


def source_copy(home: Path) -> Path:
    """The checkout's files as a fresh clone has them (tracked and new, not ignored): no
    egg-info of an earlier build may fill gaps in the package data."""
    listed = run(["git", "ls-files", "-z", "-co", "--exclude-standard"], ROOT).split("\0")
    src = home / "src"
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    return src


def differences(got: dict[str, str], expected: dict[str, str]) -> str:
    missing = sorted(set(expected) - set(got))
    changed = sorted(n for n in set(expected) & set(got) if got[n] != expected[n])
    extra = sorted(set(got) - set(expected))
    return f"missing {missing[:5]} ({len(missing)}), changed {changed}, extra {extra}"


def check_archives(dist: Path) -> Path:
    """The wheel and the sdist carry exactly the checkout's SQL; returns the wheel."""
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    check(len(wheels) == 1 and len(sdists) == 1, f"expected one wheel and one sdist: {dist}")
    expected = sql_files()
    with zipfile.ZipFile(wheels[0]) as whl:
        in_wheel = packed([(n, whl.read(n)) for n in whl.namelist()], "cdlstore/sql/")
    check(in_wheel == expected, f"the wheel's SQL differs: {differences(in_wheel, expected)}")
    with tarfile.open(sdists[0]) as sdist:
        members = [(m.name, sdist.extractfile(m)) for m in sdist.getmembers() if m.isfile()]
        base = sdist.getnames()[0].split("/")[0]
        in_sdist = packed(
            [(n, f.read()) for n, f in members if f is not None], f"{base}/pybind/cdlstore/sql/"
        )
    check(in_sdist == expected, f"the sdist's SQL differs: {differences(in_sdist, expected)}")
    print(f"smoke: wheel and sdist carry all {len(expected)} SQL files", file=sys.stderr)
    return wheels[0]


def user_env(venv: Path, **settings: str) -> dict[str, str]:
    """The caller's environment less anything that could point at the checkout or a database."""
    dropped = ("CDLSTORE_", "PYTHON", "VIRTUAL_ENV", "PG", "DATABASE_URL", "XDG_DATA_HOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(settings)
    return env


def check_installed(venv: Path, home: Path, dsn: str) -> None:
    cli, python = str(venv / "bin" / "cdlstore"), str(venv / "bin" / "python")
    nowhere = user_env(venv, CDLSTORE_DB_PORT="1", XDG_DATA_HOME=str(home / "xdg"))
    out = run([cli, "--version"], home, nowhere)
    check(out.strip() == f"cdlstore {cdlstore.__version__}", f"--version printed {out!r}")
    where = [python, "-c", "from cdlstore import dsn; print(dsn.data_dir())"]
    out = run(where, home, nowhere).strip()
    check(out == str(home / "xdg" / "cdlstore" / "pgdata"), f"default data directory {out!r}")
    out = run(where, home, {**nowhere, "CDLSTORE_PGDATA": str(home / "pg")}).strip()
    check(out == str(home / "pg"), f"CDLSTORE_PGDATA gave {out!r}")

    count = len([p for p in (SQL / "migrations").glob("*.sql") if ".rollback." not in p.name])
    env = user_env(venv, DATABASE_URL=dsn)
    out = run([cli, "migrate", "--status"], home, env)
    check(out.endswith(f"0 applied, {count} pending\n"), f"--status before:\n{out}")
    out = run([cli, "migrate", "--dry-run"], home, env)
    check(out.count("would apply ") == count and "nothing was changed" in out, f"dry run:\n{out}")
    out = run([cli, "migrate", "--status"], home, env)
    check(out.endswith(f"0 applied, {count} pending\n"), f"--status after the dry run:\n{out}")
    out = run([cli, "migrate", "--dsn", dsn], home, user_env(venv))
    check(f"{count} migration(s) applied; function files re-applied" in out, f"migrate:\n{out}")
    out = run([cli, "migrate"], home, env)
    check("0 migration(s) applied; function files re-applied" in out, f"migrate again:\n{out}")
    out = run([cli, "migrate", "--status"], home, env)
    check(out.endswith(f"{count} applied, 0 pending\n"), f"--status after:\n{out}")
    shutil.copy(ROOT / "scripts" / "wheel_smoke_user.py", home / "wheel_smoke_user.py")
    print(run([python, "wheel_smoke_user.py"], home, env).strip(), file=sys.stderr)


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cdlstore-wheel-") as tmp:
        home = Path(tmp)
        try:
            check(ROOT not in home.parents, f"{home} is inside the checkout")
            build = [sys.executable, "-m", "build", "--no-isolation", "--outdir"]
            run([*build, str(home / "dist"), str(source_copy(home))], home)
            wheel = check_archives(home / "dist")
            # a venv without pip of its own (ensurepip is slow); this pip installs into it
            run([sys.executable, "-m", "venv", "--without-pip", str(home / "venv")], home)
            pip = [sys.executable, "-m", "pip", "--python", str(home / "venv" / "bin" / "python")]
            run(
                [*pip, "install", "-q", "--no-compile", "--disable-pip-version-check", str(wheel)],
                home,
            )
            dsn = testdb.create_empty(DATABASE)
            try:
                check_installed(home / "venv", home, dsn)
            finally:
                testdb.drop(DATABASE)
        except SmokeFailed as exc:
            print(f"smoke: FAILED: {exc}", file=sys.stderr)
            return 1
    print(f"smoke: the installed wheel works ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
