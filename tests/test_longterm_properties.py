"""Property-based checks on a real Weaviate: any id, text and JSON metadata round-trip exactly,
and equality filters select exactly what a Python evaluation of the same filter selects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmem.filters import (
    And,
    Contains,
    Eq,
    Filter,
    Gt,
    Gte,
    In,
    IsNull,
    Lt,
    Lte,
    Ne,
    Not,
    NotIn,
    Or,
)
from agentmem.longterm import LongTermMemory, MemoryRecord
from tests.support import WeaviateServer, weaviate_memory

pytestmark = pytest.mark.weaviate

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
_metadata = st.dictionaries(st.text(max_size=12), _json, max_size=6)
_ids = st.text(min_size=1, max_size=40)


@pytest.fixture(scope="module")
def memory(weaviate_server: WeaviateServer) -> Iterator[LongTermMemory]:
    with weaviate_memory(weaviate_server, tenant="props", name="Prop") as lt:
        yield lt


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(memory_id=_ids, text=st.text(max_size=60), metadata=_metadata)
def test_any_id_text_and_json_metadata_round_trip(
    memory: LongTermMemory, memory_id: str, text: str, metadata: dict[str, Any]
) -> None:
    memory.add([MemoryRecord(text, metadata, id=memory_id)])
    (record,) = memory.get([memory_id])
    assert (record.id, record.text, record.metadata) == (memory_id, text, metadata)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    docs=st.lists(
        st.dictionaries(st.sampled_from(["a", "b", "id"]), _json, max_size=3),
        min_size=1,
        max_size=6,
    ),
    key=st.sampled_from(["a", "b", "id"]),
    value=_json,
)
def test_eq_and_ne_select_what_python_selects(
    memory: LongTermMemory, docs: list[dict[str, Any]], key: str, value: Any
) -> None:
    memory.clear()
    memory.add([MemoryRecord(f"doc {i}", meta, id=str(i)) for i, meta in enumerate(docs)])

    def equal(meta: dict[str, Any]) -> bool:
        # Python's == already treats 1 == 1.0; agentmem also keeps True apart from 1.
        return key in meta and _same(meta[key], value)

    expected = {str(i) for i, meta in enumerate(docs) if equal(meta)}
    assert {r.id for r in memory.find(filter=Eq(key, value))} == expected
    assert {r.id for r in memory.find(filter=Ne(key, value))} == {
        str(i) for i in range(len(docs))
    } - expected


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b) and (isinstance(a, (int, float)) == isinstance(b, (int, float)))


_KEYS = st.sampled_from(["a", "b", "id"])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from([0.5, 2.0, -1.5])
    | st.sampled_from(["x", "y", ""])
)
_values = _scalars | st.lists(_scalars, max_size=3)
_numbers = st.integers(-5, 5) | st.sampled_from([0.5, 2.0, -1.5])
_leaf = st.one_of(
    st.builds(Eq, _KEYS, _values),
    st.builds(Ne, _KEYS, _values),
    st.builds(In, _KEYS, st.lists(_scalars, max_size=3)),
    st.builds(NotIn, _KEYS, st.lists(_scalars, max_size=3)),
    st.builds(Contains, _KEYS, _scalars),
    st.builds(IsNull, _KEYS),
    st.builds(Gt, _KEYS, _numbers),
    st.builds(Gte, _KEYS, _numbers),
    st.builds(Lt, _KEYS, _numbers),
    st.builds(Lte, _KEYS, _numbers),
)
_trees = st.recursive(
    _leaf,
    lambda inner: (
        st.builds(lambda c: And(*c), st.lists(inner, max_size=3))
        | st.builds(lambda c: Or(*c), st.lists(inner, max_size=3))
        | st.builds(Not, inner)
    ),
    max_leaves=6,
)


def _spec(node: Filter, meta: dict[str, Any]) -> bool:
    """An independent statement of the filter semantics documented in agentmem.filters."""
    if isinstance(node, (And, Or)):
        results = [_spec(c, meta) for c in node.children]
        return all(results) if isinstance(node, And) else any(results)
    if isinstance(node, Not):
        return not _spec(node.child, meta)
    present = node.key in meta
    value = meta.get(node.key)
    if isinstance(node, Eq):
        return present and _same(value, node.value)
    if isinstance(node, Ne):
        return not (present and _same(value, node.value))
    if isinstance(node, In):
        return present and any(_same(value, v) for v in node.values)
    if isinstance(node, NotIn):
        return not (present and any(_same(value, v) for v in node.values))
    if isinstance(node, Contains):
        return isinstance(value, list) and any(_same(e, node.value) for e in value)
    if isinstance(node, IsNull):
        return value is None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    bound = float(node.value)
    return {Gt: value > bound, Gte: value >= bound, Lt: value < bound, Lte: value <= bound}[
        type(node)
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    docs=st.lists(st.dictionaries(_KEYS, _values, max_size=3), min_size=1, max_size=6),
    tree=_trees,
)
def test_any_filter_tree_selects_what_the_documented_semantics_select(
    memory: LongTermMemory, docs: list[dict[str, Any]], tree: Filter
) -> None:
    memory.clear()
    memory.add([MemoryRecord(f"doc {i}", meta, id=str(i)) for i, meta in enumerate(docs)])
    expected = {str(i) for i, meta in enumerate(docs) if _spec(tree, meta)}
    assert {r.id for r in memory.find(filter=tree)} == expected
