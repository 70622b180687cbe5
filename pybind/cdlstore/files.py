"""Reading the files the CLI and the ``import_file`` helpers take: JSON, or YAML by suffix.

PostgreSQL cannot read YAML, so Python parses it, refusing alias bombs before anything is built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidInput

MAX_YAML_NODES = 100_000  # after alias expansion; a 463-byte alias bomb expands to millions


def _yaml_children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Count the nodes the document would have once every alias is expanded (each node once,
    memoized, iteratively: no recursion limit), before anything is built in memory."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in _yaml_children(node))
            if sizes[key] > MAX_YAML_NODES:
                raise InvalidInput(
                    f"the YAML document expands to over {MAX_YAML_NODES:,} values (aliases "
                    "included); refused before it is built"
                )
        elif key not in sizes:
            if key in on_path:
                raise InvalidInput("the YAML document has an alias that contains itself")
            on_path.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in _yaml_children(node) if id(c) not in sizes)


def load_yaml(text: str) -> Any:
    """YAML as Python data (safe types only), refused when alias expansion passes a limit."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_document(path: str | Path) -> Any:
    """A JSON file (or YAML, by suffix) as Python data; InvalidInput when it does not parse."""
    return json.loads(read_json_text(path))


def read_json_text(path: str | Path) -> str:
    """A JSON file's own text (checked to parse), or a YAML file's data as JSON text, its
    mappings in the order written; InvalidInput when it does not parse."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in (".yaml", ".yml"):
            return json.dumps(load_yaml(text), ensure_ascii=False)
        json.loads(text)
        return text
    except (
        OSError,
        UnicodeDecodeError,
        ValueError,
        TypeError,
        RecursionError,
        yaml.YAMLError,
    ) as exc:
        raise InvalidInput(f"{path}: cannot read it as {path.suffix or 'JSON'}: {exc}") from exc
