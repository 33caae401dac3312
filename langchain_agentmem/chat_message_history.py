"""LangChain chat history on agentmem's Redis session store.

:class:`AgentMemChatMessageHistory` is a ``BaseChatMessageHistory`` (the legacy LangChain session
memory used by ``RunnableWithMessageHistory``). Messages are stored with
``langchain_core.messages.message_to_dict``, so every message type (tool calls, usage metadata,
ids, content blocks) reads back equal. The async methods are native (``redis.asyncio``): no
executor or thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from agentmem.core import AgentMem
from agentmem.errors import InvalidInputError
from agentmem.sessions import AsyncSessionStore, SessionMessage, SessionStore

__all__ = ["AgentMemChatMessageHistory"]


def _load(stored: list[SessionMessage]) -> list[BaseMessage]:
    return messages_from_dict([m.data for m in stored])


class AgentMemChatMessageHistory(BaseChatMessageHistory):
    """Chat history of one session of one user, in Redis.

    Each ``add_messages`` call is one atomic round trip (an EVALSHA that appends, trims and
    refreshes the TTL of the whole session).

    Args:
        session_id: the conversation; any non-empty string.
        user_id: the user or namespace the session belongs to (isolates sessions).
        memory: the :class:`AgentMem` to use (borrowed, never closed here). ``None`` builds
            ``AgentMem()`` from ``AGENTMEM_*`` environment variables; close it with
            :meth:`close` / :meth:`aclose`.
        ttl: sliding expiry of the session (seconds or timedelta), refreshed on every write.
        max_messages: keep only the newest this many messages.
        max_message_bytes: largest stored message; bigger ones raise ``InvalidInputError``.

    Example:
        >>> history = AgentMemChatMessageHistory("chat-1", user_id="alice", memory=mem)
        >>> history.add_user_message("hi")
        >>> history.messages
        [HumanMessage(content='hi', ...)]
    """

    def __init__(
        self,
        session_id: str,
        *,
        user_id: str = "default",
        memory: AgentMem | None = None,
        ttl: float | timedelta | None = None,
        max_messages: int | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(session_id, str) or not session_id:
            raise InvalidInputError(f"session_id must be a non-empty str, got {session_id!r:.80}")
        self._owns = memory is None
        shared = memory if memory is not None else AgentMem()
        self._store = SessionStore(
            shared,
            user_id=user_id,
            ttl=ttl,
            max_messages=max_messages,
            max_message_bytes=max_message_bytes,
        )
        self._astore = AsyncSessionStore(
            shared,
            user_id=user_id,
            ttl=ttl,
            max_messages=max_messages,
            max_message_bytes=max_message_bytes,
        )
        self.session_id = session_id

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """All messages of the session, oldest first (one round trip)."""
        return _load(self._store.read(self.session_id))

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` in one atomic round trip.

        Raises:
            InvalidInputError: a message is over ``max_message_bytes``; nothing was written.
            SerializationError: a message holds a value JSON cannot encode; nothing was written.
        """
        self._store.append(
            self.session_id, [message_to_dict(m) for m in messages], ids=[m.id for m in messages]
        )

    def clear(self) -> None:
        """Delete the session (messages, archive, metadata, index entry)."""
        self._store.clear(self.session_id)

    async def aget_messages(self) -> list[BaseMessage]:
        """Async twin of :attr:`messages`."""
        return _load(await self._astore.read(self.session_id))

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async twin of :meth:`add_messages`."""
        await self._astore.append(
            self.session_id, [message_to_dict(m) for m in messages], ids=[m.id for m in messages]
        )

    async def aclear(self) -> None:
        """Async twin of :meth:`clear`."""
        await self._astore.clear(self.session_id)

    def close(self) -> None:
        """Close the sync client of an :class:`AgentMem` this history created. Idempotent."""
        if self._owns:
            self._store.memory.close()

    async def aclose(self) -> None:
        """Close every client of an :class:`AgentMem` this history created. Idempotent."""
        if self._owns:
            await self._store.memory.aclose()
