"""The search steps of :class:`~langchain_agentmem.store.AgentMemStore` (no I/O of its own).

A search runs as steps the store's sync or async driver executes (see
:mod:`langchain_agentmem.store`): without a query, one page of items; with an index, one
``near_vector`` over the path vectors, max-pooled per item (each hit carries its item, so no second
read); without one, BM25 over the items' text. Places the scored hits leave free are filled with
unscored items (without a vector, or not matched by BM25), as ``InMemoryStore`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import replace
from typing import Any

from langgraph.store.base import SearchItem, SearchOp

from agentmem.filters import Filter
from agentmem.longterm import MemoryRecord
from langchain_agentmem import _store_items as si

__all__ = ["EMBEDDINGS", "ITEMS", "MAX_RESULTS", "PATHS", "Step", "search"]

# A step asks the driver to call ``<target>.<method>(*args, **kwargs)`` (or its async twin). The
# target is ``EMBEDDINGS`` or ``(tenant, which)``: the tenant whose memory to use (``None``: the
# store's own) and ``ITEMS`` or ``PATHS`` (the companion collection of path vectors). Reads of a
# tenant or collection that does not exist answer "nothing there" and create nothing.
Step = tuple[object, str, tuple[Any, ...], dict[str, Any]]
EMBEDDINGS = object()
ITEMS, PATHS = "items", "paths"
MAX_RESULTS = 10_000  # Weaviate's QUERY_MAXIMUM_RESULTS: no query may reach past it


def search(
    op: SearchOp, tenant: str | None, where: Filter | None, indexed: bool
) -> Generator[Step, Any, tuple[list[SearchItem], list[MemoryRecord]]]:
    """The steps of one search op; returns the results and the records they came from.

    Args:
        op: the search.
        tenant: the tenant to search (None: the store's own).
        where: the op's filter, translated.
        indexed: the store has an index (vector search on ``query``; else BM25).
    """
    scope: dict[str, Any] = {"namespace": op.namespace_prefix, "filter": where}
    if not op.query:
        page = {**scope, "limit": op.limit, "offset": op.offset}
        records = yield ((tenant, ITEMS), "find", (), page)
        live = [r for r in records if si.alive(r)]
        return [si.search_item(r, None) for r in live], live
    if not indexed:
        return (yield from _bm25(op, tenant, scope))
    vector = yield (EMBEDDINGS, "embed_query", (op.query,), {})
    need = op.offset + op.limit
    # Room for items with several vectors among the best hits; widened when too few.
    k = min(MAX_RESULTS, 2 * need + 10)
    while True:
        kw = {**scope, "vector": vector, "mode": "vector", "k": k}
        hits = yield ((tenant, PATHS), "search", (), kw)
        # Max-pooling: hits come best first, so an item's first hit is its best path. A hit
        # carries the item's value and bookkeeping, so no second read is needed.
        best: dict[str, tuple[float, MemoryRecord]] = {}
        for h in hits:
            item = h.record.ref_doc_id
            if item and item not in best and si.alive(h.record):
                best[item] = (1.0 - h.score, replace(h.record, id=item, vector=None))
        if len(best) >= need or len(hits) < k or k >= MAX_RESULTS:
            break
        k = min(MAX_RESULTS, 4 * k)
    ranked = list(best.values())[op.offset : need]
    used = [record for _, record in ranked]
    out = [si.search_item(record, score) for score, record in ranked]
    if len(out) < op.limit:
        # Items stored without a vector fill the remaining places, unscored.
        extra = yield from _fill(
            tenant, scope, op.limit - len(out), set(best), 0, lambda r: si.vector_count(r) == 0
        )
        out.extend(si.search_item(r, None) for r in extra)
        used.extend(extra)
    return out, used


def _bm25(
    op: SearchOp, tenant: str | None, scope: dict[str, Any]
) -> Generator[Step, Any, tuple[list[SearchItem], list[MemoryRecord]]]:
    need = op.offset + op.limit
    kw = {**scope, "query": op.query, "mode": "bm25", "k": min(need, MAX_RESULTS)}
    hits = yield ((tenant, ITEMS), "search", (), kw)
    matched = [h for h in hits if si.alive(h.record)]
    page = matched[op.offset : need]
    out = [si.search_item(h.record, h.relevance) for h in page]
    used = [h.record for h in page]
    if len(out) < op.limit:
        # Every match is in hand (fewer than offset + limit), so the page continues with the
        # items BM25 did not match, unscored, as InMemoryStore returns every item.
        seen = {str(h.record.id) for h in matched}
        skip = max(0, op.offset - len(matched))
        extra = yield from _fill(tenant, scope, op.limit - len(out), seen, skip, lambda r: True)
        out.extend(si.search_item(r, None) for r in extra)
        used.extend(extra)
    return out, used


def _fill(
    tenant: str | None,
    scope: dict[str, Any],
    wanted: int,
    seen: set[str],
    skip: int,
    keep: Callable[[MemoryRecord], bool],
) -> Generator[Step, Any, list[MemoryRecord]]:
    """Up to ``wanted`` live items in ``scope``, not in ``seen``, that ``keep``, after
    skipping ``skip`` of them; scanned page by page, at most ``MAX_RESULTS`` items."""
    out: list[MemoryRecord] = []
    offset, size = 0, max(100, 2 * (wanted + skip + len(seen)))
    while len(out) < wanted and offset < MAX_RESULTS:
        size = min(size, MAX_RESULTS - offset)
        page = yield ((tenant, ITEMS), "find", (), {**scope, "limit": size, "offset": offset})
        for record in page:
            if str(record.id) in seen or not si.alive(record) or not keep(record):
                continue
            if skip:
                skip -= 1
                continue
            out.append(record)
            if len(out) >= wanted:
                break
        if len(page) < size:
            break
        offset += size
    return out
