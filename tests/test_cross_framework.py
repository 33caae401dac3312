"""LangChain and LlamaIndex share one memory: what one writes the other finds, with the same
text, id and metadata; and two tenants never see each other through any adapter API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters, VectorStoreQuery

from agentmem import AgentMem
from agentmem.testing.embedding import HashingEmbedder
from langchain_agentmem import AgentMemVectorStore as LCStore
from llamaindex_agentmem import AgentMemVectorStore as LIStore

pytestmark = pytest.mark.weaviate
_HASH = HashingEmbedder()


class HashEmbeddings(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return _HASH.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return _HASH.embed_query(text)


@pytest.fixture
def stores(full_mem: AgentMem, unique_collection: str) -> Iterator[tuple[LCStore, LIStore]]:
    lc = LCStore(full_mem, embedding=HashEmbeddings(), tenant="shared", collection=unique_collection)
    li = LIStore(full_mem, tenant="shared", collection=unique_collection)
    yield lc, li
    lc.memory.drop_collection()


def _li_query(text: str, **kw: object) -> VectorStoreQuery:
    return VectorStoreQuery(query_str=text, query_embedding=_HASH.embed_query(text), **kw)  # type: ignore[arg-type]


META = {"topic": "travel", "id": 5, "tags": ["trip"], "score": 0.5}


def test_memory_written_by_langchain_is_found_by_llamaindex_unchanged(
    stores: tuple[LCStore, LIStore],
) -> None:
    lc, li = stores
    lc.add_documents([Document("booked a flight to Lisbon", metadata=META, id="lc-1")])
    result = li.query(_li_query("flight to Lisbon", similarity_top_k=1))
    assert result.nodes is not None
    (node,) = result.nodes
    assert (node.node_id, node.get_content(), node.metadata) == (
        "lc-1",
        "booked a flight to Lisbon",
        META,
    )
    flt = MetadataFilters(filters=[MetadataFilter(key="topic", value="travel")])
    assert [n.node_id for n in li.get_nodes(filters=flt)] == ["lc-1"]


def test_memory_written_by_llamaindex_is_found_by_langchain_unchanged(
    stores: tuple[LCStore, LIStore],
) -> None:
    lc, li = stores
    li.add(
        [
            TextNode(
                id_="li-1",
                text="allergic to peanuts",
                metadata=META,
                embedding=_HASH.embed_query("allergic to peanuts"),
            )
        ]
    )
    (doc,) = lc.similarity_search("peanuts allergic", k=1)
    assert doc == Document("allergic to peanuts", metadata=META, id="li-1")
    assert [
        d.id for d in lc.similarity_search("x", k=3, filter={"tags": {"$contains": "trip"}})
    ] == ["li-1"]
    assert lc.get_by_ids(["li-1"]) == [doc]


def _visible(read: Callable[[], list[str]], want: list[str], seconds: float = 15.0) -> None:
    """Wait until ``read()`` returns ``want`` (replicas catching up); fail if it never does."""
    deadline = time.monotonic() + seconds
    got = read()
    while got != want and time.monotonic() < deadline:
        time.sleep(0.2)
        got = read()
    assert got == want


def test_two_tenants_never_see_each_other_through_either_adapter(
    full_mem: AgentMem, unique_collection: str
) -> None:
    a_lc = LCStore(
        full_mem, embedding=HashEmbeddings(), tenant="tenant-a", collection=unique_collection
    )
    b_lc = LCStore(
        full_mem, embedding=HashEmbeddings(), tenant="tenant-b", collection=unique_collection
    )
    a_li = LIStore(full_mem, tenant="tenant-a", collection=unique_collection)
    b_li = LIStore(full_mem, tenant="tenant-b", collection=unique_collection)
    try:
        a_lc.add_texts(["alpha secret"], metadatas=[{"k": "v"}], ids=["a1"])
        a_li.add(
            [
                TextNode(
                    id_="a2",
                    text="alpha node",
                    metadata={"k": "v"},
                    embedding=_HASH.embed_query("alpha node"),
                )
            ]
        )
        b_lc.add_texts(["beta note"], metadatas=[{"k": "v"}], ids=["b1"])
        # Reads from tenant B: every API sees only b1. On a replicated cluster a search may be
        # served by a replica that has not applied the write yet (seen under load in the
        # cluster pass), so the first search waits for b1 to be visible before anything is judged.
        _visible(lambda: [d.id for d in b_lc.similarity_search("beta note", k=1)], ["b1"])
        assert [d.id for d in b_lc.similarity_search("alpha secret", k=10)] == ["b1"]
        assert [d.id for d in b_lc.similarity_search("alpha", k=10, search_mode="bm25")] == []
        assert [d.id for d in b_lc.max_marginal_relevance_search("alpha", k=5)] == ["b1"]
        assert b_lc.get_by_ids(["a1", "a2"]) == []
        assert (b_li.query(_li_query("alpha node", similarity_top_k=10)).ids) == ["b1"]
        assert [
            n.node_id
            for n in b_li.get_nodes(
                filters=MetadataFilters(filters=[MetadataFilter(key="k", value="v")])
            )
        ] == ["b1"]
        assert b_li.get_nodes(["a1", "a2"]) == []
        # Deletes and clears in tenant B leave tenant A untouched.
        b_lc.delete(["a1"])
        b_li.delete_nodes(["a2"])
        b_li.clear()
        assert {d.id for d in a_lc.get_by_ids(["a1", "a2"])} == {"a1", "a2"}
        assert b_lc.get_by_ids(["b1"]) == []
    finally:
        a_lc.memory.drop_collection()
