"""Deletes on a real Weaviate: tombstones only on servers that need them, and their removal.

Weaviate 1.35 answers negated filters wrongly for an id that was deleted and written again, so
there agentmem overwrites deleted memories with tombstones and re-checks negated results in
Python. From ``lifecycle.DELETES_FIXED_IN`` on, deletes are real, nothing is re-checked, and
``setup()`` removes the tombstones written before. Every test here states the behaviour of both
kinds of server, so the pass on the oldest supported Weaviate checks the other side.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter as WFilter

from agentmem import AgentMem, AgentMemSettings
from agentmem._weaviate import codec, lifecycle, plans, schema
from agentmem.errors import SchemaVersionError
from agentmem.filters import Eq, Ne, Not, NotIn
from agentmem.longterm import SCHEMA_VERSION, LongTermMemory, MemoryRecord

pytestmark = pytest.mark.weaviate


@pytest.fixture
def memory(full_mem: AgentMem, unique_collection: str) -> Iterator[LongTermMemory]:
    lt = LongTermMemory(full_mem, tenant="user-1", collection=unique_collection)
    yield lt
    lt.drop_collection()


@pytest.fixture
async def amemory(
    full_settings: AgentMemSettings, unique_collection: str
) -> AsyncIterator[LongTermMemory]:
    mem = AgentMem(full_settings)
    lt = LongTermMemory(mem, tenant="user-1", collection=unique_collection)
    yield lt
    await lt.adrop_collection()
    await mem.aclose()


def _fixed(mem: AgentMem) -> bool:
    return lifecycle.parse_version(mem.weaviate().get_meta()["version"]) >= (
        lifecycle.DELETES_FIXED_IN
    )


def _raw(memory: LongTermMemory) -> Any:
    """The tenant's collection handle on the plain client (at the memory's consistency)."""
    return lifecycle.col(memory.memory.weaviate(), memory._target)


def _stored(memory: LongTermMemory) -> dict[str, bool]:
    """Every object of the tenant, tombstones included: memory id -> is a tombstone."""
    objects = _raw(memory).query.fetch_objects(
        limit=1000, return_properties=["memory_id", "created_at"]
    )
    return {
        o.properties["memory_id"]: o.properties["created_at"] == codec.TOMBSTONE_TIME
        for o in objects.objects
    }


def test_the_server_answers_negations_of_rewritten_ids_right_exactly_from_the_gate(
    memory: LongTermMemory,
) -> None:
    # The reproduction behind the gate, on the plain client: delete for real, write the same ids
    # again, and ask negated filters. Below the gate the server must still show the bug (else
    # the gate could move down); from it on, every answer must be exact.
    records = [
        MemoryRecord("v1", {"n": 1}, id="0"),
        MemoryRecord("other", {"n": 2}, id="1"),
        MemoryRecord("third", {"n": 3}, id="2"),
    ]
    memory.add(records)
    uuids = [schema.id_to_uuid(r.id or "") for r in records]
    _raw(memory).data.delete_many(where=WFilter.by_id().contains_any(uuids))
    memory.add([MemoryRecord("v2", {"n": 1}, id="0"), *records[1:]])
    one = schema.token("v", "n", 1)
    negations = [
        WFilter.by_property("meta_kv").contains_none([one]),
        WFilter.not_(WFilter.by_property("meta_kv").contains_any([one])),
    ]
    answers = [
        sorted(o.properties["memory_id"] for o in _raw(memory).query.fetch_objects(
            filters=where, limit=100, return_properties=["memory_id"]
        ).objects)
        for where in negations
    ]  # fmt: skip
    right = [answer == ["1", "2"] for answer in answers]
    if _fixed(memory.memory):
        assert all(right), answers
    else:
        assert not all(right), f"negations are right here: lower DELETES_FIXED_IN ({answers})"


def test_delete_and_sweep_remove_objects_from_the_gate_and_leave_tombstones_before(
    memory: LongTermMemory,
) -> None:
    fixed = _fixed(memory.memory)
    memory.add([MemoryRecord("a", id="a"), MemoryRecord("b", id="b"), MemoryRecord("c", id="c")])
    memory.add([MemoryRecord("old", id="n1", namespace=("ns",), expires_at=time.time() - 1)])
    assert memory.delete(["a"]) == 1
    assert memory.delete(filter=Ne("k", 1), ids=["b"]) == 1
    assert memory.sweep() == 1
    assert sorted(r.id or "" for r in memory.find()) == ["c"]
    stored = _stored(memory)
    if fixed:
        assert stored == {"c": False}
    else:
        assert stored == {"a": True, "b": True, "c": False, "n1": True}


async def test_async_deletes_follow_the_same_gate(
    amemory: LongTermMemory, memory: LongTermMemory
) -> None:
    # ``memory`` (same collection and tenant, sync client) only looks at what is stored.
    fixed = _fixed(memory.memory)
    await amemory.aadd([MemoryRecord("a", {"k": 1}, id="a"), MemoryRecord("b", id="b")])
    assert await amemory.adelete(filter=Eq("k", 1)) == 1
    await amemory.aadd([MemoryRecord("a", {"k": 2}, id="a")])  # the same id, written again
    assert sorted(r.id or "" for r in await amemory.afind(filter=Ne("k", 1))) == ["a", "b"]
    assert await amemory.aclear() == 2
    assert await amemory.afind() == []
    assert _stored(memory) == ({} if fixed else {"a": True, "b": True})


def test_negated_results_are_checked_again_in_python_only_below_the_gate(
    memory: LongTermMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed = _fixed(memory.memory)
    checked: list[str] = []
    real_in_scope = plans.in_scope

    def counting(scope: Any, record: Any) -> bool:
        checked.append(str(record.id))
        return real_in_scope(scope, record)

    monkeypatch.setattr(plans, "in_scope", counting)
    memory.add([MemoryRecord("tea", {"k": i}, id=str(i)) for i in range(4)])
    memory.delete(["0", "1"])
    memory.add([MemoryRecord("tea again", {"k": i}, id=str(i)) for i in range(2)])
    assert sorted(r.id or "" for r in memory.find(filter=NotIn("k", [1, 2]))) == ["0", "3"]
    assert sorted(h.record.id or "" for h in memory.search("tea", k=5, filter=Not(Eq("k", 0)))) == [
        "1", "2", "3",
    ]  # fmt: skip
    assert memory.delete(filter=Ne("k", 3)) == 3
    assert [r.id for r in memory.find()] == ["3"]
    assert memory.find(filter=Eq("k", 3))  # a positive filter is never checked again
    assert (checked == []) is fixed, checked


def _bury_by_hand(memory: LongTermMemory, ids: list[str]) -> None:
    """Tombstones as an older agentmem (or an older server) left them."""
    data = [DataObject(properties=codec.tombstone(i), uuid=schema.id_to_uuid(i)) for i in ids]
    result = _raw(memory).data.insert_many(data)
    assert not result.errors


def test_setup_migrates_to_real_deletes_and_removes_the_tombstones_of_every_tenant_from_the_gate(
    full_mem: AgentMem, unique_collection: str
) -> None:
    fixed = _fixed(full_mem)
    alice = LongTermMemory(full_mem, tenant="alice", collection=unique_collection)
    bob = LongTermMemory(full_mem, tenant="bob", collection=unique_collection)
    try:
        alice.add([MemoryRecord("kept", {"n": 1}, id="a1"), MemoryRecord("gone", id="a2")])
        bob.add([MemoryRecord("kept too", id="b1")])
        _bury_by_hand(alice, ["a2", "a3"])
        _bury_by_hand(bob, ["b2"])
        # The collection as schema version 2 left it: reads ask for setup() first.
        handle = full_mem.weaviate().collections.use(unique_collection)
        handle.config.update(description=schema.describe(2))
        fresh = AgentMem(full_mem.settings)
        try:
            again = LongTermMemory(fresh, tenant="alice", collection=unique_collection)
            with pytest.raises(SchemaVersionError, match="setup"):
                again.find()
            assert again.setup() == SCHEMA_VERSION
            assert schema.parse_version(handle.config.get().description) == SCHEMA_VERSION
            assert sorted(r.id or "" for r in again.find()) == ["a1"]
            if fixed:
                assert _stored(alice) == {"a1": False} and _stored(bob) == {"b1": False}
            else:  # still needed here
                assert _stored(alice) == {"a1": False, "a2": True, "a3": True}
                assert _stored(bob) == {"b1": False, "b2": True}
            assert again.setup() == SCHEMA_VERSION  # and again: nothing left to do
            again.add([MemoryRecord("back", {"n": 2}, id="a2")])
            assert sorted(r.id or "" for r in again.find(filter=Ne("n", 1))) == ["a2"]
        finally:
            fresh.close()
    finally:
        alice.drop_collection()


def _sent_filter(memory: LongTermMemory, **search: Any) -> Any:
    """The ``filters`` argument the query call of ``memory.search(**search)`` sends."""
    sent: dict[str, Any] = {}
    real_col = plans.col

    class Spy:
        def __init__(self, query: Any) -> None:
            self.query = query

        def __getattr__(self, name: str) -> Any:
            method = getattr(self.query, name)

            def call(*args: Any, **kwargs: Any) -> Any:
                sent.update(kwargs)
                return method(*args, **kwargs)

            return call

    class Handle:
        def __init__(self, handle: Any) -> None:
            self.query = Spy(handle.query)

    plans.col = lambda c, t: Handle(real_col(c, t))  # type: ignore[assignment]
    try:
        memory.search(**search)
    finally:
        plans.col = real_col
    return sent["filters"]


def test_searches_drop_the_alive_filter_only_where_no_tombstone_can_be_and_never_find_one(
    full_mem: AgentMem, unique_collection: str
) -> None:
    fixed = _fixed(full_mem)
    made = LongTermMemory(full_mem, tenant="t", collection=unique_collection)
    other = AgentMem(full_mem.settings)  # another process, which did not make the collection
    try:
        made.add([MemoryRecord("pottery class", id="a", vector=[1.0, 0.0, 0.0]),
                  MemoryRecord("pottery glaze", id="b", vector=[0.0, 1.0, 0.0])])  # fmt: skip
        late = LongTermMemory(other, tenant="t", collection=unique_collection)
        assert made._target.known.clean is fixed  # this process made it
        assert late.search("pottery", k=5) and late._target.known.clean is False
        for lt in (made, late):
            alive = _sent_filter(lt, query="pottery", k=5, mode="bm25")
            assert (alive is None) is lt._target.known.clean, alive
        # A tombstone that a process still taking the server for an old one would leave. It has
        # no text and no vector, so no search finds it, filtered or not; lists keep the filter.
        _bury_by_hand(made, ["b"])
        for lt in (made, late):
            for mode in ("vector", "bm25", "hybrid"):
                hits = lt.search("pottery", vector=[0.0, 1.0, 0.0], k=5, mode=mode)  # type: ignore[arg-type]
                assert [h.record.id for h in hits] == ["a"], (mode, hits)
            assert [r.id for r in lt.find()] == ["a"]
        assert late.setup() == SCHEMA_VERSION  # removes the tombstones where deletes are real
        assert late._target.known.clean is fixed
        assert (_sent_filter(late, query="pottery", k=5, mode="bm25") is None) is fixed
        assert _stored(late) == ({"a": False} if fixed else {"a": False, "b": True})
        made.drop_collection()
        assert made._target.known.clean is False  # whoever makes it next may be older
    finally:
        other.close()
        made.drop_collection()


def test_a_steady_search_sends_one_call_and_the_bm25_window_only_below_its_fix(
    memory: LongTermMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels: list[str] = []
    real_run = memory.memory.run

    def recorded(plan: Any) -> Any:
        try:
            call = next(plan)
            while True:
                labels.append(call.label)
                call = plan.send((yield call))
        except StopIteration as stop:
            return stop.value

    monkeypatch.setattr(
        memory.memory, "run", lambda plan, backend: real_run(recorded(plan), backend)
    )
    memory.add([MemoryRecord("pottery class", id="a", vector=[1.0, 0.0]),
                MemoryRecord("weather", id="b", vector=[0.0, 1.0])])  # fmt: skip
    memory.search("pottery", vector=[1.0, 0.0], k=1, mode="hybrid")  # reads the version once
    server = memory._target.known.server or ()
    windowed = server < lifecycle.BM25_FIXED_IN
    for mode in ("vector", "bm25", "hybrid"):
        labels.clear()
        hits = memory.search("pottery", vector=[1.0, 0.0], k=1, mode=mode)  # type: ignore[arg-type]
        assert [h.record.id for h in hits] == ["a"]
        fetch = ["longterm.search.fetch"] if windowed and mode != "vector" else []
        assert labels == [f"longterm.search.{mode}", *fetch], labels
