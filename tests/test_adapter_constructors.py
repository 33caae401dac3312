"""One constructor shape for the adapters over long-term memory (issue 11, "One API shape").

The first positional argument of each adapter is the AgentMem (or None); everything else is a
keyword; a tenant is always named; ``with`` / ``async with`` close only what the adapter owns.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document

from agentmem import SHARED, AgentMem, AgentMemSettings, ClosedError, InvalidInputError
from langchain_agentmem import AgentMemStore
from langchain_agentmem import AgentMemVectorStore as LCStore
from llamaindex_agentmem import AgentMemVectorStore as LIStore
from tests.support import HashEmbeddings, HashEmbedModel


@pytest.mark.weaviate
def test_langchain_vector_store_takes_the_agentmem_first(
    full_mem: AgentMem, unique_collection: str
) -> None:
    # This bound the AgentMem to ``embedding`` and failed later with an AttributeError.
    store = LCStore(full_mem, tenant="user-1", collection=unique_collection)
    try:
        assert store.memory.memory is full_mem and store.embeddings is None
        store.add_texts(["green tea in the morning"], ids=["tea"])
        assert [d.id for d in store.similarity_search("tea", k=1)] == ["tea"]
    finally:
        store.memory.drop_collection()


@pytest.mark.parametrize(
    ("build", "hint"),
    [
        (lambda: LCStore(HashEmbeddings(), tenant="u"), "embedding="),  # type: ignore[arg-type]
        (lambda: LIStore(HashEmbedModel(model_name="h"), tenant="u"), "embed_model="),  # type: ignore[arg-type]
        (lambda: AgentMemStore({"dims": 8}, tenant="u"), "index="),  # type: ignore[arg-type]
        (lambda: AgentMemStore("user-1"), "index="),  # type: ignore[arg-type]
    ],
    ids=["langchain-vectorstore", "llamaindex-vectorstore", "langgraph-store", "store-tenant"],
)
def test_a_first_argument_that_is_not_an_agentmem_is_refused_naming_it(
    build: Any, hint: str
) -> None:
    with pytest.raises(InvalidInputError, match="first argument, memory, is the AgentMem") as info:
        build()
    assert hint in str(info.value)


@pytest.mark.parametrize(
    "build",
    [
        lambda: LCStore(tenant=""),
        lambda: LCStore(tenant=None),  # type: ignore[arg-type]
        lambda: LIStore(tenant=""),
        lambda: AgentMemStore(),
        lambda: AgentMemStore(tenant=""),
        lambda: AgentMemStore(tenant="u", tenant_from=1),
    ],
    ids=["lc-empty", "lc-none", "li-empty", "store-none", "store-empty", "store-both"],
)
def test_a_tenant_must_be_named_there_is_no_shared_default(build: Any) -> None:
    with pytest.raises(InvalidInputError, match="tenant"):
        build()


def test_a_missing_tenant_keyword_is_refused_by_the_signature() -> None:
    with pytest.raises(TypeError, match="tenant"):
        LCStore()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="tenant"):
        LIStore()  # type: ignore[call-arg]


def test_the_shared_constant_is_the_explicit_shared_tenant() -> None:
    assert LCStore(tenant=SHARED).memory.tenant == "shared"
    assert LIStore(tenant=SHARED).tenant == "shared"
    assert AgentMemStore(tenant=SHARED).memory.tenant == "shared"


@pytest.mark.weaviate
async def test_from_texts_and_from_documents_take_memory_and_tenant_as_keywords(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    async with AgentMem(full_settings) as mem:
        kw: dict[str, Any] = {"memory": mem, "tenant": "u", "collection": unique_collection}
        store = LCStore.from_texts(["cats purr"], HashEmbeddings(), ids=["c"], **kw)
        try:
            assert store.memory.memory is mem and isinstance(store.embeddings, HashEmbeddings)
            docs = [Document("dogs bark", id="d")]
            again = await LCStore.afrom_documents(docs, HashEmbeddings(), **kw)
            assert sorted(d.id or "" for d in again.get_by_ids(["c", "d"])) == ["c", "d"]
        finally:
            await store.memory.adrop_collection()


def test_with_closes_only_what_the_adapter_owns(full_settings: AgentMemSettings) -> None:
    mem = AgentMem(full_settings)
    try:
        for build in (
            lambda: LCStore(mem, tenant="u"),
            lambda: LIStore(mem, tenant="u"),
            lambda: AgentMemStore(mem, tenant="u"),
        ):
            with build() as adapter:
                assert adapter.memory.memory is mem
            mem.redis()  # a given AgentMem stays open
    finally:
        mem.close()
    for owned in (LCStore(tenant="u"), LIStore(tenant="u"), AgentMemStore(tenant="u")):
        with owned as adapter:
            inner = adapter.memory.memory
        with pytest.raises(ClosedError):
            inner.redis()


async def test_async_with_closes_only_what_the_adapter_owns(
    full_settings: AgentMemSettings,
) -> None:
    async with AgentMem(full_settings) as mem:
        async with LCStore(mem, tenant="u") as lc, LIStore(mem, tenant="u") as li:
            assert lc.memory.memory is mem and li.memory.memory is mem
        async with AgentMemStore(mem, tenant="u") as store:
            assert store.memory.memory is mem
        mem.redis()
    owned = AgentMemStore(tenant="u")
    async with owned:
        inner = owned.memory.memory
    with pytest.raises(ClosedError):
        inner.redis()


@pytest.mark.weaviate
def test_a_closed_langgraph_store_refuses_calls(full_mem: AgentMem, unique_collection: str) -> None:
    store = AgentMemStore(full_mem, tenant="u", collection=unique_collection)
    store.close()
    with pytest.raises(ClosedError):
        store.get(("a",), "k")
