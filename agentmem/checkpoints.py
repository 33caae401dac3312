"""Workflow memory on plain Redis: :class:`CheckpointStore`.

A framework-free store of checkpoints (opaque typed bytes) per thread and namespace, with the
channel values each checkpoint changed (stored once per channel and version, so a step costs bytes
in proportion to what changed) and the pending writes of its tasks. ``put``, ``put_writes`` and
``get`` are one atomic Lua step (one round trip) each; every key of a thread shares one Cluster
hash tag and, with a TTL, expires together. The LangGraph saver
(``langchain_agentmem.AgentMemCheckpointSaver``) is a thin layer over this class.

Every method has an ``a``-prefixed async twin; both run the same plan of
``agentmem._redis.checkpoint_plans``.

Threads belong to users: a thread written (or linked) with a ``user_id`` is that user's, and a
call naming another user raises :class:`~agentmem.errors.OwnershipError` with nothing read or
written. Thread ids are global, so give each user's threads their own ids.

Example:
    >>> store = CheckpointStore(ttl=86400, keep_last=20)
    >>> record = store.get("thread-1", user_id="ada")  # newest checkpoint of the root namespace
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta

from agentmem._args import duration_ms
from agentmem._plan import Plan
from agentmem._redis import checkpoint_plans as plans
from agentmem._redis.checkpoint_plans import (
    CheckpointRecord,
    NewCheckpoint,
    StoreConfig,
    Typed,
    WriteRecord,
)
from agentmem._redis.keys import check_prefix
from agentmem._store import Store
from agentmem.core import AgentMem
from agentmem.errors import InvalidInputError

__all__ = [
    "CheckpointRecord",
    "CheckpointStore",
    "NewCheckpoint",
    "Typed",
    "WriteRecord",
]

_PAGE = 100


def _keep(value: int | None) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"keep_last must be None or an int >= 1, got {value!r}")
    return value


def _size(page_size: int) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise InvalidInputError(f"page_size must be an int, got {page_size!r:.40}")
    return max(1, min(page_size, _PAGE))


class CheckpointStore(Store):
    """Checkpoints of agent workflows on Redis; every method has an ``a``-prefixed async twin.

    Args:
        memory: the :class:`AgentMem` to use (borrowed, never closed by the store). ``None``
            builds ``AgentMem()`` from ``AGENTMEM_*`` environment variables, owned and closed by
            the store.
        ttl: sliding expiry of a whole thread (seconds or timedelta), refreshed by every write in
            the same atomic step; ``None`` keeps threads until deleted.
        keep_last: keep only the newest N checkpoints of each namespace, trimmed at each put
            (``None``: all). The newest checkpoint always stays, so a thread waiting on an
            interrupt can always resume.
        max_age: drop checkpoints put longer ago than this at each put of their namespace
            (``None``: off); the newest of a namespace always stays.

    Every call that takes ``user_id`` raises :class:`~agentmem.errors.OwnershipError` (nothing
    read or written) when the thread belongs to another user; ``user_id=None`` is unscoped
    (maintenance, a single-user app) and never refused.

    Raises:
        InvalidInputError: ``ttl``, ``keep_last`` or ``max_age`` is out of range.
    """

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        ttl: float | timedelta | None = None,
        keep_last: int | None = None,
        max_age: float | timedelta | None = None,
    ) -> None:
        # Checked before super() builds an AgentMem, so bad arguments leave nothing open.
        policy = (duration_ms(ttl, "ttl"), _keep(keep_last), duration_ms(max_age, "max_age"))
        super().__init__(memory)
        self._cfg = StoreConfig(
            prefix=check_prefix(self._memory.key_prefix),
            ttl_ms=policy[0],
            cluster=self._memory.settings.redis.cluster,
            keep_last=policy[1],
            max_age_ms=policy[2],
        )
        # (user, thread) pairs this object linked (see checkpoint_plans._owned_write).
        self._linked: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        c = self._cfg
        return (
            f"{type(self).__name__}(ttl_ms={c.ttl_ms}, keep_last={c.keep_last or None}, "
            f"max_age_ms={c.max_age_ms or None}, owns_memory={self._owns})"
        )

    @property
    def config(self) -> StoreConfig:
        """Key prefix and write policy (TTL, retention) in force."""
        return self._cfg

    # -- writes ----------------------------------------------------------------------------------

    def put(self, new: NewCheckpoint, *, user_id: str | None = None) -> bool:
        """Store a checkpoint and the channel values it changed (one atomic round trip).

        With ``user_id``, the thread becomes that user's at its first write; the first write of
        a thread by this object first links it in the user's index (one more round trip; see
        :meth:`link_user`), and so does a write that re-creates a thread deleted since.

        Returns:
            True when this write created the thread (it did not exist, or was deleted).

        Raises:
            OwnershipError: the thread belongs to another user.
        """
        return self._run(plans.put(self._cfg, new, user_id, self._linked))

    async def aput(self, new: NewCheckpoint, *, user_id: str | None = None) -> bool:
        """Async twin of :meth:`put`."""
        return await self._arun(plans.put(self._cfg, new, user_id, self._linked))

    def put_writes(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str,
        writes: Sequence[WriteRecord],
        *,
        user_id: str | None = None,
    ) -> bool:
        """Store pending writes on a checkpoint (one atomic round trip).

        Writes with a negative ``idx`` (special channels) replace an earlier write with the same
        ``(task_id, idx)``; the others are kept only if no such write exists yet. ``user_id``
        works as in :meth:`put`. Returns True when this write created the thread.
        """
        return self._run(
            plans.put_writes(self._cfg, thread_id, ns, checkpoint_id, writes, user_id, self._linked)
        )

    async def aput_writes(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str,
        writes: Sequence[WriteRecord],
        *,
        user_id: str | None = None,
    ) -> bool:
        """Async twin of :meth:`put_writes`."""
        return await self._arun(
            plans.put_writes(self._cfg, thread_id, ns, checkpoint_id, writes, user_id, self._linked)
        )

    # -- reads -----------------------------------------------------------------------------------

    def get(
        self,
        thread_id: str,
        ns: str = "",
        checkpoint_id: str | None = None,
        *,
        user_id: str | None = None,
    ) -> CheckpointRecord | None:
        """The checkpoint ``checkpoint_id`` (or the newest) of ``(thread_id, ns)``, or None."""
        return self._run(plans.get(self._cfg, thread_id, ns, checkpoint_id, user_id))

    async def aget(
        self,
        thread_id: str,
        ns: str = "",
        checkpoint_id: str | None = None,
        *,
        user_id: str | None = None,
    ) -> CheckpointRecord | None:
        """Async twin of :meth:`get`."""
        return await self._arun(plans.get(self._cfg, thread_id, ns, checkpoint_id, user_id))

    def list(
        self,
        thread_id: str | None = None,
        *,
        ns: str | None = None,
        before: str | None = None,
        page_size: int = _PAGE,
        user_id: str | None = None,
    ) -> Iterator[CheckpointRecord]:
        """Checkpoints newest first, read in pages (one round trip each).

        Args:
            thread_id: one thread, or ``None`` for every thread (thread after thread): every
                stored thread, or with ``user_id`` the threads linked to that user.
            ns: one namespace, or ``None`` for all (ordered by checkpoint id across them).
            before: only checkpoints whose id is strictly smaller.
            page_size: checkpoints per page (pass the number you need when it is small).
            user_id: the user asking; a named thread of another user raises ``OwnershipError``.
        """
        size = _size(page_size)
        named = thread_id is not None
        tids = [thread_id] if thread_id is not None else self.threads(user_id=user_id)
        for tid in tids:
            bound: bytes | None = plans.first_bound(ns, before)
            while bound is not None:
                page = self._run(plans.list_page(self._cfg, tid, ns, bound, size, user_id, named))
                yield from page.records
                bound = page.cursor

    async def alist(
        self,
        thread_id: str | None = None,
        *,
        ns: str | None = None,
        before: str | None = None,
        page_size: int = _PAGE,
        user_id: str | None = None,
    ) -> AsyncIterator[CheckpointRecord]:
        """Async twin of :meth:`list`."""
        size = _size(page_size)
        named = thread_id is not None
        tids = [thread_id] if thread_id is not None else await self.athreads(user_id=user_id)
        for tid in tids:
            bound: bytes | None = plans.first_bound(ns, before)
            while bound is not None:
                plan = plans.list_page(self._cfg, tid, ns, bound, size, user_id, named)
                page = await self._arun(plan)
                for record in page.records:
                    yield record
                bound = page.cursor

    def threads(self, *, user_id: str | None = None) -> builtins.list[str]:
        """Ids of the stored threads (one that expired stays listed until ``list()`` meets it).

        With ``user_id``: the threads linked to that user (:meth:`link_user`), oldest link first.
        """
        return self._run(plans.threads(self._cfg, user_id))

    async def athreads(self, *, user_id: str | None = None) -> builtins.list[str]:
        """Async twin of :meth:`threads`."""
        return await self._arun(plans.threads(self._cfg, user_id))

    # -- ownership and maintenance ---------------------------------------------------------------

    def link_user(self, user_id: str, thread_id: str) -> None:
        """Record that ``thread_id`` belongs to ``user_id`` (idempotent, two round trips).

        Linked threads are listed by ``threads(user_id=...)`` and deleted by
        :func:`agentmem.forget_user`; an existing thread becomes the user's (one not written yet
        becomes the user's at its first write with ``user_id``). Link before the thread's first
        write, so forgetting the user can never miss it.

        Raises:
            OwnershipError: the thread belongs to another user.
        """
        self._run(plans.link_user(self._cfg, user_id, thread_id))

    async def alink_user(self, user_id: str, thread_id: str) -> None:
        """Async twin of :meth:`link_user`."""
        await self._arun(plans.link_user(self._cfg, user_id, thread_id))

    def delete_thread(self, thread_id: str, *, user_id: str | None = None) -> None:
        """Delete a thread: every namespace, checkpoint, write and value. No-op if missing.

        Raises:
            OwnershipError: ``user_id`` is given and the thread belongs to another user.
        """
        self._run(plans.delete_thread(self._cfg, thread_id, user_id))

    async def adelete_thread(self, thread_id: str, *, user_id: str | None = None) -> None:
        """Async twin of :meth:`delete_thread`."""
        await self._arun(plans.delete_thread(self._cfg, thread_id, user_id))

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete the checkpoints (and their writes) of these runs in every thread; the count."""
        return self._run(plans.delete_runs(self._cfg, run_ids))

    async def adelete_runs(self, run_ids: Sequence[str]) -> int:
        """Async twin of :meth:`delete_runs`."""
        return await self._arun(plans.delete_runs(self._cfg, run_ids))

    def copy_thread(self, source: str, target: str, *, user_id: str | None = None) -> bool:
        """Copy every checkpoint of ``source`` into ``target``; False if ``source`` is empty.

        The copy belongs to ``user_id`` (or, unscoped, to the source's owner).

        Raises:
            OwnershipError: ``source`` or ``target`` belongs to another user.
        """
        return self._run(plans.copy_thread(self._cfg, source, target, user_id))

    async def acopy_thread(self, source: str, target: str, *, user_id: str | None = None) -> bool:
        """Async twin of :meth:`copy_thread`."""
        return await self._arun(plans.copy_thread(self._cfg, source, target, user_id))

    def prune(
        self,
        thread_id: str,
        *,
        keep_last: int = 1,
        max_age: float | timedelta | None = None,
        user_id: str | None = None,
    ) -> int:
        """Keep the newest ``keep_last`` checkpoints of each namespace; return how many went.

        With ``max_age``, also drop older checkpoints put longer ago than that. The newest
        checkpoint of each namespace always stays.
        """
        return self._run(self._prune(thread_id, keep_last, max_age, user_id))

    async def aprune(
        self,
        thread_id: str,
        *,
        keep_last: int = 1,
        max_age: float | timedelta | None = None,
        user_id: str | None = None,
    ) -> int:
        """Async twin of :meth:`prune`."""
        return await self._arun(self._prune(thread_id, keep_last, max_age, user_id))

    def _prune(
        self, thread_id: str, keep_last: int, max_age: float | timedelta | None, user: str | None
    ) -> Plan[int]:
        age = duration_ms(max_age, "max_age")
        return plans.prune(self._cfg, thread_id, _keep(keep_last), age, user)
