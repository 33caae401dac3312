"""Retention on real Redis: keep-last-N and max-age never break a thread paused on an interrupt."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

import pytest
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from agentmem import AgentMem
from agentmem._redis.checkpoint_keys import thread_keys
from agentmem.checkpoints import CheckpointStore
from langchain_agentmem import AgentMemCheckpointSaver


class S(TypedDict, total=False):
    n: int
    reply: str


def long_graph_with_a_question(steps: int) -> StateGraph:
    builder = StateGraph(S)
    previous = START
    for i in range(steps):
        name = f"s{i}"
        builder.add_node(name, lambda s: {"n": s.get("n", 0) + 1})
        builder.add_edge(previous, name)
        previous = name

    def ask(state: S) -> S:
        return {"reply": str(interrupt(f"after {state['n']} steps?"))}

    builder.add_node("ask", ask)
    builder.add_edge(previous, "ask")
    builder.add_edge("ask", END)
    return builder


def thread_config() -> Any:
    return {"configurable": {"thread_id": uuid.uuid4().hex}}


def test_keep_last_trims_each_put_and_the_paused_thread_still_resumes(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem, keep_last=2)
    graph = long_graph_with_a_question(12).compile(checkpointer=saver)
    config = thread_config()
    graph.invoke({"n": 0}, config, durability="sync")
    history = list(graph.get_state_history(config))
    assert len(history) == 2
    assert graph.get_state(config).next == ("ask",)
    # Values and writes of trimmed checkpoints are gone too: exactly what the kept ones use remains.
    keys = thread_keys(mem.key_prefix, config["configurable"]["thread_id"])
    records = mem.redis().hgetall(keys.cp)
    used = {
        refs[i : i + 80]
        for name, refs in records.items()
        if name.startswith(b"b:")
        for i in range(0, len(refs), 80)
    }
    assert set(mem.redis().hkeys(keys.bl)) == used
    assert sum(name.startswith(b"r:") for name in records) == 2
    done = graph.invoke(Command(resume="yes"), config, durability="sync")
    assert done == {"n": 12, "reply": "yes"}


def test_max_age_drops_old_checkpoints_but_keeps_the_newest(mem: AgentMem) -> None:
    graph = long_graph_with_a_question(5)
    config = thread_config()
    graph.compile(checkpointer=AgentMemCheckpointSaver(mem)).invoke(
        {"n": 0}, config, durability="sync"
    )
    assert len(list(AgentMemCheckpointSaver(mem).list(config))) == 7
    time.sleep(0.3)
    aged = AgentMemCheckpointSaver(mem, max_age=0.2)
    # A days-long human pause is simulated by the sleep: the explicit prune keeps the newest.
    store = CheckpointStore(mem)
    assert store.prune(config["configurable"]["thread_id"], keep_last=1_000, max_age=0.2) == 6
    assert len(list(aged.list(config))) == 1
    done = graph.compile(checkpointer=aged).invoke(Command(resume="ok"), config)
    assert done == {"n": 5, "reply": "ok"}


def test_prune_keep_latest_keeps_the_newest_of_every_namespace_and_its_writes(
    mem: AgentMem,
) -> None:
    saver = AgentMemCheckpointSaver(mem)
    graph = long_graph_with_a_question(4).compile(checkpointer=saver)
    config = thread_config()
    graph.invoke({"n": 0}, config)
    saver.prune([config["configurable"]["thread_id"]])
    [only] = list(saver.list(config))
    assert any(w[1] == "__interrupt__" for w in only.pending_writes or [])
    assert graph.invoke(Command(resume="r"), config) == {"n": 4, "reply": "r"}


def test_store_prune_refuses_a_policy_that_keeps_nothing(mem: AgentMem) -> None:
    with pytest.raises(ValueError, match="keep_last"):
        CheckpointStore(mem).prune("t", keep_last=0)


def append_all(state: list[Any] | None, writes: Sequence[list[Any]]) -> list[Any]:
    out = list(state or [])
    for batch in writes:
        out.extend(batch)
    return out


class DeltaState(TypedDict):
    items: Annotated[list[Any], DeltaChannel(append_all, list, snapshot_frequency=4)]


def delta_graph() -> StateGraph:
    builder = StateGraph(DeltaState)
    builder.add_node("a", lambda s: {"items": ["a"]})
    builder.add_edge(START, "a")
    builder.add_edge("a", END)
    return builder


@pytest.mark.parametrize("policy", [{}, {"keep_last": 1}, {"keep_last": 2}])
def test_delta_channel_state_survives_retention(mem: AgentMem, policy: dict[str, int]) -> None:
    saver = AgentMemCheckpointSaver(mem, **policy)
    ours = delta_graph().compile(checkpointer=saver)
    reference = delta_graph().compile(checkpointer=InMemorySaver())
    config = thread_config()
    for i in range(11):
        assert ours.invoke({"items": [i]}, config) == reference.invoke({"items": [i]}, config)
    expected = reference.get_state(config).values
    assert ours.get_state(config).values == expected
    saver.prune([config["configurable"]["thread_id"]])
    # A fresh saver rebuilds the delta channel from what retention kept.
    again = delta_graph().compile(checkpointer=AgentMemCheckpointSaver(mem))
    assert again.get_state(config).values == expected
    if policy:
        # Trimmed, but never past the last snapshot the newest state is rebuilt from.
        assert len(list(saver.list(config))) < 2 * 11 + 1


async def test_max_age_at_put_trims_old_checkpoints_and_the_paused_thread_resumes(
    amem: AgentMem,
) -> None:
    saver = AgentMemCheckpointSaver(amem, max_age=0.25)
    graph = long_graph_with_a_question(3).compile(checkpointer=saver)
    config = thread_config()
    await graph.ainvoke({"n": 0}, config, durability="sync")
    before = [t.checkpoint["id"] async for t in saver.alist(config)]
    assert len(before) == 5  # all younger than max_age
    await asyncio.sleep(0.3)
    # Days later a human answers: the resume puts new checkpoints, and the old ones age out.
    done = await graph.ainvoke(Command(resume="late"), config, durability="sync")
    assert done == {"n": 3, "reply": "late"}
    after = [t.checkpoint["id"] async for t in saver.alist(config)]
    assert not set(before[1:]) & set(after)  # the aged checkpoints went at the next put
    assert (await graph.aget_state(config)).values == {"n": 3, "reply": "late"}


def test_a_late_write_for_a_trimmed_checkpoint_leaves_nothing_behind(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem, keep_last=1)
    store = CheckpointStore(mem)
    graph = long_graph_with_a_question(3).compile(checkpointer=saver)
    config = thread_config()
    graph.invoke({"n": 0}, config, durability="sync")
    [latest] = list(saver.list(config))
    parent = latest.parent_config
    assert parent is not None
    assert saver.get_tuple(parent) is None  # trimmed
    keys = thread_keys(mem.key_prefix, config["configurable"]["thread_id"])
    writes_before = mem.redis().hlen(keys.wr)
    saver.put_writes(parent, [("n", 99)], "late-task")  # arrives after the trim
    assert mem.redis().hlen(keys.wr) == writes_before
    assert store.get(config["configurable"]["thread_id"]) is not None
    # A write for a checkpoint not put yet (no newer one exists) is kept.
    future = {
        "configurable": {**config["configurable"], "checkpoint_id": "~future", "checkpoint_ns": ""}
    }
    saver.put_writes(future, [("n", 1)], "early-task")
    assert mem.redis().hlen(keys.wr) == writes_before + 1
