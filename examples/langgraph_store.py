"""LangGraph long-term memory through the store: what one thread saves, the user's next thread knows.

AgentMemStore is LangGraph's BaseStore on Weaviate, bound to one tenant: here, one user. The agent
saves a fact in one thread (`runtime.store.put` in a tool); a NEW thread of the same user finds it
(`runtime.store.search`), and so does plain `store.search`. Another user's store (another tenant)
sees nothing. Threads are checkpointed in Redis and linked to their user.

Run it with `.venv/bin/python examples/langgraph_store.py` (zero-config local servers, or the
AGENTMEM_* environment variables). Set OPENAI_API_KEY to use a real model instead of the script.
"""

from __future__ import annotations

import uuid

from langchain.agents import create_agent
from langchain.tools import ToolRuntime, tool
from models import langchain_model

from agentmem import AgentMem, forget_user
from langchain_agentmem import AgentMemCheckpointSaver, AgentMemStore


@tool
def remember(fact: str, runtime: ToolRuntime) -> str:
    """Save a fact about the user for later conversations."""
    runtime.store.put(("facts",), uuid.uuid4().hex, {"text": fact})
    return f"saved {fact!r}"


@tool
def recall(query: str, runtime: ToolRuntime) -> str:
    """Find what is known about the user."""
    return "; ".join(item.value["text"] for item in runtime.store.search(("facts",), query=query))


def ask(mem: AgentMem, user_id: str, thread_id: str, text: str) -> str:
    store = AgentMemStore(mem, tenant=user_id)  # this user's long-term memory
    agent = create_agent(langchain_model(), tools=[remember, recall],
                         checkpointer=AgentMemCheckpointSaver(mem), store=store)  # fmt: skip
    config = {"configurable": {"thread_id": thread_id, "user_id": user_id}}
    return agent.invoke({"messages": [("user", text)]}, config)["messages"][-1].text


def main() -> None:
    run = uuid.uuid4().hex[:6]
    ada, bob = f"ada-{run}", f"bob-{run}"
    with AgentMem() as mem:
        print(f"thread 1 of ada: {ask(mem, ada, f'a1-{run}', 'Remember that I am vegetarian')}")
        print(f"thread 2 of ada: {ask(mem, ada, f'a2-{run}', 'What do I eat?')}")
        print(f"thread 1 of bob: {ask(mem, bob, f'b1-{run}', 'What do I eat?')}")

        items = AgentMemStore(mem, tenant=ada).search(("facts",))
        print(f"ada's store holds: {[item.value['text'] for item in items]}")
        print(f"bob's store holds: {AgentMemStore(mem, tenant=bob).search(('facts',))}")

        for user in (ada, bob):  # their threads (linked by user_id) and their tenant go
            forget_user(user, memory=mem)


if __name__ == "__main__":
    main()
