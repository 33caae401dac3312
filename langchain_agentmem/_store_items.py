"""Pure helpers of :mod:`langchain_agentmem.store`: how items map to memories, and back.

An item is one memory in the store's collection (id: the JSON of ``[*namespace, key]``; metadata:
the value; text: every string in the value, for BM25). With an index, each text picked by the
index's field paths is one more memory in a companion collection (``<collection>Paths``): its
vector, a copy of the value (so filters apply) and of the item's bookkeeping (so a search answers
from its hits alone), the same namespace and expiry, and the item's id as ``ref_doc_id``. Every
put rewrites them all. The item records how many it has (``extra["vectors"]``), so updates and
deletes know which to remove. No I/O here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from langgraph.store.base import Item, ListNamespacesOp, MatchCondition, PutOp, SearchItem

from agentmem.longterm import MemoryRecord

__all__ = [
    "alive",
    "item_id",
    "item_of",
    "item_record",
    "item_text",
    "list_namespaces",
    "literal_prefix",
    "path_id",
    "path_record",
    "paths_collection",
    "search_item",
    "vector_count",
]


def paths_collection(collection: str) -> str:
    """The companion collection holding one vector per (item, indexed text)."""
    return f"{collection}Paths"


def item_id(namespace: tuple[str, ...], key: str) -> str:
    """The memory id of an item: JSON, so any label works and ids never collide."""
    return json.dumps([*namespace, key], ensure_ascii=False, separators=(",", ":"))


def path_id(of_item: str, index: int) -> str:
    """The memory id of an item's ``index``-th vector (a JSON id never contains ``#`` after ``]``)."""
    return f"{of_item}#{index}"


def alive(record: MemoryRecord) -> bool:
    """The item has not expired."""
    return record.expires_at is None or record.expires_at > time.time()


def vector_count(record: MemoryRecord) -> int:
    """How many path vectors an item has in the companion collection."""
    count = record.extra.get("vectors", 0)
    return count if isinstance(count, int) else 0


def item_text(value: Any) -> str:
    """Every string in ``value`` (keys left out), one per line: what BM25 ranks an item by."""
    out: list[str] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, Mapping):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, (list, tuple)):
            stack.extend(reversed(node))
    return "\n".join(out)


def _expiry(op: PutOp) -> tuple[float | None, float | None]:
    ttl = op.ttl if isinstance(op.ttl, (int, float)) else None
    return ttl, (time.time() + ttl * 60 if ttl is not None else None)


def item_record(op: PutOp, memory_id: str, created: str, now: str, vectors: int) -> MemoryRecord:
    """The memory that stores item ``op`` (``vectors``: how many path vectors it has)."""
    ttl, expires = _expiry(op)
    return MemoryRecord(
        text=item_text(op.value),
        metadata=dict(op.value or {}),
        id=memory_id,
        extra={
            "key": op.key, "created_at": created, "updated_at": now, "ttl": ttl,
            "vectors": vectors,
        },
        namespace=op.namespace,
        expires_at=expires,
    )  # fmt: skip


def path_record(item: MemoryRecord, index: int, text: str, vector: Sequence[float]) -> MemoryRecord:
    """The memory holding the vector of ``item``'s ``index``-th indexed text."""
    return MemoryRecord(
        text=text,
        metadata=dict(item.metadata),
        id=path_id(str(item.id), index),
        vector=vector,
        ref_doc_id=item.id,
        extra=dict(item.extra),
        namespace=item.namespace,
        expires_at=item.expires_at,
    )


def item_of(record: MemoryRecord) -> Item:
    """The LangGraph item a stored memory holds."""
    return Item(
        value=dict(record.metadata),
        key=str(record.extra["key"]),
        namespace=tuple(record.namespace or ()),
        created_at=datetime.fromisoformat(str(record.extra["created_at"])),
        updated_at=datetime.fromisoformat(str(record.extra["updated_at"])),
    )


def search_item(record: MemoryRecord, score: float | None) -> SearchItem:
    """``record`` as a search result with ``score``."""
    item = item_of(record)
    return SearchItem(
        item.namespace, item.key, item.value, item.created_at, item.updated_at, score=score
    )


def literal_prefix(conditions: tuple[MatchCondition, ...] | None) -> tuple[str, ...]:
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


def list_namespaces(names: list[tuple[str, ...]], op: ListNamespacesOp) -> list[tuple[str, ...]]:
    """The page of namespaces ``op`` asks for, as ``InMemoryStore`` answers it."""
    kept = [n for n in names if all(_matches(n, c) for c in op.match_conditions or ())]
    if op.max_depth is not None:
        kept = [n[: op.max_depth] for n in kept]
    ordered = sorted(set(kept))
    return ordered[op.offset : op.offset + op.limit]
