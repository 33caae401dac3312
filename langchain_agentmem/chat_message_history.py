"""LangChain chat history on agentmem's Redis session store.

:class:`AgentMemChatMessageHistory` is a ``BaseChatMessageHistory`` (the legacy LangChain session
memory used by ``RunnableWithMessageHistory``). Messages are stored in agentmem's neutral chat
format (:mod:`agentmem.messages`): every message type (tool calls, usage metadata, ids, content
blocks) reads back equal, and the same session reads from LlamaIndex's ``AgentMemChatStore`` /
``AgentMemDBChatStore`` with its roles, text, images, tool calls and ids. The async methods are
native (``redis.asyncio``): no executor or thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.utils import count_tokens_approximately

from agentmem._adapter import check_memory
from agentmem._lifecycle import Lifecycle
from agentmem._redis.fact_queue import Prepared
from agentmem._store import require_scope
from agentmem.compaction import SUMMARY_PROMPT, Compaction
from agentmem.consolidation import Consolidator
from agentmem.core import AgentMem
from agentmem.errors import ConflictError, InvalidInputError
from agentmem.sessions import SessionSnapshot, SessionStore
from langchain_agentmem._messages import dump, load, load_raw, turns_of

__all__ = ["AgentMemChatMessageHistory"]


TokenCounter = Callable[[Sequence[BaseMessage]], int]

# A compaction reads, asks the model, then commits only if nobody changed the session's head
# meanwhile; a few fresh attempts settle any realistic contention.
_COMPACT_ATTEMPTS = 3


class _Compaction(Compaction[BaseMessage]):
    """Compaction of LangChain messages (the rules are in :class:`agentmem.compaction.Compaction`)."""

    def __init__(
        self, snapshot: SessionSnapshot, max_tokens: int, counter: TokenCounter, prompt: str
    ) -> None:
        messages = load(snapshot.messages)
        sizes = [counter([m]) for m in messages]
        super().__init__(snapshot, messages, sizes, max_tokens, prompt)

    def answers_tool_call(self, message: BaseMessage) -> bool:
        return isinstance(message, ToolMessage)

    def transcript(self, messages: Sequence[BaseMessage]) -> str:
        lines = []
        for message in messages:
            line = f"{message.type}: {message.text}"
            if isinstance(message, AIMessage) and message.tool_calls:
                calls = [{"name": c["name"], "args": c["args"]} for c in message.tool_calls]
                line += f" [calls tools: {json.dumps(calls, ensure_ascii=False, default=str)}]"
            lines.append(line)
        return "\n".join(lines)

    def system(self, text: str) -> BaseMessage:
        return SystemMessage(text)

    def user(self, text: str) -> BaseMessage:
        return HumanMessage(text)


class AgentMemChatMessageHistory(BaseChatMessageHistory, Lifecycle):
    """Chat history of one session of one user, in Redis.

    Each ``add_messages`` call is one atomic round trip (an EVALSHA that appends, trims and
    refreshes the TTL of the whole session). :meth:`compact` / :meth:`acompact` fold old messages
    into a running summary; ``messages`` then returns the active (unsummarized) messages, and
    :meth:`archived_messages` the summarized ones. Use it in a ``with`` (or ``async with``) block
    to close what it owns.

    A message LlamaIndex wrote reads as the LangChain message with the same role, text, images
    and tool calls; what LangChain has no field for is kept in
    ``response_metadata["agentmem"]`` (never sent to a model) and stored again if the message is
    written back.

    Args:
        memory: the :class:`AgentMem` to use (borrowed, never closed here). ``None`` builds
            ``AgentMem()`` from ``AGENTMEM_*`` environment variables, closed by :meth:`close` /
            :meth:`aclose`.
        session_id: the conversation; any non-empty string.
        user_id: the user the session belongs to (isolates sessions). Required: pass
            ``agentmem.SHARED`` for sessions every user may reach.
        ttl: sliding expiry of the session (seconds or timedelta), refreshed on every write.
        max_messages: keep only the newest this many messages.
        max_message_bytes: largest stored message; bigger ones raise ``InvalidInputError``.
        consolidator: with an :class:`agentmem.Consolidator`, each ``add_messages`` also queues
            its human and AI messages for consolidation into the user's facts, in the same
            atomic step as the append (run its worker: ``consolidator.start()`` or ``agentmem
            worker``).

    Raises:
        InvalidInputError: a missing ``session_id`` or ``user_id``, or a first argument that is
            not an ``AgentMem``.

    Example:
        >>> with AgentMemChatMessageHistory(mem, session_id="chat-1", user_id="alice") as h:
        ...     h.add_user_message("hi")
        ...     h.messages
        [HumanMessage(content='hi', ...)]
    """

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        session_id: str,
        user_id: str,
        ttl: float | timedelta | None = None,
        max_messages: int | None = None,
        max_message_bytes: int | None = None,
        consolidator: Consolidator | None = None,
    ) -> None:
        super().__init__()
        if consolidator is not None and not isinstance(consolidator, Consolidator):
            raise InvalidInputError("consolidator must be an agentmem.Consolidator or None")
        self.consolidator = consolidator
        check_memory(memory, "AgentMemChatMessageHistory", "pass session_id=... by keyword")
        if not isinstance(session_id, str) or not session_id:
            raise InvalidInputError(f"session_id must be a non-empty str, got {session_id!r:.80}")
        require_scope(user_id, "user_id", "AgentMemChatMessageHistory")
        self._store = SessionStore(
            memory,
            user_id=user_id,
            ttl=ttl,
            max_messages=max_messages,
            max_message_bytes=max_message_bytes,
        )
        self.session_id = session_id

    @property
    def store(self) -> SessionStore:
        """The core session store (sync and async) this history reads and writes."""
        return self._store

    @property
    def user_id(self) -> str:
        """The user the session belongs to."""
        return self._store.user_id

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """All messages of the session, oldest first (one round trip)."""
        return load_raw(self._store._read_raw(self.session_id))

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` in one atomic round trip.

        Raises:
            InvalidInputError: a message is over ``max_message_bytes`` or not a message;
                nothing was written.
            SerializationError: a message holds a value JSON cannot encode; nothing was written.
        """
        docs, ids = dump(messages)
        batch = self._batch(messages)
        self._store.append(self.session_id, docs, ids=ids, consolidate=batch)
        self._queued(batch)

    def _batch(self, messages: Sequence[BaseMessage]) -> Prepared | None:
        turns = turns_of(messages) if self.consolidator is not None else []
        if not turns or self.consolidator is None:
            return None
        return self.consolidator.prepare(self.user_id, turns, session_id=self.session_id)

    def _queued(self, batch: Prepared | None) -> None:
        if batch is not None and self.consolidator is not None:
            self.consolidator.wake()

    def clear(self) -> None:
        """Delete the session (messages, archive, metadata, index entry)."""
        self._store.clear(self.session_id)

    async def aget_messages(self) -> list[BaseMessage]:
        """Async twin of :attr:`messages`."""
        return load_raw(await self._store._aread_raw(self.session_id))

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async twin of :meth:`add_messages`."""
        docs, ids = dump(messages)
        batch = self._batch(messages)
        await self._store.aappend(self.session_id, docs, ids=ids, consolidate=batch)
        self._queued(batch)

    async def aclear(self) -> None:
        """Async twin of :meth:`clear`."""
        await self._store.aclear(self.session_id)

    def compact(
        self,
        model: BaseChatModel,
        *,
        max_tokens: int,
        token_counter: TokenCounter = count_tokens_approximately,
        prompt: str = SUMMARY_PROMPT,
    ) -> list[BaseMessage]:
        """A view that fits ``max_tokens``: a running summary plus the newest messages.

        Older messages that do not fit are summarized by ``model`` (merged into the previous
        summary) and moved to the session's archive, never deleted. An AI message that calls
        tools is never separated from its tool results.

        Args:
            model: any LangChain chat model; called only when something must be summarized.
            max_tokens: budget of the kept messages (the summary comes on top).
            token_counter: counts the tokens of a list of messages.
            prompt: the instruction given to the model.

        Returns:
            ``[SystemMessage(summary)] + newest messages`` (no summary message if none exists).

        Raises:
            ConflictError: other writers kept changing the session's oldest messages.
        """
        for _ in range(_COMPACT_ATTEMPTS):
            work = _Compaction(
                self._store.snapshot(self.session_id), max_tokens, token_counter, prompt
            )
            if work.cut == 0:
                return work.view(work.snapshot.summary)
            summary = model.invoke(work.request()).text
            upto = work.snapshot.messages[: work.cut]
            if self._store.compact(self.session_id, upto, summary):
                return work.view(summary)
        raise ConflictError(f"session {self.session_id!r} kept changing during compaction; retry")

    async def acompact(
        self,
        model: BaseChatModel,
        *,
        max_tokens: int,
        token_counter: TokenCounter = count_tokens_approximately,
        prompt: str = SUMMARY_PROMPT,
    ) -> list[BaseMessage]:
        """Async twin of :meth:`compact` (awaits ``model.ainvoke``)."""
        for _ in range(_COMPACT_ATTEMPTS):
            snapshot = await self._store.asnapshot(self.session_id)
            work = _Compaction(snapshot, max_tokens, token_counter, prompt)
            if work.cut == 0:
                return work.view(snapshot.summary)
            summary = (await model.ainvoke(work.request())).text
            upto = snapshot.messages[: work.cut]
            if await self._store.acompact(self.session_id, upto, summary):
                return work.view(summary)
        raise ConflictError(f"session {self.session_id!r} kept changing during compaction; retry")

    def archived_messages(self) -> list[BaseMessage]:
        """Messages moved out of the active history by :meth:`compact`, oldest first."""
        return load_raw(self._store._read_raw(self.session_id, archived=True))

    async def aarchived_messages(self) -> list[BaseMessage]:
        """Async twin of :meth:`archived_messages`."""
        return load_raw(await self._store._aread_raw(self.session_id, archived=True))

    def close(self) -> None:
        """Close the history (and the :class:`AgentMem` it created, if any). Idempotent."""
        self._store.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close` (also closes an owned ``AgentMem``'s async clients)."""
        await self._store.aclose()
