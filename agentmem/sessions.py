"""Session memory (chat history) on plain Redis: :class:`SessionStore`.

A store serves the sessions of one user (or namespace). Messages are JSON documents (dicts) kept
in insertion order; the chat adapters store them in agentmem's neutral chat format
(:mod:`agentmem.messages`), so one session is readable from LangChain and LlamaIndex alike. Every
write is one atomic Lua step that also maintains the user's session index and refreshes the
sliding TTL of every key of the session, so a session expires as a whole. No Redis module, no
``KEYS``/``SCAN``; every key of a user shares one Cluster hash tag (see ``agentmem._redis.keys``).

Each method has an ``a``-prefixed async twin; both run the same plan from
``agentmem._redis.session_plans``, the sync one on the sync Redis client, the async one natively
on ``redis.asyncio``.

Example:
    >>> with SessionStore(mem, user_id="alice", ttl=3600) as store:
    ...     store.append("chat-1", [{"role": "user", "content": "hi"}])
    ...     [m.data for m in store.read("chat-1")]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

from agentmem._args import duration_ms
from agentmem._plan import Plan
from agentmem._redis import session_plans as plans
from agentmem._redis.fact_queue import Prepared
from agentmem._redis.keys import check_prefix, encode_id
from agentmem._redis.session_plans import (
    SessionConfig,
    SessionInfo,
    SessionMessage,
    SessionSnapshot,
)
from agentmem._store import Store, require_scope
from agentmem.core import AgentMem
from agentmem.errors import InvalidInputError

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "SessionInfo",
    "SessionMessage",
    "SessionSnapshot",
    "SessionStore",
]

DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
"""Default cap on one stored message (its encoded JSON envelope): 1 MiB."""

Which = Literal["all", "active", "archived"]
Messages = Sequence[Mapping[str, Any]]
Ids = Sequence[str | None] | None


def _positive(value: int | None, name: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInputError(f"{name} must be a positive int or None, got {value!r}")
    return value


class SessionStore(Store):
    """Chat sessions of one user in Redis; every method has an ``a``-prefixed async twin.

    Args:
        memory: the :class:`AgentMem` to use (borrowed: never closed by the store). ``None``
            builds ``AgentMem()`` from ``AGENTMEM_*`` environment variables, owned and closed by
            the store.
        user_id: the user or namespace the sessions belong to; any non-empty string. Required:
            pass ``agentmem.SHARED`` for sessions every user may reach.
        ttl: sliding expiry (seconds or timedelta) refreshed on every write, for every key of the
            session; ``None`` keeps sessions until cleared (and makes written sessions persistent).
        max_messages: keep at most this many active messages (oldest dropped on append).
        max_message_bytes: largest stored message (encoded JSON); bigger ones raise
            ``InvalidInputError`` and nothing is written. Default 1 MiB.

    Raises:
        InvalidInputError: a missing or invalid ``user_id``, or a bad policy value.
    """

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        user_id: str,
        ttl: float | timedelta | None = None,
        max_messages: int | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        # Validate everything before building an AgentMem, so bad arguments leave nothing behind.
        encode_id(require_scope(user_id, "user_id", "SessionStore"), "user_id")
        policy = {
            "ttl_ms": duration_ms(ttl, "ttl"),
            "max_messages": _positive(max_messages, "max_messages", 0),
            "max_message_bytes": _positive(
                max_message_bytes, "max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES
            ),
        }
        if memory is not None and isinstance(memory, AgentMem):
            check_prefix(memory.key_prefix)
        super().__init__(memory)
        self._cfg = SessionConfig(
            prefix=check_prefix(self.memory.key_prefix), user_id=user_id, **policy
        )

    def __repr__(self) -> str:
        return (
            f"SessionStore(user_id={self._cfg.user_id!r}, ttl_ms={self._cfg.ttl_ms}, "
            f"max_messages={self._cfg.max_messages or None}, owns_memory={self._owns})"
        )

    @property
    def user_id(self) -> str:
        """The user (or namespace) whose sessions this store reads and writes."""
        return self._cfg.user_id

    # -- writes ----------------------------------------------------------------------------------

    def append(
        self,
        session_id: str,
        messages: Messages,
        *,
        ids: Ids = None,
        archived: bool = False,
        consolidate: Prepared | None = None,
    ) -> int:
        """Append messages atomically in one round trip (trim and TTL in the same step).

        Args:
            session_id: the session; created on first write.
            messages: JSON documents (dicts with str keys), stored in this order after the
                existing ones.
            ids: one id per message (``None`` entries get a generated id).
            archived: append to the archive instead of the active messages.
            consolidate: a batch from :meth:`agentmem.Consolidator.prepare` for this store's
                user, queued for consolidation in the same atomic step (both or neither).

        Returns:
            The number of active messages afterwards.

        Raises:
            InvalidInputError: a bad session id or ids, a non-str key, or a message over
                ``max_message_bytes``; nothing written.
            SerializationError: a message JSON cannot encode (or nested too deep); nothing
                written.
        """
        plan = plans.append(
            self._cfg, session_id, messages, ids, archived=archived, batch=consolidate
        )
        return self._run(plan)

    async def aappend(
        self,
        session_id: str,
        messages: Messages,
        *,
        ids: Ids = None,
        archived: bool = False,
        consolidate: Prepared | None = None,
    ) -> int:
        """Async twin of :meth:`append`."""
        plan = plans.append(
            self._cfg, session_id, messages, ids, archived=archived, batch=consolidate
        )
        return await self._arun(plan)

    def replace(
        self, session_id: str, messages: Messages, *, ids: Ids = None, archived: bool = False
    ) -> int:
        """Replace all messages (active and archived) with ``messages``, atomically.

        Arguments, return value and errors are those of :meth:`append`.
        """
        return self._run(plans.replace(self._cfg, session_id, messages, ids, archived=archived))

    async def areplace(
        self, session_id: str, messages: Messages, *, ids: Ids = None, archived: bool = False
    ) -> int:
        """Async twin of :meth:`replace`."""
        return await self._arun(
            plans.replace(self._cfg, session_id, messages, ids, archived=archived)
        )

    # -- reads -----------------------------------------------------------------------------------

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

        Raises:
            InvalidInputError: ``offset`` or ``limit`` is not an int (or ``limit`` < 0).
        """
        return self._run(plans.read(self._cfg, session_id, offset, limit, archived=archived))

    async def aread(
        self,
        session_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        archived: bool = False,
    ) -> list[SessionMessage]:
        """Async twin of :meth:`read`."""
        return await self._arun(plans.read(self._cfg, session_id, offset, limit, archived=archived))

    def _read_raw(
        self,
        session_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        archived: bool = False,
    ) -> list[bytes | str]:
        """:meth:`read`, but the stored envelopes undecoded: for agentmem's chat adapters,
        which parse them into their framework's messages in one pass
        (:func:`agentmem._redis.envelope.parse_envelope`)."""
        return self._run(plans.read_raw(self._cfg, session_id, offset, limit, archived=archived))

    async def _aread_raw(
        self,
        session_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        archived: bool = False,
    ) -> list[bytes | str]:
        """Async twin of :meth:`_read_raw`."""
        return await self._arun(
            plans.read_raw(self._cfg, session_id, offset, limit, archived=archived)
        )

    def count(self, session_id: str, *, archived: bool = False) -> int:
        """Number of active (or archived) messages; 0 for an unknown session."""
        return self._run(plans.count(self._cfg, session_id, archived=archived))

    async def acount(self, session_id: str, *, archived: bool = False) -> int:
        """Async twin of :meth:`count`."""
        return await self._arun(plans.count(self._cfg, session_id, archived=archived))

    # -- deletes ---------------------------------------------------------------------------------

    def delete_at(self, session_id: str, index: int) -> SessionMessage | None:
        """Remove the active message at ``index`` (negative from the end), keeping the others'
        order. Returns it, or None if ``index`` is out of range."""
        return self._run(plans.delete_at(self._cfg, session_id, index))

    async def adelete_at(self, session_id: str, index: int) -> SessionMessage | None:
        """Async twin of :meth:`delete_at`."""
        return await self._arun(plans.delete_at(self._cfg, session_id, index))

    def delete_id(self, session_id: str, message_id: str) -> SessionMessage | None:
        """Remove the oldest active message with ``message_id``. Returns it, or None."""
        return self._run(plans.delete_id(self._cfg, session_id, message_id))

    async def adelete_id(self, session_id: str, message_id: str) -> SessionMessage | None:
        """Async twin of :meth:`delete_id`."""
        return await self._arun(plans.delete_id(self._cfg, session_id, message_id))

    def archive_oldest(self, session_id: str, n: int) -> list[SessionMessage]:
        """Move the oldest ``n`` active messages to the archive (for compaction); return them."""
        return self._run(plans.pop_oldest(self._cfg, session_id, n, "archive"))

    async def aarchive_oldest(self, session_id: str, n: int) -> list[SessionMessage]:
        """Async twin of :meth:`archive_oldest`."""
        return await self._arun(plans.pop_oldest(self._cfg, session_id, n, "archive"))

    def drop_oldest(self, session_id: str, n: int) -> list[SessionMessage]:
        """Delete the oldest ``n`` active messages; return them."""
        return self._run(plans.pop_oldest(self._cfg, session_id, n, "drop"))

    async def adrop_oldest(self, session_id: str, n: int) -> list[SessionMessage]:
        """Async twin of :meth:`drop_oldest`."""
        return await self._arun(plans.pop_oldest(self._cfg, session_id, n, "drop"))

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

    async def aclear(
        self, session_id: str, *, which: Which = "all", returning: bool = False
    ) -> list[SessionMessage]:
        """Async twin of :meth:`clear`."""
        return await self._arun(_clear(self._cfg, session_id, which, returning))

    # -- metadata --------------------------------------------------------------------------------

    def set_title(self, session_id: str, title: str) -> None:
        """Set the title shown by :meth:`list_sessions` (creates an empty session if needed)."""
        return self._run(plans.set_title(self._cfg, session_id, title))

    async def aset_title(self, session_id: str, title: str) -> None:
        """Async twin of :meth:`set_title`."""
        return await self._arun(plans.set_title(self._cfg, session_id, title))

    def info(self, session_id: str) -> SessionInfo | None:
        """The session's metadata, or None if it does not exist (or expired)."""
        return self._run(plans.info(self._cfg, session_id))

    async def ainfo(self, session_id: str) -> SessionInfo | None:
        """Async twin of :meth:`info`."""
        return await self._arun(plans.info(self._cfg, session_id))

    def list_sessions(self, *, limit: int | None = None) -> list[SessionInfo]:
        """The user's sessions, most recently active first (from the index; no key scan)."""
        return self._run(plans.list_sessions(self._cfg, limit))

    async def alist_sessions(self, *, limit: int | None = None) -> list[SessionInfo]:
        """Async twin of :meth:`list_sessions`."""
        return await self._arun(plans.list_sessions(self._cfg, limit))

    # -- compaction ------------------------------------------------------------------------------

    def snapshot(self, session_id: str) -> SessionSnapshot:
        """Active messages, running summary and archive size, read in one consistent step."""
        return self._run(plans.snapshot(self._cfg, session_id))

    async def asnapshot(self, session_id: str) -> SessionSnapshot:
        """Async twin of :meth:`snapshot`."""
        return await self._arun(plans.snapshot(self._cfg, session_id))

    def compact(self, session_id: str, upto: Sequence[SessionMessage], summary: str) -> bool:
        """Archive the oldest messages ``upto`` and store ``summary`` as the running summary.

        ``upto`` must be the first messages of a :meth:`snapshot`. Atomic: returns False and
        changes nothing if another writer changed the oldest messages since (read and retry).
        """
        return self._run(plans.compact(self._cfg, session_id, upto, summary))

    async def acompact(self, session_id: str, upto: Sequence[SessionMessage], summary: str) -> bool:
        """Async twin of :meth:`compact`."""
        return await self._arun(plans.compact(self._cfg, session_id, upto, summary))


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
