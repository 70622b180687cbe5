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
    async def put(
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
        row = await self._client._one(
            "SELECT (r).document_uuid, (r).version FROM docstore.put_document("
            "namespace => %(ns)s, type => %(type)s, body => %(body)s, name => %(name)s, "
            "metadata => %(meta)s, created_by => %(by)s, created_by_type => %(by_type)s, "
            "session_id => %(session)s, document_uuid => %(uuid)s, "
            "expected_version => %(expected)s) AS r",
            {
                "ns": namespace,
                "type": type,
                "body": Jsonb(body),
                "name": name,
                "meta": Jsonb(metadata or {}),
                "by": created_by,
                "by_type": created_by_type,
                "session": session_id,
                "uuid": document_uuid,
                "expected": expected_version,
            },
        )
        return DocumentRef.model_validate(row)

    @method
    async def get(self, document_uuid: UUID | str, version: int | None = None) -> Document:
        row = await self._client._one(
            "SELECT docstore.get_document(%(uuid)s, %(version)s) AS doc",
            {"uuid": document_uuid, "version": version},
        )
        return Document.model_validate(row["doc"])

    @method
    async def get_by_tag(self, document_uuid: UUID | str, tag: str) -> Document:
        row = await self._client._one(
            "SELECT docstore.get_document_by_tag(%(uuid)s, %(tag)s) AS doc",
            {"uuid": document_uuid, "tag": tag},
        )
        return Document.model_validate(row["doc"])

    @method
    async def get_by_tag_at(
        self, document_uuid: UUID | str, tag: str, as_of: datetime
    ) -> Document | None:
        """What the tag pointed at at ``as_of``; None when it pointed at nothing."""
        row = await self._client._one(
            "SELECT docstore.get_document_by_tag_at(%(uuid)s, %(tag)s, %(at)s) AS doc",
            {"uuid": document_uuid, "tag": tag, "at": as_of},
        )
        return Document.model_validate(row["doc"]) if row["doc"] is not None else None

    @method
    async def get_tagged(
        self, namespace: str, type: str, tag: str, include_body: bool = True
    ) -> list[Document]:
        row = await self._client._one(
            "SELECT docstore.get_tagged(%(ns)s, %(type)s, %(tag)s, %(body)s) AS docs",
            {"ns": namespace, "type": type, "tag": tag, "body": include_body},
        )
        return [Document.model_validate(d) for d in row["docs"]]

    @method
    async def declare_tag(
        self, namespace: str, tag: str, *, protected: bool = False, immutable: bool = False
    ) -> None:
        await self._client._one(
            "SELECT docstore.declare_tag(%(ns)s, %(tag)s, %(p)s, %(i)s) AS done",
            {"ns": namespace, "tag": tag, "p": protected, "i": immutable},
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
        row = await self._client._one(
            "SELECT docstore.set_tag(document_uuid => %(uuid)s, version => %(v)s, tag => %(tag)s, "
            "actor => %(actor)s, actor_type => %(atype)s, session_id => %(session)s, "
            "expected_version => %(expected)s, force => %(force)s) AS old",
            {
                "uuid": document_uuid,
                "v": version,
                "tag": tag,
                "actor": actor,
                "atype": actor_type,
                "session": session_id,
                "expected": expected_version,
                "force": force,
            },
        )
        old: int | None = row["old"]
        return old

    @method
    async def remove_tag(
        self,
        document_uuid: UUID | str,
        tag: str,
        *,
        actor: str | None = None,
        expected_version: int | None = None,
        force: bool = False,
    ) -> int | None:
        row = await self._client._one(
            "SELECT docstore.remove_tag(document_uuid => %(uuid)s, tag => %(tag)s, "
            "actor => %(actor)s, expected_version => %(expected)s, force => %(force)s) AS old",
            {
                "uuid": document_uuid,
                "tag": tag,
                "actor": actor,
                "expected": expected_version,
                "force": force,
            },
        )
        old: int | None = row["old"]
        return old

    @method
    async def tag_history(self, document_uuid: UUID | str, tag: str) -> list[TagEvent]:
        row = await self._client._one(
            "SELECT docstore.tag_history(%(uuid)s, %(tag)s) AS events",
            {"uuid": document_uuid, "tag": tag},
        )
        return [TagEvent.model_validate(e) for e in row["events"]]

    @method
    async def session_page(
        self,
        session_id: str,
        types: Sequence[str] | None = None,
        include_body: bool = False,
        page_size: int = 100,
        after: str | None = None,
    ) -> DocumentPage:
        row = await self._client._one(
            "SELECT docstore.list_by_session(session_id => %(s)s, types => %(types)s, "
            "include_body => %(body)s, page_size => %(size)s, after => %(after)s) AS page",
            {
                "s": session_id,
                "types": list(types) if types is not None else None,
                "body": include_body,
                "size": page_size,
                "after": after,
            },
        )
        return DocumentPage.model_validate(row["page"])

    @iterator
    async def get_by_session(
        self,
        session_id: str,
        types: Sequence[str] | None = None,
        include_body: bool = True,
        limit: int = 100,
    ) -> AsyncIterator[Document]:
        """Every version written in a session, newest first, page by page."""
        async for doc in _pages(
            lambda after: self.session_page(session_id, types, include_body, limit, after)
        ):
            yield doc

    @method
    async def list_page(
        self,
        namespace: str,
        type: str,
        metadata_filter: dict[str, Any] | None = None,
        include_body: bool = False,
        page_size: int = 100,
        after: str | None = None,
    ) -> DocumentPage:
        row = await self._client._one(
            "SELECT docstore.list_documents(namespace => %(ns)s, type => %(type)s, "
            "metadata_filter => %(filter)s, include_body => %(body)s, page_size => %(size)s, "
            "after => %(after)s) AS page",
            {
                "ns": namespace,
                "type": type,
                "filter": Jsonb(metadata_filter) if metadata_filter is not None else None,
                "body": include_body,
                "size": page_size,
                "after": after,
            },
        )
        return DocumentPage.model_validate(row["page"])

    @method
    async def delete(
        self, document_uuid: UUID | str, actor: str | None = None, session_id: str | None = None
    ) -> bool:
        row = await self._client._one(
            "SELECT docstore.delete_document(document_uuid => %(uuid)s, actor => %(actor)s, "
            "session_id => %(s)s) AS done",
            {"uuid": document_uuid, "actor": actor, "s": session_id},
        )
        return bool(row["done"])

    @method
    async def purge(self, document_uuid: UUID | str, actor: str | None = None) -> bool:
        row = await self._client._one(
            "SELECT docstore.purge_document(%(uuid)s, %(actor)s) AS done",
            {"uuid": document_uuid, "actor": actor},
        )
        return bool(row["done"])

    @method
    async def prune(
        self, namespace: str, type: str, keep_last: int, older_than: timedelta, dry_run: bool = True
    ) -> PruneReport:
        row = await self._client._one(
            "SELECT docstore.prune_versions(%(ns)s, %(type)s, %(keep)s, %(older)s, %(dry)s) "
            "AS report",
            {"ns": namespace, "type": type, "keep": keep_last, "older": older_than, "dry": dry_run},
        )
        return PruneReport.model_validate(row["report"])

    @method
    async def create_metadata_index(self, type: str, field: str) -> str:
        """Create (concurrently, so writers go on) an index on ``metadata->>field`` for one type.
        Needs an autocommit connection of a role that may create indexes. Returns the DDL."""
        ddl: str = (
            await self._client._one(
                "SELECT docstore.create_metadata_index(%(type)s, %(field)s) AS ddl",
                {"type": type, "field": field},
            )
        )["ddl"]
        # the DDL is built by the database with quoted names
        await self._client._execute_outside_transaction(ddl)
        return ddl

    @method
    async def read_changes(self, consumer: str, max_count: int = 100) -> list[ChangeEvent]:
        row = await self._client._one(
            "SELECT docstore.read_changes(%(c)s, %(n)s) AS events", {"c": consumer, "n": max_count}
        )
        return [ChangeEvent.model_validate(e) for e in row["events"]]

    @method
    async def ack_changes(self, consumer: str, up_to_id: int) -> bool:
        row = await self._client._one(
            "SELECT docstore.ack_changes(%(c)s, %(id)s) AS moved", {"c": consumer, "id": up_to_id}
        )
        return bool(row["moved"])

    @iterator
    async def changes(self, consumer: str, batch: int = 100) -> AsyncIterator[ChangeEvent]:
        """Read, yield and acknowledge until caught up: after a crash a consumer resumes after
        the last batch it finished, missing nothing."""
        while True:
            events = await self.read_changes(consumer, batch)
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

    @iterator
    async def list(
        self,
        namespace: str,
        type: str,
        metadata_filter: dict[str, Any] | None = None,
        include_body: bool = False,
        page_size: int = 100,
    ) -> AsyncIterator[Document]:
        """The newest version of every live document of a type, newest first."""
        async for doc in _pages(
            lambda after: self.list_page(
                namespace, type, metadata_filter, include_body, page_size, after
            )
        ):
            yield doc

    @method
    async def history(self, document_uuid: UUID | str, max_versions: int = 100) -> DocumentHistory:
        """Every version of a document (newest first, no bodies) with the tags on each."""
        row = await self._client._one(
            "SELECT docstore.document_history(document_uuid => %(uuid)s, "
            "max_versions => %(n)s) AS history",
            {"uuid": document_uuid, "n": max_versions},
        )
        return DocumentHistory.model_validate(row["history"])
