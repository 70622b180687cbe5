# PYTHON_ARGCOMPLETE_OK
"""The ``cdlstore`` command line: argparse, with shell completion by argcomplete.

Every command that prints data takes ``--json`` (one JSON document on stdout; a stream of them, one
per line, for ``ops events tail`` and ``chat``); otherwise it prints readable lines or tables.
Errors are one line on stderr, ``cdlstore: error: [CODE] message | HINT: ...``, and the exit code
says what kind of error it was (:data:`EXIT_CODES`)."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import __version__, migrations
from .client import Client, check_dsn, connect
from .dsn import app_url, default_dsn, external_database
from .errors import (
    AlreadyExists,
    CdlstoreError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidInput,
    InvalidState,
    LimitExceeded,
    NotFound,
)
from .files import read_document
from .models import WorkflowStep
from .progress import progress_bar

# What a script can rely on: 0 success, 1 any other error, 2 bad usage (argparse), and these.
EXIT_CODES: dict[type[CdlstoreError], int] = {
    ConnectionFailed: 3,
    NotFound: 4,
    InvalidInput: 5,
    Conflict: 6,
    InvalidState: 6,
    AlreadyExists: 6,
    Forbidden: 6,
    LimitExceeded: 7,
}


def _migrate(args: argparse.Namespace) -> None:
    dsn = check_dsn(args.dsn)
    if args.status or args.dry_run:
        _show_plan(migrations.plan(dsn, args.to), args.status)
        return
    applied = migrations.migrate(dsn, args.to)
    if not args.dsn and not external_database() and not args.to:
        from .dev import localdb  # the local cluster only: its application login

        localdb.ensure_app_login(dsn)  # the login `make demo` runs as (`cdlstore app-url`)
    for mid in applied:
        print(f"applied {mid}")
    left = migrations.plan(dsn).to_apply if args.to else []
    print(
        f"{len(applied)} migration(s) applied"
        + (f"; {len(left)} left pending" if left else "; function files re-applied")
    )


def _show_plan(plan: migrations.Plan, status: bool) -> None:
    """``--status``: every migration, applied or pending. ``--dry-run``: what would run."""
    if plan.unknown_applied:
        print(
            f"note: {plan.unknown_applied} applied migration(s) are not in cdlstore {__version__}: "
            "the database is newer than this package, whose function files would replace "
            "newer ones"
        )
    if status:
        for mid in plan.applied:
            print(f"applied  {mid}")
        for mid in plan.to_apply + plan.left_pending:
            print(f"pending  {mid}")
        print(f"{len(plan.applied)} applied, {len(plan.to_apply + plan.left_pending)} pending")
        return
    for mid in plan.to_apply:
        print(f"would apply {mid}")
    if plan.function_files:
        print(f"would re-apply {len(plan.function_files)} function files and privileges:")
        for name in plan.function_files:
            print(f"  {name}")
    else:
        print(f"would leave {len(plan.left_pending)} migration(s) pending and no function file")
    print("nothing was changed (dry run)")


def _rollback(args: argparse.Namespace) -> None:
    dsn = check_dsn()
    rolled = migrations.rollback(dsn, args.count)
    for mid in rolled:
        print(f"rolled back {mid}")
    if not rolled:
        print("nothing to roll back")


def _db_url(args: argparse.Namespace) -> None:
    print(default_dsn())


def _app_url(args: argparse.Namespace) -> None:
    if external_database():
        raise CdlstoreError(
            "DATABASE_URL is set: there is no local application login",
            hint="create a login in cdlstore_app and bind it (README, Tenancy)",
        )
    print(app_url())


def _version(args: argparse.Namespace) -> None:
    print(f"cdlstore {__version__}")
    with connect(min_size=1, max_size=1) as client:
        print(f"schema {client.schema_version() or 'none'}")


def _db(args: argparse.Namespace) -> None:
    from .dev import localdb  # development tooling, imported by this command only

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
    print(json.dumps(_plain(data), indent=2, ensure_ascii=False, default=str))


def _plain(data: Any) -> Any:
    """Models (and lists of them) as JSON-ready data."""
    if hasattr(data, "model_dump"):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [_plain(d) for d in data]
    return data


def _cell(value: Any, width: int = 48) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(rows: Sequence[Any], columns: Sequence[str]) -> None:
    """Rows (models or dicts) as aligned columns with a header; nothing at all when empty."""
    if not rows:
        return
    cells = [[_cell(_plain(r).get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _show(args: argparse.Namespace, data: Any, columns: Sequence[str]) -> None:
    """--json: the data as one JSON document; else a table of it."""
    if args.json:
        _print_json(data)
    else:
        _table(data if isinstance(data, list) else [data], columns)


def _import_characters(chars: Any, files: Sequence[str], as_json: bool) -> None:
    """Import each file, then print the key (normalized name) each was stored under -- also for
    the files imported before one that failed."""
    bar = progress_bar(len(files), "file", "import") if len(files) > 1 else None
    ids: list[tuple[str, int]] = []
    try:
        for path in files:
            ids.append((path, chars.import_file(path)))
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
        keys = {c.id: c.normalized_name for c in chars.list_characters()} if ids else {}
        imported = [{"file": f, "id": i, "key": keys.get(i)} for f, i in ids]
        if as_json:
            _print_json(imported)
        else:
            for row in imported:
                print(f"imported {row['file']} as {row['key']} (character {row['id']})")


def _character(args: argparse.Namespace) -> None:
    with connect(min_size=1, max_size=1) as client:
        chars = client.characters
        if args.action == "import":
            _import_characters(chars, args.files, args.json)
        elif args.action == "list":
            rows = chars.list_characters(args.status, args.archetype)
            if args.json:
                _print_json(rows)
            else:
                _table(
                    [
                        {
                            "key": c.normalized_name,
                            "name": c.name,
                            "status": c.status,
                            "updated": c.updated_at,
                        }
                        for c in rows
                    ],
                    ["key", "name", "status", "updated"],
                )
        elif args.action == "show":
            character = chars.get_character_complete(args.name)
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
            _print_json(chars.export_character_json(args.name))
        elif args.action == "versions":
            versions = chars.list_character_versions(args.name)
            if args.json:
                _print_json(versions)
                return
            for v in versions:
                when = v.created_at.isoformat(timespec="seconds")
                print(
                    f"{v.version_number:>4}  {when}  {v.version_name or ''}  {v.description or ''}"
                )
        elif args.action == "diff":
            _print_json(
                chars.diff_character_versions(args.name, args.v1, args.v2).model_dump(
                    exclude_none=True
                )
            )
        elif args.action == "search":
            hits = chars.search_characters(args.query, max_results=args.limit)
            if args.json:
                _print_json(hits)
                return
            for hit in hits:
                print(
                    f"{hit.rank:.3f}  {hit.normalized_name}  {hit.source}:{hit.match_path}  "
                    f"{hit.snippet}"
                )
        elif args.action == "render":
            n = chars.render_character_documents(args.max_count)
            if args.json:
                _print_json({"rendered": n})
            else:
                print(f"{n} document(s) rendered")


def _json_arg(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _workflow(args: argparse.Namespace) -> None:
    with connect(min_size=1, max_size=1) as client:
        if args.action == "import":
            file_id = client.workflows.import_file(args.character, args.file)
            if args.json:
                _print_json({"character": args.character, "workflow_file_id": file_id})
            else:
                print(f"imported {args.file} for {args.character} (workflow file {file_id})")
        elif args.action == "graph":
            if args.json:
                _print_json(client.workflows.get_workflow_graph(args.character, args.workflow))
            else:
                print(client.workflows.graph(args.character, args.workflow, args.format), end="")
        else:
            candidates = client.workflows.check_workflow_triggers(
                args.user, args.character, args.message, args.context
            )
            if args.json:
                _print_json(candidates)
                return
            for c in candidates:
                print(json.dumps(c.model_dump(), ensure_ascii=False))


def _reply_line(name: str, step: WorkflowStep) -> str:
    """One readable line for a processed message: what happened, the state, the prompt."""
    parts = [f"{name}: {step.action.replace('_', ' ')}"]
    if step.workflow_name:
        parts.append(f"{step.workflow_name} → {step.state or '-'} ({step.status or '-'})")
    line = " · ".join(parts)
    if step.prompt_injection:
        line += "\n    prompt: " + " ".join(step.prompt_injection.split())
    if step.llm_prompt:
        line += "\n    needs an LLM check (/yes confirms, /no declines): " + " ".join(
            step.llm_prompt.split()
        )
    return line


def _read_lines(prompt: str, interactive: bool) -> Iterator[str]:
    """Lines of the user: with a prompt and readline history on a terminal, else plain stdin."""
    if not interactive:
        for line in sys.stdin:
            yield line.rstrip("\n")
        return
    import readline

    history = Path(os.environ.get("CDLSTORE_CHAT_HISTORY", Path.home() / ".cdlstore_chat_history"))
    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    try:
        while True:
            try:
                yield input(prompt)
            except EOFError:
                print()
                return
    finally:
        with contextlib.suppress(OSError):
            readline.write_history_file(history)


def _chat(args: argparse.Namespace) -> None:
    """Each line is one user message; '/yes' confirms an LLM-validated workflow, '/no' declines it
    (the next candidate is then offered or started), '/quit' ends. Every user message and every
    reply is written to the ops conversation chat:CHARACTER:USER."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    with connect(min_size=1, max_size=2) as client:
        character = client.characters.get_character_complete(args.character)
        key = character.normalized_name
        conversation = f"chat:{key}:{args.user}"
        if interactive:
            print(f"Chatting with {character.name} ({key}) as {args.user}.")
            print(f"Messages are kept in the ops conversation {conversation}.")
            print("/yes confirms an LLM check, /no declines it, /quit or Ctrl-D ends.")
        last: str | None = None
        pending: str | None = None
        verdicts: dict[str, bool] = {}
        ops = client.operations
        for line in _read_lines(f"{args.user}> ", interactive):
            message = line.strip()
            if message == "/quit":
                break
            answer = message in ("/yes", "/no") and last is not None and pending is not None
            if answer:
                verdicts[pending or ""] = message == "/yes"
                message = last or ""
            elif not message or message in ("/yes", "/no"):
                continue
            else:
                verdicts = {}
                ops.append_message(conversation, "user", message, metadata={"user_id": args.user})
            step = client.workflows.process_workflow_message(
                args.user, key, message, request_context=args.context, llm_verdicts=verdicts
            )
            shown = step.model_dump(mode="json", exclude_none=True)
            ops.append_message(
                conversation,
                "assistant",
                step.prompt_injection or step.action,
                metadata={"step": shown},
                agent_id=key,
            )
            if args.json:
                print(json.dumps(shown, ensure_ascii=False), flush=True)
            else:
                print(_reply_line(character.name, step), flush=True)
            waiting = step.action == "needs_llm_validation"
            last, pending = (message, step.workflow_name) if waiting else (None, None)


