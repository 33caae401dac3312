"""Saved workflow runs (snapshots of a run's state): keys, Lua and plans, framework-free.

Layout for workflow ``W`` and run ``R`` (all keys of one workflow share one Cluster hash tag)::

    {p}:v1:{w:<h(W)>}:runs        ZSET  raw run id -> time of the last save (ms, server clock)
    {p}:v1:{w:<h(W)>}:r:<h(R)>    HASH  rid, data, status, label, saved_at, saves

A save is one Lua step that writes the snapshot, updates the index and sets the run's TTL (the
index only ever has its TTL extended). Runs whose key expired leave an index entry that the next
listing removes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from agentmem._plan import Call, Plan
from agentmem._redis.keys import SCHEMA_VERSION, check_prefix, digest, encode_id
from agentmem.errors import InvalidInputError

__all__ = ["RunConfig", "SavedRun", "delete", "get", "list_runs", "save"]

_SAVE = r"""
-- KEYS[1] the run, KEYS[2] the index; ARGV rid, ttl ms, data, status, label.
local t = redis.call('TIME')
local now = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
local ttl = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'rid', ARGV[1], 'data', ARGV[3], 'status', ARGV[4],
           'label', ARGV[5], 'saved_at', now)
local saves = redis.call('HINCRBY', KEYS[1], 'saves', 1)
local fresh_index = redis.call('EXISTS', KEYS[2]) == 0
redis.call('ZADD', KEYS[2], now, ARGV[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  local left = redis.call('PTTL', KEYS[2])
  if fresh_index or (left >= 0 and left < ttl) then redis.call('PEXPIRE', KEYS[2], ttl) end
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
return saves
"""

_LIST = r"""
-- KEYS[1] the index; ARGV[1] the run-key prefix. Run keys are <prefix><sha1(rid)>, in the
-- index's slot (same hash tag). Drops index entries whose run expired.
local out = {}
for _, rid in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. redis.sha1hex(rid)
  local meta = redis.call('HMGET', key, 'status', 'label', 'saved_at', 'saves')
  if meta[3] then
    out[#out + 1] = {rid, meta[1], meta[2], meta[3], meta[4]}
  else
    redis.call('ZREM', KEYS[1], rid)
  end
end
return out
"""

_DELETE = r"""
-- KEYS[1] the run, KEYS[2] the index; ARGV[1] rid.
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Key prefix and TTL of saved runs.

    Attributes:
        prefix: the key prefix.
        ttl_ms: expiry of a saved run in ms, reset by each save (0: none).
    """

    prefix: str
    ttl_ms: int = 0

    def _tag(self, workflow: str) -> str:
        w = digest(workflow, "workflow name")
        return f"{check_prefix(self.prefix)}:{SCHEMA_VERSION}:{{w:{w}}}"

    def index(self, workflow: str) -> str:
        """The workflow's index of saved runs."""
        return f"{self._tag(workflow)}:runs"

    def run_prefix(self, workflow: str) -> str:
        """Every run key of the workflow starts with this."""
        return f"{self._tag(workflow)}:r:"

    def run(self, workflow: str, run_id: str) -> str:
        """The key of one saved run (the digest is SHA-1, so Lua can rebuild it)."""
        raw = encode_id(run_id, "run id")
        return self.run_prefix(workflow) + hashlib.sha1(raw, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class SavedRun:
    """A saved run.

    Attributes:
        workflow: the workflow name.
        run_id: the run id it was saved under.
        status: what the caller said (``"paused"``, ``"running"``, ``"completed"``, ...).
        label: why it was saved (an event name, ``"completed"``, ...).
        saved_at: time of the latest save (server clock, UTC).
        saves: how many times the run was saved.
        data: the snapshot bytes (``None`` in listings).
    """

    workflow: str
    run_id: str
    status: str
    label: str
    saved_at: datetime
    saves: int
    data: bytes | None = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _when(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)


def save(
    cfg: RunConfig, workflow: str, run_id: str, data: bytes, status: str, label: str
) -> Plan[int]:
    """Save (replace) the snapshot of a run; return how many times it has been saved."""
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidInputError("a run snapshot must be bytes")
    keys = [cfg.run(workflow, run_id), cfg.index(workflow)]
    args = [encode_id(run_id, "run id"), cfg.ttl_ms, bytes(data), status, label]
    return _save(keys, args)  # validated above, when called, before any plan step runs


def _save(keys: list[str], args: list[Any]) -> Plan[int]:
    saves = yield Call(
        "runs.save", lambda r: r.register_script(_SAVE)(keys=keys, args=args), idempotent=False
    )
    return int(saves)


def get(cfg: RunConfig, workflow: str, run_id: str) -> Plan[SavedRun | None]:
    """The saved run with its snapshot, or None."""
    key = cfg.run(workflow, run_id)
    fields = ("data", "status", "label", "saved_at", "saves")
    raw = yield Call("runs.get", lambda r: r.hmget(key, fields), idempotent=True)
    data, status, label, saved_at, saves = raw
    if data is None or saved_at is None:
        return None
    return SavedRun(
        workflow, run_id, _text(status), _text(label), _when(saved_at), int(saves), data
    )


def list_runs(cfg: RunConfig, workflow: str) -> Plan[list[SavedRun]]:
    """Saved runs of a workflow, most recently saved first (without their snapshots)."""
    keys, args = [cfg.index(workflow)], [cfg.run_prefix(workflow)]
    raw = yield Call(
        "runs.list", lambda r: r.register_script(_LIST)(keys=keys, args=args), idempotent=True
    )
    return [
        SavedRun(workflow, _text(rid), _text(st), _text(lb), _when(at), int(n or 0))
        for rid, st, lb, at, n in raw
    ]


def delete(cfg: RunConfig, workflow: str, run_id: str) -> Plan[bool]:
    """Delete a saved run; True if it existed."""
    keys = [cfg.run(workflow, run_id), cfg.index(workflow)]
    args = [encode_id(run_id, "run id")]
    deleted = yield Call(
        "runs.delete",
        lambda r: r.register_script(_DELETE)(keys=keys, args=args),
        idempotent=True,
    )
    return bool(deleted)
