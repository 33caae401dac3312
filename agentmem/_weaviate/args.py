"""Argument checks shared by the sync and async long-term memory methods (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

from agentmem._weaviate.records import Scope
from agentmem.errors import InvalidInputError
from agentmem.filters import Filter

__all__ = ["as_ids", "make_scope", "resolve_mode"]


def resolve_mode(
    query: str | None, vector: Sequence[float] | None, mode: str, k: int, *, can_embed: bool
) -> tuple[str, bool]:
    """Resolve ``mode`` and whether the query must be embedded."""
    if k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k}")
    can_embed = can_embed and query is not None
    if mode == "auto":
        if query is not None and (vector is not None or can_embed):
            mode = "hybrid"
        elif vector is not None or can_embed:
            mode = "vector"
        else:
            mode = "bm25"
    if mode in ("vector", "hybrid") and vector is None and not can_embed:
        raise InvalidInputError(
            f"{mode} search needs a vector: pass vector=..., or build the memory with an embedder"
        )
    if mode in ("bm25", "hybrid") and query is None:
        raise InvalidInputError(f"{mode} search needs a query text")
    return mode, vector is None and mode in ("vector", "hybrid")


def as_ids(ids: Sequence[str] | None) -> list[str] | None:
    """``ids`` as a list (None stays None); one bare string is refused, not split into letters."""
    if ids is None:
        return None
    if isinstance(ids, str):
        raise InvalidInputError("ids must be a list of strings, not one string")
    return list(ids)


def make_scope(
    filter: Filter | None,
    ids: Sequence[str] | None,
    ref_doc_ids: Sequence[str] | None,
    namespace: Sequence[str] | None,
) -> Scope:
    """The :class:`Scope` of one call, with its arguments checked."""
    if isinstance(namespace, str):
        raise InvalidInputError("a namespace is a tuple of strings, not one string")
    return Scope(
        filter,
        as_ids(ids),
        as_ids(ref_doc_ids),
        tuple(namespace) if namespace is not None else None,
    )
