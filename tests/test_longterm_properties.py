"""Property-based checks on a real Weaviate: any id, text and JSON metadata round-trip exactly,
and equality filters select exactly what a Python evaluation of the same filter selects."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmem import AgentMem, AgentMemSettings, LocalSettings, RedisSettings, WeaviateSettings
from agentmem.filters import Eq, Ne
from agentmem.longterm import LongTermMemory, MemoryRecord

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
def memory(weaviate_server: Any) -> Iterator[LongTermMemory]:
    settings_ = AgentMemSettings(
        redis=RedisSettings(url="redis://127.0.0.1:1/0"),
        weaviate=WeaviateSettings(url=weaviate_server.url, grpc_port=weaviate_server.grpc_port),
        local=LocalSettings(autostart=False),
    )
    with AgentMem(settings_) as mem:
        lt = LongTermMemory(mem, tenant="props", collection=f"Prop{uuid.uuid4().hex[:10]}")
        try:
            yield lt
        finally:
            lt.drop_collection()


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
