"""LangGraph checkpointer on plain Redis: :class:`AgentMemCheckpointSaver`.

Sync and native async methods on one object (no threads, no ``asyncio.run``): sync calls use
``AgentMem.redis()``, async calls ``AgentMem.aredis()``, both running the same plans of
``agentmem.checkpoints``. ``put``, ``put_writes`` and ``get_tuple`` are one atomic round trip each.
A thread run for a user (``configurable["user_id"]`` or the run's context) is that user's: running
it, reading it or listing it for another user raises ``agentmem.OwnershipError``.
Values go through ``self.serde`` (``dumps_typed``/``loads_typed``), so ``EncryptedSerializer`` and
the msgpack allowlist work; Redis only ever sees type tags and opaque bytes.

Example:
    >>> from langgraph.graph import StateGraph
    >>> with AgentMemCheckpointSaver(None, ttl=7 * 86400) as saver:
    ...     graph = builder.compile(checkpointer=saver)
    ...     graph.invoke(inputs, {"configurable": {"thread_id": "ada:t-1", "user_id": "ada"}})
"""

from __future__ import annotations

import builtins
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from agentmem import AgentMem
from agentmem._lifecycle import Lifecycle
from agentmem.checkpoints import CheckpointStore
from agentmem.errors import InvalidInputError
from langchain_agentmem._checkpoint_convert import (
    address_of,
    check_plain,
    config_of,
    configurable,
    list_scope,
    matches,
    page_size,
    thread_id_of,
    to_new_checkpoint,
    to_tuple,
    to_writes,
    user_of,
)

__all__ = ["AgentMemCheckpointSaver"]

_STRATEGIES = ("keep_latest", "delete")


