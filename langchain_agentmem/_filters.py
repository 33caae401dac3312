"""LangChain-style dict filters (the Mongo-like vocabulary of langchain-postgres and others) to
the agentmem filter tree.

Grammar::

    {"topic": "food"}                          equality (several keys: all must hold)
    {"n": {"$gt": 1, "$lte": 5}}               operators on one key (all must hold)
    {"$and": [f, ...]}, {"$or": [f, ...]}, {"$not": f}

Operators: ``$eq $ne $gt $gte $lt $lte $in $nin $contains $exists`` (``$exists: true``: the key
is present with a non-null value; ``$contains``: a list value has the element). Anything else raises
:class:`~agentmem.errors.UnsupportedFilterError` (nothing is silently dropped). A ready-made
:mod:`agentmem.filters` node is accepted as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmem import filters as f
from agentmem.errors import UnsupportedFilterError

__all__ = ["from_langchain"]

_COMPARE: dict[str, type[f.Eq | f.Ne | f.Gt | f.Gte | f.Lt | f.Lte | f.Contains]] = {
    "$eq": f.Eq,
    "$ne": f.Ne,
    "$gt": f.Gt,
    "$gte": f.Gte,
    "$lt": f.Lt,
    "$lte": f.Lte,
    "$contains": f.Contains,
}


def _bad(node: object, why: str) -> UnsupportedFilterError:
    return UnsupportedFilterError(f"{why}: {node!r}", node=node, backend="langchain-dict")


def from_langchain(spec: Any) -> f.Filter | None:
    """Translate a LangChain-style dict filter (or pass an agentmem filter through).

    Raises:
        UnsupportedFilterError: an unknown operator or a malformed filter.
    """
    if spec is None:
        return None
    if isinstance(spec, f._NODE_TYPES):
        return spec  # type: ignore[return-value]
    if not isinstance(spec, Mapping):
        raise _bad(spec, "a filter must be a dict such as {'topic': 'food'}")
    parts = [_entry(key, value) for key, value in spec.items()]
    return parts[0] if len(parts) == 1 else f.And(*parts)


def _many(op: str, value: Any) -> list[f.Filter]:
    if not isinstance(value, list):
        raise _bad(value, f"{op} wants a list of filters")
    out = []
    for item in value:
        node = from_langchain(item)
        out.append(node if node is not None else f.And())
    return out


def _entry(key: str, value: Any) -> f.Filter:
    if key == "$and":
        return f.And(*_many(key, value))
    if key == "$or":
        return f.Or(*_many(key, value))
    if key == "$not":
        inner = _many(key, value) if isinstance(value, list) else [from_langchain(value) or f.And()]
        return f.Not(inner[0] if len(inner) == 1 else f.And(*inner))
    if key.startswith("$"):
        raise _bad({key: value}, f"unknown logical operator {key}")
    if isinstance(value, Mapping) and value and all(str(k).startswith("$") for k in value):
        parts = [_operator(key, op, arg) for op, arg in value.items()]
        return parts[0] if len(parts) == 1 else f.And(*parts)
    return f.Eq(key, value)


def _operator(key: str, op: str, arg: Any) -> f.Filter:
    if op in _COMPARE:
        return _COMPARE[op](key, arg)
    if op in ("$in", "$nin"):
        if not isinstance(arg, (list, tuple)):
            raise _bad({key: {op: arg}}, f"{op} wants a list")
        return f.In(key, arg) if op == "$in" else f.NotIn(key, arg)
    if op == "$exists":
        if not isinstance(arg, bool):
            raise _bad({key: {op: arg}}, "$exists wants true or false")
        return f.Not(f.IsNull(key)) if arg else f.IsNull(key)
    raise _bad({key: {op: arg}}, f"unsupported operator {op}")
