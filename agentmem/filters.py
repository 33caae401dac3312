"""A backend-neutral filter language for long-term memory.

Filters are small immutable trees built from the node classes below and compiled for a backend by
a translator (``agentmem._weaviate.filters`` for Weaviate). A translator that cannot express a node
raises :class:`~agentmem.errors.UnsupportedFilterError`; it never drops part of a filter.

Semantics (the same on every front end, and tested as one table in
``agentmem.testing.filter_cases``):

* ``Eq(key, v)`` matches items whose metadata value at ``key`` equals ``v``. Numbers compare by
  value (``1 == 1.0``), booleans are not numbers, lists and dicts compare as a whole.
* ``Ne`` and ``NotIn`` are the negations of ``Eq`` and ``In``, so an item **without** the key matches.
* ``Gt``/``Gte``/``Lt``/``Lte`` compare numbers only; items whose value is missing or not a number
  never match.
* ``Contains(key, v)``: the value at ``key`` is a list that has ``v`` as an element.
* ``IsNull(key)``: the key is missing or its value is ``None``.
* ``And()`` with no children matches everything; ``Or()`` with none matches nothing.

Building a node checks it: keys are non-empty strings and operands are exact JSON values (no NaN,
no lone surrogates, no non-string dict keys, at most ``agentmem._args.MAX_JSON_DEPTH`` deep), or
:class:`~agentmem.errors.InvalidInputError` names the filter.

Example:
    >>> from agentmem.filters import And, Eq, Gt
    >>> f = And(Eq("topic", "billing"), Gt("priority", 2))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentmem._args import check_json, check_text
from agentmem.errors import InvalidInputError

__all__ = [
    "And",
    "Contains",
    "Eq",
    "Filter",
    "Gt",
    "Gte",
    "In",
    "IsNull",
    "Lt",
    "Lte",
    "Ne",
    "Not",
    "NotIn",
    "Or",
]


def _check_key(key: object) -> None:
    check_text(key, "a filter key")


def _check_value(node: object, key: str, value: object) -> None:
    # Checked when the filter is built, so a bad operand names its filter (a NaN would otherwise
    # surface as a "metadata" error, a lone surrogate as a raw UnicodeEncodeError mid-query).
    check_json(value, f"the value of the filter {type(node).__name__} on {key!r}")


@dataclass(frozen=True, slots=True)
class _Compare:
    key: str
    value: Any

    def __post_init__(self) -> None:
        _check_key(self.key)
        _check_value(self, self.key, self.value)


class Eq(_Compare):
    """The value at ``key`` equals ``value``."""


class Ne(_Compare):
    """The value at ``key`` does not equal ``value`` (a missing key matches)."""


class Gt(_Compare):
    """The numeric value at ``key`` is greater than ``value``."""


class Gte(_Compare):
    """The numeric value at ``key`` is greater than or equal to ``value``."""


class Lt(_Compare):
    """The numeric value at ``key`` is less than ``value``."""


class Lte(_Compare):
    """The numeric value at ``key`` is less than or equal to ``value``."""


class Contains(_Compare):
    """The list at ``key`` has ``value`` as an element."""


@dataclass(frozen=True, slots=True)
class _Members:
    key: str
    values: tuple[Any, ...]

    def __init__(self, key: str, values: Sequence[Any]) -> None:
        _check_key(key)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise InvalidInputError(f"{type(self).__name__} wants a list of values, got {values!r}")
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "values", tuple(values))
        _check_value(self, key, list(self.values))


class In(_Members):
    """The value at ``key`` equals one of ``values``."""


class NotIn(_Members):
    """The value at ``key`` equals none of ``values`` (a missing key matches)."""


@dataclass(frozen=True, slots=True)
class IsNull:
    """The key is missing, or its value is ``None``."""

    key: str

    def __post_init__(self) -> None:
        _check_key(self.key)


@dataclass(frozen=True, slots=True)
class _Group:
    children: tuple[Filter, ...]

    def __init__(self, *children: Filter) -> None:
        for child in children:
            if not isinstance(child, _NODE_TYPES):
                raise InvalidInputError(f"not a filter node: {child!r}")
        object.__setattr__(self, "children", tuple(children))


class And(_Group):
    """Every child matches (no children: everything matches)."""


class Or(_Group):
    """At least one child matches (no children: nothing matches)."""


@dataclass(frozen=True, slots=True)
class Not:
    """The child does not match."""

    child: Filter

    def __post_init__(self) -> None:
        if not isinstance(self.child, _NODE_TYPES):
            raise InvalidInputError(f"not a filter node: {self.child!r}")


Filter = Eq | Ne | Gt | Gte | Lt | Lte | Contains | In | NotIn | IsNull | And | Or | Not
_NODE_TYPES = (_Compare, _Members, IsNull, _Group, Not)
