"""``client.documents``: one method per SQL function of the docstore schema."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from .domain import Domain, M, iterator, method
from .models import (
    ChangeEvent,
    Document,
    DocumentHistory,
    DocumentPage,
    DocumentRef,
    PruneReport,
    RetentionPolicy,
    TagEvent,
)

CHANNEL = "cdlstore_docstore"


async def _pages(fetch: Callable[[str | None], Awaitable[DocumentPage]]) -> AsyncIterator[Document]:
    """The items of every page, following next_cursor."""
    after = None
    while True:
        page = await fetch(after)
        for item in page.items:
            yield item
        if page.next_cursor is None:
            return
        after = page.next_cursor


class Documents(Domain[M]):
    @method
    async def put_document(
        self,
        namespace: str,
        type: str,
        body: Any,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        created_by: str | None = None,
        created_by_type: str | None = None,
        session_id: str | None = None,
        document_uuid: UUID | str | None = None,
        expected_version: int | None = None,
    ) -> DocumentRef:
        """A new document, or the next version of one (only if still ``expected_version``)."""
        rows = await self._call(
            "docstore.put_document",
            namespace=namespace,
            type=type,
            body=Jsonb(body),
            name=name,
            metadata=Jsonb(metadata or {}),
            created_by=created_by,
            created_by_type=created_by_type,
            session_id=session_id,
            document_uuid=document_uuid,
            expected_version=expected_version,
        )
        return DocumentRef.model_validate(rows[0])

    @method
    async def get_document(self, document_uuid: UUID | str, version: int | None = None) -> Document:
        return Document.model_validate(
            await self._call("docstore.get_document", document_uuid=document_uuid, version=version)
        )

    @method
    async def get_document_by_tag(self, document_uuid: UUID | str, tag: str) -> Document:
        return Document.model_validate(
            await self._call("docstore.get_document_by_tag", document_uuid=document_uuid, tag=tag)
        )

    @method
    async def get_document_by_tag_at(
        self, document_uuid: UUID | str, tag: str, as_of: datetime
    ) -> Document | None:
        """What the tag pointed at at ``as_of``; None when it pointed at nothing."""
        doc = await self._call(
            "docstore.get_document_by_tag_at", document_uuid=document_uuid, tag=tag, as_of=as_of
        )
        return Document.model_validate(doc) if doc is not None else None

    @method
    async def get_tagged(
        self, namespace: str, type: str, tag: str, include_body: bool = True
    ) -> list[Document]:
        docs = await self._call(
            "docstore.get_tagged",
            namespace=namespace,
            type=type,
            tag=tag,
            include_body=include_body,
        )
        return [Document.model_validate(d) for d in docs]

    @method
    async def declare_tag(
        self, namespace: str, tag: str, *, is_protected: bool = False, is_immutable: bool = False
    ) -> None:
        await self._call(
            "docstore.declare_tag",
            namespace=namespace,
            tag=tag,
            is_protected=is_protected,
            is_immutable=is_immutable,
        )

    @method
    async def set_tag(
        self,
        document_uuid: UUID | str,
        version: int,
        tag: str,
        *,
        actor: str | None = None,
        actor_type: str | None = None,
        session_id: str | None = None,
        expected_version: int | None = None,
        force: bool = False,
    ) -> int | None:
        """Point a tag at a version; returns where it pointed before. Compare-and-swap with
        ``expected_version`` (Conflict otherwise)."""
        old: int | None = await self._call(
            "docstore.set_tag",
            document_uuid=document_uuid,
            version=version,
            tag=tag,
            actor=actor,
            actor_type=actor_type,
            session_id=session_id,
            expected_version=expected_version,
            force=force,
        )
        return old

    @method
    async def remove_tag(
        self,
        document_uuid: UUID | str,
        tag: str,
        *,
        actor: str | None = None,
        actor_type: str | None = None,
        session_id: str | None = None,
        expected_version: int | None = None,
        force: bool = False,
    ) -> int | None:
        old: int | None = await self._call(
            "docstore.remove_tag",
            document_uuid=document_uuid,
            tag=tag,
            actor=actor,
            actor_type=actor_type,
            session_id=session_id,
            expected_version=expected_version,
            force=force,
        )
        return old

    @method
    async def tag_history(self, document_uuid: UUID | str, tag: str) -> list[TagEvent]:
        events = await self._call("docstore.tag_history", document_uuid=document_uuid, tag=tag)
        return [TagEvent.model_validate(e) for e in events]

    @method
    async def list_by_session(
        self,
        session_id: str,
        types: Sequence[str] | None = None,
        include_body: bool = False,
        page_size: int = 100,
        after: str | None = None,
    ) -> DocumentPage:
        return DocumentPage.model_validate(
            await self._call(
                "docstore.list_by_session",
                session_id=session_id,
                types=list(types) if types is not None else None,
                include_body=include_body,
                page_size=page_size,
                after=after,
            )
        )

    @iterator
    async def get_by_session(
        self,
        session_id: str,
        types: Sequence[str] | None = None,
        include_body: bool = True,
        page_size: int = 100,
    ) -> AsyncIterator[Document]:
        """Every version written in a session, newest first, page by page
        (``list_by_session``)."""
        async for doc in _pages(
            lambda after: self.list_by_session(session_id, types, include_body, page_size, after)
        ):
            yield doc

    @method
    async def list_documents(
        self,
        namespace: str,
        type: str,
        metadata_filter: dict[str, Any] | None = None,
        include_body: bool = False,
        page_size: int = 100,
        after: str | None = None,
    ) -> DocumentPage:
        return DocumentPage.model_validate(
            await self._call(
                "docstore.list_documents",
                namespace=namespace,
                type=type,
                metadata_filter=Jsonb(metadata_filter) if metadata_filter is not None else None,
                include_body=include_body,
                page_size=page_size,
                after=after,
            )
        )

    @method
    async def delete_document(
        self,
        document_uuid: UUID | str,
        actor: str | None = None,
        session_id: str | None = None,
        *,
        actor_type: str | None = None,
    ) -> bool:
        """Delete as a tombstone; ``document_history`` then shows ``deleted_by`` (the actor) and
        ``deleted_by_type``. False when it already was."""
        return bool(
            await self._call(
                "docstore.delete_document",
                document_uuid=document_uuid,
                actor=actor,
                actor_type=actor_type,
                session_id=session_id,
            )
        )

    @method
    async def purge_document(self, document_uuid: UUID | str, actor: str | None = None) -> bool:
        return bool(
            await self._call("docstore.purge_document", document_uuid=document_uuid, actor=actor)
        )

    @method
    async def prune_versions(
        self, namespace: str, type: str, keep_last: int, older_than: timedelta, dry_run: bool = True
    ) -> PruneReport:
        return PruneReport.model_validate(
            await self._call(
                "docstore.prune_versions",
                namespace=namespace,
                type=type,
                keep_last=keep_last,
                older_than=older_than,
                dry_run=dry_run,
            )
        )

    @method
    async def set_retention_policy(
        self,
        namespace: str,
        type: str,
        keep_last: int | None,
        older_than: timedelta = timedelta(0),
    ) -> RetentionPolicy | None:
        """Keep the ``keep_last`` newest versions of each document of the type (and the younger
        and tagged ones); ``apply_retention`` prunes the rest. None removes the policy."""
        policy = await self._call(
            "docstore.set_retention_policy",
            namespace=namespace,
            type=type,
            keep_last=keep_last,
            older_than=older_than,
        )
        return RetentionPolicy.model_validate(policy) if policy is not None else None

    @method
    async def apply_retention(self) -> int:
        """Prune by every retention policy (a maintenance duty); returns the versions pruned."""
        return int(await self._call("docstore.apply_retention"))

    @method
    async def create_metadata_index(self, type: str, field: str) -> str:
        """Create (concurrently, so writers go on) an index on ``metadata->>field`` for one type.
        Needs an autocommit connection of a role that may create indexes. Returns the DDL."""
        ddl: str = await self._call("docstore.create_metadata_index", type=type, field=field)
        # the DDL is built by the database with quoted names
        await self._client._execute_outside_transaction(ddl)
        return ddl

    @method
    async def read_changes(self, consumer: str, max_count: int = 100) -> list[ChangeEvent]:
        events = await self._call("docstore.read_changes", consumer=consumer, max_count=max_count)
        return [ChangeEvent.model_validate(e) for e in events]

    @method
    async def ack_changes(self, consumer: str, up_to_id: int) -> bool:
        return bool(await self._call("docstore.ack_changes", consumer=consumer, up_to_id=up_to_id))

    @iterator
    async def changes(self, consumer: str, max_count: int = 100) -> AsyncIterator[ChangeEvent]:
        """Read, yield and acknowledge until caught up (``read_changes``, ``ack_changes``):
        after a crash a consumer resumes after the last batch it finished, missing nothing."""
        while True:
            events = await self.read_changes(consumer, max_count)
            if not events:
                return
            for event in events:
                yield event
            await self.ack_changes(consumer, events[-1].id)

    @iterator
    async def listen(self, timeout: float | None = None) -> AsyncIterator[dict[str, Any]]:
        """Live change notifications (small payloads; read_changes has the full events)."""
        async for note in self._client.listen(CHANNEL, timeout):
            yield note

    @method
    async def document_history(
        self, document_uuid: UUID | str, max_versions: int = 100
    ) -> DocumentHistory:
        """Every version of a document (newest first, no bodies) with the tags on each."""
        return DocumentHistory.model_validate(
            await self._call(
                "docstore.document_history",
                document_uuid=document_uuid,
                max_versions=max_versions,
            )
        )

    @iterator
    async def list(
        self,
        namespace: str,
        type: str,
        metadata_filter: dict[str, Any] | None = None,
        include_body: bool = False,
        page_size: int = 100,
    ) -> AsyncIterator[Document]:
        """The newest version of every live document of a type, newest first, page by page
        (``list_documents``)."""
        async for doc in _pages(
            lambda after: self.list_documents(
                namespace, type, metadata_filter, include_body, page_size, after
            )
        ):
            yield doc
