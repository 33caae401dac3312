"""export_user() writes everything of one user to a JSON Lines file and import_user() puts it
back, ids, timestamps, archive, checkpoints, pending writes and vectors included, into another
deployment; a second import changes nothing, and a truncated or edited file writes nothing."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from agentmem import (
    AgentMem,
    AgentMemSettings,
    BackendUnavailable,
    ExportFileError,
    LongTermMemory,
    MemoryRecord,
    OwnershipError,
    RunStore,
    SessionStore,
    aexport_user,
    aimport_user,
    export_user,
    forget_user,
    import_user,
)
from agentmem._weaviate.codec import TOMBSTONE_TIME
from agentmem._weaviate.schema import tenant_name
from agentmem.testing.embedding import HashingEmbedder
from langchain_agentmem import AgentMemCheckpointSaver, AgentMemStore, AgentMemVectorStore
from tests.support import (
    RedisServer,
    WeaviateServer,
    agentmem_env,
    redis_keys,
    run_cli,
    settings_for,
)

pytestmark = pytest.mark.weaviate


class State(TypedDict, total=False):
    question: str
    answer: str


def _graph(saver: AgentMemCheckpointSaver) -> Any:
    """Two steps, the second waiting on a person (an interrupt: a pending write)."""

    def draft(state: State) -> State:
        return {"answer": f"draft for {state['question']}"}

    def approve(state: State) -> State:
        verdict = interrupt({"question": "approve?", "draft": state["answer"]})
        return {"answer": f"{state['answer']} ({verdict})"}

    builder = StateGraph(State)
    builder.add_node("draft", draft)
    builder.add_node("approve", approve)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "approve")
    builder.add_edge("approve", END)
    return builder.compile(checkpointer=saver)


def _config(thread: str, user: str) -> Any:
    return {"configurable": {"thread_id": thread, "user_id": user}}


class World:
    """A user's data in every memory, and what to compare it with."""

    def __init__(self, user: str, collections: tuple[str, str, str]) -> None:
        self.user = user
        self.collections = collections
        self.threads = [f"{user}-thread"]
        self.sessions = ["chat-a", "chat-b"]
        self.run = ("approval", f"{user}-run")


def _seed(mem: AgentMem, world: World) -> None:
    user = world.user
    store = SessionStore(mem, user_id=user)
    store.append(
        "chat-a",
        [
            {"role": "user", "content": "hi", "ts": "2026-01-01T10:00:00Z", "meta": {"n": 1}},
            {"role": "assistant", "content": "hello ünïcode", "ts": "2026-01-01T10:00:01Z"},
            {"role": "user", "content": "tell me more", "ts": "2026-01-01T10:00:02Z"},
        ],
        ids=["m1", "m2", None],
    )
    snapshot = store.snapshot("chat-a")
    assert store.compact("chat-a", snapshot.messages[:2], "they greeted each other")
    store.set_title("chat-a", "Greetings")
    store.append("chat-b", [{"role": "user", "content": f"second session of {user}"}])
    _graph(AgentMemCheckpointSaver(mem)).invoke(
        {"question": "redis?"}, _config(world.threads[0], user)
    )
    RunStore(mem).save(
        *world.run, b'{"step": 2, "bytes": "\\u0000"}', status="paused", label="Input", user_id=user
    )
    vectors = AgentMemVectorStore(
        mem, tenant=user, embedding=HashingEmbedder(), collection=world.collections[0]
    )
    vectors.add_texts(["Ada drinks green tea", "Ada lives in London"], ids=["d1", "d2"],
                      metadatas=[{"topic": "food"}, {"topic": "home"}])  # fmt: skip
    LongTermMemory(mem, tenant=user, collection=world.collections[1]).add(
        [
            MemoryRecord("likes jazz", {"score": 3, "tags": ["a"]}, id="j", vector=[0.1, 0.2]),
            MemoryRecord("pref", id="p", vector=[0.3, 0.4], namespace=("prefs",), expires_at=4e9),
        ]
    )
    AgentMemStore(mem, tenant=user, collection=world.collections[2]).put(
        ("profile",), "name", {"name": user, "langs": ["en", "fr"]}, index=False
    )
    gone = LongTermMemory(mem, tenant=user, collection=world.collections[1])
    gone.add([MemoryRecord("deleted before the export", id="gone", vector=[0.5, 0.5])])
    assert gone.delete(ids=["gone"]) == 1


