"""Long-term memory operations, written once as plans (see :mod:`agentmem._plan`).

Each plan receives a :class:`~agentmem._weaviate.lifecycle.Target` (collection, tenant and this
process's caches of what is known to exist) and yields calls that take a sync *or* async
Weaviate client; the v4 clients mirror each other, so one lambda serves both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from weaviate.classes.aggregate import GroupByAggregate
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter as WFilter
from weaviate.classes.query import HybridFusion, MetadataQuery
from weaviate.collections.classes.filters import _Filters

from agentmem._plan import Call, Plan
from agentmem._weaviate import schema
from agentmem._weaviate.codec import (
    ALIVE,
    BATCH,
    RETURN,
    Prepared,
    decode,
    hit,
    ns_token,
    prefer_recent,
    tombstone,
)
from agentmem._weaviate.filters import NEVER, range_keys, to_weaviate
from agentmem._weaviate.lifecycle import (
    Target,
    bm25_window,
    col,
    deletes_are_real,
    ensure,
    locate,
    refresh,
    setup,
)
from agentmem._weaviate.records import MemoryHit, MemoryRecord, Recency, Scope, ScoreKind
from agentmem._weaviate.verify import has_negation, in_scope
from agentmem._weaviate.writes import add, collection_gone, insert
from agentmem.errors import (
    AgentMemError,
    BackendError,
    InvalidInputError,
    NotFound,
    PartialWriteError,
)

__all__ = ["Prepared", "Target", "add", "ensure", "locate", "setup"]

_MAX_RESULTS = 10_000  # Weaviate's default QUERY_MAXIMUM_RESULTS
_SCORES = MetadataQuery(distance=True, score=True, creation_time=True)  # what a search asks for


def _compile(t: Target, scope: Scope, alive: bool = True) -> Plan[_Filters | None]:
    """The Weaviate filter of a scope (None: no condition), live memories only unless ``alive``
    is False (only where no tombstone can match, see :func:`search`)."""
    node = scope.filter
    if node is not None and any(schema.number_property(k) not in t.props for k in range_keys(node)):
        # Another process may have written the first number under this key since we looked.
        yield from refresh(t, check=False)
    parts = [
        ALIVE if alive else None,
        to_weaviate(node, lambda key: schema.number_property(key) in t.props),
    ]
    if scope.ids is not None:
        parts.append(_by_ids(scope.ids) if scope.ids else NEVER)
    if scope.ref_doc_ids is not None:
        refs = WFilter.by_property("ref_doc_id").contains_any(list(scope.ref_doc_ids))
        parts.append(refs if scope.ref_doc_ids else NEVER)
    if scope.namespace is not None:
        parts.append(WFilter.by_property("expires_at").greater_than(time.time()))
        if scope.namespace:
            token = ns_token(scope.namespace)
            parts.append(WFilter.by_property("ns_prefixes").contains_any([token]))
    present = [p for p in parts if p is not None]
    return WFilter.all_of(present) if present else None


def _by_ids(ids: Sequence[str]) -> _Filters:
    return WFilter.by_id().contains_any([schema.id_to_uuid(i) for i in ids])


def _recheck(t: Target, scope: Scope) -> Plan[bool]:
    """Whether results of ``scope`` must be checked again in Python: it has a negation, and the
    server answers negations wrongly for rewritten ids (before ``DELETES_FIXED_IN``)."""
    if not has_negation(scope.filter):
        return False
    return not (yield from deletes_are_real(t))


def _read(t: Target, label: str, fn: Callable[[Any], Any], idempotent: bool = True) -> Plan[Any]:
    """One read call; ``None`` when the tenant (or collection) is gone.

    Another process may have removed the tenant after this one cached it (``forget_user`` from
    the CLI while a server runs, say). The answer is then "no memories", and the tenant is **not**
    created again: only writes create, so a forgotten user stays forgotten.
    """
    try:
        return (yield Call(label, fn, idempotent))
    except AgentMemError as exc:
        text = str(exc).lower()
        if "tenant not found" in text:
            t.tenant_ready = False
            return None
        if collection_gone(text):
            t.ready = False
            t.known.tenants.clear()
            t.known.clean = False
            return None
        raise


def get(t: Target, ids: Sequence[str], include_vector: bool = False) -> Plan[list[MemoryRecord]]:
    """The stored memories among ``ids`` (missing ones are skipped)."""
    if not ids or (yield from locate(t)) is not None:
        return []
    found = yield from _read(
        t,
        "longterm.get",
        lambda c: col(c, t).query.fetch_objects(
            filters=WFilter.all_of([ALIVE, _by_ids(ids)]),
            limit=len(set(ids)),
            include_vector=include_vector,
            return_properties=RETURN,
        ),
        True,
    )
    return [] if found is None else [decode(o, include_vector) for o in found.objects]


def list_records(
    t: Target, scope: Scope, limit: int, offset: int = 0, include_vector: bool = False
) -> Plan[list[MemoryRecord]]:
    """Up to ``limit`` memories in ``scope`` after skipping ``offset``, in no particular order."""
    if scope.empty() or limit == 0 or (yield from locate(t)) is not None:
        return []
    where = yield from _compile(t, scope)
    recheck = yield from _recheck(t, scope)
    found = yield from _read(
        t,
        "longterm.list",
        lambda c: col(c, t).query.fetch_objects(
            filters=where,
            limit=_slack(limit) if recheck else limit,
            offset=offset or None,
            include_vector=include_vector,
            return_properties=RETURN,
        ),
        True,
    )
    if found is None:
        return []
    records = [decode(o, include_vector) for o in found.objects]
    return [r for r in records if in_scope(scope, r)][:limit] if recheck else records


def namespaces(t: Target, scope: Scope) -> Plan[list[tuple[str, ...]]]:
    """Every distinct namespace in ``scope`` (one aggregate call, grouped on the server)."""
    if (yield from locate(t)) is not None:
        return []
    where = yield from _compile(t, scope)
    found = yield from _read(
        t,
        "longterm.namespaces",
        lambda c: col(c, t).aggregate.over_all(
            filters=where, group_by=GroupByAggregate(prop="namespace", limit=100_000)
        ),
        True,
    )
    if found is None:
        return []
    return [tuple(json.loads(g.grouped_by.value)) for g in found.groups if g.grouped_by.value]


def set_expiry(t: Target, updates: Sequence[tuple[str, float]]) -> Plan[None]:
    """Move the expiry of memories (``(memory id, epoch seconds)`` pairs): TTL refresh on read.

    Raises:
        NotFound: the collection or tenant does not exist (nothing is created).
    """
    if not updates:
        return
    missing = yield from locate(t)
    if missing is not None:
        raise NotFound(f"no such {missing}: set_expiry() found no memories to update")
    for memory_id, expires_at in updates:
        yield _update(t, schema.id_to_uuid(memory_id), {"expires_at": expires_at})


def _update(t: Target, object_id: str, properties: dict[str, Any]) -> Call:
    return Call(
        "longterm.update",
        lambda c: col(c, t).data.update(uuid=object_id, properties=properties),
        True,
    )


def delete(t: Target, scope: Scope) -> Plan[int]:
    """Delete what ``scope`` selects (an empty scope: the whole tenant). Returns the count.

    On a server before ``DELETES_FIXED_IN`` a deleted memory is overwritten with a tombstone (no
    text, metadata or vector; a ``created_at`` of 1970) rather than removed: Weaviate 1.35
    answers negated filters wrongly for an id that was removed and written again (duplicates,
    and objects wrongly kept or left out), while overwriting an object keeps every filter exact.
    Reads only see live memories. On a fixed server objects are removed, and ``setup()`` removes
    the tombstones written before (:func:`~agentmem._weaviate.lifecycle.drop_tombstones`).
    """
    if scope.empty() or (yield from locate(t)) is not None:
        return 0  # nothing to delete, and nothing is created to delete it from
    target = yield from _compile(t, scope)
    real = yield from deletes_are_real(t)
    recheck = has_negation(scope.filter) and not real
    total = 0
    while True:
        found = yield from _read(
            t,
            "longterm.delete.find",
            lambda c: col(c, t).query.fetch_objects(
                filters=target,
                limit=_MAX_RESULTS,
                return_properties=RETURN if recheck else ["memory_id"],
            ),
            True,
        )
        if found is None:
            return total
        doomed = [o for o in found.objects if not recheck or in_scope(scope, decode(o, False))]
        if not doomed:
            return total
        yield from (_remove(t, doomed) if real else _bury(t, doomed))
        total += len(doomed)
        if len(found.objects) < _MAX_RESULTS:
            return total


def _remove(t: Target, objects: Sequence[Any]) -> Plan[None]:
    """Delete ``objects`` (at most ``_MAX_RESULTS``, one page of a find) for real, checking every
    object's result like a write."""
    names = {str(o.uuid): str(o.properties.get("memory_id")) for o in objects}
    where = WFilter.by_id().contains_any([o.uuid for o in objects])
    result = yield Call(
        "longterm.delete",
        lambda c: col(c, t).data.delete_many(where=where, verbose=True),
        True,  # deleting what is already gone deletes nothing
    )
    failed = {
        names.get(str(o.uuid), str(o.uuid)): str(o.error)
        for o in result.objects or ()
        if not o.successful
    }
    _deletes_failed(failed)


