"""Durable LlamaIndex workflow runs on plain Redis: :class:`AgentMemWorkflowCheckpointer`.

LlamaIndex workflows can snapshot a run with ``handler.ctx.to_dict()`` and continue it with
``Context.from_dict(workflow, data)``, but ship no place to keep the snapshot. This class saves it
under (workflow name, run id) in Redis at the moments you choose (an ``InputRequiredEvent``, other
step events, the end of the run), lists and deletes saved runs, and resumes a run in a fresh
workflow object, even in another process, so it can finish.

A saved run's status follows it: ``"paused"`` at an input request, ``"running"`` while a process
runs it, then ``"completed"``, ``"failed"`` (with its error) or ``"cancelled"``. Resuming moves a
run from ``"paused"`` to ``"running"`` in one atomic Redis step, so of two processes resuming the
same paused run exactly one runs the human step; the other gets :class:`RunStateError` (or
``ConflictError``), as does resuming a completed run.

Runs are saved under the workflow's name: its ``workflow_name=`` if given (``Workflow(
workflow_name="refund")``), else the class's own name (``"RefundApproval"``), the same in a script
run as ``__main__`` and in a module that imports it.

Workflows are async-native, so the async methods are the main API; ``save``/``load``/``list_runs``/
``delete`` are sync twins on the sync Redis client (for scripts and admin tools).

Example:
    >>> checkpointer = AgentMemWorkflowCheckpointer(mem, ttl=7 * 86400)
    >>> handler = workflow.run(topic="redis")
    >>> async for event in checkpointer.checkpoint_events(handler, workflow):
    ...     if isinstance(event, InputRequiredEvent):
    ...         break                                  # the run is saved; the process may exit
    >>> run = await checkpointer.aresume(AnotherWorkflowObject(), run_id,
    ...                                  HumanResponseEvent(response="yes"))
    >>> result = await run                             # saved as "completed"
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from workflows import Context, Workflow
from workflows.context.serializers import BaseSerializer
from workflows.events import Event, InputRequiredEvent
from workflows.handler import WorkflowHandler

from agentmem import AgentMem
from agentmem._lifecycle import Lifecycle
from agentmem.errors import InvalidInputError, NotFound, SerializationError
from agentmem.runs import RUNNING, RunStateError, RunStore, SavedRun
from llamaindex_agentmem._tracking import ResumedRun, Tracker, snapshot

__all__ = ["AgentMemWorkflowCheckpointer", "ResumedRun", "RunStateError", "SavedRun"]


def workflow_name(workflow: Workflow | str) -> str:
    """The name runs of ``workflow`` are saved under.

    An explicit ``workflow_name=`` (argument or class attribute) wins; otherwise the class's own
    name, not LlamaIndex's module-qualified default, which is ``"__main__.X"`` in a script and
    ``"script.X"`` where the script is imported, so a run could not be resumed by the other.

    Raises:
        InvalidInputError: the name is empty or not a str.
    """
    if isinstance(workflow, str):
        name: object = workflow
    else:
        cls = type(workflow)
        name = workflow.workflow_name
        if name == f"{cls.__module__}.{cls.__qualname__}":  # LlamaIndex's computed default
            name = cls.__name__
    if not isinstance(name, str) or not name:
        raise InvalidInputError(
            f"the workflow needs a non-empty name: pass Workflow(workflow_name=...), got {name!r}"
        )
    return name


class AgentMemWorkflowCheckpointer(Lifecycle):
    """Saves, lists, deletes and resumes LlamaIndex workflow runs in Redis.

    Args:
        memory: the :class:`agentmem.AgentMem` to use (borrowed, never closed). ``None`` builds
            ``AgentMem()`` from ``AGENTMEM_*`` environment variables, owned and closed by
            :meth:`close` / :meth:`aclose` (or ``with`` / ``async with``).
        ttl: expiry of a saved run (seconds or timedelta), reset by each save. ``None``: saved
            runs stay until deleted.
        serializer: the workflows serializer for the context's state (default: the workflow's
            own, usually ``JsonSerializer``); use the same one to save and to restore.

    Raises:
        InvalidInputError: ``ttl`` is out of range, or ``memory`` is not an ``AgentMem``.
    """

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        ttl: float | timedelta | None = None,
        serializer: BaseSerializer | None = None,
    ) -> None:
        self.store = RunStore(memory, ttl=ttl)
        self.serializer = serializer

    def __repr__(self) -> str:
        return f"AgentMemWorkflowCheckpointer({self.store!r})"

    @property
    def memory(self) -> AgentMem:
        """The :class:`agentmem.AgentMem` whose Redis clients this object uses."""
        return self.store.memory

    @staticmethod
    def _found(workflow: Workflow, run_id: str, saved: SavedRun | None) -> SavedRun:
        if saved is None or saved.data is None:
            raise NotFound(
                f"no saved run {run_id!r} of workflow {workflow_name(workflow)!r}; list_runs() "
                "shows what is saved (a run with a TTL may have expired). Runs are saved under "
                "the workflow's workflow_name= or else its class name: give "
                "Workflow(workflow_name=...) the same name where the run is saved and where it "
                "is resumed"
            )
        return saved

    def _restore(self, workflow: Workflow, run_id: str, saved: SavedRun | None) -> Context[Any]:
        data = self._found(workflow, run_id, saved).data or b""
        try:
            return Context.from_dict(workflow, json.loads(data), self.serializer)
        except Exception as exc:  # ContextSerdeError, ValueError on bad JSON, ...
            raise SerializationError(
                f"saved run {run_id!r} cannot be restored into {type(workflow).__name__} "
                f"({type(exc).__name__}: {exc}); is it the same workflow (steps and state) that "
                "saved it, and the same serializer?"
            ) from exc

    # -- async -----------------------------------------------------------------------------------

    async def asave(
        self,
        workflow: Workflow | str,
        run_id: str,
        ctx: Context[Any] | None,
        *,
        status: str = "paused",
        label: str = "",
        user_id: str | None = None,
    ) -> int:
        """Save the context of a run (one atomic write); return how often it has been written.

        Args:
            workflow: the workflow (or its name).
            run_id: the id to save under; keep using the first run's id across resumes.
            ctx: ``handler.ctx`` of the run.
            status: kept with the snapshot (``"paused"``, ``"running"``, ``"completed"``, ...):
                :meth:`aresume` refuses ``"completed"``, and ``"running"``/``"failed"``
                without ``force=True``.
            label: why it was saved (an event name, say).
            user_id: the user the run belongs to: it is linked to them first, so
                :meth:`alist_user_runs` lists it and ``agentmem.forget_user`` deletes it.

        Raises:
            SerializationError: the context cannot be snapshotted; nothing was written.
            InvalidInputError: a name, id, status or label is not valid text; nothing was written.
        """
        data = snapshot(ctx, self.serializer)
        name = workflow_name(workflow)
        return await self.store.asave(
            name, run_id, data, status=status, label=label, user_id=user_id
        )

    async def aload(self, workflow: Workflow, run_id: str) -> Context[Any]:
        """A context restored from the saved run, for inspection or ``workflow.run(ctx=...)``.

        This only reads: it neither checks nor changes the run's status. To continue a run use
        :meth:`aresume`, which makes sure only one caller continues it.

        Raises:
            NotFound: nothing is saved under that run id and workflow name.
            SerializationError: the snapshot does not fit this workflow.
        """
        saved = await self.store.aget(workflow_name(workflow), run_id)
        return self._restore(workflow, run_id, saved)

    async def aresume(
        self,
        workflow: Workflow,
        run_id: str,
        *events: Event,
        force: bool = False,
        save_on: tuple[type[Event], ...] = (InputRequiredEvent,),
        user_id: str | None = None,
    ) -> ResumedRun:
        """Continue a saved run in ``workflow`` and send it ``events`` (a human's answer).

        The run moves to ``"running"`` in one atomic step, so no other caller can resume it
        meanwhile; its status then follows it (see :class:`ResumedRun`).

        Args:
            workflow: a workflow object of the class that saved the run.
            run_id: the id the run is saved under.
            *events: events to send once the run is restored.
            force: also resume a ``"running"`` run (only when you know the process running it is
                gone) or a ``"failed"`` one (retried from its last snapshot).
            save_on: events at which :meth:`ResumedRun.stream_events` saves the run.
            user_id: link the run's saves to this user (it already is if its first save was).

        Returns:
            The continued run: ``await`` it for the result, or stream it.

        Raises:
            InvalidInputError: one of ``events`` is not a workflow ``Event``.
            NotFound: nothing is saved under that run id and workflow name.
            RunStateError: the run is completed, or running/failed without ``force``.
            ConflictError: another caller resumed or saved it at the same moment.
            SerializationError: the snapshot does not fit this workflow.
        """
        name = workflow_name(workflow)
        for event in events:  # checked before the claim: a refused resume leaves the run as it was
            if not isinstance(event, Event):
                raise InvalidInputError(
                    f"aresume() sends workflow events, got {type(event).__name__}; pass e.g. "
                    "HumanResponseEvent(response=...). The run was not resumed."
                )
        saved = self._found(workflow, run_id, await self.store.aget(name, run_id))
        ctx = self._restore(workflow, run_id, saved)  # a bad snapshot is refused unclaimed
        # Only the caller whose claim moves the version it read wins; later ones are refused.
        claimed = await self.store.aclaim(name, run_id, force=force, expect_saves=saved.saves)
        try:
            handler = workflow.run(ctx=ctx)
            for event in events:
                handler.ctx.send_event(event)
        except BaseException:
            # The run never started here: give it back its status, so it can still be resumed.
            await self.store.asave(
                name,
                run_id,
                None,
                status=saved.status,
                label=saved.label,
                error=saved.error,
                expect_saves=claimed.saves,
            )
            raise
        tracker = Tracker(
            self, handler, name, run_id, saves=claimed.saves, status=RUNNING, user_id=user_id
        )
        return ResumedRun(tracker, save_on)

    async def alist_runs(self, workflow: Workflow | str) -> list[SavedRun]:
        """Saved runs of a workflow, most recently saved first (without snapshots)."""
        return await self.store.alist_runs(workflow_name(workflow))

    async def alist_user_runs(self, user_id: str) -> list[SavedRun]:
        """Saved runs of every workflow that were saved with this ``user_id``."""
        return await self.store.auser_runs(user_id)

    async def aget(self, workflow: Workflow | str, run_id: str) -> SavedRun | None:
        """A saved run with its snapshot (JSON bytes of ``Context.to_dict()``), or None."""
        return await self.store.aget(workflow_name(workflow), run_id)

    async def adelete(self, workflow: Workflow | str, run_id: str) -> bool:
        """Delete a saved run; True if it existed."""
        return await self.store.adelete(workflow_name(workflow), run_id)

    def checkpoint_events(
        self,
        handler: WorkflowHandler,
        workflow: Workflow | str,
        *,
        run_id: str | None = None,
        save_on: tuple[type[Event], ...] = (InputRequiredEvent,),
        save_completed: bool = True,
        user_id: str | None = None,
    ) -> AsyncIterator[Event]:
        """Stream a run's events, saving the run at each event of ``save_on`` and at its end.

        The snapshot is written *before* the event is yielded, so a consumer that stops at an
        ``InputRequiredEvent`` (and lets the process exit) can resume later. Saves are labelled
        with the event's class name and have status ``"paused"`` for input requests and
        ``"running"`` for other events; if the consumer goes on after a saved input request,
        the run is claimed back as ``"running"`` (or ``ConflictError`` is raised if another
        process resumed it meanwhile). When the run ends, before its ``StopEvent`` is yielded,
        the handler's result is awaited and the run saved as ``"completed"``, ``"failed"`` (with
        the error; ``await handler`` still raises it) or ``"cancelled"``.

        Args:
            handler: the handler returned by ``workflow.run(...)``.
            workflow: the workflow (or its name).
            run_id: the id to save under (default: ``handler.run_id``).
            save_on: event classes that trigger a save.
            save_completed: also save once the run ended.
            user_id: the user the run belongs to (see :meth:`asave`).

        Raises:
            ConflictError: another process resumed or saved the run; this copy was stopped.
        """
        tracker = Tracker(
            self,
            handler,
            workflow_name(workflow),
            run_id or handler.run_id,
            saves=None,
            status="",
            user_id=user_id,
        )
        return tracker.events(save_on, final=save_completed)

    # -- sync twins ------------------------------------------------------------------------------

    def save(
        self,
        workflow: Workflow | str,
        run_id: str,
        ctx: Context[Any] | None,
        *,
        status: str = "paused",
        label: str = "",
        user_id: str | None = None,
    ) -> int:
        """Sync twin of :meth:`asave` (sync Redis client)."""
        data = snapshot(ctx, self.serializer)
        name = workflow_name(workflow)
        return self.store.save(name, run_id, data, status=status, label=label, user_id=user_id)

    def load(self, workflow: Workflow, run_id: str) -> Context[Any]:
        """Sync twin of :meth:`aload`."""
        return self._restore(workflow, run_id, self.store.get(workflow_name(workflow), run_id))

    def list_runs(self, workflow: Workflow | str) -> list[SavedRun]:
        """Sync twin of :meth:`alist_runs`."""
        return self.store.list_runs(workflow_name(workflow))

    def list_user_runs(self, user_id: str) -> list[SavedRun]:
        """Sync twin of :meth:`alist_user_runs`."""
        return self.store.user_runs(user_id)

    def get(self, workflow: Workflow | str, run_id: str) -> SavedRun | None:
        """Sync twin of :meth:`aget`."""
        return self.store.get(workflow_name(workflow), run_id)

    def delete(self, workflow: Workflow | str, run_id: str) -> bool:
        """Sync twin of :meth:`adelete`."""
        return self.store.delete(workflow_name(workflow), run_id)

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close this object, and the ``AgentMem`` if this object created it. Idempotent."""
        self.store.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await self.store.aclose()
