"""``client.characters``: one method per SQL function of the cdl character store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from .domain import Domain, M, method
from .errors import CharacterNotFound as CharacterNotFound  # raised by get; kept importable here
from .errors import InvalidInput
from .files import read_json_text
from .models import (
    Character,
    CharacterSummary,
    CharacterVersion,
    KnowledgeHit,
    SearchHit,
    VersionDiff,
)


def _numeric(value: float) -> Decimal:
    """A confidence as numeric (a float would be sent as double precision, matching no function)."""
    try:
        return Decimal(str(value))
    except ArithmeticError as exc:
        raise InvalidInput(f"not a number: {value!r}") from exc


class Characters(Domain[M]):
    @method
    async def import_character_from_json(
        self,
        character_json: dict[str, Any] | str,
        import_source: str = "json_import",
        normalized_name: str | None = None,
    ) -> int:
        """Import a CDL document (wrapped, flat or mixed), a dict or its JSON text; returns the
        character id. Its keys keep their order (a dict's, or the text's): it is sent as text."""
        try:
            text = (
                character_json
                if isinstance(character_json, str)
                else json.dumps(character_json, ensure_ascii=False)
            )
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"the CDL document cannot be written as JSON: {exc}") from exc
        return int(
            await self._call(
                "cdl.import_character_from_json",
                character_json=text,
                import_source=import_source,
                normalized_name=normalized_name,
            )
        )

    @method
    async def import_file(self, path: str | Path, normalized_name: str | None = None) -> int:
        """Import a CDL file (JSON, or YAML by suffix), sending the file's own text so that its
        key order is kept; the import source is the file name."""
        return await self.import_character_from_json(
            read_json_text(path), f"file:{Path(path).name}"[:100], normalized_name
        )

    @method
    async def get_character_complete(self, name: str) -> Character:
        """The whole character in one call; :class:`CharacterNotFound` (CD002) when unknown."""
        doc = await self._call("cdl.get_character_complete", name=name)
        return Character.model_validate(doc)

    @method
    async def export_character_json(self, name: str) -> dict[str, Any]:
        """The character in the wrapped CDL form (a CDL document: free-form, so a dict)."""
        return dict(await self._call("cdl.export_character_json", name=name))

    @method
    async def upsert_character_field(
        self,
        name: str,
        field_path: str,
        field_value: Any,
        field_source: str = "manual",
        confidence: float = 1.0,
        is_public: bool = True,
    ) -> int:
        """Set a field (dot path, ``\\.`` for a dot in a key); returns values changed."""
        return int(
            await self._call(
                "cdl.upsert_character_field",
                name=name,
                field_path=field_path,
                field_value=Jsonb(field_value),
                field_source=field_source,
                confidence=_numeric(confidence),
                is_public=is_public,
            )
        )

    @method
    async def remove_character_field(self, name: str, field_path: str) -> int:
        """Remove a field and everything under it; returns values removed."""
        return int(await self._call("cdl.remove_character_field", name=name, field_path=field_path))

    @method
    async def define_character_field(
        self,
        field_path: str,
        data_type: str,
        field_type: str | None = None,
        validation_rules: dict[str, Any] | None = None,
        description: str | None = None,
        is_required: bool = False,
        category: str | None = None,
    ) -> int:
        """Declare a field's data type and rules, enforced from now on; returns its id."""
        return int(
            await self._call(
                "cdl.define_character_field",
                field_path=field_path,
                data_type=data_type,
                field_type=field_type,
                validation_rules=Jsonb(validation_rules or {}),
                description=description,
                is_required=is_required,
                category=category,
            )
        )

    @method
    async def create_character_version(
        self, name: str, version_name: str | None = None, description: str | None = None
    ) -> int:
        """Snapshot the character; returns the new version number."""
        return int(
            await self._call(
                "cdl.create_character_version",
                name=name,
                version_name=version_name,
                description=description,
            )
        )

    @method
    async def list_character_versions(self, name: str) -> list[CharacterVersion]:
        rows = await self._call("cdl.list_character_versions", name=name)
        return [CharacterVersion.model_validate(r) for r in rows]

    @method
    async def rollback_character(self, name: str, version_number: int) -> int:
        """Restore a version as a new version; returns the new version number."""
        return int(
            await self._call("cdl.rollback_character", name=name, version_number=version_number)
        )

    @method
    async def diff_character_versions(
        self, name: str, from_version: int, to_version: int
    ) -> VersionDiff:
        return VersionDiff.model_validate(
            await self._call(
                "cdl.diff_character_versions",
                name=name,
                from_version=from_version,
                to_version=to_version,
            )
        )

    @method
    async def search_characters(
        self, query: str, status: str | None = None, max_results: int = 20
    ) -> list[SearchHit]:
        rows = await self._call(
            "cdl.search_characters", query=query, status=status, max_results=max_results
        )
        return [SearchHit.model_validate(r) for r in rows]

    @method
    async def search_character_knowledge(
        self, name: str, query: str, max_results: int = 20
    ) -> list[KnowledgeHit]:
        rows = await self._call(
            "cdl.search_character_knowledge", name=name, query=query, max_results=max_results
        )
        return [KnowledgeHit.model_validate(r) for r in rows]

    @method
    async def list_characters(
        self, status_filter: str | None = None, archetype_filter: str | None = None
    ) -> list[CharacterSummary]:
        rows = await self._call(
            "cdl.list_characters", status_filter=status_filter, archetype_filter=archetype_filter
        )
        return [CharacterSummary.model_validate(r) for r in rows]

    @method
    async def archive_character(self, name: str) -> bool:
        return bool(await self._call("cdl.archive_character", name=name))

    @method
    async def upsert_communication_pattern(
        self,
        character_name: str,
        pattern_type: str,
        pattern_name: str,
        pattern_value: str,
        context: str | None = None,
        frequency: str = "regular",
        priority: int = 50,
    ) -> int:
        return int(
            await self._call(
                "cdl.upsert_communication_pattern",
                character_name=character_name,
                pattern_type=pattern_type,
                pattern_name=pattern_name,
                pattern_value=pattern_value,
                context=context,
                frequency=frequency,
                priority=priority,
            )
        )

    @method
    async def remove_communication_pattern(
        self, character_name: str, pattern_type: str, pattern_name: str
    ) -> bool:
        return bool(
            await self._call(
                "cdl.remove_communication_pattern",
                character_name=character_name,
                pattern_type=pattern_type,
                pattern_name=pattern_name,
            )
        )

    @method
    async def upsert_response_template(
        self,
        character_name: str,
        scenario: str,
        template_name: str,
        template_text: str,
        conditions: dict[str, Any] | None = None,
        priority: int = 50,
        is_active: bool = True,
    ) -> int:
        return int(
            await self._call(
                "cdl.upsert_response_template",
                character_name=character_name,
                scenario=scenario,
                template_name=template_name,
                template_text=template_text,
                conditions=Jsonb(conditions or {}),
                priority=priority,
                is_active=is_active,
            )
        )

    @method
    async def remove_response_template(
        self, character_name: str, scenario: str, template_name: str
    ) -> bool:
        return bool(
            await self._call(
                "cdl.remove_response_template",
                character_name=character_name,
                scenario=scenario,
                template_name=template_name,
            )
        )

    @method
    async def upsert_knowledge(
        self,
        character_name: str,
        knowledge_type: str,
        knowledge_key: str,
        content: str,
        parent_key: str | None = None,
        confidence: float = 1.0,
        importance: int = 5,
        tags: Sequence[str] | None = None,
        is_public: bool = True,
    ) -> int:
        return int(
            await self._call(
                "cdl.upsert_knowledge",
                character_name=character_name,
                knowledge_type=knowledge_type,
                knowledge_key=knowledge_key,
                content=content,
                parent_key=parent_key,
                confidence=_numeric(confidence),
                importance=importance,
                tags=[*(tags or ())],
                is_public=is_public,
            )
        )

    @method
    async def remove_knowledge(self, character_name: str, knowledge_key: str) -> bool:
        return bool(
            await self._call(
                "cdl.remove_knowledge", character_name=character_name, knowledge_key=knowledge_key
            )
        )

    @method
    async def render_character_documents(self, max_count: int = 1000) -> int:
        """Render the documents that bursts of writes left unrendered, so that
        ``get_character_complete`` takes its fast path again (it is correct either way);
        returns how many were rendered."""
        return int(await self._call("cdl.render_character_documents", max_count=max_count))

    @method
    async def refresh_character_analytics(self) -> None:
        await self._call("cdl.refresh_character_analytics")
