"""Argument checks shared by the sync and async long-term memory methods (pure, no I/O).

Everything a call is given is checked here, before the plan runs, so a mistake is an
:class:`~agentmem.errors.InvalidInputError` that says what to do, and nothing was read or written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentmem import filters as f
from agentmem._args import check_count, check_number, check_text
from agentmem._weaviate.codec import query_vector
from agentmem._weaviate.records import Recency, Scope
from agentmem.errors import InvalidInputError
from agentmem.filters import Filter

__all__ = [
    "MODES",
    "Query",
    "as_ids",
    "check_collection",
    "check_expiry",
    "check_page",
    "make_scope",
    "resolve_query",
]

MODES = ("auto", "vector", "bm25", "hybrid")
_COLLECTION_OK = re.compile(r"[A-Z][_0-9A-Za-z]{0,230}")


@dataclass(frozen=True, slots=True)
class Query:
    """A checked search: the resolved mode, and whether its text must be embedded first."""

    mode: str
    text: str | None
    vector: list[float] | None
    embed: bool
    alpha: float


def resolve_query(
    query: str | None,
    vector: Sequence[float] | None,
    mode: str,
    k: int,
    alpha: float,
    recency: Recency | None,
    *,
    can_embed: bool,
) -> Query:
    """Check a search's arguments and resolve ``mode``.

    ``"auto"`` is hybrid when there is text with words and a vector (or an embedder), vector
    search with a vector only, else BM25. Blank text is never embedded or searched by BM25.

    Raises:
        InvalidInputError: an unknown mode, a bad ``k`` or ``alpha``, a query text that is empty
            or has no UTF-8 form, a query vector that is empty or has NaN/inf, or a mode that
            lacks what it needs.
    """
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    check_count(k, "k", minimum=1)
    alpha = check_number(alpha, "alpha (the vector share of hybrid search)", low=0.0, high=1.0)
    if recency is not None and not isinstance(recency, Recency):
        raise InvalidInputError(f"recency must be a Recency, got {type(recency).__name__}")
    if query is not None:
        check_text(query, "the query text", empty=True)
    clean = query_vector(vector) if vector is not None else None
    words = query is not None and bool(query.strip())
    can_embed = can_embed and words
    if mode == "auto":
        if words and (clean is not None or can_embed):
            mode = "hybrid"
        elif clean is not None or can_embed:
            mode = "vector"
        else:
            mode = "bm25"
    if mode in ("vector", "hybrid") and clean is None and not can_embed:
        raise InvalidInputError(
            f"{mode} search needs a vector: pass vector=..., or a query text with words and build "
            "the memory with an embedder"
        )
    if mode == "bm25" and not words:
        raise InvalidInputError(
            f"bm25 search needs a query text with at least one word, got {query!r}"
        )
    if mode == "hybrid" and query is None:
        raise InvalidInputError("hybrid search needs a query text (or pass mode='vector')")
    return Query(mode, query, clean, clean is None and mode in ("vector", "hybrid"), alpha)


def check_page(limit: int, offset: int) -> None:
    """Check ``limit`` (0 or more) and ``offset`` (0 or more) of a listing.

    Raises:
        InvalidInputError: either is not an int of at least 0.
    """
    check_count(limit, "limit")
    check_count(offset, "offset")


def check_collection(name: str) -> str:
    """A Weaviate collection name: a capital letter, then letters, digits and underscores.

    Raises:
        InvalidInputError: anything else (Weaviate would refuse it, or silently capitalize it).
    """
    if not isinstance(name, str) or not _COLLECTION_OK.fullmatch(name):
        raise InvalidInputError(
            f"a collection name is a capital letter followed by letters, digits or underscores "
            f"(like 'AgentMemory'), got {name!r}"
        )
    return name


def check_expiry(updates: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """``(memory id, epoch seconds)`` pairs of :meth:`set_expiry`, checked.

    Raises:
        InvalidInputError: not a list of pairs, a bad id or a time that is not a finite number.
    """
    if isinstance(updates, (str, bytes)) or not isinstance(updates, Sequence):
        raise InvalidInputError("set_expiry() takes a list of (memory id, epoch seconds) pairs")
    out: list[tuple[str, float]] = []
    for pair in updates:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise InvalidInputError(
                f"set_expiry() wants (memory id, epoch seconds) pairs, got {pair!r}"
            )
        memory_id = check_text(pair[0], "a memory id")
        out.append((memory_id, check_number(pair[1], f"the expiry of {memory_id!r}")))
    return out


def as_ids(ids: Sequence[str] | None, what: str = "ids") -> list[str] | None:
    """``ids`` as a list of checked ids (None stays None); one bare string is refused, not split
    into letters.

    Raises:
        InvalidInputError: not a list of non-empty strings with a UTF-8 form.
    """
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise InvalidInputError(f"{what} must be a list of strings, not {type(ids).__name__}")
    return [check_text(i, f"an entry of {what}") for i in ids]


def make_scope(
    filter: Filter | None,
    ids: Sequence[str] | None,
    ref_doc_ids: Sequence[str] | None,
    namespace: Sequence[str] | None,
) -> Scope:
    """The :class:`Scope` of one call, with its arguments checked."""
    if isinstance(namespace, str):
        raise InvalidInputError("a namespace is a tuple of strings, not one string")
    if namespace is not None:
        if not isinstance(namespace, Sequence):
            raise InvalidInputError(f"a namespace is a tuple of strings, got {namespace!r}")
        namespace = tuple(check_text(p, "a namespace element") for p in namespace)
    if filter is not None and not isinstance(filter, _FILTER_TYPES):
        raise InvalidInputError(
            f"filter must be an agentmem.filters node (Eq, And, ...), got {type(filter).__name__}"
        )
    return Scope(filter, as_ids(ids), as_ids(ref_doc_ids, "ref_doc_ids"), namespace)


_FILTER_TYPES = f._NODE_TYPES
