"""Lua fragments shared by the scripts of every store (one copy of each)."""

from __future__ import annotations

__all__ = ["OUTLIVE", "SERVER_TIME"]

# Server time as a string of integer milliseconds: one clock for every client, and no float
# formatting ("1.7e+12") when it is stored in a hash.
SERVER_TIME = r"""
-- Read once, before the script writes anything: Redis does not undo a script's earlier writes
-- when a later command fails (a denied TIME under a narrow ACL would leave half a write).
local NOW_MS
do
  local t = redis.call('TIME')
  NOW_MS = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
end
local function now_ms()
  return NOW_MS
end
"""

# An index (of threads, of a user's items) must outlive everything it lists: with a TTL its expiry
# is only ever extended, and once anything without a TTL made it persistent it stays so. ``fresh``
# says the caller created the key in this script (it has no TTL yet).
OUTLIVE = r"""
local function outlive(key, ttl, fresh)
  if ttl > 0 then
    local left = redis.call('PTTL', key)
    if fresh or (left >= 0 and left < ttl) then redis.call('PEXPIRE', key, ttl) end
  else
    redis.call('PERSIST', key)
  end
end
"""
