"""Check in Python that a returned memory really matches a filter.

Weaviate 1.35 can return an object for a *negated* filter (``not``, ``containsNone``) when an
earlier object with the same UUID was deleted and the id was written again: the negation is
taken over a document set that still holds the deleted version (seen in agentmem's tests; close
to weaviate#6701). Positive filters are not affected. So, on a server before
``lifecycle.DELETES_FIXED_IN`` (1.38.5, which answers them right), results of a filter that
contains a negation are re-checked here, with the very tokens that were stored, before they are
returned or deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from agentmem import filters as f
from agentmem._weaviate.records import MemoryRecord, Scope
from agentmem._weaviate.schema import is_number, kv_tokens, token

__all__ = ["has_negation", "in_scope"]

_RANGE: dict[type, Callable[[float, float], bool]] = {
    f.Gt: lambda a, b: a > b,
    f.Gte: lambda a, b: a >= b,
    f.Lt: lambda a, b: a < b,
    f.Lte: lambda a, b: a <= b,
}


def has_negation(node: f.Filter | None) -> bool:
    """Whether compiling ``node`` produces a Weaviate negation anywhere."""
    if node is None:
        return False
    if isinstance(node, (f.Ne, f.NotIn, f.Not, f.IsNull)):
        return True
    if isinstance(node, f.And) and not node.children:
        return True  # And() compiles to ALWAYS, itself a negation of NEVER
    if isinstance(node, (f.And, f.Or)):
        return any(has_negation(c) for c in node.children)
    return False


def matches(node: f.Filter | None, metadata: Mapping[str, Any]) -> bool:
    """What the stored tokens of ``metadata`` say about ``node`` (the translator's semantics)."""
    if node is None:
        return True
    return _eval(node, metadata, set(kv_tokens(metadata)))


def _eval(node: f.Filter, meta: Mapping[str, Any], tokens: set[str]) -> bool:
    if isinstance(node, f.Eq):
        return token("v", node.key, node.value) in tokens
    if isinstance(node, f.Ne):
        return token("v", node.key, node.value) not in tokens
    if isinstance(node, f.In):
        return any(token("v", node.key, v) in tokens for v in node.values)
    if isinstance(node, f.NotIn):
        return not any(token("v", node.key, v) in tokens for v in node.values)
    if isinstance(node, f.Contains):
        return token("e", node.key, node.value) in tokens
    if isinstance(node, f.IsNull):
        return node.key not in meta or meta[node.key] is None
    if isinstance(node, (f.Gt, f.Gte, f.Lt, f.Lte)):
        value = meta.get(node.key)
        if not isinstance(value, (int, float)) or not is_number(value):
            return False
        return _RANGE[type(node)](float(value), float(node.value))
    if isinstance(node, f.And):
        return all(_eval(c, meta, tokens) for c in node.children)
    if isinstance(node, f.Or):
        return any(_eval(c, meta, tokens) for c in node.children)
    if isinstance(node, f.Not):
        return not _eval(node.child, meta, tokens)
    return False


def in_scope(scope: Scope, record: MemoryRecord) -> bool:
    """Whether ``record`` satisfies every condition of ``scope``."""
    if scope.ids is not None and record.id not in scope.ids:
        return False
    if scope.ref_doc_ids is not None and record.ref_doc_id not in scope.ref_doc_ids:
        return False
    if scope.namespace is not None:
        namespace = record.namespace
        if namespace is None or tuple(namespace[: len(scope.namespace)]) != tuple(scope.namespace):
            return False
        if record.expires_at is not None and record.expires_at <= time.time():
            return False
    return matches(scope.filter, record.metadata)
