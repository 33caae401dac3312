"""Checkpoint-store operations written once as plans (see :mod:`agentmem._plan`).

Values are opaque typed bytes (:class:`Typed`): the adapters serialize (LangGraph's ``serde``,
possibly encrypted) and the store never looks inside. Each plan validates and encodes its input
before its first call, so bad input raises with nothing written. ``put``, ``put_writes`` and
``get`` are one EVALSHA each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentmem._plan import Call, Plan
from agentmem._redis import checkpoint_scripts as scripts
from agentmem._redis.checkpoint_keys import (
    ThreadKeys,
    blob_field,
    check_checkpoint_id,
    ns_hash,
    registry_key,
    thread_keys,
)
from agentmem._redis.keys import encode_id
from agentmem.errors import InvalidInputError, SerializationError

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
    "prune",
    "put",
    "put_writes",
    "threads",
]

_FORMAT = b"cp1"
_EMPTY = "empty"  # tag of a channel that a checkpoint cleared (no value)


@dataclass(frozen=True, slots=True)
class Typed:
    """Serialized bytes with the tag that says how to read them (``("msgpack", b"...")``)."""

    tag: str
    data: bytes


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One pending write of a task, as stored.

    Attributes:
        task_id: the task that wrote it.
        idx: its index in the task's writes; negative for special channels (last write wins).
        channel: the channel written.
        value: the serialized value.
        task_path: the task's path, the first sort key of pending writes.
    """

    task_id: str
    idx: int
    channel: str
    value: Typed
    task_path: str = ""


@dataclass(frozen=True, slots=True)
class NewCheckpoint:
    """A checkpoint to store.

    Attributes:
        thread_id: the thread.
        ns: the checkpoint namespace (``""`` for the root graph).
        checkpoint_id: its id; ids of one namespace must sort in creation order.
        parent_id: the previous checkpoint of the namespace, if any.
        checkpoint: the serialized checkpoint without its channel values.
        metadata: the serialized metadata.
        run_id: the run that wrote it (for ``delete_runs``), if known.
        versions: version key of every channel of the checkpoint.
        new_values: the channels whose version this checkpoint moved; ``None`` marks a channel
            that has no value (it was cleared).
        needs_ancestors: reading it needs its ancestors' pending writes (LangGraph's
            ``DeltaChannel``); retention then keeps the chain back to one that does not.
    """

    thread_id: str
    ns: str
    checkpoint_id: str
    parent_id: str | None
    checkpoint: Typed
    metadata: Typed
    run_id: str | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    new_values: Mapping[str, Typed | None] = field(default_factory=dict)
    needs_ancestors: bool = False


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """A stored checkpoint with its channel values and its pending writes.

    Attributes:
        thread_id: the thread.
        ns: the namespace.
        checkpoint_id: the id.
        parent_id: the parent's id, if any.
        checkpoint: the serialized checkpoint (without channel values).
        metadata: the serialized metadata.
        values: channel -> serialized value (channels without a value are absent).
        writes: pending writes sorted by ``(task_path, task_id, idx)``.
    """

    thread_id: str
    ns: str
    checkpoint_id: str
    parent_id: str | None
    checkpoint: Typed
    metadata: Typed
    values: dict[str, Typed]
    writes: list[WriteRecord]


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """What every plan needs: where the keys live and the write policy.

    Attributes:
        prefix: the key prefix.
        ttl_ms: sliding TTL of a whole thread in ms, refreshed by every write (0: none).
        cluster: the client is a Redis Cluster client (the registry is then written apart).
        keep_last: checkpoints kept per namespace at each put (0: all).
        max_age_ms: checkpoints older than this are dropped at each put (0: off); the newest of
            a namespace always stays.
    """

    prefix: str
    ttl_ms: int = 0
    cluster: bool = False
    keep_last: int = 0
    max_age_ms: int = 0

    def keys(self, thread_id: str) -> ThreadKeys:
        """The keys of ``thread_id`` (validates the id)."""
        return thread_keys(self.prefix, thread_id)

    def write_keys(self, thread_id: str) -> list[str]:
        """``KEYS`` of a write script: the thread's keys, plus the registry unless on Cluster."""
        own = self.keys(thread_id).all()
        return own if self.cluster else [*own, registry_key(self.prefix)]


