"""Threads and workflow runs are linked to their user, and forget_user() deletes everything of
that user, in Redis and Weaviate, while another user's memory stays whole."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from agentmem import (
    SHARED,
    AgentMem,
    AgentMemSettings,
    BackendUnavailable,
    CheckpointStore,
    ForgetIncomplete,
    InvalidInputError,
    LocalSettings,
    LongTermMemory,
    MemoryRecord,
    OwnershipError,
    RetrySettings,
    RunStore,
    SessionStore,
    WeaviateSettings,
    aforget_user,
    forget_user,
)
from agentmem._weaviate.schema import tenant_name
from agentmem.local import LocalStack
from langchain_agentmem import AgentMemCheckpointSaver, AgentMemStore
from tests.support import (
    RedisServer,
    WeaviateServer,
    agentmem_env,
    one_node_graph,
    redis_keys,
    run_cli,
    settings_for,
)

pytestmark = pytest.mark.weaviate


def _config(thread: str, user: str | None = None) -> Any:
    conf: dict[str, Any] = {"thread_id": thread}
    if user is not None:
        conf["user_id"] = user
    return {"configurable": conf}


def _seed(mem: AgentMem, user: str, collection: str) -> None:
    """One of everything for ``user``: session, two threads, a run, three long-term memories."""
    SessionStore(mem, user_id=user).append("chat", [{"role": "user", "content": f"hi {user}"}])
    graph = one_node_graph(AgentMemCheckpointSaver(mem))
    graph.invoke({"x": 0}, _config(f"{user}-t1", user))
    graph.invoke({"x": 0}, _config(f"{user}-t2", user))
    RunStore(mem).save("flow", f"{user}-run", b"{}", status="paused", user_id=user)
    LongTermMemory(mem, tenant=user).add([MemoryRecord(f"{user} likes tea", id="tea")])
    LongTermMemory(mem, tenant=user, collection=collection).add([MemoryRecord("x", id="x")])
    AgentMemStore(mem, tenant=user).put(("profile",), "name", {"name": user})


def _tenants(mem: AgentMem, user: str, collections: list[str]) -> list[str]:
    client = mem.weaviate()
    return [c for c in collections if tenant_name(user) in client.collections.use(c).tenants.get()]


def test_threads_run_with_a_user_id_are_listed_for_that_user_only(mem: AgentMem) -> None:
    graph = one_node_graph(AgentMemCheckpointSaver(mem))
    graph.invoke({"x": 0}, _config("a-1", "alice"))
    graph.invoke({"x": 0}, _config("a-1", "alice"))  # the same thread again: listed once
    graph.invoke({"x": 0}, _config("b-1", "bob"))
    graph.invoke({"x": 0}, _config("anon"))
    store = CheckpointStore(mem)
    assert store.threads(user_id="alice") == ["a-1"]
    assert store.threads(user_id="bob") == ["b-1"]
    assert sorted(store.threads()) == ["a-1", "anon", "b-1"]
    # A second saver (another process) links again without a duplicate.
    one_node_graph(AgentMemCheckpointSaver(mem)).invoke({"x": 0}, _config("a-2", "alice"))
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
    one_node_graph(AgentMemCheckpointSaver(mem, user_key=None)).invoke(
        {"x": 0}, _config("t", "alice")
    )
    assert CheckpointStore(mem).threads(user_id="alice") == []
    saver = AgentMemCheckpointSaver(mem, user_key="account")
    one_node_graph(saver).invoke({"x": 0}, {"configurable": {"thread_id": "t2", "account": 42}})
    assert CheckpointStore(mem).threads(user_id="42") == ["t2"]


def test_a_user_id_that_is_not_text_is_refused_before_anything_is_written(mem: AgentMem) -> None:
    graph = one_node_graph(AgentMemCheckpointSaver(mem))
    with pytest.raises(InvalidInputError, match="user_id"):
        graph.invoke({"x": 0}, {"configurable": {"thread_id": "t", "user_id": {"id": 1}}})
    assert redis_keys(mem) == []
    with pytest.raises(InvalidInputError):
        RunStore(mem).save("flow", "r", b"{}", user_id="")
    with pytest.raises(InvalidInputError):
        RunStore(mem).save("flow", "", b"{}", user_id="alice")  # bad run id: no link either
    assert redis_keys(mem) == []


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
    before = redis_keys(full_mem)
    assert _tenants(full_mem, ada, collections) == collections  # so the check below means something

    report = forget_user(ada, memory=full_mem)

    assert report.sessions == ["chat"]
    assert sorted(report.threads) == [f"{ada}-t1", f"{ada}-t2"]
    assert report.runs == [("flow", f"{ada}-run")]
    assert report.collections == sorted(collections)  # exactly those holding a tenant
    assert _tenants(full_mem, ada, collections) == []
    left = redis_keys(full_mem)
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
    assert redis_keys(full_mem) == []
    LongTermMemory(full_mem, tenant=SHARED, collection=unique_collection).drop_collection()


@pytest.mark.parametrize("use_async", [False, True])
async def test_naming_another_users_thread_refuses_before_anything_is_deleted(
    mem: AgentMem, use_async: bool
) -> None:
    ada, bob = f"ada{uuid.uuid4().hex[:8]}", f"bob{uuid.uuid4().hex[:8]}"
    SessionStore(mem, user_id=ada).append("chat", [{"role": "user", "content": "hi"}])
    graph = one_node_graph(AgentMemCheckpointSaver(mem))
    graph.invoke({"x": 0}, _config(f"{ada}-t", ada))
    graph.invoke({"x": 0}, _config(f"{bob}-t", bob))
    before = {key: _values(mem, key) for key in redis_keys(mem)}
    with pytest.raises(OwnershipError, match=f"{bob}-t"):
        if use_async:
            async with AgentMem(mem.settings) as amem:
                await aforget_user(ada, memory=amem, threads=[f"{bob}-t"], longterm=False)
        else:
            forget_user(ada, memory=mem, threads=[f"{bob}-t"], longterm=False)
    assert {key: _values(mem, key) for key in redis_keys(mem)} == before  # nothing deleted
    report = forget_user(ada, memory=mem, longterm=False)  # without it, the user goes
    assert (report.sessions, report.threads) == (["chat"], [f"{ada}-t"])


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
    assert redis_keys(full_mem) == []
    LongTermMemory(full_mem, tenant=SHARED, collection=unique_collection).drop_collection()


def test_forget_user_can_leave_weaviate_alone_for_redis_only_deployments(mem: AgentMem) -> None:
    # `mem` points Weaviate at a closed port: touching it would fail the call.
    SessionStore(mem, user_id="ada").append("chat", [{"role": "user", "content": "hi"}])
    one_node_graph(AgentMemCheckpointSaver(mem)).invoke({"x": 0}, _config("ada-t", "ada"))
    report = forget_user("ada", memory=mem, longterm=False)
    assert (report.sessions, report.threads, report.collections) == (["chat"], ["ada-t"], [])
    assert redis_keys(mem) == []


async def test_a_thread_written_again_after_forget_is_linked_again(full_mem: AgentMem) -> None:
    ada = f"ada{uuid.uuid4().hex[:8]}"
    saver = AgentMemCheckpointSaver(full_mem)  # one long-lived saver, as in a server process
    graph = one_node_graph(saver)
    graph.invoke({"x": 0}, _config(ada, ada))
    forget_user(ada, memory=full_mem, longterm=False)
    assert CheckpointStore(full_mem).threads(user_id=ada) == []
    # The user comes back to the same thread id through the same saver (sync and async).
    graph.invoke({"x": 0}, _config(ada, ada))
    assert CheckpointStore(full_mem).threads(user_id=ada) == [ada]
    forget_user(ada, memory=full_mem, longterm=False)
    async with AgentMem(full_mem.settings) as amem:
        agraph = one_node_graph(AgentMemCheckpointSaver(amem))
        await agraph.ainvoke({"x": 0}, _config(ada, ada))
        await aforget_user(ada, memory=amem, longterm=False)
        await agraph.ainvoke({"x": 0}, _config(ada, ada))
    assert CheckpointStore(full_mem).threads(user_id=ada) == [ada]
    report = forget_user(ada, memory=full_mem, longterm=False)
    assert report.threads == [ada] and redis_keys(full_mem) == []


# -- Weaviate down: the Redis part goes, the error says so, and a re-run finishes ----------------


def _fast(settings: AgentMemSettings, weaviate: WeaviateSettings) -> AgentMemSettings:
    """One attempt and a short timeout, so a stopped Weaviate is reported at once."""
    short = replace(weaviate, timeout=2.0, startup_timeout=2.0)
    return replace(settings, weaviate=short, retry=RetrySettings(attempts=1))


def _seed_both(mem: AgentMem, user: str) -> None:
    SessionStore(mem, user_id=user).append("chat", [{"role": "user", "content": f"hi {user}"}])
    one_node_graph(AgentMemCheckpointSaver(mem)).invoke({"x": 0}, _config(f"{user}-t", user))
    LongTermMemory(mem, tenant=user).add([MemoryRecord(f"{user} likes tea", id="tea")])


def _check_partial(error: ForgetIncomplete, user: str, advice: str) -> None:
    assert isinstance(error, BackendUnavailable) and error.backend == "weaviate"
    report = error.report
    assert (report.user_id, report.sessions, report.threads, report.runs, report.collections) == (
        user,
        ["chat"],
        [f"{user}-t"],
        [],
        [],
    )
    message = str(error)
    assert "1 chat session, 1 LangGraph thread, 0 workflow runs" in message  # what went
    assert "long-term memory" in message  # what is left
    assert "run it again" in message and advice in message


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_forget_with_weaviate_down_reports_what_went_and_a_rerun_finishes(
    redis_server: RedisServer, stoppable_weaviate: LocalStack, key_prefix: str
) -> None:
    stack = stoppable_weaviate
    server = WeaviateServer(stack.weaviate_url, stack.weaviate_ports.grpc, stack)
    settings = settings_for(redis_server, server, key_prefix)
    settings = _fast(settings, settings.weaviate)
    # The same servers as the local default (no URL for Weaviate), for the advice it gets.
    local = replace(
        settings,
        weaviate=WeaviateSettings(),
        local=LocalSettings(weaviate_port=stack.weaviate_ports.http,
                            weaviate_grpc_port=stack.weaviate_ports.grpc, autostart=False),
    )  # fmt: skip
    local = _fast(local, local.weaviate)
    users = {name: f"{name}{uuid.uuid4().hex[:6]}" for name in ("sync", "async", "cli", "local")}
    with AgentMem(settings) as mem:
        for user in users.values():
            _seed_both(mem, user)
        bystander = redis_keys(mem)

    stack.down()
    with AgentMem(settings) as mem:
        with pytest.raises(ForgetIncomplete) as sync_error:
            forget_user(users["sync"], memory=mem)
        _check_partial(sync_error.value, users["sync"], "AGENTMEM_WEAVIATE_URL")
        assert stack.weaviate_url in str(sync_error.value)
        async with AgentMem(settings) as amem:
            with pytest.raises(ForgetIncomplete) as async_error:
                await aforget_user(users["async"], memory=amem)
        _check_partial(async_error.value, users["async"], "AGENTMEM_WEAVIATE_URL")
    with AgentMem(local) as mem, pytest.raises(ForgetIncomplete) as local_error:
        forget_user(users["local"], memory=mem)
    _check_partial(local_error.value, users["local"], "`agentmem up`")
    # The CLI behaves the same: deletes the Redis part, says what went and what to do.
    env = agentmem_env(redis_server, server, key_prefix, AGENTMEM_TIMEOUT="2")
    cli = run_cli("forget", "--user", users["cli"], "--yes", env=env)
    assert cli.returncode == 1, cli.stderr
    assert "1 chat session, 1 LangGraph thread, 0 workflow runs" in cli.stderr
    assert "run it again" in cli.stderr and "AGENTMEM_WEAVIATE_URL" in cli.stderr
    assert "Traceback" not in cli.stderr
    with AgentMem(settings) as mem:
        for user in users.values():  # the Redis part of every user is gone already
            assert SessionStore(mem, user_id=user).list_sessions() == []
            assert CheckpointStore(mem).threads(user_id=user) == [f"{user}-t"]  # index kept
        assert len(redis_keys(mem)) < len(bystander)

    stack.up(only=["weaviate"])
    with AgentMem(settings) as mem:
        for user in users.values():
            again = forget_user(user, memory=mem)  # the re-run finishes the job
            assert again.collections == ["AgentMemory"]
            assert (again.sessions, again.threads) == ([], [f"{user}-t"])
            assert _tenants(mem, user, ["AgentMemory"]) == []
        assert redis_keys(mem) == []
