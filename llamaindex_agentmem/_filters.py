"""LlamaIndex ``MetadataFilters`` (nested AND/OR/NOT) to the agentmem filter tree.

Semantics follow ``llama_index.core.vector_stores.utils.build_metadata_filter_fn``: a missing key
matches only ``!=`` and ``nin``; ``is_empty`` means missing, ``None``, ``""`` or ``[]``;
``contains`` / ``any`` / ``all`` test the elements of a list value; ``NOT`` means none of the
filters match. ``text_match`` and ``text_match_insensitive`` raise
:class:`~agentmem.errors.UnsupportedFilterError` (substring search on metadata is not indexed).
"""

from __future__ import annotations

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from agentmem import filters as f
from agentmem.errors import UnsupportedFilterError

__all__ = ["from_llamaindex"]

_COMPARE: dict[FilterOperator, type[f.Eq | f.Ne | f.Gt | f.Gte | f.Lt | f.Lte | f.Contains]] = {
    FilterOperator.EQ: f.Eq,
    FilterOperator.NE: f.Ne,
    FilterOperator.GT: f.Gt,
    FilterOperator.GTE: f.Gte,
    FilterOperator.LT: f.Lt,
    FilterOperator.LTE: f.Lte,
    FilterOperator.CONTAINS: f.Contains,
}


def from_llamaindex(filters: MetadataFilters | None) -> f.Filter | None:
    """Translate ``filters`` (None or no filters: None).

    Raises:
        UnsupportedFilterError: an operator agentmem cannot run on Weaviate.
    """
    if filters is None or not filters.filters:
        return None
    return _group(filters)


def _group(filters: MetadataFilters) -> f.Filter:
    parts = [
        _group(item) if isinstance(item, MetadataFilters) else _one(item)
        for item in filters.filters
    ]
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.OR:
        return parts[0] if len(parts) == 1 else f.Or(*parts)
    if condition == FilterCondition.NOT:
        return f.Not(parts[0] if len(parts) == 1 else f.Or(*parts))
    return parts[0] if len(parts) == 1 else f.And(*parts)


def _values(item: MetadataFilter) -> list[object]:
    if not isinstance(item.value, list):
        raise UnsupportedFilterError(
            f"operator {item.operator.value!r} wants a list value: {item!r}",
            node=item,
            backend="llamaindex",
        )
    return list(item.value)


def _one(item: MetadataFilter) -> f.Filter:
    op = item.operator
    if op in _COMPARE:
        return _COMPARE[op](item.key, item.value)
    if op == FilterOperator.IN:
        return f.In(item.key, _values(item))
    if op == FilterOperator.NIN:
        return f.NotIn(item.key, _values(item))
    if op == FilterOperator.ANY:
        return f.Or(*[f.Contains(item.key, v) for v in _values(item)])
    if op == FilterOperator.ALL:
        return f.And(*[f.Contains(item.key, v) for v in _values(item)])
    if op == FilterOperator.IS_EMPTY:
        return f.Or(f.IsNull(item.key), f.Eq(item.key, ""), f.Eq(item.key, []))
    raise UnsupportedFilterError(
        f"LlamaIndex operator {op.value!r} is not supported on Weaviate metadata; use ==, !=, "
        "<, <=, >, >=, in, nin, contains, any, all or is_empty",
        node=item,
        backend="llamaindex",
    )
