"""Workflow memory on plain Redis: :class:`CheckpointStore` and :class:`AsyncCheckpointStore`.

A framework-free store of checkpoints (opaque typed bytes) per thread and namespace, with the
channel values each checkpoint changed (stored once per channel and version, so a step costs bytes
in proportion to what changed) and the pending writes of its tasks. ``put``, ``put_writes`` and
``get`` are one atomic Lua step (one round trip) each; every key of a thread shares one Cluster
hash tag and, with a TTL, expires together. The LangGraph saver
(``langchain_agentmem.AgentMemCheckpointSaver``) is a thin layer over these classes.

The two classes have identical method names; each body runs a plan from
``agentmem._redis.checkpoint_plans``.

Example:
    >>> store = CheckpointStore(ttl=86400, keep_last=20)
    >>> record = store.get("thread-1")   # newest checkpoint of the root namespace, or None
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from typing import TypeVar

from agentmem._args import duration_ms
from agentmem._plan import Plan, run_async, run_sync
from agentmem._redis import checkpoint_plans as plans
from agentmem._redis import owner_plans as owners
from agentmem._redis.checkpoint_plans import (
    CheckpointRecord,
    NewCheckpoint,
    StoreConfig,
    Typed,
    WriteRecord,
)
from agentmem._redis.keys import check_prefix
from agentmem.core import AgentMem
from agentmem.errors import InvalidInputError

__all__ = [
    "AsyncCheckpointStore",
    "CheckpointRecord",
    "CheckpointStore",
    "NewCheckpoint",
    "Typed",
    "WriteRecord",
]

T = TypeVar("T")

_PAGE = 100


def _keep(value: int | None) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"keep_last must be None or an int >= 1, got {value!r}")
    return value


class _Base:
    """Configuration shared by the sync and the async store (no I/O)."""

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        ttl: float | timedelta | None = None,
        keep_last: int | None = None,
        max_age: float | timedelta | None = None,
    ) -> None:
        self._owns = memory is None
        self._memory = memory if memory is not None else AgentMem()
        self._cfg = StoreConfig(
            prefix=check_prefix(self._memory.key_prefix),
            ttl_ms=duration_ms(ttl, "ttl"),
            cluster=self._memory.settings.redis.cluster,
            keep_last=_keep(keep_last),
            max_age_ms=duration_ms(max_age, "max_age"),
        )
        # (user, thread) pairs this object linked (see checkpoint_plans.owned_write).
        self._linked: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        c = self._cfg
        return (
            f"{type(self).__name__}(ttl_ms={c.ttl_ms}, keep_last={c.keep_last or None}, "
            f"max_age_ms={c.max_age_ms or None}, owns_memory={self._owns})"
        )

    @property
    def memory(self) -> AgentMem:
        """The :class:`AgentMem` whose Redis clients this store uses."""
        return self._memory

    @property
    def config(self) -> StoreConfig:
        """Key prefix and write policy (TTL, retention) in force."""
        return self._cfg


_ARGS = """
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

    Raises:
        InvalidInputError: ``ttl``, ``keep_last`` or ``max_age`` is out of range.