def _objects(mem: AgentMem, user: str, collection: str) -> dict[str, Any]:
    """Every live object of the user's tenant, read with Weaviate's own client."""
    client = mem.weaviate()
    coll = client.collections.use(collection)
    if tenant_name(user) not in coll.tenants.get():
        return {}
    found = coll.with_tenant(tenant_name(user)).query.fetch_objects(limit=1000, include_vector=True)
    out = {}
    for o in found.objects:
        if o.properties["created_at"] <= TOMBSTONE_TIME:
            continue
        vector = o.vector.get("default") if isinstance(o.vector, dict) else o.vector
        props = {k: v for k, v in o.properties.items() if v is not None}
        out[str(o.uuid)] = (props, [round(x, 6) for x in vector] if vector else None)
    return out


def _state(mem: AgentMem, world: World) -> dict[str, Any]:
    """Everything of the user as the public APIs (and Weaviate's client) show it."""
    user = world.user
    store = SessionStore(mem, user_id=user)
    sessions = {}
    for info in store.list_sessions():
        sessions[info.session_id] = {
            "info": info,
            "active": [(m.id, m.data_json) for m in store.read(info.session_id)],
            "archived": [(m.id, m.data_json) for m in store.read(info.session_id, archived=True)],
            "summary": store.snapshot(info.session_id).summary,
        }
    saver = AgentMemCheckpointSaver(mem)
    threads = {}
    for thread in world.threads:
        config = {"configurable": {"thread_id": thread}}
        threads[thread] = {
            "tuple": saver.get_tuple(config),
            "list": list(saver.list(config)),
        }
    runs = RunStore(mem)
    return {
        "sessions": sessions,
        "threads": threads,
        "linked": sorted(saver._store.threads(user_id=user)),
        "run": runs.get(*world.run),
        "user_runs": runs.user_runs(user),
        "memories": {c: _objects(mem, user, c) for c in world.collections},
    }


def _check_seeded(state: dict[str, Any]) -> None:
    """The seed is all there (so comparing states compares something)."""
    a = state["sessions"]["chat-a"]
    assert [i for i, _ in a["archived"]] == ["m1", "m2"] and len(a["active"]) == 1
    assert a["info"].title == "Greetings" and a["summary"] == "they greeted each other"
    assert len(state["sessions"]) == 2
    (thread,) = state["threads"].values()
    assert thread["tuple"].pending_writes and len(thread["list"]) >= 3
    assert state["run"].data == b'{"step": 2, "bytes": "\\u0000"}' and state["user_runs"]
    counts = [len(m) for m in state["memories"].values()]
    assert counts == [2, 2, 1]
    vectors, direct, _ = state["memories"].values()
    assert all(v is not None for m in (vectors, direct) for _, v in m.values())


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def world(unique_collection: str) -> World:
    names = (f"{unique_collection}V", f"{unique_collection}L", f"{unique_collection}S")
    return World(f"ada-{uuid.uuid4().hex[:8]}", names)


@pytest.fixture
def target(redis_server: RedisServer, weaviate_server: WeaviateServer) -> Any:
    """An AgentMem on the same servers under another key prefix: another deployment."""
    with AgentMem(settings_for(redis_server, weaviate_server, f"t{uuid.uuid4().hex[:12]}")) as m:
        yield m
        for key in redis_keys(m):
            m.redis().delete(key)


@pytest.fixture
def dropped(full_mem: AgentMem, world: World) -> Any:
    yield
    for name in world.collections:
        LongTermMemory(full_mem, tenant="x", collection=name).drop_collection()