def _export(args: argparse.Namespace) -> None:
    bar = progress_bar(None, "row", f"{args.type} {args.date}")

    def progress(chunk: bytes) -> None:  # a row is a line (jsonl; csv but for quoted newlines)
        if bar is not None:
            bar.update(chunk.count(b"\n"))

    with connect(min_size=1, max_size=1) as client:
        path, rows = client.operations.export(
            args.type,
            args.date,
            args.format,
            args.out,
            on_chunk=progress if bar is not None else None,
        )
    if bar is not None:
        bar.close()
    if args.json:
        _print_json({"path": str(path), "rows": rows})
    else:
        print(f"wrote {rows} rows to {path}")


def _metrics(args: argparse.Namespace) -> None:
    from .metrics import serve

    serve(args.host, args.port)


def _game(args: argparse.Namespace) -> None:
    with connect(min_size=1, max_size=1) as client:
        if args.action == "import":
            documents = read_document(args.file)
            if not isinstance(documents, list):
                raise CdlstoreError(f"{args.file}: expected a JSON list of documents")
            report = client.game.import_documents(args.container, documents)
            if args.json:  # the call's own JSON: the keys it sent, as it sent them
                _print_json(report.model_dump(mode="json", exclude_unset=True))
                return
            for doc in report.documents:
                if doc.status == "rejected":
                    print(f"rejected {doc.id}: {doc.reason}", file=sys.stderr)
            print(
                f"{report.container}: {report.inserted} inserted, "
                f"{report.updated} updated, {report.unchanged} unchanged, "
                f"{report.rejected} rejected"
            )
        else:
            result = client.game.compare_with_documents(args.container)
            if args.json:
                _print_json(result.model_dump(mode="json", exclude_unset=True))
                return
            for d in result.differences:
                print(json.dumps(d.model_dump(mode="json", exclude_unset=True), ensure_ascii=False))
            print(
                f"{result.container}: {result.records} records, "
                f"{result.documents} documents, {len(result.differences)} differences",
                file=sys.stderr,
            )


