"""Long-term memory on a real Weaviate: schema versions, ids, metadata, tenancy, writes, search."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from weaviate.classes.config import Configure

from agentmem import AgentMem, AgentMemSettings
from agentmem._weaviate import lifecycle, plans, schema
from agentmem.errors import InvalidInputError, PartialWriteError, SchemaVersionError
from agentmem.filters import Eq, Gte, IsNull, Ne, Not
from agentmem.local import WEAVIATE_VERSION
from agentmem.longterm import SCHEMA_VERSION, LongTermMemory, MemoryRecord, Recency
from agentmem.testing.embedding import HashingEmbedder

pytestmark = pytest.mark.weaviate


@pytest.fixture
def memory(full_mem: AgentMem, unique_collection: str) -> Iterator[LongTermMemory]:
    lt = LongTermMemory(full_mem, tenant="user-42", collection=unique_collection)
    yield lt
    lt.drop_collection()


@pytest.fixture
async def amemory(
    full_settings: AgentMemSettings, unique_collection: str
) -> AsyncIterator[LongTermMemory]:
    mem = AgentMem(full_settings)
    lt = LongTermMemory(mem, tenant="user-42", collection=unique_collection)
    yield lt
    await lt.adrop_collection()
    await mem.aclose()


# -- schema versions ---------------------------------------------------------------------------


def test_setup_creates_collection_at_current_version_and_is_idempotent(
    memory: LongTermMemory, full_mem: AgentMem
) -> None:
    assert memory.setup() == SCHEMA_VERSION
    assert memory.setup() == SCHEMA_VERSION
    config = full_mem.weaviate().collections.use(memory.collection).config.get()
    assert schema.parse_version(config.description) == SCHEMA_VERSION
    assert config.multi_tenancy_config.enabled


def _create_v1(full_mem: AgentMem, name: str) -> None:
    full_mem.weaviate().collections.create(
        name,
        description=schema.describe(1),
        properties=schema.base_properties(),
        multi_tenancy_config=Configure.multi_tenancy(enabled=True),
        vector_config=Configure.Vectors.self_provided(),
    )


def test_older_collection_needs_setup_which_migrates_it_in_order_keeping_data(
    full_mem: AgentMem, unique_collection: str
) -> None:
    _create_v1(full_mem, unique_collection)
    lt = LongTermMemory(full_mem, tenant="t", collection=unique_collection)
    try:
        with pytest.raises(SchemaVersionError, match="call setup"):
            lt.search("anything")
        assert lt.setup() == SCHEMA_VERSION
        lt.add([MemoryRecord("kept after migration", {"k": 1}, id="m1")])
        config = full_mem.weaviate().collections.use(unique_collection).config.get()
        names = {p.name for p in config.properties}
        assert {"namespace", "ns_prefixes", "expires_at"} <= names
        assert schema.parse_version(config.description) == SCHEMA_VERSION
        assert lt.setup() == SCHEMA_VERSION  # running it again changes nothing
        assert [r.id for r in lt.get(["m1"])] == ["m1"]
    finally:
        lt.drop_collection()


def _keyword_ranking(mem: AgentMem, collection: str) -> tuple[float, float, str]:
    inverted = mem.weaviate().collections.use(collection).config.get().inverted_index_config
    return inverted.bm25.k1, inverted.bm25.b, inverted.stopwords.preset.value


def test_keyword_ranking_is_tuned_on_new_collections_and_migrated_on_old_ones(
    full_mem: AgentMem, unique_collection: str
) -> None:
    tuned = (schema.BM25_K1, schema.BM25_B, "none")
    assert tuned == (1.2, 0.3, "none")
    fresh = LongTermMemory(full_mem, tenant="t", collection=unique_collection + "New")
    old = LongTermMemory(full_mem, tenant="t", collection=unique_collection)
    try:
        fresh.add([MemoryRecord("I did not go to the party", id="m1")])
        assert _keyword_ranking(full_mem, fresh.collection) == tuned
        _create_v1(full_mem, unique_collection)  # Weaviate's defaults, as older agentmem left them
        assert _keyword_ranking(full_mem, unique_collection) == (1.2, 0.75, "en")
        old.setup()
        assert _keyword_ranking(full_mem, unique_collection) == tuned
        for lt in (fresh, old):
            lt.add([MemoryRecord("I did not go to the party", id="m1")])
            # With English stopwords removed from queries, "not" was no query at all.
            assert [h.record.id for h in lt.search("not", k=3, mode="bm25")] == ["m1"]
    finally:
        fresh.drop_collection()
        old.drop_collection()


def test_collection_from_newer_agentmem_is_refused(
    full_mem: AgentMem, unique_collection: str
) -> None:
    full_mem.weaviate().collections.create(
        unique_collection,
        description=schema.describe(SCHEMA_VERSION + 1),
        multi_tenancy_config=Configure.multi_tenancy(enabled=True),
    )
    lt = LongTermMemory(full_mem, tenant="t", collection=unique_collection)
    try:
        with pytest.raises(SchemaVersionError, match="newer"):
            lt.setup()
        with pytest.raises(SchemaVersionError, match="newer"):
            lt.add([MemoryRecord("x")])
    finally:
        lt.drop_collection()


def test_collection_not_made_by_agentmem_is_refused(
    full_mem: AgentMem, unique_collection: str
) -> None:
    full_mem.weaviate().collections.create(unique_collection)
    lt = LongTermMemory(full_mem, tenant="t", collection=unique_collection)
    try:
        with pytest.raises(SchemaVersionError, match="not created by agentmem"):
            lt.setup()
    finally:
        lt.drop_collection()


# -- ids, metadata, upserts ---------------------------------------------------------------------

HOSTILE_IDS = [
    "1", "foo", "a/b c", "-.#,@{}", "ünïcødé 😀", "00000000-0000-0000-0000-000000000001", " ",
    "*", "<õ}𫯦Ç\x95\x88\nt½\x9f\x87/硳\x9dÐ\x10²y\U000ff5bc\x7f",
]  # fmt: skip


def test_any_caller_id_and_any_metadata_round_trip_exactly(memory: LongTermMemory) -> None:
    meta = {
        "id": 1, "vector": [1, 2], "_additional": "x", "ünï key": {"nested": [1, "two", None]},
        "empty": "", "none": None, "float": 0.25, "flag": False,
    }  # fmt: skip
    records = [
        MemoryRecord(f"text {i}", {**meta, "i": i}, id=i_) for i, i_ in enumerate(HOSTILE_IDS)
    ]
    assert memory.add(records) == HOSTILE_IDS
    got = {r.id: r for r in memory.get([*HOSTILE_IDS, "missing"])}
    assert set(got) == set(HOSTILE_IDS)
    for i, i_ in enumerate(HOSTILE_IDS):
        assert got[i_].metadata == {**meta, "i": i}
        assert got[i_].text == f"text {i}"
    assert memory.clear() == len(HOSTILE_IDS) and memory.find() == []


def test_readding_an_id_replaces_it_without_duplicates(memory: LongTermMemory) -> None:
    memory.add([MemoryRecord("old text", {"v": 1}, id="same")])
    memory.add([MemoryRecord("new text", {"v": 2, "added": True}, id="same")])
    assert len(memory.find()) == 1
    (record,) = memory.get(["same"])
    assert (record.text, record.metadata) == ("new text", {"v": 2, "added": True})


def test_generated_ids_are_strings_returned_in_input_order(memory: LongTermMemory) -> None:
    ids = memory.add([MemoryRecord("one"), MemoryRecord("two", id="given"), MemoryRecord("three")])
    assert ids[1] == "given" and len(set(ids)) == 3
    assert {r.id: r.text for r in memory.get(ids)} == dict(
        zip(ids, ["one", "two", "three"], strict=True)
    )


def test_bad_input_anywhere_in_a_batch_writes_nothing(memory: LongTermMemory) -> None:
    good = MemoryRecord("good", id="good")
    with pytest.raises(InvalidInputError, match="JSON"):
        memory.add([good, MemoryRecord("bad", {"s": {1, 2}}, id="bad")])
    with pytest.raises(InvalidInputError, match="one length"):
        memory.add(
            [
                MemoryRecord("a", vector=[1.0, 0.0], id="v1"),
                MemoryRecord("b", vector=[1.0], id="v2"),
            ]
        )
    with pytest.raises(InvalidInputError, match="NaN"):
        memory.add([good, MemoryRecord("nan", vector=[float("nan")], id="nan")])
    assert memory.find() == []


def test_server_refusal_of_some_objects_raises_partial_write_with_both_lists(
    memory: LongTermMemory,
) -> None:
    memory.add([MemoryRecord("three dims", vector=[1.0, 0.0, 0.0], id="first")])
    with pytest.raises(PartialWriteError) as info:
        memory.add(
            [
                MemoryRecord("wrong dims", vector=[1.0, 0.0], id="bad"),
                MemoryRecord("no vector", id="ok"),
            ]
        )
    assert info.value.succeeded == ["ok"]
    assert set(info.value.failed) == {"bad"} and "length" in info.value.failed["bad"]
    assert {r.id for r in memory.find()} == {"first", "ok"}


# -- tenancy ------------------------------------------------------------------------------------


def test_two_tenants_never_see_each_other(full_mem: AgentMem, unique_collection: str) -> None:
    alice = LongTermMemory(full_mem, tenant="alice", collection=unique_collection)
    # A name Weaviate would refuse; it maps to its own hashed tenant.
    bob = LongTermMemory(full_mem, tenant="bob@example.com / ü", collection=unique_collection)
    try:
        alice.add([MemoryRecord("secret plan", {"k": "v"}, id="same-id", vector=[1.0, 0.0])])
        bob.add([MemoryRecord("bob's note", {"k": "v"}, id="other", vector=[1.0, 0.0])])
        assert bob.get(["same-id"]) == []
        assert [h.record.id for h in bob.search("secret plan")] == []
        assert [h.record.id for h in bob.search(vector=[1.0, 0.0])] == ["other"]
        assert [r.id for r in bob.find(filter=Eq("k", "v"))] == ["other"]
        assert bob.delete(["same-id"]) == 0
        bob.clear()
        assert [r.id for r in alice.find()] == ["same-id"]
    finally:
        alice.drop_collection()


def test_tenant_is_created_by_the_first_write_and_then_cached(
    memory: LongTermMemory, full_mem: AgentMem
) -> None:
    # A read creates nothing (tests/test_longterm_reads.py); the first write creates the tenant.
    assert memory.search("nothing yet") == []
    memory.add([MemoryRecord("first", id="1")])
    tenants = (
        full_mem.weaviate().collections.use(memory.collection).tenants.get_by_names(["user-42"])
    )
    assert "user-42" in tenants
    # Later calls, and other memory objects on the same AgentMem, skip the checks.
    again = LongTermMemory(full_mem, tenant="user-42", collection=memory.collection)
    assert again._target.ready and again._target.tenant_ready
    other_tenant = LongTermMemory(full_mem, tenant="user-43", collection=memory.collection)
    assert other_tenant._target.ready and not other_tenant._target.tenant_ready


# -- search -------------------------------------------------------------------------------------


def test_bm25_works_with_no_embedder_and_reports_raw_score_and_relevance(
    memory: LongTermMemory,
) -> None:
    memory.add(
        [
            MemoryRecord("green tea every morning", id="tea"),
            MemoryRecord("strong coffee", id="coffee"),
        ]
    )
    (hit,) = memory.search("tea", k=3)
    assert hit.record.id == "tea" and hit.kind == "bm25"
    assert hit.score > 0 and hit.relevance == pytest.approx(hit.score / (hit.score + 1))


def test_vector_relevance_is_rescaled_cosine_distance(memory: LongTermMemory) -> None:
    memory.add(
        [MemoryRecord("x", id="x", vector=[1.0, 0.0]), MemoryRecord("y", id="y", vector=[0.0, 1.0])]
    )
    hits = memory.search(vector=[1.0, 0.0], k=2)
    assert [h.record.id for h in hits] == ["x", "y"]
    assert hits[0].kind == "distance"
    assert hits[0].score == pytest.approx(0.0, abs=1e-5) and hits[0].relevance == pytest.approx(1.0)
    assert hits[1].score == pytest.approx(1.0, abs=1e-5) and hits[1].relevance == pytest.approx(0.5)


def test_embedder_makes_auto_search_hybrid_with_relevance_in_unit_range(
    full_mem: AgentMem, unique_collection: str
) -> None:
    lt = LongTermMemory(
        full_mem, tenant="t", collection=unique_collection, embedder=HashingEmbedder()
    )
    try:
        lt.add(
            [
                MemoryRecord("the cat sat on the mat", id="cat"),
                MemoryRecord("stock prices fell", id="stock"),
            ]
        )
        hits = lt.search("cat on a mat", k=2)
        assert hits[0].record.id == "cat" and hits[0].kind == "hybrid"
        assert all(0.0 <= h.relevance <= 1.0 for h in hits)
        assert lt.search("cat", mode="vector", k=1)[0].record.id == "cat"
    finally:
        lt.drop_collection()


def test_vector_search_without_vector_or_embedder_says_what_to_do(memory: LongTermMemory) -> None:
    with pytest.raises(InvalidInputError, match="embedder"):
        memory.search("q", mode="vector")


def test_mmr_skips_near_duplicates(memory: LongTermMemory) -> None:
    memory.add([
        MemoryRecord("a", id="a", vector=[1.0, 0.0]),
        MemoryRecord("a copy", id="a2", vector=[0.99, 0.01]),
        MemoryRecord("b", id="b", vector=[0.6, 0.8]),
    ])  # fmt: skip
    plain = [h.record.id for h in memory.search(vector=[1.0, 0.0], k=2)]
    diverse = [h.record.id for h in memory.mmr_search(vector=[1.0, 0.0], k=2, lambda_mult=0.25)]
    assert plain == ["a", "a2"]
    assert diverse == ["a", "b"]


def test_recency_preference_ranks_newer_of_equal_matches_first(memory: LongTermMemory) -> None:
    memory.add([MemoryRecord("meeting notes", id="old")])
    time.sleep(1.2)
    memory.add([MemoryRecord("meeting notes", id="new")])
    hits = memory.search("meeting", k=2, recency=Recency(half_life_seconds=1.0, weight=0.5))
    assert [h.record.id for h in hits] == ["new", "old"]
    assert hits[0].relevance > hits[1].relevance


def test_delete_by_filter_removes_only_matches(memory: LongTermMemory) -> None:
    memory.add([MemoryRecord("a", {"s": 1}, id="a"), MemoryRecord("b", {"s": 2}, id="b")])
    assert memory.delete(filter=Eq("s", 1)) == 1
    assert [r.id for r in memory.find()] == ["b"]
    assert memory.delete() == 0  # no ids and no filter deletes nothing
    assert memory.clear() == 1 and memory.find() == []


# -- async twins --------------------------------------------------------------------------------


async def test_async_methods_mirror_the_sync_ones(amemory: LongTermMemory) -> None:
    assert await amemory.asetup() == SCHEMA_VERSION
    assert await amemory.aadd(
        [MemoryRecord("async tea", {"k": 1}, id="a"), MemoryRecord("other", id="b")]
    ) == ["a", "b"]
    assert [h.record.id for h in await amemory.asearch("tea")] == ["a"]
    assert [r.id for r in await amemory.aget(["a"])] == ["a"]
    assert [r.id for r in await amemory.afind(filter=Eq("k", 1))] == ["a"]
    assert await amemory.adelete(["a"]) == 1
    results = await asyncio.gather(amemory.asearch("other"), amemory.aget(["b"]))
    assert [h.record.id for h in results[0]] == ["b"] and len(results[1]) == 1
    assert await amemory.aclear() == 1


async def test_concurrent_first_use_of_a_new_collection_creates_it_once(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    mem = AgentMem(full_settings)
    first = LongTermMemory(mem, tenant="a", collection=unique_collection)
    second = LongTermMemory(mem, tenant="b", collection=unique_collection)
    try:
        versions = await asyncio.gather(
            first.asetup(), second.aadd([MemoryRecord("raced", id="r")]), first.asearch("raced")
        )
        assert versions[0] == SCHEMA_VERSION and versions[1] == ["r"]
        assert [h.record.id for h in await second.asearch("raced")] == ["r"]
    finally:
        await first.adrop_collection()
        await mem.aclose()


def test_bm25_ranks_a_fresh_rare_term_match_first_despite_common_terms(
    full_mem: AgentMem, unique_collection: str
) -> None:
    # Many fresh (memtable) objects share a common term; one also has two rare terms. Weaviate
    # 1.35's BlockMax-WAND pruned that one from limited queries (weaviate#11780).
    records = [
        MemoryRecord(f"Melanie: talked about the weather and day number {i}", id=f"m{i}")
        for i in range(300)
    ]
    records[150] = MemoryRecord("Melanie: took my kids to a pottery workshop", id="pottery")
    lt = LongTermMemory(full_mem, tenant="t", collection=unique_collection)
    try:
        lt.add(records)
        question = "When did Melanie go to the pottery workshop?"
        hits = lt.search(question, k=3)
        assert hits[0].record.id == "pottery"
        assert hits[0].relevance > hits[1].relevance
    finally:
        lt.drop_collection()


# Known issue on a Weaviate cluster: once (under heavy CPU load, not in 16 isolated tries) a
# range filter right after this race missed one object; see the closing notes of issue 6.
@pytest.mark.single_node
async def test_concurrent_writers_adding_the_same_new_numeric_key_both_succeed(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    mem = AgentMem(full_settings)
    writers = [LongTermMemory(mem, tenant="t", collection=unique_collection) for _ in range(3)]
    try:
        await writers[0].asetup()
        await asyncio.gather(
            *(
                w.aadd([MemoryRecord(f"w{i}", {"score": i}, id=f"w{i}")])
                for i, w in enumerate(writers)
            )
        )
        assert {r.id for r in await writers[0].afind(filter=Gte("score", 1))} == {"w1", "w2"}
    finally:
        await writers[0].adrop_collection()
        await mem.aclose()


def test_negated_filters_stay_exact_after_an_id_is_deleted_and_written_again(
    memory: LongTermMemory,
) -> None:
    # Weaviate 1.35 answers negations wrongly for an object removed and written again; there
    # agentmem deletes by writing tombstones instead, and re-checks negated results. On 1.38.5
    # deletes are real and nothing is re-checked (tests/test_longterm_deletes.py).
    memory.add(
        [MemoryRecord("v1", {"a": None, "n": 1}, id="0"), MemoryRecord("other", {"a": 5}, id="1")]
    )
    memory.clear()
    memory.add(
        [MemoryRecord("v2", {"a": None, "n": 1}, id="0"), MemoryRecord("other", {"a": 5}, id="1")]
    )
    assert {r.id for r in memory.find(filter=Ne("a", None))} == {"1"}
    assert {r.id for r in memory.find(filter=Not(Eq("n", 1)))} == {"1"}
    assert [h.record.id for h in memory.search("v2 other", k=5, filter=Ne("a", None))] == ["1"]
    assert memory.delete(filter=Ne("a", None)) == 1
    assert [r.id for r in memory.find()] == ["0"]
    # The other direction: a rewritten memory must not be left out of a negation either.
    memory.add([MemoryRecord("x", {"k": 1}, id="x1"), MemoryRecord("y", {"k": 1}, id="y1")])
    memory.delete(["x1", "y1"])
    memory.add([MemoryRecord("x", {}, id="x1"), MemoryRecord("y", {}, id="y1")])
    found = [r.id for r in memory.find(filter=IsNull("k"))]
    assert sorted(found) == ["0", "x1", "y1"]  # each once: no duplicates either


def test_drop_tenant_forgets_one_user_entirely_and_others_keep_theirs(
    full_mem: AgentMem, unique_collection: str
) -> None:
    alice = LongTermMemory(full_mem, tenant="alice", collection=unique_collection)
    bob = LongTermMemory(full_mem, tenant="bob", collection=unique_collection)
    try:
        alice.add([MemoryRecord("alice secret", id="a")])
        bob.add([MemoryRecord("bob note", id="b")])
        alice.drop_tenant()
        tenants = (
            full_mem.weaviate().collections.use(unique_collection).tenants.get_by_names(["alice"])
        )
        assert "alice" not in tenants
        assert alice.find() == [] and alice.get(["a"]) == []  # and not created again by reads
        assert [r.id for r in bob.find()] == ["b"]
    finally:
        alice.drop_collection()


def test_asking_for_more_than_the_server_returns_is_a_typed_error(
    memory: LongTermMemory,
) -> None:
    memory.add([MemoryRecord("a", id="a")])
    with pytest.raises(InvalidInputError, match="QUERY_MAXIMUM_RESULTS"):
        memory.find(limit=10_001)
    with pytest.raises(InvalidInputError, match="QUERY_MAXIMUM_RESULTS"):
        memory.find(limit=10, offset=9_995)
    assert [r.id for r in memory.find(limit=10_000)] == ["a"]  # at the limit it answers


# On a cluster, a removed tenant (Raft metadata) reaches the serving node a moment later, so
# "right after removal" is not a state this test can pin there; it runs on one node.
@pytest.mark.single_node
async def test_a_tenant_removed_by_another_process_reads_as_empty_then_takes_writes(
    memory: LongTermMemory, full_settings: AgentMemSettings
) -> None:
    memory.add([MemoryRecord("Ada likes tea", id="tea")])
    assert [r.id for r in memory.find()] == ["tea"]  # this process now knows the tenant
    with AgentMem(full_settings) as other:  # "another process": its own clients and caches
        LongTermMemory(other, tenant="user-42", collection=memory.collection).drop_tenant()
    assert memory.find() == []
    assert memory.search("tea", mode="bm25") == []
    assert memory.get(["tea"]) == []
    async with AgentMem(full_settings) as amem:  # the same through the async client
        again = LongTermMemory(amem, tenant="user-42", collection=memory.collection)
        await again.aadd([MemoryRecord("Ada likes mate", id="mate")])
        assert [r.id for r in await again.afind()] == ["mate"]
        with AgentMem(full_settings) as other:
            LongTermMemory(other, tenant="user-42", collection=memory.collection).drop_tenant()
        assert await again.afind() == []
        assert await again.asearch("mate", mode="bm25") == []
    memory.add([MemoryRecord("Ada likes coffee now", id="coffee")])
    assert [r.id for r in memory.find()] == ["coffee"]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.38.5", (1, 38, 5)),
        ("v1.35.2", (1, 35, 2)),
        ("1.39.0-rc.1", (1, 39, 0)),
        ("1.38.2a", (1, 38, 2)),
        ("1.40", (1, 40)),
        ("", ()),
        ("unknown", ()),
    ],
)
def test_server_versions_parse_to_comparable_tuples(text: str, parsed: tuple[int, ...]) -> None:
    assert lifecycle.parse_version(text) == parsed


def test_the_bm25_window_is_paid_only_on_a_server_without_the_fix(
    full_mem: AgentMem, unique_collection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reported = lifecycle.parse_version(full_mem.weaviate().get_meta()["version"])
    needs_window = reported < lifecycle.BM25_FIXED_IN
    labels: list[str] = []
    real_read = plans._read

    def recording(t: Any, label: str, fn: Any, idempotent: bool = True) -> Any:
        labels.append(label)
        return real_read(t, label, fn, idempotent)

    monkeypatch.setattr(plans, "_read", recording)
    auto = LongTermMemory(full_mem, tenant="t", collection=unique_collection)
    forced = LongTermMemory(full_mem, tenant="t", collection=unique_collection, bm25_window=50)
    try:
        auto.add([MemoryRecord("pottery workshop", id="p"), MemoryRecord("weather", id="w")])
        for lt, wide in ((auto, needs_window), (forced, True), (auto, needs_window)):
            labels.clear()
            assert [h.record.id for h in lt.search("pottery", k=1, mode="bm25")] == ["p"]
            assert ("longterm.search.fetch" in labels) is wide, labels
        assert auto._target.known.server == reported  # asked once, shared by both objects
    finally:
        auto.drop_collection()


def test_the_tests_run_the_weaviate_they_were_asked_for(full_mem: AgentMem) -> None:
    # The pinned one, unless a pass of `make test` chose another on purpose (the oldest supported).
    expected = os.environ.get("AGENTMEM_TEST_WEAVIATE_VERSION", WEAVIATE_VERSION)
    assert full_mem.weaviate().get_meta()["version"] == expected
