"""Saved workflow runs on plain Redis: :class:`RunStore` and :class:`AsyncRunStore`.

A run's snapshot (opaque bytes, e.g. LlamaIndex's ``Context.to_dict()`` as JSON) is kept under
(workflow name, run id), with a status and a label, listed per workflow and optionally expiring.
Each save is one atomic Lua step that also maintains the workflow's index and the TTL. The
LlamaIndex adapter (``llamaindex_agentmem.AgentMemWorkflowCheckpointer``) builds on these.

Example:
    >>> runs = RunStore(ttl=86400)
    >>> runs.save("approval", "run-1", b'{"state": ...}', status="paused", label="InputRequired")
    >>> [r.run_id for r in runs.list_runs("approval")]
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TypeVar

from agentmem._args import duration_ms
from agentmem._plan import Plan, run_async, run_sync
from agentmem._redis import owner_plans as owners
from agentmem._redis import run_plans as plans
from agentmem._redis.keys import check_prefix
from agentmem._redis.run_plans import RunConfig, SavedRun
from agentmem.core import AgentMem

__all__ = ["AsyncRunStore", "RunStore", "SavedRun"]

T = TypeVar("T")


class _Base:
    def __init__(self, memory: AgentMem | None = None, *, ttl: float | timedelta | None = None):
        self._owns = memory is None
        self._memory = memory if memory is not None else AgentMem()
        self._cfg = RunConfig(check_prefix(self._memory.key_prefix), duration_ms(ttl, "ttl"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ttl_ms={self._cfg.ttl_ms}, owns_memory={self._owns})"

    @property
    def memory(self) -> AgentMem:
        """The :class:`AgentMem` whose Redis clients this store uses."""
        return self._memory


_ARGS = """
    Args:
        memory: the :class:`AgentMem` to use (borrowed, never closed). ``None`` builds
            ``AgentMem()`` from ``AGENTMEM_*`` environment variables, owned by the store.
        ttl: expiry of a saved run (seconds or timedelta), reset by each save; ``None``: kept
            until deleted.
"""


class RunStore(_Base):
    __doc__ = "Saved workflow runs (sync).\n" + _ARGS

    def _run(self, plan: Plan[T]) -> T:
        return run_sync(plan, self._memory.redis(), self._memory.settings.retry)

    def save(
        self,
        workflow: str,
        run_id: str,
        data: bytes,
        *,
        status: str = "",
        label: str = "",
        user_id: str | None = None,
    ) -> int:
        """Save (replace) a run's snapshot in one atomic step; return its number of saves.

        With ``user_id`` the run is first linked to that user (one more round trip), so
        :meth:`user_runs` lists it and :func:`agentmem.forget_user` deletes it.
        """
        return self._run(_save(self._cfg, workflow, run_id, data, status, label, user_id))

    def user_runs(self, user_id: str) -> list[SavedRun]:
        """The saved runs linked to ``user_id`` that still exist (without snapshots)."""
        return self._run(_user_runs(self._cfg, user_id))

    def get(self, workflow: str, run_id: str) -> SavedRun | None:
        """The saved run with its snapshot bytes, or None."""
        return self._run(plans.get(self._cfg, workflow, run_id))

    def list_runs(self, workflow: str) -> list[SavedRun]:
        """Saved runs of ``workflow``, most recently saved first (``data`` is None)."""
        return self._run(plans.list_runs(self._cfg, workflow))

    def delete(self, workflow: str, run_id: str) -> bool:
        """Delete a saved run; True if it existed."""
        return self._run(plans.delete(self._cfg, workflow, run_id))

    def close(self) -> None:
        """Close the :class:`AgentMem` if this store created it. Idempotent."""
        if self._owns:
            self._memory.close()


class AsyncRunStore(_Base):
    __doc__ = "Saved workflow runs (asyncio).\n" + _ARGS

    async def _run(self, plan: Plan[T]) -> T:
        return await run_async(plan, await self._memory.aredis(), self._memory.settings.retry)

    async def save(
        self,
        workflow: str,
        run_id: str,
        data: bytes,
        *,
        status: str = "",
        label: str = "",
        user_id: str | None = None,
    ) -> int:
        """Async twin of :meth:`RunStore.save`."""
        return await self._run(_save(self._cfg, workflow, run_id, data, status, label, user_id))

    async def user_runs(self, user_id: str) -> list[SavedRun]:
        """Async twin of :meth:`RunStore.user_runs`."""
        return await self._run(_user_runs(self._cfg, user_id))

    async def get(self, workflow: str, run_id: str) -> SavedRun | None:
        """Async twin of :meth:`RunStore.get`."""
        return await self._run(plans.get(self._cfg, workflow, run_id))

    async def list_runs(self, workflow: str) -> list[SavedRun]:
        """Async twin of :meth:`RunStore.list_runs`."""
        return await self._run(plans.list_runs(self._cfg, workflow))

    async def delete(self, workflow: str, run_id: str) -> bool:
        """Async twin of :meth:`RunStore.delete`."""
        return await self._run(plans.delete(self._cfg, workflow, run_id))

    async def aclose(self) -> None:
        """Close the :class:`AgentMem` if this store created it. Idempotent."""
        if self._owns:
            await self._memory.aclose()


def _save(
    cfg: RunConfig,
    workflow: str,
    run_id: str,
    data: bytes,
    status: str,
    label: str,
    user_id: str | None,
) -> Plan[int]:
    # Link first: a crash between the two steps leaves a link to nothing, never an unlisted run.
    save = plans.save(cfg, workflow, run_id, data, status, label)  # validates, writes nothing
    if user_id is not None:
        item = owners.Owned("run", run_id, workflow)
        yield from owners.link(cfg.prefix, user_id, [item], cfg.ttl_ms)
    return (yield from save)


def _user_runs(cfg: RunConfig, user_id: str) -> Plan[list[SavedRun]]:
    found: list[SavedRun] = []
    for item in (yield from owners.owned(cfg.prefix, user_id, "run")):
        saved = yield from plans.get(cfg, item.workflow or "", item.id)
        if saved is not None:
            found.append(replace(saved, data=None))
    return found
