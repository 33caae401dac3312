"""A thread belongs to its user: another user naming the same thread id is refused with a typed
error and nothing read or written, through the core store and the LangGraph saver, sync and async;
``forget_user`` of one user never touches another user's thread."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from agentmem import (
    AgentMem,
    CheckpointStore,
    ClosedError,
    InvalidInputError,
    OwnershipError,
    aforget_user,
    forget_user,
)
from agentmem._plan import run_sync
from agentmem._redis import owner_plans as owners
from agentmem.checkpoints import NewCheckpoint, Typed, WriteRecord
from langchain_agentmem import AgentMemCheckpointSaver
from tests.support import one_node_graph, redis_snapshot


def new(thread: str, cid: str = "c1", parent: str | None = None) -> NewCheckpoint:
    return NewCheckpoint(
        thread_id=thread,
        ns="",
        checkpoint_id=cid,
        parent_id=parent,
        checkpoint=Typed("raw", b"cp-" + cid.encode()),
        metadata=Typed("raw", b"md"),
        versions={"v": cid},
        new_values={"v": Typed("raw", cid.encode())},
    )


def cfg(thread: str, user: str | None = None, **extra: Any) -> Any:
    conf: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": "", **extra}
    if user is not None:
        conf["user_id"] = user
    return {"configurable": conf}


# -- the core store ------------------------------------------------------------------------------


def test_the_core_store_refuses_another_users_thread_and_changes_nothing(mem: AgentMem) -> None:
    store = CheckpointStore(mem)
    store.put(new("t"), user_id="alice")
    store.put_writes("t", "", "c1", [WriteRecord("task", 0, "v", Typed("raw", b"w"))])
    store.put(new("bobs"), user_id="bob")
    before = redis_snapshot(mem)
    write = [WriteRecord("task", 1, "v", Typed("raw", b"x"))]
    refused = {
        "put": lambda: store.put(new("t", "c2", "c1"), user_id="bob"),
        "put_writes": lambda: store.put_writes("t", "", "c1", write, user_id="bob"),
        "get": lambda: store.get("t", user_id="bob"),
        "get by id": lambda: store.get("t", "", "c1", user_id="bob"),
        "list": lambda: list(store.list("t", user_id="bob")),
        "list one namespace": lambda: list(store.list("t", ns="", user_id="bob")),
        "delete_thread": lambda: store.delete_thread("t", user_id="bob"),
        "copy from": lambda: store.copy_thread("t", "bob-copy", user_id="bob"),
        "copy into": lambda: store.copy_thread("bobs", "t", user_id="bob"),
        "copy into, unscoped": lambda: store.copy_thread("bobs", "t"),
        "prune": lambda: store.prune("t", user_id="bob"),
        "link_user": lambda: store.link_user("bob", "t"),
    }
    for label, call in refused.items():
        with pytest.raises(OwnershipError, match="another user"):
            call()
        assert redis_snapshot(mem) == before, label
    assert store.threads(user_id="bob") == ["bobs"]
    # Alice, and unscoped maintenance calls, still reach it.
    got = store.get("t", user_id="alice")
    assert got is not None and [w.value.data for w in got.writes] == [b"w"]
    assert store.get("t") is not None
    assert [r.checkpoint_id for r in store.list(user_id="bob")] == ["c1"]  # bob's threads only


async def test_the_core_store_refuses_another_users_thread_async(mem: AgentMem) -> None:
    store = CheckpointStore(mem)
    await store.aput(new("t"), user_id="alice")
    before = redis_snapshot(mem)
    write = [WriteRecord("task", 1, "v", Typed("raw", b"x"))]
    with pytest.raises(OwnershipError):
        await store.aput(new("t", "c2", "c1"), user_id="bob")
    with pytest.raises(OwnershipError):
        await store.aput_writes("t", "", "c1", write, user_id="bob")
    with pytest.raises(OwnershipError):
        await store.aget("t", user_id="bob")
    with pytest.raises(OwnershipError):
        [r async for r in store.alist("t", user_id="bob")]
    with pytest.raises(OwnershipError):
        await store.adelete_thread("t", user_id="bob")
    with pytest.raises(OwnershipError):
        await store.acopy_thread("t", "bob-copy", user_id="bob")
    with pytest.raises(OwnershipError):
        await store.aprune("t", user_id="bob")
    with pytest.raises(OwnershipError):
        await store.alink_user("bob", "t")
    assert redis_snapshot(mem) == before
    assert await store.athreads(user_id="bob") == []
    assert await store.aget("t", user_id="alice") is not None


def test_the_first_user_to_write_an_unowned_thread_makes_it_theirs(mem: AgentMem) -> None:
    store = CheckpointStore(mem)
    store.put(new("t"))  # written without a user: anyone's
    assert store.get("t", user_id="bob") is not None
    store.put(new("t", "c2", "c1"), user_id="alice")
    with pytest.raises(OwnershipError):
        store.get("t", user_id="bob")
    # A copy made without a user belongs to the source's user, so forgetting them misses nothing.
    assert store.copy_thread("t", "t-copy") is True
    with pytest.raises(OwnershipError):
        store.get("t-copy", user_id="bob")
    assert store.threads(user_id="alice") == ["t", "t-copy"]
    # Once deleted, the id is free again.
    store.delete_thread("t", user_id="alice")
    store.put(new("t"), user_id="bob")
    assert store.get("t", user_id="bob") is not None


def test_a_bad_user_id_is_refused_before_anything_is_written(mem: AgentMem) -> None:
    store = CheckpointStore(mem)
    for bad in ("", "lone \ud800 surrogate"):
        with pytest.raises(InvalidInputError, match="user_id"):
            store.put(new("t"), user_id=bad)
    assert redis_snapshot(mem) == {}


# -- the LangGraph saver -------------------------------------------------------------------------


def test_the_saver_refuses_another_users_thread_sync(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    one_node_graph(saver).invoke({"x": 0}, cfg("t", "alice"))
    before = redis_snapshot(mem)
    cp = empty_checkpoint()
    refused = {
        "invoke": lambda: one_node_graph(saver).invoke({"x": 0}, cfg("t", "bob")),
        "invoke, user in context": lambda: one_node_graph(saver).invoke(
            {"x": 0}, cfg("t"), context={"user_id": "bob"}
        ),
        "get_state": lambda: one_node_graph(saver).get_state(cfg("t", "bob")),
        "get_tuple": lambda: saver.get_tuple(cfg("t", "bob")),
        "list": lambda: list(saver.list(cfg("t", "bob"))),
        "put": lambda: saver.put(cfg("t", "bob"), cp, {"step": 9}, {}),
        "put_writes": lambda: saver.put_writes(
            cfg("t", "bob", checkpoint_id=cp["id"]), [("x", 1)], "task"
        ),
        "delete_thread": lambda: saver.delete_thread("t", user_id="bob"),
        "copy_thread": lambda: saver.copy_thread("t", "bob-t", user_id="bob"),
        "prune": lambda: saver.prune(["t"], strategy="delete", user_id="bob"),
    }
    for label, call in refused.items():
        with pytest.raises(OwnershipError):
            call()
        assert redis_snapshot(mem) == before, label
    assert saver.get_tuple(cfg("t", "alice")) is not None
    assert CheckpointStore(mem).threads(user_id="bob") == []


async def test_the_saver_refuses_another_users_thread_async(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    await one_node_graph(saver).ainvoke({"x": 0}, cfg("t", "alice"))
    before = redis_snapshot(mem)
    cp = empty_checkpoint()
    with pytest.raises(OwnershipError):
        await one_node_graph(saver).ainvoke({"x": 0}, cfg("t", "bob"))
    with pytest.raises(OwnershipError):
        await saver.aget_tuple(cfg("t", "bob"))
    with pytest.raises(OwnershipError):
        [t async for t in saver.alist(cfg("t", "bob"))]
    with pytest.raises(OwnershipError):
        await saver.aput(cfg("t", "bob"), cp, {"step": 9}, {})
    with pytest.raises(OwnershipError):
        await saver.aput_writes(cfg("t", "bob", checkpoint_id=cp["id"]), [("x", 1)], "task")
    with pytest.raises(OwnershipError):
        await saver.adelete_thread("t", user_id="bob")
    with pytest.raises(OwnershipError):
        await saver.acopy_thread("t", "bob-t", user_id="bob")
    with pytest.raises(OwnershipError):
        await saver.aprune(["t"], user_id="bob")
    assert redis_snapshot(mem) == before
    assert await saver.aget_tuple(cfg("t", "alice")) is not None


def test_a_users_listing_shows_only_their_threads(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    run = one_node_graph(saver)
    run.invoke({"x": 0}, cfg("alice:1", "alice"))
    run.invoke({"x": 0}, cfg("bob:1", "bob"))
    run.invoke({"x": 0}, cfg("anon"))
    mine = {t.config["configurable"]["thread_id"] for t in saver.list(cfg("", "alice"))}
    assert mine == {"alice:1"}
    everyone = {t.config["configurable"]["thread_id"] for t in saver.list(None)}
    assert everyone == {"alice:1", "bob:1", "anon"}


# -- forget_user ---------------------------------------------------------------------------------


def test_forget_user_never_touches_another_users_thread(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    one_node_graph(saver).invoke({"x": 0}, cfg("shared-id", "alice"))
    with pytest.raises(OwnershipError):
        one_node_graph(saver).invoke({"x": 0}, cfg("shared-id", "bob"))
    # A link left by a writer that died between linking and its refused write.
    item = [owners.Owned("thread", "shared-id")]
    run_sync(owners.link(mem.key_prefix, "bob", item, 0), mem.redis(), mem.settings.retry)
    before = redis_snapshot(mem)
    report = forget_user("bob", memory=mem, longterm=False)
    assert report.threads == []
    del before[owners.owner_key(mem.key_prefix, "bob").encode()]  # only bob's own index went
    assert redis_snapshot(mem) == before
    assert saver.get_tuple(cfg("shared-id", "alice")) is not None
    assert forget_user("alice", memory=mem, longterm=False).threads == ["shared-id"]
    assert redis_snapshot(mem) == {}


async def test_aforget_user_never_touches_another_users_thread(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    await one_node_graph(saver).ainvoke({"x": 0}, cfg("shared-id", "alice"))
    item = [owners.Owned("thread", "shared-id")]
    run_sync(owners.link(mem.key_prefix, "bob", item, 0), mem.redis(), mem.settings.retry)
    report = await aforget_user("bob", memory=mem, longterm=False)
    assert report.threads == []
    assert await saver.aget_tuple(cfg("shared-id", "alice")) is not None
    with pytest.raises(OwnershipError):
        await aforget_user("bob", memory=mem, threads=["shared-id"], longterm=False)
    assert await saver.aget_tuple(cfg("shared-id", "alice")) is not None


# -- one class, one lifecycle --------------------------------------------------------------------


async def test_store_and_saver_take_the_memory_first_and_close_with_with(mem: AgentMem) -> None:
    with pytest.raises(TypeError):
        CheckpointStore(mem, 60)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        AgentMemCheckpointSaver(mem, None)  # type: ignore[call-arg]
    with pytest.raises(InvalidInputError, match="AgentMem"):
        CheckpointStore("redis://localhost")  # type: ignore[arg-type]
    with AgentMemCheckpointSaver(mem) as saver:
        saver.put(cfg("t"), empty_checkpoint(), {}, {})
    with pytest.raises(ClosedError):
        saver.get_tuple(cfg("t"))
    async with AgentMemCheckpointSaver(mem) as asaver:
        assert await asaver.aget_tuple(cfg("t")) is not None
        assert asaver.store.memory is mem
    with pytest.raises(ClosedError):
        await asaver.aget_tuple(cfg("t"))
    mem.redis().ping()  # a borrowed AgentMem stays open
