"""The LlamaIndex end of memory that forms itself, and facts shared with the LangChain end.

Real Redis and Weaviate; models are deterministic stand-ins.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain.agents import create_agent
from llama_index.core.base.llms.types import (
    ChatMessage,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.memory import Memory

from agentmem import AgentMem, AgentMemSettings, Consolidator
from agentmem.facts import Fact, Turn, parse_operations
from agentmem.testing.extractor import FunctionExtractor
from langchain_agentmem import AgentMemCheckpointSaver, AgentMemMemoryMiddleware
from llamaindex_agentmem import AgentMemDBChatStore, AgentMemFactsBlock, LLMExtractor
from tests.support import favourite_drink
from tests.test_langchain_memory import Recording, system_text


def block(c: Consolidator, user: str = "ada") -> AgentMemFactsBlock:
    return AgentMemFactsBlock(consolidator=c, user_id=user, background=False)


def small_memory(mem: AgentMem, c: Consolidator, session: str) -> Memory:
    # A tiny short-term budget, so the first turn is flushed to the block at once.
    return Memory.from_defaults(
        session_id=session,
        chat_store=AgentMemDBChatStore(mem, user_id="ada"),
        memory_blocks=[block(c)],
        token_limit=40,
        chat_history_token_ratio=0.5,
        token_flush_size=10,
    )


async def chat_turn(memory: Memory, user: str, assistant: str) -> None:
    await memory.aput(ChatMessage(role=MessageRole.USER, content=user))
    await memory.aput(ChatMessage(role=MessageRole.ASSISTANT, content=assistant))


def test_what_memory_flushes_becomes_a_fact_recalled_into_the_next_chat(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    async def first() -> None:
        async with AgentMem(full_settings) as mem:
            c = Consolidator(
                mem, extractor=FunctionExtractor(favourite_drink), collection=unique_collection
            )
            memory = small_memory(mem, c, "li-1")
            await chat_turn(memory, "My favourite drink is tea, by the way.", "Lovely, noted!")
            await chat_turn(memory, "And the weather is nice today.", "It is!")
            assert await c.apending("ada") >= 1
            assert (await c.arun_pending()).batches >= 1

    async def second() -> str:
        async with AgentMem(full_settings) as mem:
            c = Consolidator(
                mem, extractor=FunctionExtractor(favourite_drink), collection=unique_collection
            )
            memory = small_memory(mem, c, "li-2")
            await memory.aput(
                ChatMessage(role=MessageRole.USER, content="What is my favourite drink?")
            )
            context = await memory.aget()
            return "\n".join(m.content or "" for m in context)

    asyncio.run(first())
    context = asyncio.run(second())
    assert "The user's favourite drink is tea" in context
    with AgentMem(full_settings) as mem:
        (fact,) = Consolidator(mem, collection=unique_collection).facts("ada").current()
        assert fact.source["session"] == "li-1"
        mem.weaviate().collections.delete(unique_collection)


def test_a_fact_formed_in_a_llamaindex_chat_is_recalled_by_a_langgraph_agent(
    full_mem: AgentMem, consolidator: Consolidator
) -> None:
    async def li_chat() -> None:
        await block(consolidator).aput([
            ChatMessage(role=MessageRole.USER, content="My favourite drink is mate"),
            ChatMessage(role=MessageRole.ASSISTANT, content="Noted."),
        ], session_id="li")  # fmt: skip

    asyncio.run(li_chat())
    consolidator.run_pending()
    model = Recording()
    agent = create_agent(
        model,
        [],
        middleware=[AgentMemMemoryMiddleware(consolidator, background=False)],
        checkpointer=AgentMemCheckpointSaver(full_mem),
    )
    agent.invoke(
        {"messages": [("user", "What is my favourite drink?")]},
        {"configurable": {"thread_id": "lc"}},
        context={"user_id": "ada"},
    )
    assert "The user's favourite drink is mate" in system_text(model.seen[-1])


def test_a_fact_formed_by_a_langgraph_agent_is_recalled_by_the_llamaindex_block(
    full_mem: AgentMem, consolidator: Consolidator
) -> None:
    agent = create_agent(
        Recording(),
        [],
        middleware=[AgentMemMemoryMiddleware(consolidator, background=False)],
        checkpointer=AgentMemCheckpointSaver(full_mem),
    )
    agent.invoke(
        {"messages": [("user", "My favourite drink is kefir")]},
        {"configurable": {"thread_id": "lc"}},
        context={"user_id": "ada"},
    )
    consolidator.run_pending()
    question = [ChatMessage(role=MessageRole.USER, content="What is my favourite drink?")]
    recalled = asyncio.run(block(consolidator).aget(question))
    assert recalled == "- The user's favourite drink is kefir"
    assert asyncio.run(block(consolidator, "bob").aget(question)) == ""


def test_the_block_refuses_what_is_not_a_consolidator(consolidator: Consolidator) -> None:
    # pydantic wraps the InvalidInputError (a ValueError) in its ValidationError (one too).
    with pytest.raises(ValueError, match=r"needs an agentmem\.Consolidator"):
        AgentMemFactsBlock(consolidator=object(), user_id="ada")
    with pytest.raises(ValueError, match="user_id"):
        AgentMemFactsBlock(consolidator=consolidator, user_id="")


class JsonLLM(CustomLLM):
    """Completes every prompt with a fixed text (a model without tool calling)."""

    answer: str = "{}"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="json-stand-in")

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self.answer)

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield CompletionResponse(text=self.answer, delta=self.answer)


def test_the_llm_extractor_returns_checked_operations() -> None:
    known = [Fact("f1", "The user's favourite drink is tea", 1.0)]
    turns = [Turn("user", "My favourite drink is coffee now")]
    answer = {"operations": [{"action": "update", "target": "F1", "text": "coffee"}]}
    extractor = LLMExtractor(JsonLLM(answer=json.dumps(answer)))
    ops = parse_operations(extractor.extract(turns, known), known)
    assert [(o.action, o.target, o.text) for o in ops] == [("update", "f1", "coffee")]
    ops = parse_operations(asyncio.run(extractor.aextract(turns, known)), known)
    assert ops[0].target == "f1"
    with pytest.raises(Exception):  # noqa: B017 - the LLM's own parse error: retried, then parked
        LLMExtractor(JsonLLM(answer="no json here")).extract(turns, known)
