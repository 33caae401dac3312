"""Session memory (chat history) on plain Redis: :class:`SessionStore` and :class:`AsyncSessionStore`.

A store serves the sessions of one user (or namespace). Messages are opaque JSON documents (dicts)
kept in insertion order; adapters (LangChain, LlamaIndex) decide what the dicts contain. Every
write is one atomic Lua step that also maintains the user's session index and refreshes the
sliding TTL of every key of the session, so a session expires as a whole. No Redis module, no
``KEYS``/``SCAN``; every key of a user shares one Cluster hash tag (see ``agentmem._redis.keys``).

The two classes have identical method names; each method body is one line that runs a plan from
``agentmem._redis.session_plans``.

Example:
    >>> with SessionStore(user_id="alice", ttl=3600) as store:
    ...     store.append("chat-1", [{"role": "user", "content": "hi"}])
    ...     [m.data for m in store.read("chat-1")]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal, TypeVar

from agentmem._args import duration_ms
from agentmem._plan import Plan, run_async, run_sync
from agentmem._redis import session_plans as plans
from agentmem._redis.keys import check_prefix, encode_id
from agentmem._redis.session_plans import (
    SessionConfig,
    SessionInfo,
    SessionMessage,
    SessionSnapshot,
)
from agentmem.core import AgentMem
from agentmem.errors import InvalidInputError

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "AsyncSessionStore",
    "SessionInfo",
    "SessionMessage",
    "SessionSnapshot",
    "SessionStore",
]

T = TypeVar("T")

DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
"""Default cap on one stored message (its encoded JSON envelope): 1 MiB."""

Which = Literal["all", "active", "archived"]


def _positive(value: int | None, name: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInputError(f"{name} must be a positive int or None, got {value!r}")
    return value


class _Base:
    """Configuration shared by the sync and the async store (no I/O)."""

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        user_id: str = "default",
        ttl: float | timedelta | None = None,
        max_messages: int | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        # Validate everything before building an AgentMem, so bad arguments leave nothing behind.
        encode_id(user_id, "user_id")
        policy = {
            "ttl_ms": duration_ms(ttl, "ttl"),
            "max_messages": _positive(max_messages, "max_messages", 0),
            "max_message_bytes": _positive(
                max_message_bytes, "max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES
            ),
        }
        if memory is not None:
            check_prefix(memory.key_prefix)
        self._owns = memory is None
        self._memory = memory if memory is not None else AgentMem()
        self._cfg = SessionConfig(
            prefix=check_prefix(self._memory.key_prefix), user_id=user_id, **policy
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(user_id={self._cfg.user_id!r}, ttl_ms={self._cfg.ttl_ms}, "
            f"max_messages={self._cfg.max_messages or None}, owns_memory={self._owns})"
        )

    @property
    def memory(self) -> AgentMem:
        """The :class:`AgentMem` whose Redis clients this store uses."""
        return self._memory

    @property
    def user_id(self) -> str:
        """The user (or namespace) whose sessions this store reads and writes."""
        return self._cfg.user_id


class SessionStore(_Base):
    """Chat sessions of one user, on a sync Redis client.

    Args:
        memory: the :class:`AgentMem` to use (borrowed: never closed by the store). ``None``
            builds ``AgentMem()`` from ``AGENTMEM_*`` environment variables, owned and closed by
            the store.
        user_id: the user or namespace the sessions belong to; any non-empty string.
        ttl: sliding expiry (seconds or timedelta) refreshed on every write, for every key of the
            session; ``None`` keeps sessions until cleared (and makes written sessions persistent).
        max_messages: keep at most this many active messages (oldest dropped on append).
        max_message_bytes: largest stored message (encoded JSON); bigger ones raise
            ``InvalidInputError`` and nothing is written. Default 1 MiB.
    """

    def _run(self, plan: Plan[T]) -> T:
        return run_sync(plan, self._memory.redis(), self._memory.settings.retry)

    def append(
        self,
        session_id: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        ids: Sequence[str | None] | None = None,
        archived: bool = False,
    ) -> int:
        """Append messages atomically in one round trip (trim and TTL in the same step).

        Args:
            session_id: the session; created on first write.
            messages: JSON-encodable dicts, stored in this order after the existing ones.
            ids: one id per message (``None`` entries get a generated id).
            archived: append to the archive instead of the active messages.

        Returns:
            The number of active messages afterwards.

        Raises:
            InvalidInputError: bad ids or a message over ``max_message_bytes``; nothing written.
            SerializationError: a message JSON cannot encode; nothing written.
        """
        return self._run(plans.append(self._cfg, session_id, messages, ids, archived=archived))

    def replace(
        self,
        session_id: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        ids: Sequence[str | None] | None = None,
        archived: bool = False,
    ) -> int:
        """Replace all messages (active and archived) with ``messages``, atomically.

        Arguments, return value and errors are those of :meth:`append`.
        """
        return self._run(
            plans.append(self._cfg, session_id, messages, ids, replace=True, archived=archived)
        )

    def read(
        self,
        session_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        archived: bool = False,
    ) -> list[SessionMessage]:
        """Messages oldest first: all, a window, or the last N (``offset=-N``).

        Args:
            session_id: the session; an unknown one reads as empty.
            offset: position of the first message; negative counts from the end.
            limit: at most this many messages; ``None`` for all.
            archived: read the archive instead of the active messages.
        """
        return self._run(plans.read(self._cfg, session_id, offset, limit, archived=archived))

    def count(self, session_id: str, *, archived: bool = False) -> int:
        """Number of active (or archived) messages; 0 for an unknown session."""
        return self._run(plans.count(self._cfg, session_id, archived=archived))

    def delete_at(self, session_id: str, index: int) -> SessionMessage | None:
        """Remove the active message at ``index`` (negative from the end), keeping the others'
        order. Returns it, or None if ``index`` is out of range."""
        return self._run(plans.delete_at(self._cfg, session_id, index))

    def delete_id(self, session_id: str, message_id: str) -> SessionMessage | None:
        """Remove the oldest active message with ``message_id``. Returns it, or None."""
        return self._run(plans.delete_id(self._cfg, session_id, message_id))

    def archive_oldest(self, session_id: str, n: int) -> list[SessionMessage]:
        """Move the oldest ``n`` active messages to the archive (for compaction); return them."""
        return self._run(plans.pop_oldest(self._cfg, session_id, n, "archive"))

    def drop_oldest(self, session_id: str, n: int) -> list[SessionMessage]:
        """Delete the oldest ``n`` active messages; return them."""
        return self._run(plans.pop_oldest(self._cfg, session_id, n, "drop"))

    def clear(
        self, session_id: str, *, which: Which = "all", returning: bool = False
    ) -> list[SessionMessage]:
        """Delete the whole session (``"all"``), or only its active or archived messages.

        Args:
            session_id: the session; clearing an unknown one does nothing.
            which: ``"all"`` (messages, archive, metadata and index entry), ``"active"`` or
                ``"archived"``.
            returning: return what was removed (the active messages, or the archived ones for
                ``which="archived"``), read in the same atomic step.

        Returns:
            The removed messages if ``returning``, else ``[]``.
        """
        return self._run(_clear(self._cfg, session_id, which, returning))

    def set_title(self, session_id: str, title: str) -> None:
        """Set the title shown by :meth:`list_sessions` (creates an empty session if needed)."""
        return self._run(plans.set_title(self._cfg, session_id, title))

    def info(self, session_id: str) -> SessionInfo | None:
        """The session's metadata, or None if it does not exist (or expired)."""
        return self._run(plans.info(self._cfg, session_id))

    def list_sessions(self, *, limit: int | None = None) -> list[SessionInfo]:
        """The user's sessions, most recently active first (from the index; no key scan)."""
        return self._run(plans.list_sessions(self._cfg, limit))

    def snapshot(self, session_id: str) -> SessionSnapshot:
        """Active messages, running summary and archive size, read in one consistent step."""
        return self._run(plans.snapshot(self._cfg, session_id))

    def compact(self, session_id: str, upto: Sequence[SessionMessage], summary: str) -> bool:
        """Archive the oldest messages ``upto`` and store ``summary`` as the running summary.

        ``upto`` must be the first messages of a :meth:`snapshot`. Atomic: returns False and
        changes nothing if another writer changed the oldest messages since (read and retry).
        """
        return self._run(plans.compact(self._cfg, session_id, upto, summary))

    def close(self) -> None:
        """Close the :class:`AgentMem` if the store created it. Idempotent."""
        if self._owns:
            self._memory.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSessionStore(_Base):
    """Chat sessions of one user, on an asyncio Redis client. Same methods as
    :class:`SessionStore`, awaited.

    Args:
        memory: the :class:`AgentMem` to use (borrowed: never closed by the store). ``None``
            builds ``AgentMem()`` from ``AGENTMEM_*`` environment variables, owned and closed by
            the store.
        user_id: the user or namespace the sessions belong to; any non-empty string.
        ttl: sliding expiry (seconds or timedelta) refreshed on every write, for every key of the
            session; ``None`` keeps sessions until cleared (and makes written sessions persistent).
        max_messages: keep at most this many active messages (oldest dropped on append).
        max_message_bytes: largest stored message (encoded JSON); bigger ones raise
            ``InvalidInputError`` and nothing is written. Default 1 MiB.
    """

    async def _run(self, plan: Plan[T]) -> T:
        return await run_async(plan, await self._memory.aredis(), self._memory.settings.retry)

    async def append(
        self,
        session_id: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        ids: Sequence[str | None] | None = None,
        archived: bool = False,
    ) -> int:
        """Async twin of :meth:`SessionStore.append`."""
        return await self._run(
            plans.append(self._cfg, session_id, messages, ids, archived=archived)
        )

    async def replace(
        self,
        session_id: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        ids: Sequence[str | None] | None = None,
        archived: bool = False,
    ) -> int:
        """Async twin of :meth:`SessionStore.replace`."""
        return await self._run(
            plans.append(self._cfg, session_id, messages, ids, replace=True, archived=archived)
        )

    async def read(
        self,
        session_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        archived: bool = False,
    ) -> list[SessionMessage]:
        """Async twin of :meth:`SessionStore.read`."""
        return await self._run(plans.read(self._cfg, session_id, offset, limit, archived=archived))

    async def count(self, session_id: str, *, archived: bool = False) -> int:
        """Async twin of :meth:`SessionStore.count`."""
        return await self._run(plans.count(self._cfg, session_id, archived=archived))

    async def delete_at(self, session_id: str, index: int) -> SessionMessage | None:
        """Async twin of :meth:`SessionStore.delete_at`."""
        return await self._run(plans.delete_at(self._cfg, session_id, index))

    async def delete_id(self, session_id: str, message_id: str) -> SessionMessage | None:
        """Async twin of :meth:`SessionStore.delete_id`."""
        return await self._run(plans.delete_id(self._cfg, session_id, message_id))

    async def archive_oldest(self, session_id: str, n: int) -> list[SessionMessage]:
        """Async twin of :meth:`SessionStore.archive_oldest`."""
        return await self._run(plans.pop_oldest(self._cfg, session_id, n, "archive"))

    async def drop_oldest(self, session_id: str, n: int) -> list[SessionMessage]:
        """Async twin of :meth:`SessionStore.drop_oldest`."""
        return await self._run(plans.pop_oldest(self._cfg, session_id, n, "drop"))

    async def clear(
        self, session_id: str, *, which: Which = "all", returning: bool = False
    ) -> list[SessionMessage]:
        """Async twin of :meth:`SessionStore.clear`."""
        return await self._run(_clear(self._cfg, session_id, which, returning))

    async def set_title(self, session_id: str, title: str) -> None:
        """Async twin of :meth:`SessionStore.set_title`."""
        return await self._run(plans.set_title(self._cfg, session_id, title))

    async def info(self, session_id: str) -> SessionInfo | None:
        """Async twin of :meth:`SessionStore.info`."""
        return await self._run(plans.info(self._cfg, session_id))

    async def list_sessions(self, *, limit: int | None = None) -> list[SessionInfo]:
        """Async twin of :meth:`SessionStore.list_sessions`."""
        return await self._run(plans.list_sessions(self._cfg, limit))

    async def snapshot(self, session_id: str) -> SessionSnapshot:
        """Async twin of :meth:`SessionStore.snapshot`."""
        return await self._run(plans.snapshot(self._cfg, session_id))

    async def compact(self, session_id: str, upto: Sequence[SessionMessage], summary: str) -> bool:
        """Async twin of :meth:`SessionStore.compact`."""
        return await self._run(plans.compact(self._cfg, session_id, upto, summary))

    async def aclose(self) -> None:
        """Close the :class:`AgentMem` if the store created it. Idempotent."""
        if self._owns:
            await self._memory.aclose()

    async def __aenter__(self) -> AsyncSessionStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _clear(
    cfg: SessionConfig, session_id: str, which: Which, returning: bool
) -> Plan[list[SessionMessage]]:
    if which == "all":
        return (yield from plans.clear(cfg, session_id, returning=returning))
    if which not in ("active", "archived"):
        raise InvalidInputError(f"which must be 'all', 'active' or 'archived', got {which!r}")
    mode: Literal["drop", "drop_archived"] = "drop" if which == "active" else "drop_archived"
    removed = yield from plans.pop_oldest(cfg, session_id, 1 << 31, mode)
    return removed if returning else []
