"""The core session store against the real test Redis, each scenario in sync and async."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from agentmem import (
    AgentMem,
    AgentMemSettings,
    ConfigurationError,
    InvalidInputError,
    SerializationError,
)
from agentmem.compaction import split_for_budget
from agentmem.sessions import SessionStore
from tests.support import (
    AsyncSendCounter,
    CountingConnection,
    evalsha_calls,
    redis_snapshot,
    use_redis_env,
)

Factory = Callable[..., Any]


class Async:
    """The async flavour of a store: ``store.read(...)`` calls ``await store.aread(...)``."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        if name in ("memory", "user_id"):
            return getattr(self.store, name)
        return getattr(self.store, "a" + name)


async def ev(value: Any) -> Any:
    """Await ``value`` if the async store returned a coroutine; sync results pass through."""
    return await value if inspect.isawaitable(value) else value


@pytest.fixture(params=["sync", "async"])
def make_store(request: pytest.FixtureRequest, mem: AgentMem, amem: AgentMem) -> Factory:
    """Builds a SessionStore on the test Redis, used through its sync or its async methods."""

    def factory(**kwargs: Any) -> Any:
        kwargs.setdefault("user_id", "u")
        if request.param == "sync":
            return SessionStore(mem, **kwargs)
        return Async(SessionStore(amem, **kwargs))

    return factory


def keys_of(mem: AgentMem) -> list[bytes]:
    return sorted(mem.redis().scan_iter(match=f"{mem.key_prefix}:*"))


def msgs(n: int, tag: str = "m") -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"{tag}{i}"} for i in range(n)]


def contents(messages: list[Any]) -> list[str]:
    return [m.data["content"] for m in messages]


async def test_append_then_read_returns_messages_in_insertion_order(make_store: Factory) -> None:
    store = make_store(user_id="alice")
    assert await ev(store.append("s", msgs(3, "a"))) == 3
    assert await ev(store.append("s", msgs(2, "b"), ids=["x", None])) == 5
    read = await ev(store.read("s"))
    assert contents(read) == ["a0", "a1", "a2", "b0", "b1"]
    assert read[3].id == "x" and len(read[4].id) == 32
    assert read[0].data == {"role": "user", "content": "a0"}
    assert await ev(store.count("s")) == 5


async def test_read_windows_and_last_n(make_store: Factory) -> None:
    store = make_store()
    await ev(store.append("s", msgs(10)))
    assert contents(await ev(store.read("s", offset=-3))) == ["m7", "m8", "m9"]
    assert contents(await ev(store.read("s", offset=2, limit=3))) == ["m2", "m3", "m4"]
    assert contents(await ev(store.read("s", offset=-4, limit=2))) == ["m6", "m7"]
    assert contents(await ev(store.read("s", offset=-2, limit=9))) == ["m8", "m9"]
    assert await ev(store.read("s", limit=0)) == []
    assert await ev(store.read("unknown")) == []
    assert await ev(store.count("unknown")) == 0


async def test_max_messages_trims_oldest_in_the_same_write(make_store: Factory) -> None:
    store = make_store(max_messages=4)
    assert await ev(store.append("s", msgs(3, "a"))) == 3
    assert await ev(store.append("s", msgs(3, "b"))) == 4
    assert contents(await ev(store.read("s"))) == ["a2", "b0", "b1", "b2"]