DOC_COLUMNS = ["document_uuid", "version", "type", "name", "created_at", "created_by"]
TASK_COLUMNS = ["execution_id", "task_name", "task_type", "status", "retry_count", "created_at"]
RUN_COLUMNS = ["workflow_id", "name", "workflow_type", "status", "completed_steps", "created_at"]


def _read_body(source: str) -> Any:
    """A JSON body from a file, or from stdin for '-'."""
    if source != "-":
        return read_document(source)
    try:
        return json.load(sys.stdin)
    except ValueError as exc:
        raise InvalidInput(f"stdin is not JSON: {exc}") from exc


def _document(args: argparse.Namespace, doc: Any) -> None:
    if args.json:
        _print_json(doc)
        return
    _table([doc], DOC_COLUMNS)
    print(json.dumps(doc.body, indent=2, ensure_ascii=False, default=str))


def _docs(args: argparse.Namespace) -> None:
    with connect(min_size=1, max_size=1) as client:
        docs = client.documents
        if args.action == "put":
            ref = docs.put_document(
                args.namespace,
                args.type,
                _read_body(args.file),
                name=args.name,
                metadata=args.metadata,
                session_id=args.session,
                document_uuid=args.uuid,
                expected_version=args.expected_version,
            )
            _show(args, ref, ["document_uuid", "version"])
        elif args.action == "get":
            if args.tag:
                _document(args, docs.get_document_by_tag(args.uuid, args.tag))
            else:
                _document(args, docs.get_document(args.uuid, args.version))
        elif args.action == "history":
            history = docs.document_history(args.uuid, args.limit)
            if args.json:
                _print_json(history)
                return
            deleted = f", deleted {_cell(history.deleted_at)}" if history.deleted_at else ""
            print(f"{history.namespace}/{history.type} {history.document_uuid}{deleted}")
            _table(history.versions, ["version", "created_at", "created_by", "session_id", "tags"])
        elif args.action == "tag":
            old = docs.set_tag(
                args.uuid,
                args.version,
                args.tag,
                expected_version=args.expected_version,
                force=args.force,
            )
            if args.json:
                _print_json({"tag": args.tag, "version": args.version, "previous_version": old})
            else:
                print(f"{args.tag} -> version {args.version} (was {old if old else 'unset'})")
        elif args.action == "tagged":
            _show(args, docs.get_tagged(args.namespace, args.type, args.tag, False), DOC_COLUMNS)
        elif args.action == "list":
            page = max(1, min(args.limit, 1000))
            found = list(
                itertools.islice(
                    docs.list(args.namespace, args.type, args.filter, page_size=page), args.limit
                )
            )
            _show(args, found, DOC_COLUMNS)
        elif args.action == "changes":
            events = docs.read_changes(args.consumer, args.limit)
            if events and not args.peek:
                docs.ack_changes(args.consumer, events[-1].id)
            _show(args, events, ["id", "operation", "document_uuid", "version", "created_at"])