def _bury(t: Target, objects: Sequence[Any]) -> Plan[None]:
    """Overwrite ``objects`` with tombstones, checking every result like a write."""
    failed: dict[str, str] = {}
    for start in range(0, len(objects), BATCH):
        chunk = objects[start : start + BATCH]
        data = [
            DataObject(properties=tombstone(o.properties.get("memory_id") or ""), uuid=o.uuid)
            for o in chunk
        ]
        result = yield insert(t, data)
        for index, error in result.errors.items():
            failed[str(chunk[index].properties.get("memory_id"))] = str(error.message)
    _deletes_failed(failed)


def _deletes_failed(failed: dict[str, str]) -> None:
    if failed:
        raise PartialWriteError(
            f"{len(failed)} memories could not be deleted (the others were); retry the delete",
            succeeded=[],
            failed=failed,
        )


def _slack(limit: int) -> int:
    # Room for entries the re-check drops, so a page still fills.
    return min(_MAX_RESULTS, 2 * limit + 10)


def sweep(t: Target) -> Plan[int]:
    """Delete namespaced memories whose expiry has passed. Returns the count."""
    if (yield from locate(t)) is not None:
        return 0
    target = WFilter.all_of([ALIVE, WFilter.by_property("expires_at").less_than(time.time())])
    found = yield from _read(
        t,
        "longterm.sweep",
        lambda c: col(c, t).query.fetch_objects(
            filters=target, limit=_MAX_RESULTS, return_properties=["memory_id"]
        ),
        True,
    )
    if found is None or not found.objects:
        return 0
    real = yield from deletes_are_real(t)
    yield from (_remove(t, found.objects) if real else _bury(t, found.objects))
    return len(found.objects)


