"""Lua fragments shared by the scripts of every store (one copy of each)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio
from redis.exceptions import NoScriptError

__all__ = ["OUTLIVE", "SERVER_TIME", "evalsha"]

_ASYNC_CLIENTS = (redis.asyncio.Redis, redis.asyncio.RedisCluster)
# SHA-1 of each script source, computed once per process (a source is a module constant, so its
# str hash is cached too and a lookup costs no rehash of the text).
_SHAS: dict[str, str] = {}


def _sha(source: str) -> str:
    sha = _SHAS.get(source)
    if sha is None:
        sha = _SHAS[source] = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
    return sha


# Whether a client type is async, by type: redis-py's client classes have typing's protocol
# metaclass, whose isinstance costs about 2 us, on every call of every script.
_ASYNC_TYPES: dict[type, bool] = {}


def _is_async(client: Any) -> bool:
    kind = type(client)
    found = _ASYNC_TYPES.get(kind)
    if found is None:
        found = _ASYNC_TYPES[kind] = isinstance(client, _ASYNC_CLIENTS)
    return found


def evalsha(client: Any, source: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
    """Run ``source`` on ``client``: one EVALSHA, or one EVAL where the server does not hold the
    script yet (a new server, a restart, ``SCRIPT FLUSH``), which also caches it there.

    On an async client this returns an awaitable. redis-py's ``register_script`` would re-hash the
    source (up to several kB) on every call; this hashes it once per process.
    """
    sha = _sha(source)
    if _is_async(client):
        return _evalsha_async(client, sha, source, keys, args)
    try:
        return client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        return client.eval(source, len(keys), *keys, *args)


async def _evalsha_async(
    client: Any, sha: str, source: str, keys: Sequence[Any], args: Sequence[Any]
) -> Any:
    try:
        return await client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        return await client.eval(source, len(keys), *keys, *args)


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
