"""``AgentMemVectorStore``: a LlamaIndex vector store over agentmem long-term memory (Weaviate).

Native async (``async_add``, ``aquery``, ``adelete``... use Weaviate's async client). Query modes:
``default`` (vector, or BM25 when the query has no embedding), ``text_search`` / ``sparse`` (BM25),
``hybrid`` / ``semantic_hybrid`` (relativeScoreFusion, ``alpha`` = vector share) and ``mmr``.
Similarities are agentmem relevances in [0, 1] (see :class:`agentmem.longterm.MemoryHit`).

Node metadata is stored as the memory's metadata, exactly as given, so memories written here
are found by the LangChain adapter with the same metadata, and the other way round. The node's
own JSON (relationships, templates) is kept aside and restored on read. The serialized form holds
only ``collection``, ``tenant`` and ``alpha``: no client, no secret. The store is a context
manager (``with`` / ``async with``); leaving it closes only what it owns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import (
    BaseNode,
    MetadataMode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from agentmem import AgentMem
from agentmem._adapter import check_memory
from agentmem._lifecycle import Lifecycle
from agentmem._store import require_scope
from agentmem.errors import InvalidInputError
from agentmem.longterm import DEFAULT_COLLECTION, LongTermMemory, MemoryHit, MemoryRecord
from llamaindex_agentmem._filters import from_llamaindex

__all__ = ["AgentMemVectorStore"]

_BM25 = (VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.SPARSE)
_HYBRID = (VectorStoreQueryMode.HYBRID, VectorStoreQueryMode.SEMANTIC_HYBRID)
_NODE_KEYS = ("_node_content", "_node_type")


class AgentMemVectorStore(BasePydanticVectorStore, Lifecycle):
    """LlamaIndex vector store on agentmem long-term memory.

    Args:
        memory: the :class:`agentmem.AgentMem` to use (None: one from ``AGENTMEM_*`` variables,
            owned and closed by :meth:`close`). The only positional argument.
        tenant: the tenant every call is bound to: the user's (or org's) id, or
            ``agentmem.SHARED`` for one store that every user shares on purpose. Required.
        collection: the Weaviate collection.
        alpha: the default vector share of hybrid queries.
        embed_model: embeds nodes added without an embedding and text-only queries (an index
            normally embeds both itself, so this is only needed when using the store directly).

    Raises:
        InvalidInputError: the first argument is not an AgentMem (or None), or ``tenant`` is
            empty.

    Example:
        >>> store = AgentMemVectorStore(mem, tenant="user-42")
        >>> index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
    """

    stores_text: bool = True
    is_embedding_query: bool = True
    collection: str = DEFAULT_COLLECTION
    tenant: str
    alpha: float = 0.5

    _memory: LongTermMemory = PrivateAttr()

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        tenant: str,
        collection: str = DEFAULT_COLLECTION,
        alpha: float = 0.5,
        embed_model: BaseEmbedding | None = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        memory = check_memory(memory, name, "pass the embedding model as embed_model=...")
        tenant = require_scope(tenant, "tenant", name)
        super().__init__(  # type: ignore[call-arg]  # pydantic fields declared on this class
            collection=collection, tenant=tenant, alpha=alpha, **kwargs
        )
        embedder = _Embedder(embed_model) if embed_model is not None else None
        self._memory = LongTermMemory(
            memory, tenant=tenant, collection=collection, embedder=embedder
        )

    @classmethod
    def class_name(cls) -> str:
        """The LlamaIndex class name."""
        return "AgentMemVectorStore"

    @property
    def client(self) -> Any:
        """The sync Weaviate client in use."""
        return self._memory.memory.weaviate()

    @property
    def memory(self) -> LongTermMemory:
        """The underlying agentmem long-term memory."""
        return self._memory

    def close(self) -> None:
        """Close the clients if this store created its own AgentMem (a given one stays open)."""
        self._memory.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await self._memory.aclose()

    # -- writes ----------------------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Upsert nodes (with their embeddings); returns their ids in input order.

        Raises:
            agentmem.PartialWriteError: the server refused some nodes (the others were stored).
        """
        return self._memory.add([_record(n) for n in nodes])

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Async twin of :meth:`add`."""
        return await self._memory.aadd([_record(n) for n in nodes])

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of source document ``ref_doc_id``."""
        self._memory.delete(ref_doc_ids=[ref_doc_id])

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Async twin of :meth:`delete`."""
        await self._memory.adelete(ref_doc_ids=[ref_doc_id])

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete nodes by id and/or filter (with neither, nothing is deleted; see :meth:`clear`)."""
        self._memory.delete(node_ids, filter=from_llamaindex(filters))

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Async twin of :meth:`delete_nodes`."""
        await self._memory.adelete(node_ids, filter=from_llamaindex(filters))

    def clear(self) -> None:
        """Delete every node of this tenant."""
        self._memory.clear()

    async def aclear(self) -> None:
        """Async twin of :meth:`clear`."""
        await self._memory.aclear()

    # -- reads -----------------------------------------------------------------------------------

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Nodes by id and/or filter (at most 10,000)."""
        records = self._memory.find(
            filter=from_llamaindex(filters), ids=node_ids, limit=10_000, include_vector=True
        )
        return [_node(r) for r in records]

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Async twin of :meth:`get_nodes`."""
        records = await self._memory.afind(
            filter=from_llamaindex(filters), ids=node_ids, limit=10_000, include_vector=True
        )
        return [_node(r) for r in records]

    def _search_kwargs(self, query: VectorStoreQuery) -> dict[str, Any]:
        mode = query.mode
        if mode == VectorStoreQueryMode.DEFAULT:
            can_embed = self._memory.embedder is not None and query.query_str is not None
            resolved = "vector" if query.query_embedding is not None or can_embed else "bm25"
        elif mode in _BM25:
            resolved = "bm25"
        elif mode in _HYBRID:
            resolved = "hybrid"
        else:
            raise InvalidInputError(
                f"query mode {mode.value!r} is not supported; use default, text_search, sparse, "
                "hybrid, semantic_hybrid or mmr"
            )
        return {
            "query": query.query_str,
            "vector": query.query_embedding if resolved != "bm25" else None,
            "mode": resolved,
            "k": query.similarity_top_k,
            "alpha": query.alpha if query.alpha is not None else self.alpha,
            **_scope(query),
        }

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Run ``query`` (see the module docstring for modes); best match first."""
        if query.mode == VectorStoreQueryMode.MMR:
            hits = self._memory.mmr_search(**_mmr_kwargs(query))
        else:
            hits = self._memory.search(**self._search_kwargs(query))
        return _result(hits)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Async twin of :meth:`query`."""
        if query.mode == VectorStoreQueryMode.MMR:
            hits = await self._memory.ammr_search(**_mmr_kwargs(query))
        else:
            hits = await self._memory.asearch(**self._search_kwargs(query))
        return _result(hits)


class _Embedder:
    """A LlamaIndex embed model seen through agentmem's ``Embedder`` protocol."""

    def __init__(self, model: BaseEmbedding) -> None:
        self._model = model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in self._model.get_text_embedding_batch(texts)]

    def embed_query(self, text: str) -> list[float]:
        return list(self._model.get_query_embedding(text))

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in await self._model.aget_text_embedding_batch(texts)]

    async def aembed_query(self, text: str) -> list[float]:
        return list(await self._model.aget_query_embedding(text))


