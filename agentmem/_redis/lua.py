"""Lua fragments shared by the scripts of every store (one copy of each)."""

from __future__ import annotations

__all__ = ["SERVER_TIME"]

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
