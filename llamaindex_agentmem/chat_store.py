"""LlamaIndex ``BaseChatStore`` on agentmem's Redis session store.

:class:`AgentMemChatStore` is the store behind ``ChatMemoryBuffer`` (the default agent memory).
Every method has its native async twin with LlamaIndex's exact names. It can also compact a long
session into a running summary plus the newest messages (``compact`` / ``acompact``). The
``AsyncDBChatStore`` for the newer ``Memory`` is in :mod:`llamaindex_agentmem.db_chat_store`.
Messages are stored in agentmem's neutral chat format (:mod:`agentmem.messages`), so a session
written by LangChain's ``AgentMemChatMessageHistory`` reads here, and the other way round.

Both stores serialize to their settings only: the Redis URL *without* its password, the key prefix and
the session policy. A client is never serialized; it is built on first use (reading the password
and TLS files from ``AGENTMEM_REDIS_*`` environment variables), so a store inside a
``ChatMemoryBuffer`` survives ``Context.to_dict()`` / ``Context.from_dict()``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr
from llama_index.core.llms import LLM
from llama_index.core.storage.chat_store import loading
from llama_index.core.storage.chat_store.base import BaseChatStore
from typing_extensions import Self

from agentmem._adapter import check_memory
from agentmem._lifecycle import Lifecycle
from agentmem._store import require_scope
from agentmem.compaction import SUMMARY_PROMPT, Compaction
from agentmem.config import AgentMemSettings
from agentmem.core import AgentMem
from agentmem.errors import ConflictError
from agentmem.sessions import SessionMessage, SessionSnapshot, SessionStore
from llamaindex_agentmem._messages import AgentMemChatMessage, dump, load, load_one, load_raw

__all__ = ["AgentMemChatMessage", "AgentMemChatStore", "approximate_tokens"]

# A compaction commits only if the session's head did not change while the model was thinking.
_COMPACT_ATTEMPTS = 3

Tokenizer = Callable[[ChatMessage], int]


def approximate_tokens(message: ChatMessage) -> int:
    """About four characters per token plus a little per message (no tokenizer download)."""
    return 3 + len(message.content or "") // 4 + len(json.dumps(message.additional_kwargs)) // 4


def _without_password(url: str | None) -> str | None:
    """``url`` with any password removed (the username stays: it is not a secret)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}{parts.hostname or ''}{port}"))


def _load_one(stored: SessionMessage | None) -> ChatMessage | None:
    return None if stored is None else load_one(stored)


class _Compaction(Compaction[ChatMessage]):
    """Compaction of LlamaIndex messages (the rules are in :class:`agentmem.compaction.Compaction`)."""

    def __init__(
        self, snapshot: SessionSnapshot, max_tokens: int, tokenizer: Tokenizer, prompt: str
    ) -> None:
        messages = load(snapshot.messages)
        super().__init__(snapshot, messages, [tokenizer(m) for m in messages], max_tokens, prompt)

    def answers_tool_call(self, message: ChatMessage) -> bool:
        return message.role == MessageRole.TOOL

    def transcript(self, messages: Sequence[ChatMessage]) -> str:
        lines = []
        for message in messages:
            line = f"{message.role.value}: {message.content or ''}"
            calls = message.additional_kwargs.get("tool_calls") or [
                {"name": b.tool_name, "args": b.tool_kwargs}
                for b in message.blocks
                if isinstance(b, ToolCallBlock)
            ]
            if calls:
                line += f" [calls tools: {json.dumps(calls, ensure_ascii=False, default=str)}]"
            lines.append(line)
        return "\n".join(lines)

    def system(self, text: str) -> ChatMessage:
        return ChatMessage(role=MessageRole.SYSTEM, content=text)

    def user(self, text: str) -> ChatMessage:
        return ChatMessage(role=MessageRole.USER, content=text)


