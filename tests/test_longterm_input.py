"""Bad input to long-term memory: a typed agentmem error before the first write, sync and async.

Every case here raised a raw builtin or backend exception, was classed as a ``BackendError``, or
was accepted, before agentmem checked and encoded the whole input up front. "Nothing written" is
checked the strongest way there is: the collection (or tenant) the call would have created does
not exist afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmem import SHARED, AgentMem, AgentMemSettings, CheckpointStore, RunStore, SessionStore
from agentmem._args import MAX_JSON_DEPTH, duration_ms
from agentmem._weaviate import codec
from agentmem.errors import (
    AgentMemError,
    ClosedError,
    InvalidInputError,
    PartialWriteError,
    SerializationError,
)
from agentmem.filters import Eq, In
from agentmem.longterm import MAX_MEMORY_BYTES, LongTermMemory, MemoryRecord, Recency
from tests.support import WeaviateServer, nested_dict, weaviate_memory

pytestmark = pytest.mark.weaviate

LONE = "\ud800"  # a lone surrogate: a Python str with no UTF-8 form


@pytest.fixture
def lt(full_mem: AgentMem, unique_collection: str) -> Iterator[LongTermMemory]:
    memory = LongTermMemory(full_mem, tenant="user-42", collection=unique_collection)
    yield memory
    memory.drop_collection()


async def _call(memory: LongTermMemory, flavour: str, method: str, *args: Any, **kw: Any) -> Any:
    if flavour == "sync":
        return getattr(memory, method)(*args, **kw)
    return await getattr(memory, "a" + method)(*args, **kw)


FLAVOURS = ["sync", "async"]

# -- writes: one bad record anywhere, nothing stored ------------------------------------------


@dataclass(frozen=True)
class BadRecord:
    name: str
    record: Callable[[], MemoryRecord]
    error: type[AgentMemError]
    match: str


BAD_RECORDS = [
    BadRecord("surrogate in text", lambda: MemoryRecord(f"a{LONE}b", id="x"),
              SerializationError, "lone surrogate"),
    BadRecord("surrogate in metadata value", lambda: MemoryRecord("t", {"k": [LONE]}, id="x"),
              SerializationError, "lone surrogate"),
    BadRecord("surrogate in metadata key", lambda: MemoryRecord("t", {LONE: 1}, id="x"),
              SerializationError, "lone surrogate"),
    BadRecord("surrogate in a flat str value", lambda: MemoryRecord("t", {"k": f"a{LONE}"}, id="x"),
              SerializationError, r"metadata of memory 'x'\['k'\] is not valid Unicode"),
    BadRecord("surrogate in a flat str key", lambda: MemoryRecord("t", {LONE: "v"}, id="x"),
              SerializationError, "has a key that is not valid Unicode"),
    BadRecord("surrogate in flat extra", lambda: MemoryRecord("t", extra={"k": LONE}, id="x"),
              SerializationError, r"extra data of memory 'x'\['k'\] is not valid Unicode"),
    BadRecord("surrogate in nested key", lambda: MemoryRecord("t", {"a": {LONE: 1}}, id="x"),
              SerializationError, "lone surrogate"),
    BadRecord("surrogate in id", lambda: MemoryRecord("t", id=f"id{LONE}"),
              SerializationError, "lone surrogate"),
    BadRecord("surrogate in ref_doc_id", lambda: MemoryRecord("t", id="x", ref_doc_id=LONE),
              SerializationError, "lone surrogate"),
    BadRecord("surrogate in extra", lambda: MemoryRecord("t", id="x", extra={"e": LONE}),
              SerializationError, "lone surrogate"),
    BadRecord("surrogate in namespace", lambda: MemoryRecord("t", id="x", namespace=("a", LONE)),
              SerializationError, "lone surrogate"),
    BadRecord("metadata nested too deep",
              lambda: MemoryRecord("t", nested_dict(MAX_JSON_DEPTH + 1), id="x"),
              SerializationError, "MAX_JSON_DEPTH"),
    BadRecord("metadata nested past the recursion limit",
              lambda: MemoryRecord("t", nested_dict(5_000), id="x"), SerializationError, "deep"),
    BadRecord("keys that JSON would merge", lambda: MemoryRecord("t", {"m": {1: "x", "1": "y"}}, id="x"),
              SerializationError, "keys must be strings"),
    BadRecord("NaN in metadata", lambda: MemoryRecord("t", {"n": math.nan}, id="x"),
              SerializationError, "finite"),
    BadRecord("expires_at not a number", lambda: MemoryRecord("t", id="x", namespace=("a",),
              expires_at="soon"), InvalidInputError, "expires_at"),  # type: ignore[arg-type]
    BadRecord("expires_at NaN", lambda: MemoryRecord("t", id="x", namespace=("a",),
              expires_at=math.nan), InvalidInputError, "expires_at"),
    BadRecord("expires_at without namespace", lambda: MemoryRecord("t", id="x", expires_at=1e10),
              InvalidInputError, "namespace"),
    BadRecord("document over the size cap", lambda: MemoryRecord("é" * (MAX_MEMORY_BYTES // 2 + 1), id="x"),
              InvalidInputError, "MAX_MEMORY_BYTES"),
    BadRecord("NaN in vector", lambda: MemoryRecord("t", id="x", vector=[1.0, math.nan]),
              InvalidInputError, "NaN"),
    BadRecord("vector of strings", lambda: MemoryRecord("t", id="x", vector=["a", "b"]),  # type: ignore[list-item]
              InvalidInputError, "numbers"),
]  # fmt: skip


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("bad", BAD_RECORDS, ids=lambda b: b.name)
async def test_a_bad_record_after_the_first_batch_raises_typed_and_writes_nothing(
    lt: LongTermMemory, bad: BadRecord, flavour: str
) -> None:
    good = [MemoryRecord(f"good {i}", {"i": i}, id=f"g{i}") for i in range(codec.BATCH + 50)]
    with pytest.raises(bad.error, match=bad.match):
        await _call(lt, flavour, "add", [*good, bad.record()])
    assert lt.missing() is not None  # the collection the write would have created is not there
    lt.add(good[:1])  # and an existing tenant keeps exactly what it had
    with pytest.raises(bad.error, match=bad.match):
        await _call(lt, flavour, "add", [*good[1:], bad.record()])
    assert [r.id for r in lt.find(limit=1000)] == ["g0"]


_BAD_KINDS = {
    "text": lambda i: MemoryRecord(f"bad {LONE}", id=f"b{i}"),
    "metadata": lambda i: MemoryRecord("bad", {"v": f"x{LONE}"}, id=f"b{i}"),
    "key": lambda i: MemoryRecord("bad", {f"k{LONE}": 1}, id=f"b{i}"),
    "depth": lambda i: MemoryRecord("bad", nested_dict(MAX_JSON_DEPTH + 5), id=f"b{i}"),
    "int key": lambda i: MemoryRecord("bad", {"d": {1: 1}}, id=f"b{i}"),
}


@pytest.fixture(scope="module")
def shared_memory(weaviate_server: WeaviateServer) -> Iterator[LongTermMemory]:
    with weaviate_memory(weaviate_server, tenant="batches", name="Input") as memory:
        yield memory


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    size=st.integers(min_value=1, max_value=3 * codec.BATCH + 1),
    kind=st.sampled_from(sorted(_BAD_KINDS)),
)
def test_property_one_bad_record_at_any_position_of_any_size_writes_nothing(
    shared_memory: LongTermMemory, data: st.DataObject, size: int, kind: str
) -> None:
    bad_at = data.draw(st.integers(min_value=0, max_value=size - 1), label="bad_at")
    records = [MemoryRecord(f"memory {i}", {"i": i}, id=f"m{i}") for i in range(size)]
    records[bad_at] = _BAD_KINDS[kind](bad_at)
    with pytest.raises(InvalidInputError):
        shared_memory.add(records)
    assert shared_memory.missing() is not None  # not one batch reached Weaviate


def test_batches_are_cut_by_count_and_by_bytes() -> None:
    small = codec.prepare([MemoryRecord("x", id=str(i)) for i in range(2 * codec.BATCH + 1)])
    assert [len(b) for b in codec.batches(small)] == [codec.BATCH, codec.BATCH, 1]
    big_text = "y" * (MAX_MEMORY_BYTES - 100)
    big = codec.prepare([MemoryRecord(big_text, id=str(i)) for i in range(40)])
    cut = codec.batches(big)
    assert sum(map(len, cut)) == 40 and len(cut) > 1
    assert all(sum(o.size for o in b) <= codec.BATCH_BYTES for b in cut)


def test_a_document_at_the_cap_is_stored(lt: LongTermMemory) -> None:
    text = "z" * (MAX_MEMORY_BYTES - len("{}") * 2)  # metadata and extra are "{}" each
    assert lt.add([MemoryRecord(text, id="big")]) == ["big"]
    assert len(lt.get(["big"])[0].text) == len(text)


# -- reads and other calls: typed errors, nothing created --------------------------------------

BAD_CALLS: list[tuple[str, str, dict[str, Any], type[AgentMemError], str]] = [
    ("get surrogate id", "get", {"ids": [LONE]}, SerializationError, "lone surrogate"),
    ("delete surrogate id", "delete", {"ids": [LONE]}, SerializationError, "lone surrogate"),
    ("find surrogate id", "find", {"ids": [LONE]}, SerializationError, "lone surrogate"),
    ("find surrogate ref", "find", {"ref_doc_ids": [LONE]}, SerializationError, "surrogate"),
    ("search surrogate query", "search", {"query": f"tea{LONE}"}, SerializationError, "surrogate"),
    ("find limit -1", "find", {"limit": -1}, InvalidInputError, "limit"),
    ("find offset str", "find", {"offset": "a"}, InvalidInputError, "offset"),
    ("search mode bogus", "search", {"query": "tea", "mode": "bogus"}, InvalidInputError, "mode"),
    ("empty bm25 query", "search", {"query": "", "mode": "bm25"}, InvalidInputError, "word"),
    ("blank bm25 query", "search", {"query": "  ", "mode": "bm25"}, InvalidInputError, "word"),
    ("NaN query vector", "search", {"vector": [math.nan, 1.0]}, InvalidInputError, "NaN"),
    ("inf query vector", "search", {"vector": [math.inf, 1.0]}, InvalidInputError, "NaN"),
    ("empty query vector", "search", {"vector": []}, InvalidInputError, "empty"),
    ("alpha 5", "search", {"query": "t", "vector": [1.0, 0.0], "alpha": 5}, InvalidInputError,
     "alpha"),
    ("alpha NaN", "search", {"query": "t", "vector": [1.0, 0.0], "alpha": math.nan},
     InvalidInputError, "alpha"),
    ("k 0", "search", {"query": "t", "k": 0}, InvalidInputError, "k must"),
    ("k str", "search", {"query": "t", "k": "3"}, InvalidInputError, "k must"),
    ("offset -1", "search", {"query": "t", "offset": -1}, InvalidInputError, "offset"),
    ("filter not a node", "find", {"filter": {"k": 1}}, InvalidInputError, "filter"),
    ("namespace a string", "find", {"namespace": "abc"}, InvalidInputError, "namespace"),
    ("mmr lambda 2", "mmr_search", {"vector": [1.0, 0.0], "lambda_mult": 2}, InvalidInputError,
     "lambda_mult"),
    ("expiry NaN", "set_expiry", {"updates": [("a", math.nan)]}, InvalidInputError, "expiry"),
    ("expiry not pairs", "set_expiry", {"updates": ["a"]}, InvalidInputError, "pairs"),
    ("records not a list", "add", {"records": MemoryRecord("x")}, InvalidInputError, "list"),
]  # fmt: skip


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("case", BAD_CALLS, ids=lambda c: c[0])
async def test_bad_arguments_raise_typed_errors_and_create_nothing(
    lt: LongTermMemory, case: tuple[str, str, dict[str, Any], type[AgentMemError], str],
    flavour: str,
) -> None:  # fmt: skip
    _, method, kwargs, error, match = case
    with pytest.raises(error, match=match):
        await _call(lt, flavour, method, **kwargs)
    assert lt.missing() is not None


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_query_vector_of_the_wrong_length_is_invalid_input(
    lt: LongTermMemory, flavour: str
) -> None:
    lt.add([MemoryRecord("tea", id="t", vector=[1.0, 0.0, 0.0])])
    for kwargs in ({"vector": [1.0, 0.0]}, {"query": "tea", "vector": [1.0, 0.0]}):
        with pytest.raises(InvalidInputError, match="does not fit"):
            await _call(lt, flavour, "search", **kwargs)
    # Not a backend error, and the right length still answers.
    hits = await _call(lt, flavour, "search", vector=[1.0, 0.0, 0.0])
    assert [h.record.id for h in hits] == ["t"]


def test_bad_filter_operands_name_the_filter() -> None:
    with pytest.raises(InvalidInputError, match="filter key"):
        Eq(f"k{LONE}", 1)
    with pytest.raises(InvalidInputError, match="filter Eq on 'price'"):
        Eq("price", math.nan)
    with pytest.raises(InvalidInputError, match="filter In on 'k'"):
        In("k", ["ok", LONE])
    with pytest.raises(InvalidInputError, match="MAX_JSON_DEPTH"):
        Eq("k", nested_dict(MAX_JSON_DEPTH + 1))


def test_bad_recency_is_refused_when_built() -> None:
    with pytest.raises(InvalidInputError, match="half_life"):
        Recency(half_life_seconds=0)
    with pytest.raises(InvalidInputError, match="weight"):
        Recency(half_life_seconds=10, weight=math.nan)


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, -1.0, 0.0, 1e300, "60", True], ids=repr
)
def test_durations_refuse_nan_infinite_negative_and_absurd(value: Any) -> None:
    # Every store's ttl / max_age goes through duration_ms.
    with pytest.raises(InvalidInputError, match="ttl"):
        duration_ms(value, "ttl")
    assert duration_ms(1.5, "ttl") == 1500


@pytest.mark.parametrize("ttl", [math.nan, math.inf, -5.0], ids=repr)
def test_every_store_refuses_a_nan_infinite_or_negative_ttl(mem: AgentMem, ttl: float) -> None:
    with pytest.raises(InvalidInputError, match="ttl"):
        SessionStore(mem, user_id="u", ttl=ttl)
    with pytest.raises(InvalidInputError, match="ttl"):
        RunStore(mem, ttl=ttl)
    with pytest.raises(InvalidInputError, match="ttl"):
        CheckpointStore(mem, ttl=ttl)
    with pytest.raises(InvalidInputError, match="max_age"):
        CheckpointStore(mem, max_age=ttl)


class _BadEmbedder:
    """Returns NaN vectors, or one vector too few."""

    def __init__(self, how: str) -> None:
        self.how = how

    def _many(self, texts: list[str]) -> list[list[float]]:
        if self.how == "short":
            return [[1.0, 0.0] for _ in texts[1:]]
        return [[math.nan, 0.0] for _ in texts]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._many(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._many([text, text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._many(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self._many([text, text])[0]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("how", ["nan", "short"])
async def test_what_a_bad_embedder_returns_is_refused_before_writing(
    full_mem: AgentMem, unique_collection: str, how: str, flavour: str
) -> None:
    memory = LongTermMemory(
        full_mem, tenant="t", collection=unique_collection, embedder=_BadEmbedder(how)
    )
    records = [MemoryRecord(f"text {i}", id=str(i)) for i in range(codec.BATCH + 1)]
    with pytest.raises(InvalidInputError, match="NaN" if how == "nan" else "embedder returned"):
        await _call(memory, flavour, "add", records)
    if how == "nan":
        with pytest.raises(InvalidInputError, match="NaN"):
            await _call(memory, flavour, "search", "text", mode="vector")
    assert memory.missing() is not None


# -- one API shape ---------------------------------------------------------------------------


def test_tenant_is_required_and_shared_is_explicit(full_mem: AgentMem) -> None:
    for bad in (None, "", 42):
        with pytest.raises(InvalidInputError, match=r"agentmem\.SHARED"):
            LongTermMemory(full_mem, tenant=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        LongTermMemory(full_mem)  # type: ignore[call-arg]
    with pytest.raises(SerializationError, match="lone surrogate"):
        LongTermMemory(full_mem, tenant=f"user{LONE}")
    with pytest.raises(InvalidInputError, match="collection name"):
        LongTermMemory(full_mem, tenant=SHARED, collection="agent-memory")
    with pytest.raises(InvalidInputError, match="AgentMem"):
        LongTermMemory("user-42", tenant=SHARED)  # type: ignore[arg-type]
    assert LongTermMemory(full_mem, tenant=SHARED).tenant == "shared"


def test_with_closes_the_memory_and_refuses_use_after_close(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    with AgentMem(full_settings) as mem:
        with LongTermMemory(mem, tenant="t", collection=unique_collection) as memory:
            memory.add([MemoryRecord("kept", id="k")])
        with pytest.raises(ClosedError):
            memory.find()
        # The borrowed AgentMem stays open for others.
        again = LongTermMemory(mem, tenant="t", collection=unique_collection)
        assert [r.id for r in again.find()] == ["k"]
        again.drop_collection()


async def test_async_with_and_closed_error(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    async with AgentMem(full_settings) as mem:
        async with LongTermMemory(mem, tenant="t", collection=unique_collection) as memory:
            await memory.aadd([MemoryRecord("kept", id="k")])
            assert [r.id for r in await memory.afind()] == ["k"]
        with pytest.raises(ClosedError):
            await memory.asearch("kept")
        await LongTermMemory(mem, tenant="t", collection=unique_collection).adrop_collection()


def test_server_refusal_is_still_a_partial_write(lt: LongTermMemory) -> None:
    # What only the server can know (the length its vectors already have) stays a
    # PartialWriteError naming each refused record; every other check happens before writing.
    lt.add([MemoryRecord("three", id="a", vector=[1.0, 0.0, 0.0])])
    with pytest.raises(PartialWriteError) as info:
        lt.add([MemoryRecord("two", id="b", vector=[1.0, 0.0]), MemoryRecord("none", id="c")])
    assert set(info.value.failed) == {"b"} and info.value.succeeded == ["c"]


def test_a_later_batch_refused_as_a_whole_is_a_partial_write_naming_what_landed(
    lt: LongTermMemory,
) -> None:
    # Weaviate's client raises (instead of listing errors) when every object of a batch fails;
    # that was a BackendError that hid the batches already stored.
    lt.add([MemoryRecord("three", id="first", vector=[1.0, 0.0, 0.0])])
    good = [MemoryRecord(f"g{i}", id=f"g{i}") for i in range(codec.BATCH)]  # BM25 only
    bad = [MemoryRecord(f"b{i}", id=f"b{i}", vector=[1.0, 0.0]) for i in range(5)]
    with pytest.raises(PartialWriteError) as info:
        lt.add([*good, *bad])
    assert info.value.succeeded == [r.id for r in good]
    assert set(info.value.failed) == {r.id for r in bad}
    with pytest.raises(PartialWriteError) as alone:
        lt.add(bad)
    assert alone.value.succeeded == [] and set(alone.value.failed) == {r.id for r in bad}
    assert len(lt.find(limit=1000)) == 1 + codec.BATCH
