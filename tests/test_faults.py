"""Faults against real servers.

* Redis killed with SIGKILL in the middle of a LangGraph run, with AOF `appendfsync always`: every
  checkpoint whose put returned survives, the run resumes from the last one, and the thread is
  never half-written.
* Weaviate killed in the middle of a batch write: the caller gets PartialWriteError naming what
  landed and what did not, and re-running the same write stores each memory exactly once.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.graph import END, START, StateGraph

from agentmem import AgentMem, AgentMemSettings, BackendUnavailable, LocalSettings, RedisSettings
from agentmem.local import LocalStack, WeaviatePorts, free_port
from langchain_agentmem import AgentMemCheckpointSaver

pytestmark = pytest.mark.slow
STEPS, CRASH_AT = 8, 4


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path, redis_port=free_port(), weaviate_ports=WeaviatePorts.free(),
                       redis_args=["--appendfsync", "always"])  # fmt: skip
    stack.up(only=["redis"])
    yield stack
    stack.down()


class RecordingSaver(AgentMemCheckpointSaver):
    """Remembers every checkpoint id whose put returned (acknowledged writes)."""

    acknowledged: list[str]

    def put(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:  # fmt: skip
        stored = super().put(config, checkpoint, metadata, new_versions)
        self.acknowledged.append(checkpoint["id"])
        return stored


class State(TypedDict):
    log: Annotated[list[int], operator.add]


def test_sigkill_of_redis_mid_run_loses_no_acknowledged_checkpoint(
    durable_redis: LocalStack,
) -> None:
    settings = AgentMemSettings(redis=RedisSettings(url=durable_redis.redis_url, timeout=2.0),
                                local=LocalSettings(autostart=False))  # fmt: skip
    mem = AgentMem(settings)
    saver = RecordingSaver(mem)
    saver.acknowledged = []
    crashed = {"done": False}

    def step(state: State) -> dict[str, Any]:
        n = len(state["log"])
        if n == CRASH_AT and not crashed["done"]:
            crashed["done"] = True
            durable_redis.kill("redis")  # the server dies while the run is in flight
        return {"log": [n]}

    builder = StateGraph(State)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda s: END if len(s["log"]) >= STEPS else "step")
    graph = builder.compile(checkpointer=saver)
    config: RunnableConfig = {"configurable": {"thread_id": "crash"}}

    with pytest.raises(BackendUnavailable):
        graph.invoke({"log": []}, config, durability="sync")
    acknowledged = list(saver.acknowledged)
    assert len(acknowledged) >= CRASH_AT  # the run got that far before the crash

    durable_redis.up(only=["redis"])  # restart: AOF replays every acknowledged write
    for checkpoint_id in acknowledged:
        conf: RunnableConfig = {"configurable": {"thread_id": "crash", "checkpoint_ns": "",
                                                 "checkpoint_id": checkpoint_id}}  # fmt: skip
        assert saver.get_tuple(conf) is not None, checkpoint_id
    latest = saver.get_tuple(config)
    assert latest is not None and latest.checkpoint["id"] == acknowledged[-1]

    # Resume on the same (long-lived) objects: the next call reconnects, the run finishes from
    # the last checkpoint, and no step before the crash runs twice.
    final = graph.invoke(None, config, durability="sync")
    assert final["log"] == list(range(STEPS))
    history = [s.values.get("log", []) for s in graph.get_state_history(config)]
    assert history[0] == list(range(STEPS))
    assert all(h == list(range(len(h))) for h in history)  # every stored state is whole
    mem.close()


# weaviate-client retries a failed gRPC batch itself (twice, with 1 s and 2 s sleeps), each try
# waiting up to the timeout, so a dead server is reported after roughly 3 x timeout + 3 s.
@pytest.mark.timeout(180)
def test_weaviate_killed_mid_batch_reports_what_landed_and_a_rerun_stores_each_once(
    stoppable_weaviate: LocalStack,
) -> None:
    import threading
    import time

    from agentmem import LongTermMemory, MemoryRecord, PartialWriteError, RetrySettings
    from agentmem import WeaviateSettings as WS

    settings = AgentMemSettings(
        weaviate=WS(url=stoppable_weaviate.weaviate_url, grpc_port=stoppable_weaviate.weaviate_ports.grpc,
                    timeout=2.0, startup_timeout=5.0),
        local=LocalSettings(autostart=False),
        retry=RetrySettings(attempts=1),
    )  # fmt: skip
    records = [
        MemoryRecord(f"memory number {i}", {"i": i}, id=f"m{i}", vector=[float(i % 7) + 1.0] * 8)
        for i in range(20_000)
    ]
    ids = {r.id for r in records}

    def kill_once_some_landed() -> None:
        with AgentMem(settings) as watcher_mem:
            watcher = LongTermMemory(watcher_mem, tenant="crash", collection="Crash")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if len(watcher.find(limit=1000)) >= 1000:  # a few batches in
                        break
                except Exception:
                    pass
                time.sleep(0.02)
        stoppable_weaviate.kill("weaviate")

    with AgentMem(settings) as mem:
        memory = LongTermMemory(mem, tenant="crash", collection="Crash")
        killer = threading.Thread(target=kill_once_some_landed)
        killer.start()
        with pytest.raises(PartialWriteError) as info:
            memory.add(records)
        killer.join()
    error = info.value
    assert error.succeeded, "the kill came after the first batches were confirmed"
    assert error.failed, "and before the last one"
    assert set(error.succeeded) | set(error.failed) == ids
    assert not set(error.succeeded) & set(error.failed)

    stoppable_weaviate.up(only=["weaviate"])
    # The re-run writes 20,000 records into a server that has just replayed its log: give each
    # batch time (the 2 s above only makes the killed call fail fast).
    relaxed = replace(settings, weaviate=replace(settings.weaviate, timeout=60.0))
    with AgentMem(relaxed) as mem:
        memory = LongTermMemory(mem, tenant="crash", collection="Crash")
        landed = memory.get(error.succeeded)
        assert {r.id for r in landed} == set(error.succeeded)  # acknowledged means stored
        assert memory.add(records) == [r.id for r in records]  # the same write, again
        from agentmem._weaviate.schema import tenant_name

        tenant = mem.weaviate().collections.use("Crash").with_tenant(tenant_name("crash"))
        total = tenant.aggregate.over_all(total_count=True).total_count
        assert total == len(records)  # each memory once: upserts are idempotent
        sample = [f"m{i}" for i in range(0, 20_000, 97)]
        assert {r.id for r in memory.get(sample)} == set(sample)
