"""Lua sources of the session store: the single copy.

Every script takes the same ``KEYS`` (see :class:`agentmem._redis.keys.SessionKeys`):
``KEYS[1]`` active messages (LIST), ``KEYS[2]`` metadata (HASH), ``KEYS[3]`` archived messages
(LIST), ``KEYS[4]`` the user's session index (ZSET). All four share one hash tag, so each script is
one atomic step on standalone Redis and on Cluster. ``ARGV[1]`` is always the raw session id and
``ARGV[2]`` the sliding TTL in milliseconds (``0``: no TTL).

Every write ends with ``touch``, which refreshes the metadata, the index entry and the TTL of every
key of the session in the same step, so the session's keys always expire together.
"""

from __future__ import annotations

from agentmem._redis.lua import SERVER_TIME

__all__ = [
    "APPEND",
    "CLEAR",
    "COMPACT",
    "DELETE_ONE",
    "DUMP",
    "LIST_META",
    "POP_OLDEST",
    "RESTORE",
    "SET_TITLE",
    "SNAPSHOT",
]

_PRELUDE = (
    SERVER_TIME
    + r"""
local sid = ARGV[1]
local ttl = tonumber(ARGV[2])


-- Refresh the metadata, the index entry and the TTL of every key of the session. ``n`` is the
-- active length after the write (nil: read it); ``narch`` the archive length (nil: read it;
-- false: this script left the archive alone, so its count in the metadata still holds).
local function touch(n, narch)
  local now = now_ms()
  if n == nil then n = redis.call('LLEN', KEYS[1]) end
  -- HSET counts the fields it created: any means new metadata (a first write), which also
  -- needs 'created' and the archive count.
  if redis.call('HSET', KEYS[2], 'sid', sid, 'last_active', now, 'count', n) > 0 then
    redis.call('HSETNX', KEYS[2], 'created', now)
    if narch == false then narch = nil end
  end
  if narch == nil then narch = redis.call('LLEN', KEYS[3]) end
  if narch then redis.call('HSET', KEYS[2], 'archived', narch) end
  -- PTTL before ZADD: -2 means the index is created here (and has no TTL yet).
  local left = redis.call('PTTL', KEYS[4])
  redis.call('ZADD', KEYS[4], now, sid)
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
    -- An empty archive has no key: nothing to expire.
    if narch ~= 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
    -- The index outlives every session it lists: only extend it, and leave it persistent if a
    -- session without TTL made it so.
    if left == -2 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', KEYS[4], ttl) end
  else
    for i = 1, 4 do redis.call('PERSIST', KEYS[i]) end
  end
  return n
end

-- unpack() is bounded by Lua's C stack (about 8000 values), so push in slices.
-- Returns the list's length afterwards.
local function push(key, first)
  local i, len = first, nil
  while i <= #ARGV do
    local last = math.min(i + 999, #ARGV)
    len = redis.call('RPUSH', key, unpack(ARGV, i, last))
    i = last + 1
  end
  return len
end
"""
)

APPEND = (
    _PRELUDE
    + r"""
-- ARGV[3] max active length (0: unbounded), ARGV[4] 'append' | 'replace',
-- ARGV[5] 'active' | 'archived', ARGV[6] a consolidation batch ('' for none) with ARGV[7] the raw
-- user id, ARGV[8..] the encoded messages. With a batch, KEYS[5] is the user's consolidation
-- queue (same slot) and, on standalone Redis, KEYS[6] the index of users with queued batches:
-- the turn and its batch are written in one step, or neither is.
local maxlen = tonumber(ARGV[3])
local replacing = ARGV[4] == 'replace'
if replacing then
  redis.call('DEL', KEYS[1], KEYS[3])
  redis.call('HDEL', KEYS[2], 'summary')  -- it summarized messages that are gone now
end
-- The lengths come from RPUSH's replies, so touch() need not read them again.
local n, narch = nil, false
if replacing then narch = 0 end
if ARGV[5] == 'archived' then
  narch = push(KEYS[3], 8)
  if replacing then n = 0 end
else
  n = push(KEYS[1], 8)
end
if ARGV[6] ~= '' then
  redis.call('RPUSH', KEYS[5], ARGV[6])
  if #KEYS >= 6 then redis.call('ZADD', KEYS[6], 'NX', now_ms(), ARGV[7]) end
end
if maxlen > 0 then
  if n == nil then n = redis.call('LLEN', KEYS[1]) end
  if n > maxlen then
    redis.call('LTRIM', KEYS[1], -maxlen, -1)
    n = maxlen
  end
end
return touch(n, narch)
"""
)

