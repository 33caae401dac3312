"""Hundreds of concurrent callers on one object, with the default pool (64 connections): they
wait for a free connection instead of failing, nothing is lost or mixed up, and the number of
connections stays bounded (counted with CLIENT LIST)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from agentmem import AgentMem, SessionStore
from langchain_agentmem import AgentMemCheckpointSaver
from tests import support

pytestmark = pytest.mark.redis
CALLERS = 200


def _bound(mem: AgentMem) -> int:
    # Each pool holds at most max_connections; on a cluster the async client also keeps the
    # connection it read the slot map with.
    return mem.settings.redis.max_connections + (1 if mem.settings.redis.cluster else 0)


def test_200_threads_append_to_one_session_store(mem: AgentMem) -> None:
    store = SessionStore(mem, user_id="many")
    baseline = support.agentmem_connections(mem)

    def append(i: int) -> int:
        return store.append(f"s{i}", [{"i": i}, {"i": i, "second": True}])

    with ThreadPoolExecutor(CALLERS) as pool:
        counts = list(pool.map(append, range(CALLERS)))
    assert counts == [2] * CALLERS
    assert support.agentmem_connections(mem) - baseline <= _bound(mem)
    for i in range(0, CALLERS, 17):
        assert [m.data for m in store.read(f"s{i}")] == [{"i": i}, {"i": i, "second": True}]


async def test_200_tasks_append_to_one_session_store(amem: AgentMem) -> None:
    store = SessionStore(amem, user_id="many")
    counts = await asyncio.gather(*(store.aappend(f"s{i}", [{"i": i}]) for i in range(CALLERS)))
    assert counts == [1] * CALLERS
    assert sum(await asyncio.gather(*(store.acount(f"s{i}") for i in range(CALLERS)))) == CALLERS


async def test_200_langgraph_runs_at_once_on_one_saver(amem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(amem)
    graph = support.one_node_graph(saver)

    async def run(i: int) -> Any:
        config = {"configurable": {"thread_id": f"many-{i}"}}
        return await graph.ainvoke({"i": i}, config)

    results = await asyncio.gather(*(run(i) for i in range(CALLERS)))
    assert [r["x"] for r in results] == [1] * CALLERS
    states = await asyncio.gather(
        *(graph.aget_state({"configurable": {"thread_id": f"many-{i}"}}) for i in range(CALLERS))
    )
    assert [s.values.get("x") for s in states] == [1] * CALLERS
    assert [s.config["configurable"]["thread_id"] for s in states] == [
        f"many-{i}" for i in range(CALLERS)
    ]
    assert support.agentmem_connections(amem) <= _bound(amem) + 1  # + the sync client's own
