"""Many writers at once, from threads and asyncio tasks together, on real Redis: no message lost,
reordered or delivered to the wrong session or thread, and a bounded number of connections."""

from __future__ import annotations

import asyncio
import operator
import threading
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph

from agentmem import AgentMem, AgentMemSettings
from agentmem.sessions import SessionStore
from langchain_agentmem import AgentMemCheckpointSaver
from tests.support import agentmem_connections

SESSIONS, APPENDS = 100, 20
THREADS, STEPS = 50, 5


def _batch(session: int, turn: int) -> list[dict[str, Any]]:
    return [{"session": session, "turn": turn, "part": part} for part in range(1 + turn % 3)]


def _expected(session: int) -> list[dict[str, Any]]:
    return [m for turn in range(APPENDS) for m in _batch(session, turn)]


async def test_100_sessions_written_from_threads_and_tasks_at_once(
    redis_settings: AgentMemSettings, mem: AgentMem
) -> None:
    sync_store = SessionStore(mem, user_id="load")
    async_mem = AgentMem(redis_settings)
    async_store = SessionStore(async_mem, user_id="load")

    def write_sync(session: int) -> None:
        for turn in range(APPENDS):
            sync_store.append(f"s{session}", _batch(session, turn))

    async def write_async(session: int) -> None:
        for turn in range(APPENDS):
            await async_store.aappend(f"s{session}", _batch(session, turn))

    half = SESSIONS // 2
    baseline = agentmem_connections(mem)

    async def write_all() -> None:
        workers = [threading.Thread(target=write_sync, args=(s,)) for s in range(half)]
        for worker in workers:
            worker.start()
        # The event loop writes the other half while the threads write theirs.
        await asyncio.gather(*(write_async(s) for s in range(half, SESSIONS)))
        for worker in workers:
            worker.join()

    await write_all()

    for session in range(SESSIONS):
        assert [m.data for m in sync_store.read(f"s{session}")] == _expected(session)
    listed = {info.session_id: info.message_count for info in sync_store.list_sessions()}
    assert listed == {f"s{s}": len(_expected(s)) for s in range(SESSIONS)}
    # 50 threads share one pool; the async client keeps its own. Each of the 100 writers holds
    # at most one connection at a time, so however the pools grow, the count stays within the
    # writers' number (and the pools' bounds), round after round: connections are reused, not
    # leaked.
    bound = min(SESSIONS, 2 * redis_settings.redis.max_connections)
    assert 1 <= agentmem_connections(mem) - baseline <= bound
    await write_all()
    await write_all()
    assert agentmem_connections(mem) - baseline <= bound
    assert sync_store.count("s0") == 3 * len(_expected(0))
    await async_mem.aclose()


class State(TypedDict):
    log: Annotated[list[str], operator.add]


def _graph(saver: AgentMemCheckpointSaver) -> Any:
    builder = StateGraph(State)
    builder.add_node("step", lambda state: {"log": [f"n{len(state['log'])}"]})
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda s: END if len(s["log"]) >= STEPS else "step")
    return builder.compile(checkpointer=saver)


async def test_50_langgraph_threads_run_concurrently_without_cross_talk(
    redis_settings: AgentMemSettings, mem: AgentMem
) -> None:
    saver = AgentMemCheckpointSaver(mem)
    graph = _graph(saver)

    def run_sync(thread: int) -> None:
        graph.invoke({"log": [f"t{thread}"]}, {"configurable": {"thread_id": f"t{thread}"}})

    async def run_async(thread: int) -> None:
        await graph.ainvoke({"log": [f"t{thread}"]}, {"configurable": {"thread_id": f"t{thread}"}})

    half = THREADS // 2
    workers = [threading.Thread(target=run_sync, args=(t,)) for t in range(half)]
    for worker in workers:
        worker.start()
    await asyncio.gather(*(run_async(t) for t in range(half, THREADS)))
    for worker in workers:
        worker.join()

    before = agentmem_connections(mem)
    for thread in range(THREADS):
        state = graph.get_state({"configurable": {"thread_id": f"t{thread}"}})
        assert state.values["log"] == [f"t{thread}", *[f"n{i}" for i in range(1, STEPS)]]
        history = list(graph.get_state_history({"configurable": {"thread_id": f"t{thread}"}}))
        assert len(history) == STEPS + 1  # input + one checkpoint per step, nothing foreign
    assert 1 <= before <= 2 * redis_settings.redis.max_connections
    # Reading 50 threads' state opened no new connections.
    assert agentmem_connections(mem) <= before
