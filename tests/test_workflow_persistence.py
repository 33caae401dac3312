"""LlamaIndex workflow runs saved to real Redis and resumed by fresh workflow objects.

A run's saved status follows it (paused, running, completed, failed, cancelled), and a paused run
is continued exactly once: by concurrent resumers in one process or in several, and never again
once it completed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

from agentmem import (
    AgentMem,
    AgentMemSettings,
    ClosedError,
    ConflictError,
    InvalidInputError,
    NotFound,
    RunStateError,
    SerializationError,
)
from agentmem.runs import RunStore
from llamaindex_agentmem import AgentMemWorkflowCheckpointer, ResumedRun
from tests.support import use_redis_env


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


class Questions(Workflow):
    """Asks ``n`` questions; ``human`` records every run of the human step (in any copy)."""

    def __init__(self, human: list[str], n: int = 1, **kw: Any) -> None:
        super().__init__(timeout=20, **kw)
        self.human, self.n = human, n

    @step
    async def first(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("answers", [])
        return InputRequiredEvent(prefix="question 1?")

    @step
    async def answer(self, ctx: Context, ev: HumanResponseEvent) -> InputRequiredEvent | StopEvent:
        self.human.append(ev.response)
        if ev.response == "boom":
            raise ValueError("refund system down")
        answers = [*(await ctx.store.get("answers")), ev.response]
        await ctx.store.set("answers", answers)
        if len(answers) < self.n:
            return InputRequiredEvent(prefix=f"question {len(answers) + 1}?")
        return StopEvent(result=answers)


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


async def ask(checkpointer: AgentMemWorkflowCheckpointer, wf: Workflow, run_id: str) -> None:
    """Start ``wf`` and stop at its first input request, saved as paused under ``run_id``."""
    handler = wf.run()
    async for event in checkpointer.checkpoint_events(handler, wf, run_id=run_id):
        if isinstance(event, InputRequiredEvent):
            break
    await handler.cancel_run()


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
        run = await checkpointer.aresume(flow(), run_id, HumanResponseEvent(response="yes"))
        result = await run
        assert result == {
            "draft": "draft about redis",
            "verdict": "yes",
            "steps": ["draft", "ask", "review", "publish"],
        }
        [done] = await checkpointer.alist_runs("approval")
        assert (done.status, done.label, done.saves) == ("completed", "completed", 3)
        assert await checkpointer.adelete("approval", run_id)
        assert await checkpointer.alist_runs("approval") == []
        assert not await checkpointer.adelete("approval", run_id)


async def test_a_run_that_ends_while_streamed_is_saved_completed_and_never_resumed(
    amemory: AgentMem,
) -> None:
    checkpointer, human = AgentMemWorkflowCheckpointer(amemory), []
    wf = Questions(human)
    handler = wf.run()
    async for event in checkpointer.checkpoint_events(handler, wf, run_id="r"):
        if isinstance(event, InputRequiredEvent):
            handler.ctx.send_event(HumanResponseEvent(response="approved"))
    # The stream has ended: the run is saved as completed, not left "paused".
    saved = await checkpointer.aget(wf, "r")
    assert saved is not None
    assert (saved.status, saved.label) == ("completed", "completed")
    assert await handler == ["approved"]
    for force in (False, True):
        with pytest.raises(RunStateError, match="'completed'") as caught:
            await checkpointer.aresume(
                Questions(human), "r", HumanResponseEvent(response="rejected"), force=force
            )
        assert caught.value.status == "completed"
    assert human == ["approved"]  # the human step ran once


async def test_a_consumer_that_stops_at_the_stop_event_still_gets_the_run_saved(
    amemory: AgentMem,
) -> None:
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    wf = Questions([])
    handler = wf.run()
    async for event in checkpointer.checkpoint_events(handler, wf, run_id="r"):
        if isinstance(event, InputRequiredEvent):
            handler.ctx.send_event(HumanResponseEvent(response="ok"))
        if isinstance(event, StopEvent):
            break
    saved = await checkpointer.aget(wf, "r")
    assert saved is not None
    assert saved.status == "completed"


async def test_a_failed_run_is_saved_failed_with_its_error_and_retried_only_with_force(
    amemory: AgentMem,
) -> None:
    checkpointer, human = AgentMemWorkflowCheckpointer(amemory), []
    wf = Questions(human)
    handler = wf.run()
    paused_data = None
    async for event in checkpointer.checkpoint_events(handler, wf, run_id="r"):
        if isinstance(event, InputRequiredEvent):
            paused = await checkpointer.aget(wf, "r")
            assert paused is not None
            paused_data = paused.data
            handler.ctx.send_event(HumanResponseEvent(response="boom"))
    with pytest.raises(ValueError, match="refund system down"):
        await handler  # the stream did not swallow the error for the caller
    saved = await checkpointer.aget(wf, "r")
    assert saved is not None
    assert (saved.status, saved.label) == ("failed", "ValueError")
    assert saved.error == "ValueError: refund system down"
    assert saved.data == paused_data  # the last good snapshot is kept, to retry from

    with pytest.raises(RunStateError, match="force=True"):
        await checkpointer.aresume(Questions(human), "r", HumanResponseEvent(response="yes"))
    run = await checkpointer.aresume(
        Questions(human), "r", HumanResponseEvent(response="yes"), force=True
    )
    assert await run == ["yes"]
    assert human == ["boom", "yes"]
    saved = await checkpointer.aget(wf, "r")
    assert saved is not None
    assert (saved.status, saved.error) == ("completed", "")


async def test_a_resumed_run_that_fails_is_saved_failed_and_raises(amemory: AgentMem) -> None:
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    await ask(checkpointer, Questions([]), "r")
    run = await checkpointer.aresume(Questions([]), "r", HumanResponseEvent(response="boom"))
    with pytest.raises(ValueError, match="refund system down"):
        await run
    saved = await checkpointer.aget("Questions", "r")
    assert saved is not None
    assert (saved.status, saved.error) == ("failed", "ValueError: refund system down")


async def test_a_resumed_run_status_follows_it_to_the_next_pause_and_to_the_end(
    amemory: AgentMem, redis_settings: AgentMemSettings
) -> None:
    human: list[str] = []
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    await ask(checkpointer, Questions(human, n=2), "r")
    [saved] = await checkpointer.alist_runs("Questions")
    assert saved.status == "paused"

    async with AgentMem(redis_settings) as other:
        elsewhere = AgentMemWorkflowCheckpointer(other)
        run = await elsewhere.aresume(Questions(human, n=2), "r", HumanResponseEvent(response="a"))
        assert isinstance(run, ResumedRun)
        now = await elsewhere.aget("Questions", "r")
        assert now is not None
        assert (now.status, now.label) == ("running", "resumed")
        async for event in run.stream_events():
            if isinstance(event, InputRequiredEvent):
                break  # asked again: this process goes away
        await run.cancel_run()
        again = await elsewhere.aget("Questions", "r")
        assert again is not None
        assert (again.status, again.label) == ("paused", "InputRequiredEvent")

    run = await checkpointer.aresume(Questions(human, n=2), "r", HumanResponseEvent(response="b"))
    assert await run == ["a", "b"]
    assert run.status == "completed"
    [done] = await checkpointer.alist_runs("Questions")
    assert done.status == "completed"
    assert human == ["a", "b"]


async def test_concurrent_resumes_of_one_paused_run_run_the_human_step_once(
    amemory: AgentMem, redis_settings: AgentMemSettings
) -> None:
    human: list[str] = []
    await ask(AgentMemWorkflowCheckpointer(amemory), Questions(human), "r")
    mems = [AgentMem(redis_settings) for _ in range(8)]
    try:

        async def resume(i: int) -> Any:
            checkpointer = AgentMemWorkflowCheckpointer(mems[i])
            run = await checkpointer.aresume(
                Questions(human), "r", HumanResponseEvent(response=f"answer {i}")
            )
            return await run

        outcomes = await asyncio.gather(*(resume(i) for i in range(8)), return_exceptions=True)
    finally:
        for m in mems:
            await m.aclose()
    won = [o for o in outcomes if isinstance(o, list)]
    refused = [o for o in outcomes if isinstance(o, ConflictError)]
    assert len(won) == 1, outcomes
    assert len(refused) == 7, outcomes  # RunStateError is a ConflictError
    assert human == won[0]  # exactly one human step ran, the winner's
    saved = await AgentMemWorkflowCheckpointer(amemory).aget("Questions", "r")
    assert saved is not None
    assert saved.status == "completed"


async def test_a_process_that_goes_on_after_a_saved_pause_loses_to_a_resume_elsewhere(
    amemory: AgentMem, redis_settings: AgentMemSettings
) -> None:
    human: list[str] = []
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    wf = Questions(human)
    handler = wf.run()
    with pytest.raises(ConflictError, match="written by someone else"):
        async for event in checkpointer.checkpoint_events(handler, wf, run_id="r"):
            if isinstance(event, InputRequiredEvent):
                async with AgentMem(redis_settings) as other:  # resumed elsewhere meanwhile
                    run = await AgentMemWorkflowCheckpointer(other).aresume(
                        Questions(human), "r", HumanResponseEvent(response="elsewhere")
                    )
                    assert await run == ["elsewhere"]
    assert human == ["elsewhere"]  # this copy was stopped before its human step
    saved = await checkpointer.aget(wf, "r")
    assert saved is not None
    assert saved.status == "completed"


async def test_a_process_that_goes_on_after_a_saved_pause_claims_the_run_back(
    amemory: AgentMem,
) -> None:
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    wf = ApprovalFlow(workflow_name="approval", timeout=20)
    handler = wf.run(topic="events")
    statuses = []
    async for event in checkpointer.checkpoint_events(
        handler, wf, run_id="run-1", save_on=(Progress, InputRequiredEvent)
    ):
        saved = await checkpointer.aget(wf, "run-1")
        assert saved is not None
        statuses.append((type(event).__name__, saved.status, saved.label, saved.saves))
        if isinstance(event, InputRequiredEvent):
            handler.ctx.send_event(HumanResponseEvent(response="ok"))
    assert statuses == [
        ("Progress", "running", "Progress", 1),
        ("InputRequiredEvent", "paused", "InputRequiredEvent", 2),
        ("Progress", "running", "Progress", 4),  # 3: claimed back as "continued"
        ("StopEvent", "completed", "completed", 5),
    ]
    assert (await handler)["verdict"] == "ok"


async def test_a_run_saved_at_a_progress_event_is_recovered_after_a_crash_with_force(
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

    with pytest.raises(RunStateError, match="force=True only if you know"):
        await checkpointer.aresume(flow(), "crashy")  # someone may still be running it
    recovered = await checkpointer.aresume(flow(), "crashy", force=True)
    async for event in recovered.stream_events():
        if isinstance(event, InputRequiredEvent):
            recovered.send_event(HumanResponseEvent(response="after crash"))
    result = await recovered
    assert result["verdict"] == "after crash"
    assert result["steps"] == ["draft", "ask", "review", "publish"]


async def test_a_resumed_run_cancelled_without_a_pause_is_saved_cancelled_and_resumable(
    amemory: AgentMem,
) -> None:
    checkpointer, human = AgentMemWorkflowCheckpointer(amemory), []
    await ask(checkpointer, Questions(human), "r")
    run = await checkpointer.aresume(Questions(human), "r")  # no answer sent
    await run.cancel_run()
    saved = await checkpointer.aget("Questions", "r")
    assert saved is not None
    assert saved.status == "cancelled"
    run = await checkpointer.aresume(Questions(human), "r", HumanResponseEvent(response="later"))
    assert await run == ["later"]


class RunRefused(Questions):
    """A workflow whose run cannot start (its runtime refuses it, say)."""

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("runtime unavailable")


async def test_a_resume_that_cannot_start_leaves_the_run_resumable(amemory: AgentMem) -> None:
    checkpointer, human = AgentMemWorkflowCheckpointer(amemory), []
    await ask(checkpointer, Questions(human), "r")
    with pytest.raises(InvalidInputError, match="HumanResponseEvent"):
        await checkpointer.aresume(Questions(human), "r", "yes")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="runtime unavailable"):
        refused = RunRefused(human, workflow_name="Questions")
        await checkpointer.aresume(refused, "r", HumanResponseEvent(response="x"))
    saved = await checkpointer.aget("Questions", "r")
    assert saved is not None
    assert (saved.status, saved.label) == ("paused", "InputRequiredEvent")
    run = await checkpointer.aresume(Questions(human), "r", HumanResponseEvent(response="yes"))
    assert await run == ["yes"]
    assert human == ["yes"]


# -- names: a workflow defined in a script resumes from a module that imports it ----------------

SCRIPT = '''
"""Pauses a workflow whose class is __main__.Approval here, script.Approval where imported."""
import asyncio
import sys

from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

from agentmem import AgentMem
from llamaindex_agentmem import AgentMemWorkflowCheckpointer


class Approval(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("amount", ev.amount)
        return InputRequiredEvent(prefix="approve?")

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        print(f"human step ran: {ev.response}", flush=True)
        return StopEvent(result=f"{await ctx.store.get('amount')} {ev.response}")


async def pause(run_id: str) -> None:
    async with AgentMem() as mem:
        runs, wf = AgentMemWorkflowCheckpointer(mem), Approval(timeout=30)
        handler = wf.run(amount=42)
        async for event in runs.checkpoint_events(handler, wf, run_id=run_id):
            if isinstance(event, InputRequiredEvent):
                break
        await handler.cancel_run()
        print(f"paused {type(wf).__module__}.{type(wf).__name__}", flush=True)


if __name__ == "__main__":
    asyncio.run(pause(sys.argv[1]))
'''

RESUMER = """
import asyncio
import sys
from pathlib import Path

