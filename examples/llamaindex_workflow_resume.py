"""A LlamaIndex workflow pauses for a human, and another process resumes it from Redis.

The workflow asks for approval with an InputRequiredEvent. AgentMemWorkflowCheckpointer saves the
run in Redis at that event (linked to the user), and this process stops. The script then starts
itself again in a NEW process (`--resume RUN_ID`), which builds a new workflow object, restores
the run from Redis with the human's answer, and prints the result; its state (the amount) came
through Redis too. The saved run is then "completed", and resuming it again is refused (a
resume moves the status atomically, so even two processes at once cannot both run the human
step).

Run it with `.venv/bin/python examples/llamaindex_workflow_resume.py` (zero-config local
servers, or the AGENTMEM_* environment variables, which the second process inherits).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

from agentmem import AgentMem, RunStateError, aforget_user
from llamaindex_agentmem import AgentMemWorkflowCheckpointer


class RefundApproval(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("amount", ev.amount)
        return InputRequiredEvent(prefix=f"refund {ev.amount} EUR? (yes/no)")

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        verdict = "approved" if ev.response == "yes" else "rejected"
        return StopEvent(result=f"refund of {await ctx.store.get('amount')} EUR {verdict}")


def workflow() -> RefundApproval:
    return RefundApproval(workflow_name="refund-approval", timeout=30)


async def start(user_id: str) -> str:
    async with AgentMem() as mem:
        runs, flow = AgentMemWorkflowCheckpointer(mem), workflow()
        handler = flow.run(amount=42)
        async for event in runs.checkpoint_events(handler, flow, user_id=user_id):
            if isinstance(event, InputRequiredEvent):
                print(f"process {os.getpid()} paused: {event.prefix}", flush=True)
                break
        await handler.cancel_run()  # this process stops waiting; the run is saved in Redis
        return handler.run_id


async def resume(run_id: str, user_id: str) -> None:
    async with AgentMem() as mem:
        runs = AgentMemWorkflowCheckpointer(mem)
        [saved] = await runs.alist_user_runs(user_id)  # the runs linked to this user
        print(f"process {os.getpid()} found run {saved.run_id}: {saved.status!r} at {saved.label}")
        run = await runs.aresume(workflow(), run_id, HumanResponseEvent(response="yes"))
        print(f"result: {await run}")
        try:
            await runs.aresume(workflow(), run_id, HumanResponseEvent(response="no"))
        except RunStateError as exc:
            print(f"resumed again: refused, the run is {exc.status!r}")
        await aforget_user(user_id, memory=mem, longterm=False)  # Redis only: the run


if __name__ == "__main__":
    if sys.argv[1:2] == ["--resume"]:
        asyncio.run(resume(sys.argv[2], sys.argv[3]))
    else:
        user = f"ada-{uuid.uuid4().hex[:6]}"
        run_id = asyncio.run(start(user))
        subprocess.run([sys.executable, __file__, "--resume", run_id, user], check=True)
