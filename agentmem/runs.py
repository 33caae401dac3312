"""Saved workflow runs on plain Redis: :class:`RunStore`.

A run's snapshot (opaque bytes, e.g. LlamaIndex's ``Context.to_dict()`` as JSON) is kept under
(workflow name, run id), with a status, a label and (for a failed run) its error, listed per
workflow and optionally expiring. Each write is one atomic Lua step that also maintains the
workflow's index and the TTL. :meth:`RunStore.claim` moves a run to ``"running"`` in that same
step only if its status allows it, so of two processes resuming one paused run exactly one gets
it. The LlamaIndex adapter (``llamaindex_agentmem.AgentMemWorkflowCheckpointer``) builds on this.

Example:
    >>> runs = RunStore(mem, ttl=86400)
    >>> runs.save("approval", "run-1", b'{"state": ...}', status="paused", label="InputRequired")
    >>> run = runs.claim("approval", "run-1")       # now "running"; a second claim raises
    >>> [r.status for r in runs.list_runs("approval")]
    ['running']
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from agentmem._args import duration_ms
from agentmem._plan import Plan
from agentmem._redis import owner_plans as owners
from agentmem._redis import run_plans as plans
from agentmem._redis.keys import check_prefix
from agentmem._redis.run_plans import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PAUSED,
    RUNNING,
    RunConfig,
    SavedRun,
)
from agentmem._store import Store
from agentmem.core import AgentMem
from agentmem.errors import ConflictError, NotFound

__all__ = [
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "PAUSED",
    "RUNNING",
    "RunStateError",
    "RunStore",
    "SavedRun",
]


class RunStateError(ConflictError):
    """A run cannot be resumed in its current status (completed, or running/failed without force).

    Attributes:
        workflow: the workflow name.
        run_id: the run id.
        status: the status the run has.
    """

    def __init__(self, message: str, *, workflow: str, run_id: str, status: str) -> None:
        super().__init__(message)
        self.workflow = workflow
        self.run_id = run_id
        self.status = status


class RunStore(Store):
    """Saved workflow runs: snapshots with a status, a per-workflow index, TTL and claims.

    Each method has an ``a``-prefixed async twin running the same plan.

    Args:
        memory: the :class:`AgentMem` to use (borrowed, never closed). ``None`` builds
            ``AgentMem()`` from ``AGENTMEM_*`` environment variables, owned by the store.
        ttl: expiry of a saved run (seconds or timedelta), reset by each write; ``None``: kept
            until deleted.

    Raises:
        InvalidInputError: ``ttl`` is out of range, or ``memory`` is not an ``AgentMem``.
    """

    def __init__(self, memory: AgentMem | None = None, *, ttl: float | timedelta | None = None):
        ttl_ms = duration_ms(ttl, "ttl")  # before an owned AgentMem exists: nothing to leak
        super().__init__(memory)
        self._cfg = RunConfig(check_prefix(self._memory.key_prefix), ttl_ms)

    def __repr__(self) -> str:
        return f"RunStore(ttl_ms={self._cfg.ttl_ms}, owns_memory={self._owns})"

    def save(
        self,
        workflow: str,
        run_id: str,
        data: bytes | None,
        *,
        status: str = "",
        label: str = "",
        error: str = "",
        user_id: str | None = None,
        expect_saves: int | None = None,
    ) -> int:
        """Save (replace) a run in one atomic step; return its number of writes.

        Args:
            workflow: the workflow name.
            run_id: the run id.
            data: the snapshot bytes; ``None`` keeps the saved snapshot (the run must exist).
            status: kept with the run (``"paused"``, ``"running"``, ``"completed"``, ...).
            label: why it was saved (an event name, say).
            error: what the run failed with, for ``status="failed"``.
            user_id: link the run to this user first (one more round trip), so
                :meth:`user_runs` lists it and :func:`agentmem.forget_user` deletes it.
            expect_saves: write only if the run has exactly this many writes (``0``: it must not
                exist), e.g. the number the writer's own last save returned.

        Raises:
            InvalidInputError: a name, id or text is empty where it must not be, not a str, or
                has lone surrogates; nothing was written.
            ConflictError: the run does not have ``expect_saves`` writes; nothing was written.
            NotFound: ``data`` is None and no snapshot is saved; nothing was written.
        """
        return self._run(
            _save(self._cfg, workflow, run_id, data, status, label, error, user_id, expect_saves)
        )

    async def asave(
        self,
        workflow: str,
        run_id: str,
        data: bytes | None,
        *,
        status: str = "",
        label: str = "",
        error: str = "",
        user_id: str | None = None,
        expect_saves: int | None = None,
    ) -> int:
        """Async twin of :meth:`save`."""
        return await self._arun(
            _save(self._cfg, workflow, run_id, data, status, label, error, user_id, expect_saves)
        )

    def claim(
        self,
        workflow: str,
        run_id: str,
        *,
        force: bool = False,
        expect_saves: int | None = None,
        label: str = "resumed",
    ) -> SavedRun:
        """Move a run to ``"running"`` in one atomic step and return it with its snapshot.

        Only one of several concurrent claims of a run can succeed: the status is checked and
        changed in the same Lua step. A ``"completed"`` run is never claimed; a ``"running"`` one
        (someone is running it, or died while running it) or a ``"failed"`` one only with
        ``force=True``; any other status (``"paused"``, ``"cancelled"``, ...) is claimed.

        Args:
            workflow: the workflow name.
            run_id: the run id.
            force: also claim a running or failed run. Only when you know that no process is
                running it any more (it crashed), or to retry a failed run from its last snapshot.
            expect_saves: also require exactly this many writes (the number :meth:`get` showed,
                or the caller's own last :meth:`save` returned): nobody wrote the run since.
            label: the label the claimed run gets.

        Raises:
            NotFound: no such run is saved (or it expired).
            RunStateError: the run's status cannot be claimed.
            ConflictError: the run does not have ``expect_saves`` writes.
        """
        return self._run(_claim(self._cfg, workflow, run_id, force, expect_saves, label))

    async def aclaim(
        self,
        workflow: str,
        run_id: str,
        *,
        force: bool = False,
        expect_saves: int | None = None,
        label: str = "resumed",
    ) -> SavedRun:
        """Async twin of :meth:`claim`."""
        return await self._arun(_claim(self._cfg, workflow, run_id, force, expect_saves, label))

    def get(self, workflow: str, run_id: str) -> SavedRun | None:
        """The saved run with its snapshot bytes, or None."""
        return self._run(plans.get(self._cfg, workflow, run_id))

    async def aget(self, workflow: str, run_id: str) -> SavedRun | None:
        """Async twin of :meth:`get`."""
        return await self._arun(plans.get(self._cfg, workflow, run_id))

    def list_runs(self, workflow: str) -> list[SavedRun]:
        """Saved runs of ``workflow``, most recently saved first (``data`` is None)."""
        return self._run(plans.list_runs(self._cfg, workflow))

    async def alist_runs(self, workflow: str) -> list[SavedRun]:
        """Async twin of :meth:`list_runs`."""
        return await self._arun(plans.list_runs(self._cfg, workflow))

    def user_runs(self, user_id: str) -> list[SavedRun]:
        """The saved runs linked to ``user_id`` that still exist (without snapshots)."""
        return self._run(_user_runs(self._cfg, user_id))

    async def auser_runs(self, user_id: str) -> list[SavedRun]:
        """Async twin of :meth:`user_runs`."""
        return await self._arun(_user_runs(self._cfg, user_id))

    def delete(self, workflow: str, run_id: str) -> bool:
        """Delete a saved run; True if it existed."""
        return self._run(plans.delete(self._cfg, workflow, run_id))

    async def adelete(self, workflow: str, run_id: str) -> bool:
        """Async twin of :meth:`delete`."""
        return await self._arun(plans.delete(self._cfg, workflow, run_id))


def _save(
    cfg: RunConfig,
    workflow: str,
    run_id: str,
    data: bytes | None,
    status: str,
    label: str,
    error: str,
    user_id: str | None,
    expect_saves: int | None,
) -> Plan[int]:
    # Checked here, when called, before the first step: a bad label never leaves a lone link.
    save = plans.save(
        cfg,
        workflow,
        run_id,
        data,
        status=status,
        label=label,
        error=error,
        expect_saves=expect_saves,
    )
    items = [] if user_id is None else [owners.Owned("run", run_id, workflow)]
    return _linked_save(cfg, workflow, run_id, user_id, items, save)


def _linked_save(
    cfg: RunConfig,
    workflow: str,
    run_id: str,
    user_id: str | None,
    items: list[owners.Owned],
    save: Plan[plans.Outcome],
) -> Plan[int]:
    # Link first: a crash between the two steps leaves a link to nothing, never an unlisted run.
    if user_id is not None:
        yield from owners.link(cfg.prefix, user_id, items, cfg.ttl_ms)
    outcome = yield from save
    if outcome.code == "conflict":
        raise ConflictError(
            f"run {run_id!r} of workflow {workflow!r} was written by someone else (it has "
            f"{outcome.saves} writes, not the expected number); another process resumed or "
            "saved it. Read it again with get() before deciding. The run was not written."
        )
    if outcome.code == "missing":
        raise NotFound(
            f"no saved run {run_id!r} of workflow {workflow!r} whose snapshot could be kept; "
            "pass the snapshot bytes as data. The run was not written."
        )
    return outcome.saves


def _claim(
    cfg: RunConfig,
    workflow: str,
    run_id: str,
    force: bool,
    expect_saves: int | None,
    label: str,
) -> Plan[SavedRun]:
    plan = plans.claim(cfg, workflow, run_id, force=force, expect_saves=expect_saves, label=label)
    return _claimed(workflow, run_id, plan)


def _claimed(workflow: str, run_id: str, plan: Plan[plans.Outcome]) -> Plan[SavedRun]:
    outcome = yield from plan
    if outcome.run is not None:
        return outcome.run
    where = f"run {run_id!r} of workflow {workflow!r}"
    if outcome.code == "missing":
        raise NotFound(f"no saved {where} (a run with a TTL may have expired)")
    if outcome.code == "conflict":
        raise ConflictError(
            f"{where} was written by someone else since this process read or saved it (another "
            "process resumed or saved it), so it was not claimed; read it again with get()"
        )
    status = outcome.status
    if status == COMPLETED:
        advice = "it finished; start a new run instead (get() shows its final snapshot)"
    elif status == FAILED:
        advice = "it failed; pass force=True to retry it from its last snapshot"
    else:
        advice = (
            "another caller is running it (it was resumed, or is still in its first run); pass "
            "force=True only if you know that process is gone"
        )
    raise RunStateError(
        f"{where} is {status!r} and was not resumed: {advice}",
        workflow=workflow,
        run_id=run_id,
        status=status,
    )


def _user_runs(cfg: RunConfig, user_id: str) -> Plan[list[SavedRun]]:
    found: list[SavedRun] = []
    for item in (yield from owners.owned(cfg.prefix, user_id, "run")):
        saved = yield from plans.get(cfg, item.workflow or "", item.id)
        if saved is not None:
            found.append(replace(saved, data=None))
    return found