DELETE_ONE = (
    _PRELUDE
    + r"""
-- ARGV[3] 'at' | 'id', ARGV[4] the position or the id prefix of the encoded message,
-- ARGV[5] a tombstone unique to this call. LSET + LREM removes one element in place, so the
-- others keep their order.
local pos = nil
if ARGV[3] == 'at' then
  pos = tonumber(ARGV[4])
  if not redis.call('LINDEX', KEYS[1], pos) then return false end
else
  local needle = ARGV[4]
  local len = redis.call('LLEN', KEYS[1])
  local start = 0
  while pos == nil and start < len do
    local chunk = redis.call('LRANGE', KEYS[1], start, start + 255)
    for j, v in ipairs(chunk) do
      if string.sub(v, 1, #needle) == needle then pos = start + j - 1; break end
    end
    start = start + 256
  end
  if pos == nil then return false end
end
local value = redis.call('LINDEX', KEYS[1], pos)
redis.call('LSET', KEYS[1], pos, ARGV[5])
redis.call('LREM', KEYS[1], 1, ARGV[5])
touch()
return value
"""
)

POP_OLDEST = (
    _PRELUDE
    + r"""
-- ARGV[3] how many, ARGV[4] 'archive' (move to KEYS[3]) | 'drop' | 'drop_archived'.
local n = tonumber(ARGV[3])
if ARGV[4] == 'drop_archived' then
  if redis.call('EXISTS', KEYS[2]) == 0 then return {} end
  local gone = redis.call('LRANGE', KEYS[3], 0, -1)
  redis.call('DEL', KEYS[3])
  touch()
  return gone
end
local moved = redis.call('LPOP', KEYS[1], n)
if not moved then return {} end
if ARGV[4] == 'archive' then
  for i = 1, #moved, 1000 do
    redis.call('RPUSH', KEYS[3], unpack(moved, i, math.min(i + 999, #moved)))
  end
end
touch()
return moved
"""
)

SET_TITLE = (
    _PRELUDE
    + r"""
-- ARGV[3] the title; creates the session (empty) if it does not exist yet.
redis.call('HSET', KEYS[2], 'title', ARGV[3])
return touch()
"""
)


COMPACT = (
    _PRELUDE
    + r"""
-- ARGV[3] how many oldest active messages to archive, ARGV[4] the new running summary,
-- ARGV[5] / ARGV[6] id prefixes the first and the last of them must have. The caller read the
-- session, asked a model for a summary, and now commits; if another writer changed the head of
-- the session meanwhile (a concurrent compaction, a trim, a delete), nothing is changed and
-- -1 is returned so the caller can retry with fresh data.
local n = tonumber(ARGV[3])
local first = redis.call('LINDEX', KEYS[1], 0)
local last = redis.call('LINDEX', KEYS[1], n - 1)
if not first or not last or string.sub(first, 1, #ARGV[5]) ~= ARGV[5]
   or string.sub(last, 1, #ARGV[6]) ~= ARGV[6] then
  return -1
end
local moved = redis.call('LPOP', KEYS[1], n)
for i = 1, #moved, 1000 do
  redis.call('RPUSH', KEYS[3], unpack(moved, i, math.min(i + 999, #moved)))
end
redis.call('HSET', KEYS[2], 'summary', ARGV[4])
return touch()
"""
)

