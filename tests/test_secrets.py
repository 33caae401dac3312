"""Secrets never leak: not in repr, not in what LlamaIndex serializes (model_dump, Context), not
in LangGraph configs or checkpoints, and not in anything stored in Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
from tests.support import WeaviateServer, one_node_graph

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
        secret_mem, AgentMemCheckpointSaver(secret_mem), AgentMemStore(secret_mem, tenant="u"),
        AgentMemVectorStore(secret_mem, tenant="u"),
        AgentMemChatMessageHistory(secret_mem, session_id="s", user_id="u"),
        AgentMemChatStore(secret_mem, user_id="u"), AgentMemDBChatStore(secret_mem, user_id="u"),
        LlamaVectorStore(secret_mem, tenant="u"),
    ]  # fmt: skip
    # The secrets are really in use, so their absence below means something.
    assert PASSWORD in str(secret_mem.settings.redis.url)
    assert secret_mem.redis().ping() is True  # the server refuses clients without the password
    assert dict(secret_mem.settings.weaviate.headers) == {"X-Provider-Key": HEADER}
    serialized = []
    for adapter in adapters:
        _clean(repr(adapter))
        if hasattr(adapter, "model_dump"):
            _clean(json.dumps(adapter.model_dump(), default=str))
            serialized.append(type(adapter).__name__)
        if hasattr(adapter, "to_dict"):
            _clean(json.dumps(adapter.to_dict(), default=str))
    # Every LlamaIndex adapter is a pydantic model that LlamaIndex serializes.
    assert sorted(serialized) == ["AgentMemChatStore", "AgentMemDBChatStore", "AgentMemVectorStore"]


def test_langgraph_configs_checkpoints_and_redis_hold_no_secret(secret_mem: AgentMem) -> None:
    graph = one_node_graph(AgentMemCheckpointSaver(secret_mem))
    config = {"configurable": {"thread_id": "secret-check"}}
    graph.invoke({"x": 0}, config)
    history = AgentMemChatMessageHistory(secret_mem, session_id="s", user_id="u")
    history.add_user_message("hello")

    states = list(graph.get_state_history(config))
    assert len(states) == 3  # input, the step before the node, the node's output
    for state in states:
        _clean(json.dumps(state.config, default=str))
        _clean(json.dumps(state.metadata, default=str))
    client = secret_mem.redis()
    keys = list(client.scan_iter(match=f"{secret_mem.key_prefix}:*"))
    stored = [client.dump(key) for key in keys]
    # The thread and the chat session were both stored: the scan below covers both.
    assert any(b"secret-check" in value for value in stored if value), keys
    assert any(b"hello" in value for value in stored if value), keys
    for key, value in zip(keys, stored, strict=True):
        _clean(repr(value))
        _clean(repr(key))
