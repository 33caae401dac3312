"""Clients follow the caller: a fresh event loop per ``asyncio.run``, a loop per thread, forked
workers, and hundreds of concurrent callers on one ``AgentMem``, against the real servers."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from agentmem import (
    AgentMem,
    AgentMemSettings,
    BackendTimeout,
    ClosedError,
    LongTermMemory,
    MemoryRecord,
)
from agentmem._plan import Call, Plan

pytestmark = pytest.mark.redis


def _incr(key: str) -> Plan[int]:
    value = yield Call("test.incr", lambda r: r.incr(key))
    return int(value)


def _hold(key: str, seconds: float) -> Plan[None]:
    # BLPOP on a key nobody pushes to keeps one connection busy for `seconds`.
    yield Call("test.hold", lambda r: r.blpop([key], timeout=seconds))


def test_each_asyncio_run_gets_working_clients_and_a_closed_loop_never_gets_its_old_ones(
    redis_settings: AgentMemSettings,
) -> None:
    mem = AgentMem(redis_settings)
    key = f"{mem.key_prefix}:loops"
    baseline = _per_node(mem)

    async def step() -> tuple[int, Any]:
        return await mem.arun(_incr(key), "redis"), await mem.aredis()

    seen = [asyncio.run(step()) for _ in range(5)]
    assert [value for value, _ in seen] == [1, 2, 3, 4, 5]
    assert len({id(client) for _, client in seen}) == 5  # one client per loop, never reused
    # asyncio.run closed each loop's client while its loop still ran: no socket is left over.
    assert _left_open(mem, baseline) == 0
    mem.redis().delete(key)
    mem.close()


@pytest.mark.weaviate
def test_a_second_asyncio_run_reads_what_the_first_wrote_through_weaviate(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    mem = AgentMem(full_settings)
    memory = LongTermMemory(mem, tenant="loop-user", collection=unique_collection)

    async def write() -> list[str]:
        return await memory.aadd([MemoryRecord("green tea in the morning", id="m1")])

    async def read() -> list[str]:
        return [r.id for r in await memory.aget(["m1"])]

    assert asyncio.run(write()) == ["m1"]
    assert asyncio.run(read()) == ["m1"]
    assert asyncio.run(read()) == ["m1"]
    memory.drop_collection()
    mem.close()


def test_loops_in_many_threads_at_once_each_get_their_own_clients(
    redis_settings: AgentMemSettings,
) -> None:
    mem = AgentMem(redis_settings)
    key = f"{mem.key_prefix}:threads"

    async def many() -> int:
        values = await asyncio.gather(*(mem.arun(_incr(key), "redis") for _ in range(20)))
        return len(values)

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(lambda _: asyncio.run(many()), range(16)))
    assert done == [20] * 16
    assert int(mem.redis().get(key) or 0) == 16 * 20
    mem.redis().delete(key)
    mem.close()


def test_a_closed_agentmem_refuses_async_use_in_any_loop(redis_settings: AgentMemSettings) -> None:
    mem = AgentMem(redis_settings)
    asyncio.run(mem.aping(weaviate=False))
    mem.close()
    with pytest.raises(ClosedError):
        asyncio.run(mem.aping(weaviate=False))


def test_async_clients_do_not_leak_over_many_loops(redis_settings: AgentMemSettings) -> None:
    mem = AgentMem(redis_settings)

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    asyncio.run(mem.aping(weaviate=False))
    before, baseline = fds(), _per_node(mem)
    for _ in range(200):
        asyncio.run(mem.aping(weaviate=False))
    assert fds() - before < 5
    assert _left_open(mem, baseline) == 0
    mem.close()


def _per_node(mem: AgentMem) -> dict[str, set[str]]:
    """Ids of the connections named "agentmem" per server: each cluster node has a pool of its
    own, and the key a test holds may live on any node. Ids, not counts: connections an earlier
    test closed can linger in CLIENT LIST for a moment, and leaving would hide new ones."""
    url = mem.settings.redis.url or ""

    def ids(client: Any) -> set[str]:
        return {c["id"] for c in client.client_list() if c.get("name") == "agentmem"}

    if not mem.settings.redis.cluster:
        with redis.Redis.from_url(url) as watcher:
            return {url: ids(watcher)}
    with RedisCluster.from_url(url) as watcher:
        return {node.name: ids(node.redis_connection) for node in watcher.get_nodes()}


def _busiest(mem: AgentMem, baseline: dict[str, set[str]]) -> int:
    """How many connections the busiest server holds that were not there at ``baseline``."""
    return max(len(ids - baseline.get(name, set())) for name, ids in _per_node(mem).items())


def _left_open(mem: AgentMem, baseline: dict[str, set[str]]) -> int:
    """Connections opened since ``baseline`` that stay open. The server may list a connection a
    client closed for a moment after the close; a leaked one stays listed."""
    left, deadline = _busiest(mem, baseline), time.monotonic() + 3.0
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = _busiest(mem, baseline)
    return left


# -- many callers on one AgentMem ----------------------------------------------------------------


@pytest.fixture
def small_pool(redis_settings: AgentMemSettings) -> Iterator[AgentMem]:
    settings = replace(redis_settings, redis=replace(redis_settings.redis, max_connections=8))
    with AgentMem(settings) as mem:
        yield mem


def test_200_threads_wait_for_a_free_connection_instead_of_failing(small_pool: AgentMem) -> None:
    key = f"{small_pool.key_prefix}:nothing"
    baseline = _per_node(small_pool)
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _busiest(small_pool, baseline))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(200) as pool:
            results = list(pool.map(lambda _: small_pool.run(_hold(key, 0.05), "redis"),
                                    range(200)))  # fmt: skip
    finally:
        stop.set()
        watcher.join()
    assert results == [None] * 200
    assert 1 <= peak <= 8


async def test_200_tasks_wait_for_a_free_connection_instead_of_failing(
    small_pool: AgentMem,
) -> None:
    key = f"{small_pool.key_prefix}:nothing"
    baseline = _per_node(small_pool)
    calls = asyncio.gather(*(small_pool.arun(_hold(key, 0.2), "redis") for _ in range(200)))
    # Look while the callers hold connections (200 x 0.2 s over 8 connections: about 5 s). On a
    # loaded machine the first ones may take a moment to connect, so look until one is seen.
    during, deadline = 0, time.monotonic() + 3.0
    while not during and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        during = _busiest(small_pool, baseline)  # a sync call: the loop waits for it
    assert await calls == [None] * 200
    # On a cluster the async client also keeps the connection it read the slot map with.
    assert 1 <= during <= 8 + (1 if small_pool.settings.redis.cluster else 0)


async def test_a_pool_that_stays_busy_says_so_instead_of_blaming_the_server(
    redis_settings: AgentMemSettings,
) -> None:
    settings = replace(
        redis_settings, redis=replace(redis_settings.redis, max_connections=1, timeout=1.0)
    )
    async with AgentMem(settings) as mem:
        key = f"{mem.key_prefix}:nothing"
        # One connection, four callers holding it 0.6 s each: the first two get it in turn, the
        # last ones cannot get it within the 1 s timeout.
        outcomes = await asyncio.gather(
            *(mem.arun(_hold(key, 0.6), "redis") for _ in range(4)), return_exceptions=True
        )
    assert outcomes[:2] == [None, None]
    assert all(isinstance(o, BackendTimeout) for o in outcomes[2:]), outcomes
    assert all("max_connections" in str(o) and "Is it running" not in str(o)
               for o in outcomes[2:])  # fmt: skip


# -- fork ----------------------------------------------------------------------------------------


def _child_work(settings: AgentMemSettings, mem: AgentMem, key: str, collection: str | None) -> str:
    """Runs in a forked child: the parent's AgentMem, sync and async, and a fresh one."""
    assert mem.run(_incr(key), "redis") >= 1
    memory = LongTermMemory(mem, tenant="fork-user", collection=collection) if collection else None

    async def both() -> None:
        await mem.arun(_incr(key), "redis")
        if memory is not None:  # gRPC, from a new channel of the child's own
            assert [h.record.id for h in await memory.asearch("parent")] == ["p"]

    asyncio.run(both())
    if memory is not None:
        assert [h.record.id for h in memory.search("parent")] == ["p"]
    with AgentMem(settings) as fresh:
        fresh.ping(weaviate=memory is not None)
        if collection is not None:
            again = LongTermMemory(fresh, tenant="fork-user", collection=collection)
            assert [h.record.id for h in again.search("parent")] == ["p"]
    return "ok"