def drop_tenant(t: Target) -> Plan[None]:
    """Remove this tenant and everything in it (its shard is deleted on the server)."""
    exists = yield Call("longterm.exists", lambda c: c.collections.exists(t.collection), True)
    if exists:
        yield Call(
            "longterm.drop_tenant",
            lambda c: c.collections.use(t.collection).tenants.remove([t.tenant]),
            True,
        )
    t.tenant_ready = False


def drop_collection(t: Target) -> Plan[None]:
    """Delete the whole collection, every tenant included."""
    yield Call("longterm.drop", lambda c: c.collections.delete(t.collection), True)
    t.ready = False
    t.props = set()
    t.known.tenants.clear()
    t.known.clean = False


def _search_call(t: Target, mode: str, call: Callable[[Any], Any]) -> Plan[Any]:
    """The query call of a search; a query vector the collection cannot take is the caller's
    mistake (:class:`InvalidInputError`), not a backend error."""
    try:
        return (yield from _read(t, f"longterm.search.{mode}", call, True))
    except BackendError as exc:
        if _wrong_length(str(exc)):
            raise InvalidInputError(
                f"the query vector does not fit this collection's vectors: {exc}; embed the query "
                "with the model the memories were embedded with"
            ) from exc
        raise


def _wrong_length(text: str) -> bool:
    text = text.lower()
    return "vector lengths don't match" in text or "vector length" in text or "dimension" in text