def _export_and_forget(mem: AgentMem, world: World, path: Path, **kw: Any) -> dict[str, Any]:
    """Seed, export, and forget the user at the source (so the servers hold nothing of them)."""
    _seed(mem, world)
    other = World(f"bob-{uuid.uuid4().hex[:8]}", world.collections)
    _seed(mem, other)
    before = _state(mem, world)
    _check_seeded(before)
    report = export_user(world.user, path, memory=mem, **kw)
    assert report.counts() == {"session": 2, "thread": 1, "run": 1, "memory": 5}
    assert report.messages == 4 and sorted(report.collections) == sorted(world.collections)
    text = path.read_text()
    assert other.user not in text  # nothing of another user
    forget_user(world.user, memory=mem)
    _check_seeded(_state(mem, other))
    return before


def test_a_round_trip_into_another_deployment_keeps_everything(
    full_mem: AgentMem, target: AgentMem, world: World, dropped: None, tmp_path: Path
) -> None:
    path = tmp_path / "ada.jsonl"
    before = _export_and_forget(full_mem, world, path)
    lines = _lines(path)
    assert lines[0]["agentmem_export"] == 1 and lines[0]["user_id"] == world.user
    assert lines[0]["vectors"] is True
    assert [line.get("kind") for line in lines[1:-1]].count("memory") == 5
    assert lines[-1]["end"] is True and lines[-1]["counts"]["session"] == 2
    assert full_mem.key_prefix not in path.read_text()  # nothing depends on key names

    report = import_user(path, memory=target)
    assert report.counts() == {"session": 2, "thread": 1, "run": 1, "memory": 5}
    assert "imported 2 chat sessions (4 messages), 1 LangGraph thread" in report.summary()
    after = _state(target, world)
    assert after == before

    # A second import changes nothing, in the stores' contents or their keys.
    keys = sorted(redis_keys(target))
    import_user(path, memory=target)
    assert _state(target, world) == before
    assert sorted(redis_keys(target)) == keys

    # The graph resumes from the imported interrupt.
    graph = _graph(AgentMemCheckpointSaver(target))
    from langgraph.types import Command

    done = graph.invoke(Command(resume="yes"), _config(world.threads[0], world.user))
    assert done["answer"] == "draft for redis? (yes)"

    # forget_user on the target finds what the import wrote.
    gone = forget_user(world.user, memory=target)
    assert gone.threads == world.threads and gone.runs == [world.run]
    assert sorted(gone.sessions) == world.sessions
    assert sorted(gone.collections) == sorted(world.collections)


def test_an_import_overwrites_different_data_under_the_same_ids(
    full_mem: AgentMem, target: AgentMem, world: World, dropped: None, tmp_path: Path
) -> None:
    path = tmp_path / "ada.jsonl"
    before = _export_and_forget(full_mem, world, path)
    store = SessionStore(target, user_id=world.user)
    store.append("chat-a", [{"role": "user", "content": "written at the target"}], ids=["m1"])
    RunStore(target).save(*world.run, b"other", status="completed")
    LongTermMemory(target, tenant=world.user, collection=world.collections[1]).add(
        [MemoryRecord("changed", id="j", vector=[1.0, 0.0])]
    )
    import_user(path, memory=target)
    assert _state(target, world) == before


def test_another_users_thread_under_an_exported_id_refuses_before_anything_is_written(
    full_mem: AgentMem, target: AgentMem, world: World, dropped: None, tmp_path: Path
) -> None:
    path = tmp_path / "ada.jsonl"
    _export_and_forget(full_mem, world, path)
    _graph(AgentMemCheckpointSaver(target)).invoke(
        {"question": "mine"}, _config(world.threads[0], "eve")
    )
    keys = sorted(redis_keys(target))
    with pytest.raises(OwnershipError):
        import_user(path, memory=target)
    assert sorted(redis_keys(target)) == keys
    assert _state(target, world)["memories"] == {c: {} for c in world.collections}


