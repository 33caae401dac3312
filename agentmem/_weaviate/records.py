"""Value types of long-term memory: what callers write and what searches return."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from agentmem._args import check_number
from agentmem.errors import InvalidInputError
from agentmem.filters import Filter

__all__ = ["MemoryHit", "MemoryRecord", "Recency", "Scope", "ScoreKind"]

ScoreKind = Literal["distance", "bm25", "hybrid"]


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """One memory.

    Attributes:
        text: the content (indexed for BM25).
        metadata: any JSON-serializable mapping; round-trips exactly and is filterable.
        id: the caller's id, any non-empty string (None: a UUID string is generated on write).
        vector: the embedding; None lets the memory's embedder compute it (or, with no
            embedder, stores the memory for BM25 search only).
        ref_doc_id: the source document this memory was cut from (LlamaIndex deletes by it).
        extra: framework-private data stored verbatim and never filtered on.
        created_at: when it was written (set on read; ignored on write).
        namespace: an optional path (``("users", "42", "prefs")``) that searches can be
            restricted to by prefix; the LangGraph store uses it.
        expires_at: epoch seconds after which a namespaced memory is no longer returned by
            namespace-scoped reads (None: never).
    """

    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    vector: Sequence[float] | None = None
    ref_doc_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    namespace: tuple[str, ...] | None = None
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """Which memories an operation applies to: all of the given conditions must hold.

    Attributes:
        filter: a metadata filter (:mod:`agentmem.filters`).
        ids: only these memory ids.
        ref_doc_ids: only memories of these source documents.
        namespace: only memories whose namespace starts with this prefix (``()``: any
            namespace); expired memories are left out.
    """

    filter: Filter | None = None
    ids: Sequence[str] | None = None
    ref_doc_ids: Sequence[str] | None = None
    namespace: Sequence[str] | None = None

    def empty(self) -> bool:
        """True when an id or document list is given but empty (nothing can match)."""
        return (self.ids is not None and not self.ids) or (
            self.ref_doc_ids is not None and not self.ref_doc_ids
        )


@dataclass(frozen=True, slots=True)
class MemoryHit:
    """One search result.

    Attributes:
        record: the memory found.
        score: the raw backend score: cosine **distance** (0 best, 2 worst) for ``"distance"``,
            the BM25 score (unbounded, higher is better) for ``"bm25"``, the relativeScoreFusion
            score (0..1) for ``"hybrid"``.
        relevance: in [0, 1], higher is better. Vector: ``1 - distance / 2`` (cosine similarity
            rescaled to [0, 1]). BM25: ``score / (score + 1)`` (0.5 means a BM25 score of 1;
            comparable across queries). Hybrid: the fusion score itself; relativeScoreFusion
            rescales each of BM25 and vector to [0, 1] within the candidate set, so the best
            hit of a query tends toward 1 and the value is only comparable within one query.
            With a :class:`Recency` preference the relevance is blended with recency (below).
        kind: which of the three scores ``score`` is.
    """

    record: MemoryRecord
    score: float
    relevance: float
    kind: ScoreKind


@dataclass(frozen=True, slots=True)
class Recency:
    """Prefer recent memories: ``relevance = (1 - weight) * relevance + weight * 0.5 ** (age / half_life)``.

    Attributes:
        half_life_seconds: age at which the recency term is worth half.
        weight: share of the recency term in [0, 1].
    """

    half_life_seconds: float
    weight: float = 0.3

    def __post_init__(self) -> None:
        what = "Recency.half_life_seconds"
        if check_number(self.half_life_seconds, what) <= 0:
            raise InvalidInputError(f"{what} must be positive, got {self.half_life_seconds!r}")
        check_number(self.weight, "Recency.weight", low=0.0, high=1.0)
