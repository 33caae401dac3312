"""Checkpoint-store operations written once as plans (see :mod:`agentmem._plan`).

Values are opaque typed bytes (:class:`Typed`): the adapters serialize (LangGraph's ``serde``,
possibly encrypted) and the store never looks inside. Each plan validates and encodes its input
(``agentmem._redis.checkpoint_codec``) before its first call, so bad input raises with nothing
written. ``put``, ``put_writes`` and ``get`` are one EVALSHA each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentmem._plan import Call, Plan
from agentmem._redis import checkpoint_scripts as scripts
from agentmem._redis import owner_plans as owners
from agentmem._redis.checkpoint_codec import (
    CheckpointRecord,
    NewCheckpoint,
    StoreConfig,
    Typed,
    WriteRecord,
    decode_record,
    encode_checkpoint,
    encode_write,
    utf8,
)
from agentmem._redis.checkpoint_keys import check_checkpoint_id, ns_hash, registry_key
from agentmem._redis.keys import encode_id
from agentmem.errors import InvalidInputError

__all__ = [
    "CheckpointRecord",
    "NewCheckpoint",
    "Page",
    "StoreConfig",
    "Typed",
    "WriteRecord",
    "copy_thread",
    "delete_runs",
    "delete_thread",
    "first_bound",
    "get",
    "list_page",
    "owned_write",
    "prune",
    "put",
    "put_writes",
    "threads",
    "unregister",
]


# -- plans ---------------------------------------------------------------------------------------

# (user, thread) pairs one store object remembers having linked; past this many it forgets them
# all (a forgotten pair costs one more idempotent link).
_LINKED_CACHE = 10_000


def _script(label: str, source: str, keys: list[str], args: Sequence[Any]) -> Call:
    # register_script only hashes the source (no I/O); the Script runs EVALSHA and loads the
    # source once per server on NOSCRIPT. Every script here is safe to repeat.
    return Call(
        label,
        lambda r: r.register_script(source)(keys=keys, args=list(args)),
        idempotent=True,
    )


def _register(cfg: StoreConfig, thread_id: str, fresh: Any) -> Plan[None]:
    if cfg.cluster and int(fresh or 0) == 1:
        yield _script(
            "checkpoint.register",
            scripts.REGISTER,
            [registry_key(cfg.prefix)],
            [utf8(thread_id, "thread_id"), cfg.ttl_ms],
        )


def put(cfg: StoreConfig, new: NewCheckpoint) -> Plan[bool]:
    """Store one checkpoint and the channel values it changed, atomically; True when this
    write created the thread. The checkpoint is checked and encoded when this is called, so a
    bad one raises before any plan (a link to its user, say) has written anything."""
    keys = cfg.write_keys(new.thread_id)
    m, record, fields, pairs = encode_checkpoint(new)
    args = [
        utf8(new.thread_id, "thread_id"),
        cfg.ttl_ms,
        m.encode(),
        record,
        fields,
        utf8(new.run_id or "", "run_id"),
        cfg.keep_last,
        cfg.max_age_ms,
        utf8(new.parent_id or "", "parent checkpoint id"),
        int(bool(new.needs_ancestors)),
        *pairs,
    ]
    return _write(cfg, new.thread_id, _script("checkpoint.put", scripts.PUT, keys, args))


def put_writes(
    cfg: StoreConfig, thread_id: str, ns: str, checkpoint_id: str, writes: Sequence[WriteRecord]
) -> Plan[bool]:
    """Store pending writes of one task: special channels (idx < 0) overwrite, others insert.
    True when this write created the thread. Checked and encoded when called, like :func:`put`."""
    keys = cfg.write_keys(thread_id)
    m = (ns_hash(ns) + check_checkpoint_id(checkpoint_id)).encode()
    args: list[Any] = [utf8(thread_id, "thread_id"), cfg.ttl_ms, m]
    for w in writes:
        args += encode_write(m, w)
    if len(args) == 3:
        return _nothing()
    script = _script("checkpoint.put_writes", scripts.PUT_WRITES, keys, args)
    return _write(cfg, thread_id, script)


def _write(cfg: StoreConfig, thread_id: str, call: Call) -> Plan[bool]:
    fresh = yield call
    yield from _register(cfg, thread_id, fresh)
    return int(fresh or 0) == 1


def _nothing() -> Plan[bool]:
    return False
    yield  # a generator that makes no call


def owned_write(
    cfg: StoreConfig,
    linked: set[tuple[str, str]],
    user_id: str | None,
    thread_id: str,
    write: Plan[bool],
) -> Plan[bool]:
    """Run ``write`` (a :func:`put` or :func:`put_writes` plan) on a thread of ``user_id``.

    The thread is linked to the user before the first write that ``linked`` (one store
    object's memory of the pairs it linked) has not seen, so forgetting the user can never miss
    it; and linked again when a write re-creates the thread (``forget_user`` deleted it since).
    """
    if user_id is None:
        return (yield from write)
    item = [owners.Owned("thread", thread_id)]
    before = (user_id, thread_id) not in linked
    if before:
        yield from owners.link(cfg.prefix, user_id, item, cfg.ttl_ms)
        if len(linked) >= _LINKED_CACHE:
            linked.clear()
        linked.add((user_id, thread_id))
    created = yield from write
    if created and not before:
        yield from owners.link(cfg.prefix, user_id, item, cfg.ttl_ms)
    return created


def get(
    cfg: StoreConfig, thread_id: str, ns: str, checkpoint_id: str | None
) -> Plan[CheckpointRecord | None]:
    """One checkpoint of ``(thread, ns)`` (the newest when ``checkpoint_id`` is None)."""
    keys = cfg.keys(thread_id).all()
    cid = check_checkpoint_id(checkpoint_id) if checkpoint_id else ""
    raw = yield _script("checkpoint.get", scripts.GET, keys, [ns_hash(ns), utf8(cid, "id")])
    return decode_record(thread_id, raw) if raw else None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of :func:`list_page`: records newest first, the cursor of the next page, and
    whether the thread still exists (a thread with a TTL may have expired)."""

    records: list[CheckpointRecord]
    cursor: bytes | None
    alive: bool = True


def first_bound(ns: str | None, before: str | None) -> bytes:
    """The exclusive upper bound of the first page (``before`` is strict)."""
    if ns is None:
        return b"(" + utf8(check_checkpoint_id(before), "before") if before else b"+"
    head = b"(" + ns_hash(ns).encode()
    return head + (utf8(check_checkpoint_id(before), "before") if before else b"\xff")


def list_page(
    cfg: StoreConfig, thread_id: str, ns: str | None, bound: bytes, count: int
) -> Plan[Page]:
    """Up to ``count`` checkpoints below ``bound``, newest first (``ns=None``: every namespace)."""
    keys = cfg.keys(thread_id).all()
    scope = "all" if ns is None else "ns"
    nsh = ns_hash(ns) if ns is not None else ""
    raw = yield _script("checkpoint.list", scripts.LIST, keys, [scope, nsh, bound, count])
    seen, last, alive = int(raw[0]), raw[1], bool(int(raw[2]))
    records = [decode_record(thread_id, item) for item in raw[3:]]
    return Page(records, b"(" + last if seen >= count else None, alive)


def threads(cfg: StoreConfig) -> Plan[list[str]]:
    """Ids of the threads in the registry (threads that expired may still be listed)."""
    raw = yield Call(
        "checkpoint.threads", lambda r: r.zrange(registry_key(cfg.prefix), 0, -1), True
    )
    return [t.decode() for t in raw]


def unregister(cfg: StoreConfig, thread_id: str) -> Plan[None]:
    """Remove a thread that no longer exists (it expired) from the registry."""
    key, tid = registry_key(cfg.prefix), utf8(thread_id, "thread_id")
    yield Call("checkpoint.unregister", lambda r: r.zrem(key, tid), True)


def delete_thread(cfg: StoreConfig, thread_id: str) -> Plan[None]:
    """Delete every checkpoint, write and value of a thread and unlist it."""
    tid = utf8(thread_id, "thread_id")
    yield _script("checkpoint.delete_thread", scripts.DROP, cfg.write_keys(thread_id), [tid])
    if cfg.cluster:
        key = registry_key(cfg.prefix)
        yield Call("checkpoint.unregister", lambda r: r.zrem(key, tid), True)


def delete_runs(cfg: StoreConfig, run_ids: Sequence[str]) -> Plan[int]:
    """Delete the checkpoints (with their writes) of the given runs in every thread."""
    args = [encode_id(r, "run id") for r in run_ids]
    if not args:
        return 0
    dropped = 0
    for thread_id in (yield from threads(cfg)):
        keys = cfg.keys(thread_id).all()
        dropped += int((yield _script("checkpoint.delete_runs", scripts.DROP_RUNS, keys, args)))
    return dropped


def prune(cfg: StoreConfig, thread_id: str, keep_last: int, max_age_ms: int = 0) -> Plan[int]:
    """Keep the newest ``keep_last`` checkpoints per namespace (and drop older than max age)."""
    if keep_last < 1 and max_age_ms <= 0:
        raise InvalidInputError("prune needs keep_last >= 1 or a max age")
    keys = cfg.keys(thread_id).all()
    return int((yield _script("checkpoint.prune", scripts.PRUNE, keys, [keep_last, max_age_ms])))


def copy_thread(cfg: StoreConfig, source: str, target: str) -> Plan[bool]:
    """Copy every checkpoint of ``source`` into ``target``; False if ``source`` is empty."""
    src, dst = cfg.keys(source).all(), cfg.write_keys(target)
    records, writes, values, ns_members, id_members = yield _script(
        "checkpoint.copy_out", scripts.COPY_OUT, src, []
    )
    if not ns_members:
        return False
    head = [utf8(target, "target thread id"), cfg.ttl_ms]
    sizes = [len(records), len(writes), len(values), len(ns_members), len(id_members)]
    args = [*head, *sizes, *records, *writes, *values, *ns_members, *id_members]
    yield from _write(cfg, target, _script("checkpoint.copy_in", scripts.COPY_IN, dst, args))
    return True
