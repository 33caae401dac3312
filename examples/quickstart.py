"""agentmem demo: a LangGraph agent and a LlamaIndex agent that remember one user, on real servers.

Run it with `make demo` (or `.venv/bin/python examples/quickstart.py`). With no AGENTMEM_*_URL set,
the first use starts a local Redis and a local Weaviate (data under ~/.agentmem) and leaves them
running for next time; `agentmem down` stops them. Without OPENAI_API_KEY the agents run on a
scripted chat model (examples/models.py), so the demo needs no key; everything else is real.

What it shows, in order (no hand-written memory tool anywhere: memory forms itself):
  1. session 1 (LangGraph `create_agent`, in a child process): Ada says her name and favourite
     drink; the middleware queues the turn in Redis and the process exits before any model forms
     a fact; a LlamaIndex workflow pauses for approval;
  2. a new process reopens the same thread: the conversation survived the restart, and the
     worker forms facts from the queued turn with the user's own model;
  3. session 2 (a new thread) recalls the drink on its own (recalled into the system message);
  4. session 3: the preference changes; the old fact is invalidated, not overwritten;
  5. session 4, a LlamaIndex agent (a Memory block over the same facts) recalls the new one;
  6. `agentmem facts --history` shows the old fact invalidated and what replaced it;
  7. the paused LlamaIndex workflow resumes from Redis in this new process;
  8. "forget me": every trace of the user is deleted (pass --keep to look around with the CLI).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
import warnings
from typing import Any

from langchain.agents import create_agent
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.memory import Memory
from models import langchain_model, llamaindex_llm, model_name
from workflows import Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

import langchain_agentmem as lc
import llamaindex_agentmem as li
from agentmem import AgentMem, Consolidator, forget_user

# LlamaIndex's tool inspection touches deprecated pydantic attributes; keep the output readable.
warnings.filterwarnings("ignore", category=DeprecationWarning)


def say(line: str) -> None:
    print(line, flush=True)


# -- the LangGraph agent: checkpointer for the conversation, and memory that forms itself -------
# -- (the middleware recalls the user's facts and queues each turn; a worker forms the facts) ---


def consolidator(mem: AgentMem) -> Consolidator:
    """Facts formed with the same model the agent uses (BM25 recall: no embedding model)."""
    return Consolidator(mem, extractor=lc.ChatModelExtractor(langchain_model()))


def langgraph_agent(mem: AgentMem, facts: Consolidator, *, background: bool = True) -> Any:
    return create_agent(
        langchain_model(),
        [],
        system_prompt="You are a helpful assistant.",
        middleware=[lc.AgentMemMemoryMiddleware(facts, background=background)],
        checkpointer=lc.AgentMemCheckpointSaver(mem),
    )


def formed(facts: Consolidator, user: str) -> list[str]:
    """Wait for the worker to empty the user's queue; the facts that hold now."""
    for _ in range(600):
        if not facts.pending(user):
            break
        time.sleep(0.05)
    return [f.text for f in facts.facts(user).current()]


def chat(agent: Any, user: str, thread: str, text: str) -> None:
    config = {"configurable": {"thread_id": thread, "user_id": user}}
    say(f"     user:  {text}")
    state = agent.invoke({"messages": [{"role": "user", "content": text}]}, config,
                         context={"user_id": user})  # fmt: skip
    last_human = max(i for i, m in enumerate(state["messages"]) if m.type == "human")
    for message in state["messages"][last_human + 1 :]:
        for call in getattr(message, "tool_calls", []):
            say(f"     tool:  {call['name']}({', '.join(map(repr, call['args'].values()))})")
    say(f"     agent: {state['messages'][-1].text}")


# -- a LlamaIndex workflow that pauses for a human ------------------------------------------------


class VoucherApproval(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix=f"Send {ev.name} a voucher for green tea?")

    @step
    async def decide(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result="voucher sent" if ev.response == "yes" else "no voucher")


def approval() -> VoucherApproval:
    return VoucherApproval(workflow_name="voucher-approval", timeout=30)


async def pause_workflow(user: str, run_id: str) -> None:
    async with AgentMem() as mem:
        runs = li.AgentMemWorkflowCheckpointer(mem)
        handler = approval().run(name="Ada")
        async for event in runs.checkpoint_events(handler, "voucher-approval", run_id=run_id,
                                                  user_id=user):  # fmt: skip
            if isinstance(event, InputRequiredEvent):
                say(f"     paused at {event.prefix!r}; saved to Redis as run {run_id}")
                break
        await handler.cancel_run()  # the process goes away with the run unfinished


