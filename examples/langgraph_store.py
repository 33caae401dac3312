"""LangGraph long-term memory through the store: what one thread saves, the user's next thread knows.

AgentMemStore is LangGraph's BaseStore on Weaviate. One store and one agent serve every user: with
`tenant_from=1` the store takes the Weaviate tenant from the second element of each namespace,
`("facts", user_id)`, so users are kept apart by Weaviate's multi-tenancy, not by a filter. The
agent saves a fact in one thread (`runtime.store.put` in a tool); a NEW thread of the same user
finds it (`runtime.store.search`); another user finds nothing. The user comes in the run's
`context`, which also links each thread to its user, so `forget_user` deletes all of it.

Run it with `.venv/bin/python examples/langgraph_store.py` (zero-config local servers, or the
AGENTMEM_* environment variables). Set OPENAI_API_KEY to use a real model instead of the script.
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain.agents import create_agent
from langchain.tools import ToolRuntime, tool
from models import langchain_model

from agentmem import AgentMem, forget_user
from langchain_agentmem import AgentMemCheckpointSaver, AgentMemStore


@tool
def remember(fact: str, runtime: ToolRuntime) -> str:
    """Save a fact about the user for later conversations."""
    runtime.store.put(("facts", runtime.context["user_id"]), uuid.uuid4().hex, {"text": fact})
    return f"saved {fact!r}"


@tool
def recall(query: str, runtime: ToolRuntime) -> str:
    """Find what is known about the user."""
    # No embedding model in this store: the query ranks the user's facts by BM25.
    found = runtime.store.search(("facts", runtime.context["user_id"]), query=query)
    return "; ".join(item.value["text"] for item in found)


def ask(agent: Any, user_id: str, thread_id: str, text: str) -> str:
    config = {"configurable": {"thread_id": thread_id}}
    state = agent.invoke({"messages": [("user", text)]}, config, context={"user_id": user_id})
    return state["messages"][-1].text


def main() -> None:
    run = uuid.uuid4().hex[:6]
    ada, bob = f"ada-{run}", f"bob-{run}"
    with AgentMem() as mem:
        store = AgentMemStore(mem, tenant_from=1)  # ("facts", user_id): one tenant per user
        agent = create_agent(langchain_model(), tools=[remember, recall],
                             checkpointer=AgentMemCheckpointSaver(mem), store=store)  # fmt: skip
        print(f"thread 1 of ada: {ask(agent, ada, f'a1-{run}', 'Remember that I am vegetarian')}")
        print(f"thread 2 of ada: {ask(agent, ada, f'a2-{run}', 'What do I eat?')}")
        print(f"thread 1 of bob: {ask(agent, bob, f'b1-{run}', 'What do I eat?')}")

        items = store.search(("facts", ada))
        print(f"ada's store holds: {[item.value['text'] for item in items]}")
        print(f"bob's store holds: {store.search(('facts', bob))}")

        for user in (ada, bob):  # their threads (linked by user_id) and their tenant go
            forget_user(user, memory=mem)


if __name__ == "__main__":
    main()