class _Connected(BaseModel, Lifecycle):
    """Serializable connection settings plus lazily built stores (shared by both chat stores)."""

    redis_url: str | None = Field(
        default=None, description="Redis URL without password; None reads AGENTMEM_REDIS_URL."
    )
    key_prefix: str | None = Field(
        default=None, description="Redis key prefix; None reads AGENTMEM_KEY_PREFIX."
    )
    user_id: str = Field(description="User the sessions belong to (agentmem.SHARED: every user).")
    ttl: float | None = Field(default=None, description="Sliding session expiry in seconds.")
    max_messages: int | None = Field(default=None, description="Keep only this many messages.")
    max_message_bytes: int | None = Field(default=None, description="Largest stored message.")

    _memory: AgentMem | None = PrivateAttr(default=None)
    _owns: bool = PrivateAttr(default=False)
    _store: SessionStore | None = PrivateAttr(default=None)

    def __init__(self, memory: AgentMem | None = None, /, **data: Any) -> None:
        name = type(self).__name__
        if "memory" in data and memory is None:
            memory = data.pop("memory")  # also accepted by keyword
        check_memory(memory, name, "pass user_id=... by keyword")
        require_scope(data.get("user_id"), "user_id", name)
        if memory is not None:
            redis = memory.settings.redis
            url = _without_password(redis.url)
            if url and redis.cluster:  # keep the cluster flag in the one serialized field
                url = url.replace("://", "+cluster://", 1)
            data.setdefault("redis_url", url)
            data.setdefault("key_prefix", memory.key_prefix)
        super().__init__(**data)
        self._memory = memory

    def __getstate__(self) -> dict[Any, Any]:
        # Pickling keeps the settings only; the unpickled store builds its client on first use.
        # (BaseComponent's own __getstate__ would probe every attribute and log warnings.)
        state = BaseModel.__getstate__(self)
        state["__pydantic_private__"] = {"_memory": None, "_owns": False, "_store": None}
        return state

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        # The fields are immutable scalars. A borrowed AgentMem is shared (it is a handle to
        # connection pools, like a client); one this store owns is not, so the copy builds its own.
        clone = self.model_copy()
        clone._memory = None if self._owns else self._memory
        clone._owns, clone._store = False, None
        return clone

    def _agentmem(self) -> AgentMem:
        if self._memory is None:
            # Rebuilt from the serialized fields; secrets come from the environment, never
            # from the serialized form.
            settings = AgentMemSettings.from_env()
            if self.redis_url is not None:
                settings = replace(settings, redis=replace(settings.redis, url=self.redis_url))
            if self.key_prefix is not None:
                settings = replace(settings, key_prefix=self.key_prefix)
            self._memory, self._owns = AgentMem(settings), True
        return self._memory

    def _options(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "ttl": self.ttl,
            "max_messages": self.max_messages,
            "max_message_bytes": self.max_message_bytes,
        }

    @property
    def sessions(self) -> SessionStore:
        """The core session store, sync and async (built on first use)."""
        # Read from pydantic's dict of private values: ``self._store`` goes through
        # BaseModel.__getattr__, which costs more than the rest of an add_message's own work.
        private = self.__pydantic_private__
        store: SessionStore | None = private["_store"] if private is not None else None
        if store is None:
            store = self._store = SessionStore(self._agentmem(), **self._options())
        return store

    def close(self) -> None:
        """Close the store (and the :class:`AgentMem` it built, if any). Idempotent."""
        if self._store is not None:
            self._store.close()
        if self._owns and self._memory is not None:
            self._memory.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close` (also closes an owned ``AgentMem``'s async clients)."""
        if self._store is not None:
            await self._store.aclose()
        if self._owns and self._memory is not None:
            await self._memory.aclose()


class AgentMemChatStore(_Connected, BaseChatStore):
    """``BaseChatStore`` on Redis: one session of ``user_id`` per chat-store key.

    A message LangChain wrote reads as the ``ChatMessage`` with the same role, text, images, tool
    calls (``ToolCallBlock``) and ids; what a ``ChatMessage`` has no field for comes back on an
    :class:`AgentMemChatMessage` and is stored again if the message is written back.

    Args:
        memory: an :class:`AgentMem` to use (borrowed; the only positional argument). ``None``
            builds one from the fields below and ``AGENTMEM_*`` environment variables on first
            use.
        redis_url: Redis URL (a password in it is dropped from the serialized form).
        key_prefix: Redis key prefix.
        user_id: the user the sessions belong to. Required: pass ``agentmem.SHARED`` for
            sessions every user may reach.
        ttl: sliding expiry of each session in seconds.
        max_messages: keep only the newest this many messages per key.
        max_message_bytes: largest stored message.

    Example:
        >>> store = AgentMemChatStore(mem, user_id="alice", ttl=3600)
        >>> memory = ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key="chat-1")
    """

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serializes this store under."""
        return "AgentMemChatStore"

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the messages of ``key`` atomically (one round trip)."""
        self.sessions.replace(key, dump(messages))

    def get_messages(self, key: str, **kwargs: Any) -> list[ChatMessage]:
        """The messages of ``key``, oldest first; ``[]`` for an unknown key."""
        return load_raw(self.sessions._read_raw(key))

    def add_message(self, key: str, message: ChatMessage) -> None:
        """Append one message (one round trip, TTL refreshed)."""
        self.sessions.append(key, dump([message]))

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Delete ``key`` and return its messages (read in the same atomic step); None if it
        had none."""
        return load(self.sessions.clear(key, returning=True)) or None

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete the message at position ``idx``; None if out of range."""
        return _load_one(self.sessions.delete_at(key, idx))

    def delete_last_message(self, key: str) -> ChatMessage | None:
        """Delete the newest message; None if there is none."""
        return _load_one(self.sessions.delete_at(key, -1))

    def get_keys(self) -> list[str]:
        """Keys (sessions) of this user, most recently active first (no key scan)."""
        return [s.session_id for s in self.sessions.list_sessions()]

    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Async twin of :meth:`set_messages`."""
        await self.sessions.areplace(key, dump(messages))

    async def aget_messages(self, key: str, **kwargs: Any) -> list[ChatMessage]:
        """Async twin of :meth:`get_messages`."""
        return load_raw(await self.sessions._aread_raw(key))

    async def async_add_message(self, key: str, message: ChatMessage) -> None:
        """Async twin of :meth:`add_message` (LlamaIndex's name)."""
        await self.sessions.aappend(key, dump([message]))

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        """Async twin of :meth:`delete_messages`."""
        return load(await self.sessions.aclear(key, returning=True)) or None

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Async twin of :meth:`delete_message`."""
        return _load_one(await self.sessions.adelete_at(key, idx))

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        """Async twin of :meth:`delete_last_message`."""
        return _load_one(await self.sessions.adelete_at(key, -1))

    async def aget_keys(self) -> list[str]:
        """Async twin of :meth:`get_keys`."""
        return [s.session_id for s in await self.sessions.alist_sessions()]

    def compact(
        self,
        key: str,
        llm: LLM,
        *,
        max_tokens: int,
        tokenizer: Tokenizer = approximate_tokens,
        prompt: str = SUMMARY_PROMPT,
    ) -> list[ChatMessage]:
        """A view of ``key`` that fits ``max_tokens``: a running summary plus the newest messages.

        Older messages that do not fit are summarized by ``llm`` (merged into the previous
        summary) and moved to the session's archive, never deleted. A tool result is never
        separated from the assistant message that called the tool.

        Args:
            key: the chat-store key (session).
            llm: any LlamaIndex LLM; called only when something must be summarized.
            max_tokens: budget of the kept messages (the summary comes on top).
            tokenizer: tokens of one message (default: a character-based estimate).
            prompt: the instruction given to the model.

        Returns:
            ``[system summary message] + newest messages`` (no summary message if none exists).

        Raises:
            ConflictError: other writers kept changing the session's oldest messages.
        """
        for _ in range(_COMPACT_ATTEMPTS):
            work = _Compaction(self.sessions.snapshot(key), max_tokens, tokenizer, prompt)
            if work.cut == 0:
                return work.view(work.snapshot.summary)
            summary = llm.chat(work.request()).message.content or ""
            if self.sessions.compact(key, work.snapshot.messages[: work.cut], summary):
                return work.view(summary)
        raise ConflictError(f"session {key!r} kept changing during compaction; retry")

    async def acompact(
        self,
        key: str,
        llm: LLM,
        *,
        max_tokens: int,
        tokenizer: Tokenizer = approximate_tokens,
        prompt: str = SUMMARY_PROMPT,
    ) -> list[ChatMessage]:
        """Async twin of :meth:`compact` (awaits ``llm.achat``)."""
        for _ in range(_COMPACT_ATTEMPTS):
            snapshot = await self.sessions.asnapshot(key)
            work = _Compaction(snapshot, max_tokens, tokenizer, prompt)
            if work.cut == 0:
                return work.view(snapshot.summary)
            summary = (await llm.achat(work.request())).message.content or ""
            if await self.sessions.acompact(key, snapshot.messages[: work.cut], summary):
                return work.view(summary)
        raise ConflictError(f"session {key!r} kept changing during compaction; retry")

    def get_archived_messages(self, key: str) -> list[ChatMessage]:
        """Messages moved out of ``key`` by :meth:`compact`, oldest first."""
        return load_raw(self.sessions._read_raw(key, archived=True))

    async def aget_archived_messages(self, key: str) -> list[ChatMessage]:
        """Async twin of :meth:`get_archived_messages`."""
        return load_raw(await self.sessions._aread_raw(key, archived=True))


# ChatMemoryBuffer.from_dict only rebuilds chat stores listed here (SimpleChatStore by default),
# so without this a memory holding our store fails to load from Context.from_dict().
# The dict is typed for SimpleChatStore only, though it holds any BaseChatStore class.
loading.RECOGNIZED_CHAT_STORES[AgentMemChatStore.class_name()] = AgentMemChatStore  # type: ignore[assignment]
