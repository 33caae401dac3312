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
from typing import Literal
from weakref import WeakKeyDictionary

from agentmem._args import check_count, check_number
from agentmem._mmr import mmr
from agentmem._plan import Plan
from agentmem._store import Store, require_scope
from agentmem._weaviate import codec, plans
from agentmem._weaviate.args import (
    Query,
    as_ids,
    check_collection,
    check_expiry,
    check_page,
    make_scope,
    resolve_query,
)
from agentmem._weaviate.codec import MAX_MEMORY_BYTES
from agentmem._weaviate.lifecycle import Known
from agentmem._weaviate.records import MemoryHit, MemoryRecord, Recency, Scope
from agentmem._weaviate.schema import SCHEMA_VERSION, tenant_name
from agentmem.core import AgentMem
from agentmem.embeddings import Embedder
from agentmem.errors import InvalidInputError
from agentmem.filters import Filter

__all__ = [
    "DEFAULT_COLLECTION",
    "MAX_MEMORY_BYTES",
    "SCHEMA_VERSION",
    "LongTermMemory",
    "MemoryHit",
    "MemoryRecord",
    "Recency",
    "Scope",
    "SearchMode",
]

SearchMode = Literal["auto", "vector", "bm25", "hybrid"]
DEFAULT_COLLECTION = "AgentMemory"