def _expiry(mem: AgentMem) -> dict[str, bool]:
    """Every key under the prefix (the prefix taken off) and whether it has a TTL."""
    client = mem.redis()
    return {k[len(mem.key_prefix) :]: client.pttl(k) > 0 for k in redis_keys(mem)}


def test_expiring_sessions_threads_and_runs_expire_after_the_import_too(
    full_mem: AgentMem, target: AgentMem, world: World, dropped: None, tmp_path: Path
) -> None:
    user, day = world.user, 86400
    store = SessionStore(full_mem, user_id=user, ttl=day)
    store.append("chat-a", [{"role": "user", "content": "soon gone"}], ids=["m1"])
    SessionStore(full_mem, user_id=user).append("chat-b", [{"role": "user", "content": "kept"}])
    _graph(AgentMemCheckpointSaver(full_mem, ttl=day)).invoke(
        {"question": "q"}, _config(world.threads[0], user)
    )
    RunStore(full_mem, ttl=day).save(*world.run, b"{}", status="paused", user_id=user)
    source = _expiry(full_mem)
    assert any(source.values()) and not all(source.values())
    path = tmp_path / "ada.jsonl"
    export_user(user, path, memory=full_mem)
    run = next(line for line in _lines(path) if line.get("kind") == "run")
    assert run["expires_at_ms"] is not None
    import_user(path, memory=target)
    # The same keys (under the other prefix), and the same ones expire.
    assert _expiry(target) == source
    client = target.redis()
    assert all(0 < client.pttl(k) <= day * 1000 for k in redis_keys(target) if client.pttl(k) > 0)


def test_without_vectors_the_import_embeds_again_and_search_finds_it(
    full_mem: AgentMem, target: AgentMem, world: World, dropped: None, tmp_path: Path
) -> None:
    path = tmp_path / "ada.jsonl"
    _export_and_forget(full_mem, world, path, vectors=False)
    lines = _lines(path)
    assert lines[0]["vectors"] is False
    assert all("vector" not in line for line in lines if line.get("kind") == "memory")
    report = import_user(path, memory=target, embedder=HashingEmbedder())
    assert report.embedded == 5
    memory = LongTermMemory(
        target, tenant=world.user, collection=world.collections[0], embedder=HashingEmbedder()
    )
    hits = memory.search("green tea", k=1, mode="vector")
    assert [h.record.id for h in hits] == ["d1"]
    assert hits[0].record.metadata == {"topic": "food"}


