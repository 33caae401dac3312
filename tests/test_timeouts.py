"""Timeouts are configurable and surface as agentmem errors, never as hangs: the servers are real
and frozen with SIGSTOP (a hung host, as far as a client can tell), then thawed with SIGCONT."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmem import (
    AgentMem,
    AgentMemSettings,
    BackendTimeout,
    BackendUnavailable,
    LocalSettings,
    RedisSettings,
    WeaviateSettings,
)
from agentmem.local import LocalStack, WeaviatePorts, free_port

pytestmark = pytest.mark.slow
TIMEOUT = 1.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    servers = LocalStack(Path(tmp_path_factory.mktemp("frozen")), redis_port=free_port(),
                         weaviate_ports=WeaviatePorts.free())  # fmt: skip
    servers.up()
    yield servers
    servers.down()


@pytest.fixture
def settings(stack: LocalStack) -> AgentMemSettings:
    return AgentMemSettings(
        redis=RedisSettings(url=stack.redis_url, timeout=TIMEOUT),
        weaviate=WeaviateSettings(url=stack.weaviate_url, grpc_port=stack.weaviate_ports.grpc,
                                  timeout=TIMEOUT),
        local=LocalSettings(autostart=False),
    )  # fmt: skip


class Frozen:
    """Context manager: SIGSTOP a server, SIGCONT it on exit."""

    def __init__(self, stack: LocalStack, name: str) -> None:
        self.pid = next(s.pid for s in stack.status() if s.name == name)

    def __enter__(self) -> None:
        assert self.pid is not None
        os.kill(self.pid, signal.SIGSTOP)

    def __exit__(self, *exc: object) -> None:
        assert self.pid is not None
        os.kill(self.pid, signal.SIGCONT)


def _fails_fast(call: Callable[[], Any], error: type[Exception]) -> Exception:
    started = time.monotonic()
    with pytest.raises(error) as info:
        call()
    # Bounded by the configured timeout (with room for a slow machine), not by the test timeout.
    assert time.monotonic() - started < TIMEOUT * 10
    return info.value


def test_frozen_redis_raises_backend_timeout_and_recovers(
    stack: LocalStack, settings: AgentMemSettings
) -> None:
    with AgentMem(settings) as mem:
        mem.ping(weaviate=False)
        with Frozen(stack, "redis"):
            error = _fails_fast(lambda: mem.ping(weaviate=False), BackendTimeout)
            assert error.backend == "redis"  # type: ignore[attr-defined]
        mem.ping(weaviate=False)  # the same object works once the server answers again


async def test_frozen_redis_async_raises_backend_timeout(
    stack: LocalStack, settings: AgentMemSettings
) -> None:
    async with AgentMem(settings) as mem:
        await mem.aping(weaviate=False)
        with Frozen(stack, "redis"):
            started = time.monotonic()
            with pytest.raises(BackendTimeout):
                await mem.aping(weaviate=False)
            assert time.monotonic() - started < TIMEOUT * 10
        await mem.aping(weaviate=False)


def test_frozen_weaviate_raises_timeouts_on_grpc_and_rest(
    stack: LocalStack, settings: AgentMemSettings, unique_collection: str
) -> None:
    with AgentMem(settings) as mem:
        client = mem.weaviate()
        client.collections.create(unique_collection)
        notes = client.collections.use(unique_collection)
        notes.data.insert({"text": "before the freeze"})
        from agentmem._translate import translate_errors

        def query() -> None:
            with translate_errors("test.query"):
                notes.query.bm25("freeze", limit=1)

        def insert() -> None:
            with translate_errors("test.insert"):
                notes.data.insert({"text": "during the freeze"})

        with Frozen(stack, "weaviate"):
            assert _fails_fast(query, BackendTimeout).backend == "weaviate"  # type: ignore[attr-defined]
            _fails_fast(insert, BackendTimeout)
            _fails_fast(lambda: mem.ping(redis=False), BackendUnavailable)
        assert len(notes.query.bm25("freeze", limit=5).objects) >= 1
        client.collections.delete(unique_collection)
