"""AgentMemStore (LangGraph BaseStore) on real Weaviate, checked against InMemoryStore."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langgraph.store.base import BaseStore, GetOp, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

from agentmem import AgentMem, AgentMemSettings, LongTermMemory
from langchain_agentmem import AgentMemStore
from tests.support import HashEmbeddings

pytestmark = pytest.mark.weaviate

INDEX: Any = {"dims": 64, "embed": HashEmbeddings(), "fields": ["text"]}


@pytest.fixture
def store(full_mem: AgentMem, unique_collection: str) -> Iterator[AgentMemStore]:
    s = AgentMemStore(full_mem, tenant="graph", collection=unique_collection, index=INDEX)
    yield s
    s.drop_collections()


@pytest.fixture
async def astore(
    full_settings: AgentMemSettings, unique_collection: str
) -> AsyncIterator[AgentMemStore]:
    mem = AgentMem(full_settings)
    s = AgentMemStore(mem, tenant="graph", collection=unique_collection, index=INDEX)
    yield s
    await s.adrop_collections()
    await mem.aclose()


ITEMS = [
    (("users", "1", "prefs"), "food", {"text": "likes spicy ramen", "rank": 1, "kind": "food"}),
    (("users", "1", "prefs"), "drink", {"text": "drinks green tea", "rank": 2, "kind": "drink"}),
    (("users", "1", "facts"), "city", {"text": "lives in Lisbon", "rank": 3, "kind": "place"}),
    (("users", "2", "prefs"), "food", {"text": "vegetarian, no ramen", "rank": 4, "kind": "food"}),
    (("docs", "a b", "ü,x"), "key with spaces/ü", {"text": "odd labels", "rank": 5, "kind": "odd"}),
]


def _fill(*stores: BaseStore) -> None:
    for s in stores:
        for ns, key, value in ITEMS:
            s.put(ns, key, value)


def _keys(items: list[Any]) -> set[tuple[tuple[str, ...], str]]:
    return {(i.namespace, i.key) for i in items}


def test_put_get_delete_round_trip_with_odd_labels_and_kept_created_at(
    store: AgentMemStore,
) -> None:
    _fill(store)
    ns, key, value = ITEMS[4]
    item = store.get(ns, key)
    assert item is not None and (item.namespace, item.key, item.value) == (ns, key, value)
    time.sleep(0.01)
    store.put(ns, key, {**value, "rank": 50})
    updated = store.get(ns, key)
    assert updated is not None and updated.value["rank"] == 50
    assert updated.created_at == item.created_at and updated.updated_at > item.updated_at
    store.delete(ns, key)
    assert store.get(ns, key) is None
    assert store.get(("nobody",), "nothing") is None


@pytest.mark.parametrize(
    ("prefix", "filter"),
    [
        (("users",), None),
        (("users", "1"), None),
        (("users",), {"kind": "food"}),
        (("users",), {"rank": {"$gt": 1}}),
        (("users",), {"rank": {"$gte": 2, "$lt": 4}}),
        (("users",), {"kind": {"$ne": "food"}}),
        (("users", "2"), {"kind": "drink"}),
        (("docs",), None),
    ],
)
def test_search_filters_and_prefixes_select_what_in_memory_store_selects(
    store: AgentMemStore, prefix: tuple[str, ...], filter: dict[str, Any] | None
) -> None:
    reference = InMemoryStore()
    _fill(store, reference)
    expected = _keys(reference.search(prefix, filter=filter, limit=50))
    assert _keys(store.search(prefix, filter=filter, limit=50)) == expected


def test_semantic_search_ranks_and_scores_like_in_memory_store(store: AgentMemStore) -> None:
    reference = InMemoryStore(index=INDEX)
    _fill(store, reference)
    store.put(("users", "1", "prefs"), "unindexed", {"text": "ramen ramen"}, index=False)
    reference.put(("users", "1", "prefs"), "unindexed", {"text": "ramen ramen"}, index=False)
    ours = store.search(("users",), query="spicy ramen", limit=10)
    theirs = reference.search(("users",), query="spicy ramen", limit=10)
    assert (
        (ours[0].key, ours[0].namespace)
        == (theirs[0].key, theirs[0].namespace)
        == ("food", ("users", "1", "prefs"))
    )
    expected = {(i.namespace, i.key): i.score for i in theirs}
    got = {(i.namespace, i.key): i.score for i in ours}
    assert got.keys() == expected.keys()
    for where, score in expected.items():
        assert got[where] == (None if score is None else pytest.approx(score, abs=1e-4)), where
    scored = [i.score for i in ours if i.score is not None]
    assert scored == sorted(scored, reverse=True)
    assert ours[-1].key == "unindexed" and ours[-1].score is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"prefix": ("users",)},
        {"prefix": ("users", "*", "prefs")},
        {"suffix": ("prefs",)},
        {"max_depth": 2},
        {"prefix": ("users",), "max_depth": 1},
        {"limit": 2, "offset": 1},
    ],
    ids=str,
)
def test_list_namespaces_matches_in_memory_store(
    store: AgentMemStore, kwargs: dict[str, Any]
) -> None:
    reference = InMemoryStore()
    _fill(store, reference)
    assert store.list_namespaces(**kwargs) == reference.list_namespaces(**kwargs)


def test_batch_reads_see_state_before_its_puts_and_last_put_wins(store: AgentMemStore) -> None:
    reference = InMemoryStore()
    ops = [
        PutOp(("b",), "k", {"v": 1}),
        GetOp(("b",), "k"),
        PutOp(("b",), "k", {"v": 2}),
        SearchOp(("b",)),
    ]
    for s in (store, reference):
        results = s.batch(ops)
        assert results[0] is None and results[1] is None and results[3] == []
    assert store.get(("b",), "k").value == reference.get(("b",), "k").value == {"v": 2}  # type: ignore[union-attr]


def _expiry(
    mem: AgentMem, collection: str, tenant: str, namespace: tuple[str, ...], key: str
) -> float:
    """When an item expires, read below the store (epoch seconds)."""
    item_id = '["' + '","'.join([*namespace, key]) + '"]'
    (record,) = LongTermMemory(mem, tenant=tenant, collection=collection).get([item_id])
    assert record.expires_at is not None
    return record.expires_at


def test_ttl_items_expire_refresh_on_read_and_are_swept(
    full_mem: AgentMem, unique_collection: str
) -> None:
    # Expiry times are compared, not waited for, so a slow server (a loaded cluster) cannot
    # make this test fail; the only sleep outlasts a TTL of a few milliseconds.
    store = AgentMemStore(full_mem, tenant="ttl", collection=unique_collection)
    try:
        store.put(("t",), "long", {"v": 1}, ttl=10)  # minutes
        store.put(("t",), "kept", {"v": 2})
        store.put(("t",), "short", {"v": 3}, ttl=0.001)  # 60 ms
        written = _expiry(full_mem, unique_collection, "ttl", ("t",), "long")
        assert store.get(("t",), "long", refresh_ttl=False) is not None
        assert _expiry(full_mem, unique_collection, "ttl", ("t",), "long") == written
        time.sleep(0.1)
        assert store.get(("t",), "long") is not None  # a read refreshes: 10 minutes from now
        refreshed = _expiry(full_mem, unique_collection, "ttl", ("t",), "long")
        assert refreshed > written and refreshed == pytest.approx(time.time() + 600, abs=60)
        assert store.get(("t",), "short") is None
        assert _keys(store.search(("t",))) == {(("t",), "long"), (("t",), "kept")}
        assert store.list_namespaces() == [("t",)]
        assert store.sweep() == 1
    finally:
        store.drop_collections()


def test_tenants_of_one_store_collection_are_isolated(
    full_mem: AgentMem, unique_collection: str
) -> None:
    a = AgentMemStore(full_mem, tenant="a", collection=unique_collection)
    b = AgentMemStore(full_mem, tenant="b", collection=unique_collection)
    try:
        a.put(("users", "1"), "k", {"secret": True})
        assert b.get(("users", "1"), "k") is None
        assert b.search(("users",)) == [] and b.list_namespaces() == []
    finally:
        a.drop_collections()


async def test_async_api_mirrors_sync(astore: AgentMemStore) -> None:
    for ns, key, value in ITEMS:
        await astore.aput(ns, key, value)
    item = await astore.aget(*ITEMS[0][:2])
    assert item is not None and item.value == ITEMS[0][2]
    hits = await astore.asearch(("users",), query="green tea", limit=1)
    assert [(h.key, h.value["kind"]) for h in hits] == [("drink", "drink")]
    assert await astore.alist_namespaces(prefix=("users",), max_depth=2) == [
        ("users", "1"),
        ("users", "2"),
    ]
    await astore.adelete(*ITEMS[0][:2])
    assert await astore.aget(*ITEMS[0][:2]) is None


def test_default_ttl_from_ttl_config_applies_to_puts(
    full_mem: AgentMem, unique_collection: str
) -> None:
    store = AgentMemStore(
        full_mem, tenant="ttl", collection=unique_collection, ttl={"default_ttl": 10}
    )
    try:
        store.put(("t",), "k", {"v": 1})
        expires = _expiry(full_mem, unique_collection, "ttl", ("t",), "k")
        assert expires == pytest.approx(time.time() + 600, abs=60)
        store.put(("t",), "gone", {"v": 2}, ttl=0.001)  # a put's own ttl wins
        time.sleep(0.1)
        assert store.get(("t",), "gone") is None and store.get(("t",), "k") is not None
    finally:
        store.drop_collections()


def test_compiled_graph_nodes_share_memories_through_the_store(store: AgentMemStore) -> None:
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        user: str
        fact: str
        recalled: list[str]

    def remember(state: State, *, store: BaseStore) -> dict[str, Any]:
        store.put(("users", state["user"], "facts"), "f1", {"text": state["fact"]})
        return {}

    def recall(state: State, *, store: BaseStore) -> dict[str, Any]:
        hits = store.search(("users", state["user"]), query="what pet", limit=1)
        return {"recalled": [h.value["text"] for h in hits]}

    builder = StateGraph(State)
    builder.add_node("remember", remember)
    builder.add_node("recall", recall)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", "recall")
    builder.add_edge("recall", END)
    graph = builder.compile(store=store)
    out = graph.invoke({"user": "42", "fact": "has a pet cat named Miso", "recalled": []})
    assert out["recalled"] == ["has a pet cat named Miso"]
    other = graph.invoke({"user": "43", "fact": "likes jazz", "recalled": []})
    assert other["recalled"] == ["likes jazz"]


def _weaviate_tenant_items(mem: AgentMem, collection: str, tenant: str) -> list[str]:
    """The item ids stored in one Weaviate tenant, read below the store."""
    return sorted(
        str(r.id) for r in LongTermMemory(mem, tenant=tenant, collection=collection).find()
    )


def test_tenant_from_namespace_puts_each_user_in_their_own_weaviate_tenant(
    full_mem: AgentMem, unique_collection: str
) -> None:
    store = AgentMemStore(full_mem, collection=unique_collection, tenant_from=1, index=INDEX)
    try:
        store.put(("memories", "alice"), "tea", {"text": "alice drinks green tea"})
        store.put(("memories", "alice", "work"), "desk", {"text": "alice sits by the window"})
        store.put(("memories", "bob"), "tea", {"text": "bob drinks black tea"})
        assert _weaviate_tenant_items(full_mem, unique_collection, "alice") == [
            '["memories","alice","tea"]',
            '["memories","alice","work","desk"]',
        ]
        assert _weaviate_tenant_items(full_mem, unique_collection, "bob") == [
            '["memories","bob","tea"]'
        ]
        hits = store.search(("memories", "alice"), query="tea")
        assert {h.value["text"] for h in hits} == {
            "alice drinks green tea",
            "alice sits by the window",
        }
        assert store.get(("memories", "bob"), "tea").value["text"] == "bob drinks black tea"  # type: ignore[union-attr]
        assert store.list_namespaces(prefix=("memories", "alice")) == [
            ("memories", "alice"),
            ("memories", "alice", "work"),
        ]
        store.delete(("memories", "alice"), "tea")
        assert store.get(("memories", "alice"), "tea") is None
        assert store.get(("memories", "bob"), "tea") is not None
    finally:
        store.drop_collections()


def test_tenant_from_namespace_refuses_a_batch_with_a_namespace_naming_no_tenant(
    full_mem: AgentMem, unique_collection: str
) -> None:
    from agentmem import InvalidInputError

    store = AgentMemStore(full_mem, collection=unique_collection, tenant_from=1)
    try:
        ok = PutOp(("memories", "alice"), "k", {"v": 1})
        with pytest.raises(InvalidInputError, match="element 1"):
            store.batch([ok, GetOp(("memories",), "k")])
        with pytest.raises(InvalidInputError, match="element 1"):
            store.search(("memories",))
        with pytest.raises(InvalidInputError, match="element 1"):
            store.list_namespaces()
        # Nothing of the refused batch was written.
        assert store.get(("memories", "alice"), "k") is None
    finally:
        store.drop_collections()
    with pytest.raises(InvalidInputError, match="tenant_from"):
        AgentMemStore(full_mem, collection=unique_collection, tenant_from=-1)


async def test_tenant_from_namespace_async_and_forget_user(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    from agentmem import aforget_user

    async with AgentMem(full_settings) as mem:
        store = AgentMemStore(mem, collection=unique_collection, tenant_from=0)
        await store.aput(("carol", "prefs"), "tea", {"text": "oolong"})
        await store.aput(("dave", "prefs"), "tea", {"text": "sencha"})
        assert (await store.aget(("carol", "prefs"), "tea")).value == {"text": "oolong"}  # type: ignore[union-attr]
        report = await aforget_user("carol", memory=mem, longterm=True)
        assert unique_collection in report.collections
        # On a cluster the tenant's removal (Raft metadata) reaches the serving node a moment
        # later; on one node it is gone at once.
        deadline = time.monotonic() + 15
        while await store.aget(("carol", "prefs"), "tea") and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert await store.aget(("carol", "prefs"), "tea") is None
        assert [i.value for i in await store.asearch(("dave",))] == [{"text": "sencha"}]
        await store.adrop_collections()


def test_one_store_serves_every_user_of_a_compiled_graph(
    full_mem: AgentMem, unique_collection: str
) -> None:
    from langgraph.graph import END, START, StateGraph
    from langgraph.runtime import Runtime

    def remember(state: dict[str, Any], runtime: Runtime[dict[str, str]]) -> dict[str, Any]:
        user = runtime.context["user_id"]
        assert runtime.store is not None
        runtime.store.put(("memories", user), "last", {"said": state["said"]})
        seen = runtime.store.search(("memories", user))
        return {"said": state["said"], "known": [i.value["said"] for i in seen]}

    builder = StateGraph(dict, context_schema=dict)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    store = AgentMemStore(full_mem, collection=unique_collection, tenant_from=1)
    graph = builder.compile(store=store)
    try:
        assert graph.invoke({"said": "hi"}, context={"user_id": "erin"})["known"] == ["hi"]
        assert graph.invoke({"said": "yo"}, context={"user_id": "finn"})["known"] == ["yo"]
        assert _weaviate_tenant_items(full_mem, unique_collection, "erin") == [
            '["memories","erin","last"]'
        ]
    finally:
        store.drop_collections()


# -- issue 11, item 13: gaps found by LangGraph's own store tests ------------------------------

PATH_INDEX: Any = {"dims": 64, "embed": HashEmbeddings(), "fields": ["key0", "key1", "key3"]}
PATH_DOCS = [
    # Two vectors (key0 is missing: that must not raise).
    ("doc1", {"key1": "xxx", "key2": "yyy", "key3": "zzz"}),
    # Three vectors.
    ("doc2", {"key0": "uuu", "key1": "vvv", "key2": "www", "key3": "xxx"}),
    # One field matches "red apple" exactly; joined with its noisy other field it would not.
    ("doc3", {"key0": "red apple", "key1": "x1 x2 x3 x4 x5 x6 x7"}),
    # Each word in a field of its own: joined, this one would match "red apple" best.
    ("doc4", {"key0": "red", "key1": "apple"}),
]


def _ranking(items: list[Any]) -> list[tuple[str, float | None]]:
    return [(i.key, None if i.score is None else round(i.score, 4)) for i in items]


@pytest.mark.parametrize("query", ["xxx", "red apple", "zzz", "uuu vvv", "apple"])
def test_multi_field_index_keeps_one_vector_per_path_like_in_memory_store(
    full_mem: AgentMem, unique_collection: str, query: str
) -> None:
    store = AgentMemStore(full_mem, tenant="paths", collection=unique_collection, index=PATH_INDEX)
    reference = InMemoryStore(index=PATH_INDEX)
    try:
        for s in (store, reference):
            for key, value in PATH_DOCS:
                s.put(("test",), key, value)
        ours = store.search(("test",), query=query, limit=4)
        theirs = reference.search(("test",), query=query, limit=4)
        # Ties (doc1 and doc2 both hold "xxx" in one field) may come in either order.
        assert sorted(_ranking(ours)) == sorted(_ranking(theirs))
        assert [i.score for i in ours] == sorted((i.score or 0.0 for i in ours), reverse=True)
        assert ours[0].score == pytest.approx(theirs[0].score, abs=1e-4)
    finally:
        store.drop_collections()


def test_per_put_index_paths_updates_and_deletes_keep_path_vectors_in_step(
    full_mem: AgentMem, unique_collection: str
) -> None:
    store = AgentMemStore(full_mem, tenant="paths", collection=unique_collection, index=PATH_INDEX)
    reference = InMemoryStore(index=PATH_INDEX)
    try:
        for s in (store, reference):
            s.put(("t",), "a", {"items": [{"text": "blue whale"}, {"text": "red fox"}]},
                  index=["items[*].text"])  # fmt: skip
            s.put(("t",), "b", {"key0": "red fox den", "key1": "fox"})
        for query in ("red fox", "blue whale"):
            ours = store.search(("t",), query=query)
            theirs = reference.search(("t",), query=query)
            assert _ranking(ours) == _ranking(theirs), query
        # Re-put with fewer indexed texts: the old "red fox" vector of "a" goes (InMemoryStore
        # keeps it, a stale vector; Postgres's store replaces them as we do).
        store.put(("t",), "a", {"items": [{"text": "blue whale"}]}, index=["items[*].text"])
        ranked = _ranking(store.search(("t",), query="red fox"))
        assert ranked[0] == ("b", pytest.approx(0.8165, abs=1e-3)) and ranked[1][0] == "a"
        assert ranked[1][1] is not None and ranked[1][1] < 0.5
        # A search answers with the item as get() does: the new value, the same timestamps.
        (hit,) = [i for i in store.search(("t",), query="blue whale") if i.key == "a"]
        got = store.get(("t",), "a")
        assert got is not None and hit.value == got.value == {"items": [{"text": "blue whale"}]}
        assert (hit.created_at, hit.updated_at) == (got.created_at, got.updated_at)
        store.delete(("t",), "b")
        assert [i.key for i in store.search(("t",), query="fox")] == ["a"]
        paths = LongTermMemory(full_mem, tenant="paths", collection=f"{unique_collection}Paths")
        assert sorted(str(r.id) for r in paths.find()) == ['["t","a"]#0']
    finally:
        store.drop_collections()


def test_search_without_index_ranks_by_bm25_over_the_item_text(
    full_mem: AgentMem, unique_collection: str
) -> None:
    store = AgentMemStore(full_mem, tenant="bm25", collection=unique_collection)
    reference = InMemoryStore()
    docs = [
        ("plain", {"text": "likes green tea", "n": 1}),
        ("once", {"text": "had ramen with sushi", "n": 2}),
        ("nested", {"notes": [{"body": "ramen ramen ramen"}], "n": 3}),
        ("other", {"text": "lives in Lisbon", "n": 4}),
    ]
    try:
        for s in (store, reference):
            for key, value in docs:
                s.put(("m",), key, value)
        hits = store.search(("m",), query="ramen", limit=10)
        # The matches first, best first, with a BM25 relevance; the rest follow unscored.
        assert [h.key for h in hits[:2]] == ["nested", "once"]
        assert hits[0].score is not None and hits[1].score is not None
        assert 1 >= hits[0].score > hits[1].score > 0
        assert all(h.score is None for h in hits[2:])
        assert _keys(hits) == _keys(reference.search(("m",), query="ramen", limit=10))
        # Paging walks the same order, scored matches then the others.
        pages = [store.search(("m",), query="ramen", limit=1, offset=i) for i in range(4)]
        assert [p[0].key for p in pages] == [h.key for h in hits]
        assert store.search(("m",), query="ramen", limit=5, offset=4) == []
        filtered = store.search(("m",), query="ramen", filter={"n": {"$gte": 3}})
        assert [h.key for h in filtered] == ["nested", "other"]
    finally:
        store.drop_collections()


@pytest.mark.parametrize(
    "filter",
    [
        {"rank": {"$eq": float("nan")}},
        {"rank": float("nan")},
        {"rank": {"$gt": float("inf")}},
        {"$or": [{"kind": "food"}, {"rank": {"$in": [1, float("nan")]}}]},
    ],
    ids=["eq", "shorthand", "gt-inf", "nested-in"],
)
def test_a_nan_filter_operand_is_an_input_error_naming_the_filter(
    store: AgentMemStore, filter: dict[str, Any]
) -> None:
    from agentmem import InvalidInputError

    _fill(store)
    with pytest.raises(InvalidInputError, match=r"filter .*(nan|inf)") as info:
        store.search(("users",), filter=filter)
    # It was a SerializationError about "metadata", as if a stored value were at fault.
    assert "metadata" not in str(info.value)
    # Refused before anything in the batch ran: the put beside it was not written.
    with pytest.raises(InvalidInputError, match="filter"):
        store.batch([PutOp(("new",), "k", {"v": 1}), SearchOp(("users",), filter=filter)])
    assert store.get(("new",), "k") is None


def test_forget_user_removes_the_path_vectors_too(
    full_mem: AgentMem, unique_collection: str
) -> None:
    from agentmem import forget_user

    store = AgentMemStore(full_mem, collection=unique_collection, tenant_from=1, index=PATH_INDEX)
    try:
        store.put(("memories", "gina"), "k", {"key0": "likes figs", "key1": "and dates"})
        store.put(("memories", "hal"), "k", {"key0": "likes plums"})
        paths = f"{unique_collection}Paths"
        report = forget_user("gina", memory=full_mem, longterm=True)
        assert {unique_collection, paths} <= set(report.collections)
        # On a cluster the tenant's removal reaches the serving node a moment later.
        gone = LongTermMemory(full_mem, tenant="gina", collection=paths)
        deadline = time.monotonic() + 15
        while gone.missing() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert gone.missing() is not None
        assert store.search(("memories", "gina"), query="figs") == []
        assert [i.key for i in store.search(("memories", "hal"), query="plums")] == ["k"]
    finally:
        store.drop_collections()