def _bad_files(path: Path) -> dict[str, tuple[str, int, str]]:
    """Damaged copies of an export: name -> (text, line number named, words of the message)."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    n = len(lines)
    session = next(i for i, line in enumerate(lines) if '"kind":"session"' in line and "m2" in line)
    edited = lines[session].replace("hello ünïcode", "hello, edited")
    assert edited != lines[session]
    return {
        "no trailer": ("".join(lines[:-1]), n, "truncated at line"),
        "cut in half": ("".join(lines[: n // 2]) + lines[n // 2][:40], n // 2 + 1, "truncated"),
        "edited": ("".join([*lines[:session], edited, *lines[session + 1 :]]), session + 1,
                   "was edited"),
        "not json": ("".join([*lines[:1], "{oops\n", *lines[2:]]), 2, "not valid JSON"),
    }  # fmt: skip


def test_a_truncated_or_edited_file_is_refused_naming_the_line_and_writes_nothing(
    full_mem: AgentMem, target: AgentMem, world: World, dropped: None, tmp_path: Path
) -> None:
    path = tmp_path / "ada.jsonl"
    _export_and_forget(full_mem, world, path)
    for name, (text, line, words) in _bad_files(path).items():
        bad = tmp_path / f"{name}.jsonl"
        bad.write_text(text)
        with pytest.raises(ExportFileError, match=f"{words}.*") as caught:
            import_user(bad, memory=target)
        assert caught.value.line == line, (name, str(caught.value))
        assert f"line {line}" in str(caught.value), name
        assert "export" in str(caught.value)
        assert redis_keys(target) == [], name
        assert _state(target, world)["memories"] == {c: {} for c in world.collections}
    with pytest.raises(ExportFileError, match="line 1"):
        import_user(io.StringIO('{"something": "else"}\n'), memory=target)
    future = path.read_text().replace('"agentmem_export":1', '"agentmem_export":9', 1)
    with pytest.raises(ExportFileError, match="line 1"):
        import_user(io.StringIO(future), memory=target)


def test_the_async_twins_round_trip(
    full_settings: AgentMemSettings, target: AgentMem, world: World, dropped: None, tmp_path: Path
) -> None:
    path = tmp_path / "ada.jsonl"
    with AgentMem(full_settings) as mem:
        _seed(mem, world)
        before = _state(mem, world)

    async def export() -> Any:
        async with AgentMem(full_settings) as amem:
            return await aexport_user(world.user, path, memory=amem)

    report = asyncio.run(export())
    assert report.counts() == {"session": 2, "thread": 1, "run": 1, "memory": 5}
    with AgentMem(full_settings) as mem:
        forget_user(world.user, memory=mem)
    target_settings = target.settings

    async def load() -> Any:
        async with AgentMem(target_settings) as amem:
            buffer = io.StringIO(path.read_text())
            return await aimport_user(buffer, memory=amem)

    assert asyncio.run(load()).counts() == report.counts()
    assert _state(target, world) == before


@pytest.mark.timeout(300)
def test_the_cli_exports_and_imports_and_refuses_a_bad_file(
    redis_server: RedisServer, weaviate_server: WeaviateServer, full_mem: AgentMem,
    target: AgentMem, world: World, dropped: None, tmp_path: Path,
) -> None:  # fmt: skip
    _seed(full_mem, world)
    before = _state(full_mem, world)
    path = tmp_path / "ada.jsonl"
    source = agentmem_env(redis_server, weaviate_server, full_mem.key_prefix)
    done = run_cli("export", "--user", world.user, "-o", str(path), env=source)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("exported 2 chat sessions (4 messages)")
    assert "agentmem: exporting" in done.stderr  # progress on stderr with -o
    piped = run_cli("export", "--user", world.user, "--no-vectors", env=source)
    assert piped.returncode == 0, piped.stderr
    header = json.loads(piped.stdout.splitlines()[0])
    assert header["vectors"] is False and header["user_id"] == world.user
    # stdout is the file; stderr (no terminal) has the summary and no progress
    assert piped.stderr.startswith("exported 2 chat sessions") and "exporting" not in piped.stderr
    forget_user(world.user, memory=full_mem)

    dest = agentmem_env(redis_server, weaviate_server, target.key_prefix)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    refused = run_cli("import", str(bad), env=dest)
    assert refused.returncode != 0
    n = len(path.read_text().splitlines())
    assert f"truncated at line {n}" in refused.stderr and refused.stderr.startswith("agentmem:")
    assert redis_keys(target) == []

    loaded = run_cli("import", str(path), env=dest)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip().startswith("imported 2 chat sessions (4 messages)")
    assert _state(target, world) == before


def test_a_redis_only_export_leaves_weaviate_alone_and_a_failed_one_keeps_the_old_file(
    mem: AgentMem, tmp_path: Path
) -> None:
    # mem's Weaviate is an address nothing listens on: only longterm=False can export.
    SessionStore(mem, user_id="ada").append("s1", [{"role": "user", "content": "hi"}])
    path = tmp_path / "ada.jsonl"
    report = export_user("ada", path, memory=mem, longterm=False)
    assert report.counts() == {"session": 1, "thread": 0, "run": 0, "memory": 0}
    good = path.read_text()
    assert '"content":"hi"' in good

    with pytest.raises(BackendUnavailable):
        export_user("ada", path, memory=mem)  # the Weaviate part fails after the sessions
    assert path.read_text() == good  # the earlier export is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ada.jsonl"]  # no .partial left
