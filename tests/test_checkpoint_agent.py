"""``langchain.agents.create_agent`` with a tool, checkpointed on real Redis, resumed by a new saver."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from agentmem import AgentMem, AgentMemSettings
from langchain_agentmem import AgentMemCheckpointSaver
from tests.support import ScriptedChatModel


@tool
def get_weather(city: str) -> str:
    """Return the weather in a city."""
    return f"sunny in {city}"


def scripted() -> Any:
    return ScriptedChatModel(
        replies=[
            AIMessage(
                content="",
                tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call-1"}],
            ),
            AIMessage(content="It is sunny in Paris."),
            AIMessage(content="You're welcome!"),
        ]
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_agent_with_a_tool_resumes_its_conversation_from_a_new_saver(
    redis_settings: AgentMemSettings, mem: AgentMem, mode: str
) -> None:
    model = scripted()
    config: Any = {"configurable": {"thread_id": f"agent-{uuid.uuid4().hex}"}}
    first_turn = {"messages": [HumanMessage("Weather in Paris?")]}
    second_turn = {"messages": [HumanMessage("Thanks!")]}

    async with AgentMem(redis_settings) as one:
        agent = create_agent(model, tools=[get_weather], checkpointer=AgentMemCheckpointSaver(one))
        if mode == "sync":
            out = agent.invoke(first_turn, config)
        else:
            out = await agent.ainvoke(first_turn, config)
    assert [type(m) for m in out["messages"]] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    assert out["messages"][2].content == "sunny in Paris"

    # Another saver object, another client: the conversation comes back from Redis.
    async with AgentMem(redis_settings) as two:
        agent = create_agent(model, tools=[get_weather], checkpointer=AgentMemCheckpointSaver(two))
        if mode == "sync":
            out = agent.invoke(second_turn, config)
            state = agent.get_state(config)
        else:
            out = await agent.ainvoke(second_turn, config)
            state = await agent.aget_state(config)
    assert out["messages"][-1].content == "You're welcome!"
    shown = model.seen[-1]
    assert [m.content for m in shown] == [
        "Weather in Paris?",
        "",
        "sunny in Paris",
        "It is sunny in Paris.",
        "Thanks!",
    ]
    assert shown[1].tool_calls[0]["id"] == "call-1"  # type: ignore[attr-defined]
    assert len(state.values["messages"]) == 6
