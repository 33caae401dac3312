"""``AgentMemStore``: LangGraph's ``BaseStore`` (long-term memory for graphs and agents) on
agentmem's Weaviate long-term memory.

Each item is one memory: its id is the JSON of ``[*namespace, key]`` (so any labels work), its
value is the memory's metadata (so ``filter`` works on top-level value keys, with
``$eq $ne $gt $gte $lt $lte`` and the rest of :mod:`langchain_agentmem._filters`; a nested
dict in a filter must equal the whole nested value, where InMemoryStore also accepts a partial
match), and its
namespace is stored with every prefix for prefix search. Reads inside one batch see the state
before the batch's puts, and a later put of the same item in a batch wins, as in
``InMemoryStore``. ``created_at`` is kept when an item is updated.

Semantic search (``index={"dims": ..., "embed": ..., "fields": [...]}``) embeds the text of
the indexed fields **joined into one vector per item** (InMemoryStore keeps one per field and
max-pools; agentmem trades that for one Weaviate vector per object). Scores are cosine
similarity (``1 - cosine distance``); items stored without a vector fill the remaining places
with ``score=None``. Without an index, ``query`` is ignored, as in ``InMemoryStore``.

TTL (minutes) is supported: expired items are never returned; :meth:`AgentMemStore.sweep`
deletes them. Values must be JSON-serializable.

``batch`` and ``abatch`` run one generator of steps (the same pattern as agentmem's plans), so
the sync and async paths cannot diverge.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
)

from agentmem import AgentMem
from agentmem.errors import InvalidInputError
from agentmem.longterm import LongTermMemory, MemoryRecord
from langchain_agentmem._filters import from_langchain

__all__ = ["AgentMemStore"]

DEFAULT_STORE_COLLECTION = "AgentMemStore"
# A step asks the driver to call ``<target>.<method>(*args, **kwargs)`` (or its async twin). The
# target is ``"embeddings"`` or the tenant whose memory to use (``None``: the store's own tenant).
Step = tuple[object, str, tuple[Any, ...], dict[str, Any]]
_EMBEDDINGS = object()
# Memory objects kept for tenants named by namespaces; cheap to rebuild, so the cache is reset
# when it grows past this.
_TENANT_CACHE = 10_000
Steps = Generator[Step, Any, list[Result]]


class AgentMemStore(BaseStore):
    """LangGraph store on agentmem (Weaviate), with native sync and async batches.

    Args:
        memory: the :class:`agentmem.AgentMem` to use (None: one from ``AGENTMEM_*`` variables).
        tenant: the tenant every call is bound to (created on first use).
        collection: the Weaviate collection (default ``AgentMemStore``).
        index: LangGraph ``IndexConfig`` for semantic search (None: no vectors).
        ttl: LangGraph ``TTLConfig`` (``default_ttl`` in minutes, ``refresh_on_read``).
        tenant_from: take each call's tenant from this element of its namespace instead of
            ``tenant`` (e.g. ``1`` for LangGraph's usual ``("memories", user_id)``), so one
            store serves every user of a compiled graph while Weaviate keeps users apart and
            ``agentmem.forget_user(user_id)`` removes theirs. Every namespace, search prefix and
            ``list_namespaces`` prefix must then reach that element.

    Raises:
        InvalidInputError: ``tenant_from`` is not an int >= 0; or, later, a namespace that does
            not name a tenant.
    """

    supports_ttl: bool = True

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        tenant: str = "default",
        collection: str = DEFAULT_STORE_COLLECTION,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        tenant_from: int | None = None,
    ) -> None:
        if tenant_from is not None and (
            isinstance(tenant_from, bool) or not isinstance(tenant_from, int) or tenant_from < 0
        ):
            raise InvalidInputError(f"tenant_from must be None or an int >= 0, got {tenant_from!r}")
        self.memory = LongTermMemory(memory, tenant=tenant, collection=collection)
        self.tenant_from = tenant_from
        self._tenants: dict[str, LongTermMemory] = {}
        self.index_config = index
        self.embeddings = ensure_embeddings(index.get("embed")) if index else None
        fields = (index or {}).get("fields") or ["$"]
        self._fields = [(p, p if p == "$" else tokenize_path(p)) for p in fields]
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
        if target is _EMBEDDINGS:
            return self.embeddings
        if not isinstance(target, str):
            return self.memory
        found = self._tenants.get(target)
        if found is None:
            if len(self._tenants) >= _TENANT_CACHE:
                self._tenants.clear()
            found = LongTermMemory(
                self.memory.memory, tenant=target, collection=self.memory.collection
            )
            self._tenants[target] = found
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

    def close(self) -> None:
        """Close the clients if this store created its own AgentMem (a given one stays open)."""
        self.memory.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await self.memory.aclose()

    def sweep(self, tenant: str | None = None) -> int:
        """Delete expired items now; returns how many.

        With ``tenant_from``, name the tenant to sweep (items of other tenants are untouched).
        """
        return int(self._target(tenant).sweep())

    async def asweep(self, tenant: str | None = None) -> int:
        """Async twin of :meth:`sweep`."""
        return int(await self._target(tenant).asweep())

    # -- the one implementation ------------------------------------------------------------------

    def _steps(self, ops: list[Op]) -> Steps:
        # Every op's tenant first: a namespace that names none fails the batch before any call.
        tenants = [self._tenant(_namespace_of(op)) for op in ops]
        results: list[Result] = []
        puts: dict[tuple[tuple[str, ...], str], tuple[str | None, PutOp]] = {}
        refresh: dict[str | None, dict[str, float]] = {}
        for op, tenant in zip(ops, tenants, strict=True):
            if isinstance(op, GetOp):
                records = yield (tenant, "get", ([_item_id(op.namespace, op.key)],), {})
                live = [r for r in records if _alive(r)]
                results.append(_item(live[0]) if live else None)
                if live and op.refresh_ttl:
                    self._refresh(live, refresh.setdefault(tenant, {}))
            elif isinstance(op, SearchOp):
                found, records = yield from self._search(op, tenant)
                results.append(found)
                if op.refresh_ttl:
                    self._refresh(records, refresh.setdefault(tenant, {}))
            elif isinstance(op, ListNamespacesOp):
                prefix = _literal_prefix(op.match_conditions)
                names = yield (tenant, "namespaces", (prefix,), {})
                results.append(_list_namespaces(names, op))
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
                yield (tenant, "set_expiry", (sorted(updates.items()),), {})
        return results

    def _refresh(self, records: Sequence[MemoryRecord], into: dict[str, float]) -> None:
        # The op's refresh_ttl already folds in TTLConfig.refresh_on_read (BaseStore does it).
        for record in records:
            minutes = record.extra.get("ttl")
            if minutes is not None and record.id is not None:
                into[record.id] = time.time() + float(minutes) * 60

    def _search(
        self, op: SearchOp, tenant: str | None
    ) -> Generator[Step, Any, tuple[list[SearchItem], list[MemoryRecord]]]:
        scope: dict[str, Any] = {
            "namespace": op.namespace_prefix,
            "filter": from_langchain(op.filter) if op.filter else None,
        }
        if op.query is None or self.embeddings is None:
            page = {**scope, "limit": op.limit, "offset": op.offset}
            records = yield (tenant, "find", (), page)
            live = [r for r in records if _alive(r)]
            return [_search_item(r, None) for r in live], live
        vector = yield (_EMBEDDINGS, "embed_query", (op.query,), {})
        kw = {**scope, "vector": vector, "mode": "vector", "k": op.limit, "offset": op.offset}
        hits = yield (tenant, "search", (), kw)
        live = [h for h in hits if _alive(h.record)]
        out = [_search_item(h.record, 1.0 - h.score) for h in live]
        used = [h.record for h in live]
        if len(out) < op.limit:
            # Items stored without a vector fill the remaining places, unscored.
            more = yield (tenant, "find", (), {**scope, "limit": op.offset + op.limit + len(out)})
            seen = {(i.namespace, i.key) for i in out}
            for record in more:
                item = _search_item(record, None)
                if (
                    record.vector is None
                    and (item.namespace, item.key) not in seen
                    and _alive(record)
                ):
                    out.append(item)
                    used.append(record)
                    if len(out) >= op.limit:
                        break
        return out, used

    def _apply_puts(self, tenant: str | None, puts: list[PutOp]) -> Generator[Step, Any, None]:
        gone = [_item_id(p.namespace, p.key) for p in puts if p.value is None]
        if gone:
            yield (tenant, "delete", (gone,), {})
        writes = [p for p in puts if p.value is not None]
        if not writes:
            return
        ids = [_item_id(p.namespace, p.key) for p in writes]
        existing = yield (tenant, "get", (ids,), {})
        created = {r.id: r.extra.get("created_at") for r in existing}
        texts = [self._index_text(p) for p in writes]
        todo = [i for i, text in enumerate(texts) if text is not None]
        vectors: list[list[float] | None] = [None] * len(writes)
        if todo:
            embedded = yield (_EMBEDDINGS, "embed_documents", ([texts[i] for i in todo],), {})
            for i, vector in zip(todo, embedded, strict=True):
                vectors[i] = vector
        now = datetime.now(timezone.utc).isoformat()
        records = [
            _record(p, item_id, created.get(item_id) or now, now, text, vector)
            for p, item_id, text, vector in zip(writes, ids, texts, vectors, strict=True)
        ]
        yield (tenant, "add", (records,), {})

    def _index_text(self, op: PutOp) -> str | None:
        if self.embeddings is None or op.index is False or op.value is None:
            return None
        paths = self._fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
        texts = [t for _, path in paths for t in get_text_at_path(op.value, path)]
        return "\n".join(texts) if texts else None


def _namespace_of(op: Op) -> tuple[str, ...]:
    """The namespace an op works in (its prefix, for searches and listings)."""
    if isinstance(op, (GetOp, PutOp)):
        return op.namespace
    if isinstance(op, SearchOp):
        return op.namespace_prefix
    if isinstance(op, ListNamespacesOp):
        return _literal_prefix(op.match_conditions)
    raise InvalidInputError(f"unknown store operation: {type(op).__name__}")


def _item_id(namespace: tuple[str, ...], key: str) -> str:
    return json.dumps([*namespace, key], ensure_ascii=False, separators=(",", ":"))


def _alive(record: MemoryRecord) -> bool:
    return record.expires_at is None or record.expires_at > time.time()


def _record(
    op: PutOp, item_id: str, created: str, now: str, text: str | None, vector: list[float] | None
) -> MemoryRecord:
    ttl = op.ttl if isinstance(op.ttl, (int, float)) else None
    return MemoryRecord(
        text=text or "",
        metadata=dict(op.value or {}),
        id=item_id,
        vector=vector,
        extra={"key": op.key, "created_at": created, "updated_at": now, "ttl": ttl},
        namespace=op.namespace,
        expires_at=time.time() + ttl * 60 if ttl is not None else None,
    )


def _item(record: MemoryRecord) -> Item:
    return Item(
        value=dict(record.metadata),
        key=str(record.extra["key"]),
        namespace=tuple(record.namespace or ()),
        created_at=datetime.fromisoformat(str(record.extra["created_at"])),
        updated_at=datetime.fromisoformat(str(record.extra["updated_at"])),
    )


def _search_item(record: MemoryRecord, score: float | None) -> SearchItem:
    item = _item(record)
    return SearchItem(
        item.namespace, item.key, item.value, item.created_at, item.updated_at, score=score
    )


def _literal_prefix(conditions: tuple[MatchCondition, ...] | None) -> tuple[str, ...]:
    """The wildcard-free start of a prefix condition, to narrow the server-side listing."""
    for condition in conditions or ():
        if condition.match_type == "prefix":
            out: list[str] = []
            for label in condition.path:
                if label == "*":
                    break
                out.append(label)
            return tuple(out)
    return ()


def _matches(namespace: tuple[str, ...], condition: MatchCondition) -> bool:
    path = tuple(condition.path)
    if len(path) > len(namespace):
        return False
    part = namespace[: len(path)] if condition.match_type == "prefix" else namespace[-len(path) :]
    return all(p == "*" or p == n for p, n in zip(path, part, strict=True)) if path else True


def _list_namespaces(names: list[tuple[str, ...]], op: ListNamespacesOp) -> list[tuple[str, ...]]:
    kept = [n for n in names if all(_matches(n, c) for c in op.match_conditions or ())]
    if op.max_depth is not None:
        kept = [n[: op.max_depth] for n in kept]
    ordered = sorted(set(kept))
    return ordered[op.offset : op.offset + op.limit]
