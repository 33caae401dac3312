"""Lua sources of the checkpoint store: the single copy.

Every thread script takes the thread's fixed keys (see
:class:`agentmem._redis.checkpoint_keys.ThreadKeys`): ``KEYS[1]`` meta, ``KEYS[2]`` per-namespace
order, ``KEYS[3]`` overall order, ``KEYS[4]`` checkpoint records, ``KEYS[5]`` pending writes,
``KEYS[6]`` channel values; on standalone Redis ``KEYS[7]`` is the thread registry, so it is
maintained in the same atomic step (on Cluster it lives in another slot and the client registers a
new thread with :data:`REGISTER`). A thread's owner (the user it belongs to) is kept in its meta
hash: every script that takes a user refuses, before touching anything, a thread owned by another
user, returning ``-1`` (``REFUSED``). Writes take ``ARGV[1]`` the raw thread id and ``ARGV[2]`` the
sliding TTL in ms (``0``: none), and end with ``touch``, which refreshes the TTL of every key of the
thread, so a thread expires as a whole.

A record ``m`` is ``<40-hex namespace digest><checkpoint id>``; its channel-value fields are
stored as one string of fixed 80-character field names, and its pending-write fields as a
msgpack array (both readable here; the values themselves are opaque and may be encrypted).
"""

from __future__ import annotations

from agentmem._redis.lua import OUTLIVE, SERVER_TIME

__all__ = [
    "CLAIM",
    "COPY_IN",
    "COPY_OUT",
    "DROP",
    "DROP_RUNS",
    "DUMP",
    "GET",
    "LIST",
    "PRUNE",
    "PUT",
    "PUT_WRITES",
    "REGISTER",
]

_HELPERS = (
    SERVER_TIME
    + r"""

-- unpack() is bounded by Lua's C stack, so multi-value commands go in slices of 500.
local function in_slices(cmd, key, items, step)
  local out = {}
  for i = 1, #items, 500 * step do
    local r = redis.call(cmd, key, unpack(items, i, math.min(i + 500 * step - 1, #items)))
    if type(r) == 'table' then for _, v in ipairs(r) do out[#out + 1] = v end end
  end
  return out
end

local function slice(t, first, last)  -- a copy of t[first..last], without unpack's limit
  local out = {}
  for i = first, last do out[#out + 1] = t[i] end
  return out
end

local function blob_fields(m)
  local b = redis.call('HGET', KEYS[4], 'b:' .. m)
  local out = {}
  if b then for i = 1, #b, 80 do out[#out + 1] = string.sub(b, i, i + 79) end end
  return out
end

local function write_fields(m)
  local raw = redis.call('HGET', KEYS[4], 'w:' .. m)
  if raw then return cmsgpack.unpack(raw) end
  return {}
end

local function record_of(id_member)  -- '<checkpoint id>\0<nsh>' -> '<nsh><checkpoint id>'
  return string.sub(id_member, -40) .. string.sub(id_member, 1, -42)
end

local function ns_members(nsh)
  return redis.call('ZRANGEBYLEX', KEYS[2], '[' .. nsh, '(' .. nsh .. '\255')
end

-- Remove one checkpoint with its writes; remember its channel values in `dropped` (by namespace)
-- for `sweep`, since other checkpoints of the namespace may still share them.
local function drop(m, dropped)
  local nsh = string.sub(m, 1, 40)
  local bucket = dropped[nsh] or {}
  dropped[nsh] = bucket
  for _, f in ipairs(blob_fields(m)) do bucket[f] = true end
  local wf = write_fields(m)
  if #wf > 0 then in_slices('HDEL', KEYS[5], wf, 1) end
  redis.call('HDEL', KEYS[4], 'r:' .. m, 'b:' .. m, 'w:' .. m, 'u:' .. m, 't:' .. m, 'p:' .. m,
             'd:' .. m)
  redis.call('ZREM', KEYS[2], m)
  redis.call('ZREM', KEYS[3], string.sub(m, 41) .. '\0' .. nsh)
end

-- Delete the dropped channel values no remaining checkpoint of their namespace refers to.
local function sweep(dropped)
  for nsh, bucket in pairs(dropped) do
    local keep = {}
    for _, m in ipairs(ns_members(nsh)) do
      for _, f in ipairs(blob_fields(m)) do keep[f] = true end
    end
    local gone = {}
    for f, _ in pairs(bucket) do if not keep[f] then gone[#gone + 1] = f end end
    if #gone > 0 then in_slices('HDEL', KEYS[6], gone, 1) end
  end
end

-- Retention of one namespace: drop checkpoints ranked `keep` or more from the newest, and those
-- put more than `max_age` ms ago. The newest one always stays: a thread paused on an interrupt
-- resumes from it and its pending writes. A kept checkpoint marked 'd:' (it needs its ancestors'
-- writes, LangGraph's DeltaChannel) keeps its parent chain back to one that does not.
local function retain(nsh, keep, max_age, dropped)
  if keep <= 0 and max_age <= 0 then return 0 end
  local members = ns_members(nsh)
  local n = #members
  local cutoff = tonumber(now_ms()) - max_age
  local cut = 0
  for i = 1, n - 1 do
    local old = keep > 0 and (n - i) >= keep
    if not old and max_age > 0 then
      local t = tonumber(redis.call('HGET', KEYS[4], 't:' .. members[i]) or cutoff)
      old = t < cutoff
    end
    -- Checkpoint ids grow with time, so the first young one ends the scan.
    if not old then break end
    cut = i
  end
  if cut == 0 then return 0 end
  local protected = {}
  for i = cut + 1, n do
    local m = members[i]
    while redis.call('HGET', KEYS[4], 'd:' .. m) do
      local parent = redis.call('HGET', KEYS[4], 'p:' .. m)
      if not parent or parent == '' then break end
      m = nsh .. parent
      if protected[m] then break end  -- the rest of this chain is already protected
      protected[m] = true
    end
  end
  local count = 0
  for i = 1, cut do
    if not protected[members[i]] then
      drop(members[i], dropped)
      count = count + 1
    end
  end
  return count
end

local function load(m)
  local rec = redis.call('HGET', KEYS[4], 'r:' .. m)
  if not rec then return false end
  local bf = blob_fields(m)
  local values = {}
  if #bf > 0 then values = in_slices('HMGET', KEYS[6], bf, 1) end
  local wf = write_fields(m)
  local writes = {}
  if #wf > 0 then writes = in_slices('HMGET', KEYS[5], wf, 1) end
  return {m, rec, values, writes}
end
"""
)

