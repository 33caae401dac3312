"""With Weaviate killed, every long-term method fails with a typed error within a documented bound
(about ``attempts x (timeout + max_delay)``), sync and async, and never sits in weaviate-client's
own retry loop (63 s per call, seen as 189 s for one search at ``AGENTMEM_TIMEOUT=1``)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmem import (
    AgentMem,
    AgentMemError,
    AgentMemSettings,
    BackendUnavailable,
    LocalSettings,
    LongTermMemory,
    MemoryRecord,
    PartialWriteError,
    RedisSettings,
    WeaviateSettings,
)
from agentmem.local import LocalStack, WeaviatePorts, free_port
from agentmem.testing.embedding import HashingEmbedder

pytestmark = [pytest.mark.slow, pytest.mark.weaviate]

TIMEOUT = 1.0
ATTEMPTS = 3
# The documented bound: each try waits at most the timeout, and the backoff between tries is at
# most RetrySettings.max_delay (1 s); 4 s of slack for a loaded machine.
BOUND = ATTEMPTS * (TIMEOUT + 1.0) + 4.0

CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("search", ("tea",), {}),
    ("search", ("tea",), {"mode": "vector"}),
    ("search", ("tea",), {"mode": "hybrid"}),
    ("mmr_search", ("tea",), {}),
    ("add", ([MemoryRecord("coffee", id="m2")],), {}),
    ("get", (["m1"],), {}),
    ("find", (), {}),
    ("namespaces", (), {}),
    ("delete", (["m1"],), {}),
    ("set_expiry", ([("m1", 3600.0)],), {}),
    ("clear", (), {}),
    ("sweep", (), {}),
    ("setup", (), {}),
    ("drop_tenant", (), {}),
]


@pytest.fixture
def killed(tmp_path: Path, unique_collection: str) -> Iterator[tuple[LongTermMemory, LocalStack]]:
    """A memory whose sync and async clients are connected, then Weaviate killed with SIGKILL."""
    stack = LocalStack(tmp_path, redis_port=free_port(), weaviate_ports=WeaviatePorts.free())
    stack.up(only=["weaviate"])
    settings = AgentMemSettings(
        redis=RedisSettings(url="redis://127.0.0.1:1/0"),
        weaviate=WeaviateSettings(url=stack.weaviate_url, grpc_port=stack.weaviate_ports.grpc,
                                  timeout=TIMEOUT),
        local=LocalSettings(autostart=False),
    )  # fmt: skip
    mem = AgentMem(settings)
    memory = LongTermMemory(mem, tenant="u1", collection=unique_collection,
                            embedder=HashingEmbedder())  # fmt: skip
    memory.add([MemoryRecord("green tea", id="m1")])
    try:
        yield memory, stack
    finally:
        mem.close()
        stack.down()


def _kill_weaviate(stack: LocalStack) -> None:
    pid = next(s.pid for s in stack.status() if s.name == "weaviate")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


def _expect_typed(exc: BaseException) -> None:
    assert isinstance(exc, AgentMemError), repr(exc)
    if not isinstance(exc, PartialWriteError):
        assert isinstance(exc, BackendUnavailable), repr(exc)


def test_every_sync_method_fails_fast_and_typed_with_weaviate_killed(
    killed: tuple[LongTermMemory, LocalStack],
) -> None:
    memory, stack = killed
    _kill_weaviate(stack)
    for name, args, kwargs in CALLS:
        started = time.monotonic()
        with pytest.raises(AgentMemError) as caught:
            result = getattr(memory, name)(*args, **kwargs)
            pytest.fail(f"{name} returned {result!r} with Weaviate killed")
        elapsed = time.monotonic() - started
        _expect_typed(caught.value)
        assert elapsed < BOUND, f"{name} took {elapsed:.1f} s"


def test_every_async_method_fails_fast_and_typed_with_weaviate_killed(
    killed: tuple[LongTermMemory, LocalStack],
) -> None:
    memory, stack = killed

    async def run() -> None:
        await memory.aget(["m1"])  # this loop's client is connected before the kill
        _kill_weaviate(stack)
        for name, args, kwargs in CALLS:
            started = time.monotonic()
            with pytest.raises(AgentMemError) as caught:
                result = await getattr(memory, "a" + name)(*args, **kwargs)
                pytest.fail(f"a{name} returned {result!r} with Weaviate killed")
            elapsed = time.monotonic() - started
            _expect_typed(caught.value)
            assert elapsed < BOUND, f"a{name} took {elapsed:.1f} s"

    asyncio.run(run())
