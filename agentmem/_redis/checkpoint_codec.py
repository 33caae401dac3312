"""Encoding of the checkpoint store's records: value types and the byte layout, pure.

Values stay opaque typed bytes (:class:`Typed`). A record, a channel value and a pending write are
each stored as a sequence of length-prefixed parts (4-byte big-endian length, then the bytes), so
any bytes, including NUL and invalid UTF-8 from an encrypting serializer, round-trip exactly.
Large items are zlib-compressed when that pays (marked by a leading ``z``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentmem._redis.checkpoint_keys import (
    ThreadKeys,
    blob_field,
    check_checkpoint_id,
    ns_hash,
    registry_key,
    thread_keys,
)
from agentmem.errors import InvalidInputError, SerializationError

__all__ = [
    "CheckpointRecord",
    "NewCheckpoint",
    "StoreConfig",
    "Typed",
    "WriteRecord",
    "decode_record",
    "encode_checkpoint",
    "encode_write",
    "utf8",
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


# Items of at least this size are stored zlib-compressed when that saves a tenth or more:
# LangGraph's checkpoints repeat channel names and zero-padded versions, and text values shrink
# too (Postgres compresses the same data through TOAST). Encrypted bytes do not shrink and stay raw.
_COMPRESS_FROM = 2048
# A frame starts with a 4-byte length under 2**29 (Redis caps values at 512 MB), so its first byte
# is never "z": the marker cannot be mistaken for a frame.
_ZLIB = b"z"


def _frame(parts: Sequence[bytes]) -> bytes:
    raw = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    if len(raw) >= _COMPRESS_FROM:
        packed = zlib.compress(raw, 1)
        if len(packed) * 10 <= len(raw) * 9:
            return _ZLIB + packed
    return raw


def _unframe(stored: bytes) -> list[bytes]:
    try:
        raw = zlib.decompress(stored[1:]) if stored[:1] == _ZLIB else stored
    except zlib.error as exc:
        raise SerializationError(f"a stored checkpoint item is corrupt ({exc})") from exc
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


def utf8(value: str, what: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{what} is not valid Unicode ({exc.reason})") from None


def _typed(value: Typed, what: str) -> list[bytes]:
    if not isinstance(value, Typed) or not isinstance(value.data, (bytes, bytearray)):
        raise SerializationError(f"{what} must be Typed(tag, bytes), got {type(value).__name__}")
    return [utf8(value.tag, f"the type tag of {what}"), bytes(value.data)]


def _read_typed(tag: bytes, data: bytes) -> Typed:
    return Typed(tag.decode("utf-8"), data)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8")


def encode_checkpoint(new: NewCheckpoint) -> tuple[str, bytes, str, list[Any]]:
    """``(m, record, value fields, new field/value pairs)`` of a checkpoint to put.

    Raises:
        InvalidInputError: an id, namespace or channel name cannot be stored.
        SerializationError: a value is not ``Typed`` bytes.
    """
    cid = check_checkpoint_id(new.checkpoint_id)
    nsh = ns_hash(new.ns)
    channels = list(new.versions)
    record = _frame(
        [
            _FORMAT,
            utf8(new.ns, "checkpoint_ns"),
            utf8(cid, "checkpoint id"),
            utf8(new.parent_id or "", "parent checkpoint id"),
            *_typed(new.checkpoint, "the checkpoint"),
            *_typed(new.metadata, "the metadata"),
            *(utf8(c, "a channel name") for c in channels),
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
    return nsh + cid, record, fields, pairs


def encode_write(m: bytes, w: WriteRecord) -> list[Any]:
    """``[field, value, special]`` of one pending write on record ``m``."""
    if isinstance(w.idx, bool) or not isinstance(w.idx, int):
        raise InvalidInputError(f"write index must be an int, got {w.idx!r}")
    task = utf8(w.task_id, "task_id")
    value = _frame(
        [
            task,
            str(w.idx).encode(),
            utf8(w.channel, "channel"),
            utf8(w.task_path, "task_path"),
            *_typed(w.value, f"the write to {w.channel!r}"),
        ]
    )
    return [m + b"\0" + task + b"\0" + str(w.idx).encode(), value, int(w.idx < 0)]


def decode_record(thread_id: str, raw: Sequence[Any]) -> CheckpointRecord:
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
