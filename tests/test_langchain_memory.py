"""The LangChain end of memory that forms itself: middleware, tools, a chat-model extractor.

Real Redis and Weaviate; the chat models are small deterministic stand-ins.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from agentmem import AgentMem, AgentMemSettings, Consolidator
from agentmem.errors import ExtractionError
from agentmem.facts import Fact, Turn
from agentmem.testing.extractor import FunctionExtractor
from langchain_agentmem import (
    AgentMemCheckpointSaver,
    AgentMemMemoryMiddleware,
    ChatModelExtractor,
    memory_tools,
)
from tests.support import favourite_drink


class Recording(BaseChatModel):
    """Answers "ok" (or calls the tools it is told to) and records what it was sent."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)
    calls: list[dict[str, Any]] = Field(default_factory=list)
    reply: str = "ok"

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _answer(self, messages: list[BaseMessage]) -> ChatResult:
        self.seen.append(list(messages))
        pending = self.calls if not isinstance(messages[-1], ToolMessage) else []
        message = AIMessage(self.reply if not pending else "", tool_calls=pending)
        self.calls = []
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return self._answer(messages)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return self._answer(messages)

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def agent(mem: AgentMem, model: Recording, consolidator: Consolidator, **kw: Any) -> Any:
    middleware = AgentMemMemoryMiddleware(consolidator, background=False, **kw)
    return create_agent(
        model,
        memory_tools(consolidator),
        system_prompt="You are helpful.",
        middleware=[middleware],
        checkpointer=AgentMemCheckpointSaver(mem),
    )


def system_text(messages: list[BaseMessage]) -> str:
    return "\n".join(m.text for m in messages if m.type == "system")


def test_a_turn_is_queued_after_the_agent_and_recalled_in_a_later_thread(
    full_mem: AgentMem, consolidator: Consolidator
) -> None:
    model = Recording()
    bot = agent(full_mem, model, consolidator)
    ctx = {"user_id": "ada"}
    bot.invoke(
        {"messages": [("user", "My favourite drink is tea")]},
        {"configurable": {"thread_id": "t1"}},
        context=ctx,
    )
    assert consolidator.pending("ada") == 1  # queued, not yet formed: off the response path
    assert consolidator.run_pending().batches == 1
    (fact,) = consolidator.facts("ada").current()
    assert fact.source["session"] == "t1" and fact.source["messages"]
    bot.invoke(
        {"messages": [("user", "What is my favourite drink?")]},
        {"configurable": {"thread_id": "t2"}},
        context=ctx,
    )
    last = model.seen[-1]
    assert "You are helpful." in system_text(last)
    assert "The user's favourite drink is tea" in system_text(last)
    # Recall goes into the system message, never into the checkpointed conversation.
    state = bot.get_state({"configurable": {"thread_id": "t2"}}).values["messages"]
    assert all("favourite drink is tea" not in m.text for m in state if m.type != "human")
    # Another user's run recalls nothing of Ada's.
    bot.invoke(
        {"messages": [("user", "What is my favourite drink?")]},
        {"configurable": {"thread_id": "t3"}},
        context={"user_id": "bob"},
    )
    assert "tea" not in system_text(model.seen[-1])