async def test_concurrent_appends_keep_each_batch_contiguous_and_in_order(
    make_store: Factory,
) -> None:
    store = make_store()
    batches = [msgs(5, f"w{w}-") for w in range(20)]
    if isinstance(store, Async):
        await asyncio.gather(*(store.append("s", b) for b in batches))
    else:
        threads = [threading.Thread(target=store.append, args=("s", b)) for b in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    read = contents(await ev(store.read("s")))
    assert len(read) == 100
    for start in range(0, 100, 5):
        chunk = read[start : start + 5]
        writer = chunk[0].split("-")[0]
        assert chunk == [f"{writer}-{i}" for i in range(5)]


async def test_ttl_is_set_and_refreshed_on_every_key_of_the_session(
    make_store: Factory, mem: AgentMem
) -> None:
    store = make_store(user_id="u", ttl=100)
    await ev(store.append("s", msgs(4)))
    await ev(store.archive_oldest("s", 1))
    keys = keys_of(mem)
    assert len(keys) == 4  # messages, metadata, archive, user index
    client = mem.redis()
    for key in keys:
        client.pexpire(key, 5_000)
    await ev(store.append("s", msgs(1)))
    for key in keys:
        assert 95_000 < client.pttl(key) <= 100_000, key


async def test_metadata_counts_and_ttls_follow_every_kind_of_write(
    make_store: Factory, mem: AgentMem
) -> None:
    # The append script takes the lengths from RPUSH and reads the archive only when it must:
    # the metadata must still match the lists after any sequence of writes.
    store = make_store(ttl=100, max_messages=6)
    client = mem.redis()

    async def agrees() -> None:
        info = await ev(store.info("s"))
        assert info is not None
        active, archived = await ev(store.count("s")), await ev(store.count("s", archived=True))
        assert (info.message_count, info.archived_count) == (active, archived)
        for key in keys_of(mem):  # every key refreshed by this write
            assert 95_000 < client.pttl(key) <= 100_000, key

    steps = [
        lambda: store.append("s", msgs(4)),
        lambda: store.append("s", msgs(4)),  # trimmed to max_messages
        lambda: store.archive_oldest("s", 2),
        lambda: store.append("s", msgs(1)),  # the archive is left alone but keeps its TTL
        lambda: store.append("s", msgs(3), archived=True),
        lambda: store.replace("s", msgs(2)),
        lambda: store.replace("s", msgs(2), archived=True),
        lambda: store.replace("s", []),
        lambda: store.append("s", msgs(1)),
    ]
    for step in steps:
        for key in keys_of(mem):
            client.pexpire(key, 5_000)
        await ev(step())
        await agrees()
    assert await ev(store.count("s")) == 1
    client.delete(*(k for k in keys_of(mem) if k.endswith(b":meta")))  # lost metadata
    await ev(store.append("s", msgs(1)))
    info = await ev(store.info("s"))
    assert (info.message_count, info.archived_count) == (2, 0) and info.created_at is not None


async def test_a_session_expires_as_a_whole_and_leaves_the_index(
    make_store: Factory, mem: AgentMem
) -> None:
    store = make_store(ttl=0.3)
    await ev(store.append("short", msgs(2)))
    keep = make_store(ttl=60)
    await ev(keep.append("long", msgs(1)))
    await asyncio.sleep(0.5)
    assert await ev(store.read("short")) == []
    assert await ev(store.info("short")) is None
    assert [s.session_id for s in await ev(store.list_sessions())] == ["long"]
    index = next(k for k in keys_of(mem) if k.endswith(b":sessions"))
    assert mem.redis().zrange(index, 0, -1) == [b"long"]  # the stale entry was pruned


async def test_without_ttl_sessions_are_persistent(make_store: Factory, mem: AgentMem) -> None:
    store = make_store()
    await ev(store.append("s", msgs(1)))
    assert all(mem.redis().pttl(k) == -1 for k in keys_of(mem))


async def test_oversized_message_raises_naming_the_limit_and_writes_nothing(
    make_store: Factory, mem: AgentMem
) -> None:
    store = make_store(max_message_bytes=200)
    await ev(store.append("s", msgs(1)))
    before = redis_snapshot(mem)
    with pytest.raises(InvalidInputError, match="max_message_bytes=200"):
        await ev(store.append("s", [*msgs(2), {"content": "x" * 300}]))
    assert redis_snapshot(mem) == before
    with pytest.raises(InvalidInputError, match="max_message_bytes=200"):
        await ev(store.append("fresh", [{"content": "x" * 300}]))
    assert await ev(store.info("fresh")) is None


@pytest.mark.parametrize(
    "bad", [{"v": object()}, {"v": float("nan")}, {"v": "\ud800"}, {1j: "complex key"}]
)
async def test_unserializable_message_raises_serialization_error_and_writes_nothing(
    make_store: Factory, mem: AgentMem, bad: dict[Any, Any]
) -> None:
    store = make_store()
    with pytest.raises(SerializationError, match="cannot be stored as JSON"):
        await ev(store.append("s", [*msgs(2), bad]))
    assert keys_of(mem) == []


async def test_bad_arguments_raise_invalid_input(make_store: Factory) -> None:
    store = make_store()
    with pytest.raises(InvalidInputError, match="sequence of dicts"):
        await ev(store.append("s", {"role": "user"}))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not a dict"):
        await ev(store.append("s", ["text"]))
    with pytest.raises(InvalidInputError, match="2 ids for 1 messages"):
        await ev(store.append("s", msgs(1), ids=["a", "b"]))
    with pytest.raises(InvalidInputError, match="session_id"):
        await ev(store.append("", msgs(1)))
    with pytest.raises(InvalidInputError, match="user_id"):
        make_store(user_id="")
    with pytest.raises(InvalidInputError, match="ttl"):
        make_store(ttl=-1)
    with pytest.raises(InvalidInputError, match="max_messages"):
        make_store(max_messages=0)


async def test_delete_by_position_keeps_the_order_of_the_rest(make_store: Factory) -> None:
    store = make_store()
    await ev(store.append("s", msgs(5)))
    removed = await ev(store.delete_at("s", 1))
    assert removed.data["content"] == "m1"
    assert (await ev(store.delete_at("s", -1))).data["content"] == "m4"
    assert await ev(store.delete_at("s", 10)) is None
    assert await ev(store.delete_at("unknown", 0)) is None
    assert contents(await ev(store.read("s"))) == ["m0", "m2", "m3"]
    assert (await ev(store.info("s"))).message_count == 3


async def test_delete_by_id_removes_only_the_oldest_match(make_store: Factory) -> None:
    store = make_store()
    await ev(store.append("s", msgs(4), ids=["a", 'q"{:*}', "b", 'q"{:*}']))
    removed = await ev(store.delete_id("s", 'q"{:*}'))
    assert (removed.id, removed.data["content"]) == ('q"{:*}', "m1")
    assert await ev(store.delete_id("s", "missing")) is None
    assert [m.id for m in await ev(store.read("s"))] == ["a", "b", 'q"{:*}']


async def test_delete_by_id_finds_messages_beyond_the_first_scan_chunk(
    make_store: Factory,
) -> None:
    store = make_store()
    ids = [f"id{i}" for i in range(600)]
    await ev(store.append("s", msgs(600), ids=ids))
    assert (await ev(store.delete_id("s", "id555"))).data["content"] == "m555"
    assert await ev(store.count("s")) == 599


async def test_archive_keeps_summarized_messages_readable(make_store: Factory) -> None:
    store = make_store()
    await ev(store.append("s", msgs(5)))
    moved = await ev(store.archive_oldest("s", 2))
    assert contents(moved) == ["m0", "m1"]
    assert contents(await ev(store.read("s"))) == ["m2", "m3", "m4"]
    assert contents(await ev(store.read("s", archived=True))) == ["m0", "m1"]
    await ev(store.archive_oldest("s", 10))
    assert await ev(store.count("s")) == 0
    assert await ev(store.count("s", archived=True)) == 5
    info = await ev(store.info("s"))
    assert (info.message_count, info.archived_count) == (0, 5)
    assert contents(await ev(store.drop_oldest("unknown", 3))) == []


async def test_clear_removes_every_key_of_the_session_only(
    make_store: Factory, mem: AgentMem
) -> None:
    store = make_store()
    await ev(store.append("gone", msgs(3)))
    await ev(store.archive_oldest("gone", 1))
    await ev(store.append("kept", msgs(1)))
    keys_before = len(keys_of(mem))
    await ev(store.clear("gone"))
    assert len(keys_of(mem)) == keys_before - 3
    assert [s.session_id for s in await ev(store.list_sessions())] == ["kept"]
    assert await ev(store.read("gone", archived=True)) == []
    await ev(store.clear("gone"))  # idempotent


async def test_clear_active_or_archived_only(make_store: Factory) -> None:
    store = make_store()
    await ev(store.append("s", msgs(4)))
    await ev(store.archive_oldest("s", 2))
    await ev(store.clear("s", which="archived"))
    assert (await ev(store.count("s")), await ev(store.count("s", archived=True))) == (2, 0)
    await ev(store.clear("s", which="active"))
    assert await ev(store.count("s")) == 0
    assert (await ev(store.info("s"))).message_count == 0
    with pytest.raises(InvalidInputError, match="which"):
        await ev(store.clear("s", which="some"))  # type: ignore[arg-type]


async def test_replace_swaps_all_messages_atomically(make_store: Factory) -> None:
    store = make_store()
    await ev(store.append("s", msgs(3, "old")))
    await ev(store.archive_oldest("s", 1))
    assert await ev(store.replace("s", msgs(2, "new"))) == 2
    assert contents(await ev(store.read("s"))) == ["new0", "new1"]
    assert await ev(store.count("s", archived=True)) == 0
    assert await ev(store.replace("s", [])) == 0


async def test_list_sessions_newest_first_with_metadata(make_store: Factory) -> None:
    store = make_store(user_id="bob")
    for name in ("first", "second", "third"):
        await ev(store.append(name, msgs(2)))
        await asyncio.sleep(0.005)
    await ev(store.append("first", msgs(1)))  # most recently active again
    await ev(store.set_title("second", "Trip planning"))
    listed = await ev(store.list_sessions())
    assert [s.session_id for s in listed] == ["second", "first", "third"]
    first = next(s for s in listed if s.session_id == "first")
    assert first.message_count == 3 and first.title is None
    assert first.created_at < first.last_active
    assert listed[0].title == "Trip planning"
    assert [s.session_id for s in await ev(store.list_sessions(limit=1))] == ["second"]
    assert await ev(make_store(user_id="carol").list_sessions()) == []


HOSTILE = [
    "{tag}",
    "a:b:c",
    "*",
    "}{",
    "user\x00nul",
    "ünïcødé 🧠",
    "x" * 100_000,
    "{u:c73a0fbeafa8520618e5229c4b0e0669}",
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_ids_stay_isolated_and_in_one_hash_slot(
    make_store: Factory, mem: AgentMem, hostile: str
) -> None:
    store = make_store(user_id=hostile)
    neighbour = make_store(user_id=hostile + "x")
    await ev(store.append(hostile, msgs(2)))
    await ev(store.archive_oldest(hostile, 1))
    await ev(neighbour.append(hostile, msgs(1, "n")))
    assert contents(await ev(store.read(hostile))) == ["m1"]
    assert [s.session_id for s in await ev(store.list_sessions())] == [hostile]
    assert contents(await ev(neighbour.read(hostile))) == ["n0"]
    keys = keys_of(mem)
    assert len(keys) == 7
    slots = {key_slot(k) for k in keys}
    assert len(slots) == 2  # one slot per user, whatever the ids contain
    assert all(len(k) < 200 for k in keys)


def test_prefix_with_braces_is_rejected(redis_settings: AgentMemSettings) -> None:
    from dataclasses import replace

    with (
        AgentMem(replace(redis_settings, key_prefix="a{b}")) as memory,
        pytest.raises(ConfigurationError, match="key prefix"),
    ):
        SessionStore(memory, user_id="u")


def test_store_without_memory_reads_the_environment_and_owns_the_client(
    redis_settings: AgentMemSettings, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_redis_env(monkeypatch, redis_settings)
    with SessionStore(user_id="env") as store:
        store.append("s", msgs(1))
        assert store.memory.key_prefix == key_prefix
        owned = store.memory
        owned.redis().delete(*owned.redis().scan_iter(match=f"{key_prefix}:*"))
    with pytest.raises(Exception, match="closed"):
        owned.redis()


def test_a_borrowed_memory_stays_open_after_close(mem: AgentMem) -> None:
    store = SessionStore(mem, user_id="u")
    store.close()
    assert mem.redis().ping()


# -- round trips ---------------------------------------------------------------------------------


def _counting_url(settings: AgentMemSettings) -> tuple[str, bool]:
    return str(settings.redis.url), bool(getattr(settings.redis, "cluster", False))


@pytest.mark.parametrize("n", [1, 10, 250])
def test_append_of_any_size_is_one_round_trip_sync(
    redis_settings: AgentMemSettings, mem: AgentMem, n: int
) -> None:
    url, cluster = _counting_url(redis_settings)
    factory: Any = RedisCluster if cluster else redis.Redis
    client = factory.from_url(url, connection_class=CountingConnection)
    with AgentMem(redis_settings, redis=client) as counted:
        store = SessionStore(counted, user_id="u")
        store.append("warm", msgs(1))  # loads the script, opens the connection
        sends, evals = CountingConnection.sends, evalsha_calls(mem.redis())
        store.append("s", msgs(n))
        assert CountingConnection.sends - sends == 1
        assert evalsha_calls(mem.redis()) - evals == 1  # the server saw one call too
        assert store.count("s") == n
    client.close()


@pytest.mark.parametrize("n", [1, 10, 250])
async def test_append_of_any_size_is_one_round_trip_async(
    amem: AgentMem, mem: AgentMem, n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = AsyncSendCounter(monkeypatch)
    store = SessionStore(amem, user_id="u")
    await store.aappend("warm", msgs(1))
    before, evals = counter.sends, evalsha_calls(mem.redis())
    await store.aappend("s", msgs(n))
    assert counter.sends - before == 1
    assert evalsha_calls(mem.redis()) - evals == 1
    assert await store.acount("s") == n


# -- compaction primitives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "cuttable", "budget", "expected"),
    [
        ([10, 10, 10], [True, True, True], 30, 0),  # everything fits
        ([10, 10, 10], [True, True, True], 20, 1),
        ([10, 10, 10, 10], [True, True, False, True], 20, 3),  # skip a forbidden cut
        ([10, 10, 10, 10], [True, True, False, True], 25, 3),
        ([10, 10, 10, 10], [True, True, False, False], 15, 1),  # keep the last group anyway
        ([50], [True], 10, 0),  # one message over budget stays
        ([5, 5, 100], [True, True, True], 0, 2),
    ],
)
def test_split_for_budget_keeps_the_newest_fitting_groups(
    sizes: list[int], cuttable: list[bool], budget: int, expected: int
) -> None:
    assert split_for_budget(sizes, cuttable, budget) == expected


def test_split_for_budget_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError):
        split_for_budget([1, 2], [True], 3)
    with pytest.raises(InvalidInputError):
        split_for_budget([1], [True], -1)


async def test_compact_archives_and_stores_the_summary_atomically(make_store: Factory) -> None:
    store = make_store()
    await ev(store.append("s", msgs(5)))
    snap = await ev(store.snapshot("s"))
    assert (contents(snap.messages), snap.summary, snap.archived_count) == (
        ["m0", "m1", "m2", "m3", "m4"],
        None,
        0,
    )
    assert await ev(store.compact("s", snap.messages[:3], "summary one")) is True
    snap = await ev(store.snapshot("s"))
    assert (contents(snap.messages), snap.summary, snap.archived_count) == (
        ["m3", "m4"],
        "summary one",
        3,
    )
    assert contents(await ev(store.read("s", archived=True))) == ["m0", "m1", "m2"]
    await ev(store.replace("s", msgs(1)))
    assert (await ev(store.snapshot("s"))).summary is None  # it summarized replaced messages


async def test_compact_refuses_when_the_head_changed_since_the_snapshot(
    make_store: Factory,
) -> None:
    store = make_store()
    await ev(store.append("s", msgs(5)))
    snap = await ev(store.snapshot("s"))
    await ev(store.archive_oldest("s", 1))  # a concurrent compaction won
    assert await ev(store.compact("s", snap.messages[:2], "stale")) is False
    after = await ev(store.snapshot("s"))
    assert (contents(after.messages), after.summary, after.archived_count) == (
        ["m1", "m2", "m3", "m4"],
        None,
        1,
    )
    fresh = await ev(store.snapshot("s"))
    assert await ev(store.compact("s", fresh.messages[:2], "retried")) is True


@pytest.mark.parametrize("message_id", ['x","data":{}', "ü🧠", "back\\", '"', "a" * 5000, "\x00"])
async def test_hostile_message_ids_round_trip_and_delete(
    make_store: Factory, message_id: str
) -> None:
    store = make_store()
    await ev(store.append("s", msgs(3), ids=["first", message_id, "last"]))
    assert [m.id for m in await ev(store.read("s"))] == ["first", message_id, "last"]
    removed = await ev(store.delete_id("s", message_id))
    assert (removed.id, removed.data) == (message_id, {"role": "user", "content": "m1"})
    assert [m.id for m in await ev(store.read("s"))] == ["first", "last"]


def test_every_method_has_an_async_twin_with_the_same_parameters() -> None:
    methods = {
        name: member
        for name, member in inspect.getmembers(SessionStore, inspect.isfunction)
        if not name.startswith("_") and name not in ("close", "aclose")
    }
    sync = {name for name in methods if not inspect.iscoroutinefunction(methods[name])}
    assert sync, "no sync methods found"
    assert {name for name in methods if name not in sync} == {"a" + name for name in sync}
    for name in sync:
        twin = inspect.signature(methods["a" + name])
        assert list(inspect.signature(methods[name]).parameters) == list(twin.parameters), name


def test_user_id_is_required_and_shared_is_explicit(mem: AgentMem) -> None:
    from agentmem import SHARED

    with pytest.raises(TypeError):
        SessionStore(mem)  # type: ignore[call-arg]
    with pytest.raises(InvalidInputError, match=r"user_id=.*agentmem\.SHARED"):
        SessionStore(mem, user_id=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="first argument"):
        SessionStore("alice", user_id="alice")  # type: ignore[arg-type]
    assert SessionStore(mem, user_id=SHARED).user_id == "shared"


async def test_a_closed_store_refuses_both_flavours(amem: AgentMem) -> None:
    from agentmem import ClosedError

    async with SessionStore(amem, user_id="u") as store:
        await store.aappend("s", msgs(1))
    with pytest.raises(ClosedError):
        store.read("s")
    with pytest.raises(ClosedError):
        await store.aread("s")
    assert amem.redis().ping()  # the borrowed AgentMem stays open


async def test_with_a_ttl_no_key_is_ever_left_without_one(
    make_store: Factory, mem: AgentMem
) -> None:
    store = make_store(ttl=50)
    client = mem.redis()

    async def every_key_expires() -> None:
        keys = keys_of(mem)
        assert keys
        assert all(0 < client.pttl(k) <= 50_000 for k in keys), keys

    await ev(store.append("s", msgs(6)))
    await every_key_expires()
    for step in (
        lambda: store.archive_oldest("s", 2),
        lambda: store.delete_at("s", 0),
        lambda: store.delete_id("s", "missing"),
        lambda: store.set_title("s", "t"),
        lambda: store.drop_oldest("s", 1),
        lambda: store.replace("s", msgs(2), archived=True),
        lambda: store.clear("s", which="active"),
        lambda: store.set_title("other", "fresh session"),
    ):
        await ev(step())
        await every_key_expires()


async def test_clear_can_return_what_it_removed_atomically(make_store: Factory) -> None:
    store = make_store()
    await ev(store.append("s", msgs(4)))
    await ev(store.archive_oldest("s", 1))
    assert await ev(store.clear("s", which="archived")) == []
    await ev(store.archive_oldest("s", 1))
    archived = await ev(store.clear("s", which="archived", returning=True))
    assert contents(archived) == ["m1"]
    removed = await ev(store.clear("s", returning=True))
    assert contents(removed) == ["m2", "m3"]
    assert await ev(store.info("s")) is None
    assert await ev(store.clear("s", returning=True)) == []


def _deep(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        doc = {"k": [doc]}
    return doc


async def test_bad_input_raises_a_typed_error_naming_it_and_writes_nothing(
    make_store: Factory, mem: AgentMem
) -> None:
    store = make_store()
    with pytest.raises(InvalidInputError, match="offset must be an int"):
        await ev(store.read("s", offset="a"))
    with pytest.raises(InvalidInputError, match="limit must be an int"):
        await ev(store.read("s", limit=1.5))
    with pytest.raises(SerializationError, match="nested more than"):
        await ev(store.append("s", [{"role": "user"}, _deep(5000)]))
    # JSON would turn the int key into "1" and keep only one of the two values.
    with pytest.raises(SerializationError, match=r"key 1 \(int"):
        await ev(store.append("s", [{1: "x", "1": "y"}]))
    with pytest.raises(SerializationError, match=r"key 1 \(int"):
        await ev(store.append("s", [{"content": [{"a": {1: "x"}}]}]))
    with pytest.raises(InvalidInputError, match="session_id"):
        await ev(store.append("s\ud800", msgs(1)))
    with pytest.raises(InvalidInputError, match="session_id"):
        await ev(store.read("s\ud800"))
    with pytest.raises(SerializationError, match="message 1"):
        await ev(store.append("s", [{"content": "ok"}, {"content": "bad \ud800 text"}]))
    with pytest.raises(InvalidInputError, match="title"):
        await ev(store.set_title("s", "bad \udfff"))
    with pytest.raises(InvalidInputError, match="summary"):
        await ev(store.compact("s", [], "bad \udfff"))
    assert keys_of(mem) == []
    # A deep document within the bound is stored and reads back unchanged.
    await ev(store.append("s", [_deep(45)]))
    assert [m.data for m in await ev(store.read("s"))] == [_deep(45)]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id":"a","data":{"role":"user","content":"x"}}',
        b'{"id":"\\u00e9\\"q","data":{"k":[1,2.5,null,true,{"n":"\\ud83d\\ude00"}]}}',
        '{"id":"s","data":{}}',  # a client with decode_responses=True returns str
        b'{"id":"lone","data":{"t":"\\ud800"}}',  # pydantic refuses lone surrogates: fallback
    ],
)
def test_parse_envelope_equals_decoding_the_envelope_then_the_document(raw: Any) -> None:
    import json

    from pydantic_core import from_json

    from agentmem._redis.envelope import decode_message, parse_envelope

    stored = decode_message(raw)
    for loads in (json.loads, from_json):
        assert parse_envelope(raw, loads) == (stored.id, stored.data)


@pytest.mark.parametrize(
    "raw",
    [b"plain text", b'{"data":{},"id":"x"}', b'{"id":"x","data":[1]}', b'{"id":"x","data":{}'],
)
def test_parse_envelope_refuses_what_is_not_an_envelope(raw: bytes) -> None:
    from pydantic_core import from_json

    from agentmem._redis.envelope import parse_envelope

    with pytest.raises(SerializationError):
        parse_envelope(raw, from_json)


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"v": 1, "role": "user", "content": "plain"},
        {"a": None, "b": True, "c": False, "d": -5, "e": 'é\u2028"\\\x00\x7f😀', "f": 10**30},
        {"k": 1.5, "l": [1, {"m": None}]},  # not flat: json's encoder writes it
    ],
)
def test_stored_documents_are_compact_json_with_non_ascii_kept(doc: dict[str, Any]) -> None:
    import json

    from agentmem._redis.envelope import encode_messages

    (raw,) = encode_messages([doc], ["i"], 1 << 20)
    body = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    assert raw == b'{"id":"i","data":' + body.encode() + b"}"


@pytest.mark.parametrize(
    "value",
    ["\ud800", float("nan"), 10**5000, object()],
    ids=["surrogate", "nan", "huge", "object"],
)
def test_a_flat_document_json_cannot_store_raises_serialization_error(value: object) -> None:
    from agentmem._redis.envelope import encode_messages

    with pytest.raises(SerializationError):
        encode_messages([{"k": value}], None, 1 << 30)
