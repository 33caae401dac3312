"""AgentMem: lazy clients, ownership, lifecycle and error translation, against real servers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from agentmem import (
    AgentMem,
    AgentMemSettings,
    AuthenticationFailed,
    BackendUnavailable,
    ClosedError,
    LocalSettings,
    RedisSettings,
    WeaviateSettings,
)
from agentmem._plan import Call, Plan
from agentmem.local import LocalStack, WeaviatePorts, free_port
from tests.support import RedisServer


def test_sync_ping_reaches_both_servers(full_mem: AgentMem) -> None:
    full_mem.ping()
    client = full_mem.redis()
    key = f"{full_mem.key_prefix}:probe"
    assert client.set(key, b"v") is True
    assert client.get(key) == b"v"
    assert full_mem.weaviate().is_ready() is True


async def test_async_ping_reaches_both_servers(full_settings: AgentMemSettings) -> None:
    async with AgentMem(full_settings) as mem:
        await mem.aping()
        client = await mem.aredis()
        key = f"{mem.key_prefix}:probe"
        assert await client.set(key, b"v") is True
        assert await client.get(key) == b"v"
        await client.delete(key)
        assert await (await mem.aweaviate()).is_ready() is True


def _unreachable() -> AgentMemSettings:
    return AgentMemSettings(
        redis=RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", timeout=1.0),
        weaviate=WeaviateSettings(url=f"http://127.0.0.1:{free_port()}", grpc_port=free_port(),
                                  startup_timeout=2.0, timeout=2.0),
        local=LocalSettings(autostart=False),
    )  # fmt: skip


def test_constructor_does_no_io_and_first_use_reports_unreachable_servers() -> None:
    mem = AgentMem(_unreachable())  # must not raise: nothing is contacted yet
    with pytest.raises(BackendUnavailable, match="Redis could not be reached") as info:
        mem.ping(weaviate=False)
    assert info.value.backend == "redis"
    with pytest.raises(BackendUnavailable) as winfo:
        mem.ping(redis=False)
    assert winfo.value.backend == "weaviate"
    mem.close()


def test_a_refused_connection_says_nothing_was_sent() -> None:
    with AgentMem(_unreachable()) as mem, pytest.raises(BackendUnavailable) as info:
        mem.run(_set("k"), "redis")
    assert "Nothing was sent" in str(info.value)


def test_a_connection_lost_after_sending_says_the_write_may_have_been_applied(
    redis_settings: AgentMemSettings,
) -> None:
    with AgentMem(redis_settings) as mem:
        killer = redis.Redis.from_url(mem.settings.redis.url or "")
        key = f"{mem.key_prefix}:never"

        def kill_soon() -> None:
            time.sleep(0.3)
            killer.client_kill_filter(_type="normal", skipme=True)

        thread = threading.Thread(target=kill_soon)
        thread.start()
        with pytest.raises(BackendUnavailable) as info:
            mem.run(_blocking_pop(key), "redis")  # not idempotent: never retried
        thread.join()
        killer.close()
    assert "may or may not have been applied" in str(info.value)


def _set(key: str) -> Plan[None]:
    yield Call("test.set", lambda r: r.set(key, b"v"))


def _blocking_pop(key: str) -> Plan[None]:
    yield Call("test.blpop", lambda r: r.blpop([key], timeout=5))


async def test_async_first_use_reports_unreachable_redis() -> None:
    async with AgentMem(_unreachable()) as mem:
        with pytest.raises(BackendUnavailable, match="Redis could not be reached"):
            await mem.aping(weaviate=False)


def test_borrowed_client_stays_open_and_owned_client_is_closed(
    redis_server: RedisServer, redis_settings: AgentMemSettings
) -> None:
    borrowed = redis.Redis.from_url(redis_server.url)
    with AgentMem(redis_settings, redis=borrowed) as mem:
        assert mem.redis() is borrowed
        mem.ping(weaviate=False)
    assert borrowed.ping() is True  # agentmem did not close what it was given
    borrowed.close()

    owner = AgentMem(redis_settings)
    owned = owner.redis()
    owner.close()
    owner.close()  # idempotent
    with pytest.raises(ClosedError):
        owner.redis()
    # redis-py reopens a pool on demand, so "closed" is checked on our side, not the client's.
    assert owned.connection_pool is not None


async def test_aclose_is_idempotent_and_blocks_reuse(redis_settings: AgentMemSettings) -> None:
    mem = AgentMem(redis_settings)
    await mem.aping(weaviate=False)
    await mem.aclose()
    await mem.aclose()
    with pytest.raises(ClosedError):
        await mem.aredis()


@pytest.fixture(scope="module")
def password_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(
        tmp_path_factory.mktemp("auth-redis"),
        redis_port=free_port(),
        weaviate_ports=WeaviatePorts.free(),
        redis_args=["--requirepass", "correct-horse"],
    )
    stack.up(only=["redis"])
    yield stack
    stack.down()


def _redis_only(url: str, password: str | None = None) -> AgentMemSettings:
    return AgentMemSettings(redis=RedisSettings(url=url, password=password),
                            local=LocalSettings(autostart=False))  # fmt: skip


@pytest.mark.slow
def test_redis_without_the_required_password_raises_authentication_failed(
    password_redis: LocalStack,
) -> None:
    with AgentMem(_redis_only(password_redis.redis_url)) as mem:
        with pytest.raises(AuthenticationFailed, match="password") as info:
            mem.ping(weaviate=False)
        assert info.value.backend == "redis"
    with (
        AgentMem(_redis_only(password_redis.redis_url, "wrong")) as mem,
        pytest.raises(AuthenticationFailed),
    ):
        mem.ping(weaviate=False)
    with AgentMem(_redis_only(password_redis.redis_url, "correct-horse")) as mem:
        mem.ping(weaviate=False)


@pytest.mark.slow
async def test_async_redis_without_password_raises_authentication_failed(
    password_redis: LocalStack,
) -> None:
    async with AgentMem(_redis_only(password_redis.redis_url)) as mem:
        with pytest.raises(AuthenticationFailed, match="password"):
            await mem.aping(weaviate=False)
    url = password_redis.redis_url.replace("redis://", "redis://:correct-horse@")
    async with AgentMem(_redis_only(url)) as mem:
        await mem.aping(weaviate=False)


@pytest.mark.slow
def test_next_call_after_a_redis_restart_reconnects(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, redis_port=free_port(), weaviate_ports=WeaviatePorts.free())
    stack.up(only=["redis"])
    try:
        with AgentMem(_redis_only(stack.redis_url)) as mem:
            mem.redis().set("k", b"1")
            stack.kill("redis")
            with pytest.raises(BackendUnavailable):
                mem.ping(weaviate=False)
            stack.up(only=["redis"])
            mem.ping(weaviate=False)  # the same object works again
            assert mem.redis().get("k") == b"1"  # appendonly: the write survived the crash
    finally:
        stack.down()


@pytest.mark.slow
async def test_cluster_url_gives_cluster_clients_that_keep_one_hash_tag_atomic(
    tmp_path: Path,
) -> None:
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
    from redis.cluster import RedisCluster

    from agentmem.local import LocalRedisCluster, free_cluster_ports

    cluster = LocalRedisCluster(tmp_path, free_cluster_ports(3))
    cluster.up()
    try:
        settings = _redis_only(cluster.url)
        assert settings.redis.cluster is True
        with AgentMem(settings) as mem:
            client = mem.redis()
            assert isinstance(client, RedisCluster)
            # Two keys under one hash tag: one atomic script, no CROSSSLOT.
            script = (
                "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('SET', KEYS[2], ARGV[1])"
            )
            assert client.eval(script, 2, "{t}:a", "{t}:b", "v") == b"OK"
            assert client.mget("{t}:a", "{t}:b") == [b"v", b"v"]
        async with AgentMem(settings) as amem:
            aclient = await amem.aredis()
            assert isinstance(aclient, AsyncRedisCluster)
            await amem.aping(weaviate=False)
            assert await aclient.get("{t}:a") == b"v"
    finally:
        cluster.down()
