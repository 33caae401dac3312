"""LlamaIndex workflow runs saved to real Redis and resumed by fresh workflow objects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

from agentmem import AgentMem, AgentMemSettings, NotFound, SerializationError
from llamaindex_agentmem import AgentMemWorkflowCheckpointer


class Drafted(Event):
    draft: str


class Reviewed(Event):
    verdict: str


class Progress(Event):
    """Published to the event stream by steps (internal step events are not streamed)."""

    stage: str


class ApprovalFlow(Workflow):
    """draft -> ask a human -> review -> publish: four steps with a pause in the middle."""

    @step
    async def draft(self, ctx: Context, ev: StartEvent) -> Drafted:
        await ctx.store.set("topic", ev.topic)
        await ctx.store.set("steps", ["draft"])
        ctx.write_event_to_stream(Progress(stage="drafted"))
        return Drafted(draft=f"draft about {ev.topic}")

    @step
    async def ask(self, ctx: Context, ev: Drafted) -> InputRequiredEvent:
        await ctx.store.set("draft", ev.draft)
        await ctx.store.set("steps", [*(await ctx.store.get("steps")), "ask"])
        return InputRequiredEvent(prefix=f"approve '{ev.draft}'?")

    @step
    async def review(self, ctx: Context, ev: HumanResponseEvent) -> Reviewed:
        await ctx.store.set("steps", [*(await ctx.store.get("steps")), "review"])
        ctx.write_event_to_stream(Progress(stage="reviewed"))
        return Reviewed(verdict=ev.response)

    @step
    async def publish(self, ctx: Context, ev: Reviewed) -> StopEvent:
        steps = [*(await ctx.store.get("steps")), "publish"]
        return StopEvent(
            result={"draft": await ctx.store.get("draft"), "verdict": ev.verdict, "steps": steps}
        )


def flow() -> ApprovalFlow:
    return ApprovalFlow(workflow_name="approval", timeout=20)


@pytest.fixture
async def amemory(redis_settings: AgentMemSettings, mem: AgentMem) -> AsyncIterator[AgentMem]:
    async with AgentMem(redis_settings) as memory:
        yield memory


async def pause(checkpointer: AgentMemWorkflowCheckpointer, **kw: Any) -> tuple[str, list[str]]:
    """Run until the input request, saving on the way; then drop the run like a dying process."""
    handler = flow().run(topic="redis")
    seen = []
    async for event in checkpointer.checkpoint_events(handler, "approval", **kw):
        seen.append(type(event).__name__)
        if isinstance(event, InputRequiredEvent):
            break
    await handler.cancel_run()
    return handler.run_id, seen


async def test_a_run_paused_for_input_finishes_in_a_fresh_workflow_from_redis(
    amemory: AgentMem, redis_settings: AgentMemSettings
) -> None:
    run_id, seen = await pause(AgentMemWorkflowCheckpointer(amemory))
    assert seen[-1] == "InputRequiredEvent"

    # Another process: new AgentMem, new checkpointer, new workflow object.
    async with AgentMem(redis_settings) as other:
        checkpointer = AgentMemWorkflowCheckpointer(other)
        [saved] = await checkpointer.alist_runs("approval")
        assert (saved.run_id, saved.status, saved.label) == (run_id, "paused", "InputRequiredEvent")
        handler = await checkpointer.aresume(flow(), run_id, HumanResponseEvent(response="yes"))
        result = await handler
        assert result == {
            "draft": "draft about redis",
            "verdict": "yes",
            "steps": ["draft", "ask", "review", "publish"],
        }
        await checkpointer.asave("approval", run_id, handler.ctx, status="completed")
        [done] = await checkpointer.alist_runs("approval")
        assert (done.status, done.saves) == ("completed", 2)
        assert await checkpointer.adelete("approval", run_id)
        assert await checkpointer.alist_runs("approval") == []
        assert not await checkpointer.adelete("approval", run_id)


async def test_chosen_step_events_and_completion_are_saved(amemory: AgentMem) -> None:
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    wf = flow()
    handler = wf.run(topic="events")
    statuses = []
    async for event in checkpointer.checkpoint_events(
        handler, wf, run_id="run-1", save_on=(Progress, InputRequiredEvent)
    ):
        saved = await checkpointer.aget(wf, "run-1")
        if isinstance(event, (Progress, InputRequiredEvent)):
            assert saved is not None
            statuses.append((saved.label, saved.status, saved.saves))
        if isinstance(event, InputRequiredEvent):
            handler.ctx.send_event(HumanResponseEvent(response="ok"))  # type: ignore[union-attr]
    final = await checkpointer.aget(wf, "run-1")
    assert final is not None
    assert (final.status, final.label) == ("completed", "completed")
    assert statuses == [
        ("Progress", "running", 1),
        ("InputRequiredEvent", "paused", 2),
        ("Progress", "running", 3),
    ]
    assert final.saves == 4
    assert (await handler)["verdict"] == "ok"


async def test_sync_twins_save_list_load_and_delete(amemory: AgentMem, mem: AgentMem) -> None:
    run_id, _ = await pause(AgentMemWorkflowCheckpointer(amemory), save_completed=False)
    sync = AgentMemWorkflowCheckpointer(mem)
    assert [r.run_id for r in sync.list_runs("approval")] == [run_id]
    ctx = sync.load(flow(), run_id)
    wf = flow()
    handler = wf.run(ctx=ctx)
    handler.ctx.send_event(HumanResponseEvent(response="sync"))  # type: ignore[union-attr]
    assert (await handler)["verdict"] == "sync"
    assert sync.save(wf, run_id, handler.ctx, status="completed") == 2
    saved = sync.get("approval", run_id)
    assert saved is not None
    assert saved.data is not None
    assert b'"state"' in saved.data
    assert sync.delete("approval", run_id)
    with pytest.raises(NotFound, match="list_runs"):
        sync.load(flow(), run_id)


async def test_saved_runs_expire_with_the_ttl(amemory: AgentMem) -> None:
    checkpointer = AgentMemWorkflowCheckpointer(amemory, ttl=0.3)
    run_id, _ = await pause(checkpointer)
    assert [r.run_id for r in await checkpointer.alist_runs("approval")] == [run_id]
    deadline = time.monotonic() + 5
    while await checkpointer.aget("approval", run_id) is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await checkpointer.aget("approval", run_id) is None
    assert await checkpointer.alist_runs("approval") == []
    with pytest.raises(NotFound):
        await checkpointer.aload(flow(), run_id)


@pytest.mark.parametrize("name", ["wf:{x}*", "工作流 🧵", "n" * 10_000])
async def test_hostile_workflow_names_and_run_ids_stay_apart(amemory: AgentMem, name: str) -> None:
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    wf = flow()
    handler = wf.run(topic="x")
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            await checkpointer.asave(name, "{run}:1", handler.ctx)
            await checkpointer.asave(name + "x", "{run}:1", handler.ctx)
            await checkpointer.asave(name, "{run}:2", handler.ctx)
            break
    await handler.cancel_run()
    assert sorted(r.run_id for r in await checkpointer.alist_runs(name)) == ["{run}:1", "{run}:2"]
    assert [r.run_id for r in await checkpointer.alist_runs(name + "x")] == ["{run}:1"]


async def test_a_broken_snapshot_raises_a_typed_error(amemory: AgentMem) -> None:
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    await checkpointer._aruns.save("approval", "bad", b"{not json")
    with pytest.raises(SerializationError, match="cannot be restored"):
        await checkpointer.aload(flow(), "bad")
    with pytest.raises(Exception, match="has no context"):
        await checkpointer.asave("approval", "none", None)
    assert [r.run_id for r in await checkpointer.alist_runs("approval")] == ["bad"]


async def test_a_run_saved_at_a_progress_event_is_recovered_after_a_crash(
    amemory: AgentMem,
) -> None:
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    handler = flow().run(topic="crash")
    async for event in checkpointer.checkpoint_events(
        handler, "approval", run_id="crashy", save_on=(Progress,)
    ):
        if isinstance(event, Progress):
            break  # the process "dies" right after the first step reported progress
    await handler.cancel_run()
    [saved] = await checkpointer.alist_runs("approval")
    assert (saved.status, saved.label) == ("running", "Progress")

    recovered = await checkpointer.aresume(flow(), "crashy")
    async for event in recovered.stream_events():
        if isinstance(event, InputRequiredEvent):
            recovered.ctx.send_event(HumanResponseEvent(response="after crash"))  # type: ignore[union-attr]
    result = await recovered
    assert result["verdict"] == "after crash"
    assert result["steps"] == ["draft", "ask", "review", "publish"]
