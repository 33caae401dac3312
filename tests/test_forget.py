"""Threads and workflow runs are linked to their user, and forget_user() deletes everything of
that user, in Redis and Weaviate, while another user's memory stays whole."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from agentmem import (
    SHARED,
    AgentMem,
    CheckpointStore,
    InvalidInputError,
    LongTermMemory,
    MemoryRecord,
    RunStore,
    SessionStore,
    aforget_user,
    forget_user,
)
from agentmem._weaviate.schema import tenant_name
from langchain_agentmem import AgentMemCheckpointSaver, AgentMemStore

pytestmark = pytest.mark.weaviate


def _graph(saver: AgentMemCheckpointSaver) -> Any:
    builder = StateGraph(dict)
    builder.add_node("n", lambda state: {"x": 1})
    builder.add_edge(START, "n")
    builder.add_edge("n", END)
    return builder.compile(checkpointer=saver)


def _config(thread: str, user: str | None = None) -> Any:
    conf: dict[str, Any] = {"thread_id": thread}
    if user is not None:
        conf["user_id"] = user
    return {"configurable": conf}


def _seed(mem: AgentMem, user: str, collection: str) -> None:
    """One of everything for ``user``: session, two threads, a run, three long-term memories."""
    SessionStore(mem, user_id=user).append("chat", [{"role": "user", "content": f"hi {user}"}])
    graph = _graph(AgentMemCheckpointSaver(mem))
    graph.invoke({"x": 0}, _config(f"{user}-t1", user))
    graph.invoke({"x": 0}, _config(f"{user}-t2", user))
    RunStore(mem).save("flow", f"{user}-run", b"{}", status="paused", user_id=user)
    LongTermMemory(mem, tenant=user).add([MemoryRecord(f"{user} likes tea", id="tea")])
    LongTermMemory(mem, tenant=user, collection=collection).add([MemoryRecord("x", id="x")])
    AgentMemStore(mem, tenant=user).put(("profile",), "name", {"name": user})


def _redis_keys(mem: AgentMem) -> list[str]:
    return sorted(k.decode() for k in mem.redis().scan_iter(match=f"{mem.key_prefix}:*"))


def _tenants(mem: AgentMem, user: str, collections: list[str]) -> list[str]:
    client = mem.weaviate()
    return [c for c in collections if tenant_name(user) in client.collections.use(c).tenants.get()]


def test_threads_run_with_a_user_id_are_listed_for_that_user_only(mem: AgentMem) -> None:
    graph = _graph(AgentMemCheckpointSaver(mem))
    graph.invoke({"x": 0}, _config("a-1", "alice"))
    graph.invoke({"x": 0}, _config("a-1", "alice"))  # the same thread again: listed once
    graph.invoke({"x": 0}, _config("b-1", "bob"))
    graph.invoke({"x": 0}, _config("anon"))
    store = CheckpointStore(mem)
    assert store.threads(user_id="alice") == ["a-1"]
    assert store.threads(user_id="bob") == ["b-1"]
    assert sorted(store.threads()) == ["a-1", "anon", "b-1"]
    # A second saver (another process) links again without a duplicate.
    _graph(AgentMemCheckpointSaver(mem)).invoke({"x": 0}, _config("a-2", "alice"))
    assert store.threads(user_id="alice") == ["a-1", "a-2"]


def test_the_user_can_come_from_the_run_context(mem: AgentMem) -> None:
    @dataclass
    class Context:
        user_id: str

    builder = StateGraph(dict, context_schema=Context)
    builder.add_node("n", lambda state: {"x": 1})
    builder.add_edge(START, "n")
    builder.add_edge("n", END)
    graph = builder.compile(checkpointer=AgentMemCheckpointSaver(mem))
    graph.invoke({"x": 0}, _config("ctx-1"), context=Context(user_id="carol"))
    graph.invoke({"x": 0}, _config("ctx-2"), context={"user_id": "carol"})
    assert CheckpointStore(mem).threads(user_id="carol") == ["ctx-1", "ctx-2"]


def test_linking_can_be_switched_off_or_use_another_key(mem: AgentMem) -> None:
    _graph(AgentMemCheckpointSaver(mem, user_key=None)).invoke({"x": 0}, _config("t", "alice"))
    assert CheckpointStore(mem).threads(user_id="alice") == []
    saver = AgentMemCheckpointSaver(mem, user_key="account")
    _graph(saver).invoke({"x": 0}, {"configurable": {"thread_id": "t2", "account": 42}})
    assert CheckpointStore(mem).threads(user_id="42") == ["t2"]


def test_a_user_id_that_is_not_text_is_refused_before_anything_is_written(mem: AgentMem) -> None:
    graph = _graph(AgentMemCheckpointSaver(mem))
    with pytest.raises(InvalidInputError, match="user_id"):
        graph.invoke({"x": 0}, {"configurable": {"thread_id": "t", "user_id": {"id": 1}}})
    assert _redis_keys(mem) == []
    with pytest.raises(InvalidInputError):
        RunStore(mem).save("flow", "r", b"{}", user_id="")
    with pytest.raises(InvalidInputError):
        RunStore(mem).save("flow", "", b"{}", user_id="alice")  # bad run id: no link either
    assert _redis_keys(mem) == []


def test_runs_saved_with_a_user_are_listed_for_that_user(mem: AgentMem) -> None:
    runs = RunStore(mem)
    runs.save("flow", "r1", b"{}", status="paused", user_id="alice")
    runs.save("other-flow", "r2", b"{}", status="done", user_id="alice")
    runs.save("flow", "r3", b"{}", user_id="bob")
    runs.save("flow", "r4", b"{}")
    found = {(r.workflow, r.run_id, r.status) for r in runs.user_runs("alice")}
    assert found == {("flow", "r1", "paused"), ("other-flow", "r2", "done")}
    runs.delete("flow", "r1")
    assert [r.run_id for r in runs.user_runs("alice")] == ["r2"]  # deleted runs are not listed


def test_forget_user_leaves_no_trace_and_spares_other_users(
    full_mem: AgentMem, unique_collection: str
) -> None:
    ada, bob = f"ada{uuid.uuid4().hex[:8]}", f"bob{uuid.uuid4().hex[:8]}"
    _seed(full_mem, ada, unique_collection)
    _seed(full_mem, bob, unique_collection)
    collections = ["AgentMemory", "AgentMemStore", unique_collection]
    before = _redis_keys(full_mem)
    assert _tenants(full_mem, ada, collections) == collections  # so the check below means something

    report = forget_user(ada, memory=full_mem)

    assert report.sessions == ["chat"]
    assert sorted(report.threads) == [f"{ada}-t1", f"{ada}-t2"]
    assert report.runs == [("flow", f"{ada}-run")]
    assert report.collections == sorted(collections)  # exactly those holding a tenant
    assert _tenants(full_mem, ada, collections) == []
    left = _redis_keys(full_mem)
    assert 0 < len(left) < len(before)
    # No key left holds the user's data, and the shared indexes no longer name them.
    for key in left:
        for value in _values(full_mem, key):
            assert ada not in value, (key, value)
    # Bob is untouched.
    assert _tenants(full_mem, bob, collections) == collections
    assert sorted(CheckpointStore(full_mem).threads(user_id=bob)) == [f"{bob}-t1", f"{bob}-t2"]
    assert SessionStore(full_mem, user_id=bob).count("chat") == 1
    assert [r.run_id for r in RunStore(full_mem).user_runs(bob)] == [f"{bob}-run"]
    assert LongTermMemory(full_mem, tenant=bob).get(["tea"])[0].text == f"{bob} likes tea"
    # Forgetting again finds nothing more.
    again = forget_user(ada, memory=full_mem)
    assert (again.sessions, again.threads, again.runs) == ([], [], [])
    forget_user(bob, memory=full_mem)
    assert _redis_keys(full_mem) == []
    LongTermMemory(full_mem, tenant=SHARED, collection=unique_collection).drop_collection()


def _values(mem: AgentMem, key: str) -> list[str]:
    """Every member, field and value of a key, as text (for the 'no trace' check)."""
    client = mem.redis()
    kind = client.type(key).decode()
    raw: list[Any]
    if kind == "zset":
        raw = client.zrange(key, 0, -1)
    elif kind == "hash":
        raw = [x for pair in client.hgetall(key).items() for x in pair]
    elif kind == "list":
        raw = client.lrange(key, 0, -1)
    elif kind == "string":
        raw = [client.get(key)]
    else:
        raw = [json.dumps(kind)]
    return [r.decode("utf-8", "replace") if isinstance(r, bytes) else str(r) for r in raw]


async def test_aforget_user_is_the_async_twin(full_mem: AgentMem, unique_collection: str) -> None:
    ada = f"ada{uuid.uuid4().hex[:8]}"
    _seed(full_mem, ada, unique_collection)
    async with AgentMem(full_mem.settings) as amem:
        report = await aforget_user(ada, memory=amem, threads=["never-written"])
    assert sorted(report.threads) == [f"{ada}-t1", f"{ada}-t2", "never-written"]
    assert report.runs == [("flow", f"{ada}-run")]
    assert report.sessions == ["chat"]
    assert _tenants(full_mem, ada, ["AgentMemory", "AgentMemStore", unique_collection]) == []
    assert _redis_keys(full_mem) == []
    LongTermMemory(full_mem, tenant=SHARED, collection=unique_collection).drop_collection()


def test_forget_user_can_leave_weaviate_alone_for_redis_only_deployments(mem: AgentMem) -> None:
    # `mem` points Weaviate at a closed port: touching it would fail the call.
    SessionStore(mem, user_id="ada").append("chat", [{"role": "user", "content": "hi"}])
    _graph(AgentMemCheckpointSaver(mem)).invoke({"x": 0}, _config("ada-t", "ada"))
    report = forget_user("ada", memory=mem, longterm=False)
    assert (report.sessions, report.threads, report.collections) == (["chat"], ["ada-t"], [])
    assert _redis_keys(mem) == []


async def test_a_thread_written_again_after_forget_is_linked_again(full_mem: AgentMem) -> None:
    ada = f"ada{uuid.uuid4().hex[:8]}"
    saver = AgentMemCheckpointSaver(full_mem)  # one long-lived saver, as in a server process
    graph = _graph(saver)
    graph.invoke({"x": 0}, _config(ada, ada))
    forget_user(ada, memory=full_mem, longterm=False)
    assert CheckpointStore(full_mem).threads(user_id=ada) == []
    # The user comes back to the same thread id through the same saver (sync and async).
    graph.invoke({"x": 0}, _config(ada, ada))
    assert CheckpointStore(full_mem).threads(user_id=ada) == [ada]
    forget_user(ada, memory=full_mem, longterm=False)
    async with AgentMem(full_mem.settings) as amem:
        agraph = _graph(AgentMemCheckpointSaver(amem))
        await agraph.ainvoke({"x": 0}, _config(ada, ada))
        await aforget_user(ada, memory=amem, longterm=False)
        await agraph.ainvoke({"x": 0}, _config(ada, ada))
    assert CheckpointStore(full_mem).threads(user_id=ada) == [ada]
    report = forget_user(ada, memory=full_mem, longterm=False)
    assert report.threads == [ada] and _redis_keys(full_mem) == []
