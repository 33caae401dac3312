"""Reads never create anything in Weaviate; only writes do (issue 11, item 9).

Reads of a collection or tenant that does not exist find nothing (``[]``, or 0 deleted), as the
LangChain, LangGraph and LlamaIndex contracts expect of an empty store, and leave Weaviate as it
was; :meth:`LongTermMemory.missing` and the CLI say "no such tenant/collection". A process that
still caches a tenant removed by ``forget_user`` elsewhere does not bring it back by reading.
"""

from __future__ import annotations

from typing import Any

import pytest

from agentmem import AgentMem, AgentMemSettings, aforget_user, forget_user
from agentmem._weaviate.schema import tenant_name
from agentmem.errors import NotFound
from agentmem.filters import Eq, Gte
from agentmem.longterm import LongTermMemory, MemoryRecord
from agentmem.testing.embedding import HashingEmbedder
from tests.support import RedisServer, WeaviateServer, agentmem_env, run_cli

pytestmark = pytest.mark.weaviate

# Every read (and every delete, which has nothing to delete) of a long-term memory, with what it
# answers when there is nothing there.
READS: list[tuple[str, dict[str, Any], Any]] = [
    ("search", {"query": "tea"}, []),
    ("search", {"query": "tea", "vector": [1.0, 0.0], "mode": "hybrid"}, []),
    ("search", {"vector": [1.0, 0.0], "filter": Eq("k", 1), "namespace": ("a",)}, []),
    ("mmr_search", {"vector": [1.0, 0.0]}, []),
    ("find", {}, []),
    ("find", {"filter": Eq("k", 1)}, []),
    ("get", {"ids": ["tea"]}, []),
    ("namespaces", {}, []),
    ("delete", {"ids": ["tea"]}, 0),
    ("delete", {"filter": Eq("k", 1)}, 0),
    ("clear", {}, 0),
    ("sweep", {}, 0),
]


async def _read_all(memory: LongTermMemory, flavour: str) -> None:
    for method, kwargs, empty in READS:
        if flavour == "sync":
            assert getattr(memory, method)(**kwargs) == empty, method
        else:
            assert await getattr(memory, "a" + method)(**kwargs) == empty, method
    with pytest.raises(NotFound, match="no such"):
        if flavour == "sync":
            memory.set_expiry([("tea", 1e10)])
        else:
            await memory.aset_expiry([("tea", 1e10)])


def _tenants(mem: AgentMem, collection: str, tenant: str) -> list[str]:
    return list(mem.weaviate().collections.use(collection).tenants.get_by_names([tenant]))


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_reads_of_a_collection_that_does_not_exist_create_nothing(
    full_mem: AgentMem, unique_collection: str, flavour: str
) -> None:
    memory = LongTermMemory(
        full_mem, tenant="nobody", collection=unique_collection, embedder=HashingEmbedder(2)
    )
    await _read_all(memory, flavour)
    assert not full_mem.weaviate().collections.exists(unique_collection)
    said = memory.missing() if flavour == "sync" else await memory.amissing()
    assert said is not None and "no such collection" in said and unique_collection in said


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_reads_of_a_tenant_that_does_not_exist_create_nothing(
    full_mem: AgentMem, unique_collection: str, flavour: str
) -> None:
    LongTermMemory(full_mem, tenant="someone", collection=unique_collection).add(
        [MemoryRecord("tea", {"k": 1}, id="tea", vector=[1.0, 0.0], namespace=("a",))]
    )
    try:
        memory = LongTermMemory(
            full_mem, tenant="nobody", collection=unique_collection, embedder=HashingEmbedder(2)
        )
        await _read_all(memory, flavour)
        assert _tenants(full_mem, unique_collection, "nobody") == []
        said = memory.missing() if flavour == "sync" else await memory.amissing()
        assert said is not None and "no such tenant 'nobody'" in said
        # The first write creates it.
        memory.add([MemoryRecord("now", id="now")])
        assert memory.missing() is None and [r.id for r in memory.find()] == ["now"]
    finally:
        LongTermMemory(full_mem, tenant="x", collection=unique_collection).drop_collection()


