"""Encode records as Weaviate objects and decode objects and scores back (pure, no I/O)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Final

from weaviate.classes.query import Filter as WFilter

from agentmem._args import check_json, check_number, check_text
from agentmem._weaviate import schema
from agentmem._weaviate.records import MemoryHit, MemoryRecord, Recency, ScoreKind
from agentmem.errors import InvalidInputError

__all__ = [
    "ALIVE",
    "BATCH",
    "DEAD",
    "MAX_MEMORY_BYTES",
    "NEVER_EXPIRES",
    "RETURN",
    "Prepared",
    "attach",
    "batches",
    "decode",
    "hit",
    "prefer_recent",
    "prepare",
    "query_vector",
    "tombstone",
]

# Namespaced objects always carry ``expires_at`` so "not expired" is one range filter
# (Weaviate cannot test for a missing number without a null-state index).
NEVER_EXPIRES = 1e18
RETURN = [
    "text", "memory_id", "ref_doc_id", "metadata_json", "extra_json", "created_at",
    "namespace", "expires_at",
]  # fmt: skip


# A deleted memory is a tombstone written in its place (see plans.delete): created_at in 1970,
# which no live write has, so "alive" is one positive range filter.
TOMBSTONE_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
ALIVE = WFilter.by_property("created_at").greater_than(datetime(1971, 1, 1, tzinfo=timezone.utc))
DEAD = WFilter.by_property("created_at").less_than(datetime(1971, 1, 1, tzinfo=timezone.utc))


def tombstone(memory_id: str) -> dict[str, Any]:
    """The properties of a deleted memory: nothing to find by text, vector or metadata."""
    return {
        "memory_id": memory_id,
        "text": "",
        "metadata_json": "{}",
        "extra_json": "{}",
        "meta_kv": [],
        "meta_keys": [],
        "created_at": TOMBSTONE_TIME,
    }


MAX_MEMORY_BYTES: Final = 1 << 20
"""The largest memory :meth:`~agentmem.longterm.LongTermMemory.add` takes: 1 MiB of text,
metadata and extra data together, counted as UTF-8 bytes (vectors not included). Larger documents
are refused with :class:`~agentmem.errors.InvalidInputError` before anything is written: split them
into chunks, as retrieval wants anyway."""

BATCH: Final = 200
"""At most this many objects go in one gRPC batch of a write."""

BATCH_BYTES: Final = 16 << 20
"""And about this many bytes (encoded text, metadata and vectors)."""


@dataclass(frozen=True)
class Prepared:
    """A checked and encoded object ready to send (built before any I/O, so bad input writes
    nothing); ``size`` is its encoded text, metadata and extra data in bytes."""

    memory_id: str
    uuid: str
    properties: dict[str, Any]
    vector: list[float] | None
    size: int = 0


def ns_token(namespace: Sequence[str]) -> str:
    """The stored form of a namespace (or of a namespace prefix)."""
    return json.dumps(list(namespace), ensure_ascii=False, separators=(",", ":"))


def hit(obj: Any, kind: ScoreKind, include_vector: bool, metadata: Any = None) -> MemoryHit:
    """A scored hit from a query result object (``metadata``: scores from another call)."""
    meta = metadata if metadata is not None else obj.metadata
    if kind == "distance":
        score = float(meta.distance)
        relevance = 1.0 - score / 2.0
    elif kind == "bm25":
        score = float(meta.score or 0.0)
        relevance = score / (score + 1.0) if score > 0 else 0.0
    else:
        score = float(meta.score or 0.0)
        relevance = score
    return MemoryHit(decode(obj, include_vector), score, min(1.0, max(0.0, relevance)), kind)


def prefer_recent(hits: list[MemoryHit], recency: Recency) -> list[MemoryHit]:
    now = datetime.now(timezone.utc)
    out = []
    for hit in hits:
        created = hit.record.created_at or now
        age = max(0.0, (now - created).total_seconds())
        fresh = 0.5 ** (age / recency.half_life_seconds)
        blended = (1 - recency.weight) * hit.relevance + recency.weight * fresh
        out.append(MemoryHit(hit.record, hit.score, blended, hit.kind))
    return sorted(out, key=lambda h: h.relevance, reverse=True)


def decode(obj: Any, include_vector: bool) -> MemoryRecord:
    """A stored Weaviate object back as the caller wrote it."""
    props = obj.properties
    vector = None
    if include_vector and obj.vector:
        raw = obj.vector.get("default") if isinstance(obj.vector, dict) else obj.vector
        vector = [float(x) for x in raw] if raw is not None else None
    created = props.get("created_at")
    expires = props.get("expires_at")
    metadata = props.get("metadata_json")
    extra = props.get("extra_json")
    return MemoryRecord(
        text=props.get("text") or "",
        metadata=json.loads(metadata) if metadata and metadata != "{}" else {},
        id=props.get("memory_id"),
        vector=vector,
        ref_doc_id=props.get("ref_doc_id"),
        extra=json.loads(extra) if extra and extra != "{}" else {},
        created_at=created if isinstance(created, datetime) else None,
        namespace=tuple(json.loads(props["namespace"])) if props.get("namespace") else None,
        expires_at=expires if expires is not None and expires < NEVER_EXPIRES else None,
    )


def prepare(records: Sequence[MemoryRecord]) -> list[Prepared]:
    """Check and encode every record of one write; the first step of :meth:`LongTermMemory.add`.

    Runs before any I/O, over the whole input: a bad record anywhere (say a lone surrogate in the
    500th text) raises here, and nothing is written. Records without a vector keep
    ``vector=None`` until :func:`attach` gives them the embedder's. A later record with the same
    id replaces an earlier one, as a second write would.

    Raises:
        InvalidInputError: a record is malformed, or larger than :data:`MAX_MEMORY_BYTES`.
        SerializationError: text, metadata or extra data has no exact JSON/UTF-8 form.
    """
    out: dict[str, Prepared] = {}
    now = datetime.now(timezone.utc)
    for record in records:
        if not isinstance(record, MemoryRecord):
            raise InvalidInputError(
                f"add() takes MemoryRecord objects, got {type(record).__name__}"
            )
        memory_id = check_text(record.id, "a memory id")
        what = f"memory {memory_id!r}"
        text = check_text(record.text, f"the text of {what}", empty=True)
        metadata = _mapping(record.metadata, f"the metadata of {what}")
        extra = _mapping(record.extra, f"the extra data of {what}")
        props: dict[str, Any] = {
            "text": text,
            "memory_id": memory_id,
            "ref_doc_id": _ref_doc_id(record.ref_doc_id, what),
            "metadata_json": schema.dumps(metadata, f"the metadata of {what}"),
            "extra_json": schema.dumps(extra, f"the extra data of {what}"),
            "meta_kv": schema.kv_tokens(metadata),
            "meta_keys": list(metadata),
            "created_at": now,
        }
        try:
            size = sum(len(props[n].encode()) for n in ("text", "metadata_json", "extra_json"))
        except UnicodeEncodeError:
            # A lone surrogate in flat metadata (see _mapping): say where, as the full check does.
            check_json(metadata, f"the metadata of {what}")
            check_json(extra, f"the extra data of {what}")
            raise
        if size > MAX_MEMORY_BYTES:
            raise InvalidInputError(
                f"{what} is {size} bytes (text, metadata and extra data as UTF-8), more than "
                f"agentmem.longterm.MAX_MEMORY_BYTES ({MAX_MEMORY_BYTES}); split it into smaller "
                "memories"
            )
        if record.namespace is not None:
            namespace = _namespace(record.namespace)
            props["namespace"] = ns_token(namespace)
            props["ns_prefixes"] = [ns_token(namespace[:n]) for n in range(1, len(namespace) + 1)]
            props["expires_at"] = (
                check_number(record.expires_at, f"the expires_at of {what} (epoch seconds)")
                if record.expires_at is not None
                else NEVER_EXPIRES
            )
        elif record.expires_at is not None:
            raise InvalidInputError(
                f"{what} has expires_at but no namespace; expiry applies to namespaced memories "
                "only, so it would be ignored"
            )
        for key, value in metadata.items():
            if schema.is_number(value):
                props[schema.number_property(key)] = float(value)
        out.pop(memory_id, None)
        out[memory_id] = Prepared(
            memory_id,
            schema.id_to_uuid(memory_id),
            props,
            _vector(record.vector, f"the vector of {what}"),
            size,
        )
    return list(out.values())


def attach(
    objects: Sequence[Prepared], todo: Sequence[int], vectors: Sequence[Sequence[float]]
) -> list[Prepared]:
    """``objects`` with ``vectors`` (from the embedder) given to the ones at ``todo``; then every
    vector of the write is checked to have one length.

    Raises:
        InvalidInputError: the embedder returned the wrong number of vectors, a vector is not a
            list of finite numbers, or two vectors of the write differ in length.
    """
    out = list(objects)
    if len(vectors) != len(todo):
        raise InvalidInputError(
            f"the embedder returned {len(vectors)} vectors for {len(todo)} texts; check it"
        )
    for index, vector in zip(todo, vectors, strict=True):
        out[index] = replace(
            out[index], vector=_vector(vector, f"the vector of {out[index].memory_id!r}")
        )
    dims: int | None = None
    for obj in out:
        if obj.vector is None:
            continue
        if dims is not None and len(obj.vector) != dims:
            raise InvalidInputError(
                f"vectors of one write must have one length; {obj.memory_id!r} has "
                f"{len(obj.vector)}, earlier ones {dims}"
            )
        dims = len(obj.vector)
    return out


def batches(objects: Sequence[Prepared]) -> list[list[Prepared]]:
    """``objects`` cut into the batches of one write: at most :data:`BATCH` objects and about
    :data:`BATCH_BYTES` each, far below Weaviate's gRPC message limit (100 MiB by default)."""
    out: list[list[Prepared]] = []
    current: list[Prepared] = []
    used = 0
    for obj in objects:
        size = obj.size + 8 * len(obj.vector or ())
        if current and (len(current) >= BATCH or used + size > BATCH_BYTES):
            out.append(current)
            current, used = [], 0
        current.append(obj)
        used += size
    if current:
        out.append(current)
    return out


