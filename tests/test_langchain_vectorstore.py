"""AgentMemVectorStore beyond the standard suite: retrievers, filters, BM25 zero-config, scores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.documents import Document

from agentmem import SHARED, AgentMem, AgentMemSettings
from agentmem.errors import UnsupportedFilterError
from langchain_agentmem import AgentMemVectorStore
from tests.support import HashEmbeddings

pytestmark = pytest.mark.weaviate


DOCS = [
    Document("the cat sat on the mat", metadata={"topic": "pets", "n": 1}, id="cat"),
    Document("a cat and a kitten on a mat", metadata={"topic": "pets", "n": 2}, id="kitten"),
    Document("dogs bark at the mailman", metadata={"topic": "pets", "n": 3}, id="dog"),
    Document("bond yields and interest rates", metadata={"topic": "money", "n": 4}, id="bonds"),
]


@pytest.fixture
def store(full_mem: AgentMem, unique_collection: str) -> Iterator[AgentMemVectorStore]:
    vs = AgentMemVectorStore(
        full_mem, embedding=HashEmbeddings(), tenant="lc", collection=unique_collection
    )
    vs.add_documents(DOCS)
    yield vs
    vs.memory.drop_collection()


@pytest.fixture
async def astore(
    full_settings: AgentMemSettings, unique_collection: str
) -> AsyncIterator[AgentMemVectorStore]:
    mem = AgentMem(full_settings)
    vs = AgentMemVectorStore(
        mem, embedding=HashEmbeddings(), tenant="lc", collection=unique_collection
    )
    await vs.aadd_documents(DOCS)
    yield vs
    await vs.memory.adrop_collection()
    await mem.aclose()


def test_retriever_similarity_with_dict_filter(store: AgentMemVectorStore) -> None:
    retriever = store.as_retriever(search_kwargs={"k": 2, "filter": {"n": {"$gte": 3}}})
    assert {d.id for d in retriever.invoke("cat on a mat")} == {"dog", "bonds"}
    assert [d.id for d in store.similarity_search("cat mat", k=1)] == ["cat"]


def test_retriever_mmr_prefers_diverse_results(store: AgentMemVectorStore) -> None:
    retriever = store.as_retriever(
        search_type="mmr", search_kwargs={"k": 2, "fetch_k": 4, "lambda_mult": 0.2}
    )
    ids = [d.id for d in retriever.invoke("cat sat on the mat")]
    assert ids[0] == "cat" and ids[1] != "kitten"


def test_retriever_score_threshold_uses_relevance_in_unit_range(store: AgentMemVectorStore) -> None:
    scored = store.similarity_search_with_relevance_scores("the cat sat on the mat", k=4)
    assert all(0.0 <= s <= 1.0 for _, s in scored)
    assert scored[0][0].id == "cat" and scored[0][1] == pytest.approx(1.0, abs=1e-4)
    retriever = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.99, "k": 4}
    )
    assert [d.id for d in retriever.invoke("the cat sat on the mat")] == ["cat"]


def test_hybrid_and_bm25_modes_per_call(store: AgentMemVectorStore) -> None:
    assert store.similarity_search("yields", k=1, search_mode="bm25")[0].id == "bonds"
    assert store.similarity_search("interest rates", k=1, search_mode="hybrid")[0].id == "bonds"


def test_unsupported_dict_filter_raises(store: AgentMemVectorStore) -> None:
    with pytest.raises(UnsupportedFilterError):
        store.similarity_search("cat", filter={"topic": {"$regex": "p.*"}})


def test_without_embeddings_the_store_searches_by_bm25(
    full_mem: AgentMem, unique_collection: str
) -> None:
    vs = AgentMemVectorStore(full_mem, tenant="bm25", collection=unique_collection)
    try:
        vs.add_texts(["green tea in the morning", "espresso after lunch"], ids=["tea", "coffee"])
        (doc,) = vs.similarity_search("tea", k=1)
        assert doc.id == "tea" and doc.page_content == "green tea in the morning"
    finally:
        vs.memory.drop_collection()


def test_constructor_without_memory_reads_the_environment(
    full_settings: AgentMemSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTMEM_WEAVIATE_URL", str(full_settings.weaviate.url))
    monkeypatch.setenv("AGENTMEM_WEAVIATE_GRPC_PORT", str(full_settings.weaviate.grpc_port))
    vs = AgentMemVectorStore(tenant=SHARED)  # no I/O until first use
    assert vs.memory.collection == "AgentMemory" and vs.memory.tenant == "shared"
    client = vs.memory.memory.weaviate()
    existed = client.collections.exists("AgentMemory")
    tenant_probe = AgentMemVectorStore(tenant="env-probe")
    try:
        tenant_probe.add_texts(["hello from the environment"], ids=["env"])
        assert [d.id for d in tenant_probe.similarity_search("environment")] == ["env"]
    finally:
        tenant_probe.clear()
        if not existed:
            client.collections.delete("AgentMemory")
        tenant_probe.close()
        vs.close()


async def test_async_retrievers_and_search(astore: AgentMemVectorStore) -> None:
    assert [d.id for d in await astore.asimilarity_search("cat mat", k=1)] == ["cat"]
    mmr = await astore.as_retriever(search_type="mmr", search_kwargs={"k": 2}).ainvoke("cat mat")
    assert len(mmr) == 2
    docs = await astore.as_retriever(search_kwargs={"filter": {"topic": "money"}}).ainvoke("cat")
    assert [d.id for d in docs] == ["bonds"]
    vec = HashEmbeddings().embed_query("dogs bark")
    assert (await astore.asimilarity_search_by_vector(vec, k=1))[0].id == "dog"
    assert (await astore.amax_marginal_relevance_search_by_vector(vec, k=1))[0].id == "dog"
    await astore.adelete(["dog"])
    assert await astore.aget_by_ids(["dog"]) == []


def test_langchain_indexing_api_adds_skips_and_cleans_up(store: AgentMemVectorStore) -> None:
    from langchain_core.indexing import InMemoryRecordManager, index

    store.clear()
    manager = InMemoryRecordManager(namespace="agentmem-test")
    manager.create_schema()
    docs = [
        Document("first page", metadata={"source": "a.txt"}),
        Document("second page", metadata={"source": "b.txt"}),
    ]
    kw: dict[str, Any] = {"cleanup": "full", "source_id_key": "source", "key_encoder": "sha256"}
    first = index(docs, manager, store, **kw)
    assert (first["num_added"], first["num_skipped"]) == (2, 0)
    again = index(docs, manager, store, **kw)
    assert (again["num_added"], again["num_skipped"]) == (0, 2)
    shrunk = index(docs[:1], manager, store, **kw)
    assert shrunk["num_deleted"] == 1
    assert [d.page_content for d in store.similarity_search("page", k=5)] == ["first page"]
