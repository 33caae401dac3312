"""Maximal marginal relevance over search hits that carry their vectors (pure Python)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from agentmem._weaviate.records import MemoryHit

__all__ = ["mmr"]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def mmr(
    query: Sequence[float], hits: Sequence[MemoryHit], k: int, lambda_mult: float
) -> list[MemoryHit]:
    """Pick ``k`` of ``hits`` greedily by ``lambda * sim(query) - (1 - lambda) * max sim(chosen)``."""
    pool = [(h, h.record.vector) for h in hits if h.record.vector is not None]
    chosen: list[tuple[MemoryHit, Sequence[float]]] = []
    while pool and len(chosen) < k:

        def value(item: tuple[MemoryHit, Sequence[float]]) -> float:
            redundancy = max((_cosine(item[1], c[1]) for c in chosen), default=0.0)
            return lambda_mult * _cosine(query, item[1]) - (1 - lambda_mult) * redundancy

        best = max(pool, key=value)
        pool.remove(best)
        chosen.append(best)
    return [h for h, _ in chosen]
