"""Durable LlamaIndex workflow runs on plain Redis: :class:`AgentMemWorkflowCheckpointer`.

LlamaIndex workflows can snapshot a run with ``handler.ctx.to_dict()`` and continue it with
``Context.from_dict(workflow, data)``, but ship no place to keep the snapshot. This class saves it
under (workflow name, run id) in Redis at the moments you choose (an ``InputRequiredEvent``, other
step events, completion), lists and deletes saved runs, and restores a run into a fresh workflow
object, even in another process, so it can finish.

Workflows are async-native, so the async methods are the main API; ``save``/``load``/``list_runs``/
``delete`` are sync twins on the sync Redis client (for scripts and admin tools).

Example:
    >>> checkpointer = AgentMemWorkflowCheckpointer(ttl=7 * 86400)
    >>> handler = workflow.run(topic="redis")
    >>> async for event in checkpointer.checkpoint_events(handler, workflow):
    ...     if isinstance(event, InputRequiredEvent):
    ...         break                                  # the run is saved; the process may exit
    >>> handler = await checkpointer.aresume(AnotherWorkflowObject(), run_id,
    ...                                      HumanResponseEvent(response="yes"))
    >>> result = await handler
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
from agentmem.errors import InvalidInputError, NotFound, SerializationError
from agentmem.runs import AsyncRunStore, RunStore, SavedRun

__all__ = ["AgentMemWorkflowCheckpointer", "SavedRun"]


def _name(workflow: Workflow | str) -> str:
    name = workflow if isinstance(workflow, str) else workflow.workflow_name
    if not isinstance(name, str) or not name:
        raise InvalidInputError("the workflow needs a name: pass Workflow(workflow_name=...)")
    return name


class AgentMemWorkflowCheckpointer:
    """Saves, lists, deletes and restores LlamaIndex workflow runs in Redis.

    Args:
        memory: the :class:`agentmem.AgentMem` to use (borrowed, never closed). ``None`` builds
            ``AgentMem()`` from ``AGENTMEM_*`` environment variables, owned and closed by
            :meth:`close` / :meth:`aclose`.
        ttl: expiry of a saved run (seconds or timedelta), reset by each save. ``None``: saved
            runs stay until deleted.
        serializer: the workflows serializer for the context's state (default: the workflow's
            own, usually ``JsonSerializer``); use the same one to save and to restore.

    Raises:
        InvalidInputError: ``ttl`` is out of range.
    """

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        ttl: float | timedelta | None = None,
        serializer: BaseSerializer | None = None,
    ) -> None:
        self._owns = memory is None
        self.memory = memory if memory is not None else AgentMem()
        self.serializer = serializer
        self._runs = RunStore(self.memory, ttl=ttl)
        self._aruns = AsyncRunStore(self.memory, ttl=ttl)

    def __repr__(self) -> str:
        return f"AgentMemWorkflowCheckpointer({self._runs!r})"

    # -- encoding --------------------------------------------------------------------------------

    def _snapshot(self, ctx: Context[Any] | None) -> bytes:
        if ctx is None:
            raise InvalidInputError("the handler has no context yet; save after the run started")
        try:
            data = ctx.to_dict(self.serializer)
            return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        except Exception as exc:  # to_dict raises ContextStateError, serializer errors, ...
            raise SerializationError(
                f"the workflow context cannot be saved ({type(exc).__name__}: {exc}); save from "
                "the handler side (not inside a step), and keep the state JSON-serializable or "
                "pass a serializer that handles it. Nothing was written."
            ) from exc

    def _restore(self, workflow: Workflow, run_id: str, saved: SavedRun | None) -> Context[Any]:
        if saved is None or saved.data is None:
            raise NotFound(
                f"no saved run {run_id!r} of workflow {_name(workflow)!r}; list_runs() shows "
                "what is saved (a run with a TTL may have expired)"
            )
        try:
            return Context.from_dict(workflow, json.loads(saved.data), self.serializer)
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
        """Save the context of a run (one atomic write); return how often it has been saved.

        Args:
            workflow: the workflow (or its name).
            run_id: the id to save under; keep using the first run's id across resumes.
            ctx: ``handler.ctx`` of the run.
            status: free text kept with the snapshot (``"paused"``, ``"running"``, ``"completed"``).
            label: why it was saved (an event name, say).
            user_id: the user the run belongs to: it is linked to them first, so
                :meth:`alist_user_runs` lists it and ``agentmem.forget_user`` deletes it.

        Raises:
            SerializationError: the context cannot be snapshotted; nothing was written.
        """
        data = self._snapshot(ctx)
        return await self._aruns.save(
            _name(workflow), run_id, data, status=status, label=label, user_id=user_id
        )

    async def aload(self, workflow: Workflow, run_id: str) -> Context[Any]:
        """A context restored from the saved run, for ``workflow.run(ctx=...)``.

        Raises:
            NotFound: nothing is saved under that run id.
            SerializationError: the snapshot does not fit this workflow.
        """
        return self._restore(workflow, run_id, await self._aruns.get(_name(workflow), run_id))

    async def aresume(self, workflow: Workflow, run_id: str, *events: Event) -> WorkflowHandler:
        """Restore a saved run into ``workflow``, start it, and send ``events`` (a human's answer).

        Returns:
            The handler of the continued run; await it for the result.
        """
        ctx = await self.aload(workflow, run_id)
        handler = workflow.run(ctx=ctx)
        for event in events:
            handler.ctx.send_event(event)
        return handler

    async def alist_runs(self, workflow: Workflow | str) -> list[SavedRun]:
        """Saved runs of a workflow, most recently saved first (without snapshots)."""
        return await self._aruns.list_runs(_name(workflow))

    async def alist_user_runs(self, user_id: str) -> list[SavedRun]:
        """Saved runs of every workflow that were saved with this ``user_id``."""
        return await self._aruns.user_runs(user_id)

    async def aget(self, workflow: Workflow | str, run_id: str) -> SavedRun | None:
        """A saved run with its snapshot (JSON bytes of ``Context.to_dict()``), or None."""
        return await self._aruns.get(_name(workflow), run_id)

    async def adelete(self, workflow: Workflow | str, run_id: str) -> bool:
        """Delete a saved run; True if it existed."""
        return await self._aruns.delete(_name(workflow), run_id)

    async def checkpoint_events(
        self,
        handler: WorkflowHandler,
        workflow: Workflow | str,
        *,
        run_id: str | None = None,
        save_on: tuple[type[Event], ...] = (InputRequiredEvent,),
        save_completed: bool = True,
        user_id: str | None = None,
    ) -> AsyncIterator[Event]:
        """Stream a run's events, saving the run at each event of ``save_on`` and at the end.

        The snapshot is written *before* the event is yielded, so a consumer that stops at an
        ``InputRequiredEvent`` (and lets the process exit) can resume later. Saves are labelled
        with the event's class name and have status ``"paused"`` for input requests,
        ``"running"`` for other events and ``"completed"`` at the end.

        Args:
            handler: the handler returned by ``workflow.run(...)``.
            workflow: the workflow (or its name).
            run_id: the id to save under (default: ``handler.run_id``).
            save_on: event classes that trigger a save.
            save_completed: also save once the run finished.
            user_id: the user the run belongs to (see :meth:`asave`).
        """
        rid = run_id or handler.run_id
        async for event in handler.stream_events():
            if isinstance(event, save_on):
                paused = isinstance(event, InputRequiredEvent)
                await self.asave(
                    workflow,
                    rid,
                    handler.ctx,
                    status="paused" if paused else "running",
                    label=type(event).__name__,
                    user_id=user_id,
                )
            yield event
        if save_completed and handler.done() and not handler.cancelled():
            await handler
            await self.asave(
                workflow, rid, handler.ctx, status="completed", label="completed", user_id=user_id
            )

    async def aclose(self) -> None:
        """Close every client of the ``AgentMem`` if this object created it."""
        if self._owns:
            await self.memory.aclose()

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
        data = self._snapshot(ctx)
        return self._runs.save(
            _name(workflow), run_id, data, status=status, label=label, user_id=user_id
        )

    def load(self, workflow: Workflow, run_id: str) -> Context[Any]:
        """Sync twin of :meth:`aload`."""
        return self._restore(workflow, run_id, self._runs.get(_name(workflow), run_id))

    def list_runs(self, workflow: Workflow | str) -> list[SavedRun]:
        """Sync twin of :meth:`alist_runs`."""
        return self._runs.list_runs(_name(workflow))

    def list_user_runs(self, user_id: str) -> list[SavedRun]:
        """Sync twin of :meth:`alist_user_runs`."""
        return self._runs.user_runs(user_id)

    def get(self, workflow: Workflow | str, run_id: str) -> SavedRun | None:
        """Sync twin of :meth:`aget`."""
        return self._runs.get(_name(workflow), run_id)

    def delete(self, workflow: Workflow | str, run_id: str) -> bool:
        """Sync twin of :meth:`adelete`."""
        return self._runs.delete(_name(workflow), run_id)

    def close(self) -> None:
        """Close the sync clients of the ``AgentMem`` if this object created it."""
        if self._owns:
            self.memory.close()