def _scope(query: VectorStoreQuery) -> dict[str, Any]:
    # node_ids == [] means "no restriction": VectorStoreIndex passes it for text-storing stores.
    return {
        "filter": from_llamaindex(query.filters),
        "ids": query.node_ids or None,
        "ref_doc_ids": query.doc_ids or None,
    }


def _mmr_kwargs(query: VectorStoreQuery) -> dict[str, Any]:
    if query.query_embedding is None:
        raise InvalidInputError("MMR queries need a query embedding")
    return {
        "vector": query.query_embedding,
        "k": query.similarity_top_k,
        "fetch_k": max(20, 4 * query.similarity_top_k),
        "lambda_mult": query.mmr_threshold if query.mmr_threshold is not None else 0.5,
        **_scope(query),
    }


def _record(node: BaseNode) -> MemoryRecord:
    encoded = node_to_metadata_dict(node, remove_text=True, flat_metadata=False)
    return MemoryRecord(
        text=node.get_content(metadata_mode=MetadataMode.NONE),
        metadata=dict(node.metadata),
        id=node.node_id,
        vector=node.embedding,
        ref_doc_id=node.ref_doc_id,
        extra={key: encoded[key] for key in _NODE_KEYS if key in encoded},
    )


def _node(record: MemoryRecord) -> BaseNode:
    if "_node_content" in record.extra:
        node = metadata_dict_to_node(dict(record.extra), text=record.text)
        # The stored metadata is authoritative (it may have been written by another framework).
        node.metadata = dict(record.metadata)
    else:
        node = TextNode(id_=str(record.id), text=record.text, metadata=dict(record.metadata))
        if record.ref_doc_id:
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=record.ref_doc_id)
    if record.vector is not None:
        node.embedding = list(record.vector)
    return node


def _result(hits: list[MemoryHit]) -> VectorStoreQueryResult:
    nodes = [_node(h.record) for h in hits]
    return VectorStoreQueryResult(
        nodes=nodes, similarities=[h.relevance for h in hits], ids=[n.node_id for n in nodes]
    )
