"""The consolidation queue: turns waiting to become facts, durable in Redis (plans, no I/O).

Every key of a user's queue shares the user's hash tag (``agentmem._redis.keys.user_tag``), so a
turn can be queued in the same atomic script as its chat append, on standalone Redis and on
Cluster alike::

    {p}:v1:{u:<h(U)>}:fq        LIST  queued batches, oldest first (JSON, see Batch)
    {p}:v1:{u:<h(U)>}:fops      HASH  batch id -> the operations decided for it (JSON), kept
                                      until the batch is applied, so a replay applies the same
    {p}:v1:{u:<h(U)>}:ftries    HASH  batch id -> failed attempts so far
    {p}:v1:{u:<h(U)>}:fparked   HASH  batch id -> {reason, batch, at}: given up, shown by the CLI
    {p}:v1:{u:<h(U)>}:fseen     SET   digests of consolidated batches (exact dedup)
    {p}:v1:{u:<h(U)>}:flock     STR   the token of the worker consolidating this user (PX lease)
    {p}:v1:{fq}:users           ZSET  raw user ids with queued batches (their own slot)

A worker takes a user's lease, reads the head of the queue, decides (or reuses) the batch's
operations, applies them, and only then pops the batch (:func:`done`), checking in the same
script that it still holds the lease. A crash anywhere before that leaves the batch at the head:
the next worker replays it with the stored operations (at-least-once, idempotent ids).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentmem._plan import Call, Plan
from agentmem._redis.keys import SCHEMA_VERSION, check_prefix, encode_id, user_tag
from agentmem._redis.lua import SERVER_TIME, evalsha
from agentmem.errors import SerializationError

__all__ = [
    "Head",
    "QueueConfig",
    "QueueKeys",
    "backlog",
    "depth",
    "done",
    "drop_user",
    "enqueue",
    "fail",
    "lease",
    "park",
    "parked",
    "peek",
    "queue_keys",
    "queued_users",
    "release",
    "remember_ops",
    "users_key",
]


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """Key prefix and deployment of the queue."""

    prefix: str
    cluster: bool = False


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch checked and encoded for ``user_id``'s queue, to be queued by another script in the
    same step (the chat append): see :meth:`agentmem.Consolidator.prepare`."""

    id: str
    user_id: str
    raw: str
    queue: QueueConfig

    def keys(self) -> list[str]:
        """The keys a script needs to queue it: the queue, and (standalone) the users index."""
        own = [queue_keys(self.queue.prefix, self.user_id).queue]
        return own if self.queue.cluster else [*own, users_key(self.queue.prefix)]

    def listed(self) -> Plan[None]:
        """On Cluster the users index lives in another slot: list the user after queuing."""
        if self.queue.cluster:
            yield from _list(self.queue, self.user_id)


def _list(cfg: QueueConfig, user_id: str) -> Plan[None]:
    """Add the user to the index of users with queued batches (kept if already there)."""
    key, user = users_key(cfg.prefix), encode_id(user_id, "user_id")
    yield Call("facts.index", lambda r: r.zadd(key, {user: _now_ms()}, nx=True), True)


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one user's queue, in the order the scripts expect them."""

    queue: str
    ops: str
    tries: str
    parked: str
    seen: str
    lock: str

    def all(self) -> list[str]:
        return [self.queue, self.ops, self.tries, self.parked, self.seen, self.lock]


def queue_keys(prefix: str, user_id: str) -> QueueKeys:
    tag = user_tag(prefix, user_id)
    return QueueKeys(
        f"{tag}:fq", f"{tag}:fops", f"{tag}:ftries", f"{tag}:fparked", f"{tag}:fseen",
        f"{tag}:flock",
    )  # fmt: skip


def users_key(prefix: str) -> str:
    """The index of users with queued batches (one key for the prefix, in its own slot)."""
    return f"{check_prefix(prefix)}:{SCHEMA_VERSION}:{{fq}}:users"


def _keys(cfg: QueueConfig, user_id: str) -> list[str]:
    own = queue_keys(cfg.prefix, user_id).all()
    return own if cfg.cluster else [*own, users_key(cfg.prefix)]


# KEYS: the user's six keys, then (standalone only) the users index. ARGV[1] raw user id,
# ARGV[2..] batches (JSON). Returns the queue length.
_ENQUEUE = (
    SERVER_TIME
    + r"""
local n = 0
for i = 2, #ARGV do n = redis.call('RPUSH', KEYS[1], ARGV[i]) end
if #KEYS >= 7 then redis.call('ZADD', KEYS[7], 'NX', now_ms(), ARGV[1]) end
return n
"""
)