# A thread written (or claimed) by a user is that user's: its meta hash keeps the owner. A call
# for another user is refused with REFUSED before the script touches anything; a call with user
# '' (maintenance: forget_user, delete_runs, admin tools) is not checked.
_OWNER = r"""
local REFUSED = -1
local function foreign(user)
  if user == '' then return false end
  local owner = redis.call('HGET', KEYS[1], 'owner')
  return owner ~= false and owner ~= user
end
local function claim(user)
  if user ~= '' then redis.call('HSETNX', KEYS[1], 'owner', user) end
end
"""

_TOUCH = (
    OUTLIVE
    + r"""
local tid = ARGV[1]
local ttl = tonumber(ARGV[2])

local function extend_registry()
  if #KEYS < 7 then return end
  local fresh = redis.call('EXISTS', KEYS[7]) == 0
  redis.call('ZADD', KEYS[7], 0, tid)
  outlive(KEYS[7], ttl, fresh)
end

-- Returns 1 when the thread did not exist before this write. The six keys always share one
-- expiry state (every write ends here), so without a TTL the meta key tells whether any of them
-- still carries one from an earlier setting: only then is each made persistent.
local function touch()
  local fresh = redis.call('HSETNX', KEYS[1], 'tid', tid)
  extend_registry()
  if ttl > 0 then
    for i = 1, 6 do redis.call('PEXPIRE', KEYS[i], ttl) end
  elseif redis.call('PTTL', KEYS[1]) >= 0 then
    for i = 1, 6 do redis.call('PERSIST', KEYS[i]) end
  end
  return fresh
end
"""
)

