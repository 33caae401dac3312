"""Keep a saved run's status in step with the live run: :class:`ResumedRun` and its tracker.

One tracker follows one live handler. Every write it makes is a compare-and-set on the run's
number of writes (``expect_saves``), so once another process has taken the run over (a forced
resume), this process notices at its next write, stops its copy of the run and raises
``ConflictError`` instead of overwriting the other's progress.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING, Any

from workflows import Context
from workflows.errors import WorkflowCancelledByUser
from workflows.events import Event, InputRequiredEvent, StopEvent
from workflows.handler import WorkflowHandler

from agentmem.errors import ConflictError, InvalidInputError, SerializationError
from agentmem.runs import CANCELLED, COMPLETED, FAILED, PAUSED, RUNNING

if TYPE_CHECKING:
    from llamaindex_agentmem.workflows import AgentMemWorkflowCheckpointer

__all__ = ["ResumedRun", "Tracker", "snapshot"]

_MAX_ERROR = 2000  # characters of a failed run's error kept with it


def snapshot(ctx: Context[Any] | None, serializer: Any) -> bytes:
    """``ctx.to_dict()`` as compact JSON bytes.

    Raises:
        InvalidInputError: there is no context yet.
        SerializationError: the context cannot be serialized; nothing was written.
    """
    if ctx is None:
        raise InvalidInputError("the handler has no context yet; save after the run started")
    try:
        data = ctx.to_dict(serializer)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    except Exception as exc:  # to_dict raises ContextStateError, serializer errors, ...
        raise SerializationError(
            f"the workflow context cannot be saved ({type(exc).__name__}: {exc}); save from "
            "the handler side (not inside a step), and keep the state JSON-serializable or "
            "pass a serializer that handles it. Nothing was written."
        ) from exc


class Tracker:
    """Saves one live run at chosen events and once it ends (completed, failed or cancelled)."""

    def __init__(
        self,
        owner: AgentMemWorkflowCheckpointer,
        handler: WorkflowHandler,
        name: str,
        run_id: str,
        *,
        saves: int | None,
        status: str,
        user_id: str | None,
    ) -> None:
        self.owner, self.handler, self.name, self.run_id = owner, handler, name, run_id
        self.saves = saves  # the run's writes after this tracker's last one (None: none yet)
        self.status = status  # the status this tracker wrote last
        self.user_id = user_id
        self.finished = False

    async def save(
        self, status: str, label: str, *, keep_data: bool = False, error: str = ""
    ) -> None:
        """Write the run (compare-and-set on this tracker's last write)."""
        data = None if keep_data else snapshot(self.handler.ctx, self.owner.serializer)
        try:
            self.saves = await self.owner.store.asave(
                self.name,
                self.run_id,
                data,
                status=status,
                label=label,
                error=error[:_MAX_ERROR],
                user_id=self.user_id,
                expect_saves=self.saves,
            )
        except ConflictError:
            await self._stop()
            raise
        self.status = status

    async def go_on(self) -> None:
        """The consumer went on past a pause: this process continues the run (atomic claim)."""
        try:
            run = await self.owner.store.aclaim(
                self.name, self.run_id, expect_saves=self.saves, label="continued"
            )
        except ConflictError:
            await self._stop()
            raise
        self.saves, self.status = run.saves, RUNNING

    async def _stop(self) -> None:
        # Another process owns the run now: this copy must not go on (and run a step twice).
        self.finished = True
        await self.handler.cancel_run()

    async def events(self, save_on: tuple[type[Event], ...], final: bool) -> AsyncIterator[Event]:
        """The handler's events, saving at ``save_on`` (before yielding) and at the end."""
        async for event in self.handler.stream_events():
            if isinstance(event, StopEvent):
                if final:  # before the consumer sees the end (it may stop reading there)
                    await self.finish()
                yield event
                return
            saved, paused = isinstance(event, save_on), isinstance(event, InputRequiredEvent)
            if saved:
                await self.save(PAUSED if paused else RUNNING, type(event).__name__)
            yield event
            if saved and paused:  # saved as resumable, yet this process goes on: claim it back
                await self.go_on()
        if final:
            await self.finish()

    async def finish(self) -> None:
        """Wait for the run's end and save it as completed, failed or cancelled (once)."""
        if self.finished:
            return
        self.finished = True
        try:
            await self.handler
        except WorkflowCancelledByUser:
            if self.status != PAUSED:  # a cancel after a saved pause keeps the pause resumable
                await self.save(CANCELLED, "cancelled", keep_data=self.saves is not None)
            return
        except Exception as exc:  # the run failed: keep its last snapshot to retry from
            error = f"{type(exc).__name__}: {exc}"
            await self.save(
                FAILED, type(exc).__name__, keep_data=self.saves is not None, error=error
            )
            return
        await self.save(COMPLETED, "completed")


class ResumedRun:
    """A saved run continued in this process; its saved status follows it.

    Await it for the result: the run is then saved as ``"completed"`` (or ``"failed"`` with its
    error, which is raised). :meth:`stream_events` also saves it at each ``save_on`` event, as
    ``"paused"`` at an input request, so it can be resumed again, by any process.

    Attributes:
        handler: the LlamaIndex handler of the continued run (awaiting or streaming it directly
            does not update the saved status).
        run_id: the id the run is saved under.
        workflow_name: the name the run is saved under.
    """

    def __init__(self, tracker: Tracker, save_on: tuple[type[Event], ...]) -> None:
        self._tracker, self._save_on = tracker, save_on
        self.handler, self.run_id, self.workflow_name = (
            tracker.handler,
            tracker.run_id,
            tracker.name,
        )

    def __repr__(self) -> str:
        t = self._tracker
        return f"ResumedRun(workflow_name={t.name!r}, run_id={t.run_id!r}, status={t.status!r})"

    @property
    def ctx(self) -> Context[Any]:
        """The context of the continued run (``run.ctx.send_event(...)`` answers a request)."""
        return self.handler.ctx

    @property
    def status(self) -> str:
        """The status this process saved last (``"running"``, ``"paused"``, ``"completed"``...)."""
        return self._tracker.status

    def send_event(self, event: Event) -> None:
        """Send an event (a human's answer) into the run."""
        self.handler.ctx.send_event(event)

    def stream_events(self) -> AsyncIterator[Event]:
        """The run's events, saving it at each ``save_on`` event and when it ends.

        Raises:
            ConflictError: another process took the run over; this copy was stopped.
        """
        return self._tracker.events(self._save_on, final=True)

    async def cancel_run(self) -> None:
        """Cancel the run; unless it was saved paused, it is saved as ``"cancelled"``."""
        await self.handler.cancel_run()
        await self._tracker.finish()

    async def _result(self) -> Any:
        await self._tracker.finish()
        return await self.handler

    def __await__(self) -> Generator[Any, None, Any]:
        return self._result().__await__()