class AgentMemCheckpointSaver(BaseCheckpointSaver[str], Lifecycle):
    """A LangGraph ``BaseCheckpointSaver`` on plain Redis (standalone, Cluster or Valkey).

    Args:
        memory: the :class:`agentmem.AgentMem` to use (borrowed, never closed). ``None`` builds
            ``AgentMem()`` from ``AGENTMEM_*`` environment variables, owned and closed by
            :meth:`close` / :meth:`aclose` (or ``with`` / ``async with``).
        serde: the serializer for checkpoints, metadata and values (default
            ``JsonPlusSerializer``); e.g. ``EncryptedSerializer.from_pycryptodome_aes()``.
        ttl: sliding expiry of a whole thread (seconds or timedelta), refreshed by each write in
            the same atomic step. ``None``: threads stay until deleted or pruned.
        keep_last: keep only the newest N checkpoints per namespace, trimmed at each put.
        max_age: drop checkpoints older than this at each put of their namespace.
        user_key: the key that names the user a thread belongs to, in ``configurable`` or in the
            run's ``context`` (default ``"user_id"``; ``None``: never link). A thread run with it
            is linked to that user before its first checkpoint, so ``agentmem.forget_user``
            deletes it and ``CheckpointStore.threads(user_id=...)`` lists it; from then on it is
            that user's, and a call with another user raises ``OwnershipError``. Thread ids are
            global: give each user's threads their own ids (e.g. ``f"{user_id}:{name}"``).

    The newest checkpoint of a namespace is never trimmed, so a thread waiting on an interrupt
    always resumes.

    Raises:
        InvalidInputError: ``ttl``, ``keep_last`` or ``max_age`` is out of range.
    """

    _store: CheckpointStore

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        serde: SerializerProtocol | None = None,
        ttl: float | timedelta | None = None,
        keep_last: int | None = None,
        max_age: float | timedelta | None = None,
        user_key: str | None = "user_id",
    ) -> None:
        super().__init__(serde=serde)
        self.user_key = user_key
        self._store = CheckpointStore(memory, ttl=ttl, keep_last=keep_last, max_age=max_age)
        # A copy made by with_allowlist shares the store and never closes it.
        self._owns = True

    def __repr__(self) -> str:
        return f"AgentMemCheckpointSaver({self._store!r})"

    @property
    def memory(self) -> AgentMem:
        """The :class:`agentmem.AgentMem` whose clients this saver uses."""
        return self._store.memory

    @property
    def store(self) -> CheckpointStore:
        """The framework-free :class:`agentmem.CheckpointStore` under this saver."""
        return self._store

    # -- sync ------------------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by ``config`` (the newest of its thread/namespace without an id)."""
        record = self._store.get(*address_of(config), user_id=user_of(config, self.user_key))
        return to_tuple(self.serde, record) if record else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first; no ``checkpoint_ns`` in ``config`` means every namespace.

        ``filter`` matches metadata (nested dicts by containment), ``before`` is strict and
        ``limit`` counts matches. Without a ``thread_id`` it lists every thread, thread after
        thread (with a user in ``config``: that user's threads).
        """
        thread_id, ns, exact = list_scope(config)
        check_plain(filter, "the list() filter", text=False)
        bound = get_checkpoint_id(before) if before else None
        if limit is not None and limit <= 0:
            return
        seen = 0
        for record in self._store.list(
            thread_id,
            ns=ns,
            before=bound,
            page_size=page_size(filter, exact, limit),
            user_id=user_of(config, self.user_key) if config else None,
        ):
            tup = to_tuple(self.serde, record)
            if matches(tup, filter, exact):
                yield tup
                seen += 1
                if limit is not None and seen >= limit:
                    return

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint (one atomic round trip); return the config that names it.

        The first put of a thread for a user (``user_key`` in ``configurable`` or the context)
        first links the thread to that user (one more round trip, once per saver and thread; see
        ``CheckpointStore.put``).
        """
        new = to_new_checkpoint(self.serde, config, checkpoint, metadata, new_versions)
        self._store.put(new, user_id=user_of(config, self.user_key))
        return config_of(new.thread_id, new.ns, new.checkpoint_id)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's pending writes on the checkpoint named by ``config``."""
        conf = configurable(config)
        self._store.put_writes(
            thread_id_of(config),
            str(conf.get("checkpoint_ns") or ""),
            str(conf.get("checkpoint_id") or ""),
            to_writes(self.serde, writes, task_id, task_path),
            user_id=user_of(config, self.user_key),
        )

    def delete_thread(self, thread_id: str, *, user_id: str | None = None) -> None:
        """Delete every checkpoint, write and value of a thread.

        Raises:
            OwnershipError: ``user_id`` is given and the thread belongs to another user.
        """
        self._store.delete_thread(str(thread_id), user_id=user_id)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) whose metadata ``run_id`` is listed."""
        self._store.delete_runs([str(r) for r in run_ids])

    def copy_thread(
        self, source_thread_id: str, target_thread_id: str, *, user_id: str | None = None
    ) -> None:
        """Copy every checkpoint (all namespaces, with writes and parents) to another thread.

        The copy belongs to ``user_id`` (or, without one, to the source thread's user).

        Raises:
            OwnershipError: ``user_id`` is given and either thread belongs to another user, or
                the target belongs to a user other than the source's.
        """
        self._store.copy_thread(str(source_thread_id), str(target_thread_id), user_id=user_id)

    def prune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        user_id: str | None = None,
    ) -> None:
        """``"keep_latest"``: keep the newest checkpoint per namespace; ``"delete"``: all.

        Raises:
            InvalidInputError: another strategy was given.
            OwnershipError: ``user_id`` is given and a thread belongs to another user.
        """
        for thread_id in self._prune_targets(thread_ids, strategy):
            if strategy == "delete":
                self._store.delete_thread(thread_id, user_id=user_id)
            else:
                self._store.prune(thread_id, keep_last=1, user_id=user_id)

    @staticmethod
    def _prune_targets(thread_ids: Sequence[str], strategy: str) -> builtins.list[str]:
        if strategy not in _STRATEGIES:
            raise InvalidInputError(f"strategy must be one of {_STRATEGIES}, got {strategy!r}")
        return [str(t) for t in thread_ids]

    def close(self) -> None:
        """Close the saver (and the ``AgentMem`` if it created it); later calls raise
        ``ClosedError``. A copy made by :meth:`with_allowlist` closes nothing."""
        if self._owns:
            self._store.close()

    # -- async -----------------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async twin of :meth:`get_tuple`."""
        record = await self._store.aget(*address_of(config), user_id=user_of(config, self.user_key))
        return to_tuple(self.serde, record) if record else None

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async twin of :meth:`list`."""
        thread_id, ns, exact = list_scope(config)
        check_plain(filter, "the list() filter", text=False)
        bound = get_checkpoint_id(before) if before else None
        if limit is not None and limit <= 0:
            return
        seen = 0
        async for record in self._store.alist(
            thread_id,
            ns=ns,
            before=bound,
            page_size=page_size(filter, exact, limit),
            user_id=user_of(config, self.user_key) if config else None,
        ):
            tup = to_tuple(self.serde, record)
            if matches(tup, filter, exact):
                yield tup
                seen += 1
                if limit is not None and seen >= limit:
                    return

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async twin of :meth:`put`."""
        new = to_new_checkpoint(self.serde, config, checkpoint, metadata, new_versions)
        await self._store.aput(new, user_id=user_of(config, self.user_key))
        return config_of(new.thread_id, new.ns, new.checkpoint_id)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async twin of :meth:`put_writes`."""
        conf = configurable(config)
        await self._store.aput_writes(
            thread_id_of(config),
            str(conf.get("checkpoint_ns") or ""),
            str(conf.get("checkpoint_id") or ""),
            to_writes(self.serde, writes, task_id, task_path),
            user_id=user_of(config, self.user_key),
        )

    async def adelete_thread(self, thread_id: str, *, user_id: str | None = None) -> None:
        """Async twin of :meth:`delete_thread`."""
        await self._store.adelete_thread(str(thread_id), user_id=user_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async twin of :meth:`delete_for_runs`."""
        await self._store.adelete_runs([str(r) for r in run_ids])

    async def acopy_thread(
        self, source_thread_id: str, target_thread_id: str, *, user_id: str | None = None
    ) -> None:
        """Async twin of :meth:`copy_thread`."""
        await self._store.acopy_thread(
            str(source_thread_id), str(target_thread_id), user_id=user_id
        )

    async def aprune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        user_id: str | None = None,
    ) -> None:
        """Async twin of :meth:`prune`."""
        for thread_id in self._prune_targets(thread_ids, strategy):
            if strategy == "delete":
                await self._store.adelete_thread(thread_id, user_id=user_id)
            else:
                await self._store.aprune(thread_id, keep_last=1, user_id=user_id)

    async def aclose(self) -> None:
        """Async twin of :meth:`close` (also closes an owned ``AgentMem``'s async clients)."""
        if self._owns:
            await self._store.aclose()

    # -- versions and copies ---------------------------------------------------------------------

    def get_next_version(self, current: str | None, channel: None) -> str:
        """The next channel version, keeping the type the thread already uses.

        Versions are zero-padded strings that sort like numbers (as ``InMemorySaver``'s); a
        thread whose versions are ints (written by another saver) keeps getting ints, because
        LangGraph compares old and new versions and cannot compare int with str.
        """
        if isinstance(current, int) and not isinstance(current, bool):
            return cast(str, current + 1)
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    def with_allowlist(self, extra_allowlist: Any) -> AgentMemCheckpointSaver:
        """A shallow copy with a msgpack allowlist; it shares (and never closes) the clients."""
        clone = super().with_allowlist(extra_allowlist)
        if clone is not self:
            cast(AgentMemCheckpointSaver, clone)._owns = False
        return cast(AgentMemCheckpointSaver, clone)