# -- encoding ------------------------------------------------------------------------------------


def _frame(parts: Sequence[bytes]) -> bytes:
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def _unframe(raw: bytes) -> list[bytes]:
    parts, pos = [], 0
    while pos < len(raw):
        size = int.from_bytes(raw[pos : pos + 4], "big")
        parts.append(raw[pos + 4 : pos + 4 + size])
        pos += 4 + size
    if pos != len(raw):
        raise SerializationError(
            "a stored checkpoint item is truncated; was it written by agentmem?"
        )
    return parts


def _utf8(value: str, what: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{what} is not valid Unicode ({exc.reason})") from None


def _typed(value: Typed, what: str) -> list[bytes]:
    if not isinstance(value, Typed) or not isinstance(value.data, (bytes, bytearray)):
        raise SerializationError(f"{what} must be Typed(tag, bytes), got {type(value).__name__}")
    return [_utf8(value.tag, f"the type tag of {what}"), bytes(value.data)]


def _read_typed(tag: bytes, data: bytes) -> Typed:
    return Typed(tag.decode("utf-8"), data)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8")


# -- plans ---------------------------------------------------------------------------------------


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
            [_utf8(thread_id, "thread_id"), cfg.ttl_ms],
        )


def put(cfg: StoreConfig, new: NewCheckpoint) -> Plan[None]:
    """Store one checkpoint and the channel values it changed, atomically."""
    keys = cfg.write_keys(new.thread_id)
    cid = check_checkpoint_id(new.checkpoint_id)
    nsh = ns_hash(new.ns)
    channels = list(new.versions)
    record = _frame(
        [
            _FORMAT,
            _utf8(new.ns, "checkpoint_ns"),
            _utf8(cid, "checkpoint id"),
            _utf8(new.parent_id or "", "parent checkpoint id"),
            *_typed(new.checkpoint, "the checkpoint"),
            *_typed(new.metadata, "the metadata"),
            *(_utf8(c, "a channel name") for c in channels),
        ]
    )
    fields = "".join(blob_field(nsh, c, str(new.versions[c])) for c in channels)
    pairs: list[Any] = []
    for channel, value in new.new_values.items():
        version = new.versions.get(channel)
        if version is None:
            raise InvalidInputError(f"channel {channel!r} has a new value but no version")
        stored = [_EMPTY.encode(), b""] if value is None else _typed(value, f"channel {channel!r}")
        pairs += [blob_field(nsh, channel, str(version)), _frame(stored)]
    args = [
        _utf8(new.thread_id, "thread_id"),
        cfg.ttl_ms,
        (nsh + cid).encode(),
        record,
        fields,
        _utf8(new.run_id or "", "run_id"),
        cfg.keep_last,
        cfg.max_age_ms,
        _utf8(new.parent_id or "", "parent checkpoint id"),
        int(bool(new.needs_ancestors)),
        *pairs,
    ]
    fresh = yield _script("checkpoint.put", scripts.PUT, keys, args)
    yield from _register(cfg, new.thread_id, fresh)


def put_writes(
    cfg: StoreConfig, thread_id: str, ns: str, checkpoint_id: str, writes: Sequence[WriteRecord]
) -> Plan[None]:
    """Store pending writes of one task: special channels (idx < 0) overwrite, others insert."""
    keys = cfg.write_keys(thread_id)
    m = ns_hash(ns) + check_checkpoint_id(checkpoint_id)
    args: list[Any] = [_utf8(thread_id, "thread_id"), cfg.ttl_ms, m.encode()]
    for w in writes:
        if isinstance(w.idx, bool) or not isinstance(w.idx, int):
            raise InvalidInputError(f"write index must be an int, got {w.idx!r}")
        task = _utf8(w.task_id, "task_id")
        value = _frame(
            [
                task,
                str(w.idx).encode(),
                _utf8(w.channel, "channel"),
                _utf8(w.task_path, "task_path"),
                *_typed(w.value, f"the write to {w.channel!r}"),
            ]
        )
        args += [m.encode() + b"\0" + task + b"\0" + str(w.idx).encode(), value, int(w.idx < 0)]
    if len(args) == 3:
        return
    fresh = yield _script("checkpoint.put_writes", scripts.PUT_WRITES, keys, args)
    yield from _register(cfg, thread_id, fresh)


