"""``AgentMemStore``: LangGraph's ``BaseStore`` (long-term memory for graphs and agents) on
agentmem's Weaviate long-term memory.

Each item is one memory: its id is the JSON of ``[*namespace, key]`` (so any labels work), its
value is the memory's metadata (so ``filter`` works on top-level value keys, with
``$eq $ne $gt $gte $lt $lte`` and the rest of :mod:`langchain_agentmem._filters`; a nested
dict in a filter must equal the whole nested value, where InMemoryStore also accepts a partial
match; a NaN or infinite operand raises ``InvalidInputError``), and its namespace is stored with
every prefix for prefix search. Reads inside one batch see the state before the batch's puts, and
a later put of the same item in a batch wins, as in ``InMemoryStore``. ``created_at`` is kept when
an item is updated.

Semantic search (``index={"dims": ..., "embed": ..., "fields": [...]}``) keeps **one vector per
text each field path picks** (a path such as ``"items[*].text"`` may pick several), as
``InMemoryStore`` does, and scores an item by its best one: the vectors live in a companion
collection (``<collection>Paths``, one object per vector, with a copy of the value so filters
apply), searched by ``near_vector`` and pooled per item. Scores are cosine similarity
(``1 - cosine distance``); items stored without a vector fill the remaining places with
``score=None``. Without an index, ``query`` ranks items by BM25 over every string in their value
(score: the BM25 relevance in [0, 1]); items that do not match fill the remaining places with
``score=None``, so a search selects what ``InMemoryStore`` selects.

TTL (minutes) is supported: expired items are never returned; :meth:`AgentMemStore.sweep`
deletes them. Values must be JSON-serializable.

``batch`` and ``abatch`` run one generator of steps (the same pattern as agentmem's plans), so
the sync and async paths cannot diverge.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
)

from agentmem import AgentMem
from agentmem._adapter import check_memory
from agentmem._lifecycle import Lifecycle
from agentmem._store import SHARED
from agentmem.errors import ClosedError, InvalidInputError
from agentmem.longterm import LongTermMemory, MemoryRecord
from langchain_agentmem import _store_items as si
from langchain_agentmem import _store_search as _search
from langchain_agentmem._filters import from_langchain
from langchain_agentmem._store_search import EMBEDDINGS, ITEMS, PATHS, Step

__all__ = ["AgentMemStore"]

DEFAULT_STORE_COLLECTION = "AgentMemStore"
# Memory objects kept for tenants named by namespaces; cheap to rebuild, so the cache is reset
# when it grows past this.
_TENANT_CACHE = 10_000
Steps = Generator[Step, Any, list[Result]]


class AgentMemStore(BaseStore, Lifecycle):
    """LangGraph store on agentmem (Weaviate), with native sync and async batches.

    Args:
        memory: the :class:`agentmem.AgentMem` to use (None: one from ``AGENTMEM_*`` variables,
            owned and closed by :meth:`close`). The only positional argument.
        tenant: the Weaviate tenant every call is bound to (a user's or org's id, or
            ``agentmem.SHARED`` for one store every user shares on purpose).
        tenant_from: instead of ``tenant``, take each call's tenant from this element of its
            namespace (e.g. ``1`` for LangGraph's usual ``("memories", user_id)``), so one store
            serves every user of a compiled graph while Weaviate keeps users apart and
            ``agentmem.forget_user(user_id)`` removes theirs. Every namespace, search prefix and
            ``list_namespaces`` prefix must then reach that element. Give exactly one of
            ``tenant`` and ``tenant_from``.
        collection: the Weaviate collection (default ``AgentMemStore``; path vectors go to
            ``<collection>Paths``).
        index: LangGraph ``IndexConfig`` for semantic search (None: BM25 on ``query``).
        ttl: LangGraph ``TTLConfig`` (``default_ttl`` in minutes, ``refresh_on_read``).

    Raises:
        InvalidInputError: the first argument is not an AgentMem; neither or both of ``tenant``
            and ``tenant_from``; ``tenant_from`` is not an int >= 0; or, later, a namespace
            that does not name a tenant.
    """

    supports_ttl: bool = True

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        tenant: str | None = None,
        tenant_from: int | None = None,
        collection: str = DEFAULT_STORE_COLLECTION,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> None:
        memory = check_memory(
            memory, "AgentMemStore", "pass tenant=... (or tenant_from=...) and index=... by name"
        )
        if tenant_from is not None:
            if isinstance(tenant_from, bool) or not isinstance(tenant_from, int) or tenant_from < 0:
                raise InvalidInputError(
                    f"tenant_from must be None or an int >= 0, got {tenant_from!r}"
                )
            if tenant is not None:
                raise InvalidInputError(
                    "AgentMemStore takes tenant= or tenant_from=, not both: tenant_from already "
                    "names each call's tenant"
                )
        elif not isinstance(tenant, str) or not tenant:
            raise InvalidInputError(
                "AgentMemStore needs tenant=... (the user's or org's id, or agentmem.SHARED to "
                "share one store between every user on purpose) or tenant_from=i (the tenant is "
                f"element i of each namespace, e.g. 1 for ('memories', user_id)); got {tenant!r}"
            )
        # With tenant_from, ``memory`` only names the AgentMem and collection; no item is read
        # or written through its tenant.
        self.memory = LongTermMemory(memory, tenant=tenant or SHARED, collection=collection)
        self._paths = LongTermMemory(
            self.memory.memory, tenant=tenant or SHARED, collection=si.paths_collection(collection)
        )
        self.tenant_from = tenant_from
        self._tenants: dict[tuple[str, str], LongTermMemory] = {}
        self._closed = False
        self.index_config = index
        self.embeddings = ensure_embeddings(index.get("embed")) if index else None
        fields = (index or {}).get("fields") or ["$"]
        self._fields: list[str | list[str]] = [p if p == "$" else tokenize_path(p) for p in fields]
        self.ttl_config = ttl

    # -- drivers ---------------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``ops``; results line up with them."""
        steps = self._steps(list(ops))
        try:
            step = next(steps)
            while True:
                target, method, args, kwargs = step
                step = steps.send(getattr(self._target(target), method)(*args, **kwargs))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async twin of :meth:`batch` (Weaviate's async client; no threads)."""
        steps = self._steps(list(ops))
        try:
            step = next(steps)
            while True:
                target, method, args, kwargs = step
                owner = self._target(target)
                step = steps.send(await getattr(owner, "a" + method)(*args, **kwargs))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _target(self, target: object) -> Any:
        if target is EMBEDDINGS:
            return self.embeddings
        tenant: str | None
        which: str
        tenant, which = target  # type: ignore[misc]
        if tenant is None:
            return self.memory if which == ITEMS else self._paths
        found = self._tenants.get((tenant, which))
        if found is None:
            if len(self._tenants) >= _TENANT_CACHE:
                self._tenants.clear()
            base = self.memory if which == ITEMS else self._paths
            found = LongTermMemory(self.memory.memory, tenant=tenant, collection=base.collection)
            self._tenants[(tenant, which)] = found
        return found

    def _tenant(self, namespace: tuple[str, ...]) -> str | None:
        """The tenant a namespace (or namespace prefix) names; None without ``tenant_from``."""
        if self.tenant_from is None:
            return None
        if len(namespace) <= self.tenant_from:
            raise InvalidInputError(
                f"this store takes the tenant from element {self.tenant_from} of the namespace, "
                f"and {namespace!r} has none; use namespaces like ('memories', user_id) and "
                "search or list within one user's prefix"
            )
        return namespace[self.tenant_from]

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store, and the AgentMem if the store created it (a given one stays open)."""
        self._closed = True
        self.memory.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        self._closed = True
        await self.memory.aclose()

    def drop_collections(self) -> None:
        """Delete the store's collections (items and path vectors), **every tenant's items**."""
        self.memory.drop_collection()
        self._paths.drop_collection()

    async def adrop_collections(self) -> None:
        """Async twin of :meth:`drop_collections`."""
        await self.memory.adrop_collection()
        await self._paths.adrop_collection()

    def sweep(self, tenant: str | None = None) -> int:
        """Delete expired items now (and their path vectors); returns how many items.

        With ``tenant_from``, name the tenant to sweep (items of other tenants are untouched).
        """
        count = int(self._target((tenant, ITEMS)).sweep())
        self._target((tenant, PATHS)).sweep()  # creates nothing where there is nothing
        return count

    async def asweep(self, tenant: str | None = None) -> int:
        """Async twin of :meth:`sweep`."""
        count = int(await self._target((tenant, ITEMS)).asweep())
        await self._target((tenant, PATHS)).asweep()
        return count

    # -- the one implementation ------------------------------------------------------------------

    def _steps(self, ops: list[Op]) -> Steps:
        if self._closed:
            raise ClosedError("this AgentMemStore was closed; create a new one")
        # Every op's tenant and filter first: a bad one fails the batch before any call.
        tenants = [self._tenant(_namespace_of(op)) for op in ops]
        filters = [
            from_langchain(op.filter) if isinstance(op, SearchOp) and op.filter else None
            for op in ops
        ]
        results: list[Result] = []
        puts: dict[tuple[tuple[str, ...], str], tuple[str | None, PutOp]] = {}
        refresh: dict[str | None, dict[str, tuple[float, int]]] = {}
        for op, tenant, where in zip(ops, tenants, filters, strict=True):
            if isinstance(op, GetOp):
                records = yield ((tenant, ITEMS), "get", ([si.item_id(op.namespace, op.key)],), {})
                live = [r for r in records if si.alive(r)]
                results.append(si.item_of(live[0]) if live else None)
                if live and op.refresh_ttl:
                    _refresh(live, refresh.setdefault(tenant, {}))
            elif isinstance(op, SearchOp):
                indexed = self.embeddings is not None
                found, records = yield from _search.search(op, tenant, where, indexed)
                results.append(found)
                if op.refresh_ttl:
                    _refresh(records, refresh.setdefault(tenant, {}))
            elif isinstance(op, ListNamespacesOp):
                prefix = si.literal_prefix(op.match_conditions)
                names = yield ((tenant, ITEMS), "namespaces", (prefix,), {})
                results.append(si.list_namespaces(names, op))
            elif isinstance(op, PutOp):
                puts[(op.namespace, op.key)] = (tenant, op)
                results.append(None)
            # _namespace_of already refused any other kind of op.
        by_tenant: dict[str | None, list[PutOp]] = {}
        for tenant, op in puts.values():
            by_tenant.setdefault(tenant, []).append(op)
        for tenant, group in by_tenant.items():
            yield from self._apply_puts(tenant, group)
        for tenant, updates in refresh.items():
            if updates:
                items = sorted((i, when) for i, (when, _) in updates.items())
                yield ((tenant, ITEMS), "set_expiry", (items,), {})
                paths = [(si.path_id(i, j), w) for i, (w, n) in updates.items() for j in range(n)]
                if paths:
                    yield ((tenant, PATHS), "set_expiry", (sorted(paths),), {})
        return results

    def _apply_puts(self, tenant: str | None, puts: list[PutOp]) -> Generator[Step, Any, None]:
        ids = [si.item_id(p.namespace, p.key) for p in puts]
        existing = yield ((tenant, ITEMS), "get", (ids,), {})
        created = {r.id: r.extra.get("created_at") for r in existing}
        before = {str(r.id): si.vector_count(r) for r in existing}
        writes = [(p, i) for p, i in zip(puts, ids, strict=True) if p.value is not None]
        gone = [i for p, i in zip(puts, ids, strict=True) if p.value is None]
        texts = [self._index_texts(p) for p, _ in writes]
        flat = [t for group in texts for t in group]
        vectors: list[list[float]] = []
        if flat:
            vectors = yield (EMBEDDINGS, "embed_documents", (flat,), {})
        now = datetime.now(timezone.utc).isoformat()
        records = [
            si.item_record(op, memory_id, created.get(memory_id) or now, now, len(group))
            for (op, memory_id), group in zip(writes, texts, strict=True)
        ]
        paths: list[MemoryRecord] = []
        for record, group in zip(records, texts, strict=True):
            for index, text in enumerate(group):
                paths.append(si.path_record(record, index, text, vectors[len(paths)]))
        after = {str(r.id): len(group) for r, group in zip(records, texts, strict=True)}
        stale = [
            si.path_id(memory_id, j)
            for memory_id, count in before.items()
            for j in range(after.get(memory_id, 0), count)
        ]
        # Path vectors before items, and the vectors an item no longer has before the item: a
        # put that fails midway leaves no vector of a deleted item and no old copy of a value to
        # be found by a search (a search may show the new value before get does, until retried).
        if paths:
            yield ((tenant, PATHS), "add", (paths,), {})
        if stale:
            yield ((tenant, PATHS), "delete", (stale,), {})
        if gone:
            yield ((tenant, ITEMS), "delete", (gone,), {})
        if records:
            yield ((tenant, ITEMS), "add", (records,), {})

    def _index_texts(self, op: PutOp) -> list[str]:
        """The texts of ``op``'s value to embed, one vector each (none without an index)."""
        if self.embeddings is None or op.index is False or op.value is None:
            return []
        paths = self._fields if op.index is None else [tokenize_path(p) for p in op.index]
        return [t for path in paths for t in get_text_at_path(op.value, path)]


def _refresh(records: Sequence[MemoryRecord], into: dict[str, tuple[float, int]]) -> None:
    # The op's refresh_ttl already folds in TTLConfig.refresh_on_read (BaseStore does it).
    for record in records:
        minutes = record.extra.get("ttl")
        if minutes is not None and record.id is not None:
            into[record.id] = (time.time() + float(minutes) * 60, si.vector_count(record))


def _namespace_of(op: Op) -> tuple[str, ...]:
    """The namespace an op works in (its prefix, for searches and listings)."""
    if isinstance(op, (GetOp, PutOp)):
        return op.namespace
    if isinstance(op, SearchOp):
        return op.namespace_prefix
    if isinstance(op, ListNamespacesOp):
        return si.literal_prefix(op.match_conditions)
    raise InvalidInputError(f"unknown store operation: {type(op).__name__}")
