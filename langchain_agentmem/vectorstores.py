"""``AgentMemVectorStore``: a LangChain ``VectorStore`` over agentmem long-term memory (Weaviate).

Sync and native async (the async methods use Weaviate's async client; nothing runs in a thread).
Scores: ``similarity_search_with_score`` returns the **relevance** in [0, 1] (higher is better),
so ``similarity_search_with_relevance_scores`` and the ``similarity_score_threshold`` retriever
work unchanged. What relevance means per search mode is documented on
:class:`agentmem.longterm.MemoryHit`.

Filters are LangChain-style dicts (see :mod:`langchain_agentmem._filters`) or
:mod:`agentmem.filters` nodes, passed as ``filter=`` to any search method or through
``as_retriever(search_kwargs={"filter": ...})``.

The store is a context manager (``with`` / ``async with``); leaving it closes only what the store
owns (an ``AgentMem`` it built itself).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from typing_extensions import Self

from agentmem import AgentMem
from agentmem._adapter import check_memory
from agentmem._lifecycle import Lifecycle
from agentmem._store import require_scope
from agentmem.longterm import DEFAULT_COLLECTION, LongTermMemory, MemoryHit, MemoryRecord
from langchain_agentmem._filters import from_langchain

__all__ = ["AgentMemVectorStore"]

Mode = Literal["vector", "bm25", "hybrid"]


class AgentMemVectorStore(VectorStore, Lifecycle):
    """LangChain vector store on agentmem long-term memory.

    Args:
        memory: the :class:`agentmem.AgentMem` to use (None: one from ``AGENTMEM_*`` variables,
            owned and closed by :meth:`close`). The only positional argument.
        tenant: the tenant every call is bound to: the user's (or org's) id, or
            ``agentmem.SHARED`` for one store that every user shares on purpose. Required.
        embedding: the LangChain embeddings; None means BM25 search only (zero-config).
        collection: the Weaviate collection.
        search_mode: the default of ``similarity_search``: ``"vector"`` (the default with an
            embedding), ``"bm25"`` (the default without) or ``"hybrid"``; a call can override
            it with ``search_mode=``.
        alpha: the vector share of hybrid search.

    Raises:
        InvalidInputError: the first argument is not an AgentMem (or None), or ``tenant`` is
            empty.

    Example:
        >>> with AgentMemVectorStore(mem, tenant="user-42", embedding=embeddings) as store:
        ...     store.add_texts(["likes green tea"], metadatas=[{"topic": "food"}])
        ...     store.similarity_search("tea", k=1, filter={"topic": "food"})
    """

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        tenant: str,
        embedding: Embeddings | None = None,
        collection: str = DEFAULT_COLLECTION,
        search_mode: Mode | None = None,
        alpha: float = 0.5,
    ) -> None:
        name = type(self).__name__
        memory = check_memory(memory, name, "pass the embeddings as embedding=...")
        tenant = require_scope(tenant, "tenant", name)
        self._embedding = embedding
        self.memory = LongTermMemory(
            memory, tenant=tenant, collection=collection, embedder=embedding
        )
        self.search_mode: Mode = search_mode or ("vector" if embedding is not None else "bm25")
        self.alpha = alpha

    @property
    def embeddings(self) -> Embeddings | None:
        """The embeddings in use (None: BM25 only)."""
        return self._embedding

    # -- writes ----------------------------------------------------------------------------------

    @staticmethod
    def _records(
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None,
        ids: Sequence[str | None] | None,
    ) -> list[MemoryRecord]:
        text_list = list(texts)
        metas = metadatas if metadatas is not None else [{} for _ in text_list]
        id_list = list(ids) if ids is not None else [None] * len(text_list)
        return [
            MemoryRecord(text, dict(meta or {}), id=i if i else str(uuid.uuid4()))
            for text, meta, i in zip(text_list, metas, id_list, strict=True)
        ]

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Upsert texts; returns their ids in order (given ids are kept, missing ones generated).

        Raises:
            agentmem.PartialWriteError: some texts were refused by the server.
        """
        return self.memory.add(self._records(texts, metadatas, ids))

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async twin of :meth:`add_texts`."""
        return await self.memory.aadd(self._records(texts, metadatas, ids))

    @staticmethod
    def _doc_args(
        documents: list[Document], kwargs: dict[str, Any]
    ) -> tuple[list[str], list[dict[str, Any]], list[str | None]]:
        ids = kwargs.pop("ids", None)
        if ids is None:
            ids = [doc.id for doc in documents]
        return [d.page_content for d in documents], [dict(d.metadata) for d in documents], ids

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Upsert documents (id from ``ids=``, else ``doc.id``, else generated); inputs unchanged."""
        texts, metas, ids = self._doc_args(documents, kwargs)
        return self.memory.add(self._records(texts, metas, ids))

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Async twin of :meth:`add_documents`."""
        texts, metas, ids = self._doc_args(documents, kwargs)
        return await self.memory.aadd(self._records(texts, metas, ids))

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete by ids (missing ids are fine). ``ids=None`` deletes nothing; use ``clear()``."""
        self.memory.delete(ids, filter=from_langchain(kwargs.get("filter")))
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Async twin of :meth:`delete`."""
        await self.memory.adelete(ids, filter=from_langchain(kwargs.get("filter")))
        return True

    def clear(self) -> None:
        """Delete every document of this store's tenant."""
        self.memory.clear()

    async def aclear(self) -> None:
        """Async twin of :meth:`clear`."""
        await self.memory.aclear()

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents with these ids (missing ones skipped, order not guaranteed)."""
        return [_doc(r) for r in self.memory.get(list(ids))]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async twin of :meth:`get_by_ids`."""
        return [_doc(r) for r in await self.memory.aget(list(ids))]

    # -- search ----------------------------------------------------------------------------------

    def _kw(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "mode": kwargs.get("search_mode", self.search_mode),
            "filter": from_langchain(kwargs.get("filter")),
            "alpha": kwargs.get("alpha", self.alpha),
        }

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` best documents with their relevance in [0, 1], best first."""
        return _pairs(self.memory.search(query, k=k, **self._kw(kwargs)))

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async twin of :meth:`similarity_search_with_score`."""
        return _pairs(await self.memory.asearch(query, k=k, **self._kw(kwargs)))

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` best documents, best first (no score cutoff)."""
        return [d for d, _ in self.similarity_search_with_score(query, k, **kwargs)]

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Async twin of :meth:`similarity_search`."""
        return [d for d, _ in await self.asimilarity_search_with_score(query, k, **kwargs)]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` documents nearest to ``embedding``."""
        kw = {**self._kw(kwargs), "mode": "vector"}
        return [d for d, _ in _pairs(self.memory.search(vector=embedding, k=k, **kw))]

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        """Async twin of :meth:`similarity_search_by_vector`."""
        kw = {**self._kw(kwargs), "mode": "vector"}
        return [d for d, _ in _pairs(await self.memory.asearch(vector=embedding, k=k, **kw))]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        # similarity_search_with_score already returns relevance in [0, 1].
        return _identity

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """``k`` relevant and mutually diverse documents among the ``fetch_k`` nearest."""
        hits = self.memory.mmr_search(
            query, k=k, fetch_k=fetch_k, lambda_mult=lambda_mult,
            filter=from_langchain(kwargs.get("filter")),
        )  # fmt: skip
        return [d for d, _ in _pairs(hits)]

    async def amax_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """Async twin of :meth:`max_marginal_relevance_search`."""
        hits = await self.memory.ammr_search(
            query, k=k, fetch_k=fetch_k, lambda_mult=lambda_mult,
            filter=from_langchain(kwargs.get("filter")),
        )  # fmt: skip
        return [d for d, _ in _pairs(hits)]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR around a given vector."""
        hits = self.memory.mmr_search(
            vector=embedding, k=k, fetch_k=fetch_k, lambda_mult=lambda_mult,
            filter=from_langchain(kwargs.get("filter")),
        )  # fmt: skip
        return [d for d, _ in _pairs(hits)]

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """Async twin of :meth:`max_marginal_relevance_search_by_vector`."""
        hits = await self.memory.ammr_search(
            vector=embedding, k=k, fetch_k=fetch_k, lambda_mult=lambda_mult,
            filter=from_langchain(kwargs.get("filter")),
        )  # fmt: skip
        return [d for d, _ in _pairs(hits)]

    def close(self) -> None:
        """Close the clients if this store created its own AgentMem (a given one stays open)."""
        self.memory.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await self.memory.aclose()

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> Self:
        """Build a store (``memory``, ``tenant``, ``collection``... as keywords) and add ``texts``.

        Example:
            >>> AgentMemVectorStore.from_texts(["hi"], embeddings, memory=mem, tenant="user-42")
        """
        store = cls(kwargs.pop("memory", None), embedding=embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> Self:
        """Async twin of :meth:`from_texts`."""
        store = cls(kwargs.pop("memory", None), embedding=embedding, **kwargs)
        await store.aadd_texts(texts, metadatas, ids=ids)
        return store


def _identity(score: float) -> float:
    return score


def _doc(record: MemoryRecord) -> Document:
    return Document(page_content=record.text, metadata=dict(record.metadata), id=record.id)


def _pairs(hits: list[MemoryHit]) -> list[tuple[Document, float]]:
    return [(_doc(h.record), h.relevance) for h in hits]