def test_the_async_agent_recalls_and_queues_in_fresh_event_loops(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    async def turn(text: str, thread: str) -> list[BaseMessage]:
        async with AgentMem(full_settings) as mem:
            c = Consolidator(
                mem, extractor=FunctionExtractor(favourite_drink), collection=unique_collection
            )
            model = Recording()
            await agent(mem, model, c).ainvoke(
                {"messages": [("user", text)]},
                {"configurable": {"thread_id": thread}},
                context={"user_id": "ada"},
            )
            await c.arun_pending()
            return model.seen[-1]

    asyncio.run(turn("My favourite drink is tea", "a1"))
    seen = asyncio.run(turn("What is my favourite drink?", "a2"))
    assert "The user's favourite drink is tea" in system_text(seen)
    with AgentMem(full_settings) as mem:
        mem.weaviate().collections.delete(unique_collection)


def test_a_run_without_a_user_is_neither_recalled_nor_queued(
    full_mem: AgentMem, consolidator: Consolidator
) -> None:
    model = Recording()
    agent(full_mem, model, consolidator).invoke(
        {"messages": [("user", "My favourite drink is tea")]},
        {"configurable": {"thread_id": "anon"}},
    )
    assert consolidator.pending("ada") == 0
    assert system_text(model.seen[-1]) == "You are helpful."


def test_the_budget_caps_what_is_recalled(full_mem: AgentMem, consolidator: Consolidator) -> None:
    facts = consolidator.facts("ada")
    for i in range(6):
        facts.add(f"The user's favourite drink number {i} is a very long named tea variety")
    model = Recording()
    agent(full_mem, model, consolidator, budget_tokens=40).invoke(
        {"messages": [("user", "favourite drink?")]},
        {"configurable": {"thread_id": "b"}},
        context={"user_id": "ada"},
    )
    recalled = [line for line in system_text(model.seen[-1]).splitlines() if line.startswith("- ")]
    assert 1 <= len(recalled) < 6


def test_the_tools_add_update_and_forget_a_fact_of_the_runs_user(
    full_mem: AgentMem, consolidator: Consolidator
) -> None:
    model = Recording()
    bot = agent(full_mem, model, consolidator)
    ctx, cfg = {"user_id": "ada"}, {"configurable": {"thread_id": "tools"}}
    model.calls = [
        {
            "name": "manage_memory",
            "args": {"action": "add", "text": "The user likes jazz"},
            "id": "c1",
            "type": "tool_call",
        }
    ]
    bot.invoke({"messages": [("user", "remember I like jazz")]}, cfg, context=ctx)
    (jazz,) = consolidator.facts("ada").current()
    model.calls = [
        {
            "name": "manage_memory",
            "args": {"action": "update", "fact_id": jazz.id, "text": "The user likes blues"},
            "id": "c2",
            "type": "tool_call",
        }
    ]
    bot.invoke({"messages": [("user", "actually blues")]}, cfg, context=ctx)
    (blues,) = consolidator.facts("ada").current()
    assert blues.supersedes == jazz.id
    model.calls = [
        {"name": "search_memory", "args": {"query": "blues"}, "id": "c3", "type": "tool_call"}
    ]
    state = bot.invoke({"messages": [("user", "what music?")]}, cfg, context=ctx)
    tool_reply = next(m for m in reversed(state["messages"]) if m.type == "tool")
    assert f"[{blues.id}] The user likes blues" in tool_reply.text
    model.calls = [
        {
            "name": "manage_memory",
            "args": {"action": "forget", "fact_id": blues.id},
            "id": "c4",
            "type": "tool_call",
        }
    ]
    bot.invoke({"messages": [("user", "forget it")]}, cfg, context=ctx)
    assert consolidator.facts("ada").current() == []
    assert consolidator.facts("bob").history() == []


class Structured(Recording):
    """A model with tool calling: structured output works through bind_tools."""

    answer: dict[str, Any] = Field(default_factory=dict)

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        name = convert_to_openai_tool(tools[0])["function"]["name"]
        self.calls = [{"name": name, "args": self.answer, "id": "s1", "type": "tool_call"}]
        return self


class PlainText(Recording):
    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


def test_the_chat_model_extractor_uses_structured_output_or_json_and_refuses_garbage() -> None:
    known = [Fact("f1", "The user's favourite drink is tea", 1.0)]
    turns = [Turn("user", "My favourite drink is coffee now")]
    answer = {"operations": [{"action": "update", "target": "F1", "text": "coffee"}]}
    from agentmem.facts import parse_operations

    structured = ChatModelExtractor(Structured(answer=answer))
    ops = parse_operations(structured.extract(turns, known), known)
    assert [(o.action, o.target, o.text) for o in ops] == [("update", "f1", "coffee")]
    plain = ChatModelExtractor(PlainText(reply=f"Sure: {json.dumps(answer)}"))
    assert parse_operations(plain.extract(turns, known), known)[0].target == "f1"
    assert parse_operations(asyncio.run(plain.aextract(turns, known)), known)[0].text == "coffee"
    with pytest.raises(ExtractionError):
        ChatModelExtractor(PlainText(reply="I cannot do that")).extract(turns, known)


def test_langmems_own_tools_work_on_the_agentmem_store_unchanged(
    full_mem: AgentMem, unique_collection: str
) -> None:
    from langmem import create_manage_memory_tool, create_search_memory_tool

    from langchain_agentmem import AgentMemStore
    from tests.support import HashEmbeddings

    index: Any = {"dims": 64, "embed": HashEmbeddings(), "fields": ["content"]}
    store = AgentMemStore(full_mem, tenant_from=1, collection=unique_collection, index=index)
    namespace = ("memories", "{user_id}")
    tools = [create_manage_memory_tool(namespace), create_search_memory_tool(namespace)]
    model = Recording()
    bot = create_agent(model, tools, store=store, checkpointer=AgentMemCheckpointSaver(full_mem))
    cfg: Any = {"configurable": {"thread_id": "langmem", "user_id": "ada"}}
    model.calls = [
        {"name": "manage_memory", "args": {"content": "Ada plays the cello", "action": "create"},
         "id": "m1", "type": "tool_call"}
    ]  # fmt: skip
    bot.invoke({"messages": [("user", "I play the cello")]}, cfg)
    (item,) = store.search(("memories", "ada"))
    assert item.value["content"] == "Ada plays the cello"
    model.calls = [
        {"name": "search_memory", "args": {"query": "cello"}, "id": "m2", "type": "tool_call"}
    ]
    state = bot.invoke({"messages": [("user", "what do I play?")]}, cfg)
    found = next(m for m in reversed(state["messages"]) if m.type == "tool")
    assert "Ada plays the cello" in found.text
    # The item lives in Ada's tenant only.
    assert store.search(("memories", "bob")) == []
    full_mem.weaviate().collections.delete(unique_collection)