def search(
    t: Target,
    scope: Scope,
    *,
    text: str | None,
    vector: Sequence[float] | None,
    mode: str,
    k: int,
    alpha: float,
    include_vector: bool,
    recency: Recency | None,
    offset: int = 0,
) -> Plan[list[MemoryHit]]:
    """Run one vector, BM25 or hybrid query and score the hits (see :class:`MemoryHit`).

    The "alive" condition is left out once ``t.known.clean`` says that no tombstone is in the
    collection (a server where deletes are real, and this process made the collection or its
    ``setup()`` removed the old tombstones): a query then has no filter unless the caller gave
    one, as a plain client call would. It stays everywhere else, and on every read that lists
    objects (``find``, ``get``, ``delete``...); a tombstone has no text and no vector, so no
    vector, BM25 or hybrid query matches one even where it stays.
    """
    if scope.empty() or (yield from locate(t)) is not None:
        return []  # a user with no memories yet: nothing found, nothing created
    where = yield from _compile(t, scope, alive=not t.known.clean)
    recheck = yield from _recheck(t, scope)
    limit = k if recency is None else max(3 * k, 20)
    if recheck:
        limit = _slack(limit)
    # Before 1.38.2, Weaviate's BlockMax-WAND could prune rare-term matches that still sit in the
    # memtable (recent writes) once a *limited* result heap fills (weaviate#11780), which on
    # LoCoMo cut BM25 recall@10 from ~0.5 to ~0.05. On such a server, asking for a wide window of
    # ids and scores only, then fetching the top ``limit`` objects, keeps keyword ranking exact.
    window = (yield from bm25_window(t, limit)) if mode != "vector" else limit
    wide = window > limit
    common: dict[str, Any] = {
        "limit": window,
        "offset": offset or None,
        "filters": where,
        "include_vector": include_vector and not wide,
        "return_properties": [] if wide else RETURN,
    }
    kind: ScoreKind = {"vector": "distance", "bm25": "bm25"}.get(mode, "hybrid")  # type: ignore[assignment]
    meta = _SCORES

    def call(c: Any) -> Any:
        query = col(c, t).query
        if mode == "vector":
            return query.near_vector(list(vector or []), return_metadata=meta, **common)
        if mode == "bm25":
            return query.bm25(text or "", return_metadata=meta, **common)
        return query.hybrid(
            text or "",
            vector=list(vector) if vector is not None else None,
            alpha=alpha,
            fusion_type=HybridFusion.RELATIVE_SCORE,
            return_metadata=meta,
            **common,
        )

    found = yield from _search_call(t, mode, call)
    if found is None:
        return []
    ranked = list(found.objects[:limit])
    if wide and ranked:
        uuids = [o.uuid for o in ranked]
        full = yield from _read(
            t,
            "longterm.search.fetch",
            lambda c: col(c, t).query.fetch_objects(
                filters=WFilter.by_id().contains_any(uuids),
                limit=len(uuids),
                include_vector=include_vector,
                return_properties=RETURN,
            ),
            True,
        )
        by_id = {o.uuid: o for o in full.objects} if full is not None else {}
        # Objects deleted between the two calls are simply left out.
        hits = [
            hit(by_id[o.uuid], kind, include_vector, o.metadata) for o in ranked if o.uuid in by_id
        ]
    else:
        hits = [hit(o, kind, include_vector) for o in ranked]
    if recheck:
        hits = [h for h in hits if in_scope(scope, h.record)]
    if recency is not None:
        hits = prefer_recent(hits, recency)
    return hits[:k]
