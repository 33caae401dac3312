"""Secrets never leak: not in repr, not in what LlamaIndex serializes (model_dump, Context), not
in LangGraph configs or checkpoints, and not in anything stored in Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from agentmem import AgentMem, AgentMemSettings, LocalSettings, RedisSettings, WeaviateSettings
from agentmem.local import LocalStack, WeaviatePorts, free_port
from langchain_agentmem import (
    AgentMemChatMessageHistory,
    AgentMemCheckpointSaver,
    AgentMemStore,
    AgentMemVectorStore,
)
from llamaindex_agentmem import AgentMemChatStore, AgentMemDBChatStore
from llamaindex_agentmem import AgentMemVectorStore as LlamaVectorStore
from tests.conftest import WeaviateServer

PASSWORD, API_KEY, HEADER = "pw-7f3a9c1e", "key-51b0d2aa", "hdr-c0ffee42"
SECRETS = (PASSWORD, API_KEY, HEADER)


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(Path(tmp_path_factory.mktemp("locked")), redis_port=free_port(),
                       weaviate_ports=WeaviatePorts.free(),
                       redis_args=["--requirepass", PASSWORD])  # fmt: skip
    stack.up(only=["redis"])
    yield stack
    stack.down()


@pytest.fixture
def secret_mem(locked_redis: LocalStack, weaviate_server: WeaviateServer) -> Iterator[AgentMem]:
    settings = AgentMemSettings(
        redis=RedisSettings(url=f"redis://:{PASSWORD}@127.0.0.1:{locked_redis.redis_port}/0"),
        weaviate=WeaviateSettings(url=weaviate_server.url, grpc_port=weaviate_server.grpc_port,
                                  api_key=None, headers={"X-Provider-Key": HEADER}),
        local=LocalSettings(autostart=False),
    )  # fmt: skip
    with AgentMem(settings) as mem:
        yield mem


def test_no_adapter_shows_a_secret_in_repr_or_in_llamaindex_serialization(
    secret_mem: AgentMem,
) -> None:
    adapters: list[Any] = [
        secret_mem, AgentMemCheckpointSaver(secret_mem), AgentMemStore(secret_mem),
        AgentMemVectorStore(memory=secret_mem), AgentMemChatMessageHistory("s", memory=secret_mem),
        AgentMemChatStore(memory=secret_mem), AgentMemDBChatStore(memory=secret_mem),
        LlamaVectorStore(secret_mem),
    ]  # fmt: skip
    for adapter in adapters:
        _clean(repr(adapter))
        if hasattr(adapter, "model_dump"):
            _clean(json.dumps(adapter.model_dump(), default=str))
        if hasattr(adapter, "to_dict"):
            _clean(json.dumps(adapter.to_dict(), default=str))


def test_langgraph_configs_checkpoints_and_redis_hold_no_secret(secret_mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(secret_mem)
    builder = StateGraph(dict)
    builder.add_node("n", lambda state: {"x": state["x"] + 1})
    builder.add_edge(START, "n")
    builder.add_edge("n", END)
    graph = builder.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "secret-check"}}
    graph.invoke({"x": 1}, config)
    history = AgentMemChatMessageHistory("s", memory=secret_mem)
    history.add_user_message("hello")

    for state in graph.get_state_history(config):
        _clean(json.dumps(state.config, default=str))
        _clean(json.dumps(state.metadata, default=str))
    client = secret_mem.redis()
    for key in client.scan_iter(match=f"{secret_mem.key_prefix}:*"):
        _clean(repr(client.dump(key)))
        _clean(repr(key))