PUT = (
    _HELPERS
    + _OWNER
    + _TOUCH
    + r"""
-- ARGV[3] user ('' for none), ARGV[4] m, ARGV[5] record, ARGV[6] its channel-value fields,
-- ARGV[7] run id ('' for none), ARGV[8] keep-last (0: off), ARGV[9] max age in ms (0: off),
-- ARGV[10] parent id ('' for none), ARGV[11] '1' if reading it needs its ancestors' writes,
-- ARGV[12..] field, value pairs of the channel values this checkpoint changed.
if foreign(ARGV[3]) then return REFUSED end
claim(ARGV[3])
local m = ARGV[4]
local nsh = string.sub(m, 1, 40)
redis.call('HSET', KEYS[4], 'r:' .. m, ARGV[5], 'b:' .. m, ARGV[6], 't:' .. m, now_ms())
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[4], 'u:' .. m, ARGV[7])
else
  redis.call('HDEL', KEYS[4], 'u:' .. m)
end
redis.call('HSET', KEYS[4], 'p:' .. m, ARGV[10])
if ARGV[11] == '1' then
  redis.call('HSET', KEYS[4], 'd:' .. m, '1')
else
  redis.call('HDEL', KEYS[4], 'd:' .. m)
end
if #ARGV >= 12 then in_slices('HSET', KEYS[6], slice(ARGV, 12, #ARGV), 2) end
redis.call('ZADD', KEYS[2], 0, m)
redis.call('ZADD', KEYS[3], 0, string.sub(m, 41) .. '\0' .. nsh)
local dropped = {}
if retain(nsh, tonumber(ARGV[8]), tonumber(ARGV[9]), dropped) > 0 then sweep(dropped) end
return touch()
"""
)

PUT_WRITES = (
    _HELPERS
    + _OWNER
    + _TOUCH
    + r"""
-- ARGV[3] user ('' for none), ARGV[4] m, then triples: field, value, '1' for a special channel
-- (last write wins) or '0' (insert if absent, so a retried or replayed task cannot change what
-- was recorded).
if foreign(ARGV[3]) then return REFUSED end
local m = ARGV[4]
if redis.call('HEXISTS', KEYS[4], 'r:' .. m) == 0 then
  -- A late write for a checkpoint that retention (or a delete) already removed, while newer
  -- checkpoints exist: nothing could ever read it, so it is dropped instead of left orphaned.
  -- Without a newer checkpoint it is kept: the checkpoint may simply not be put yet.
  -- (ZLEXCOUNT compares bytes; Lua's string '>' would follow the server's locale.)
  local newer = redis.call('ZLEXCOUNT', KEYS[2], '(' .. m, '(' .. string.sub(m, 1, 40) .. '\255')
  if newer > 0 then return 0 end
end
claim(ARGV[3])
local list = write_fields(m)
local added = false
for i = 5, #ARGV, 3 do
  local new
  if ARGV[i + 2] == '1' then
    new = redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1])
  else
    new = redis.call('HSETNX', KEYS[5], ARGV[i], ARGV[i + 1])
  end
  if new == 1 then list[#list + 1] = ARGV[i]; added = true end
end
if added then redis.call('HSET', KEYS[4], 'w:' .. m, cmsgpack.pack(list)) end
return touch()
"""
)

GET = (
    _HELPERS
    + _OWNER
    + r"""
-- ARGV[1] nsh, ARGV[2] checkpoint id ('' for the newest of the namespace), ARGV[3] user.
if foreign(ARGV[3]) then return REFUSED end
local m
if ARGV[2] == '' then
  local top = redis.call('ZREVRANGEBYLEX', KEYS[2], '(' .. ARGV[1] .. '\255', '[' .. ARGV[1],
                         'LIMIT', 0, 1)
  if #top == 0 then return false end
  m = top[1]
else
  m = ARGV[1] .. ARGV[2]
end
return load(m)
"""
)

LIST = (
    _HELPERS
    + _OWNER
    + r"""
-- ARGV[1] 'ns' (one namespace) or 'all', ARGV[2] nsh, ARGV[3] exclusive upper bound (a ZRANGEBYLEX
-- max), ARGV[4] page size, ARGV[5] user. Returns {members seen, last member seen, exists, loaded
-- records...}.
if foreign(ARGV[5]) then return REFUSED end
local members
if ARGV[1] == 'ns' then
  members = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[3], '[' .. ARGV[2], 'LIMIT', 0, ARGV[4])
else
  members = redis.call('ZREVRANGEBYLEX', KEYS[3], ARGV[3], '-', 'LIMIT', 0, ARGV[4])
end
-- The third item says whether the thread still exists (its keys may have expired).
local out = {#members, members[#members] or '', redis.call('EXISTS', KEYS[1])}
for _, member in ipairs(members) do
  local m = member
  if ARGV[1] ~= 'ns' then m = record_of(member) end
  local rec = load(m)
  if rec then out[#out + 1] = rec end
end
return out
"""
)

DROP = (
    _OWNER
    + r"""
-- Delete the thread; ARGV[1] the raw thread id (for the registry, KEYS[7], when given), ARGV[2]
-- the user.
if foreign(ARGV[2]) then return REFUSED end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
if #KEYS >= 7 then redis.call('ZREM', KEYS[7], ARGV[1]) end
return 1
"""
)

