"""Every public class works across event loops, the way users run it: a write in one
``asyncio.run``, a read in the next (scripts, notebooks, Celery tasks), and frameworks that run
their own temporary loop. One object, several loops; each write stored exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.memory import Memory
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery

from agentmem import (
    AgentMem,
    CheckpointStore,
    LongTermMemory,
    MemoryRecord,
    RunStore,
    SessionStore,
)
from agentmem.testing.embedding import HashingEmbedder
from langchain_agentmem import (
    AgentMemChatMessageHistory,
    AgentMemCheckpointSaver,
    AgentMemStore,
)
from langchain_agentmem import AgentMemVectorStore as LCVectorStore
from llamaindex_agentmem import AgentMemChatStore, AgentMemDBChatStore
from llamaindex_agentmem import AgentMemVectorStore as LIVectorStore
from tests import support

Step = Callable[[], Awaitable[Any]]


def _in_fresh_loops(*steps: Step) -> list[Any]:
    """Run each step in its own ``asyncio.run``, as a script or a notebook cell does."""
    return [asyncio.run(step()) for step in steps]


# -- Redis-backed classes ------------------------------------------------------------------------


@pytest.mark.redis
def test_session_store_across_loops(mem: AgentMem) -> None:
    store = SessionStore(mem, user_id="u1")

    async def write() -> int:
        return await store.aappend("s1", [{"role": "user", "content": "hi"}])

    async def read() -> list[Any]:
        return [m.data for m in await store.aread("s1")]

    assert _in_fresh_loops(write, read, write, read) == [
        1,
        [{"role": "user", "content": "hi"}],
        2,
        [{"role": "user", "content": "hi"}] * 2,
    ]


@pytest.mark.redis
def test_langchain_chat_history_across_loops_stores_each_message_once(mem: AgentMem) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="chat-1", user_id="user-42")

    async def write() -> None:
        await history.aadd_messages([HumanMessage("hello"), AIMessage("hi, Ada")])

    async def read() -> list[str]:
        return [str(m.content) for m in await history.aget_messages()]

    assert _in_fresh_loops(write, read, read)[1:] == [["hello", "hi, Ada"]] * 2


@pytest.mark.redis
def test_llamaindex_chat_stores_across_loops(mem: AgentMem) -> None:
    store = AgentMemChatStore(mem, user_id="user-42")
    db_store = AgentMemDBChatStore(mem, user_id="user-43")

    async def write() -> None:
        await store.async_add_message("chat-1", ChatMessage(role=MessageRole.USER, content="a"))
        await db_store.add_message("chat-1", ChatMessage(role=MessageRole.USER, content="b"))

    async def read() -> tuple[list[str | None], list[str | None]]:
        first = [m.content for m in await store.aget_messages("chat-1")]
        second = [m.content for m in await db_store.get_messages("chat-1")]
        return first, second

    assert _in_fresh_loops(write, read)[1] == (["a"], ["b"])


@pytest.mark.redis
def test_llamaindex_memory_filled_through_its_own_loop_is_read_in_ours(mem: AgentMem) -> None:
    # Memory.from_defaults(chat_history=...) stores the history through a temporary loop of its
    # own (asyncio_run inside LlamaIndex); our loop then reads the same store.
    store = AgentMemDBChatStore(mem, user_id="user-44")
    history = [ChatMessage(role=MessageRole.USER, content="my name is Ada")]
    memory = Memory.from_defaults(session_id="chat-1", chat_history=history, chat_store=store)
    memory.put_messages([ChatMessage(role=MessageRole.ASSISTANT, content="hi, Ada")])

    async def read() -> list[str | None]:
        return [m.content for m in await memory.aget_all()]

    assert _in_fresh_loops(read, read) == [["my name is Ada", "hi, Ada"]] * 2


@pytest.mark.redis
def test_checkpoint_saver_and_store_across_loops(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    store = CheckpointStore(mem)
    config: Any = {"configurable": {"thread_id": f"t-{uuid.uuid4().hex}", "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()

    async def put() -> Any:
        return await saver.aput(config, checkpoint, {"step": 1}, {})

    async def get() -> Any:
        found = await saver.aget_tuple(config)
        return None if found is None else found.checkpoint["id"]

    async def core_get() -> Any:
        record = await store.aget(config["configurable"]["thread_id"])
        return None if record is None else record.checkpoint_id

    assert _in_fresh_loops(put, get, core_get)[1:] == [checkpoint["id"]] * 2


@pytest.mark.redis
def test_run_store_across_loops(mem: AgentMem) -> None:
    runs = RunStore(mem)

    async def save() -> Any:
        return await runs.asave("Approval", "run-1", b"{}", status="paused")

    async def get() -> Any:
        saved = await runs.aget("Approval", "run-1")
        return None if saved is None else saved.status

    assert _in_fresh_loops(save, get)[1] == "paused"


# -- Weaviate-backed classes ---------------------------------------------------------------------


@pytest.mark.weaviate
def test_long_term_memory_and_both_vector_stores_across_loops(
    full_mem: AgentMem, unique_collection: str
) -> None:
    memory = LongTermMemory(mem := full_mem, tenant="u1", collection=unique_collection,
                            embedder=HashingEmbedder())  # fmt: skip
    lc = LCVectorStore(mem, tenant="u1", collection=unique_collection,
                       embedding=support.HashEmbeddings())  # fmt: skip
    li = LIVectorStore(mem, tenant="u1", collection=unique_collection,
                       embed_model=support.HashEmbedModel())  # fmt: skip

    async def write() -> None:
        await memory.aadd([MemoryRecord("green tea in the morning", id="m1")])
        await lc.aadd_documents([Document("black coffee at noon")], ids=["m2"])
        node = TextNode(text="rooibos at night", id_="m3")
        node.embedding = HashingEmbedder().embed_query(node.text)
        await li.async_add([node])

    async def read() -> list[str]:
        found = {r.id for r in await memory.aget(["m1", "m2", "m3"])}
        found |= {d.id or "" for d in await lc.aget_by_ids(["m1", "m2"])}
        result = await li.aquery(VectorStoreQuery(query_str="rooibos", similarity_top_k=3,
                                 query_embedding=HashingEmbedder().embed_query("rooibos")))  # fmt: skip
        found |= set(result.ids or [])
        return sorted(found)

    assert _in_fresh_loops(write, read, read)[1:] == [["m1", "m2", "m3"]] * 2
    memory.drop_collection()


@pytest.mark.weaviate
def test_langgraph_store_across_loops(full_mem: AgentMem, unique_collection: str) -> None:
    store = AgentMemStore(full_mem, tenant="u1", collection=unique_collection)

    async def put() -> None:
        await store.aput(("memories", "u1"), "k1", {"text": "likes green tea"})

    async def get() -> Any:
        item = await store.aget(("memories", "u1"), "k1")
        return None if item is None else item.value

    assert _in_fresh_loops(put, get, get)[1:] == [{"text": "likes green tea"}] * 2
    LongTermMemory(full_mem, tenant="u1", collection=unique_collection).drop_collection()