from workflows.events import HumanResponseEvent

from agentmem import AgentMem, ConflictError
from llamaindex_agentmem import AgentMemWorkflowCheckpointer
from script import Approval  # the class the other process ran as __main__.Approval


async def main(run_id: str, answer: str, go: Path) -> None:
    async with AgentMem() as mem:
        runs = AgentMemWorkflowCheckpointer(mem)
        print("ready", flush=True)
        while not go.exists():  # every resumer starts its resume at about the same moment
            await asyncio.sleep(0.01)
        try:
            run = await runs.aresume(Approval(timeout=30), run_id, HumanResponseEvent(response=answer))
        except ConflictError as exc:
            print(f"refused: {type(exc).__name__}", flush=True)
            return
        print(f"result: {await run}", flush=True)


asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
"""


def _env(settings: AgentMemSettings, root: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEM_")}
    return {
        **inherited,
        "PYTHONPATH": os.pathsep.join([str(root), str(Path(__file__).resolve().parents[1])]),
        "AGENTMEM_REDIS_URL": settings.redis.url,
        "AGENTMEM_KEY_PREFIX": settings.key_prefix,
        "AGENTMEM_LOCAL_AUTOSTART": "0",
        "AGENTMEM_REDIS_CLUSTER": "1" if settings.redis.cluster else "0",
    }


@pytest.mark.timeout(240)  # three Python processes that each import LlamaIndex
def test_a_workflow_of_a_script_is_resumed_once_by_processes_that_import_it(
    tmp_path: Path, redis_settings: AgentMemSettings, mem: AgentMem
) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    (tmp_path / "resumer.py").write_text(RESUMER)
    env = _env(redis_settings, tmp_path)
    paused = subprocess.run(
        [sys.executable, str(tmp_path / "script.py"), "run-1"],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.strip() == "paused __main__.Approval"

    go = tmp_path / "go"
    resumers = [
        subprocess.Popen(
            [sys.executable, str(tmp_path / "resumer.py"), "run-1", f"answer-{i}", str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for i in range(2)
    ]
    try:
        for p in resumers:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready", p.stderr.read() if p.stderr else ""
        go.touch()
        outs = []
        for p in resumers:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outs.append(out)
    finally:
        for p in resumers:
            if p.poll() is None:
                p.kill()
    lines = [line for out in outs for line in out.splitlines()]
    ran = [line for line in lines if line.startswith("human step ran: ")]
    assert len(ran) == 1, lines  # one resumer ran the human step, the others were refused
    answer = ran[0].removeprefix("human step ran: ")
    refused = [line for line in lines if line.startswith("refused: ")]
    assert sorted(lines) == sorted([*ran, f"result: 42 {answer}", *refused]), lines
    assert len(refused) == 1, lines
    assert set(refused) <= {"refused: RunStateError", "refused: ConflictError"}, lines
    saved = RunStore(mem).get("Approval", "run-1")
    assert saved is not None
    assert saved.status == "completed"


async def test_a_run_saved_under_another_name_is_not_found_and_the_error_says_workflow_name(
    amemory: AgentMem,
) -> None:
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    await ask(checkpointer, Questions([]), "r")
    assert [r.run_id for r in await checkpointer.alist_runs("Questions")] == ["r"]
    renamed = Questions([], workflow_name="questions-v2")
    with pytest.raises(NotFound, match=r"workflow_name=") as caught:
        await checkpointer.aresume(renamed, "r")
    assert "'questions-v2'" in str(caught.value)
    # An explicit name is used as given, and the default is the class's own name.
    await ask(checkpointer, renamed, "r2")
    assert [r.run_id for r in await checkpointer.alist_runs("questions-v2")] == ["r2"]


# -- the rest of the surface ---------------------------------------------------------------------


async def test_sync_twins_save_list_load_and_delete(amemory: AgentMem, mem: AgentMem) -> None:
    run_id, _ = await pause(AgentMemWorkflowCheckpointer(amemory), save_completed=False)
    sync = AgentMemWorkflowCheckpointer(mem)
    assert [r.run_id for r in sync.list_runs("approval")] == [run_id]
    ctx = sync.load(flow(), run_id)
    wf = flow()
    handler = wf.run(ctx=ctx)
    handler.ctx.send_event(HumanResponseEvent(response="sync"))
    assert (await handler)["verdict"] == "sync"
    assert sync.save(wf, run_id, handler.ctx, status="completed") == 2
    saved = sync.get("approval", run_id)
    assert saved is not None
    assert saved.data is not None
    assert b'"state"' in saved.data
    assert sync.delete("approval", run_id)
    with pytest.raises(NotFound, match="list_runs"):
        sync.load(flow(), run_id)


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_run_store_claims_a_run_once_and_compares_before_writing(
    mem: AgentMem, flavour: str
) -> None:
    runs = RunStore(mem)

    async def call(name: str, *args: Any, **kw: Any) -> Any:
        if flavour == "sync":
            return getattr(runs, name)(*args, **kw)
        return await getattr(runs, "a" + name)(*args, **kw)

    assert await call("save", "wf", "r", b"snap", status="paused", label="ask") == 1
    claimed = await call("claim", "wf", "r")
    assert (claimed.status, claimed.label, claimed.saves, claimed.data) == (
        "running", "resumed", 2, b"snap",
    )  # fmt: skip
    with pytest.raises(RunStateError, match="'running'"):
        await call("claim", "wf", "r")
    with pytest.raises(ConflictError, match="someone else"):
        await call("save", "wf", "r", b"late", status="paused", expect_saves=1)
    assert await call("save", "wf", "r", None, status="failed", error="E: x", expect_saves=2) == 3
    got = await call("get", "wf", "r")
    assert (got.status, got.error, got.data) == ("failed", "E: x", b"snap")  # snapshot kept
    with pytest.raises(NotFound):
        await call("claim", "wf", "nothing")
    with pytest.raises(NotFound, match="pass the snapshot"):
        await call("save", "wf", "nothing", None, status="failed")
    # list_runs orders by the server's clock in ms: the newest save must be a later ms.
    await asyncio.sleep(0.005)
    assert await call("save", "wf", "fresh", b"x", expect_saves=0) == 1
    with pytest.raises(ConflictError):
        await call("save", "wf", "fresh", b"y", expect_saves=0)
    assert [r.run_id for r in await call("list_runs", "wf")] == ["fresh", "r"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("label", "\ud800"), ("status", "x\udfff"), ("run_id", "r\ud800"), ("workflow", "\udc00")],
)
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_lone_surrogate_anywhere_in_a_run_is_refused_before_any_write(
    mem: AgentMem, flavour: str, field: str, value: str
) -> None:
    runs = RunStore(mem)
    args: dict[str, Any] = {"workflow": "wf", "run_id": "r", "status": "paused", "label": "ask"}
    args[field] = value
    workflow, run_id = args.pop("workflow"), args.pop("run_id")
    with pytest.raises(InvalidInputError, match=r"(not valid Unicode|lone surrogates)"):
        if flavour == "sync":
            runs.save(workflow, run_id, b"{}", user_id="alice", **args)
        else:
            await runs.asave(workflow, run_id, b"{}", user_id="alice", **args)
    assert list(mem.redis().scan_iter(match=f"{mem.key_prefix}:*")) == []  # not even the link


async def test_a_lone_surrogate_in_a_checkpointer_label_is_a_typed_error(amemory: AgentMem) -> None:
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    handler = Questions([]).run()
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            with pytest.raises(InvalidInputError, match="label"):
                await checkpointer.asave("Questions", "r", handler.ctx, label="\ud800")
            with pytest.raises(InvalidInputError, match="label"):
                checkpointer.save("Questions", "r", handler.ctx, label="\ud800")
            break
    await handler.cancel_run()
    assert await checkpointer.alist_runs("Questions") == []


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


async def test_a_broken_snapshot_raises_a_typed_error_and_is_not_claimed(amemory: AgentMem) -> None:
    checkpointer = AgentMemWorkflowCheckpointer(amemory)
    await checkpointer.store.asave("approval", "bad", b"{not json", status="paused")
    with pytest.raises(SerializationError, match="cannot be restored"):
        await checkpointer.aload(flow(), "bad")
    with pytest.raises(SerializationError, match="cannot be restored"):
        await checkpointer.aresume(flow(), "bad")
    with pytest.raises(InvalidInputError, match="has no context"):
        await checkpointer.asave("approval", "none", None)
    [saved] = await checkpointer.alist_runs("approval")
    assert (saved.run_id, saved.status, saved.saves) == ("bad", "paused", 1)


async def test_the_checkpointer_takes_the_agentmem_first_and_closes_what_it_owns(
    amemory: AgentMem, redis_settings: AgentMemSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidInputError, match="first argument, memory, is the AgentMem"):
        AgentMemWorkflowCheckpointer("redis://localhost")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AgentMemWorkflowCheckpointer(amemory, 60)  # type: ignore[misc]
    with AgentMemWorkflowCheckpointer(amemory) as borrowed:
        assert borrowed.list_runs("approval") == []
    with pytest.raises(ClosedError):
        borrowed.list_runs("approval")
    assert RunStore(amemory).list_runs("approval") == []  # a borrowed AgentMem stays open
    async with AgentMemWorkflowCheckpointer(amemory) as checkpointer:
        assert await checkpointer.alist_runs("approval") == []
    with pytest.raises(ClosedError):
        await checkpointer.alist_runs("approval")
    use_redis_env(monkeypatch, redis_settings)
    async with AgentMemWorkflowCheckpointer(ttl=60) as owning:  # builds its AgentMem, owns it
        assert await owning.alist_runs("approval") == []
    with pytest.raises(ClosedError):
        owning.memory.redis()
