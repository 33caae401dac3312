"""Real servers for the test suite.

Session-scoped fixtures start a dedicated Redis and (only when a test asks for it) a dedicated
Weaviate on free loopback ports, under a temporary folder, and stop them at the end. Set
``AGENTMEM_TEST_REDIS_URL`` / ``AGENTMEM_TEST_WEAVIATE_URL`` (and ``AGENTMEM_TEST_WEAVIATE_GRPC_PORT``)
to use servers of your own instead. A server that cannot be started fails the tests that need it;
nothing is skipped.

With ``AGENTMEM_TEST_REDIS_MODE=cluster`` the Redis fixture is a three-master Redis Cluster on
loopback instead; ``make test`` runs the session and workflow suites a second time that way.
With ``AGENTMEM_TEST_WEAVIATE_MODE=cluster`` the Weaviate fixture is a three-node cluster, and
memories use a replication factor of 3 at consistency ALL; ``make test`` runs the long-term
memory suites a third time that way. (ALL, because the suites read their own writes through
searches, and at QUORUM a search served by a replica that has not applied a write yet misses it;
``tests/test_weaviate_cluster.py`` covers QUORUM with a node down.)

Every test gets its own Redis key prefix and Weaviate collection names, so tests never interfere
and never flush shared data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agentmem import AgentMem, AgentMemSettings, Consolidator
from agentmem.local import (
    LocalRedisCluster,
    LocalStack,
    LocalWeaviateCluster,
    WeaviatePorts,
    free_cluster_ports,
    free_port,
)
from agentmem.testing.embedding import HashingEmbedder
from agentmem.testing.extractor import FunctionExtractor
from tests.support import RedisServer, WeaviateServer, favourite_drink, settings_for

REDIS_MODE = os.environ.get("AGENTMEM_TEST_REDIS_MODE", "standalone")
WEAVIATE_MODE = os.environ.get("AGENTMEM_TEST_WEAVIATE_MODE", "standalone")


def _stack(root: Path) -> LocalStack:
    return LocalStack(root, redis_port=free_port(), weaviate_ports=WeaviatePorts.free())


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    url = os.environ.get("AGENTMEM_TEST_REDIS_URL")
    if url:
        yield RedisServer(url, None)
        return
    if REDIS_MODE == "cluster":
        cluster = LocalRedisCluster(tmp_path_factory.mktemp("redis-cluster"), free_cluster_ports(3))
        cluster.up()
        try:
            yield RedisServer(cluster.url, cluster)
        finally:
            cluster.down()
        return
    stack = _stack(tmp_path_factory.mktemp("redis-server"))
    stack.up(only=["redis"])
    try:
        yield RedisServer(stack.redis_url, stack)
    finally:
        stack.down()


@pytest.fixture(scope="session")
def weaviate_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeaviateServer]:
    url = os.environ.get("AGENTMEM_TEST_WEAVIATE_URL")
    if url:
        yield WeaviateServer(
            url, int(os.environ.get("AGENTMEM_TEST_WEAVIATE_GRPC_PORT", "50051")), None
        )
        return
    if WEAVIATE_MODE == "cluster":
        cluster = LocalWeaviateCluster(tmp_path_factory.mktemp("weaviate-cluster"), size=3)
        cluster.up()
        try:
            yield WeaviateServer(cluster.urls[0], cluster.ports[0].grpc, cluster, 3, "ALL")
        finally:
            cluster.down()
        return
    stack = _stack(tmp_path_factory.mktemp("weaviate-server"))
    stack.up(only=["weaviate"])
    try:
        yield WeaviateServer(stack.weaviate_url, stack.weaviate_ports.grpc, stack)
    finally:
        stack.down()


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def unique_collection() -> str:
    """A Weaviate collection name no other test uses."""
    return f"Test{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_settings(redis_server: RedisServer, key_prefix: str) -> AgentMemSettings:
    """Settings for tests that need Redis only (Weaviate is not started)."""
    return settings_for(redis_server, None, key_prefix)


@pytest.fixture
def full_settings(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> AgentMemSettings:
    """Settings for tests that need both servers."""
    return settings_for(redis_server, weaviate_server, key_prefix)


def _delete_prefix(mem: AgentMem) -> None:
    client = mem.redis()
    keys = list(client.scan_iter(match=f"{mem.key_prefix}:*", count=1000))
    # Keys of one test may sit in different hash slots; delete one by one (Cluster-safe).
    for key in keys:
        client.delete(key)


@pytest.fixture
def mem(redis_settings: AgentMemSettings) -> Iterator[AgentMem]:
    """A sync-usable AgentMem on the test Redis; deletes its key prefix afterwards."""
    with AgentMem(redis_settings) as memory:
        yield memory
        _delete_prefix(memory)


@pytest.fixture
async def amem(redis_settings: AgentMemSettings) -> AsyncIterator[AgentMem]:
    """An async-usable AgentMem on the test Redis; deletes its key prefix afterwards."""
    async with AgentMem(redis_settings) as memory:
        yield memory
        _delete_prefix(memory)


@pytest.fixture
def stoppable_weaviate(tmp_path: Path) -> Iterator[LocalStack]:
    """A Weaviate of the test's own, which it may kill and start again (the shared one must stay up)."""
    stack = _stack(tmp_path)
    stack.up(only=["weaviate"])
    yield stack
    stack.down()


@pytest.fixture
def full_mem(full_settings: AgentMemSettings) -> Iterator[AgentMem]:
    """An AgentMem on both test servers."""
    with AgentMem(full_settings) as memory:
        yield memory
        _delete_prefix(memory)


@pytest.fixture
def consolidator(full_mem: AgentMem, unique_collection: str) -> Iterator[Consolidator]:
    """A Consolidator on both test servers, in its own facts collection, with the stand-in model."""
    c = Consolidator(
        full_mem,
        extractor=FunctionExtractor(favourite_drink),
        embedder=HashingEmbedder(),
        collection=unique_collection,
        retry_delay=0.0,
        max_attempts=3,
    )
    yield c
    c.close()
    full_mem.weaviate().collections.delete(unique_collection)
