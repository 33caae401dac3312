"""Helpers shared by the test files: import them from here, never from ``conftest``.

* the test servers (:class:`RedisServer`, :class:`WeaviateServer`) and :func:`settings_for`, which
  ``conftest.py``'s fixtures build, and :func:`weaviate_memory`: a long-term memory of its own on
  the test Weaviate, for a module-scoped fixture;
* :func:`agentmem_env`: the environment of a child process (the CLI, an example) that points at
  the test servers, and :func:`use_redis_env`: the same for this process (the test Redis only);
* :func:`run_cli`: ``python -m agentmem ...`` in a child process;
* :func:`redis_keys`, :func:`redis_snapshot`, :func:`agentmem_connections`, :func:`evalsha_calls`,
  :class:`CountingConnection` and :class:`AsyncSendCounter`: what a test sees of Redis;
* :func:`one_node_graph`: the smallest LangGraph graph that writes checkpoints;
* :func:`nested_dict`: a JSON document nested as deep as asked, for depth limits;
* deterministic stand-ins for models, built on :class:`agentmem.testing.embedding.HashingEmbedder`
  (shared words mean similar vectors): :class:`HashEmbeddings` and :class:`ScriptedChatModel` for
  LangChain, :class:`HashEmbedModel`, :class:`ScriptedLLM` and :func:`hash_query` (a
  ``VectorStoreQuery`` embedded the same way) for LlamaIndex.

The framework stand-ins are built on first use (module ``__getattr__``), so a test of the core
(and ``conftest.py``, which imports this module) does not pay for importing both frameworks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from redis.asyncio.connection import AbstractConnection
from redis.cluster import RedisCluster

from agentmem import (
    AgentMem,
    AgentMemSettings,
    LocalSettings,
    LongTermMemory,
    RedisSettings,
    WeaviateSettings,
)
from agentmem.facts import Fact, Turn
from agentmem.local import LocalRedisCluster, LocalStack, LocalWeaviateCluster
from agentmem.testing.embedding import HashingEmbedder

if TYPE_CHECKING:
    import pytest

    from langchain_agentmem import AgentMemCheckpointSaver

# HashEmbeddings, ScriptedChatModel, HashEmbedModel, ScriptedLLM and hash_query are built by
# __getattr__.
__all__ = [
    "HASH",
    "AsyncSendCounter",
    "CountingConnection",
    "RedisServer",
    "WeaviateServer",
    "agentmem_connections",
    "agentmem_env",
    "evalsha_calls",
    "favourite_drink",
    "nested_dict",
    "one_node_graph",
    "redis_keys",
    "redis_snapshot",
    "run_cli",
    "said",
    "settings_for",
    "use_redis_env",
    "weaviate_memory",
]

#: The embedder behind both frameworks' hash embeddings (64 dimensions).
HASH = HashingEmbedder(dims=64)


@dataclass(frozen=True)
class RedisServer:
    """The test Redis."""

    url: str  # a redis+cluster:// URL in cluster mode
    stack: LocalStack | LocalRedisCluster | None  # None when the URL came from the environment


@dataclass(frozen=True)
class WeaviateServer:
    """The test Weaviate."""

    url: str
    grpc_port: int
    stack: LocalStack | LocalWeaviateCluster | None
    replication_factor: int | None = None
    consistency: str | None = None


def settings_for(
    redis: RedisServer | None, weaviate: WeaviateServer | None, key_prefix: str
) -> AgentMemSettings:
    """Settings pointing at the test servers; the local default is never started implicitly."""
    return AgentMemSettings(
        redis=RedisSettings(url=redis.url if redis else "redis://127.0.0.1:1/0"),
        weaviate=WeaviateSettings(
            url=weaviate.url if weaviate else "http://127.0.0.1:1",
            grpc_port=weaviate.grpc_port if weaviate else 2,
            replication_factor=weaviate.replication_factor if weaviate else None,
            consistency=weaviate.consistency if weaviate else None,
        ),
        local=LocalSettings(autostart=False),
        key_prefix=key_prefix,
    )


@contextmanager
def weaviate_memory(
    weaviate: WeaviateServer, *, tenant: str, name: str
) -> Iterator[LongTermMemory]:
    """A :class:`LongTermMemory` for ``tenant`` on the test Weaviate alone, in a new collection
    named ``name`` plus a random suffix, dropped on exit (with everything in it)."""
    with AgentMem(settings_for(None, weaviate, tenant)) as mem:
        memory = LongTermMemory(mem, tenant=tenant, collection=f"{name}{uuid.uuid4().hex[:10]}")
        try:
            yield memory
        finally:
            memory.drop_collection()


def agentmem_env(
    redis: RedisServer, weaviate: WeaviateServer, prefix: str, **extra: str
) -> dict[str, str]:
    """The environment of a child process using the test servers under key prefix ``prefix``.

    ``AGENTMEM_*`` variables of this process are left out, so the child sees only these.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEM_")}
    env.update(
        AGENTMEM_REDIS_URL=redis.url,
        AGENTMEM_WEAVIATE_URL=weaviate.url,
        AGENTMEM_WEAVIATE_GRPC_PORT=str(weaviate.grpc_port),
        AGENTMEM_KEY_PREFIX=prefix,
        AGENTMEM_LOCAL_AUTOSTART="0",
    )
    if weaviate.replication_factor:
        env["AGENTMEM_WEAVIATE_REPLICATION_FACTOR"] = str(weaviate.replication_factor)
    if weaviate.consistency:
        env["AGENTMEM_WEAVIATE_CONSISTENCY"] = weaviate.consistency
    env.update(extra)
    return env


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m agentmem *args`` in a child process (``env``: its whole environment; by
    default this process's) and return what it did, output captured as text."""
    return subprocess.run([sys.executable, "-m", "agentmem", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def use_redis_env(monkeypatch: pytest.MonkeyPatch, settings: AgentMemSettings) -> None:
    """Point this process's ``AGENTMEM_*`` environment at ``settings``' Redis and key prefix.

    For code under test that builds its own ``AgentMem`` from the environment; the local
    default is never started. ``monkeypatch`` undoes it after the test.
    """
    monkeypatch.setenv("AGENTMEM_REDIS_URL", str(settings.redis.url))
    monkeypatch.setenv("AGENTMEM_KEY_PREFIX", settings.key_prefix)
    monkeypatch.setenv("AGENTMEM_LOCAL_AUTOSTART", "0")
    monkeypatch.setenv("AGENTMEM_REDIS_CLUSTER", "1" if settings.redis.cluster else "0")


def redis_keys(mem: AgentMem) -> list[str]:
    """Every Redis key under ``mem``'s prefix (on every node of a cluster), sorted."""
    found = mem.redis().scan_iter(match=f"{mem.key_prefix}:*")
    return sorted(k.decode() if isinstance(k, bytes) else str(k) for k in found)


def redis_snapshot(mem: AgentMem) -> dict[bytes, bytes | None]:
    """Every key under ``mem``'s prefix with its serialized value: equal means nothing changed."""
    client = mem.redis()
    return {k: client.dump(k) for k in client.scan_iter(match=f"{mem.key_prefix}:*")}


def evalsha_calls(client: Any) -> int:
    """EVALSHA calls the server(s) executed so far (summed over the nodes of a cluster).

    Commands run inside a script are counted under their own names, so only EVALSHA tells how
    many requests the server received.
    """
    if isinstance(client, RedisCluster):
        per_node = list(client.info("commandstats", target_nodes=RedisCluster.ALL_NODES).values())
    else:
        per_node = [client.info("commandstats")]
    return sum(int(stats.get("cmdstat_evalsha", {}).get("calls", 0)) for stats in per_node)


def agentmem_connections(mem: AgentMem) -> int:
    """Connections named "agentmem" (every AgentMem's), counted through a client of our own."""
    with redis.Redis.from_url(mem.settings.redis.url or "") as watcher:
        clients = watcher.client_list()
    return sum(1 for c in clients if c.get("name") == "agentmem")


class CountingConnection(redis.Connection):
    """Counts socket writes: one per round trip (a pipeline is one write too)."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sends += 1
        super().send_packed_command(command, check_health)


class AsyncSendCounter:
    """Counts socket writes of every asyncio connection from now until the test ends.

    The asyncio cluster client takes no ``connection_class``, so the count is patched into the
    connection class every asyncio client (standalone or cluster node) writes through.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sends = 0
        original = AbstractConnection.send_packed_command

        async def counting(conn: Any, command: Any, check_health: bool = True) -> None:
            self.sends += 1
            await original(conn, command, check_health)

        monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)


def one_node_graph(saver: AgentMemCheckpointSaver) -> Any:
    """A compiled LangGraph graph whose one node sets ``x`` to 1, checkpointed by ``saver``."""
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(dict)
    builder.add_node("n", lambda state: {"x": 1})
    builder.add_edge(START, "n")
    builder.add_edge("n", END)
    return builder.compile(checkpointer=saver)


def nested_dict(depth: int) -> dict[str, Any]:
    """``{"k": {"k": ... {}}}`` with ``depth`` levels below the top (built without recursion)."""
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["k"] = {}
        node = node["k"]
    return root


# --- framework stand-ins, built on first use -----------------------------------------------------


def _langchain() -> dict[str, Any]:
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from pydantic import Field

    class HashEmbeddings(Embeddings):
        """LangChain embeddings from :data:`HASH`."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return HASH.embed_documents(texts)

        def embed_query(self, text: str) -> list[float]:
            return HASH.embed_query(text)

    class ScriptedChatModel(BaseChatModel):
        """Answers call n with ``replies[n]`` (text or an ``AIMessage`` with tool calls) and
        records the messages of each call in ``seen``; ``bind_tools`` keeps the script."""

        replies: list[Any]
        seen: list[list[BaseMessage]] = Field(default_factory=list)

        @property
        def _llm_type(self) -> str:
            return "scripted"

        def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
            return self

        def _generate(
            self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
            **kwargs: Any,
        ) -> ChatResult:  # fmt: skip
            self.seen.append(list(messages))
            reply = self.replies[len(self.seen) - 1]
            message = reply if isinstance(reply, AIMessage) else AIMessage(str(reply))
            return ChatResult(generations=[ChatGeneration(message=message)])

        async def _agenerate(
            self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
            **kwargs: Any,
        ) -> ChatResult:  # fmt: skip
            return self._generate(messages, stop)

    return {"HashEmbeddings": HashEmbeddings, "ScriptedChatModel": ScriptedChatModel}


def _llamaindex() -> dict[str, Any]:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.base.llms.types import (
        ChatMessage,
        ChatResponse,
        CompletionResponse,
        LLMMetadata,
        MessageRole,
    )
    from llama_index.core.llms import CustomLLM
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from pydantic import Field

    class HashEmbedModel(BaseEmbedding):
        """LlamaIndex embeddings from :data:`HASH`."""

        def _get_query_embedding(self, query: str) -> list[float]:
            return HASH.embed_query(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return HASH.embed_query(text)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return HASH.embed_query(query)

    class ScriptedLLM(CustomLLM):
        """A chat LLM that answers call n with ``replies[n]`` and records what it was asked."""

        replies: list[str]
        seen: list[list[ChatMessage]] = Field(default_factory=list)

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(is_chat_model=True)

        def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
            self.seen.append(list(messages))
            text = self.replies[len(self.seen) - 1]
            return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

        async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
            return self.chat(messages)

        def complete(
            self, prompt: str, formatted: bool = False, **kwargs: Any
        ) -> CompletionResponse:
            raise NotImplementedError("ScriptedLLM answers chat calls only")

        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            raise NotImplementedError("ScriptedLLM answers chat calls only")

    def hash_query(text: str, **kw: Any) -> VectorStoreQuery:
        """A LlamaIndex query for ``text``, embedded by :data:`HASH`; ``kw``: the other fields."""
        return VectorStoreQuery(query_str=text, query_embedding=HASH.embed_query(text), **kw)

    return {"HashEmbedModel": HashEmbedModel, "ScriptedLLM": ScriptedLLM, "hash_query": hash_query}


_BUILDERS = {
    "HashEmbeddings": _langchain,
    "ScriptedChatModel": _langchain,
    "HashEmbedModel": _llamaindex,
    "ScriptedLLM": _llamaindex,
    "hash_query": _llamaindex,
}


def __getattr__(name: str) -> Any:
    build = _BUILDERS.get(name)
    if build is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals().update(build())
    return globals()[name]


# -- memory that forms itself: a stand-in model's rule and turns ----------------------------------

_FAVOURITE = re.compile(r"my favourite drink is (\w+)", re.I)


def favourite_drink(turns: Sequence[Turn], known: Sequence[Fact]) -> dict[str, Any]:
    """What a model would decide about 'my favourite drink is X' (add, or update the old one)."""
    ops: list[dict[str, Any]] = []
    for t in turns:
        m = _FAVOURITE.search(t.text) if t.role == "user" else None
        if m is None:
            continue
        text = f"The user's favourite drink is {m.group(1).lower()}"
        old = next((i for i, f in enumerate(known) if "favourite drink" in f.text), None)
        if old is None:
            ops.append({"action": "add", "text": text})
        elif known[old].text != text:
            ops.append({"action": "update", "target": f"F{old + 1}", "text": text})
        if "forget my drink" in t.text and old is not None:
            ops.append({"action": "invalidate", "target": f"F{old + 1}"})
    return {"operations": ops}


def said(text: str, msg_id: str | None = None) -> list[Turn]:
    return [Turn("user", text, msg_id), Turn("assistant", "Noted.")]
