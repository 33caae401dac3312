"""agentmem quickstart: one real round trip through each memory, on the zero-config local default.

Run it with `make demo`. With no AGENTMEM_*_URL set, the first use starts a local Redis and a local
Weaviate (data under ~/.agentmem) and leaves them running for next time; `agentmem down` stops them.
No model or API key is needed: long-term memory uses BM25 search when no embedding model is given.
"""

from __future__ import annotations

import uuid
from typing import TypedDict

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from agentmem import AgentMem
from langchain_agentmem import (
    AgentMemChatMessageHistory,
    AgentMemCheckpointSaver,
    AgentMemVectorStore,
)


class Approval(TypedDict, total=False):
    request: str
    decision: str


def approval_graph(saver: AgentMemCheckpointSaver):  # type: ignore[no-untyped-def]
    """A one-step workflow that pauses for a human decision."""

    def ask(state: Approval) -> Approval:
        return {"decision": interrupt(f"approve {state['request']!r}?")}

    builder = StateGraph(Approval)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=saver)


def main() -> None:
    run = uuid.uuid4().hex[:6]
    print("agentmem quickstart (the first run starts local servers; it may take a minute)")
    with AgentMem() as mem:
        mem.ping()
        print(f"  servers: Redis {mem.settings.redis.url}, Weaviate {mem.settings.weaviate.url}")

        # Long-term memory: facts about a user in Weaviate, in that user's own tenant.
        facts = AgentMemVectorStore(memory=mem, tenant=f"ada-{run}")
        ids = facts.add_texts(["Ada prefers green tea in the afternoon", "Ada's cat is Turing"])
        # BM25 (no embedding model): the query shares words with the fact it should find.
        hit = facts.similarity_search("which tea does Ada like?", k=1)[0]
        print(f"  long-term: recalled {hit.page_content!r}")

        # Session memory: a chat in Redis; a new object (a restarted process) reads it back.
        AgentMemChatMessageHistory(f"chat-{run}", user_id="ada", memory=mem).add_messages(
            [HumanMessage("I'm Ada."), AIMessage("Nice to meet you, Ada!")]
        )
        later = AgentMemChatMessageHistory(f"chat-{run}", user_id="ada", memory=mem)
        print(
            f"  session:   {len(later.messages)} messages survived, last {later.messages[-1].text!r}"
        )

        # Workflow memory: a LangGraph run pauses for approval; a second saver resumes it.
        config = {"configurable": {"thread_id": f"approval-{run}"}}
        paused = approval_graph(AgentMemCheckpointSaver(mem)).invoke({"request": "refund"}, config)
        print(f"  workflow:  paused with {paused['__interrupt__'][0].value!r}")
        resumed = approval_graph(AgentMemCheckpointSaver(mem)).invoke(Command(resume="yes"), config)
        print(f"  workflow:  resumed from Redis by a new saver, decision={resumed['decision']!r}")

        facts.delete(ids)
    print("done: each memory returned what was written")


if __name__ == "__main__":
    main()
