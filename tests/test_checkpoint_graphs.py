"""Compiled LangGraph graphs checkpointed by AgentMemCheckpointSaver on real Redis, sync and async.

Each scenario is written once as a function over a ``Runner`` that calls either the sync or the
async graph API, and runs in both modes.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt
from typing_extensions import TypedDict

from agentmem import AgentMem, AgentMemSettings
from langchain_agentmem import AgentMemCheckpointSaver


class State(TypedDict, total=False):
    topic: str
    answer: str
    items: Annotated[list[str], operator.add]
    log: Annotated[list[str], operator.add]


class Runner:
    """Calls a compiled graph the sync or the async way."""

    def __init__(self, mode: str, graph: Any) -> None:
        self.mode, self.graph = mode, graph

    async def invoke(self, value: Any, config: dict[str, Any], **kw: Any) -> Any:
        if self.mode == "sync":
            return self.graph.invoke(value, config, **kw)
        return await self.graph.ainvoke(value, config, **kw)

    async def state(self, config: dict[str, Any]) -> Any:
        if self.mode == "sync":
            return self.graph.get_state(config)
        return await self.graph.aget_state(config)

    async def history(self, config: dict[str, Any]) -> list[Any]:
        if self.mode == "sync":
            return list(self.graph.get_state_history(config))
        return [s async for s in self.graph.aget_state_history(config)]

    async def update(self, config: dict[str, Any], values: Any, as_node: str | None = None) -> Any:
        if self.mode == "sync":
            return self.graph.update_state(config, values, as_node=as_node)
        return await self.graph.aupdate_state(config, values, as_node=as_node)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def saver(redis_settings: AgentMemSettings, mem: AgentMem) -> AsyncIterator[Any]:
    async with AgentMem(redis_settings) as memory:
        yield AgentMemCheckpointSaver(memory)


def cfg(thread: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread or uuid.uuid4().hex, **extra}}


# -- graphs --------------------------------------------------------------------------------------


def approval_graph() -> StateGraph:
    def draft(state: State) -> State:
        return {"answer": f"draft about {state['topic']}", "log": ["draft"]}

    def review(state: State) -> State:
        verdict = interrupt({"question": "approve?", "draft": state["answer"]})
        return {"answer": f"{state['answer']} ({verdict})", "log": ["review"]}

    builder = StateGraph(State)
    builder.add_node("draft", draft)
    builder.add_node("review", review)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "review")
    builder.add_edge("review", END)
    return builder


def fanout_graph() -> StateGraph:
    def plan(state: State) -> State:
        return {"log": ["plan"]}

    def route(state: State) -> list[Send]:
        return [Send("work", {"topic": f"{state['topic']}-{i}"}) for i in range(5)]

    def work(state: State) -> State:
        return {"items": [state["topic"]]}

    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_node("work", work)
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", route, ["work"])
    builder.add_edge("work", END)
    return builder


class InnerState(TypedDict, total=False):
    topic: str
    answer: str


def parent_with_subgraph() -> StateGraph:
    def inner_step(state: InnerState) -> InnerState:
        reply = interrupt("inner needs input")
        return {"answer": f"inner:{reply}"}

    inner = StateGraph(InnerState)
    inner.add_node("inner_step", inner_step)
    inner.add_edge(START, "inner_step")
    inner.add_edge("inner_step", END)

    def before(state: State) -> State:
        return {"log": ["before"]}

    builder = StateGraph(State)
    builder.add_node("before", before)
    builder.add_node("sub", inner.compile())
    builder.add_edge(START, "before")
    builder.add_edge("before", "sub")
    builder.add_edge("sub", END)
    return builder


def counter_graph(steps: Callable[[State], State]) -> StateGraph:
    builder = StateGraph(State)
    builder.add_node("a", steps)
    builder.add_node("b", steps)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", END)
    return builder


# -- scenarios -----------------------------------------------------------------------------------


async def test_interrupt_then_resume_with_command_finishes_the_run(
    mode: str, saver: AgentMemCheckpointSaver, redis_settings: AgentMemSettings
) -> None:
    run = Runner(mode, approval_graph().compile(checkpointer=saver))
    config = cfg()
    first = await run.invoke({"topic": "redis"}, config)
    assert first["__interrupt__"][0].value == {"question": "approve?", "draft": "draft about redis"}
    paused = await run.state(config)
    assert paused.next == ("review",)

    # A fresh saver object (another process, say) resumes the thread from Redis.
    async with AgentMem(redis_settings) as other:
        again = Runner(mode, approval_graph().compile(checkpointer=AgentMemCheckpointSaver(other)))
        done = await again.invoke(Command(resume="yes"), config)
    assert done["answer"] == "draft about redis (yes)"
    assert done["log"] == ["draft", "review"]
    assert (await run.state(config)).next == ()


async def test_time_travel_replays_and_forks_from_an_earlier_checkpoint(
    mode: str, saver: AgentMemCheckpointSaver
) -> None:
    def step(state: State) -> State:
        return {"log": [f"step{len(state.get('log', []))}"]}

    run = Runner(mode, counter_graph(step).compile(checkpointer=saver))
    config = cfg()
    out = await run.invoke({"topic": "t", "log": []}, config)
    assert out["log"] == ["step0", "step1"]
    history = await run.history(config)
    assert [h.metadata["step"] for h in history] == [2, 1, 0, -1]  # newest first
    after_a = next(h for h in history if h.next == ("b",))

    # Fork: edit the state at the checkpoint after "a", then continue from the fork.
    forked = await run.update(after_a.config, {"log": ["edited"]})
    assert (
        forked["configurable"]["checkpoint_id"] != after_a.config["configurable"]["checkpoint_id"]
    )
    resumed = await run.invoke(None, forked)
    assert resumed["log"] == ["step0", "edited", "step2"]

    # Replay from the original checkpoint: the original branch is untouched.
    replay = await run.invoke(None, after_a.config)
    assert replay["log"] == ["step0", "step1"]
    assert len(await run.history(config)) > len(history)


async def test_subgraph_interrupt_resumes_inside_its_namespace(
    mode: str, saver: AgentMemCheckpointSaver
) -> None:
    run = Runner(mode, parent_with_subgraph().compile(checkpointer=saver))
    config = cfg()
    first = await run.invoke({"topic": "x", "log": []}, config)
    assert first["__interrupt__"][0].value == "inner needs input"
    # The subgraph wrote checkpoints under its own namespace "sub:<task id>".
    namespaces = {t.config["configurable"]["checkpoint_ns"] for t in saver.list(config)}
    assert "" in namespaces
    assert any(ns.startswith("sub:") for ns in namespaces)
    done = await run.invoke(Command(resume="ok"), config)
    assert done["answer"] == "inner:ok"
    assert done["log"] == ["before"]


async def test_send_fan_out_keeps_every_parallel_write(
    mode: str, saver: AgentMemCheckpointSaver
) -> None:
    run = Runner(mode, fanout_graph().compile(checkpointer=saver))
    config = cfg()
    out = await run.invoke({"topic": "job", "items": []}, config)
    assert sorted(out["items"]) == [f"job-{i}" for i in range(5)]
    # The checkpoint after "plan" carries the five Send packets as pending task writes.
    plan_step = next(h for h in await run.history(config) if h.metadata["step"] == 1)
    assert len(plan_step.tasks) == 5


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
async def test_every_durability_mode_stores_a_resumable_state(
    mode: str, saver: AgentMemCheckpointSaver, durability: str
) -> None:
    run = Runner(mode, approval_graph().compile(checkpointer=saver))
    config = cfg()
    await run.invoke({"topic": durability}, config, durability=durability)
    assert (await run.state(config)).next == ("review",)
    done = await run.invoke(Command(resume="ok"), config, durability=durability)
    assert done["answer"] == f"draft about {durability} (ok)"
    history = await run.history(config)
    if durability == "exit":
        # Only the final state of each invocation is saved.
        assert len(history) == 2
    else:
        assert len(history) >= 4


async def test_graph_state_matches_the_in_memory_saver(
    mode: str, saver: AgentMemCheckpointSaver
) -> None:
    ours = Runner(mode, fanout_graph().compile(checkpointer=saver))
    reference = Runner(mode, fanout_graph().compile(checkpointer=InMemorySaver()))
    config = cfg("same-thread")
    a = await ours.invoke({"topic": "p", "items": []}, config)
    b = await reference.invoke({"topic": "p", "items": []}, config)
    assert a == b
    ours_hist = [(h.metadata["step"], h.next, h.values) for h in await ours.history(config)]
    ref_hist = [(h.metadata["step"], h.next, h.values) for h in await reference.history(config)]
    assert ours_hist == ref_hist
