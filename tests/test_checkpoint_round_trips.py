"""One network round trip per put, put_writes and get_tuple, counted at the client and the server."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import redis.asyncio as aredis
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from agentmem import AgentMem, AgentMemSettings, CheckpointStore
from langchain_agentmem import AgentMemCheckpointSaver
from tests.support import AsyncSendCounter, CountingConnection, evalsha_calls


def new_checkpoint(step: int, parent: str | None) -> tuple[Any, Any, Any, Any]:
    cp = empty_checkpoint()
    cp["id"] = str(uuid6())
    channels = {f"ch{i}": f"value-{step}-{i}" for i in range(8)}
    cp["channel_values"] = channels
    cp["channel_versions"] = {c: step + 1 for c in channels}
    conf: dict[str, Any] = {"thread_id": "rt", "checkpoint_ns": ""}
    if parent:
        conf["checkpoint_id"] = parent
    return {"configurable": conf}, cp, {"step": step}, dict(cp["channel_versions"])


@pytest.mark.parametrize("ttl", [None, 60])
def test_put_put_writes_and_get_tuple_are_one_round_trip_each_sync(
    redis_settings: AgentMemSettings, mem: AgentMem, ttl: int | None
) -> None:
    url, cluster = str(redis_settings.redis.url), redis_settings.redis.cluster
    factory: Any = RedisCluster if cluster else redis.Redis
    client = factory.from_url(url, connection_class=CountingConnection)
    with AgentMem(redis_settings, redis=client) as counted:
        saver = AgentMemCheckpointSaver(counted, ttl=ttl)
        parent = saver.put(*new_checkpoint(0, None))  # warm: loads scripts, opens the socket
        saver.put_writes(parent, [("ch0", "warm")], "warm-task")
        saver.get_tuple(parent)
        for step in range(1, 4):
            conf = new_checkpoint(step, parent["configurable"]["checkpoint_id"])
            for label, call in (
                ("put", lambda conf=conf: saver.put(*conf)),
                ("put_writes", lambda p=parent, s=step: saver.put_writes(p, [("a", s)], f"t{s}")),
                ("get_tuple", lambda: saver.get_tuple({"configurable": {"thread_id": "rt"}})),
            ):
                sends, calls = CountingConnection.sends, evalsha_calls(mem.redis())
                result = call()
                assert CountingConnection.sends - sends == 1, label
                assert evalsha_calls(mem.redis()) - calls == 1, label  # one EVALSHA
                if label == "put":
                    parent = result
        # A short history (get_state_history(limit=2)) reads one page of just that size.
        list(saver.list({"configurable": {"thread_id": "rt"}}, limit=1))  # loads the script
        sends = CountingConnection.sends
        assert len(list(saver.list({"configurable": {"thread_id": "rt"}}, limit=2))) == 2
        assert CountingConnection.sends - sends == 1
    client.close()


async def test_put_put_writes_and_get_tuple_are_one_round_trip_each_async(
    redis_settings: AgentMemSettings, mem: AgentMem, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = AsyncSendCounter(monkeypatch)
    url, cluster = str(redis_settings.redis.url), redis_settings.redis.cluster
    factory: Any = AsyncRedisCluster if cluster else aredis.Redis
    client = factory.from_url(url)
    async with AgentMem(redis_settings, async_redis=client) as counted:
        saver = AgentMemCheckpointSaver(counted, ttl=60)
        parent = await saver.aput(*new_checkpoint(0, None))
        await saver.aput_writes(parent, [("ch0", "warm")], "warm-task")
        await saver.aget_tuple(parent)
        for step in range(1, 4):
            sends, calls = counter.sends, evalsha_calls(mem.redis())
            parent = await saver.aput(
                *new_checkpoint(step, parent["configurable"]["checkpoint_id"])
            )
            assert (counter.sends - sends, evalsha_calls(mem.redis()) - calls) == (
                1,
                1,
            )
            sends, calls = counter.sends, evalsha_calls(mem.redis())
            await saver.aput_writes(parent, [("a", 1), ("b", 2), ("c", 3)], f"task-{step}")
            assert (counter.sends - sends, evalsha_calls(mem.redis()) - calls) == (
                1,
                1,
            )
            sends, calls = counter.sends, evalsha_calls(mem.redis())
            tup = await saver.aget_tuple({"configurable": {"thread_id": "rt"}})
            assert (counter.sends - sends, evalsha_calls(mem.redis()) - calls) == (
                1,
                1,
            )
            assert tup is not None
            assert len(tup.pending_writes or []) == 3
    await client.aclose()


def test_a_user_id_costs_one_more_round_trip_once_per_thread_and_saver(
    redis_settings: AgentMemSettings,
) -> None:
    url, cluster = str(redis_settings.redis.url), redis_settings.redis.cluster
    factory: Any = RedisCluster if cluster else redis.Redis
    client = factory.from_url(url, connection_class=CountingConnection)
    with AgentMem(redis_settings, redis=client) as counted:
        saver = AgentMemCheckpointSaver(counted)
        warm = saver.put(*new_checkpoint(0, None))  # loads the put script, opens the socket
        CheckpointStore(counted).link_user("ada", "other")  # loads the link script on ada's node
        parent = warm["configurable"]["checkpoint_id"]
        sends = []
        for step in range(1, 4):
            conf, cp, meta, versions = new_checkpoint(step, parent)
            conf["configurable"] |= {"thread_id": "rt-user", "user_id": "ada"}
            before = CountingConnection.sends
            parent = saver.put(conf, cp, meta, versions)["configurable"]["checkpoint_id"]
            sends.append(CountingConnection.sends - before)
        # The first put of the thread links it first (one round trip), then writes (one; on a
        # cluster one more registers the new thread); every later put by this saver is one.
        assert sends == [3 if cluster else 2, 1, 1]
        assert CheckpointStore(counted).threads(user_id="ada") == ["other", "rt-user"]
        # The owner check rides in the same script: a read or pending write for the user is one
        # round trip too.
        mine: Any = {"configurable": {"thread_id": "rt-user", "user_id": "ada"}}
        at = {"configurable": {**mine["configurable"], "checkpoint_id": parent}}
        saver.put_writes(at, [("a", 0)], "warm")  # loads the script
        for label, call in (
            ("get_tuple", lambda: saver.get_tuple(mine)),
            ("put_writes", lambda: saver.put_writes(at, [("a", 1)], "t")),
        ):
            before = CountingConnection.sends
            call()
            assert CountingConnection.sends - before == 1, label
    client.close()
