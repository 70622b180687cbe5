"""The ``cdlstore`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from . import __version__, localdb, migrations
from .client import check_dsn, connect
from .errors import CdlstoreError
from .models import WorkflowStep


def _migrate(args: argparse.Namespace) -> None:
    dsn = localdb.default_dsn()
    check_dsn(dsn)
    applied = migrations.migrate(dsn, args.to)
    if not localdb.external_database() and not args.to:
        localdb.ensure_app_login(dsn)  # the login `make demo` runs as (`cdlstore app-url`)
    for mid in applied:
        print(f"applied {mid}")
    print(
        f"{len(applied)} migration(s) applied" + ("" if args.to else "; function files re-applied")
    )


def _rollback(args: argparse.Namespace) -> None:
    dsn = localdb.default_dsn()
    check_dsn(dsn)
    rolled = migrations.rollback(dsn, args.count)
    for mid in rolled:
        print(f"rolled back {mid}")
    if not rolled:
        print("nothing to roll back")


def _db_url(args: argparse.Namespace) -> None:
    print(localdb.default_dsn())


def _app_url(args: argparse.Namespace) -> None:
    if localdb.external_database():
        raise CdlstoreError(
            "DATABASE_URL is set: there is no local application login",
            hint="create a login in cdlstore_app and bind it (README, Tenancy)",
        )
    print(localdb.app_url())


def _version(args: argparse.Namespace) -> None:
    print(f"cdlstore {__version__}")
    with connect(min_size=1, max_size=1) as client:
        print(f"schema {client.schema_version() or 'none'}")


def _db(args: argparse.Namespace) -> None:
    if args.action == "bindir":
        print(localdb.find_bindir())
    elif args.action == "status":
        print("running" if localdb.is_running() else "stopped")
    elif localdb.external_database():
        print("DATABASE_URL is set: using it, no local cluster is managed", file=sys.stderr)
    elif args.action == "start":
        localdb.start()
        print(f"local cluster running in {localdb.data_dir()}", file=sys.stderr)
    else:
        stopped = localdb.stop()
        print(
            "local cluster stopped" if stopped else "local cluster was not running",
            file=sys.stderr,
        )


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _character(args: argparse.Namespace) -> None:
    with connect(min_size=1, max_size=1) as client:
        chars = client.characters
        if args.action == "import":
            for path in args.files:
                character_id = chars.import_file(path)
                print(f"imported {path} as character {character_id}")
        elif args.action == "show":
            character = chars.get(args.name)
            if args.json:
                _print_json(character.model_dump(mode="json"))
                return
            print(f"{character.name} ({character.normalized_name})")
            for label, value in [
                ("occupation", character.occupation),
                ("archetype", character.archetype),
                ("status", character.status),
                ("versions", character.version_count),
                ("sections", ", ".join(character.cdl) or "-"),
                ("patterns", len(character.communication_patterns)),
                ("templates", len(character.response_templates)),
                ("knowledge", len(character.knowledge)),
                ("workflows", len(character.workflows)),
                ("updated", character.updated_at.isoformat(timespec="seconds")),
            ]:
                print(f"  {label:<11}{value if value is not None else '-'}")
        elif args.action == "export":
            _print_json(chars.export(args.name))
        elif args.action == "versions":
            for v in chars.versions(args.name):
                when = v.created_at.isoformat(timespec="seconds")
                print(
                    f"{v.version_number:>4}  {when}  {v.version_name or ''}  {v.description or ''}"
                )
        elif args.action == "diff":
            _print_json(chars.diff(args.name, args.v1, args.v2).model_dump(exclude_none=True))
        elif args.action == "search":
            for hit in chars.search(args.query, limit=args.limit):
                print(
                    f"{hit.rank:.3f}  {hit.normalized_name}  {hit.source}:{hit.match_path}  "
                    f"{hit.snippet}"
                )
        elif args.action == "render":
            print(f"{chars.render_documents(args.max_count)} document(s) rendered")


def _json_arg(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _print_step(step: WorkflowStep) -> None:
    shown = step.model_dump(
        exclude_none=True, exclude={"prompt_injection", "system_prompt_addition", "llm_prompt"}
    )
    print("  " + json.dumps(shown, ensure_ascii=False, default=str))
    if step.prompt_injection:
        print("  prompt: " + step.prompt_injection.strip().replace("\n", "\n          "))
    if step.llm_prompt:
        print("  llm check: " + step.llm_prompt.strip().replace("\n", "\n             "))


def _workflow(args: argparse.Namespace) -> None:
    with connect(min_size=1, max_size=1) as client:
        if args.action == "import":
            file_id = client.workflows.import_file(args.character, args.file)
            print(f"imported {args.file} for {args.character} (workflow file {file_id})")
        else:
            for c in client.workflows.check(args.character, args.message, args.user, args.context):
                print(json.dumps(c.model_dump(), ensure_ascii=False))


def _chat(args: argparse.Namespace) -> None:
    """Each line is one user message; '/yes' confirms an LLM-validated workflow."""
    with connect(min_size=1, max_size=1) as client:
        last = None
        for line in sys.stdin:
            message = line.rstrip("\n")
            confirmed = message.strip() == "/yes" and last is not None
            if confirmed:
                message = last or ""
            elif not message.strip():
                continue
            step = client.workflows.process(
                args.user, args.character, message, confirmed, args.context
            )
            print(f"> {message}")
            _print_step(step)
            last = message if step.action == "needs_llm_validation" else None


def _export(args: argparse.Namespace) -> None:
    from .operations import terminal_progress

    with connect(min_size=1, max_size=1) as client:
        path, rows = client.operations.export(
            args.type,
            args.date,
            args.format,
            args.out,
            terminal_progress(f"{args.type} {args.date}"),
        )
    print(f"{'' if not sys.stderr.isatty() else chr(10)}wrote {rows} rows to {path}")


def _metrics(args: argparse.Namespace) -> None:
    import time

    from prometheus_client import REGISTRY, start_http_server

    from .metrics import OpsCollector

    client = connect(min_size=1, max_size=2)
    REGISTRY.register(OpsCollector(client))
    start_http_server(args.port, addr=args.host)
    print(f"serving ops metrics on http://{args.host}:{args.port}/metrics", file=sys.stderr)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        client.close()


def _game(args: argparse.Namespace) -> None:
    from .characters import read_document

    with connect(min_size=1, max_size=1) as client:
        if args.action == "import":
            documents = read_document(args.file)
            if not isinstance(documents, list):
                raise CdlstoreError(f"{args.file}: expected a JSON list of documents")
            report = client.game.import_documents(args.container, documents)
            for doc in report["documents"]:
                if doc["status"] == "rejected":
                    print(f"rejected {doc['id']}: {doc['reason']}", file=sys.stderr)
            print(
                f"{report['container']}: {report['inserted']} inserted, "
                f"{report['updated']} updated, {report['unchanged']} unchanged, "
                f"{report['rejected']} rejected"
            )
        else:
            result = client.game.compare(args.container)
            for d in result["differences"]:
                print(json.dumps(d, ensure_ascii=False))
            print(
                f"{result['container']}: {result['records']} records, "
                f"{result['documents']} documents, {len(result['differences'])} differences",
                file=sys.stderr,
            )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected YYYY-MM-DD") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdlstore",
        description="PostgreSQL storage for AI characters and agents. The database is "
        "DATABASE_URL when set, else the project-local cluster in .pgdata/.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], None], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        return p

    p = add(
        "migrate",
        _migrate,
        "Apply pending migrations (the package's sql/migrations), then re-apply every "
        "function file (sql/functions) and sql/privileges.sql. Running it twice changes nothing.",
    )
    p.add_argument(
        "--to", metavar="ID", help="stop after this migration (e.g. 0003_cdl_characters)"
    )
    p = add(
        "rollback",
        _rollback,
        "Roll back the newest applied migration (or --count of them) using its .rollback.sql file.",
    )
    p.add_argument("--count", type=int, default=1, help="how many migrations (default 1)")
    add("db-url", _db_url, "Print the connection URL in use: DATABASE_URL, else the local cluster.")
    add(
        "app-url",
        _app_url,
        "Print the URL of the local cluster's application login (bound to the tenant default).",
    )
    add("version", _version, "Print the package version and the database schema version.")
    p = add(
        "db",
        _db,
        "Manage the project-local cluster in .pgdata/ (ignored when DATABASE_URL "
        "is set): start (initdb on first use), stop, status, bindir (server binaries).",
    )
    p.add_argument("action", choices=["start", "stop", "status", "bindir"])

    p = add(
        "character",
        _character,
        "Characters (CDL): import files, show, export, versions, diff, search, render.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("import", help="import CDL files (JSON; YAML by suffix)")
    a.add_argument("files", nargs="+", metavar="FILE")
    a = actions.add_parser("show", help="a readable summary of a character")
    a.add_argument("name")
    a.add_argument("--json", action="store_true", help="print the whole document instead")
    a = actions.add_parser("export", help="print the character as a wrapped CDL file")
    a.add_argument("name")
    a = actions.add_parser("versions", help="list the versions of a character")
    a.add_argument("name")
    a = actions.add_parser("diff", help="field-level difference of two versions")
    a.add_argument("name")
    a.add_argument("v1", type=int)
    a.add_argument("v2", type=int)
    a = actions.add_parser("search", help="full-text search over all characters")
    a.add_argument("query")
    a.add_argument("--limit", type=int, default=20)
    a = actions.add_parser(
        "render",
        help="render documents that bursts of writes left unrendered (run it now and then)",
    )
    a.add_argument("--max-count", type=int, default=1000)

    p = add("workflow", _workflow, "Character workflows: import a YAML file, check a message.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("import", help="import or replace a character's workflow file")
    a.add_argument("character")
    a.add_argument("file")
    a = actions.add_parser("check", help="which workflows a message would start (starts nothing)")
    a.add_argument("character")
    a.add_argument("message")
    a.add_argument("--user", default="cli")
    a.add_argument("--context", type=_json_arg, default={}, help="caller context, a JSON object")

    p = add(
        "export-training",
        _export,
        "Write one UTC day of events, tasks, workflows or messages to "
        "DIR/TYPE/TYPE_DATE.csv|jsonl, streamed with COPY; re-running a day replaces the file.",
    )
    p.add_argument("--type", required=True, choices=["events", "tasks", "workflows", "messages"])
    p.add_argument("--date", required=True, type=_day, help="YYYY-MM-DD (UTC)")
    p.add_argument("--format", default="jsonl", choices=["csv", "jsonl"])
    p.add_argument("--out", required=True, help="output directory")

    p = add(
        "game",
        _game,
        "Game data: import exported documents of a container, or compare the "
        "relational copy with the documents kept in docstore (namespace game).",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("import", help="upsert a JSON list of exported documents")
    a.add_argument("container")
    a.add_argument("file")
    a = actions.add_parser("compare", help="list the records that differ from their documents")
    a.add_argument("container")

    p = add("metrics", _metrics, "Serve ops.metrics() in the Prometheus text format.")
    p.add_argument("action", choices=["serve"])
    p.add_argument("--port", type=int, default=9187)
    p.add_argument("--host", default="127.0.0.1")

    p = add(
        "chat",
        _chat,
        "Talk to a character's workflows: each line read from standard input "
        "is processed and the step shown; '/yes' confirms an LLM-validated workflow.",
    )
    p.add_argument("character")
    p.add_argument("--user", required=True)
    p.add_argument("--context", type=_json_arg, default={}, help="caller context, a JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CdlstoreError as exc:
        print(f"cdlstore: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