def _record(thread_id: str, raw: Sequence[Any]) -> CheckpointRecord:
    """Decode ``{m, record, values, writes}`` as returned by the scripts."""
    try:
        parts = _unframe(raw[1])
        if parts[0] != _FORMAT:
            raise SerializationError(f"unknown checkpoint format {parts[0]!r:.20}")
        channels = [_decode(c) for c in parts[8:]]
        values: dict[str, Typed] = {}
        for channel, stored in zip(channels, raw[2], strict=True):
            if stored:
                tag, data = _unframe(stored)
                if tag.decode() != _EMPTY:
                    values[channel] = _read_typed(tag, data)
        writes = []
        for stored in raw[3]:
            if stored:
                task, idx, name, path, tag, data = _unframe(stored)
                writes.append(
                    WriteRecord(
                        _decode(task),
                        int(idx),
                        _decode(name),
                        _read_typed(tag, data),
                        _decode(path),
                    )
                )
        writes.sort(key=lambda w: (w.task_path, w.task_id, w.idx))
        return CheckpointRecord(
            thread_id=thread_id,
            ns=_decode(parts[1]),
            checkpoint_id=_decode(parts[2]),
            parent_id=_decode(parts[3]) or None,
            checkpoint=_read_typed(parts[4], parts[5]),
            metadata=_read_typed(parts[6], parts[7]),
            values=values,
            writes=writes,
        )
    except (ValueError, IndexError) as exc:
        raise SerializationError(
            f"a stored checkpoint of thread {thread_id!r:.80} cannot be read ({exc}); was it "
            "written by another program under the same key prefix?"
        ) from exc


def get(
    cfg: StoreConfig, thread_id: str, ns: str, checkpoint_id: str | None
) -> Plan[CheckpointRecord | None]:
    """One checkpoint of ``(thread, ns)`` (the newest when ``checkpoint_id`` is None)."""
    keys = cfg.keys(thread_id).all()
    cid = check_checkpoint_id(checkpoint_id) if checkpoint_id else ""
    raw = yield _script("checkpoint.get", scripts.GET, keys, [ns_hash(ns), _utf8(cid, "id")])
    return _record(thread_id, raw) if raw else None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of :func:`list_page`: records newest first, and the cursor of the next page."""

    records: list[CheckpointRecord]
    cursor: bytes | None


def first_bound(ns: str | None, before: str | None) -> bytes:
    """The exclusive upper bound of the first page (``before`` is strict)."""
    if ns is None:
        return b"(" + _utf8(check_checkpoint_id(before), "before") if before else b"+"
    head = b"(" + ns_hash(ns).encode()
    return head + (_utf8(check_checkpoint_id(before), "before") if before else b"\xff")


def list_page(
    cfg: StoreConfig, thread_id: str, ns: str | None, bound: bytes, count: int
) -> Plan[Page]:
    """Up to ``count`` checkpoints below ``bound``, newest first (``ns=None``: every namespace)."""
    keys = cfg.keys(thread_id).all()
    scope = "all" if ns is None else "ns"
    nsh = ns_hash(ns) if ns is not None else ""
    raw = yield _script("checkpoint.list", scripts.LIST, keys, [scope, nsh, bound, count])
    seen, last = int(raw[0]), raw[1]
    records = [_record(thread_id, item) for item in raw[2:]]
    return Page(records, b"(" + last if seen >= count else None)


def threads(cfg: StoreConfig) -> Plan[list[str]]:
    """Ids of the threads in the registry (threads that expired may still be listed)."""
    raw = yield Call(
        "checkpoint.threads", lambda r: r.zrange(registry_key(cfg.prefix), 0, -1), True
    )
    return [_decode(t) for t in raw]


def delete_thread(cfg: StoreConfig, thread_id: str) -> Plan[None]:
    """Delete every checkpoint, write and value of a thread and unlist it."""
    tid = _utf8(thread_id, "thread_id")
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
    head = [_utf8(target, "target thread id"), cfg.ttl_ms]
    sizes = [len(records), len(writes), len(values), len(ns_members), len(id_members)]
    args = [*head, *sizes, *records, *writes, *values, *ns_members, *id_members]
    fresh = yield _script("checkpoint.copy_in", scripts.COPY_IN, dst, args)
    yield from _register(cfg, target, fresh)
    return True
