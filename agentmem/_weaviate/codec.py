"""Encode records as Weaviate objects and decode objects and scores back (pure, no I/O)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from weaviate.classes.query import Filter as WFilter

from agentmem._weaviate import schema
from agentmem._weaviate.records import MemoryHit, MemoryRecord, Recency, ScoreKind
from agentmem.errors import InvalidInputError

__all__ = [
    "ALIVE",
    "NEVER_EXPIRES",
    "RETURN",
    "Prepared",
    "decode",
    "hit",
    "prefer_recent",
    "prepare",
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


@dataclass(frozen=True)
class Prepared:
    """A validated object ready to send (built before any I/O, so bad input writes nothing)."""

    memory_id: str
    uuid: str
    properties: dict[str, Any]
    vector: list[float] | None


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
    return MemoryRecord(
        text=props.get("text") or "",
        metadata=json.loads(props.get("metadata_json") or "{}"),
        id=props.get("memory_id"),
        vector=vector,
        ref_doc_id=props.get("ref_doc_id"),
        extra=json.loads(props.get("extra_json") or "{}"),
        created_at=created if isinstance(created, datetime) else None,
        namespace=tuple(json.loads(props["namespace"])) if props.get("namespace") else None,
        expires_at=expires if expires is not None and expires < NEVER_EXPIRES else None,
    )


def prepare(
    records: Sequence[MemoryRecord], vectors: Sequence[Sequence[float] | None]
) -> list[Prepared]:
    """Validate and encode ``records`` (with their final vectors). Raises before any write."""
    out: dict[str, Prepared] = {}
    dims: int | None = None
    now = datetime.now(timezone.utc)
    for record, vector in zip(records, vectors, strict=True):
        if not isinstance(record.text, str):
            raise InvalidInputError(f"memory text must be a str, got {type(record.text).__name__}")
        if not isinstance(record.metadata, dict) or not all(
            isinstance(k, str) for k in record.metadata
        ):
            raise InvalidInputError("memory metadata must be a dict with str keys")
        if not isinstance(record.id, str) or not record.id:
            raise InvalidInputError(f"a memory id must be a non-empty string, got {record.id!r}")
        memory_id = record.id
        clean = _vector(vector, memory_id)
        if clean is not None:
            if dims is not None and len(clean) != dims:
                raise InvalidInputError(
                    f"vectors of one write must have one length; {memory_id!r} has {len(clean)}, "
                    f"earlier ones {dims}"
                )
            dims = len(clean)
        metadata = dict(record.metadata)
        props: dict[str, Any] = {
            "text": record.text,
            "memory_id": memory_id,
            "ref_doc_id": record.ref_doc_id,
            "metadata_json": schema.dumps(metadata, "memory metadata"),
            "extra_json": schema.dumps(dict(record.extra), "memory extra data"),
            "meta_kv": schema.kv_tokens(metadata),
            "meta_keys": list(metadata),
            "created_at": now,
        }
        if record.namespace is not None:
            namespace = _namespace(record.namespace)
            props["namespace"] = ns_token(namespace)
            props["ns_prefixes"] = [ns_token(namespace[:n]) for n in range(1, len(namespace) + 1)]
            props["expires_at"] = (
                float(record.expires_at) if record.expires_at is not None else NEVER_EXPIRES
            )
        for key, value in metadata.items():
            if schema.is_number(value):
                props[schema.number_property(key)] = float(value)
        # A later record with the same id wins, as a second write would.
        out.pop(memory_id, None)
        out[memory_id] = Prepared(memory_id, schema.id_to_uuid(memory_id), props, clean)
    return list(out.values())


def _vector(vector: Sequence[float] | None, memory_id: str) -> list[float] | None:
    if vector is None:
        return None
    try:
        clean = [float(x) for x in vector]
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the vector of {memory_id!r} is not a list of numbers") from exc
    if not clean or not all(math.isfinite(x) for x in clean):
        raise InvalidInputError(f"the vector of {memory_id!r} is empty or has NaN/inf")
    return clean


def _namespace(namespace: Sequence[str]) -> tuple[str, ...]:
    if isinstance(namespace, str) or not all(isinstance(p, str) and p for p in namespace):
        raise InvalidInputError(f"a namespace is a tuple of non-empty strings, got {namespace!r}")
    return tuple(namespace)
