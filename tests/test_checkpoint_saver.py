"""AgentMemCheckpointSaver and the checkpoint store on real Redis: layout, atomicity, TTL, serde."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from redis.crc import key_slot

from agentmem import AgentMem, AgentMemSettings, InvalidInputError, SerializationError
from agentmem._redis.checkpoint_keys import registry_key, thread_keys
from langchain_agentmem import AgentMemCheckpointSaver
from tests.support import use_redis_env

HOSTILE_IDS = [
    "plain",
    "ünïcødé-线程-🧵",
    "{braces}",
    "}{",
    "a:b:c",
    "*?[glob]",
    "nul\0inside",
    "x" * 100_000,
]


@pytest.fixture
async def amemory(redis_settings: AgentMemSettings, mem: AgentMem) -> AsyncIterator[AgentMem]:
    async with AgentMem(redis_settings) as memory:
        yield memory


def checkpoint(values: dict[str, Any], versions: dict[str, Any]) -> Checkpoint:
    cp = empty_checkpoint()
    cp["id"] = str(uuid6())
    cp["channel_values"] = dict(values)
    cp["channel_versions"] = dict(versions)
    return cp


def config(thread: str, ns: str = "", parent: str | None = None) -> Any:
    conf: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ns}
    if parent:
        conf["checkpoint_id"] = parent
    return {"configurable": conf}


def thread_keys_in_redis(mem: AgentMem, thread: str) -> list[str]:
    keys = thread_keys(mem.key_prefix, thread).all()
    return [k for k in keys if mem.redis().exists(k)]


# -- behaviour -----------------------------------------------------------------------------------


@pytest.mark.parametrize("thread", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
def test_hostile_thread_ids_round_trip_in_one_slot_and_stay_isolated(
    mem: AgentMem, thread: str
) -> None:
    saver = AgentMemCheckpointSaver(mem)
    cp = checkpoint({"a": "value"}, {"a": 1})
    saver.put(config(thread), cp, {"source": "input", "step": -1}, {"a": 1})
    saver.put_writes(config(thread, parent=cp["id"]), [("a", "w")], "task-1")
    got = saver.get_tuple(config(thread))
    assert got is not None
    assert got.config["configurable"]["thread_id"] == thread
    assert got.checkpoint["channel_values"] == {"a": "value"}
    assert got.pending_writes == [("task-1", "a", "w")]
    assert saver.get_tuple(config(thread + "x")) is None
    assert saver.get_tuple(config(thread[:-1] or "y")) is None
    slots = {key_slot(k.encode()) for k in thread_keys_in_redis(mem, thread)}
    assert len(slots) == 1
    assert thread.encode() in mem.redis().zrange(registry_key(mem.key_prefix), 0, -1)


def test_a_value_the_serializer_rejects_raises_and_writes_nothing(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    bad = checkpoint({"ok": 1, "bad": threading.Lock()}, {"ok": 1, "bad": 1})
    with pytest.raises(SerializationError, match=r"channel 'bad'.*Nothing was written"):
        saver.put(config("t"), bad, {"step": 0}, {"ok": 1, "bad": 1})
    assert thread_keys_in_redis(mem, "t") == []
    assert saver.get_tuple(config("t")) is None
    good = checkpoint({"ok": 1}, {"ok": 1})
    saver.put(config("t"), good, {"step": 0}, {"ok": 1})
    with pytest.raises(SerializationError):
        saver.put_writes(config("t", parent=good["id"]), [("ok", 2), ("x", threading.Lock())], "t1")
    tup = saver.get_tuple(config("t"))
    assert tup is not None
    assert tup.pending_writes == []  # not even the first, valid write of the batch


def test_values_are_stored_once_per_channel_version(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    big = os.urandom(50_000)  # incompressible, so the size below counts copies
    parent = None
    for step in range(20):
        versions = {"big": 1, "small": step + 1}
        new = {"big": 1, "small": step + 1} if step == 0 else {"small": step + 1}
        cp = checkpoint({"big": big, "small": step}, versions)
        saver.put(config("t", parent=parent), cp, {"step": step}, new)
        parent = cp["id"]
    blobs = thread_keys(mem.key_prefix, "t").bl
    assert mem.redis().hlen(blobs) == 21  # one big value, twenty small ones
    # 20 copies of the big value would be over 1 MB; one copy plus the small ones is ~60 kB.
    assert mem.redis().memory_usage(blobs, samples=0) < 100_000
    latest = saver.get_tuple(config("t"))
    assert latest is not None
    assert latest.checkpoint["channel_values"] == {"big": big, "small": 19}


def test_ttl_is_set_on_every_key_a_write_touches(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem, ttl=300)
    cp = checkpoint({"a": 1}, {"a": 1})
    saver.put(config("t"), cp, {}, {"a": 1})
    saver.put_writes(config("t", parent=cp["id"]), [("a", 2)], "task")
    keys = thread_keys_in_redis(mem, "t")
    assert len(keys) == 6
    for key in [*keys, registry_key(mem.key_prefix)]:
        assert 0 < mem.redis().pttl(key) <= 300_000, key


def test_a_write_without_ttl_makes_every_key_of_a_thread_written_with_one_persistent(
    mem: AgentMem,
) -> None:
    cp = checkpoint({"a": 1}, {"a": 1})
    AgentMemCheckpointSaver(mem, ttl=300).put(config("t"), cp, {}, {"a": 1})
    AgentMemCheckpointSaver(mem, ttl=300).put_writes(config("t", parent=cp["id"]), [("a", 2)], "x")
    later = checkpoint({"a": 3}, {"a": 2})
    AgentMemCheckpointSaver(mem).put(config("t", parent=cp["id"]), later, {}, {"a": 2})
    keys = thread_keys_in_redis(mem, "t")
    assert len(keys) == 6
    assert [mem.redis().pttl(key) for key in keys] == [-1] * 6


def test_ttl_expires_the_whole_thread_together(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem, ttl=0.3)
    cp = checkpoint({"a": 1}, {"a": 1})
    saver.put(config("t"), cp, {}, {"a": 1})
    assert saver.get_tuple(config("t")) is not None
    deadline = 50
    while thread_keys_in_redis(mem, "t") and deadline:
        threading.Event().wait(0.05)
        deadline -= 1
    assert thread_keys_in_redis(mem, "t") == []
    assert saver.get_tuple(config("t")) is None
    assert list(saver.list(config("t"))) == []
    # Listing every thread meets the expired one and takes it off the registry.
    assert list(saver.list(None)) == []
    assert mem.redis().zrange(registry_key(mem.key_prefix), 0, -1) == []


def test_encrypted_serializer_round_trips_and_keeps_plaintext_out_of_redis(mem: AgentMem) -> None:
    key = AESGCM.generate_key(bit_length=128)

    class Cipher:
        def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
            nonce = os.urandom(12)
            return "aesgcm", nonce + AESGCM(key).encrypt(nonce, plaintext, None)

        def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
            assert ciphername == "aesgcm"
            return AESGCM(key).decrypt(ciphertext[:12], ciphertext[12:], None)

    saver = AgentMemCheckpointSaver(mem, serde=EncryptedSerializer(Cipher()))
    cp = checkpoint({"secret": "the-password-123"}, {"secret": 1})
    saver.put(config("t"), cp, {"note": "top-secret-note"}, {"secret": 1})
    saver.put_writes(config("t", parent=cp["id"]), [("secret", "pending-secret")], "task")
    dump = b"".join(
        b"".join(v for kv in mem.redis().hgetall(k).items() for v in kv)
        for k in thread_keys_in_redis(mem, "t")
        if mem.redis().type(k) == b"hash"
    )
    for plaintext in (b"the-password-123", b"top-secret-note", b"pending-secret"):
        assert plaintext not in dump
    got = saver.get_tuple(config("t"))
    assert got is not None
    assert got.checkpoint["channel_values"] == {"secret": "the-password-123"}
    assert got.metadata["note"] == "top-secret-note"
    assert got.pending_writes == [("task", "secret", "pending-secret")]
    # Without the key the stored data cannot be read.
    plain = AgentMemCheckpointSaver(mem)
    with pytest.raises(Exception):  # noqa: B017 - msgpack/json raise various errors
        plain.get_tuple(config("t"))


@dataclass
class Thing:
    name: str


def test_with_allowlist_returns_a_working_copy_that_never_closes_the_client(
    mem: AgentMem,
) -> None:
    owner = AgentMemCheckpointSaver(mem, serde=JsonPlusSerializer(allowed_msgpack_modules=None))
    copy = owner.with_allowlist([(Thing.__module__, "Thing")])
    assert copy is not owner
    assert isinstance(copy, AgentMemCheckpointSaver)
    cp = checkpoint({"thing": Thing("x")}, {"thing": 1})
    copy.put(config("t"), cp, {}, {"thing": 1})
    got = copy.get_tuple(config("t"))
    assert got is not None
    assert got.checkpoint["channel_values"] == {"thing": Thing("x")}
    copy.close()
    assert mem.redis().ping()


def test_versions_keep_one_type_per_thread(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    first = saver.get_next_version(None, None)
    second = saver.get_next_version(first, None)
    assert isinstance(first, str)
    assert first < second
    assert int(second.split(".")[0]) == 2
    assert saver.get_next_version(7, None) == 8  # type: ignore[arg-type]


def test_parallel_writes_of_one_step_are_all_kept(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    cp = checkpoint({}, {})
    saver.put(config("t"), cp, {}, {})
    target = config("t", parent=cp["id"])
    workers = [
        threading.Thread(
            target=saver.put_writes, args=(target, [("items", i), ("log", i)], f"task-{i:03}")
        )
        for i in range(40)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    tup = saver.get_tuple(config("t"))
    assert tup is not None
    assert len(tup.pending_writes or []) == 80
    assert [w[0] for w in tup.pending_writes or []][:2] == ["task-000", "task-000"]


async def test_concurrent_async_writes_of_one_step_are_all_kept(amemory: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(amemory)
    cp = checkpoint({}, {})
    await saver.aput(config("t"), cp, {}, {})
    target = config("t", parent=cp["id"])
    await asyncio.gather(
        *(
            saver.aput_writes(target, [("items", i)], f"task-{i:03}", f"~path-{i % 3}")
            for i in range(60)
        )
    )
    tup = await saver.aget_tuple(config("t"))
    assert tup is not None
    writes = tup.pending_writes or []
    assert len(writes) == 60
    assert [w[0] for w in writes] == sorted(
        (f"task-{i:03}" for i in range(60)), key=lambda t: (f"~path-{int(t[-3:]) % 3}", t)
    )


def test_special_channel_writes_overwrite_and_regular_writes_do_not(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    cp = checkpoint({}, {})
    saver.put(config("t"), cp, {}, {})
    target = config("t", parent=cp["id"])
    saver.put_writes(target, [("a", "first"), ("__interrupt__", "first")], "task")
    saver.put_writes(target, [("a", "second"), ("__interrupt__", "second")], "task")
    tup = saver.get_tuple(config("t"))
    assert tup is not None
    assert sorted(v for _, _, v in tup.pending_writes or []) == ["first", "second"]
    assert ("task", "a", "first") in (tup.pending_writes or [])
    assert ("task", "__interrupt__", "second") in (tup.pending_writes or [])


def test_list_without_a_config_lists_every_thread(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    for thread in ("t1", "t2", "t3"):
        saver.put(config(thread), checkpoint({}, {}), {"source": "input"}, {})
    threads = {t.config["configurable"]["thread_id"] for t in saver.list(None)}
    assert threads == {"t1", "t2", "t3"}
    assert len(list(saver.list(None, limit=2))) == 2


def test_saver_without_memory_reads_the_environment_and_owns_the_client(
    redis_settings: AgentMemSettings, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_redis_env(monkeypatch, redis_settings)
    saver = AgentMemCheckpointSaver()
    saver.put(config("t"), checkpoint({}, {}), {}, {})
    assert saver.memory.key_prefix == key_prefix
    saver.delete_thread("t")
    assert saver.get_tuple(config("t")) is None
    saver.close()
    with pytest.raises(Exception, match="closed"):
        saver.memory.redis()


def test_bad_input_is_refused_with_a_typed_error(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    with pytest.raises(InvalidInputError, match="thread_id"):
        saver.get_tuple({"configurable": {}})
    with pytest.raises(InvalidInputError, match="strategy"):
        saver.prune(["t"], strategy="keep_some")
    with pytest.raises(InvalidInputError, match="ttl"):
        AgentMemCheckpointSaver(mem, ttl=-1)
    with pytest.raises(InvalidInputError, match="keep_last"):
        AgentMemCheckpointSaver(mem, keep_last=0)


async def test_sync_writes_are_read_by_the_async_client(mem: AgentMem, amemory: AgentMem) -> None:
    AgentMemCheckpointSaver(mem).put(config("t"), checkpoint({"a": [1, 2]}, {"a": 1}), {}, {"a": 1})
    got = await AgentMemCheckpointSaver(amemory).aget_tuple(config("t"))
    assert got is not None
    assert got.checkpoint["channel_values"] == {"a": [1, 2]}


@pytest.mark.parametrize("ns", ["", "sub:{1}", "a|b:*", "ns\0nul", "命名空间", "n" * 50_000])
def test_hostile_namespaces_are_kept_apart(mem: AgentMem, ns: str) -> None:
    saver = AgentMemCheckpointSaver(mem)
    mine = checkpoint({"v": ns[:10]}, {"v": 1})
    other = checkpoint({"v": "other"}, {"v": 1})
    saver.put(config("t", ns), mine, {}, {"v": 1})
    saver.put(config("t", ns + "x"), other, {}, {"v": 1})
    got = saver.get_tuple(config("t", ns))
    assert got is not None
    assert got.config["configurable"]["checkpoint_ns"] == ns
    assert got.checkpoint["channel_values"] == {"v": ns[:10]}
    assert [t.checkpoint["id"] for t in saver.list(config("t", ns))] == [mine["id"]]
    assert len(list(saver.list({"configurable": {"thread_id": "t"}}))) == 2


def test_a_checkpoint_id_with_nul_is_refused_before_writing(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    cp = checkpoint({}, {})
    cp["id"] = "bad\0id"
    with pytest.raises(InvalidInputError, match="NUL"):
        saver.put(config("t"), cp, {}, {})
    assert thread_keys_in_redis(mem, "t") == []


def test_large_compressible_values_are_stored_compressed_and_read_back_exactly(
    mem: AgentMem,
) -> None:
    saver = AgentMemCheckpointSaver(mem)
    text = "the same sentence again and again. " * 3_000  # ~100 kB
    raw = os.urandom(5_000)  # incompressible: stored as is
    saver.put(
        config("t"),
        checkpoint({"text": text, "raw": raw}, {"text": 1, "raw": 1}),
        {},
        {"text": 1, "raw": 1},
    )
    got = saver.get_tuple(config("t"))
    assert got is not None
    assert got.checkpoint["channel_values"] == {"text": text, "raw": raw}
    stored = sorted(mem.redis().hvals(thread_keys(mem.key_prefix, "t").bl), key=len)
    assert stored[0].startswith(b"z")  # the text shrank below the random bytes
    assert len(stored[0]) < len(text) // 20
    assert not stored[1].startswith(b"z")