DROP_RUNS = (
    _HELPERS
    + r"""
-- ARGV[1..] run ids: drop every checkpoint (any namespace) whose run id is one of them.
local runs = {}
for i = 1, #ARGV do runs[ARGV[i]] = true end
local dropped = {}
local count = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local m = record_of(member)
  local run = redis.call('HGET', KEYS[4], 'u:' .. m)
  if run and runs[run] then drop(m, dropped); count = count + 1 end
end
sweep(dropped)
return count
"""
)

PRUNE = (
    _HELPERS
    + _OWNER
    + r"""
-- ARGV[1] keep-last per namespace, ARGV[2] max age in ms (0: off), ARGV[3] user. Returns
-- checkpoints dropped.
if foreign(ARGV[3]) then return REFUSED end
local keep, max_age = tonumber(ARGV[1]), tonumber(ARGV[2])
local seen, dropped, count = {}, {}, 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local nsh = string.sub(m, 1, 40)
  if not seen[nsh] then
    seen[nsh] = true
    count = count + retain(nsh, keep, max_age, dropped)
  end
end
sweep(dropped)
return count
"""
)

COPY_OUT = (
    _OWNER
    + r"""
-- Everything of a thread except its meta, read in one consistent step, and its owner ('' for
-- none); ARGV[1] the user.
if foreign(ARGV[1]) then return REFUSED end
return {redis.call('HGETALL', KEYS[4]), redis.call('HGETALL', KEYS[5]),
        redis.call('HGETALL', KEYS[6]), redis.call('ZRANGE', KEYS[2], 0, -1),
        redis.call('ZRANGE', KEYS[3], 0, -1), redis.call('HGET', KEYS[1], 'owner') or ''}
"""
)

DUMP = (
    SERVER_TIME
    + _OWNER
    + r"""
-- What COPY_OUT reads, and the server time and the meta key's PTTL (-1: no TTL), for an export.
if foreign(ARGV[1]) then return REFUSED end
return {redis.call('HGETALL', KEYS[4]), redis.call('HGETALL', KEYS[5]),
        redis.call('HGETALL', KEYS[6]), redis.call('ZRANGE', KEYS[2], 0, -1),
        redis.call('ZRANGE', KEYS[3], 0, -1), now_ms(), redis.call('PTTL', KEYS[1])}
"""
)

COPY_IN = (
    _HELPERS
    + _OWNER
    + _TOUCH
    + r"""
-- ARGV[3] the user the copy is for ('' for none), ARGV[4..8] how many items of records, writes,
-- values (field/value pairs counted as items), namespace members and order members follow,
-- then the items in that order. Merges them into the target thread (existing fields are
-- overwritten, nothing else is removed).
if foreign(ARGV[3]) then return REFUSED end
claim(ARGV[3])
local i = 9
local function take(n)
  local items = slice(ARGV, i, i + n - 1)
  i = i + n
  return items
end
local function put_hash(key, items) if #items > 0 then in_slices('HSET', key, items, 2) end end
local function put_zset(key, items)
  local args = {}
  for _, v in ipairs(items) do args[#args + 1] = 0; args[#args + 1] = v end
  if #args > 0 then in_slices('ZADD', key, args, 2) end
end
put_hash(KEYS[4], take(tonumber(ARGV[4])))
put_hash(KEYS[5], take(tonumber(ARGV[5])))
put_hash(KEYS[6], take(tonumber(ARGV[6])))
put_zset(KEYS[2], take(tonumber(ARGV[7])))
put_zset(KEYS[3], take(tonumber(ARGV[8])))
return touch()
"""
)

CLAIM = (
    _OWNER
    + r"""
-- Make an existing thread the user's (ARGV[1]); a thread not written yet is claimed by its first
-- write for that user instead. Returns 1, or REFUSED when it is another user's.
if foreign(ARGV[1]) then return REFUSED end
if redis.call('EXISTS', KEYS[1]) == 1 then claim(ARGV[1]) end
return 1
"""
)

REGISTER = (
    OUTLIVE
    + r"""
-- Cluster only: KEYS[1] the registry, ARGV[1] thread id, ARGV[2] TTL ms (extend-only).
local fresh = redis.call('EXISTS', KEYS[1]) == 0
redis.call('ZADD', KEYS[1], 0, ARGV[1])
outlive(KEYS[1], tonumber(ARGV[2]), fresh)
return 1
"""
)
