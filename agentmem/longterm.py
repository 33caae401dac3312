"""Long-term memory on Weaviate: one multi-tenant collection, sync and native async methods.

Example:
    >>> from agentmem import AgentMem
    >>> from agentmem.longterm import LongTermMemory, MemoryRecord
    >>> from agentmem.filters import Eq
    >>> memory = LongTermMemory(AgentMem(), tenant="user-42")      # BM25 only: no embedder
    >>> memory.add([MemoryRecord("likes green tea", {"topic": "food"}, id="m1")])
    ['m1']
    >>> [h.record.id for h in memory.search("tea", filter=Eq("topic", "food"))]
    ['m1']

Every method has an ``a``-prefixed async twin (``aadd``, ``asearch``...). Both run the same plan
(:mod:`agentmem._weaviate.plans`), so they cannot drift apart.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal, TypeVar

from agentmem._plan import Plan, run_async, run_sync
from agentmem._weaviate import plans
from agentmem._weaviate.records import MemoryHit, MemoryRecord, Recency
from agentmem._weaviate.schema import SCHEMA_VERSION, tenant_name
from agentmem.core import AgentMem
from agentmem.embeddings import Embedder
from agentmem.errors import InvalidInputError
from agentmem.filters import Filter

__all__ = [
    "DEFAULT_COLLECTION",
    "SCHEMA_VERSION",
    "LongTermMemory",
    "MemoryHit",
    "MemoryRecord",
    "Recency",
    "SearchMode",
]

T = TypeVar("T")
SearchMode = Literal["auto", "vector", "bm25", "hybrid"]
DEFAULT_COLLECTION = "AgentMemory"


class LongTermMemory:
    """Memories of one tenant in one Weaviate collection.

    Args:
        memory: the :class:`AgentMem` whose Weaviate clients to use (None: ``AgentMem()`` from
            the environment, owned and closed by :meth:`close`).
        tenant: the tenant every call is bound to (a user or org id; any non-empty string).
            It is created on first use.
        collection: the Weaviate collection name.
        embedder: computes vectors for memories written without one and for text queries.
            None (the default) means BM25 search only.
    """

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        tenant: str = "default",
        collection: str = DEFAULT_COLLECTION,
        embedder: Embedder | None = None,
    ) -> None:
        self._owns = memory is None
        self.memory = memory if memory is not None else AgentMem()
        self.tenant = tenant
        self.collection = collection
        self.embedder = embedder
        self._target = plans.Target(collection, tenant_name(tenant))

    def __repr__(self) -> str:
        return f"LongTermMemory(collection={self.collection!r}, tenant={self.tenant!r})"

    # -- drivers ---------------------------------------------------------------------------------

    def _run(self, plan: Plan[T]) -> T:
        return run_sync(plan, self.memory.weaviate(), self.memory.settings.retry)

    async def _arun(self, plan: Plan[T]) -> T:
        return await run_async(plan, await self.memory.aweaviate(), self.memory.settings.retry)

    # -- schema ----------------------------------------------------------------------------------

    def setup(self) -> int:
        """Create the collection, or migrate it to the current schema version; create the tenant.

        Returns:
            The schema version now in force.

        Raises:
            SchemaVersionError: the collection was written by a newer agentmem, or is not
                agentmem's.
        """
        return self._run(plans.setup(self._target))

    async def asetup(self) -> int:
        """Async twin of :meth:`setup`."""
        return await self._arun(plans.setup(self._target))

    def drop_collection(self) -> None:
        """Delete the whole collection, **every tenant's memories included**."""
        self._run(plans.drop_collection(self._target))

    async def adrop_collection(self) -> None:
        """Async twin of :meth:`drop_collection`."""
        await self._arun(plans.drop_collection(self._target))

    # -- writes ----------------------------------------------------------------------------------

    def _with_ids(self, records: Sequence[MemoryRecord]) -> list[MemoryRecord]:
        if isinstance(records, MemoryRecord) or not isinstance(records, Sequence):
            raise InvalidInputError("add() takes a list of MemoryRecord")
        return [r if r.id is not None else replace(r, id=str(uuid.uuid4())) for r in records]

    def _to_embed(self, records: Sequence[MemoryRecord]) -> list[int]:
        if self.embedder is None:
            return []
        return [i for i, r in enumerate(records) if r.vector is None]

    def add(self, records: Sequence[MemoryRecord]) -> list[str]:
        """Upsert memories (same id: replaced). Returns their ids in input order.

        Raises:
            InvalidInputError: a record is malformed; nothing was written.
            PartialWriteError: the server refused some records; ``.succeeded`` / ``.failed``
                say which (the others were stored).
        """
        full = self._with_ids(records)
        vectors: list[Sequence[float] | None] = [r.vector for r in full]
        todo = self._to_embed(full)
        if todo and self.embedder is not None:
            for i, v in zip(
                todo, self.embedder.embed_documents([full[i].text for i in todo]), strict=True
            ):
                vectors[i] = v
        prepared = plans.prepare(full, vectors)
        if prepared:
            self._run(plans.add(self._target, prepared))
        return [str(r.id) for r in full]

    async def aadd(self, records: Sequence[MemoryRecord]) -> list[str]:
        """Async twin of :meth:`add`."""
        full = self._with_ids(records)
        vectors: list[Sequence[float] | None] = [r.vector for r in full]
        todo = self._to_embed(full)
        if todo and self.embedder is not None:
            embedded = await self.embedder.aembed_documents([full[i].text for i in todo])
            for i, v in zip(todo, embedded, strict=True):
                vectors[i] = v
        prepared = plans.prepare(full, vectors)
        if prepared:
            await self._arun(plans.add(self._target, prepared))
        return [str(r.id) for r in full]

    def delete(
        self,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | None = None,
        ref_doc_ids: Sequence[str] | None = None,
    ) -> int:
        """Delete memories matching all of: ``ids``, ``filter``, ``ref_doc_ids`` (each optional).

        Missing ids are fine. With no argument at all nothing is deleted; use :meth:`clear` to
        empty the tenant.

        Returns:
            How many memories were deleted.
        """
        if ids is None and filter is None and ref_doc_ids is None:
            return 0
        return self._run(plans.delete(self._target, _ids(ids), filter, _ids(ref_doc_ids)))

    async def adelete(
        self,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | None = None,
        ref_doc_ids: Sequence[str] | None = None,
    ) -> int:
        """Async twin of :meth:`delete`."""
        if ids is None and filter is None and ref_doc_ids is None:
            return 0
        return await self._arun(plans.delete(self._target, _ids(ids), filter, _ids(ref_doc_ids)))

    def clear(self) -> int:
        """Delete every memory of this tenant (other tenants are untouched)."""
        return self._run(plans.delete(self._target, None, None))

    async def aclear(self) -> int:
        """Async twin of :meth:`clear`."""
        return await self._arun(plans.delete(self._target, None, None))

    # -- reads -----------------------------------------------------------------------------------

    def get(self, ids: Sequence[str], *, include_vector: bool = False) -> list[MemoryRecord]:
        """The memories among ``ids`` that exist (order not guaranteed)."""
        return self._run(plans.get(self._target, _ids(ids) or [], include_vector))

    async def aget(self, ids: Sequence[str], *, include_vector: bool = False) -> list[MemoryRecord]:
        """Async twin of :meth:`get`."""
        return await self._arun(plans.get(self._target, _ids(ids) or [], include_vector))

    def find(
        self,
        *,
        filter: Filter | None = None,
        limit: int = 100,
        include_vector: bool = False,
        ids: Sequence[str] | None = None,
        ref_doc_ids: Sequence[str] | None = None,
    ) -> list[MemoryRecord]:
        """Up to ``limit`` memories matching ``filter`` (and ``ids`` / ``ref_doc_ids`` if given)."""
        return self._run(
            plans.list_records(
                self._target, filter, limit, include_vector, _ids(ids), _ids(ref_doc_ids)
            )
        )

    async def afind(
        self,
        *,
        filter: Filter | None = None,
        limit: int = 100,
        include_vector: bool = False,
        ids: Sequence[str] | None = None,
        ref_doc_ids: Sequence[str] | None = None,
    ) -> list[MemoryRecord]:
        """Async twin of :meth:`find`."""
        return await self._arun(
            plans.list_records(
                self._target, filter, limit, include_vector, _ids(ids), _ids(ref_doc_ids)
            )
        )

    def _search_args(
        self, query: str | None, vector: Sequence[float] | None, mode: SearchMode, k: int
    ) -> tuple[str, bool]:
        """Resolve ``mode`` and whether the query must be embedded."""
        if k < 1:
            raise InvalidInputError(f"k must be at least 1, got {k}")
        can_embed = self.embedder is not None and query is not None
        if mode == "auto":
            if query is not None and (vector is not None or can_embed):
                mode = "hybrid"
            elif vector is not None or can_embed:
                mode = "vector"
            else:
                mode = "bm25"
        if mode in ("vector", "hybrid") and vector is None and not can_embed:
            raise InvalidInputError(
                f"{mode} search needs a vector: pass vector=..., or build the memory with an embedder"
            )
        if mode in ("bm25", "hybrid") and query is None:
            raise InvalidInputError(f"{mode} search needs a query text")
        return mode, vector is None and mode in ("vector", "hybrid")

    def search(
        self,
        query: str | None = None,
        *,
        vector: Sequence[float] | None = None,
        k: int = 4,
        mode: SearchMode = "auto",
        filter: Filter | None = None,
        alpha: float = 0.5,
        recency: Recency | None = None,
        include_vector: bool = False,
        ids: Sequence[str] | None = None,
        ref_doc_ids: Sequence[str] | None = None,
    ) -> list[MemoryHit]:
        """Find the ``k`` best memories, best first.

        Args:
            query: the query text (BM25 and hybrid; embedded for vector search if no vector).
            vector: a query vector (vector and hybrid).
            k: how many hits.
            mode: ``"vector"`` (near_vector, cosine), ``"bm25"``, ``"hybrid"``
                (relativeScoreFusion of both, ``alpha`` = vector share), or ``"auto"``: hybrid
                when there is text and a vector or embedder, vector with a vector only, else BM25.
            filter: a :mod:`agentmem.filters` tree.
            alpha: the vector weight of hybrid search, 0..1.
            recency: prefer recent memories (see :class:`Recency`).
            include_vector: return each hit's vector.
            ids: only among these memory ids.
            ref_doc_ids: only among memories of these source documents.

        Returns:
            Hits with the raw backend score and a relevance in [0, 1] (see :class:`MemoryHit`).
        """
        resolved, embed = self._search_args(query, vector, mode, k)
        if embed and self.embedder is not None and query is not None:
            vector = self.embedder.embed_query(query)
        return self._run(
            plans.search(
                self._target, text=query, vector=vector, mode=resolved, k=k, node=filter,
                alpha=alpha, include_vector=include_vector, recency=recency, ids=_ids(ids),
                ref_doc_ids=_ids(ref_doc_ids),
            )
        )  # fmt: skip

    async def asearch(
        self,
        query: str | None = None,
        *,
        vector: Sequence[float] | None = None,
        k: int = 4,
        mode: SearchMode = "auto",
        filter: Filter | None = None,
        alpha: float = 0.5,
        recency: Recency | None = None,
        include_vector: bool = False,
        ids: Sequence[str] | None = None,
        ref_doc_ids: Sequence[str] | None = None,
    ) -> list[MemoryHit]:
        """Async twin of :meth:`search`."""
        resolved, embed = self._search_args(query, vector, mode, k)
        if embed and self.embedder is not None and query is not None:
            vector = await self.embedder.aembed_query(query)
        return await self._arun(
            plans.search(
                self._target, text=query, vector=vector, mode=resolved, k=k, node=filter,
                alpha=alpha, include_vector=include_vector, recency=recency, ids=_ids(ids),
                ref_doc_ids=_ids(ref_doc_ids),
            )
        )  # fmt: skip

    def mmr_search(
        self,
        query: str | None = None,
        *,
        vector: Sequence[float] | None = None,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
    ) -> list[MemoryHit]:
        """Maximal marginal relevance: ``fetch_k`` nearest by vector, then ``k`` diverse ones.

        ``lambda_mult`` is 1 for pure relevance and 0 for pure diversity.
        """
        hits = self.search(
            query if vector is None else None, vector=vector, k=max(k, fetch_k), mode="vector",
            filter=filter, include_vector=True,
        )  # fmt: skip
        query_vector = vector if vector is not None else self._embedded_query(query)
        return mmr(query_vector, hits, k, lambda_mult)

    async def ammr_search(
        self,
        query: str | None = None,
        *,
        vector: Sequence[float] | None = None,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
    ) -> list[MemoryHit]:
        """Async twin of :meth:`mmr_search`."""
        if vector is None:
            if self.embedder is None or query is None:
                raise InvalidInputError("MMR needs a vector: pass vector=... or use an embedder")
            vector = await self.embedder.aembed_query(query)
        hits = await self.asearch(
            vector=vector, k=max(k, fetch_k), mode="vector", filter=filter, include_vector=True
        )
        return mmr(vector, hits, k, lambda_mult)

    def _embedded_query(self, query: str | None) -> Sequence[float]:
        if self.embedder is None or query is None:
            raise InvalidInputError("MMR needs a vector: pass vector=... or use an embedder")
        return self.embedder.embed_query(query)

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the AgentMem if this object created it (a borrowed one stays open)."""
        if self._owns:
            self.memory.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        if self._owns:
            await self.memory.aclose()


def _ids(ids: Sequence[str] | None) -> list[str] | None:
    if ids is None:
        return None
    if isinstance(ids, str):
        raise InvalidInputError("ids must be a list of strings, not one string")
    return list(ids)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def mmr(
    query: Sequence[float], hits: Sequence[MemoryHit], k: int, lambda_mult: float
) -> list[MemoryHit]:
    """Pick ``k`` of ``hits`` (which carry vectors) by maximal marginal relevance."""
    pool: list[tuple[MemoryHit, Sequence[float]]] = [
        (h, h.record.vector) for h in hits if h.record.vector is not None
    ]
    chosen: list[tuple[MemoryHit, Sequence[float]]] = []
    while pool and len(chosen) < k:

        def value(item: tuple[MemoryHit, Sequence[float]]) -> float:
            redundancy = max((_cosine(item[1], c[1]) for c in chosen), default=0.0)
            return lambda_mult * _cosine(query, item[1]) - (1 - lambda_mult) * redundancy

        best = max(pool, key=value)
        pool.remove(best)
        chosen.append(best)
    return [h for h, _ in chosen]