def query_vector(vector: Sequence[float]) -> list[float]:
    """A query vector as a list of finite floats.

    Raises:
        InvalidInputError: empty, not numbers, or NaN/inf in it.
    """
    clean = _vector(vector, "the query vector")
    if clean is None:
        raise InvalidInputError("the query vector is missing")
    return clean


def _mapping(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be a dict with str keys, got {type(value).__name__}")
    out = dict(value)
    if not _flat(out):
        check_json(out, what)
    return out


_STR = frozenset({str})
_FLAT_VALUES = frozenset({str, bool, type(None)})


def _flat(mapping: dict[Any, Any]) -> bool:
    """String keys and str/bool/None values, the common metadata: its JSON reads back exactly as
    long as the text has a UTF-8 form, which :func:`prepare` checks while counting the bytes.
    Anything else (numbers, lists, nesting, subclasses) gets the full :func:`check_json`."""
    return set(map(type, mapping)) <= _STR and set(map(type, mapping.values())) <= _FLAT_VALUES


def _ref_doc_id(value: object, what: str) -> str | None:
    return None if value is None else check_text(value, f"the ref_doc_id of {what}")


_FLOATS = {float}  # exact types: ints, bools and numpy scalars take the long way


def _vector(vector: Sequence[float] | None, what: str) -> list[float] | None:
    if vector is None:
        return None
    if isinstance(vector, (str, bytes)) or not isinstance(vector, Sequence):
        raise InvalidInputError(f"{what} is not a list of numbers")
    if vector and set(map(type, vector)) == _FLOATS:
        # The common case, plain floats: the checks below, done in C. A sum of finite numbers
        # may overflow to inf, so a sum that is not finite is checked the long way.
        clean = list(vector)
        if math.isfinite(sum(clean)):
            return clean
    try:
        clean = [float(x) for x in vector if not isinstance(x, bool)]
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError(f"{what} is not a list of numbers") from exc
    if len(clean) != len(vector):
        raise InvalidInputError(f"{what} has booleans in it")
    if not clean or not all(math.isfinite(x) for x in clean):
        raise InvalidInputError(f"{what} is empty or has NaN/inf")
    return clean


def _namespace(namespace: Sequence[str]) -> tuple[str, ...]:
    if isinstance(namespace, str) or not isinstance(namespace, Sequence):
        raise InvalidInputError(f"a namespace is a tuple of non-empty strings, got {namespace!r}")
    return tuple(check_text(p, "a namespace element") for p in namespace)