def _forked(settings: AgentMemSettings, collection: str | None) -> None:
    mem = AgentMem(settings)
    key = f"{mem.key_prefix}:fork:{uuid.uuid4().hex}"
    weaviate = collection is not None
    memory = LongTermMemory(mem, tenant="fork-user", collection=collection) if collection else None
    # The parent uses every client first (gRPC included), so the children inherit live sockets
    # and channels.
    if memory is not None:
        memory.add([MemoryRecord("the parent wrote this", id="p")])
        assert [h.record.id for h in memory.search("parent")] == ["p"]
    mem.ping(weaviate=weaviate)
    asyncio.run(mem.aping(weaviate=weaviate))
    children = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:  # the child: report through the exit code, never return into pytest
            code = 1
            try:
                code = 0 if _child_work(settings, mem, key, collection) == "ok" else 1
            finally:
                os._exit(code)
        children.append(pid)
    deadline = time.monotonic() + 90
    codes = {}
    while len(codes) < len(children) and time.monotonic() < deadline:
        for pid in children:
            if pid not in codes:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    codes[pid] = os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    for pid in set(children) - set(codes):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert sorted(codes.values()) == [0] * len(children), codes
    # The parent's own clients still work after its children used theirs.
    assert mem.run(_incr(key), "redis") == len(children) * 2 + 1
    asyncio.run(mem.aping(weaviate=weaviate))
    mem.ping(weaviate=weaviate)
    if memory is not None:
        assert [h.record.id for h in memory.search("parent")] == ["p"]
        memory.drop_collection()
    mem.redis().delete(key)
    mem.close()


def test_forked_children_never_use_the_parents_redis_sockets(
    redis_settings: AgentMemSettings,
) -> None:
    _forked(redis_settings, None)


@pytest.mark.weaviate
def test_forked_children_reach_weaviate_after_the_parent_used_it(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    _forked(full_settings, unique_collection)
