"""AgentMemStore (LangGraph BaseStore) on real Weaviate, checked against InMemoryStore."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, GetOp, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

from agentmem import AgentMem, AgentMemSettings
from agentmem.testing.embedding import HashingEmbedder
from langchain_agentmem import AgentMemStore

pytestmark = pytest.mark.weaviate
_HASH = HashingEmbedder(dims=64)


class HashEmbeddings(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return _HASH.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return _HASH.embed_query(text)


INDEX: Any = {"dims": 64, "embed": HashEmbeddings(), "fields": ["text"]}


@pytest.fixture
def store(full_mem: AgentMem, unique_collection: str) -> Iterator[AgentMemStore]:
    s = AgentMemStore(full_mem, tenant="graph", collection=unique_collection, index=INDEX)
    yield s
    s.memory.drop_collection()


@pytest.fixture
async def astore(
    full_settings: AgentMemSettings, unique_collection: str
) -> AsyncIterator[AgentMemStore]:
    mem = AgentMem(full_settings)
    s = AgentMemStore(mem, tenant="graph", collection=unique_collection, index=INDEX)
    yield s
    await s.memory.adrop_collection()
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


def test_ttl_items_expire_refresh_on_read_and_are_swept(
    full_mem: AgentMem, unique_collection: str
) -> None:
    store = AgentMemStore(full_mem, tenant="ttl", collection=unique_collection)
    try:
        store.put(("t",), "short", {"v": 1}, ttl=1 / 60)  # one second
        store.put(("t",), "kept", {"v": 2})
        time.sleep(0.6)
        assert store.get(("t",), "short") is not None  # read refreshes: another second from now
        time.sleep(0.6)
        assert store.get(("t",), "short", refresh_ttl=False) is not None
        time.sleep(1.0)
        assert store.get(("t",), "short") is None
        assert _keys(store.search(("t",))) == {(("t",), "kept")}
        assert store.list_namespaces() == [("t",)]
        assert store.sweep() == 1
    finally:
        store.memory.drop_collection()


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
        a.memory.drop_collection()


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
        full_mem, tenant="ttl", collection=unique_collection, ttl={"default_ttl": 1 / 60}
    )
    try:
        store.put(("t",), "k", {"v": 1})
        assert store.get(("t",), "k", refresh_ttl=False) is not None
        time.sleep(1.3)
        assert store.get(("t",), "k") is None
    finally:
        store.memory.drop_collection()


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
    from agentmem import LongTermMemory

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
        store.memory.drop_collection()


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
        store.memory.drop_collection()
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
        await store.memory.adrop_collection()


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
        store.memory.drop_collection()