def _ops(args: argparse.Namespace) -> None:
    with connect(min_size=1, max_size=2) as client:
        ops = client.operations
        if args.what == "tasks":
            if args.action == "list":
                tasks = ops.list_tasks(args.status, args.type, args.workflow, args.limit)
                _show(args, tasks, TASK_COLUMNS)
            else:
                task = {
                    "show": lambda: ops.get_task(args.id),
                    "retry": lambda: ops.retry_task(args.id),
                    "cancel": lambda: ops.cancel_task(args.id, args.reason),
                }[args.action]()
                _show(args, task, [*TASK_COLUMNS, "error"])
        elif args.what == "runs":
            if args.action == "list":
                page = ops.list_workflows(args.status, args.type, args.limit)
                _show(args, page.items, RUN_COLUMNS)
            else:
                _show(args, ops.get_workflow(args.id), [*RUN_COLUMNS, "error"])
        else:
            _tail_events(args, client)


def _tail_events(args: argparse.Namespace, client: Client) -> None:
    """The newest events, oldest first, then (unless --no-follow) each new one as it comes."""
    ops = client.operations
    page = ops.list_events(event_type=args.type, page_size=args.limit)
    columns = ["event_id", "created_at", "event_type", "entity_type", "entity_id", "severity"]
    for event in reversed(page.items):
        _event_line(args, event.model_dump(mode="json"), columns)
    if args.no_follow:
        return
    seen = 0
    with contextlib.suppress(KeyboardInterrupt):
        for note in ops.listen_events():
            if args.type is None or note.get("event_type") == args.type:
                _event_line(args, note, columns)
                seen += 1
                if args.max_events is not None and seen >= args.max_events:
                    return