"""


class CheckpointStore(_Base):
    __doc__ = "Checkpoints of agent workflows on Redis (sync).\n" + _ARGS

    def _run(self, plan: Plan[T]) -> T:
        return run_sync(plan, self._memory.redis(), self._memory.settings.retry)

    def put(self, new: NewCheckpoint, *, user_id: str | None = None) -> bool:
        """Store a checkpoint and the channel values it changed (one atomic round trip).

        With ``user_id``, the first write of a thread by this object first links the thread to
        that user (one more round trip; see :meth:`link_user`), and so does a write that
        re-creates a thread deleted since.

        Returns:
            True when this write created the thread (it did not exist, or was deleted).
        """
        write = plans.put(self._cfg, new)
        return self._run(plans.owned_write(self._cfg, self._linked, user_id, new.thread_id, write))

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
        links the thread as in :meth:`put`. Returns True when this write created the thread.
        """
        write = plans.put_writes(self._cfg, thread_id, ns, checkpoint_id, writes)
        return self._run(plans.owned_write(self._cfg, self._linked, user_id, thread_id, write))

    def get(
        self, thread_id: str, ns: str = "", checkpoint_id: str | None = None
    ) -> CheckpointRecord | None:
        """The checkpoint ``checkpoint_id`` (or the newest) of ``(thread_id, ns)``, or None."""
        return self._run(plans.get(self._cfg, thread_id, ns, checkpoint_id))

    def iter(
        self,
        thread_id: str | None = None,
        *,
        ns: str | None = None,
        before: str | None = None,
        page_size: int = _PAGE,
    ) -> Iterator[CheckpointRecord]:
        """Checkpoints newest first, read in pages (one round trip each).

        Args:
            thread_id: one thread, or ``None`` for every thread (thread after thread).
            ns: one namespace, or ``None`` for all (ordered by checkpoint id across them).
            before: only checkpoints whose id is strictly smaller.
            page_size: checkpoints per page (pass the number you need when it is small).
        """
        size = max(1, min(int(page_size), _PAGE))
        tids = [thread_id] if thread_id is not None else self.threads()
        for tid in tids:
            bound: bytes | None = plans.first_bound(ns, before)
            while bound is not None:
                page = self._run(plans.list_page(self._cfg, tid, ns, bound, size))
                yield from page.records
                bound = page.cursor
                if thread_id is None and not page.alive:
                    self._run(plans.unregister(self._cfg, tid))  # it expired: unlist it

    def threads(self, *, user_id: str | None = None) -> list[str]:
        """Ids of the stored threads (one that expired stays listed until ``iter()`` meets it).

        With ``user_id``: the threads linked to that user (:meth:`link_user`), oldest link first.
        """
        if user_id is not None:
            return [o.id for o in self._run(owners.owned(self._cfg.prefix, user_id, "thread"))]
        return self._run(plans.threads(self._cfg))

    def link_user(self, user_id: str, thread_id: str) -> None:
        """Record that ``thread_id`` belongs to ``user_id`` (idempotent, one round trip).

        Linked threads are listed by ``threads(user_id=...)`` and deleted by
        :func:`agentmem.forget_user`. Link before the thread's first write, so forgetting the
        user can never miss it.
        """
        item = owners.Owned("thread", thread_id)
        self._run(owners.link(self._cfg.prefix, user_id, [item], self._cfg.ttl_ms))

    def delete_thread(self, thread_id: str) -> None:
        """Delete a thread: every namespace, checkpoint, write and value. No-op if missing."""
        self._run(plans.delete_thread(self._cfg, thread_id))

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete the checkpoints (and their writes) of these runs in every thread; the count."""
        return self._run(plans.delete_runs(self._cfg, run_ids))

    def copy_thread(self, source: str, target: str) -> bool:
        """Copy every checkpoint of ``source`` into ``target``; False if ``source`` is empty."""
        return self._run(plans.copy_thread(self._cfg, source, target))

    def prune(
        self, thread_id: str, *, keep_last: int = 1, max_age: float | timedelta | None = None
    ) -> int:
        """Keep the newest ``keep_last`` checkpoints of each namespace; return how many went.

        With ``max_age``, also drop older checkpoints put longer ago than that. The newest
        checkpoint of each namespace always stays.
        """
        return self._run(
            plans.prune(self._cfg, thread_id, _keep(keep_last), duration_ms(max_age, "max_age"))
        )

    def close(self) -> None:
        """Close the :class:`AgentMem` if this store created it. Idempotent."""
        if self._owns:
            self._memory.close()


class AsyncCheckpointStore(_Base):
    __doc__ = "Checkpoints of agent workflows on Redis (asyncio).\n" + _ARGS

    async def _run(self, plan: Plan[T]) -> T:
        return await run_async(plan, await self._memory.aredis(), self._memory.settings.retry)

    async def put(self, new: NewCheckpoint, *, user_id: str | None = None) -> bool:
        """Async twin of :meth:`CheckpointStore.put`."""
        write = plans.put(self._cfg, new)
        plan = plans.owned_write(self._cfg, self._linked, user_id, new.thread_id, write)
        return await self._run(plan)

    async def put_writes(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str,
        writes: Sequence[WriteRecord],
        *,
        user_id: str | None = None,
    ) -> bool:
        """Async twin of :meth:`CheckpointStore.put_writes`."""
        write = plans.put_writes(self._cfg, thread_id, ns, checkpoint_id, writes)
        return await self._run(
            plans.owned_write(self._cfg, self._linked, user_id, thread_id, write)
        )

    async def get(
        self, thread_id: str, ns: str = "", checkpoint_id: str | None = None
    ) -> CheckpointRecord | None:
        """Async twin of :meth:`CheckpointStore.get`."""
        return await self._run(plans.get(self._cfg, thread_id, ns, checkpoint_id))

    async def iter(
        self,
        thread_id: str | None = None,
        *,
        ns: str | None = None,
        before: str | None = None,
        page_size: int = _PAGE,
    ) -> AsyncIterator[CheckpointRecord]:
        """Async twin of :meth:`CheckpointStore.iter`."""
        size = max(1, min(int(page_size), _PAGE))
        tids = [thread_id] if thread_id is not None else await self.threads()
        for tid in tids:
            bound: bytes | None = plans.first_bound(ns, before)
            while bound is not None:
                page = await self._run(plans.list_page(self._cfg, tid, ns, bound, size))
                for record in page.records:
                    yield record
                bound = page.cursor
                if thread_id is None and not page.alive:
                    await self._run(plans.unregister(self._cfg, tid))  # it expired: unlist it

    async def threads(self, *, user_id: str | None = None) -> list[str]:
        """Async twin of :meth:`CheckpointStore.threads`."""
        if user_id is not None:
            owned = await self._run(owners.owned(self._cfg.prefix, user_id, "thread"))
            return [o.id for o in owned]
        return await self._run(plans.threads(self._cfg))

    async def link_user(self, user_id: str, thread_id: str) -> None:
        """Async twin of :meth:`CheckpointStore.link_user`."""
        item = owners.Owned("thread", thread_id)
        await self._run(owners.link(self._cfg.prefix, user_id, [item], self._cfg.ttl_ms))

    async def delete_thread(self, thread_id: str) -> None:
        """Async twin of :meth:`CheckpointStore.delete_thread`."""
        await self._run(plans.delete_thread(self._cfg, thread_id))

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Async twin of :meth:`CheckpointStore.delete_runs`."""
        return await self._run(plans.delete_runs(self._cfg, run_ids))

    async def copy_thread(self, source: str, target: str) -> bool:
        """Async twin of :meth:`CheckpointStore.copy_thread`."""
        return await self._run(plans.copy_thread(self._cfg, source, target))

    async def prune(
        self, thread_id: str, *, keep_last: int = 1, max_age: float | timedelta | None = None
    ) -> int:
        """Async twin of :meth:`CheckpointStore.prune`."""
        return await self._run(
            plans.prune(self._cfg, thread_id, _keep(keep_last), duration_ms(max_age, "max_age"))
        )

    async def aclose(self) -> None:
        """Close the :class:`AgentMem` if this store created it. Idempotent."""
        if self._owns:
            await self._memory.aclose()
