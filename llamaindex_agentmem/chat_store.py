"""LlamaIndex chat stores on agentmem's Redis session store.

* :class:`AgentMemChatStore` is a ``BaseChatStore``: the store behind ``ChatMemoryBuffer`` (the
  default agent memory). Every method has its native async twin with LlamaIndex's exact names.
* :class:`AgentMemDBChatStore` is an ``AsyncDBChatStore``: the store behind the newer ``Memory``
  (active and archived messages, ``archive_oldest_messages`` when the token limit is reached).

Both serialize to their settings only: the Redis URL *without* its password, the key prefix and
the session policy. A client is never serialized; it is built on first use (reading the password
and TLS files from ``AGENTMEM_REDIS_*`` environment variables), so a store inside a
``ChatMemoryBuffer`` survives ``Context.to_dict()`` / ``Context.from_dict()``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr
from llama_index.core.storage.chat_store import loading
from llama_index.core.storage.chat_store.base import BaseChatStore
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus

from agentmem.config import AgentMemSettings
from agentmem.core import AgentMem
from agentmem.errors import SerializationError
from agentmem.sessions import AsyncSessionStore, SessionMessage, SessionStore

__all__ = ["AgentMemChatStore", "AgentMemDBChatStore"]

_EVERYTHING = 1 << 31


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


def _dump(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    try:
        return [m.model_dump(mode="json") for m in messages]
    except (ValueError, TypeError) as exc:  # pydantic's serialization errors are ValueErrors
        raise SerializationError(
            f"a ChatMessage cannot be stored as JSON ({exc}); make additional_kwargs values "
            "JSON-compatible"
        ) from exc


def _load(stored: list[SessionMessage]) -> list[ChatMessage]:
    return [ChatMessage.model_validate(m.data) for m in stored]


def _load_one(stored: SessionMessage | None) -> ChatMessage | None:
    return None if stored is None else ChatMessage.model_validate(stored.data)


class _Connected(BaseModel):
    """Serializable connection settings plus lazily built stores (shared by both chat stores)."""

    redis_url: str | None = Field(
        default=None, description="Redis URL without password; None reads AGENTMEM_REDIS_URL."
    )
    key_prefix: str | None = Field(
        default=None, description="Redis key prefix; None reads AGENTMEM_KEY_PREFIX."
    )
    user_id: str = Field(default="default", description="User or namespace of the sessions.")
    ttl: float | None = Field(default=None, description="Sliding session expiry in seconds.")
    max_messages: int | None = Field(default=None, description="Keep only this many messages.")
    max_message_bytes: int | None = Field(default=None, description="Largest stored message.")

    _memory: AgentMem | None = PrivateAttr(default=None)
    _owns: bool = PrivateAttr(default=False)
    _sync: SessionStore | None = PrivateAttr(default=None)
    _async: AsyncSessionStore | None = PrivateAttr(default=None)

    def __init__(self, *, memory: AgentMem | None = None, **data: Any) -> None:
        if memory is not None:
            redis = memory.settings.redis
            url = _without_password(redis.url)
            if url and redis.cluster:  # keep the cluster flag in the one serialized field
                url = url.replace("://", "+cluster://", 1)
            data.setdefault("redis_url", url)
            data.setdefault("key_prefix", memory.key_prefix)
        super().__init__(**data)
        self._memory = memory

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
        """The sync core store (built on first use)."""
        if self._sync is None:
            self._sync = SessionStore(self._agentmem(), **self._options())
        return self._sync

    @property
    def asessions(self) -> AsyncSessionStore:
        """The async core store (built on first use)."""
        if self._async is None:
            self._async = AsyncSessionStore(self._agentmem(), **self._options())
        return self._async

    def close(self) -> None:
        """Close the sync client if this store built its own :class:`AgentMem`. Idempotent."""
        if self._owns and self._memory is not None:
            self._memory.close()

    async def aclose(self) -> None:
        """Close every client if this store built its own :class:`AgentMem`. Idempotent."""
        if self._owns and self._memory is not None:
            await self._memory.aclose()


class AgentMemChatStore(_Connected, BaseChatStore):
    """``BaseChatStore`` on Redis: one session of ``user_id`` per chat-store key.

    Args:
        memory: an :class:`AgentMem` to use (borrowed). ``None`` builds one from the fields
            below and ``AGENTMEM_*`` environment variables on first use.
        redis_url: Redis URL (a password in it is dropped from the serialized form).
        key_prefix: Redis key prefix.
        user_id: user or namespace the sessions belong to.
        ttl: sliding expiry of each session in seconds.
        max_messages: keep only the newest this many messages per key.
        max_message_bytes: largest stored message.

    Example:
        >>> store = AgentMemChatStore(memory=mem, user_id="alice", ttl=3600)
        >>> memory = ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key="chat-1")
    """

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serializes this store under."""
        return "AgentMemChatStore"

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the messages of ``key`` atomically (one round trip)."""
        self.sessions.replace(key, _dump(messages))

    def get_messages(self, key: str, **kwargs: Any) -> list[ChatMessage]:
        """The messages of ``key``, oldest first; ``[]`` for an unknown key."""
        return _load(self.sessions.read(key))

    def add_message(self, key: str, message: ChatMessage) -> None:
        """Append one message (one round trip, TTL refreshed)."""
        self.sessions.append(key, _dump([message]))

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Delete ``key`` and return its messages; None if it had none."""
        removed = self.sessions.drop_oldest(key, _EVERYTHING)
        self.sessions.clear(key)
        return _load(removed) or None

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
        await self.asessions.replace(key, _dump(messages))

    async def aget_messages(self, key: str, **kwargs: Any) -> list[ChatMessage]:
        """Async twin of :meth:`get_messages`."""
        return _load(await self.asessions.read(key))

    async def async_add_message(self, key: str, message: ChatMessage) -> None:
        """Async twin of :meth:`add_message` (LlamaIndex's name)."""
        await self.asessions.append(key, _dump([message]))

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        """Async twin of :meth:`delete_messages`."""
        removed = await self.asessions.drop_oldest(key, _EVERYTHING)
        await self.asessions.clear(key)
        return _load(removed) or None

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Async twin of :meth:`delete_message`."""
        return _load_one(await self.asessions.delete_at(key, idx))

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        """Async twin of :meth:`delete_last_message`."""
        return _load_one(await self.asessions.delete_at(key, -1))

    async def aget_keys(self) -> list[str]:
        """Async twin of :meth:`get_keys`."""
        return [s.session_id for s in await self.asessions.list_sessions()]


# ChatMemoryBuffer.from_dict only rebuilds chat stores listed here (SimpleChatStore by default),
# so without this a memory holding our store fails to load from Context.from_dict().
# The dict is typed for SimpleChatStore only, though it holds any BaseChatStore class.
loading.RECOGNIZED_CHAT_STORES[AgentMemChatStore.class_name()] = AgentMemChatStore  # type: ignore[assignment]


class AgentMemDBChatStore(_Connected, AsyncDBChatStore):
    """``AsyncDBChatStore`` on Redis for LlamaIndex ``Memory``: active and archived messages.

    Active messages are the session's messages; archived ones (moved there by
    ``archive_oldest_messages`` when ``Memory`` flushes to its memory blocks) stay readable with
    ``status=MessageStatus.ARCHIVED``, or with ``status=None`` (archived first, then active).
    Unlike the SQL store, ``delete_message`` takes a *position* among the active messages.

    Takes the same arguments as :class:`AgentMemChatStore`.

    Example:
        >>> memory = Memory.from_defaults(
        ...     session_id="chat-1", chat_store=AgentMemDBChatStore(memory=mem, user_id="alice")
        ... )
    """

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
            stored = await self.asessions.read(
                key, offset=offset or 0, limit=limit, archived=archived
            )
            return _load(stored)
        everything = await self.asessions.read(key, archived=True)
        everything += await self.asessions.read(key)
        start = offset or 0
        return _load(everything[start : None if limit is None else start + limit])

    async def count_messages(
        self, key: str, status: MessageStatus | None = MessageStatus.ACTIVE
    ) -> int:
        """Number of messages of ``key`` with ``status`` (None: all)."""
        if status is None:
            return await self.asessions.count(key) + await self.asessions.count(key, archived=True)
        return await self.asessions.count(key, archived=status == MessageStatus.ARCHIVED)

    async def add_message(
        self, key: str, message: ChatMessage, status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Append one message with ``status`` (one round trip)."""
        await self.add_messages(key, [message], status)

    async def add_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Append messages in order with ``status``, atomically in one round trip."""
        await self.asessions.append(key, _dump(messages), archived=status == MessageStatus.ARCHIVED)

    async def set_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Delete every message of ``key`` (any status), then store ``messages``; atomically."""
        await self.asessions.replace(
            key, _dump(messages), archived=status == MessageStatus.ARCHIVED
        )

    async def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete the active message at position ``idx``; None if out of range."""
        return _load_one(await self.asessions.delete_at(key, idx))

    async def delete_messages(self, key: str, status: MessageStatus | None = None) -> None:
        """Delete the messages of ``key`` with ``status`` (None: the whole session)."""
        if status is None:
            await self.asessions.clear(key)
        elif status == MessageStatus.ARCHIVED:
            await self.asessions.clear(key, which="archived")
        else:
            await self.asessions.clear(key, which="active")

    async def delete_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Delete the oldest ``n`` active messages and return them."""
        return _load(await self.asessions.drop_oldest(key, n))

    async def archive_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Move the oldest ``n`` active messages to the archive (atomically); return them."""
        return _load(await self.asessions.archive_oldest(key, n))

    async def get_keys(self) -> list[str]:
        """Keys (sessions) of this user that hold messages, most recently active first."""
        listed = await self.asessions.list_sessions()
        return [s.session_id for s in listed if s.message_count or s.archived_count]
