"""agentmem demo: a LangGraph agent and a LlamaIndex agent that remember one user, on real servers.

Run it with `make demo` (or `.venv/bin/python examples/quickstart.py`). With no AGENTMEM_*_URL set,
the first use starts a local Redis and a local Weaviate (data under ~/.agentmem) and leaves them
running for next time; `agentmem down` stops them. Without OPENAI_API_KEY the agents run on a
scripted chat model (examples/models.py), so the demo needs no key; everything else is real.

What it shows, in order:
  1. session 1 (LangGraph `create_agent`, in a child process): the user's name goes to the LangGraph
     store, a fact to long-term memory, and a LlamaIndex workflow pauses for approval; the process
     exits;
  2. a new process reopens the same thread: the conversation survived the restart;
  3. session 2 (a new thread) recalls the fact from session 1, and the name from the store;
  4. a LlamaIndex agent recalls the same fact, written through LangChain, its own chat in Redis;
  5. the paused LlamaIndex workflow resumes from Redis in this new process;
  6. "forget me": every trace of the user is deleted (pass --keep to look around with the CLI).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import uuid
import warnings
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import ModelRequest, dynamic_prompt
from langchain.tools import ToolRuntime, tool
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.memory import Memory
from llama_index.core.tools import FunctionTool
from llama_index.core.vector_stores.types import VectorStoreQuery
from models import langchain_model, llamaindex_llm, model_name
from workflows import Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

import langchain_agentmem as lc
import llamaindex_agentmem as li
from agentmem import AgentMem, forget_user

# LlamaIndex's tool inspection touches deprecated pydantic attributes; keep the output readable.
warnings.filterwarnings("ignore", category=DeprecationWarning)


def say(line: str) -> None:
    print(line, flush=True)


# -- the LangGraph agent: checkpointer for the conversation, store for the profile, and the ------
# -- long-term memory (a LangChain VectorStore; BM25 search without an embedding model) ----------


def langgraph_agent(mem: AgentMem, user: str) -> Any:
    facts = lc.AgentMemVectorStore(memory=mem, tenant=user)

    @tool
    def remember(fact: str) -> str:
        """Save a fact about the user to long-term memory."""
        facts.add_texts([fact])
        return f"Saved: {fact}"

    @tool
    def recall(query: str) -> str:
        """Search long-term memory for facts about the user."""
        return " ".join(d.page_content for d in facts.similarity_search(query, k=1))

    @tool
    def save_name(name: str, runtime: ToolRuntime) -> str:
        """Save the user's name to their profile."""
        runtime.store.put(("profile",), "name", {"name": name})
        return f"Saved name {name}"

    @dynamic_prompt
    def with_profile(request: ModelRequest) -> str:
        item = request.runtime.store.get(("profile",), "name")
        name = f" The user's name is {item.value['name']}." if item else ""
        return "You are a helpful assistant with long-term memory." + name

    return create_agent(
        langchain_model(),
        [remember, recall, save_name],
        middleware=[with_profile],
        checkpointer=lc.AgentMemCheckpointSaver(mem),
        store=lc.AgentMemStore(mem, tenant=user),
    )


def chat(agent: Any, user: str, thread: str, text: str) -> None:
    config = {"configurable": {"thread_id": thread, "user_id": user}}
    say(f"     user:  {text}")
    state = agent.invoke({"messages": [{"role": "user", "content": text}]}, config)
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


# -- the LlamaIndex agent: its chat in Redis (Memory), long-term memory shared with LangChain ------


async def llamaindex_part(user: str, run_id: str) -> None:
    async with AgentMem() as mem:
        facts = li.AgentMemVectorStore(mem, tenant=user)

        async def recall(query: str) -> str:
            """Search long-term memory for facts about the user."""
            found = await facts.aquery(VectorStoreQuery(query_str=query, similarity_top_k=1))
            return " ".join(n.get_content() for n in found.nodes or [])

        agent = FunctionAgent(
            tools=[FunctionTool.from_defaults(async_fn=recall, name="recall")],
            llm=llamaindex_llm(),
            system_prompt="You are a helpful assistant with long-term memory.",
        )
        chat_store = li.AgentMemDBChatStore(mem, user_id=user)
        memory = Memory.from_defaults(session_id="llamaindex-chat", chat_store=chat_store)
        question = "How do I take my tea?"
        say(f"     user:  {question}")
        answer = await agent.run(question, memory=memory)
        say(f"     agent: {answer}")
        stored = await chat_store.get_messages("llamaindex-chat")
        say(f"     session memory: {len(stored)} messages of this chat are in Redis")

        say("  5. The paused LlamaIndex workflow resumes from Redis in this new process")
        runs = li.AgentMemWorkflowCheckpointer(mem)
        [saved] = await runs.alist_user_runs(user)
        say(f"     found run {saved.run_id} ({saved.status}, saved at {saved.label})")
        run = await runs.aresume(approval(), run_id, HumanResponseEvent(response="yes"))
        say(f"     human says 'yes' -> {await run}")  # the run is now saved as completed


def first_session(user: str, run_id: str) -> None:
    with AgentMem() as mem:
        agent = langgraph_agent(mem, user)
        chat(agent, user, f"{user}-1", "Hi, I'm Ada. Remember that I take my tea green, no sugar.")
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

    say("  1. LangGraph agent, session 1, in a child process that then exits")
    subprocess.run([sys.executable, __file__, "--first-session", user, run_id], check=True)

    with AgentMem() as mem:
        agent = langgraph_agent(mem, user)
        say("  2. A new process reopens thread 1: the conversation survived the restart")
        thread_1 = {"configurable": {"thread_id": f"{user}-1", "user_id": user}}
        restored = agent.get_state(thread_1).values["messages"]
        say(f"     ({len(restored)} messages of session 1 restored from Redis)")
        chat(agent, user, f"{user}-1", "What did I ask you to remember?")
        say("  3. Session 2, a new thread: the fact and the name come back from long-term memory")
        chat(agent, user, f"{user}-2", "How do I take my tea?")

    say("  4. A LlamaIndex agent recalls the fact that the LangChain tool wrote")
    asyncio.run(llamaindex_part(user, run_id))

    if args.keep:
        say(f"  6. Kept. Look around: agentmem sessions --user {user}; agentmem threads --user "
            f"{user}; agentmem search --tenant {user} tea; agentmem forget --user {user} --yes")  # fmt: skip
        return
    report = forget_user(user)
    say(f"  6. Forget me: deleted {len(report.sessions)} chat session, {len(report.threads)} "
        f"threads, {len(report.runs)} workflow run and the user's tenant in "
        f"{len(report.collections)} collections")  # fmt: skip
    say("done: each memory returned what was written, across processes and frameworks")


if __name__ == "__main__":
    main()