# -- the LlamaIndex agent: its chat in Redis (Memory), the same facts through a memory block -----


async def llamaindex_part(user: str) -> None:
    async with AgentMem() as mem:
        block = li.AgentMemFactsBlock(consolidator=Consolidator(mem), user_id=user)
        chat_store = li.AgentMemDBChatStore(mem, user_id=user)
        memory = Memory.from_defaults(
            session_id="llamaindex-chat", chat_store=chat_store, memory_blocks=[block]
        )
        agent = FunctionAgent(
            tools=[], llm=llamaindex_llm(), system_prompt="You are a helpful assistant."
        )
        question = "What is my favourite drink?"
        say(f"     user:  {question}")
        answer = await agent.run(question, memory=memory)
        say(f"     agent: {answer}")
        stored = await chat_store.get_messages("llamaindex-chat")
        say(f"     session memory: {len(stored)} messages of this chat are in Redis")


async def resume_workflow(run_id: str, user: str) -> None:
    async with AgentMem() as mem:
        runs = li.AgentMemWorkflowCheckpointer(mem)
        [saved] = await runs.alist_user_runs(user)
        say(f"     found run {saved.run_id} ({saved.status}, saved at {saved.label})")
        run = await runs.aresume(approval(), run_id, HumanResponseEvent(response="yes"))
        say(f"     human says 'yes' -> {await run}")  # the run is now saved as completed


def first_session(user: str, run_id: str) -> None:
    with AgentMem() as mem:
        facts = consolidator(mem)
        # No worker here: this process exits right away, and the queued turn waits in Redis.
        chat(langgraph_agent(mem, facts, background=False), user, f"{user}-1",
             "Hi, I'm Ada. My favourite drink is green tea.")  # fmt: skip
        say(f"     queued for consolidation: {facts.pending(user)} batch (no model ran yet)")
    asyncio.run(pause_workflow(user, run_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the user's data at the end")
    parser.add_argument("--first-session", nargs=2, metavar=("USER", "RUN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_session:
        first_session(*args.first_session)
        return

    user, run_id = f"ada-{uuid.uuid4().hex[:6]}", f"voucher-{uuid.uuid4().hex[:6]}"
    say(f"agentmem demo: one user ({user}), two frameworks, three memories; model: {model_name()}")
    say("  connecting (the first run starts a local Redis and Weaviate: up to a minute) ...")
    with AgentMem() as mem:
        mem.ping()
        say(f"  Redis {mem.settings.redis.url}, Weaviate {mem.settings.weaviate.url}")

    say("  1. LangGraph agent, session 1, in a child process that then exits (no memory tools)")
    subprocess.run([sys.executable, __file__, "--first-session", user, run_id], check=True)

    with AgentMem() as mem, consolidator(mem) as facts:
        agent = langgraph_agent(mem, facts)
        say("  2. A new process reopens thread 1: the conversation survived the restart")
        thread_1 = {"configurable": {"thread_id": f"{user}-1", "user_id": user}}
        restored = agent.get_state(thread_1).values["messages"]
        say(f"     ({len(restored)} messages of session 1 restored from Redis)")
        facts.start()  # the worker: in this process, in the background
        say(f"     the worker formed: {' | '.join(formed(facts, user))}")
        say("  3. Session 2, a new thread: the agent recalls on its own")
        chat(agent, user, f"{user}-2", "What is my favourite drink?")
        say("  4. Session 3: the preference changes")
        chat(agent, user, f"{user}-3", "These days my favourite drink is black coffee.")
        say(f"     facts now: {' | '.join(formed(facts, user))}")

    say("  5. Session 4, a LlamaIndex agent: a Memory block recalls the same facts")
    asyncio.run(llamaindex_part(user))

    say(f"  6. agentmem facts --user {user} --history")
    history = subprocess.run(
        [sys.executable, "-m", "agentmem", "facts", "--user", user, "--history"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    for line in history.splitlines():
        _id, text, validity = line.split("\t")
        say(f"     {text}: {validity.split(':', 1)[0]}")

    say("  7. The paused LlamaIndex workflow resumes from Redis in this new process")
    asyncio.run(resume_workflow(run_id, user))

    if args.keep:
        say(f"  8. Kept. Look around: agentmem sessions --user {user}; agentmem threads --user "
            f"{user}; agentmem facts --user {user} --history; agentmem forget --user {user} "
            "--yes")  # fmt: skip
        return
    report = forget_user(user)
    say(f"  8. Forget me: deleted {report.summary()}")
    say("done: memory formed itself, changed without losing its history, and came back in both "
        "frameworks")  # fmt: skip


if __name__ == "__main__":
    main()
