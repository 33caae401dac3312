"""Key grammar of the checkpoint store (workflow memory): pure functions, no I/O.

Every key of one thread shares the hash tag ``{t:<digest of the thread id>}``, so all of a
thread's data lives in one Cluster slot and one Lua script updates it atomically. A thread has a
*fixed* set of six keys however many checkpoints, namespaces and writes it holds, so a sliding TTL
refreshes the whole thread in the same step as each write and a thread never half-expires::

    {p}:v1:{t:<h(T)>}:meta   HASH  tid (the raw thread id), owner (the user it belongs to, if any)
    {p}:v1:{t:<h(T)>}:ns     ZSET  <h(ns)><checkpoint id>        score 0, lex order: per-namespace chains
    {p}:v1:{t:<h(T)>}:ids    ZSET  <checkpoint id>\\0<h(ns)>      score 0, lex order: newest first overall
    {p}:v1:{t:<h(T)>}:cp     HASH  r:<m> record, b:<m> blob fields, w:<m> write fields, u:<m> run id,
                                   t:<m> server time of the put (ms), p:<m> parent id,
                                   d:<m> set if it needs its ancestors' writes (DeltaChannel)
                                                                      (m = <h(ns)><checkpoint id>)
    {p}:v1:{t:<h(T)>}:wr     HASH  <m>\\0<task id>\\0<idx> -> one pending write
    {p}:v1:{t:<h(T)>}:bl     HASH  <h(ns)><h(channel, version)> -> one channel value
    {p}:v1:{cp}:threads      ZSET  raw thread ids (the registry; its own slot)

``h`` is a 40-hex SHA-1 digest, so every field name built from it has a fixed-length prefix and
hostile namespaces, channels or versions (NUL, braces, megabytes) cannot collide or escape.
Checkpoint ids appear raw (they must sort like the ids themselves) and may not contain NUL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from agentmem._redis.keys import SCHEMA_VERSION, check_prefix, digest, encode_id
from agentmem.errors import InvalidInputError

__all__ = [
    "ThreadKeys",
    "blob_field",
    "check_checkpoint_id",
    "ns_hash",
    "registry_key",
    "thread_keys",
]


def _sha1(data: bytes) -> str:
    # Not for security: a fixed-length, separator-free name part. Thread ids, which pick the
    # slot and the key names, use SHA-256 (agentmem._redis.keys.digest).
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def ns_hash(ns: str) -> str:
    """40-hex digest of a checkpoint namespace (the root namespace ``""`` included)."""
    if not isinstance(ns, str):
        raise InvalidInputError(f"checkpoint_ns must be a str, got {type(ns).__name__}")
    try:
        return _sha1(ns.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"checkpoint_ns is not valid Unicode ({exc.reason})") from None


def check_checkpoint_id(checkpoint_id: object) -> str:
    """Return ``checkpoint_id`` if it can be stored.

    Raises:
        InvalidInputError: it is not a non-empty str, or contains NUL (the order separator).
    """
    checked = encode_id(checkpoint_id, "checkpoint id").decode("utf-8")
    if "\0" in checked:
        raise InvalidInputError("a checkpoint id may not contain NUL ('\\x00')")
    return checked


def blob_field(nsh: str, channel: str, version_key: str) -> str:
    """The field of one channel value: fixed 80 hex characters."""
    return nsh + _sha1(f"{channel}\0{version_key}".encode("utf-8", "surrogatepass"))


def registry_key(prefix: str) -> str:
    """The registry of thread ids (one key for the whole prefix, in its own slot)."""
    return f"{check_prefix(prefix)}:{SCHEMA_VERSION}:{{cp}}:threads"


@dataclass(frozen=True, slots=True)
class ThreadKeys:
    """The fixed keys of one thread, in the order every checkpoint script expects them."""

    meta: str
    ns: str
    ids: str
    cp: str
    wr: str
    bl: str

    def all(self) -> list[str]:
        """``[meta, ns, ids, cp, wr, bl]``: ``KEYS[1..6]`` of every checkpoint script."""
        return [self.meta, self.ns, self.ids, self.cp, self.wr, self.bl]


def thread_keys(prefix: str, thread_id: str) -> ThreadKeys:
    """The keys of ``thread_id``; all share one hash tag (validates the id)."""
    if type(thread_id) is not str or type(prefix) is not str:
        return _thread_keys(prefix, thread_id)  # raises the typed error (or builds, uncached)
    return _cached_thread_keys(prefix, thread_id)


def _thread_keys(prefix: str, thread_id: str) -> ThreadKeys:
    tag = f"{check_prefix(prefix)}:{SCHEMA_VERSION}:{{t:{digest(thread_id, 'thread_id')}}}"
    return ThreadKeys(
        meta=f"{tag}:meta",
        ns=f"{tag}:ns",
        ids=f"{tag}:ids",
        cp=f"{tag}:cp",
        wr=f"{tag}:wr",
        bl=f"{tag}:bl",
    )


# Every put and put_writes of a step names the same thread: its keys (a SHA-256 and six strings)
# are built once while it stays among the recently used ones.
_cached_thread_keys = lru_cache(maxsize=4096)(_thread_keys)
