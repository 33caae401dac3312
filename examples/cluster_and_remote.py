"""Point agentmem at your own Redis Cluster and a remote Weaviate, then use each memory once.

Settings can be built in code (AgentMemSettings, RedisSettings, WeaviateSettings) or read from
AGENTMEM_* environment variables (AgentMemSettings.from_env()); this script does both from the
same variables and shows they agree. Then one round trip through each memory: a chat history, a
checkpoint of a tiny LangGraph graph (both in the Redis Cluster) and a long-term memory (Weaviate).

Run it against your servers (any one cluster node will do; the client discovers the rest):

    AGENTMEM_REDIS_URL=redis://node-1:6379/0 AGENTMEM_REDIS_CLUSTER=1 \\
    AGENTMEM_WEAVIATE_URL=https://weaviate.example.com AGENTMEM_WEAVIATE_GRPC_PORT=443 \\
    AGENTMEM_WEAVIATE_GRPC_HOST=grpc-weaviate.example.com AGENTMEM_WEAVIATE_API_KEY=... \\
    .venv/bin/python examples/cluster_and_remote.py
"""

from __future__ import annotations

import os
import uuid
from typing import TypedDict

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph

from agentmem import AgentMem, AgentMemSettings, RedisSettings, WeaviateSettings, forget_user
from langchain_agentmem import (
    AgentMemChatMessageHistory,
    AgentMemCheckpointSaver,
    AgentMemVectorStore,
)


class Counter(TypedDict):
    count: int


def settings_in_code() -> AgentMemSettings:
    """The settings built by hand, here from the same variables AgentMemSettings.from_env() reads."""
    var = os.environ.get
    return AgentMemSettings(
        redis=RedisSettings(
            url=var("AGENTMEM_REDIS_URL"),  # any one node of the cluster
            cluster=True,
            username=var("AGENTMEM_REDIS_USERNAME") or None,
            password=var("AGENTMEM_REDIS_PASSWORD") or None,
        ),
        weaviate=WeaviateSettings(
            url=var("AGENTMEM_WEAVIATE_URL"),
            grpc_host=var("AGENTMEM_WEAVIATE_GRPC_HOST") or None,  # default: the REST host
            grpc_port=int(var("AGENTMEM_WEAVIATE_GRPC_PORT") or 50051),
            api_key=var("AGENTMEM_WEAVIATE_API_KEY") or None,
        ),
    )


def main() -> None:
    settings, in_code = AgentMemSettings.from_env(), settings_in_code()
    print(f"redis:    {settings.redis!r}")  # secrets print as '***'
    print(f"weaviate: {settings.weaviate!r}")
    same = (in_code.redis, in_code.weaviate) == (settings.redis, settings.weaviate)
    print(f"the same settings built in code: {same}")

    builder = StateGraph(Counter)
    builder.add_node("step", lambda state: {"count": state["count"] + 1})
    builder.add_edge(START, "step")
    builder.add_edge("step", END)

    run = uuid.uuid4().hex[:6]
    user_id = f"ada-{run}"
    with AgentMem(settings) as mem:
        print(f"redis client: {type(mem.redis()).__name__}")
        AgentMemChatMessageHistory(mem, session_id=f"chat-{run}", user_id=user_id).add_messages(
            [HumanMessage("Hi, I'm Ada."), AIMessage("Hello Ada!")]
        )
        chat = AgentMemChatMessageHistory(mem, session_id=f"chat-{run}", user_id=user_id).messages
        print(f"session:   {len(chat)} messages read back, last {chat[-1].text!r}")

        config = {"configurable": {"thread_id": f"count-{run}", "user_id": user_id}}
        builder.compile(checkpointer=AgentMemCheckpointSaver(mem)).invoke({"count": 41}, config)
        state = builder.compile(checkpointer=AgentMemCheckpointSaver(mem)).get_state(config)
        print(f"workflow:  a new saver read the checkpoint back, count={state.values['count']}")

        facts = AgentMemVectorStore(memory=mem, tenant=user_id)
        facts.add_texts(["Ada's office is in building 7"])
        hit = facts.similarity_search("where is the office?", k=1)[0]
        print(f"long-term: recalled {hit.page_content!r}")

        report = forget_user(user_id, memory=mem)
        print(f"forgot {user_id}: sessions {report.sessions}, threads {report.threads}")


if __name__ == "__main__":
    main()