@pytest.mark.single_node  # removal reaches every node of a cluster a moment later
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_process_caching_a_forgotten_tenant_does_not_bring_it_back_by_reading(
    full_settings: AgentMemSettings, unique_collection: str, flavour: str
) -> None:
    user = f"ada-{flavour}"
    async with AgentMem(full_settings) as server:  # a long-running server process
        memory = LongTermMemory(server, tenant=user, collection=unique_collection)
        memory.add([MemoryRecord("Ada likes tea", id="tea")])
        assert [r.id for r in memory.find()] == ["tea"]  # it now caches the tenant
        async with AgentMem(full_settings) as cli:  # forget_user from another process
            if flavour == "sync":
                first = forget_user(user, memory=cli)
            else:
                first = await aforget_user(user, memory=cli)
            assert unique_collection in first.collections
            await _read_all(memory, flavour)  # the server keeps answering requests
            assert _tenants(server, unique_collection, tenant_name(user)) == []
            second = forget_user(user, memory=cli)
            assert second.collections == []  # nothing came back to forget
        memory.drop_collection()


def test_cli_search_of_an_unknown_tenant_or_collection_says_so_and_creates_nothing(
    redis_server: RedisServer, weaviate_server: WeaviateServer, full_mem: AgentMem,
    unique_collection: str,
) -> None:  # fmt: skip
    LongTermMemory(full_mem, tenant="ada", collection=unique_collection).add(
        [MemoryRecord("Ada prefers green tea", id="tea")]
    )
    env = agentmem_env(redis_server, weaviate_server, full_mem.key_prefix)
    try:
        found = run_cli(
            "search", "--tenant", "ada", "--collection", unique_collection, "tea", env=env
        )
        assert found.returncode == 0 and "Ada prefers green tea" in found.stdout

        nobody = run_cli(
            "search", "--tenant", "nobody", "--collection", unique_collection, "tea", env=env
        )
        assert nobody.returncode == 1 and "no such tenant 'nobody'" in nobody.stderr
        assert _tenants(full_mem, unique_collection, "nobody") == []

        mistyped = unique_collection + "Typo"
        typo = run_cli("search", "--tenant", "ada", "--collection", mistyped, "tea", env=env)
        assert typo.returncode == 1 and f"no such collection '{mistyped}'" in typo.stderr
        assert not full_mem.weaviate().collections.exists(mistyped)

        lower = run_cli(
            "search", "--tenant", "ada", "--collection", unique_collection.lower(), "tea", env=env
        )
        assert lower.returncode == 1 and "collection name" in lower.stderr
        assert "Traceback" not in nobody.stderr + typo.stderr + lower.stderr
    finally:
        LongTermMemory(full_mem, tenant="x", collection=unique_collection).drop_collection()


@pytest.mark.single_node  # a dropped collection reaches every node of a cluster a moment later
async def test_a_collection_dropped_by_another_process_is_not_brought_back_by_reading(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    async with AgentMem(full_settings) as server:
        memory = LongTermMemory(server, tenant="ada", collection=unique_collection)
        memory.add([MemoryRecord("Ada likes tea", id="tea")])
        assert [r.id for r in memory.find()] == ["tea"]  # collection and tenant now cached
        async with AgentMem(full_settings) as other:
            LongTermMemory(other, tenant="x", collection=unique_collection).drop_collection()
        await _read_all(memory, "sync")
        await _read_all(memory, "async")
        assert not server.weaviate().collections.exists(unique_collection)
        memory.add([MemoryRecord("Ada likes mate", id="mate")])  # a write creates it again
        assert [r.id for r in await memory.afind()] == ["mate"]
        memory.drop_collection()


@pytest.mark.single_node  # a dropped collection reaches every node of a cluster a moment later
def test_a_write_after_the_collection_was_dropped_elsewhere_creates_it_properly(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    # The cached process's insert used to make Weaviate's auto-schema create a stand-in without
    # multi-tenancy, and fail on it (a BackendError, and a collection agentmem then refused).
    with AgentMem(full_settings) as server:
        memory = LongTermMemory(server, tenant="ada", collection=unique_collection)
        memory.add([MemoryRecord("Ada likes tea", {"n": 1}, id="tea")])
        with AgentMem(full_settings) as other:
            LongTermMemory(other, tenant="x", collection=unique_collection).drop_collection()
        assert memory.add([MemoryRecord("Ada likes mate", {"n": 2}, id="mate")]) == ["mate"]
        config = server.weaviate().collections.use(unique_collection).config.get()
        assert config.multi_tenancy_config.enabled and "schema_version" in config.description
        assert [r.id for r in memory.find(filter=Gte("n", 2))] == ["mate"]
        memory.drop_collection()