class LongTermMemory(Store):
    """Memories of one tenant in one Weaviate collection.

    Only writes create anything: the collection and the tenant are created by the first
    :meth:`add` (or :meth:`setup`). Reads of a tenant or collection that does not exist yet
    create nothing and find nothing (``[]``, or 0 deleted); :meth:`missing` says which is
    absent. Every argument is checked before the first call to Weaviate, so a mistake raises a
    typed :class:`~agentmem.errors.InvalidInputError` and nothing is written.

    Args:
        memory: the :class:`AgentMem` whose Weaviate clients to use (None: ``AgentMem()`` from
            the environment, owned and closed by :meth:`close`).
        tenant: the tenant every call is bound to: a user or org id (any non-empty string), or
            :data:`agentmem.SHARED` for one memory every user shares on purpose. Required.
        collection: the Weaviate collection name (a capital letter, then letters, digits or
            underscores).
        embedder: computes vectors for memories written without one and for text queries.
            None (the default) means BM25 search only.
        bm25_window: BM25 and hybrid queries rank this many candidates (ids and scores only)
            before fetching the top ``k``. Before 1.38.2, Weaviate's BlockMax-WAND could drop
            rare-term matches among recent writes from limited queries (weaviate#11780). None
            (the default) reads the server's version once and ranks 1000 candidates only on a
            server without the fix; 0 turns the workaround off, a number forces that window.

    Raises:
        InvalidInputError: ``tenant`` is missing or empty, or another argument is malformed.
    """

    _backend = "weaviate"

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        tenant: str,
        collection: str = DEFAULT_COLLECTION,
        embedder: Embedder | None = None,
        bm25_window: int | None = None,
    ) -> None:
        require_scope(tenant, "tenant", "LongTermMemory")
        weaviate_tenant = tenant_name(tenant)
        check_collection(collection)
        if bm25_window is not None:
            check_count(bm25_window, "bm25_window")
        super().__init__(memory)
        self.tenant = tenant
        self.collection = collection
        self.embedder = embedder
        wv = self.memory.settings.weaviate
        self._target = plans.Target(
            collection, weaviate_tenant, _known(self.memory, collection), bm25_window,
            replication_factor=wv.replication_factor, consistency=wv.consistency,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"LongTermMemory(collection={self.collection!r}, tenant={self.tenant!r})"

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

        On a Weaviate before 1.38.5, :meth:`delete` and :meth:`clear` leave small tombstones
        (see :func:`agentmem._weaviate.plans.delete`); this frees everything. Reads after it find
        nothing and create nothing; the next write creates the tenant again.
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

    def _prepare(
        self, records: Sequence[MemoryRecord]
    ) -> tuple[list[str], list[codec.Prepared], list[int]]:
        """Step one of a write, with no I/O: the ids in input order (missing ones generated), the
        whole input checked and encoded, and which of those the embedder must give vectors."""
        if isinstance(records, MemoryRecord) or not isinstance(records, Sequence):
            raise InvalidInputError("add() takes a list of MemoryRecord")
        full = [
            r if not isinstance(r, MemoryRecord) or r.id is not None
            else replace(r, id=str(uuid.uuid4()))
            for r in records
        ]  # fmt: skip
        prepared = codec.prepare(full)
        todo = [i for i, p in enumerate(prepared) if p.vector is None] if self.embedder else []
        return [str(r.id) for r in full], prepared, todo

    def add(self, records: Sequence[MemoryRecord]) -> list[str]:
        """Upsert memories (same id: replaced). Returns their ids in input order.

        The whole input is checked and encoded first (and embedded, with an embedder); only then
        is anything sent, in batches.

        Raises:
            InvalidInputError: a record is malformed, has no exact UTF-8/JSON form, or is larger
                than :data:`MAX_MEMORY_BYTES`; nothing was written.
            PartialWriteError: the server refused some records; ``.succeeded`` / ``.failed``
                say which (the others were stored).
        """
        ids, prepared, todo = self._prepare(records)
        if todo and self.embedder is not None:
            texts = [prepared[i].properties["text"] for i in todo]
            prepared = codec.attach(prepared, todo, self.embedder.embed_documents(texts))
        else:
            prepared = codec.attach(prepared, [], [])
        self._run(plans.add(self._target, codec.batches(prepared)))
        return ids

    async def aadd(self, records: Sequence[MemoryRecord]) -> list[str]:
        """Async twin of :meth:`add`."""
        ids, prepared, todo = self._prepare(records)
        if todo and self.embedder is not None:
            texts = [prepared[i].properties["text"] for i in todo]
            prepared = codec.attach(prepared, todo, await self.embedder.aembed_documents(texts))
        else:
            prepared = codec.attach(prepared, [], [])
        await self._arun(plans.add(self._target, codec.batches(prepared)))
        return ids

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
        A tenant or collection that does not exist has nothing to delete (0; nothing created).

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
        """Set the expiry (epoch seconds) of namespaced memories, given as ``(id, when)`` pairs.

        Raises:
            InvalidInputError: a pair is malformed (checked before any write).
            NotFound: the tenant or collection does not exist.
        """
        self._run(plans.set_expiry(self._target, check_expiry(updates)))

    async def aset_expiry(self, updates: Sequence[tuple[str, float]]) -> None:
        """Async twin of :meth:`set_expiry`."""
        await self._arun(plans.set_expiry(self._target, check_expiry(updates)))

    def sweep(self) -> int:
        """Delete namespaced memories whose expiry has passed; returns how many."""
        return self._run(plans.sweep(self._target))

    async def asweep(self) -> int:
        """Async twin of :meth:`sweep`."""
        return await self._arun(plans.sweep(self._target))

    # -- reads -----------------------------------------------------------------------------------

    def missing(self) -> str | None:
        """Whether there is anything to read, asked without creating anything.

        Returns:
            None when the collection and this tenant exist; else a sentence saying which does
            not ("no such tenant ..."). Reads of a missing one find nothing; the first write
            creates it.
        """
        return self._describe(self._run(plans.locate(self._target)))

    async def amissing(self) -> str | None:
        """Async twin of :meth:`missing`."""
        return self._describe(await self._arun(plans.locate(self._target)))

    def _describe(self, missing: str | None) -> str | None:
        if missing == "collection":
            return f"no such collection {self.collection!r} (nothing was ever stored in it)"
        if missing == "tenant":
            return (
                f"no such tenant {self.tenant!r} in collection {self.collection!r} (nothing "
                "was ever stored for it, or it was forgotten)"
            )
        return None

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
        """Up to ``limit`` (0 or more) memories matching all the given conditions, in no
        particular order, after skipping ``offset``."""
        check_page(limit, offset)
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
        check_page(limit, offset)
        scope = make_scope(filter, ids, ref_doc_ids, namespace)
        plan = plans.list_records(self._target, scope, limit, offset, include_vector)
        return await self._arun(plan)

    def namespaces(self, prefix: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """Every distinct namespace starting with ``prefix`` that holds a live memory."""
        return self._run(plans.namespaces(self._target, make_scope(None, None, None, prefix)))

    async def anamespaces(self, prefix: Sequence[str] = ()) -> list[tuple[str, ...]]:
        """Async twin of :meth:`namespaces`."""
        scope = make_scope(None, None, None, prefix)
        return await self._arun(plans.namespaces(self._target, scope))

    def _search_plan(
        self, q: Query, scope: Scope, k: int, recency: Recency | None, include_vector: bool,
        offset: int,
    ) -> Plan[list[MemoryHit]]:  # fmt: skip
        return plans.search(
            self._target, scope, text=q.text, vector=q.vector, mode=q.mode, k=k, alpha=q.alpha,
            include_vector=include_vector, recency=recency, offset=offset,
        )  # fmt: skip

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

        A tenant with no memories yet (or a collection never written) finds nothing: ``[]``,
        and nothing is created.

        Args:
            query: the query text (BM25 and hybrid; embedded for vector search if no vector).
            vector: a query vector (vector and hybrid), finite numbers of the collection's length.
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

        Raises:
            InvalidInputError: an unknown mode, an empty query text for BM25 or hybrid, a query
                vector with NaN/inf or of the wrong length, ``alpha`` outside 0..1, ...
        """
        q, scope = self._query(query, vector, mode, k, alpha, recency, offset, filter, ids,
                               ref_doc_ids, namespace)  # fmt: skip
        if q.embed and self.embedder is not None and q.text is not None:
            q = replace(q, vector=codec.query_vector(self.embedder.embed_query(q.text)))
        return self._run(self._search_plan(q, scope, k, recency, include_vector, offset))

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
        q, scope = self._query(query, vector, mode, k, alpha, recency, offset, filter, ids,
                               ref_doc_ids, namespace)  # fmt: skip
        if q.embed and self.embedder is not None and q.text is not None:
            q = replace(q, vector=codec.query_vector(await self.embedder.aembed_query(q.text)))
        return await self._arun(self._search_plan(q, scope, k, recency, include_vector, offset))

    def _query(
        self, query: str | None, vector: Sequence[float] | None, mode: str, k: int, alpha: float,
        recency: Recency | None, offset: int, filter: Filter | None, ids: Sequence[str] | None,
        ref_doc_ids: Sequence[str] | None, namespace: Sequence[str] | None,
    ) -> tuple[Query, Scope]:  # fmt: skip
        q = resolve_query(
            query, vector, mode, k, alpha, recency, can_embed=self.embedder is not None
        )
        check_count(offset, "offset")
        return q, make_scope(filter, ids, ref_doc_ids, namespace)

    def _mmr_args(self, k: int, fetch_k: int, lambda_mult: float) -> None:
        check_count(k, "k", minimum=1)
        check_count(fetch_k, "fetch_k", minimum=1)
        check_number(lambda_mult, "lambda_mult", low=0.0, high=1.0)

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
        self._mmr_args(k, fetch_k, lambda_mult)
        if vector is None:
            if self.embedder is None or query is None:
                raise InvalidInputError("MMR needs a vector: pass vector=... or use an embedder")
            resolve_query(query, None, "vector", k, 0.5, None, can_embed=True)
            vector = self.embedder.embed_query(query)
        clean = codec.query_vector(vector)
        hits = self.search(vector=clean, k=max(k, fetch_k), mode="vector", include_vector=True,
                           filter=filter, ids=ids, ref_doc_ids=ref_doc_ids)  # fmt: skip
        return mmr(clean, hits, k, lambda_mult)

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
        self._mmr_args(k, fetch_k, lambda_mult)
        if vector is None:
            if self.embedder is None or query is None:
                raise InvalidInputError("MMR needs a vector: pass vector=... or use an embedder")
            resolve_query(query, None, "vector", k, 0.5, None, can_embed=True)
            vector = await self.embedder.aembed_query(query)
        clean = codec.query_vector(vector)
        hits = await self.asearch(vector=clean, k=max(k, fetch_k), mode="vector",
                                  include_vector=True, filter=filter, ids=ids,
                                  ref_doc_ids=ref_doc_ids)  # fmt: skip
        return mmr(clean, hits, k, lambda_mult)


# Per AgentMem (so per set of clients, so per server): what is known about each collection.
_KNOWN: WeakKeyDictionary[AgentMem, dict[str, Known]] = WeakKeyDictionary()
_KNOWN_LOCK = threading.Lock()


def _known(memory: AgentMem, collection: str) -> Known:
    with _KNOWN_LOCK:
        return _KNOWN.setdefault(memory, {}).setdefault(collection, Known())