def _event_line(args: argparse.Namespace, event: dict[str, Any], columns: Sequence[str]) -> None:
    if args.json:
        print(json.dumps(event, ensure_ascii=False, default=str), flush=True)
    else:
        print("  ".join(_cell(event.get(c), 36) for c in columns), flush=True)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected YYYY-MM-DD") from exc


Adder = Callable[[str, Callable[[argparse.Namespace], None], str], argparse.ArgumentParser]


def _docs_parser(add: Adder, out: argparse.ArgumentParser) -> None:
    """cdlstore docs ..."""
    p = add(
        "docs",
        _docs,
        "The versioned document store: put, get, history, tag, tagged, list, changes.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("put", parents=[out], help="store a document or its next version")
    a.add_argument("namespace")
    a.add_argument("type")
    a.add_argument("file", help="a JSON (or YAML) file with the body; - reads stdin")
    a.add_argument("--name")
    a.add_argument("--metadata", type=_json_arg, help="a JSON object")
    a.add_argument("--session", help="the session id it belongs to")
    a.add_argument("--uuid", help="the document to write a new version of")
    a.add_argument("--expected-version", type=int, help="write only if still at this version")
    a = actions.add_parser("get", parents=[out], help="a document version with its body")
    a.add_argument("uuid")
    a.add_argument("--version", type=int, help="default: the newest")
    a.add_argument("--tag", help="the version this tag points at")
    a = actions.add_parser(
        "history", parents=[out], help="every version, newest first, with its tags"
    )
    a.add_argument("uuid")
    a.add_argument("--limit", type=int, default=100)
    a = actions.add_parser("tag", parents=[out], help="point a tag at a version")
    a.add_argument("uuid")
    a.add_argument("version", type=int)
    a.add_argument("tag")
    a.add_argument("--expected-version", type=int, help="compare-and-swap: where it points now")
    a.add_argument("--force", action="store_true", help="move a protected tag")
    a = actions.add_parser("tagged", parents=[out], help="the documents of a type with a tag")
    a.add_argument("namespace")
    a.add_argument("type")
    a.add_argument("tag")
    a = actions.add_parser("list", parents=[out], help="the newest version of each document")
    a.add_argument("namespace")
    a.add_argument("type")
    a.add_argument("--filter", type=_json_arg, help="metadata containing this JSON object")
    a.add_argument("--limit", type=int, default=100)
    a = actions.add_parser(
        "changes", parents=[out], help="a consumer's next change events, then acknowledge them"
    )
    a.add_argument("consumer")
    a.add_argument("--limit", type=int, default=100)
    a.add_argument("--peek", action="store_true", help="do not acknowledge them")


def _ops_parser(add: Adder, out: argparse.ArgumentParser) -> None:
    """cdlstore ops tasks|runs|events ..."""
    p = add("ops", _ops, "Agent operations: tasks, workflow runs, the event feed.")
    whats = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    tasks = whats.add_parser("tasks", help="the task queue: list, show, retry, cancel")
    actions = tasks.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("list", parents=[out], help="tasks, newest first")
    a.add_argument("--status", choices=["pending", "running", "completed", "failed", "cancelled"])
    a.add_argument("--type", help="only this task type")
    a.add_argument("--workflow", help="only the tasks of this workflow run")
    a.add_argument("--limit", type=int, default=50)
    for name, text in [
        ("show", "one task"),
        ("retry", "queue a failed or cancelled task again"),
        ("cancel", "cancel a pending or running task"),
    ]:
        a = actions.add_parser(name, parents=[out], help=text)
        a.add_argument("id", metavar="EXECUTION_ID")
        if name == "cancel":
            a.add_argument("--reason")
    runs = whats.add_parser("runs", help="workflow runs: list, show")
    actions = runs.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("list", parents=[out], help="workflow runs, newest first")
    a.add_argument("--status", choices=["pending", "running", "completed", "failed"])
    a.add_argument("--type", help="only this workflow type")
    a.add_argument("--limit", type=int, default=50)
    a = actions.add_parser("show", parents=[out], help="one workflow run")
    a.add_argument("id", metavar="WORKFLOW_ID")
    events = whats.add_parser("events", help="the event feed")
    actions = events.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser(
        "tail",
        parents=[out],
        help="the newest events, then each new one as it is recorded (Ctrl-C ends); --json "
        "prints one JSON document per line",
    )
    a.add_argument("--type", help="only this event type")
    a.add_argument("--limit", type=int, default=20, help="how many past events (default 20)")
    a.add_argument("--no-follow", action="store_true", help="print the past events and stop")
    a.add_argument("--max-events", type=int, help="stop after this many new events")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdlstore",
        description="PostgreSQL storage for AI characters and agents. The database is "
        "DATABASE_URL when set, else the local development cluster (cdlstore db).",
    )
    parser.add_argument("--version", action="version", version=f"cdlstore {__version__}")
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
        "function file (sql/functions) and sql/privileges.sql, also when no migration is "
        "pending. Running it twice changes nothing.",
    )
    p.add_argument(
        "--to", metavar="ID", help="stop after this migration (e.g. 0003_cdl_characters)"
    )
    p.add_argument("--dsn", help="the database (default: DATABASE_URL, else the local cluster)")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument(
        "--status", action="store_true", help="list applied and pending migrations; change nothing"
    )
    shown.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would run (up to --to when given); change nothing",
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
        "Manage the local development cluster (ignored when DATABASE_URL is set): start "
        "(initdb on first use), stop, status, bindir (server binaries). Its data directory is "
        "CDLSTORE_PGDATA, by default .pgdata/ in a checkout, else "
        "$XDG_DATA_HOME/cdlstore/pgdata (~/.local/share/cdlstore/pgdata).",
    )
    p.add_argument("action", choices=["start", "stop", "status", "bindir"])

    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    p = add(
        "character",
        _character,
        "Characters (CDL): import files, list, show, export, versions, diff, search, render.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser(
        "import", parents=[out], help="import CDL files (JSON; YAML by suffix); prints each key"
    )
    a.add_argument("files", nargs="+", metavar="FILE")
    a = actions.add_parser(
        "list", parents=[out], help="every character: key, name, status, updated"
    )
    a.add_argument("--status", help="only this status (e.g. active, archived)")
    a.add_argument("--archetype", help="only this archetype")
    a = actions.add_parser("show", help="a readable summary of a character")
    a.add_argument("name")
    a.add_argument("--json", action="store_true", help="print the whole document instead")
    a = actions.add_parser("export", help="print the character as a wrapped CDL file (JSON)")
    a.add_argument("name")
    a = actions.add_parser("versions", parents=[out], help="list the versions of a character")
    a.add_argument("name")
    a = actions.add_parser("diff", help="field-level difference of two versions (JSON)")
    a.add_argument("name")
    a.add_argument("v1", type=int)
    a.add_argument("v2", type=int)
    a = actions.add_parser("search", parents=[out], help="full-text search over all characters")
    a.add_argument("query")
    a.add_argument("--limit", type=int, default=20)
    a = actions.add_parser(
        "render",
        parents=[out],
        help="render documents that bursts of writes left unrendered (run it now and then)",
    )
    a.add_argument("--max-count", type=int, default=1000)

    p = add(
        "workflow",
        _workflow,
        "Character workflows: import a YAML file, check a message, draw the state machines.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser(
        "import", parents=[out], help="import or replace a character's workflow file"
    )
    a.add_argument("character")
    a.add_argument("file")
    a = actions.add_parser(
        "check", parents=[out], help="which workflows a message would start (starts nothing)"
    )
    a.add_argument("character")
    a.add_argument("message")
    a.add_argument("--user", default="cli")
    a.add_argument("--context", type=_json_arg, default={}, help="caller context, a JSON object")
    a = actions.add_parser(
        "graph",
        parents=[out],
        help="draw a character's workflows (or one): states, transitions with their triggers "
        "and actions, initial and final states, timeouts (--json: the graph data)",
    )
    a.add_argument("character")
    a.add_argument("workflow", nargs="?")
    a.add_argument(
        "--format",
        choices=["mermaid", "dot", "svg"],
        default="mermaid",
        help="mermaid (stateDiagram-v2, the default), dot (Graphviz) or svg (drawn by dot)",
    )

    _docs_parser(add, out)
    _ops_parser(add, out)

    p = add(
        "export-training",
        _export,
        "Write one UTC day of events, tasks, workflows or messages to "
        "DIR/TYPE/TYPE_DATE.csv|jsonl, streamed with COPY; re-running a day replaces the file.",
    )
    p.add_argument(
        "--type", required=True, help="events, tasks, workflows or messages (ops.export_source)"
    )
    p.add_argument("--date", required=True, type=_day, help="YYYY-MM-DD (UTC)")
    p.add_argument("--format", default="jsonl", help="jsonl (the default) or csv")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--json", action="store_true", help="print {path, rows} as JSON")

    p = add(
        "game",
        _game,
        "Game data: import exported documents of a container, or compare the "
        "relational copy with the documents kept in docstore (namespace game).",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("import", parents=[out], help="upsert a JSON list of exported documents")
    a.add_argument("container")
    a.add_argument("file")
    a = actions.add_parser(
        "compare", parents=[out], help="list the records that differ from their documents"
    )
    a.add_argument("container")

    p = add(
        "metrics",
        _metrics,
        "Serve ops.metrics() in the Prometheus text format at /metrics (cdlstore_up 0 while the "
        "database is unreachable, never an error page) and a liveness check at /healthz.",
    )
    p.add_argument("action", choices=["serve"])
    p.add_argument("--port", type=int, default=9187)
    p.add_argument("--host", default="127.0.0.1")

    p = add(
        "chat",
        _chat,
        "Talk to a character's workflows: each line (at a prompt, with history, on a terminal) "
        "is processed and the reply shown; '/yes' confirms an LLM-validated workflow, '/quit' "
        "ends. Every message and reply is written to the ops conversation chat:CHARACTER:USER "
        "(export-training --type messages).",
    )
    p.add_argument("character")
    p.add_argument("--user", default=os.environ.get("USER") or "cli", help="default: $USER")
    p.add_argument("--json", action="store_true", help="one JSON document per reply")
    p.add_argument("--context", type=_json_arg, default={}, help="caller context, a JSON object")

    from .worker import add_commands

    add_commands(add)  # worker, maintain, schedule
    return parser


def _error_line(exc: CdlstoreError) -> str:
    code = f"[{exc.sqlstate}] " if exc.sqlstate else ""
    return " ".join(f"cdlstore: error: {code}{exc}".split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    import argcomplete

    argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except CdlstoreError as exc:
        print(_error_line(exc), file=sys.stderr)
        return next((n for cls, n in EXIT_CODES.items() if isinstance(exc, cls)), 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
