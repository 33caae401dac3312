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

import threading
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal, TypeVar
from weakref import WeakKeyDictionary

from agentmem._mmr import mmr
from agentmem._plan import Plan, run_async, run_sync
from agentmem._weaviate import codec, plans
from agentmem._weaviate.args import as_ids, make_scope, resolve_mode
from agentmem._weaviate.lifecycle import Known
from agentmem._weaviate.records import MemoryHit, MemoryRecord, Recency, Scope
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
    "Scope",
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
        bm25_window: BM25 and hybrid queries rank this many candidates (ids and scores only)
            before fetching the top ``k``. Weaviate 1.35's BlockMax-WAND can otherwise drop
            rare-term matches among recent writes from limited queries (weaviate#11780); 0
            turns the workaround off.
    """

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        tenant: str = "default",
        collection: str = DEFAULT_COLLECTION,
        embedder: Embedder | None = None,
        bm25_window: int = 1000,
    ) -> None:
        self._owns = memory is None
        self.memory = memory if memory is not None else AgentMem()
        self.tenant = tenant
        self.collection = collection
        self.embedder = embedder
        wv = self.memory.settings.weaviate
        self._target = plans.Target(
            collection, tenant_name(tenant), _known(self.memory, collection), bm25_window,
            replication_factor=wv.replication_factor, consistency=wv.consistency,
        )  # fmt: skip

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

    def drop_tenant(self) -> None:
        """Remove this tenant with all its memories and their history (e.g. to forget a user).

        :meth:`delete` and :meth:`clear` leave small tombstones (see
        :func:`agentmem._weaviate.plans.delete`); this frees everything. The tenant is created
        again on next use.
        """
        self._run(plans.drop_tenant(self._target))

    async def adrop_tenant(self) -> None:
        """Async twin of :meth:`drop_tenant`."""
        await self._arun(plans.drop_tenant(self._target))

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
        prepared = codec.prepare(full, vectors)
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
        prepared = codec.prepare(full, vectors)
        if prepared:
            await self._arun(plans.add(self._target, prepared))
        return [str(r.id) for r in full]

    def delete(
        self,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | None = None,
        ref_doc_ids: Sequence[str] | None = None,
        namespace: Sequence[str] | None = None,
    ) -> int:
        """Delete the memories matching all the given conditions (see :class:`Scope`).

        Missing ids are fine. With no condition at all nothing is deleted; use :meth:`clear`.

        Returns:
            How many memories were deleted.
        """
        scope = make_scope(filter, ids, ref_doc_ids, namespace)
        return 0 if scope == Scope() else self._run(plans.delete(self._target, scope))

    async def adelete(
        self,
        ids: Sequence[str] | None = None,
        *,
        filter: Filter | None = None,
        ref_doc_ids: Sequence[str] | None = None,
        namespace: Sequence[str] | None = None,
    ) -> int:
        """Async twin of :meth:`delete`."""
        scope = make_scope(filter, ids, ref_doc_ids, namespace)
        return 0 if scope == Scope() else await self._arun(plans.delete(self._target, scope))

    def clear(self) -> int:
        """Delete every memory of this tenant (other tenants are untouched)."""
        return self._run(plans.delete(self._target, Scope()))

    async def aclear(self) -> int:
        """Async twin of :meth:`clear`."""
        return await self._arun(plans.delete(self._target, Scope()))

    def set_expiry(self, updates: Sequence[tuple[str, float]]) -> None:
        """Set the expiry (epoch seconds) of namespaced memories, given as ``(id, when)`` pairs."""
        self._run(plans.set_expiry(self._target, updates))

    async def aset_expiry(self, updates: Sequence[tuple[str, float]]) -> None:
        """Async twin of :meth:`set_expiry`."""
        await self._arun(plans.set_expiry(self._target, updates))

    def sweep(self) -> int:
        """Delete namespaced memories whose expiry has passed; returns how many."""
        return self._run(plans.sweep(self._target))

    async def asweep(self) -> int:
        """Async twin of :meth:`sweep`."""
        return await self._arun(plans.sweep(self._target))

    # -- reads -----------------------------------------------------------------------------------

    def get(self, ids: Sequence[str], *, include_vector: bool = False) -> list[MemoryRecord]:
        """The memories among ``ids`` that exist (order not guaranteed)."""
        return self._run(plans.get(self._target, as_ids(ids) or [], include_vector))

    async def aget(self, ids: Sequence[str], *, include_vector: bool = False) -> list[MemoryRecord]:
        """Async twin of :meth:`get`."""
        return await self._arun(plans.get(self._target, as_ids(ids) or [], include_vector))

    def find(
        self,
        *,
        filter: Filter | None = None,
        limit: int = 100,
        offset: int = 0,
        include_vector: bool = False,
        ids: Sequence[str] | None = None,
        ref_doc_ids: Sequence[str] | None = None,
        namespace: Sequence[str] | None = None,
    ) -> list[MemoryRecord]:
        """Up to ``limit`` memories matching all the given conditions, in no particular order."""
        scope = make_scope(filter, ids, ref_doc_ids, namespace)
        return self._run(plans.list_records(self._target, scope, limit, offset, include_vector))

    async def afind(
        self,
        *,
        filter: Filter | None = None,
        limit: int = 100,
        offset: int = 0,
        include_vector: bool = False,
        ids: Sequence[str] | None = None,
        ref_doc_ids: Sequence[str] | None = None,
        namespace: Sequence[str] | None = None,
    ) -> list[MemoryRecord]:
        """Async twin of :meth:`find`."""
        scope = make_scope(filter, ids, ref_doc_ids, namespace)
        plan = plans.list_records(self._target, scope, limit, offset, include_vector)
        return await self._arun(plan)

    def namespaces(self, prefix: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """Every distinct namespace starting with ``prefix`` that holds a live memory."""
        return self._run(plans.namespaces(self._target, Scope(namespace=tuple(prefix))))

    async def anamespaces(self, prefix: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """Async twin of :meth:`namespaces`."""
        return await self._arun(plans.namespaces(self._target, Scope(namespace=tuple(prefix))))

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
        offset: int = 0,
        ids: Sequence[str] | None = None,
        ref_doc_ids: Sequence[str] | None = None,
        namespace: Sequence[str] | None = None,
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
            offset: skip this many best hits first.
            ids: only among these memory ids.
            ref_doc_ids: only among memories of these source documents.
            namespace: only memories under this namespace prefix (expired ones left out).

        Returns:
            Hits with the raw backend score and a relevance in [0, 1] (see :class:`MemoryHit`).
        """
        resolved, embed = resolve_mode(query, vector, mode, k, can_embed=self.embedder is not None)
        if embed and self.embedder is not None and query is not None:
            vector = self.embedder.embed_query(query)
        return self._run(
            plans.search(
                self._target, make_scope(filter, ids, ref_doc_ids, namespace), text=query,
                vector=vector, mode=resolved, k=k, alpha=alpha, include_vector=include_vector,
                recency=recency, offset=offset,
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
        offset: int = 0,
        ids: Sequence[str] | None = None,
        ref_doc_ids: Sequence[str] | None = None,
        namespace: Sequence[str] | None = None,
    ) -> list[MemoryHit]:
        """Async twin of :meth:`search`."""
        resolved, embed = resolve_mode(query, vector, mode, k, can_embed=self.embedder is not None)
        if embed and self.embedder is not None and query is not None:
            vector = await self.embedder.aembed_query(query)
        return await self._arun(
            plans.search(
                self._target, make_scope(filter, ids, ref_doc_ids, namespace), text=query,
                vector=vector, mode=resolved, k=k, alpha=alpha, include_vector=include_vector,
                recency=recency, offset=offset,
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
        ids: Sequence[str] | None = None,
        ref_doc_ids: Sequence[str] | None = None,
    ) -> list[MemoryHit]:
        """Maximal marginal relevance: ``fetch_k`` nearest by vector, then ``k`` diverse ones.

        ``lambda_mult`` is 1 for pure relevance and 0 for pure diversity; ``filter``, ``ids``
        and ``ref_doc_ids`` narrow the candidates as in :meth:`search`.
        """
        if vector is None:
            if self.embedder is None or query is None:
                raise InvalidInputError("MMR needs a vector: pass vector=... or use an embedder")
            vector = self.embedder.embed_query(query)
        hits = self.search(vector=vector, k=max(k, fetch_k), mode="vector", include_vector=True,
                           filter=filter, ids=ids, ref_doc_ids=ref_doc_ids)  # fmt: skip
        return mmr(vector, hits, k, lambda_mult)

    async def ammr_search(
        self,
        query: str | None = None,
        *,
        vector: Sequence[float] | None = None,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        ids: Sequence[str] | None = None,
        ref_doc_ids: Sequence[str] | None = None,
    ) -> list[MemoryHit]:
        """Async twin of :meth:`mmr_search`."""
        if vector is None:
            if self.embedder is None or query is None:
                raise InvalidInputError("MMR needs a vector: pass vector=... or use an embedder")
            vector = await self.embedder.aembed_query(query)
        hits = await self.asearch(vector=vector, k=max(k, fetch_k), mode="vector",
                                  include_vector=True, filter=filter, ids=ids,
                                  ref_doc_ids=ref_doc_ids)  # fmt: skip
        return mmr(vector, hits, k, lambda_mult)

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the AgentMem if this object created it (a borrowed one stays open)."""
        if self._owns:
            self.memory.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        if self._owns:
            await self.memory.aclose()


# Per AgentMem (so per set of clients, so per server): what is known about each collection.
_KNOWN: WeakKeyDictionary[AgentMem, dict[str, Known]] = WeakKeyDictionary()
_KNOWN_LOCK = threading.Lock()


def _known(memory: AgentMem, collection: str) -> Known:
    with _KNOWN_LOCK:
        return _KNOWN.setdefault(memory, {}).setdefault(collection, Known())