# Reads and whole-session deletes are scripts too, not MULTI pipelines: cluster clients differ in
# their pipeline and transaction support, while EVALSHA on keys of one slot works everywhere.

CLEAR = r"""
-- Same KEYS as above; ARGV[1] the session id, ARGV[2] '1' to return the active messages.
-- Deletes the whole session and its index entry.
local gone = {}
if ARGV[2] == '1' then gone = redis.call('LRANGE', KEYS[1], 0, -1) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
return gone
"""

SNAPSHOT = r"""
-- Same KEYS as above. Active messages, running summary and archive size, as one atomic read.
return {redis.call('LRANGE', KEYS[1], 0, -1), redis.call('HGET', KEYS[2], 'summary'),
        redis.call('LLEN', KEYS[3])}
"""

LIST_META = r"""
-- KEYS[1] the user's index, KEYS[2..] metadata hashes of the sessions ARGV[1..] (same slot).
-- Returns each session's metadata fields; a session whose metadata expired (TTL) left its
-- index entry behind, which is dropped here.
local fields = {'sid', 'created', 'last_active', 'count', 'archived', 'title'}
local rows = {}
for i = 2, #KEYS do
  local row = redis.call('HMGET', KEYS[i], unpack(fields))
  if not row[1] then redis.call('ZREM', KEYS[1], ARGV[i - 1]) end
  rows[i - 1] = row
end
return rows
"""

DUMP = (
    SERVER_TIME
    + r"""
-- Same KEYS as above. Everything of one session, in one atomic read, for an export: active and
-- archived messages, the metadata hash, the server time and the metadata's PTTL (-1: persistent,
-- -2: no such session).
return {redis.call('LRANGE', KEYS[1], 0, -1), redis.call('LRANGE', KEYS[3], 0, -1),
        redis.call('HGETALL', KEYS[2]), now_ms(), redis.call('PTTL', KEYS[2])}
"""
)

RESTORE = (
    SERVER_TIME
    + r"""
-- Same KEYS as above. Put a session back exactly as exported (an import), replacing what is
-- there: ARGV[1] the session id, ARGV[2] created (ms), ARGV[3] last active (ms), ARGV[4] '1' if
-- a title follows in ARGV[5], ARGV[6] '1' if a summary follows in ARGV[7], ARGV[8] absolute
-- expiry (ms; '0': persistent), ARGV[9] the number of active messages, then the active messages
-- and the archived ones (encoded envelopes).
local sid = ARGV[1]
local nact = tonumber(ARGV[9])
local function push(key, first, last)
  local i = first
  while i <= last do
    local stop = math.min(i + 999, last)
    redis.call('RPUSH', key, unpack(ARGV, i, stop))
    i = stop + 1
  end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
push(KEYS[1], 10, 9 + nact)
push(KEYS[3], 10 + nact, #ARGV)
local narch = #ARGV - 9 - nact
redis.call('HSET', KEYS[2], 'sid', sid, 'created', ARGV[2], 'last_active', ARGV[3],
           'count', nact, 'archived', narch)
if ARGV[4] == '1' then redis.call('HSET', KEYS[2], 'title', ARGV[5]) end
if ARGV[6] == '1' then redis.call('HSET', KEYS[2], 'summary', ARGV[7]) end
local left = redis.call('PTTL', KEYS[4])
redis.call('ZADD', KEYS[4], ARGV[3], sid)
local expires = tonumber(ARGV[8])
if expires > 0 then
  local ttl = expires - tonumber(now_ms())
  if ttl < 1 then ttl = 1 end  -- expired since the export: it goes now, as it would have
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl) end
  if left == -2 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', KEYS[4], ttl) end
else
  redis.call('PERSIST', KEYS[4])
end
return nact
"""
)
