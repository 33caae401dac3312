"""Compile an :mod:`agentmem.filters` tree into a Weaviate ``Filter``.

Equality, membership and presence use the canonical tokens of ``meta_kv``/``meta_keys`` (see
:mod:`agentmem._weaviate.schema`), so they work on any metadata key. Range comparisons use the
per-key number properties; when no number was ever written under a key the comparison cannot
match anything and compiles to a filter that matches nothing (not to an error, and not dropped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from weaviate.classes.query import Filter as WFilter
from weaviate.collections.classes.filters import _Filters

from agentmem import filters as f
from agentmem._weaviate.schema import is_number, number_property, token
from agentmem.errors import UnsupportedFilterError

__all__ = ["ALWAYS", "NEVER", "range_keys", "to_weaviate"]

# A token no object can carry (tokens are JSON arrays), so "contains it" is false everywhere.
NEVER = WFilter.by_property("meta_keys").contains_any(["\x00never"])
ALWAYS = WFilter.not_(NEVER)

_RANGE = (f.Gt, f.Gte, f.Lt, f.Lte)


def range_keys(node: f.Filter | None) -> Iterator[str]:
    """Metadata keys compared by range anywhere in ``node``."""
    if node is None:
        return
    if isinstance(node, _RANGE):
        yield node.key
    elif isinstance(node, (f.And, f.Or)):
        for child in node.children:
            yield from range_keys(child)
    elif isinstance(node, f.Not):
        yield from range_keys(node.child)


def to_weaviate(node: f.Filter | None, has_number: Callable[[str], bool]) -> _Filters | None:
    """The Weaviate filter for ``node`` (None for no filter).

    Args:
        node: the filter tree.
        has_number: whether a number property exists for a metadata key.

    Raises:
        UnsupportedFilterError: a node Weaviate cannot express (for example a range comparison
            with a value that is not a number).
    """
    if node is None:
        return None
    return _compile(node, has_number)


def _unsupported(node: object, why: str) -> UnsupportedFilterError:
    return UnsupportedFilterError(f"{why}: {node!r}", node=node, backend="weaviate")


def _kv(tag: str, key: str, values: list[Any]) -> _Filters:
    return WFilter.by_property("meta_kv").contains_any([token(tag, key, v) for v in values])


def _compile(node: f.Filter, has_number: Callable[[str], bool]) -> _Filters:
    if isinstance(node, f.Eq):
        return _kv("v", node.key, [node.value])
    if isinstance(node, f.Ne):
        return WFilter.not_(_kv("v", node.key, [node.value]))
    if isinstance(node, f.In):
        return _kv("v", node.key, list(node.values)) if node.values else NEVER
    if isinstance(node, f.NotIn):
        return WFilter.not_(_kv("v", node.key, list(node.values))) if node.values else ALWAYS
    if isinstance(node, f.Contains):
        return _kv("e", node.key, [node.value])
    if isinstance(node, f.IsNull):
        absent = WFilter.not_(WFilter.by_property("meta_keys").contains_any([node.key]))
        return WFilter.any_of([absent, _kv("v", node.key, [None])])
    if isinstance(node, _RANGE):
        return _range(node, has_number)
    if isinstance(node, f.And):
        parts = [_compile(child, has_number) for child in node.children]
        return WFilter.all_of(parts) if parts else ALWAYS
    if isinstance(node, f.Or):
        parts = [_compile(child, has_number) for child in node.children]
        return WFilter.any_of(parts) if parts else NEVER
    if isinstance(node, f.Not):
        return WFilter.not_(_compile(node.child, has_number))
    raise _unsupported(node, "not a filter node")


def _range(node: f.Gt | f.Gte | f.Lt | f.Lte, has_number: Callable[[str], bool]) -> _Filters:
    if not is_number(node.value):
        raise _unsupported(
            node,
            "range comparisons work on numbers only; store dates as epoch seconds "
            "(a number) to compare them",
        )
    if not has_number(node.key):
        return NEVER
    prop = WFilter.by_property(number_property(node.key))
    value = float(node.value)
    if isinstance(node, f.Gt):
        return prop.greater_than(value)
    if isinstance(node, f.Gte):
        return prop.greater_or_equal(value)
    if isinstance(node, f.Lt):
        return prop.less_than(value)
    return prop.less_or_equal(value)
