"""Saved workflow runs (snapshots of a run's state): keys, Lua and plans, framework-free.

Layout for workflow ``W`` and run ``R`` (all keys of one workflow share one Cluster hash tag)::

    {p}:v1:{w:<h(W)>}:runs        ZSET  raw run id -> time of the last save (ms, server clock)
    {p}:v1:{w:<h(W)>}:r:<h(R)>    HASH  rid, data, status, label, error, saved_at, saves

Every write is one Lua step that writes the run, updates the index and sets the run's TTL (the
index only ever has its TTL extended). ``saves`` counts the writes and is the run's version: a
write may require it to be unchanged since the writer's own last write (compare-and-set), and a
claim (a resume) moves the status to ``running`` only from a status that may be resumed, in the
same step, so two resumes of one paused run cannot both get it. Runs whose key expired leave an
index entry that the next listing removes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from agentmem._plan import Call, Plan
from agentmem._redis.keys import SCHEMA_VERSION, check_prefix, digest, encode_id, encode_text
from agentmem._redis.lua import OUTLIVE, SERVER_TIME, evalsha
from agentmem.errors import InvalidInputError

__all__ = [
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "PAUSED",
    "RUNNING",
    "Outcome",
    "RunConfig",
    "SavedRun",
    "claim",
    "delete",
    "dump",
    "get",
    "list_runs",
    "restore",
    "save",
]

PAUSED: Final = "paused"
RUNNING: Final = "running"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"

_WRITE = r"""
-- Write the run's fields, count the write, index the run and set the TTLs.
-- KEYS[1] the run, KEYS[2] the index; fields: flat name/value list.
local function write(fields, rid, ttl)
  fields[#fields + 1] = 'saved_at'
  fields[#fields + 1] = now_ms()
  redis.call('HSET', KEYS[1], unpack(fields))
  local saves = redis.call('HINCRBY', KEYS[1], 'saves', 1)
  local fresh = redis.call('EXISTS', KEYS[2]) == 0
  redis.call('ZADD', KEYS[2], now_ms(), rid)
  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
  outlive(KEYS[2], ttl, fresh)
  return saves
end
"""

_SAVE = (
    SERVER_TIME
    + OUTLIVE
    + _WRITE
    + r"""
-- ARGV rid, ttl ms, data, status, label, error, expected saves (-1: any), keep data (0/1).
local cur = redis.call('HMGET', KEYS[1], 'saves', 'data')
local have = tonumber(cur[1] or '0')
local expect = tonumber(ARGV[7])
if expect >= 0 and have ~= expect then return {'conflict', have} end
local fields = {'rid', ARGV[1], 'status', ARGV[4], 'label', ARGV[5], 'error', ARGV[6]}
if ARGV[8] == '1' then
  if not cur[2] then return {'missing', have} end
else
  fields[#fields + 1] = 'data'
  fields[#fields + 1] = ARGV[3]
end
return {'ok', write(fields, ARGV[1], tonumber(ARGV[2]))}
"""
)

_CLAIM = (
    SERVER_TIME
    + OUTLIVE
    + _WRITE
    + r"""
-- ARGV rid, ttl ms, force (0/1), expected saves (-1: any), label.
-- A completed run is never claimed; a running or failed one only with force.
local cur = redis.call('HMGET', KEYS[1], 'saves', 'status', 'data')
if not cur[3] then return {'missing', 0, ''} end
local have = tonumber(cur[1] or '0')
local status = cur[2] or ''
local expect = tonumber(ARGV[4])
if expect >= 0 and have ~= expect then return {'conflict', have, status} end
if status == 'completed' or (ARGV[3] ~= '1' and (status == 'running' or status == 'failed')) then
  return {'state', have, status}
end
local fields = {'rid', ARGV[1], 'status', 'running', 'label', ARGV[5], 'error', ''}
local saves = write(fields, ARGV[1], tonumber(ARGV[2]))
return {'ok', saves, status, now_ms(), cur[3]}
"""
)

_LIST = r"""
-- KEYS[1] the index; ARGV[1] the run-key prefix. Run keys are <prefix><sha1(rid)>, in the
-- index's slot (same hash tag). Drops index entries whose run expired.
local out = {}
for _, rid in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. redis.sha1hex(rid)
  local meta = redis.call('HMGET', key, 'status', 'label', 'saved_at', 'saves', 'error')
  if meta[3] then
    out[#out + 1] = {rid, meta[1], meta[2], meta[3], meta[4], meta[5]}
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
        ttl_ms: expiry of a saved run in ms, reset by each write (0: none).
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
        status: ``"paused"``, ``"running"``, ``"completed"``, ``"failed"``, ``"cancelled"`` or
            what the caller chose.
        label: why it was saved (an event name, ``"completed"``, ``"resumed"``, ...).
        saved_at: time of the latest write (server clock, UTC).
        saves: how many times the run was written (its version).
        error: what a failed run failed with (``""`` otherwise).
        data: the snapshot bytes (``None`` in listings).
    """

    workflow: str
    run_id: str
    status: str
    label: str
    saved_at: datetime
    saves: int
    error: str = ""
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a conditional write found: ``ok``, ``conflict``, ``missing`` or ``state``.

    Attributes:
        code: ``"ok"`` (written), ``"conflict"`` (``saves`` was not the expected one),
            ``"missing"`` (no such run) or ``"state"`` (its status may not be claimed).
        saves: the run's number of writes (after the write when ``ok``).
        status: the status before the call (claims only).
        run: the claimed run, with its snapshot (claims that succeeded only).
    """

    code: str
    saves: int
    status: str = ""
    run: SavedRun | None = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _when(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)


def _expect(value: int | None) -> int:
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"expect_saves must be None or an int >= 0, got {value!r}")
    return value


def _script(label: str, src: str, keys: list[str], args: list[Any]) -> Plan[Any]:
    return (yield Call(label, lambda r: evalsha(r, src, keys, args), idempotent=False))


def save(
    cfg: RunConfig,
    workflow: str,
    run_id: str,
    data: bytes | None,
    *,
    status: str,
    label: str,
    error: str = "",
    expect_saves: int | None = None,
) -> Plan[Outcome]:
    """Write a run (``data=None`` keeps its snapshot), if it has ``expect_saves`` writes.

    Everything is checked when this is called, before any plan step runs.
    """
    if data is not None and not isinstance(data, (bytes, bytearray)):
        raise InvalidInputError("a run snapshot must be bytes (or None to keep the saved one)")
    keys = [cfg.run(workflow, run_id), cfg.index(workflow)]
    args = [
        encode_id(run_id, "run id"),
        cfg.ttl_ms,
        bytes(data or b""),
        encode_text(status, "a run's status"),
        encode_text(label, "a run's label"),
        encode_text(error, "a run's error"),
        _expect(expect_saves),
        1 if data is None else 0,
    ]
    return _saved(keys, args)


def _saved(keys: list[str], args: list[Any]) -> Plan[Outcome]:
    code, saves = yield from _script("runs.save", _SAVE, keys, args)
    return Outcome(_text(code), int(saves))


def claim(
    cfg: RunConfig,
    workflow: str,
    run_id: str,
    *,
    force: bool = False,
    expect_saves: int | None = None,
    label: str = "resumed",
) -> Plan[Outcome]:
    """Move a run to ``running`` in one step and return it with its snapshot.

    The status decides: ``completed`` never, ``running`` and ``failed`` only with ``force``,
    anything else yes. With ``expect_saves`` the run must also have exactly that many writes
    (nobody wrote it since the caller read or wrote it).
    """
    keys = [cfg.run(workflow, run_id), cfg.index(workflow)]
    args = [
        encode_id(run_id, "run id"),
        cfg.ttl_ms,
        1 if force else 0,
        _expect(expect_saves),
        encode_text(label, "a run's label"),
    ]
    return _claimed(workflow, run_id, label, keys, args)


def _claimed(
    workflow: str, run_id: str, label: str, keys: list[str], args: list[Any]
) -> Plan[Outcome]:
    raw = yield from _script("runs.claim", _CLAIM, keys, args)
    code, saves, before = _text(raw[0]), int(raw[1]), _text(raw[2])
    if code != "ok":
        return Outcome(code, saves, before)
    run = SavedRun(workflow, run_id, RUNNING, label, _when(raw[3]), saves, "", bytes(raw[4]))
    return Outcome(code, saves, before, run)


def get(cfg: RunConfig, workflow: str, run_id: str) -> Plan[SavedRun | None]:
    """The saved run with its snapshot, or None."""
    key = cfg.run(workflow, run_id)
    fields = ("data", "status", "label", "saved_at", "saves", "error")
    raw = yield Call("runs.get", lambda r: r.hmget(key, fields), idempotent=True)
    data, status, label, saved_at, saves, error = raw
    if data is None or saved_at is None:
        return None
    return SavedRun(
        workflow,
        run_id,
        _text(status),
        _text(label),
        _when(saved_at),
        int(saves),
        _text(error),
        bytes(data),
    )


def list_runs(cfg: RunConfig, workflow: str) -> Plan[list[SavedRun]]:
    """Saved runs of a workflow, most recently saved first (without their snapshots)."""
    keys, args = [cfg.index(workflow)], [cfg.run_prefix(workflow)]
    raw = yield Call("runs.list", lambda r: evalsha(r, _LIST, keys, args), idempotent=True)
    return [
        SavedRun(workflow, _text(rid), _text(st), _text(lb), _when(at), int(n or 0), _text(err))
        for rid, st, lb, at, n, err in raw
    ]


def delete(cfg: RunConfig, workflow: str, run_id: str) -> Plan[bool]:
    """Delete a saved run; True if it existed."""
    keys = [cfg.run(workflow, run_id), cfg.index(workflow)]
    args = [encode_id(run_id, "run id")]
    deleted = yield Call(
        "runs.delete",
        lambda r: evalsha(r, _DELETE, keys, args),
        idempotent=True,
    )
    return bool(deleted)


_DUMP = (
    SERVER_TIME
    + r"""
-- KEYS[1] the run. Its fields, the server time and the run's PTTL (-1: persistent), one step.
return {redis.call('HMGET', KEYS[1], 'data', 'status', 'label', 'saved_at', 'saves', 'error'),
        now_ms(), redis.call('PTTL', KEYS[1])}
"""
)

_RESTORE = (
    SERVER_TIME
    + OUTLIVE
    + r"""
-- KEYS[1] the run, KEYS[2] the index. Put a run back as exported (an import), replacing it:
-- ARGV rid, data, status, label, error, saved_at (ms), saves, absolute expiry (ms; 0: none).
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'rid', ARGV[1], 'data', ARGV[2], 'status', ARGV[3],
           'label', ARGV[4], 'error', ARGV[5], 'saved_at', ARGV[6], 'saves', ARGV[7])
local fresh = redis.call('EXISTS', KEYS[2]) == 0
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
local ttl = 0
local expires = tonumber(ARGV[8])
if expires > 0 then
  ttl = expires - tonumber(now_ms())
  if ttl < 1 then ttl = 1 end  -- expired since the export: it goes now, as it would have
  redis.call('PEXPIRE', KEYS[1], ttl)
end
outlive(KEYS[2], ttl, fresh)
return 1
"""
)


@dataclass(frozen=True, slots=True)
class RunDump:
    """A saved run as an export holds it: :class:`SavedRun` (with its snapshot) and its expiry
    (epoch ms, None: kept until deleted)."""

    run: SavedRun
    expires_at_ms: int | None


def dump(cfg: RunConfig, workflow: str, run_id: str) -> Plan[RunDump | None]:
    """The saved run with its snapshot and expiry, read in one step; None if there is none."""
    keys = [cfg.run(workflow, run_id)]
    raw = yield Call("runs.dump", lambda r: evalsha(r, _DUMP, keys, []), idempotent=True)
    (data, status, label, saved_at, saves, error), now, left = raw
    if data is None or saved_at is None:
        return None
    run = SavedRun(
        workflow,
        run_id,
        _text(status),
        _text(label),
        _when(saved_at),
        int(saves or 0),
        _text(error),
        bytes(data),
    )
    return RunDump(run, int(now) + int(left) if int(left) >= 0 else None)


def restore(cfg: RunConfig, dumped: RunDump) -> Plan[None]:
    """Write a run exactly as dumped (status, label, error, snapshot, saved_at, saves and
    expiry), replacing the run of that id; checked before the first step."""
    run = dumped.run
    keys = [cfg.run(run.workflow, run.run_id), cfg.index(run.workflow)]
    args = [
        encode_id(run.run_id, "run id"),
        bytes(run.data or b""),
        encode_text(run.status, "a run's status"),
        encode_text(run.label, "a run's label"),
        encode_text(run.error, "a run's error"),
        round(run.saved_at.timestamp() * 1000),
        int(run.saves),
        int(dumped.expires_at_ms or 0),
    ]
    yield Call("runs.restore", lambda r: evalsha(r, _RESTORE, keys, args), idempotent=True)
