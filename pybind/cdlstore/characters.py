"""``client.characters``: one method per SQL function of the cdl character store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from psycopg.types.json import Jsonb

from .domain import Domain, M, method
from .errors import CharacterNotFound as CharacterNotFound  # raised by get; kept importable here
from .errors import InvalidInput
from .models import (
    Character,
    CharacterSummary,
    CharacterVersion,
    KnowledgeHit,
    SearchHit,
    VersionDiff,
)

GET_SQL = "SELECT cdl.get_character_complete(%(name)s) AS doc"


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


class Characters(Domain[M]):
    @method
    async def import_json(
        self,
        document: dict[str, Any] | str,
        import_source: str = "json_import",
        normalized_name: str | None = None,
    ) -> int:
        """Import a CDL document (wrapped, flat or mixed), a dict or its JSON text; returns the
        character id. Its keys keep their order (a dict's, or the text's)."""
        try:
            text = (
                document if isinstance(document, str) else json.dumps(document, ensure_ascii=False)
            )
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"the CDL document cannot be written as JSON: {exc}") from exc
        row = await self._client._one(
            "SELECT cdl.import_character_from_json(character_json => %(doc)s::text, "
            "import_source => %(source)s, normalized_name => %(normalized)s) AS id",
            {"doc": text, "source": import_source, "normalized": normalized_name},
        )
        return int(row["id"])

    @method
    async def import_file(self, path: str | Path, normalized_name: str | None = None) -> int:
        """Import a CDL file (JSON, or YAML by suffix), sending the file's own text so that its
        key order is kept; the import source is the file name."""
        return await self.import_json(
            read_json_text(path), f"file:{Path(path).name}"[:100], normalized_name
        )

    @method
    async def get(self, name: str) -> Character:
        """The whole character in one call; :class:`CharacterNotFound` (CD002) when unknown."""
        row = await self._client._one(GET_SQL, {"name": name})
        return Character.model_validate(row["doc"])

    @method
    async def export(self, name: str) -> dict[str, Any]:
        """The character in the wrapped CDL form."""
        row = await self._client._one(
            "SELECT cdl.export_character_json(name => %(name)s::text) AS doc", {"name": name}
        )
        return dict(row["doc"])

    @method
    async def upsert_field(
        self,
        name: str,
        path: str,
        value: Any,
        source: str = "manual",
        confidence: float = 1.0,
        is_public: bool = True,
    ) -> int:
        """Set a field (dot path, ``\\.`` for a dot in a key); returns values changed."""
        row = await self._client._one(
            "SELECT cdl.upsert_character_field(name => %(name)s, field_path => %(path)s, "
            "field_value => %(value)s, field_source => %(source)s, "
            "confidence => %(confidence)s::numeric, is_public => %(public)s) AS changed",
            {
                "name": name,
                "path": path,
                "value": Jsonb(value),
                "source": source,
                "confidence": confidence,
                "public": is_public,
            },
        )
        return int(row["changed"])

    @method
    async def remove_field(self, name: str, path: str) -> int:
        """Remove a field and everything under it; returns values removed."""
        row = await self._client._one(
            "SELECT cdl.remove_character_field(name => %(name)s, field_path => %(path)s) AS n",
            {"name": name, "path": path},
        )
        return int(row["n"])

    @method
    async def define_field(
        self,
        path: str,
        data_type: str,
        field_type: str | None = None,
        validation_rules: dict[str, Any] | None = None,
        description: str | None = None,
        is_required: bool = False,
        category: str | None = None,
    ) -> int:
        """Declare a field's data type and rules, enforced from now on; returns its id."""
        row = await self._client._one(
            "SELECT cdl.define_character_field(field_path => %(path)s, data_type => %(dtype)s, "
            "field_type => %(ftype)s, validation_rules => %(rules)s, description => %(desc)s, "
            "is_required => %(required)s, category => %(category)s) AS id",
            {
                "path": path,
                "dtype": data_type,
                "ftype": field_type,
                "rules": Jsonb(validation_rules or {}),
                "desc": description,
                "required": is_required,
                "category": category,
            },
        )
        return int(row["id"])

    @method
    async def create_version(
        self, name: str, version_name: str | None = None, description: str | None = None
    ) -> int:
        """Snapshot the character; returns the new version number."""
        row = await self._client._one(
            "SELECT cdl.create_character_version(name => %(name)s, version_name => %(vname)s, "
            "description => %(desc)s) AS v",
            {"name": name, "vname": version_name, "desc": description},
        )
        return int(row["v"])

    @method
    async def versions(self, name: str) -> list[CharacterVersion]:
        rows = await self._client._all(
            "SELECT * FROM cdl.list_character_versions(name => %(name)s)", {"name": name}
        )
        return [CharacterVersion.model_validate(r) for r in rows]

    @method
    async def rollback(self, name: str, version: int) -> int:
        """Restore a version as a new version; returns the new version number."""
        row = await self._client._one(
            "SELECT cdl.rollback_character(name => %(name)s, version_number => %(v)s) AS v",
            {"name": name, "v": version},
        )
        return int(row["v"])

    @method
    async def diff(self, name: str, from_version: int, to_version: int) -> VersionDiff:
        row = await self._client._one(
            "SELECT cdl.diff_character_versions(name => %(name)s::text, from_version => %(a)s, "
            "to_version => %(b)s) AS diff",
            {"name": name, "a": from_version, "b": to_version},
        )
        return VersionDiff.model_validate(row["diff"])

    @method
    async def search(
        self, query: str, status: str | None = None, limit: int = 20
    ) -> list[SearchHit]:
        rows = await self._client._all(
            "SELECT * FROM cdl.search_characters(query => %(q)s, status => %(status)s, "
            "max_results => %(limit)s)",
            {"q": query, "status": status, "limit": limit},
        )
        return [SearchHit.model_validate(r) for r in rows]

    @method
    async def search_knowledge(self, name: str, query: str, limit: int = 20) -> list[KnowledgeHit]:
        rows = await self._client._all(
            "SELECT * FROM cdl.search_character_knowledge(name => %(name)s, query => %(q)s, "
            "max_results => %(limit)s)",
            {"name": name, "q": query, "limit": limit},
        )
        return [KnowledgeHit.model_validate(r) for r in rows]

    @method
    async def list(
        self, status: str | None = None, archetype: str | None = None
    ) -> list[CharacterSummary]:
        rows = await self._client._all(
            "SELECT * FROM cdl.list_characters(status_filter => %(s)s, archetype_filter => %(a)s)",
            {"s": status, "a": archetype},
        )
        return [CharacterSummary.model_validate(r) for r in rows]

    @method
    async def archive(self, name: str) -> bool:
        row = await self._client._one(
            "SELECT cdl.archive_character(%(name)s) AS changed", {"name": name}
        )
        return bool(row["changed"])

    @method
    async def upsert_pattern(
        self,
        name: str,
        pattern_type: str,
        pattern_name: str,
        pattern_value: str,
        context: str | None = None,
        frequency: str = "regular",
        priority: int = 50,
    ) -> int:
        row = await self._client._one(
            "SELECT cdl.upsert_communication_pattern(character_name => %(name)s, "
            "pattern_type => %(type)s, pattern_name => %(pname)s, pattern_value => %(value)s, "
            "context => %(context)s, frequency => %(freq)s, priority => %(prio)s) AS id",
            {
                "name": name,
                "type": pattern_type,
                "pname": pattern_name,
                "value": pattern_value,
                "context": context,
                "freq": frequency,
                "prio": priority,
            },
        )
        return int(row["id"])

    @method
    async def remove_pattern(self, name: str, pattern_type: str, pattern_name: str) -> bool:
        row = await self._client._one(
            "SELECT cdl.remove_communication_pattern(%(name)s, %(type)s, %(pname)s) AS removed",
            {"name": name, "type": pattern_type, "pname": pattern_name},
        )
        return bool(row["removed"])

    @method
    async def upsert_template(
        self,
        name: str,
        scenario: str,
        template_name: str,
        template_text: str,
        conditions: dict[str, Any] | None = None,
        priority: int = 50,
        is_active: bool = True,
    ) -> int:
        row = await self._client._one(
            "SELECT cdl.upsert_response_template(character_name => %(name)s, "
            "scenario => %(scenario)s, template_name => %(tname)s, template_text => %(text)s, "
            "conditions => %(cond)s, priority => %(prio)s, is_active => %(active)s) AS id",
            {
                "name": name,
                "scenario": scenario,
                "tname": template_name,
                "text": template_text,
                "cond": Jsonb(conditions or {}),
                "prio": priority,
                "active": is_active,
            },
        )
        return int(row["id"])

    @method
    async def remove_template(self, name: str, scenario: str, template_name: str) -> bool:
        row = await self._client._one(
            "SELECT cdl.remove_response_template(%(name)s, %(scenario)s, %(tname)s) AS removed",
            {"name": name, "scenario": scenario, "tname": template_name},
        )
        return bool(row["removed"])

    @method
    async def upsert_knowledge(
        self,
        name: str,
        knowledge_type: str,
        key: str,
        content: str,
        parent_key: str | None = None,
        confidence: float = 1.0,
        importance: int = 5,
        tags: Sequence[str] | None = None,
        is_public: bool = True,
    ) -> int:
        row = await self._client._one(
            "SELECT cdl.upsert_knowledge(character_name => %(name)s, "
            "knowledge_type => %(type)s, knowledge_key => %(key)s, content => %(content)s, "
            "parent_key => %(parent)s, confidence => %(conf)s::numeric, importance => %(imp)s, "
            "tags => %(tags)s, is_public => %(public)s) AS id",
            {
                "name": name,
                "type": knowledge_type,
                "key": key,
                "content": content,
                "parent": parent_key,
                "conf": confidence,
                "imp": importance,
                "tags": [*(tags or ())],
                "public": is_public,
            },
        )
        return int(row["id"])

    @method
    async def remove_knowledge(self, name: str, key: str) -> bool:
        row = await self._client._one(
            "SELECT cdl.remove_knowledge(%(name)s, %(key)s) AS removed", {"name": name, "key": key}
        )
        return bool(row["removed"])

    @method
    async def render_documents(self, max_count: int = 1000) -> int:
        """Render the documents that bursts of writes left unrendered, so that ``get`` takes its
        fast path again (it is correct either way); returns how many were rendered."""
        row = await self._client._one(
            "SELECT cdl.render_character_documents(max_count => %(n)s) AS n", {"n": max_count}
        )
        return int(row["n"])

    @method
    async def refresh_analytics(self) -> None:
        await self._client._one("SELECT cdl.refresh_character_analytics() AS done")
