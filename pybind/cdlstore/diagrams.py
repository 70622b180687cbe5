"""Workflow diagrams from ``cdl.get_workflow_graph``: Mermaid ``stateDiagram-v2``, Graphviz dot,
and SVG drawn by Graphviz's ``dot`` when it is installed."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from typing import Any

from .errors import CdlstoreError, InvalidInput

FORMATS = ("mermaid", "dot", "svg")
LABEL_LIMIT = 60
# characters that end or break a Mermaid label, and what stands for them
MERMAID_UNSAFE = str.maketrans(':;"{}#', "∶,'()♯")


class GraphvizMissing(CdlstoreError):
    """SVG needs Graphviz's ``dot`` program."""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1] + "…"


def _triggers(patterns: list[str], keywords: list[str]) -> str:
    parts = [f"/{p}/" for p in patterns] + list(keywords)
    return _short(", ".join(parts))


def _edge_label(triggers: str, action: str | None) -> str:
    if action and action != "none":
        return f"{triggers} / {action}" if triggers else action
    return triggers


def _edges(workflow: dict[str, Any]) -> list[tuple[str | None, str | None, str, str]]:
    """(from, to, label, kind) of one workflow; None is the start or the end."""
    triggers = workflow.get("triggers") or []
    start = _triggers(
        [t["value"] for t in triggers if t["type"] == "pattern_match"],
        [t["value"] for t in triggers if t["type"] == "keyword_match"],
    )
    Edge = tuple[str | None, str | None, str, str]
    edges: list[Edge] = [
        (
            None,
            workflow["initial_state"],
            _edge_label(start, workflow.get("on_trigger_action")),
            "start",
        )
    ]
    for t in workflow["transitions"]:
        label = _edge_label(_triggers(t["patterns"], t["keywords"]), t.get("action"))
        edges.append((t["from_state"], t["to_state"], label, "transition"))
    for s in workflow["states"]:
        if s["final"]:
            edges.append((s["name"], None, "", "final"))
        elif s.get("timeout_seconds") is not None:
            label = f"timeout {s['timeout_seconds']:g}s"
            if s.get("timeout_action"):
                label += f" / {s['timeout_action']}"
            edges.append((s["name"], None, label, "timeout"))
    return edges


def _mermaid_id(workflow: str, state: str) -> str:
    """A plain identifier; names that are not plain get a hash too, so two never meet."""
    name = f"{workflow}__{state}"
    plain = re.sub(r"\W", "_", name, flags=re.ASCII)
    if plain != name:
        plain += "_" + hashlib.sha1(name.encode()).hexdigest()[:6]  # noqa: S324 - not security
    return plain


def _mermaid_text(text: str) -> str:
    return " ".join(text.split()).translate(MERMAID_UNSAFE)


def to_mermaid(graphs: list[dict[str, Any]]) -> str:
    lines = ["stateDiagram-v2"]
    for wf in graphs:
        name = wf["workflow_name"]
        lines.append(f'    state "{_mermaid_text(name)}" as {_mermaid_id(name, "")} {{')
        for s in wf["states"]:
            lines.append(
                f'        state "{_mermaid_text(s["name"])}" as {_mermaid_id(name, s["name"])}'
            )
        for src, dst, label, _kind in _edges(wf):
            a = "[*]" if src is None else _mermaid_id(name, src)
            b = "[*]" if dst is None else _mermaid_id(name, dst)
            lines.append(f"        {a} --> {b}" + (f" : {_mermaid_text(label)}" if label else ""))
        lines.append("    }")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def to_dot(graphs: list[dict[str, Any]], title: str = "workflows") -> str:
    lines = [
        f"digraph {_dot_quote(title)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for i, wf in enumerate(graphs):
        name = wf["workflow_name"]
        start, end, timeout = (_dot_quote(f"{name}::{k}") for k in ("start", "end", "timeout"))
        lines += [
            f"    subgraph {_dot_quote(f'cluster_{i}')} {{",
            f"        label={_dot_quote(name)};",
        ]
        lines.append(f'        {start} [shape=point, width=0.15, label=""];')
        for s in wf["states"]:
            shape = ", peripheries=2" if s["final"] else ""
            node = _dot_quote(f"{name}.{s['name']}")
            lines.append(f"        {node} [label={_dot_quote(s['name'])}{shape}];")
        kinds = {kind for *_, kind in _edges(wf)}
        if "final" in kinds:
            lines.append(f'        {end} [shape=doublecircle, width=0.2, label=""];')
        if "timeout" in kinds:
            lines.append(f'        {timeout} [shape=octagon, label="timeout"];')
        for src, dst, label, kind in _edges(wf):
            a = start if src is None else _dot_quote(f"{name}.{src}")
            b = (
                (timeout if kind == "timeout" else end)
                if dst is None
                else _dot_quote(f"{name}.{dst}")
            )
            attrs = [f"label={_dot_quote(label)}"] if label else []
            if kind == "timeout":
                attrs.append("style=dashed")
            lines.append(f"        {a} -> {b}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(dot_source: str) -> str:
    """The dot source drawn by Graphviz; :class:`GraphvizMissing` when ``dot`` is not installed."""
    program = shutil.which("dot")
    if program is None:
        raise GraphvizMissing(
            "drawing SVG needs Graphviz's dot program",
            hint="install Graphviz (Debian: apt-get install graphviz), or use --format dot|mermaid",
        )
    done = subprocess.run(  # noqa: S603 - our own dot source, no shell
        [program, "-Tsvg"], input=dot_source, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise CdlstoreError(f"dot failed: {done.stderr.strip()}")
    return done.stdout


def render(graphs: list[dict[str, Any]], fmt: str, title: str) -> str:
    if fmt == "mermaid":
        return to_mermaid(graphs)
    if fmt == "dot":
        return to_dot(graphs, title)
    if fmt == "svg":
        return to_svg(to_dot(graphs, title))
    raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
