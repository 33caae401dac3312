"""Checkpoint-store operations written once as plans (see :mod:`agentmem._plan`).

Values are opaque typed bytes (:class:`Typed`): the adapters serialize (LangGraph's ``serde``,
possibly encrypted) and the store never looks inside. Each plan validates and encodes its input
(``agentmem._redis.checkpoint_codec``) before its first call, so bad input raises with nothing
written. ``put``, ``put_writes`` and ``get`` are one EVALSHA each.

A thread belongs to the user it was first written (or linked) for: every plan that takes a
``user_id`` refuses another user's thread with :class:`~agentmem.errors.OwnershipError`, checked
inside the same script that reads or writes it (no extra round trip). ``user_id=None`` is an
unscoped call (maintenance, ``forget_user``, a single-user app) and is never refused.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
from agentmem._redis.lua import evalsha
from agentmem.errors import InvalidInputError, OwnershipError

__all__ = [
    "CheckpointRecord",
    "NewCheckpoint",
    "Page",
    "StoreConfig",
    "ThreadDump",
    "Typed",
    "WriteRecord",
    "copy_thread",
    "delete_runs",
    "delete_thread",
    "dump_thread",
    "first_bound",
    "get",
    "link_user",
    "list_page",
    "load_thread",
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
# What a script returns when the thread belongs to another user (``REFUSED`` in the Lua).
_REFUSED = -1


def _script(label: str, source: str, keys: list[str], args: Sequence[Any]) -> Call:
    # One EVALSHA (EVAL once per server, on NOSCRIPT). Every script here is safe to repeat.
    return Call(
        label,
        lambda r: evalsha(r, source, keys, args),
        idempotent=True,
    )


def _user(user_id: str | None) -> bytes:
    """The user argument of a script: ``b""`` for an unscoped call."""
    return b"" if user_id is None else encode_id(user_id, "user_id")


def _refused(raw: Any) -> bool:
    return isinstance(raw, int) and raw == _REFUSED


def _foreign(thread_id: str) -> OwnershipError:
    return OwnershipError(
        f"thread {thread_id!r:.80} belongs to another user; nothing was read or written. "
        "Thread ids are global: give each user's threads their own ids (e.g. "
        "f'{user_id}:{name}'), or pass the user_id the thread belongs to"
    )


def _register(cfg: StoreConfig, thread_id: str, fresh: Any) -> Plan[None]:
    if cfg.cluster and int(fresh or 0) == 1:
        yield _script(
            "checkpoint.register",
            scripts.REGISTER,
            [registry_key(cfg.prefix)],
            [utf8(thread_id, "thread_id"), cfg.ttl_ms],
        )


def put(
    cfg: StoreConfig,
    new: NewCheckpoint,
    user_id: str | None = None,
    linked: set[tuple[str, str]] | None = None,
) -> Plan[bool]:
    """Store one checkpoint and the channel values it changed, atomically; True when this
    write created the thread. The checkpoint is checked and encoded when this is called, so a
    bad one raises before any plan (a link to its user, say) has written anything. With
    ``user_id``, see :func:`_owned_write`."""
    keys = cfg.write_keys(new.thread_id)
    m, record, fields, pairs = encode_checkpoint(new)
    args = [
        utf8(new.thread_id, "thread_id"),
        cfg.ttl_ms,
        _user(user_id),
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
    call = _script("checkpoint.put", scripts.PUT, keys, args)
    return _owned_write(cfg, linked, user_id, new.thread_id, call)


def put_writes(
    cfg: StoreConfig,
    thread_id: str,
    ns: str,
    checkpoint_id: str,
    writes: Sequence[WriteRecord],
    user_id: str | None = None,
    linked: set[tuple[str, str]] | None = None,
) -> Plan[bool]:
    """Store pending writes of one task: special channels (idx < 0) overwrite, others insert.
    True when this write created the thread. Checked and encoded when called, like :func:`put`."""
    keys = cfg.write_keys(thread_id)
    m = (ns_hash(ns) + check_checkpoint_id(checkpoint_id)).encode()
    args: list[Any] = [utf8(thread_id, "thread_id"), cfg.ttl_ms, _user(user_id), m]
    for w in writes:
        args += encode_write(m, w)
    if len(args) == 4:
        return _nothing()
    call = _script("checkpoint.put_writes", scripts.PUT_WRITES, keys, args)
    return _owned_write(cfg, linked, user_id, thread_id, call)


def _nothing() -> Plan[bool]:
    return False
    yield  # a generator that makes no call


def _owned_write(
    cfg: StoreConfig,
    linked: set[tuple[str, str]] | None,
    user_id: str | None,
    thread_id: str,
    call: Call,
) -> Plan[bool]:
    """Run a write script on a thread, for ``user_id`` if given; True if it created the thread.

    With a user, the thread is linked to the user's owner index before the first write that
    ``linked`` (one store object's memory of the pairs it linked) has not seen, so forgetting
    the user can never miss it, and linked again when a write re-creates the thread
    (``forget_user`` deleted it since). The script itself claims the thread for the user, or
    refuses it when it is another user's: the link just made is then taken back.
    """
    item = [owners.Owned("thread", thread_id)]
    pair = (user_id or "", thread_id)
    first = user_id is not None and linked is not None and pair not in linked
    if user_id is not None and (first or linked is None):
        yield from owners.link(cfg.prefix, user_id, item, cfg.ttl_ms)
        if linked is not None:
            if len(linked) >= _LINKED_CACHE:
                linked.clear()
            linked.add(pair)
    fresh = yield call
    if _refused(fresh):
        if user_id is not None:
            if linked is not None:
                linked.discard(pair)
            yield from owners.unlink(cfg.prefix, user_id, item)
        raise _foreign(thread_id)
    yield from _register(cfg, thread_id, fresh)
    created = int(fresh or 0) == 1
    if created and user_id is not None and linked is not None and not first:
        yield from owners.link(cfg.prefix, user_id, item, cfg.ttl_ms)
    return created


def link_user(cfg: StoreConfig, user_id: str, thread_id: str) -> Plan[None]:
    """Link ``thread_id`` to ``user_id``'s index, and make it the user's if it exists already.

    Raises:
        OwnershipError: the thread belongs to another user (the link is taken back).
    """
    item = [owners.Owned("thread", thread_id)]
    user = encode_id(user_id, "user_id")
    yield from owners.link(cfg.prefix, user_id, item, cfg.ttl_ms)
    keys = cfg.keys(thread_id).all()
    if _refused((yield _script("checkpoint.claim", scripts.CLAIM, keys, [user]))):
        yield from owners.unlink(cfg.prefix, user_id, item)
        raise _foreign(thread_id)


def get(
    cfg: StoreConfig,
    thread_id: str,
    ns: str,
    checkpoint_id: str | None,
    user_id: str | None = None,
) -> Plan[CheckpointRecord | None]:
    """One checkpoint of ``(thread, ns)`` (the newest when ``checkpoint_id`` is None)."""
    keys = cfg.keys(thread_id).all()
    cid = check_checkpoint_id(checkpoint_id) if checkpoint_id else ""
    args = [ns_hash(ns), utf8(cid, "id"), _user(user_id)]
    raw = yield _script("checkpoint.get", scripts.GET, keys, args)
    if _refused(raw):
        raise _foreign(thread_id)
    return decode_record(thread_id, raw) if raw else None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of :func:`list_page`: records newest first and the cursor of the next page."""

    records: list[CheckpointRecord]
    cursor: bytes | None


def first_bound(ns: str | None, before: str | None) -> bytes:
    """The exclusive upper bound of the first page (``before`` is strict)."""
    if ns is None:
        return b"(" + utf8(check_checkpoint_id(before), "before") if before else b"+"
    head = b"(" + ns_hash(ns).encode()
    return head + (utf8(check_checkpoint_id(before), "before") if before else b"\xff")


def list_page(
    cfg: StoreConfig,
    thread_id: str,
    ns: str | None,
    bound: bytes,
    count: int,
    user_id: str | None = None,
    named: bool = True,
) -> Plan[Page]:
    """Up to ``count`` checkpoints below ``bound``, newest first (``ns=None``: every namespace).

    ``named`` says the caller asked for this thread; otherwise it comes from a listing of
    threads: another user's thread there is skipped (an empty page), and one that expired is
    taken off the registry.

    Raises:
        OwnershipError: a named thread belongs to another user.
    """
    keys = cfg.keys(thread_id).all()
    scope = "all" if ns is None else "ns"
    nsh = ns_hash(ns) if ns is not None else ""
    args = [scope, nsh, bound, count, _user(user_id)]
    raw = yield _script("checkpoint.list", scripts.LIST, keys, args)
    if _refused(raw):
        if named:
            raise _foreign(thread_id)
        return Page([], None)
    seen, last, alive = int(raw[0]), raw[1], bool(int(raw[2]))
    if not alive and not named and user_id is None:
        yield from unregister(cfg, thread_id)  # it expired: unlist it
    records = [decode_record(thread_id, item) for item in raw[3:]]
    return Page(records, b"(" + last if seen >= count else None)


def threads(cfg: StoreConfig, user_id: str | None = None) -> Plan[list[str]]:
    """Ids of the threads in the registry (threads that expired may still be listed), or with
    ``user_id`` those linked to that user, oldest link first."""
    if user_id is not None:
        return [o.id for o in (yield from owners.owned(cfg.prefix, user_id, "thread"))]
    raw = yield Call(
        "checkpoint.threads", lambda r: r.zrange(registry_key(cfg.prefix), 0, -1), True
    )
    return [t.decode() for t in raw]


def unregister(cfg: StoreConfig, thread_id: str) -> Plan[None]:
    """Remove a thread that no longer exists (it expired) from the registry."""
    key, tid = registry_key(cfg.prefix), utf8(thread_id, "thread_id")
    yield Call("checkpoint.unregister", lambda r: r.zrem(key, tid), True)


def delete_thread(cfg: StoreConfig, thread_id: str, user_id: str | None = None) -> Plan[None]:
    """Delete every checkpoint, write and value of a thread and unlist it."""
    tid = utf8(thread_id, "thread_id")
    args = [tid, _user(user_id)]
    raw = yield _script("checkpoint.delete_thread", scripts.DROP, cfg.write_keys(thread_id), args)
    if _refused(raw):
        raise _foreign(thread_id)
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


def prune(
    cfg: StoreConfig,
    thread_id: str,
    keep_last: int,
    max_age_ms: int = 0,
    user_id: str | None = None,
) -> Plan[int]:
    """Keep the newest ``keep_last`` checkpoints per namespace (and drop older than max age)."""
    if keep_last < 1 and max_age_ms <= 0:
        raise InvalidInputError("prune needs keep_last >= 1 or a max age")
    keys = cfg.keys(thread_id).all()
    args = [keep_last, max_age_ms, _user(user_id)]
    raw = yield _script("checkpoint.prune", scripts.PRUNE, keys, args)
    if _refused(raw):
        raise _foreign(thread_id)
    return int(raw)


def copy_thread(
    cfg: StoreConfig, source: str, target: str, user_id: str | None = None
) -> Plan[bool]:
    """Copy every checkpoint of ``source`` into ``target``; False if ``source`` is empty.

    The copy belongs to ``user_id`` or, for an unscoped call, to the source's owner, so a
    user's data never lands in a thread that ``forget_user`` would miss.
    """
    src, dst = cfg.keys(source).all(), cfg.write_keys(target)
    raw = yield _script("checkpoint.copy_out", scripts.COPY_OUT, src, [_user(user_id)])
    if _refused(raw):
        raise _foreign(source)
    records, writes, values, ns_members, id_members, owner = raw
    if not ns_members:
        return False
    heir = user_id if user_id is not None else (owner.decode() if owner else None)
    head = [utf8(target, "target thread id"), cfg.ttl_ms, _user(heir)]
    sizes = [len(records), len(writes), len(values), len(ns_members), len(id_members)]
    args = [*head, *sizes, *records, *writes, *values, *ns_members, *id_members]
    call = _script("checkpoint.copy_in", scripts.COPY_IN, dst, args)
    yield from _owned_write(cfg, None, heir, target, call)
    return True


@dataclass(frozen=True, slots=True)
class ThreadDump:
    """Every checkpoint, pending write and channel value of one thread, in the store's own
    stored form (field/value pairs and sorted-set members, bytes as stored). Nothing in it
    names a key, so it loads into any deployment (another prefix, a Redis Cluster).

    Attributes:
        records: field/value pairs of the records (checkpoints, metadata, parents, run ids,
            put times).
        writes: field/value pairs of the pending writes.
        values: field/value pairs of the channel values.
        ns_members: the per-namespace chain members.
        id_members: the newest-first order members.
        expires_at_ms: when the thread expires (epoch ms, server clock), None if it has no TTL.
    """

    records: list[bytes]
    writes: list[bytes]
    values: list[bytes]
    ns_members: list[bytes]
    id_members: list[bytes]
    expires_at_ms: int | None = None


def _raw(items: Sequence[Any]) -> list[bytes]:
    return [i if isinstance(i, bytes) else str(i).encode() for i in items]


def dump_thread(
    cfg: StoreConfig, thread_id: str, user_id: str | None = None
) -> Plan[ThreadDump | None]:
    """The whole thread read in one consistent step; None if it holds no checkpoint.

    Raises:
        OwnershipError: ``user_id`` is given and the thread belongs to another user.
    """
    keys = cfg.keys(thread_id).all()
    raw = yield _script("checkpoint.dump", scripts.DUMP, keys, [_user(user_id)])
    if _refused(raw):
        raise _foreign(thread_id)
    records, writes, values, ns_members, id_members, now, left = raw
    if not ns_members:
        return None
    expires = int(now) + int(left) if int(left) >= 0 else None
    return ThreadDump(
        _raw(records), _raw(writes), _raw(values), _raw(ns_members), _raw(id_members), expires
    )


def load_thread(
    cfg: StoreConfig, thread_id: str, dump: ThreadDump, user_id: str | None = None
) -> Plan[None]:
    """Replace the thread with ``dump``: what it holds now is deleted, then the dump is written
    in one step, for ``user_id`` (linked in the user's owner index first, as every write is),
    expiring when the dump says (else with ``cfg``'s TTL).

    Raises:
        OwnershipError: the thread belongs to another user; nothing was written.
    """
    if dump.expires_at_ms is not None:
        left = max(1, dump.expires_at_ms - int(time.time() * 1000))
        cfg = replace(cfg, ttl_ms=left)
    yield from delete_thread(cfg, thread_id, user_id)
    head = [utf8(thread_id, "thread_id"), cfg.ttl_ms, _user(user_id)]
    parts = (dump.records, dump.writes, dump.values, dump.ns_members, dump.id_members)
    args: list[Any] = [*head, *(len(p) for p in parts), *(i for p in parts for i in p)]
    call = _script("checkpoint.copy_in", scripts.COPY_IN, cfg.write_keys(thread_id), args)
    yield from _owned_write(cfg, None, user_id, thread_id, call)
