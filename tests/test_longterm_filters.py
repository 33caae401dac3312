"""The shared filter table, run through the AST, the LangChain dicts and LlamaIndex
MetadataFilters (directly and through both adapters' search) against one real Weaviate tenant:
every front end must select the same ids."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core.vector_stores.types import MetadataFilters, VectorStoreQuery

from agentmem.errors import UnsupportedFilterError
from agentmem.longterm import LongTermMemory, MemoryRecord
from agentmem.testing.filter_cases import (
    CASES,
    DOCS,
    UNSUPPORTED_LANGCHAIN,
    UNSUPPORTED_LLAMAINDEX,
    FilterCase,
)
from langchain_agentmem import AgentMemVectorStore as LCStore
from langchain_agentmem._filters import from_langchain
from llamaindex_agentmem import AgentMemVectorStore as LIStore
from llamaindex_agentmem._filters import from_llamaindex
from tests.support import WeaviateServer, weaviate_memory


@pytest.fixture(scope="module")
def seeded(weaviate_server: WeaviateServer) -> Iterator[LongTermMemory]:
    with weaviate_memory(weaviate_server, tenant="filters", name="Filt") as memory:
        # Equal vectors, so a k=10 vector search through an adapter returns every filter match.
        memory.add(
            [MemoryRecord(text, meta, id=i, vector=[1.0, 0.0]) for i, (text, meta) in DOCS.items()]
        )
        yield memory


def _ids(memory: LongTermMemory, node: object) -> set[str]:
    return {str(r.id) for r in memory.find(filter=node, limit=100)}  # type: ignore[arg-type]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_filter_ast_selects_expected_ids(seeded: LongTermMemory, case: FilterCase) -> None:
    assert _ids(seeded, case.ast) == case.expected


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.langchain is not None], ids=lambda c: c.name
)
def test_langchain_dict_filter_selects_same_ids_as_ast(
    seeded: LongTermMemory, case: FilterCase
) -> None:
    assert _ids(seeded, from_langchain(case.langchain)) == case.expected


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.llamaindex is not None], ids=lambda c: c.name
)
def test_llamaindex_metadata_filters_select_same_ids_as_ast(
    seeded: LongTermMemory, case: FilterCase
) -> None:
    spec = MetadataFilters.model_validate(case.llamaindex)
    assert _ids(seeded, from_llamaindex(spec)) == case.expected


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.langchain is not None], ids=lambda c: c.name
)
def test_langchain_vector_store_search_applies_the_table_filters(
    seeded: LongTermMemory, case: FilterCase
) -> None:
    store = LCStore(memory=seeded.memory, tenant=seeded.tenant, collection=seeded.collection)
    docs = store.similarity_search_by_vector([1.0, 0.0], k=10, filter=case.langchain)
    assert {d.id for d in docs} == case.expected


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.llamaindex is not None], ids=lambda c: c.name
)
def test_llamaindex_vector_store_query_applies_the_table_filters(
    seeded: LongTermMemory, case: FilterCase
) -> None:
    store = LIStore(seeded.memory, tenant=seeded.tenant, collection=seeded.collection)
    query = VectorStoreQuery(
        query_embedding=[1.0, 0.0],
        similarity_top_k=10,
        filters=MetadataFilters.model_validate(case.llamaindex),
    )
    assert set(store.query(query).ids or []) == case.expected


@pytest.mark.parametrize("spec", UNSUPPORTED_LANGCHAIN, ids=str)
def test_langchain_filter_that_cannot_be_expressed_raises_instead_of_dropping(
    seeded: LongTermMemory, spec: dict[str, object]
) -> None:
    with pytest.raises(UnsupportedFilterError):
        seeded.find(filter=from_langchain(spec))


@pytest.mark.parametrize("spec", UNSUPPORTED_LLAMAINDEX, ids=str)
def test_llamaindex_filter_that_cannot_be_expressed_raises_instead_of_dropping(
    seeded: LongTermMemory, spec: dict[str, object]
) -> None:
    with pytest.raises(UnsupportedFilterError):
        seeded.find(filter=from_llamaindex(MetadataFilters.model_validate(spec)))


def test_filters_also_restrict_every_search_mode(seeded: LongTermMemory) -> None:
    hits = seeded.search("coffee cake apples", k=5, filter=from_langchain({"topic": "food"}))
    assert {h.record.id for h in hits} <= {"a", "c"}
    assert hits
