"""The LlamaIndex AgentMemVectorStore on real Weaviate, directly and through VectorStoreIndex."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from agentmem import AgentMem, AgentMemSettings
from agentmem.errors import UnsupportedFilterError
from llamaindex_agentmem import AgentMemVectorStore
from tests.support import HASH, HashEmbedModel, hash_query

pytestmark = pytest.mark.weaviate


EMBED = HashEmbedModel(model_name="hash")


def _node(node_id: str, text: str, **meta: object) -> TextNode:
    return TextNode(id_=node_id, text=text, metadata=meta, embedding=HASH.embed_query(text))


NODES = [
    _node("n1", "the cat sat on the mat", topic="pets", n=1),
    _node("n2", "dogs chase cats in the park", topic="pets", n=2),
    _node("n3", "interest rates went up", topic="money", n=3),
]


@pytest.fixture
def store(full_mem: AgentMem, unique_collection: str) -> Iterator[AgentMemVectorStore]:
    vs = AgentMemVectorStore(full_mem, tenant="li", collection=unique_collection)
    yield vs
    vs.memory.drop_collection()


@pytest.fixture
async def astore(
    full_settings: AgentMemSettings, unique_collection: str
) -> AsyncIterator[AgentMemVectorStore]:
    mem = AgentMem(full_settings)
    vs = AgentMemVectorStore(mem, tenant="li", collection=unique_collection)
    yield vs
    await vs.memory.adrop_collection()
    await mem.aclose()


def test_add_returns_node_ids_in_order_and_default_query_returns_nodes_best_first(
    store: AgentMemVectorStore,
) -> None:
    assert store.add(NODES) == ["n1", "n2", "n3"]
    result = store.query(hash_query("cat on the mat", similarity_top_k=2))
    assert result.ids == ["n1", "n2"]
    assert result.nodes is not None and result.similarities is not None
    assert result.nodes[0].get_content() == "the cat sat on the mat"
    assert result.nodes[0].metadata == {"topic": "pets", "n": 1}
    assert 1.0 >= result.similarities[0] >= result.similarities[1] >= 0.0


def test_text_search_and_hybrid_modes(store: AgentMemVectorStore) -> None:
    store.add(NODES)
    bm25 = store.query(VectorStoreQuery(query_str="rates", mode=VectorStoreQueryMode.TEXT_SEARCH))
    assert bm25.ids == ["n3"]
    hybrid = store.query(
        hash_query("cat mat", mode=VectorStoreQueryMode.HYBRID, alpha=0.5, similarity_top_k=3)
    )
    assert hybrid.ids is not None and hybrid.ids[0] == "n1"
    mmr = store.query(hash_query("cat", mode=VectorStoreQueryMode.MMR, similarity_top_k=2))
    assert mmr.ids is not None and len(mmr.ids) == 2


def test_nested_and_or_not_filters_and_doc_and_node_id_scopes(store: AgentMemVectorStore) -> None:
    store.add(NODES)
    nested = MetadataFilters(
        filters=[
            MetadataFilter(key="topic", value="pets"),
            MetadataFilters(
                filters=[MetadataFilter(key="n", value=1)], condition=FilterCondition.NOT
            ),
        ]
    )
    assert store.query(hash_query("cats", similarity_top_k=5, filters=nested)).ids == ["n2"]
    assert store.query(hash_query("cats", similarity_top_k=5, node_ids=["n3"])).ids == ["n3"]
    # node_ids == [] is "no restriction", as VectorStoreIndex sends it
    assert len(store.query(hash_query("cats", similarity_top_k=5, node_ids=[])).ids or []) == 3
    with pytest.raises(UnsupportedFilterError):
        store.query(
            hash_query(
                "x",
                filters=MetadataFilters(
                    filters=[MetadataFilter(key="topic", value="p", operator="text_match")]
                ),
            )
        )


def test_get_delete_nodes_delete_by_ref_doc_and_clear(store: AgentMemVectorStore) -> None:
    doc = Document(text="source", id_="doc-1")
    child = TextNode(id_="child", text="part of doc one", embedding=HASH.embed_query("part"))
    child.relationships = {"1": doc.as_related_node_info()}  # type: ignore[dict-item]
    store.add([*NODES, child])
    assert {n.node_id for n in store.get_nodes(["n1", "child", "missing"])} == {"n1", "child"}
    assert store.get_nodes(["child"])[0].ref_doc_id == "doc-1"
    store.delete("doc-1")
    assert store.get_nodes(["child"]) == []
    store.delete_nodes(
        filters=MetadataFilters(filters=[MetadataFilter(key="topic", value="money")])
    )
    store.delete_nodes(["n1"])
    assert [n.node_id for n in store.get_nodes()] == ["n2"]
    store.clear()
    assert store.get_nodes() == []


def test_none_metadata_values_filter_like_vector_memory_block(store: AgentMemVectorStore) -> None:
    store.add(
        [_node("s1", "no session", session_id=None), _node("s2", "session", session_id="abc")]
    )
    flt = MetadataFilters(filters=[MetadataFilter(key="session_id", value=None)])
    assert [n.node_id for n in store.get_nodes(filters=flt)] == ["s1"]


def test_vector_store_index_insert_retrieve_and_delete_ref_doc(store: AgentMemVectorStore) -> None:
    index = VectorStoreIndex.from_vector_store(store, embed_model=EMBED)
    index.insert(Document(text="the quick brown fox", id_="fox", metadata={"kind": "animal"}))
    index.insert(
        Document(text="quarterly earnings report", id_="earn", metadata={"kind": "finance"})
    )
    retriever = index.as_retriever(similarity_top_k=1)
    (hit,) = retriever.retrieve("brown fox")
    assert hit.node.get_content() == "the quick brown fox" and hit.node.ref_doc_id == "fox"
    filtered = index.as_retriever(
        similarity_top_k=5,
        filters=MetadataFilters(filters=[MetadataFilter(key="kind", value="finance")]),
    )
    assert [h.node.ref_doc_id for h in filtered.retrieve("fox")] == ["earn"]
    index.delete_ref_doc("fox")
    assert [h.node.ref_doc_id for h in index.as_retriever(similarity_top_k=5).retrieve("fox")] == [
        "earn"
    ]


def test_serialized_form_has_no_client_or_secret(store: AgentMemVectorStore) -> None:
    data = store.to_dict()
    assert {"collection", "tenant", "alpha"} <= set(data)
    assert "memory" not in data and "client" not in data
    assert "api_key" not in str(data)


async def test_async_methods_are_native_and_mirror_sync(astore: AgentMemVectorStore) -> None:
    assert await astore.async_add(NODES) == ["n1", "n2", "n3"]
    result = await astore.aquery(hash_query("interest rates", similarity_top_k=1))
    assert result.ids == ["n3"]
    assert {n.node_id for n in await astore.aget_nodes(["n1", "n2"])} == {"n1", "n2"}
    await astore.adelete_nodes(["n1"])
    await astore.adelete("nothing-of-that-name")
    assert {n.node_id for n in await astore.aget_nodes()} == {"n2", "n3"}
    index = VectorStoreIndex.from_vector_store(astore, embed_model=EMBED)
    hits = await index.as_retriever(similarity_top_k=1).aretrieve("dogs chase")
    assert [h.node.node_id for h in hits] == ["n2"]
    await astore.aclear()
    assert await astore.aget_nodes() == []


def test_embed_model_embeds_nodes_without_vectors_and_text_only_queries(
    full_mem: AgentMem, unique_collection: str
) -> None:
    vs = AgentMemVectorStore(full_mem, tenant="em", collection=unique_collection, embed_model=EMBED)
    try:
        vs.add(
            [
                TextNode(id_="t1", text="sunny beach holiday"),
                TextNode(id_="t2", text="tax return forms"),
            ]
        )
        (node,) = vs.get_nodes(["t1"])
        assert node.embedding == pytest.approx(HASH.embed_query("sunny beach holiday"))
        result = vs.query(VectorStoreQuery(query_str="beach holiday", similarity_top_k=1))
        assert result.ids == ["t1"]
    finally:
        vs.memory.drop_collection()


async def test_vector_memory_block_puts_and_recalls_per_session(
    astore: AgentMemVectorStore,
) -> None:
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.core.memory import VectorMemoryBlock

    block = VectorMemoryBlock(vector_store=astore, embed_model=EMBED, similarity_top_k=1)
    await block.aput([ChatMessage(role="user", content="my favourite colour is teal")])
    recalled = await block.aget([ChatMessage(role="user", content="what is my favourite colour?")])
    assert "teal" in recalled
    nodes = await astore.aget_nodes()
    assert len(nodes) == 1 and nodes[0].metadata == {"session_id": None}


async def test_mmr_can_be_restricted_to_node_ids(store: AgentMemVectorStore) -> None:
    store.add(NODES)
    mmr = hash_query(
        "cat", mode=VectorStoreQueryMode.MMR, similarity_top_k=3, node_ids=["n2", "n3"]
    )
    assert sorted(store.query(mmr).ids or []) == ["n2", "n3"]
    assert sorted((await store.aquery(mmr)).ids or []) == ["n2", "n3"]
    one = hash_query("cat", mode=VectorStoreQueryMode.MMR, similarity_top_k=3, node_ids=["n1"])
    assert store.query(one).ids == ["n1"]
