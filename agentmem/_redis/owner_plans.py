"""Which workflow memory belongs to which user: the owner index, framework-free.

Sessions already live under their user's hash tag. LangGraph threads and saved workflow runs are
keyed by thread id and workflow name instead (so one thread's keys share a slot), which is why a
user's threads and runs are also listed in an index in the user's own slot::

    {p}:v1:{u:<h(U)>}:owns   ZSET  member -> server time of the first link (ms)
        member: JSON ["thread", <thread id>] or ["run", <workflow name>, <run id>]

The adapters link an item *before* its first write, so "forget this user" can never miss data that
was written (at worst it finds a link to something never written, and deleting that is a no-op).
With a TTL the index only ever has its expiry extended; without one it is persistent, so it never
expires before what it lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentmem._plan import Call, Plan
from agentmem._redis.keys import encode_id, user_tag
from agentmem._redis.lua import OUTLIVE, SERVER_TIME, evalsha
from agentmem.errors import InvalidInputError

__all__ = ["Owned", "link", "owned", "owner_key", "unlink", "unlink_all"]

_LINK = (
    SERVER_TIME
    + OUTLIVE
    + r"""
-- KEYS[1] the user's owner index; ARGV[1] TTL ms (0: persistent), ARGV[2..] members.
local fresh = redis.call('EXISTS', KEYS[1]) == 0
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'NX', now_ms(), ARGV[i]) end
outlive(KEYS[1], tonumber(ARGV[1]), fresh)
return 1
"""
)


def owner_key(prefix: str, user_id: str) -> str:
    """The owner index of ``user_id`` (in the user's hash slot, beside its sessions)."""
    return f"{user_tag(prefix, user_id)}:owns"


@dataclass(frozen=True, slots=True)
class Owned:
    """One item a user owns: a LangGraph thread (``workflow`` is None) or a saved run."""

    kind: str
    id: str
    workflow: str | None = None


def _member(item: Owned) -> bytes:
    encode_id(item.id, f"{item.kind} id")
    if item.kind == "thread":
        parts: list[str] = ["thread", item.id]
    elif item.kind == "run" and item.workflow:
        parts = ["run", item.workflow, item.id]
    else:
        raise InvalidInputError(f"cannot link {item!r} to a user: a thread or a workflow run")
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode()


def _item(raw: Any) -> Owned:
    parts = json.loads(raw)
    if parts[0] == "thread":
        return Owned("thread", parts[1])
    return Owned("run", parts[2], parts[1])


def link(prefix: str, user_id: str, items: list[Owned], ttl_ms: int) -> Plan[None]:
    """Record that ``user_id`` owns ``items`` (idempotent; keeps the first link time)."""
    key = owner_key(prefix, user_id)
    args: list[Any] = [ttl_ms, *(_member(i) for i in items)]
    if len(args) == 1:
        return
    yield Call(
        "owners.link",
        lambda r: evalsha(r, _LINK, [key], args),
        idempotent=True,
    )


def owned(prefix: str, user_id: str, kind: str | None = None) -> Plan[list[Owned]]:
    """What ``user_id`` owns, oldest link first (``kind``: only ``"thread"`` or ``"run"``)."""
    key = owner_key(prefix, user_id)
    raw = yield Call("owners.list", lambda r: r.zrange(key, 0, -1), idempotent=True)
    items = [_item(m) for m in raw]
    return [i for i in items if kind is None or i.kind == kind]


def unlink(prefix: str, user_id: str, items: list[Owned]) -> Plan[None]:
    """Drop the links of ``items`` from the user's index (a link to another user's thread)."""
    key = owner_key(prefix, user_id)
    members = [_member(i) for i in items]
    if members:
        yield Call("owners.unlink", lambda r: r.zrem(key, *members), idempotent=True)


def unlink_all(prefix: str, user_id: str) -> Plan[None]:
    """Drop the user's owner index (after what it lists was deleted)."""
    key = owner_key(prefix, user_id)
    yield Call("owners.drop", lambda r: r.delete(key), idempotent=True)
