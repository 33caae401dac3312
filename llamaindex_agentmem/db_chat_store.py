"""LlamaIndex ``AsyncDBChatStore`` on agentmem's Redis session store, for ``Memory``.

``Memory`` keeps its short-term queue in an ``AsyncDBChatStore``: active messages, plus archived
ones it moves out with ``archive_oldest_messages`` when the token limit is reached (and hands to
its memory blocks). Here active and archived messages are the session's two Redis lists, so
archiving is one atomic step and archived messages stay readable.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus
from pydantic import PrivateAttr

from agentmem.consolidation import Consolidator
from agentmem.core import AgentMem
from agentmem.errors import InvalidInputError
from llamaindex_agentmem._messages import dump, load, load_raw, turns_of
from llamaindex_agentmem.chat_store import _Connected, _load_one

__all__ = ["AgentMemDBChatStore"]


class AgentMemDBChatStore(_Connected, AsyncDBChatStore):
    """``AsyncDBChatStore`` on Redis for LlamaIndex ``Memory``: active and archived messages.

    Active messages are the session's messages; archived ones (moved there by
    ``archive_oldest_messages`` when ``Memory`` flushes to its memory blocks) stay readable with
    ``status=MessageStatus.ARCHIVED``, or with ``status=None`` (archived first, then active).
    Unlike the SQL store, ``delete_message`` takes a *position* among the active messages.

    Takes the same arguments as :class:`AgentMemChatStore` (``user_id`` is required), reads
    sessions LangChain wrote, and works in ``with`` / ``async with`` blocks. With
    ``consolidator=`` (an :class:`agentmem.Consolidator`), every new active user and assistant
    message is also queued for consolidation in the same atomic step as its append (not
    serialized; use it or ``AgentMemFactsBlock``, not both, or turns are consolidated twice).

    Example:
        >>> memory = Memory.from_defaults(
        ...     session_id="chat-1", chat_store=AgentMemDBChatStore(mem, user_id="alice")
        ... )
    """

    _consolidator: Consolidator | None = PrivateAttr(default=None)

    def __init__(
        self,
        memory: AgentMem | None = None,
        /,
        *,
        consolidator: Consolidator | None = None,
        **data: Any,
    ) -> None:
        if consolidator is not None and not isinstance(consolidator, Consolidator):
            raise InvalidInputError("consolidator must be an agentmem.Consolidator or None")
        super().__init__(memory, **data)
        self._consolidator = consolidator

    async def get_messages(
        self,
        key: str,
        status: MessageStatus | None = MessageStatus.ACTIVE,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[ChatMessage]:
        """Messages of ``key`` with ``status`` (None: all), oldest first, paged."""
        if status is not None:
            archived = status == MessageStatus.ARCHIVED
            stored = await self.sessions._aread_raw(
                key, offset=offset or 0, limit=limit, archived=archived
            )
            return load_raw(stored)
        everything = await self.sessions._aread_raw(key, archived=True)
        everything += await self.sessions._aread_raw(key)
        start = offset or 0
        return load_raw(everything[start : None if limit is None else start + limit])

    async def count_messages(
        self, key: str, status: MessageStatus | None = MessageStatus.ACTIVE
    ) -> int:
        """Number of messages of ``key`` with ``status`` (None: all)."""
        if status is None:
            return await self.sessions.acount(key) + await self.sessions.acount(key, archived=True)
        return await self.sessions.acount(key, archived=status == MessageStatus.ARCHIVED)

    async def add_message(
        self, key: str, message: ChatMessage, status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Append one message with ``status`` (one round trip)."""
        await self.add_messages(key, [message], status)

    async def add_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Append messages in order with ``status``, atomically in one round trip (with a
        consolidator, new active user and assistant messages are queued in the same step)."""
        archived = status == MessageStatus.ARCHIVED
        c = self._consolidator
        turns = turns_of(messages) if c is not None and not archived else []
        batch = c.prepare(self.user_id, turns, session_id=key) if c is not None and turns else None
        await self.sessions.aappend(key, dump(messages), archived=archived, consolidate=batch)
        if batch is not None and c is not None:
            c.wake()

    async def set_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Delete every message of ``key`` (any status), then store ``messages``; atomically."""
        await self.sessions.areplace(key, dump(messages), archived=status == MessageStatus.ARCHIVED)

    async def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete the active message at position ``idx``; None if out of range."""
        return _load_one(await self.sessions.adelete_at(key, idx))

    async def delete_messages(self, key: str, status: MessageStatus | None = None) -> None:
        """Delete the messages of ``key`` with ``status`` (None: the whole session)."""
        if status is None:
            await self.sessions.aclear(key)
        elif status == MessageStatus.ARCHIVED:
            await self.sessions.aclear(key, which="archived")
        else:
            await self.sessions.aclear(key, which="active")

    async def delete_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Delete the oldest ``n`` active messages and return them."""
        return load(await self.sessions.adrop_oldest(key, n))

    async def archive_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Move the oldest ``n`` active messages to the archive (atomically); return them."""
        return load(await self.sessions.aarchive_oldest(key, n))

    async def get_keys(self) -> list[str]:
        """Keys (sessions) of this user that hold messages, most recently active first."""
        listed = await self.sessions.alist_sessions()
        return [s.session_id for s in listed if s.message_count or s.archived_count]