# ARGV[1] token, ARGV[2] batch JSON (must still be the head), ARGV[3] batch id, ARGV[4] digest of
# the batch ('' for none), ARGV[5] raw user id, ARGV[6] 'park' or 'done', ARGV[7] parked record.
# Returns -1 when the lease was lost (nothing changed), else the queue length left.
_FINISH = r"""
if redis.call('GET', KEYS[6]) ~= ARGV[1] then return -1 end
if redis.call('LINDEX', KEYS[1], 0) == ARGV[2] then redis.call('LPOP', KEYS[1]) end
redis.call('HDEL', KEYS[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[3])
if ARGV[6] == 'park' then
  redis.call('HSET', KEYS[4], ARGV[3], ARGV[7])
elseif ARGV[4] ~= '' then
  redis.call('SADD', KEYS[5], ARGV[4])
end
local left = redis.call('LLEN', KEYS[1])
if left == 0 and #KEYS >= 7 then redis.call('ZREM', KEYS[7], ARGV[5]) end
return left
"""

_RELEASE = r"""
if redis.call('GET', KEYS[6]) == ARGV[1] then return redis.call('DEL', KEYS[6]) end
return 0
"""

_DROP = r"""
local n = redis.call('LLEN', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
if #KEYS >= 7 then redis.call('ZREM', KEYS[7], ARGV[1]) end
return n
"""


def _script(label: str, source: str, keys: list[str], args: Sequence[Any], idem: bool) -> Call:
    return Call(label, lambda r: evalsha(r, source, keys, args), idempotent=idem)


def enqueue(cfg: QueueConfig, user_id: str, batches: Sequence[str]) -> Plan[int]:
    """Queue ``batches`` (JSON texts) for ``user_id``; returns the queue's length."""
    user = encode_id(user_id, "user_id")
    if not batches:
        return 0
    n = yield _script("facts.enqueue", _ENQUEUE, _keys(cfg, user_id), [user, *batches], False)
    if cfg.cluster:  # the index lives in another slot: listed after the batch is safe
        yield from _list(cfg, user_id)
    return int(n)


def _now_ms() -> int:
    return int(time.time() * 1000)


def queued_users(cfg: QueueConfig, limit: int) -> Plan[list[str]]:
    """Up to ``limit`` users with queued batches, longest waiting first."""
    key = users_key(cfg.prefix)
    raw = yield Call("facts.users", lambda r: r.zrange(key, 0, limit - 1), True)
    return [u.decode() if isinstance(u, bytes) else u for u in raw]


def lease(
    cfg: QueueConfig, user_id: str, token: str, lease_ms: int, *, renew: bool = False
) -> Plan[bool]:
    """Take (or extend, with the same token) the user's consolidation lease; with ``renew``,
    only extend one this token still holds."""
    key = queue_keys(cfg.prefix, user_id).lock

    def take(r: Any) -> Any:
        return evalsha(r, _LEASE, [key], [token, lease_ms, int(renew)])

    return bool((yield Call("facts.lease", take, True)))


# ARGV[3] '1': renew only (the lease must still be ours: forget_user may have dropped it).
_LEASE = r"""
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
if not holder and ARGV[3] == '1' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


def release(cfg: QueueConfig, user_id: str, token: str) -> Plan[None]:
    keys = _keys(cfg, user_id)
    yield _script("facts.release", _RELEASE, keys, [token], True)


@dataclass(frozen=True, slots=True)
class Head:
    """The batch at the head of a user's queue, with what earlier attempts left."""

    raw: bytes
    id: str
    digest: str
    ops: bytes | None
    tries: int
    seen: bool


def peek(cfg: QueueConfig, user_id: str, digest_of: Any) -> Plan[Head | None]:
    """The head batch of the user's queue (None when empty). ``digest_of(raw)`` gives the
    batch's id and dedup digest, read in the same call."""
    k = queue_keys(cfg.prefix, user_id)
    raw = yield Call("facts.peek", lambda r: r.lindex(k.queue, 0), True)
    if raw is None:
        return None
    batch_id, digest = digest_of(raw)

    def state(r: Any) -> Any:
        return evalsha(r, _STATE, k.all(), [batch_id, digest])

    ops, tries, seen = yield Call("facts.state", state, True)
    return Head(raw, batch_id, digest, ops or None, int(tries or 0), bool(int(seen)))


_STATE = r"""
local seen = 0
if ARGV[2] ~= '' then seen = redis.call('SISMEMBER', KEYS[5], ARGV[2]) end
return {redis.call('HGET', KEYS[2], ARGV[1]), redis.call('HGET', KEYS[3], ARGV[1]), seen}
"""


def remember_ops(cfg: QueueConfig, user_id: str, batch_id: str, ops: str) -> Plan[bytes]:
    """Store the operations decided for a batch unless some are stored already; returns the
    stored ones (the first decision wins, so every replay applies the same)."""
    key = queue_keys(cfg.prefix, user_id).ops

    def keep(r: Any) -> Any:
        return evalsha(r, _KEEP, [key], [batch_id, ops])

    return (yield Call("facts.remember", keep, True))  # type: ignore[no-any-return]


_KEEP = r"""
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[1], ARGV[1])
"""


def fail(cfg: QueueConfig, user_id: str, batch_id: str) -> Plan[int]:
    """Count a failed attempt at a batch; returns the attempts so far."""
    key = queue_keys(cfg.prefix, user_id).tries
    n = yield Call("facts.fail", lambda r: r.hincrby(key, batch_id, 1), False)
    return int(n)


def done(cfg: QueueConfig, user_id: str, token: str, head: Head) -> Plan[int]:
    """Pop an applied batch (and remember its digest); -1 if this worker lost the lease."""
    return (yield from _finish(cfg, user_id, token, head, head.digest, "done", ""))


def park(
    cfg: QueueConfig, user_id: str, token: str, head: Head, reason: str, at: float
) -> Plan[int]:
    """Move a batch that cannot be consolidated to the parked hash, with its reason."""
    record = json.dumps({"reason": reason, "at": at, "batch": head.raw.decode("utf-8", "replace")})
    return (yield from _finish(cfg, user_id, token, head, "", "park", record))


def _finish(
    cfg: QueueConfig, user_id: str, token: str, head: Head, digest: str, how: str, record: str
) -> Plan[int]:
    user = encode_id(user_id, "user_id")
    args = [token, head.raw, head.id, digest, user, how, record]
    left = int((yield _script(f"facts.{how}", _FINISH, _keys(cfg, user_id), args, True)))
    if left == 0 and cfg.cluster:
        yield from _unlist_if_empty(cfg, user_id)
    return left


def _unlist_if_empty(cfg: QueueConfig, user_id: str) -> Plan[None]:
    # Cluster: the index is in another slot. Unlist, then look again: a batch queued meanwhile
    # (its own listing may have run before the unlisting) is listed back.
    key, user = users_key(cfg.prefix), encode_id(user_id, "user_id")
    queue = queue_keys(cfg.prefix, user_id).queue
    yield Call("facts.unlist", lambda r: r.zrem(key, user), True)
    if int((yield Call("facts.depth", lambda r: r.llen(queue), True))):
        yield from _list(cfg, user_id)


def depth(cfg: QueueConfig, user_id: str) -> Plan[int]:
    queue = queue_keys(cfg.prefix, user_id).queue
    return int((yield Call("facts.depth", lambda r: r.llen(queue), True)))


def backlog(cfg: QueueConfig, users: Sequence[str]) -> Plan[int]:
    """Batches queued for ``users`` in all (one pipelined round trip; on Cluster, one per node)."""
    if not users:
        return 0
    queues = [queue_keys(cfg.prefix, user).queue for user in users]
    lengths = yield Call("facts.backlog", lambda r: _lengths(r, queues), True)
    return sum(int(n) for n in lengths)


def _lengths(client: Any, keys: list[str]) -> Any:
    """LLEN of each key, pipelined: a list, or an awaitable of one on an async client."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
    return pipe.execute()


def parked(cfg: QueueConfig, user_id: str) -> Plan[dict[str, dict[str, Any]]]:
    """The user's parked batches: batch id -> ``{reason, at, batch}``."""
    key = queue_keys(cfg.prefix, user_id).parked
    raw = yield Call("facts.parked", lambda r: r.hgetall(key), True)
    out: dict[str, dict[str, Any]] = {}
    for k, v in (raw or {}).items():
        try:
            out[k.decode() if isinstance(k, bytes) else k] = json.loads(v)
        except ValueError as exc:
            raise SerializationError(f"a parked batch record is corrupt ({exc})") from exc
    return out


def drop_user(cfg: QueueConfig, user_id: str) -> Plan[int]:
    """Delete the user's queue, parked batches and dedup digests; returns batches dropped."""
    user = encode_id(user_id, "user_id")
    n = yield _script("facts.drop", _DROP, _keys(cfg, user_id), [user], True)
    if cfg.cluster:
        key = users_key(cfg.prefix)
        yield Call("facts.unlist", lambda r: r.zrem(key, user), True)
    return int(n)
