"""Session-store operations written once as plans (see :mod:`agentmem._plan`).

Each plan validates and encodes its input *before* yielding its first call, so bad input raises
with nothing written. Writes are one EVALSHA each (redis-py's ``Script`` loads the script on the
first ``NOSCRIPT`` and retries, so the steady state is one round trip).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from agentmem._plan import Call, Plan
from agentmem._redis import chat_scripts
from agentmem._redis.envelope import SessionMessage, decode_message, encode_messages, id_needle
from agentmem._redis.fact_queue import Prepared
from agentmem._redis.keys import (
    SessionKeys,
    encode_id,
    encode_text,
    session_index,
    session_keys,
)
from agentmem._redis.lua import evalsha
from agentmem.errors import InvalidInputError

__all__ = [
    "SessionConfig",
    "SessionDump",
    "SessionInfo",
    "SessionMessage",
    "SessionSnapshot",
    "append",
    "clear",
    "compact",
    "count",
    "delete_at",
    "delete_id",
    "dump",
    "info",
    "list_sessions",
    "pop_oldest",
    "read",
    "read_raw",
    "replace",
    "restore",
    "set_title",
    "snapshot",
]

_META_FIELDS = ("sid", "created", "last_active", "count", "archived", "title")
# LPOP's count is a signed 64-bit integer on the server; this is "everything" for any real list.
_ALL = 2**31


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What every plan needs to know: whose sessions, and the write policy."""

    prefix: str
    user_id: str
    ttl_ms: int = 0
    max_messages: int = 0
    max_message_bytes: int = 1 << 20

    def keys(self, session_id: str) -> SessionKeys:
        """The keys of ``session_id`` (validates the id)."""
        return session_keys(self.prefix, self.user_id, session_id)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session as listed in its user's index.

    Attributes:
        session_id: the session id as given.
        created_at: first write (server clock, UTC).
        last_active: latest write (server clock, UTC).
        message_count: active messages.
        archived_count: archived (compacted) messages.
        title: the title set with ``set_title``, if any.
    """

    session_id: str
    created_at: datetime
    last_active: datetime
    message_count: int
    archived_count: int
    title: str | None


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """The active messages and the running summary of a session, read in one consistent step.

    Attributes:
        messages: active messages, oldest first.
        summary: the running summary of the archived messages (set by ``compact``), if any.
        archived_count: number of archived messages.
    """

    messages: list[SessionMessage]
    summary: str | None
    archived_count: int


def _decode_all(raws: Sequence[bytes | str] | None) -> list[SessionMessage]:
    return [decode_message(raw) for raw in raws or ()]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _when(ms: bytes | str) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)


# -- plans ---------------------------------------------------------------------------------------


def _script(
    label: str,
    source: str,
    keys: SessionKeys,
    args: Sequence[Any],
    *,
    idempotent: bool = False,
) -> Call:
    # One EVALSHA (EVAL once per server, on NOSCRIPT); on an async client an awaitable, awaited
    # by run_async.
    return Call(
        label,
        lambda r: evalsha(r, source, keys.all(), args),
        idempotent=idempotent,
    )


def _head(cfg: SessionConfig, keys: SessionKeys) -> list[Any]:
    return [keys.sid, cfg.ttl_ms]


def _int(value: object, name: str, *, minimum: int | None = None) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``; else a typed error."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an int, got {value!r:.80}")
    if minimum is not None and value < minimum:
        raise InvalidInputError(f"{name} must be >= {minimum}, got {value}")
    return value


def append(
    cfg: SessionConfig,
    session_id: str,
    messages: Sequence[Mapping[str, Any]],
    ids: Sequence[str | None] | None = None,
    *,
    replace: bool = False,
    archived: bool = False,
    batch: Prepared | None = None,
) -> Plan[int]:
    """Append (or replace with) ``messages`` in one atomic step; return the active count. With
    ``batch``, the same step queues it for consolidation (the user's queue shares the slot)."""
    keys = cfg.keys(session_id)
    encoded = encode_messages(messages, ids, cfg.max_message_bytes)
    if batch is not None and batch.user_id != cfg.user_id:
        raise InvalidInputError(
            f"a consolidation batch prepared for user {batch.user_id!r:.80} cannot be queued "
            f"with a session of user {cfg.user_id!r:.80}; nothing was written"
        )
    if not encoded and not replace and batch is None:
        return (yield from count(cfg, session_id))
    args = [
        keys.sid,
        cfg.ttl_ms,
        cfg.max_messages,
        "replace" if replace else "append",
        "archived" if archived else "active",
        batch.raw if batch is not None else "",
        encode_id(cfg.user_id, "user_id"),
        *encoded,
    ]
    every = keys.all() if batch is None else [*keys.all(), *batch.keys()]
    call = Call(
        "session.append", lambda r: evalsha(r, chat_scripts.APPEND, every, args), idempotent=False
    )
    active = int((yield call))
    if batch is not None:
        yield from batch.listed()
    return active


def replace(
    cfg: SessionConfig,
    session_id: str,
    messages: Sequence[Mapping[str, Any]],
    ids: Sequence[str | None] | None = None,
    *,
    archived: bool = False,
) -> Plan[int]:
    """Replace every message (active and archived) with ``messages``; return the active count."""
    return (yield from append(cfg, session_id, messages, ids, replace=True, archived=archived))


def read_raw(
    cfg: SessionConfig,
    session_id: str,
    offset: int = 0,
    limit: int | None = None,
    *,
    archived: bool = False,
) -> Plan[list[bytes | str]]:
    """The stored envelopes from position ``offset`` (negative: from the end), at most ``limit``
    of them, as Redis returned them (for readers that decode them their own way)."""
    keys = cfg.keys(session_id)
    _int(offset, "offset")
    if limit is not None:
        _int(limit, "limit", minimum=0)
    if limit == 0:
        return []
    stop = -1 if limit is None else offset + limit - 1
    if offset < 0 <= stop:  # a window that starts from the end and runs past it
        stop = -1
    key = keys.arch if archived else keys.msgs
    raws = yield Call("session.read", lambda r: r.lrange(key, offset, stop), idempotent=True)
    return list(raws or ())


def read(
    cfg: SessionConfig,
    session_id: str,
    offset: int = 0,
    limit: int | None = None,
    *,
    archived: bool = False,
) -> Plan[list[SessionMessage]]:
    """Messages from position ``offset`` (negative: from the end), at most ``limit`` of them."""
    raws = yield from read_raw(cfg, session_id, offset, limit, archived=archived)
    return _decode_all(raws)


def count(cfg: SessionConfig, session_id: str, *, archived: bool = False) -> Plan[int]:
    """Number of active (or archived) messages; 0 for an unknown session."""
    keys = cfg.keys(session_id)
    key = keys.arch if archived else keys.msgs
    return int((yield Call("session.count", lambda r: r.llen(key), idempotent=True)))


def delete_at(cfg: SessionConfig, session_id: str, index: int) -> Plan[SessionMessage | None]:
    """Remove the active message at ``index`` (negative: from the end); None if out of range."""
    keys = cfg.keys(session_id)
    _int(index, "index")
    args = [*_head(cfg, keys), "at", index, uuid.uuid4().hex]
    raw = yield _script("session.delete_at", chat_scripts.DELETE_ONE, keys, args)
    return decode_message(raw) if raw else None


def delete_id(cfg: SessionConfig, session_id: str, message_id: str) -> Plan[SessionMessage | None]:
    """Remove the oldest active message with id ``message_id``; None if there is none."""
    keys = cfg.keys(session_id)
    encode_id(message_id, "message_id")
    args = [*_head(cfg, keys), "id", id_needle(message_id), uuid.uuid4().hex]
    raw = yield _script("session.delete_id", chat_scripts.DELETE_ONE, keys, args)
    return decode_message(raw) if raw else None


def pop_oldest(
    cfg: SessionConfig,
    session_id: str,
    n: int,
    mode: Literal["archive", "drop", "drop_archived"],
) -> Plan[list[SessionMessage]]:
    """Move the oldest ``n`` active messages to the archive, or drop them; return them."""
    keys = cfg.keys(session_id)
    _int(n, "n", minimum=0)
    if n == 0 and mode != "drop_archived":
        return []
    args = [*_head(cfg, keys), min(n, _ALL), mode]
    raws = yield _script(f"session.{mode}", chat_scripts.POP_OLDEST, keys, args)
    return _decode_all(raws)


def clear(
    cfg: SessionConfig, session_id: str, *, returning: bool = False
) -> Plan[list[SessionMessage]]:
    """Delete the session (messages, archive, metadata, index entry) atomically; return the
    active messages it had if ``returning``, else ``[]``."""
    keys = cfg.keys(session_id)
    args = [keys.sid, "1" if returning else "0"]
    raws = yield _script("session.clear", chat_scripts.CLEAR, keys, args, idempotent=True)
    return _decode_all(raws)


def set_title(cfg: SessionConfig, session_id: str, title: str) -> Plan[None]:
    """Set the session's title (creating an empty session if needed)."""
    keys = cfg.keys(session_id)
    args = [*_head(cfg, keys), encode_text(title, "title")]
    yield _script("session.set_title", chat_scripts.SET_TITLE, keys, args)
    return None


def _info(values: Sequence[bytes | str | None]) -> SessionInfo | None:
    sid, created, last, n, archived, title = values
    if sid is None or created is None or last is None:
        return None
    return SessionInfo(
        session_id=_text(sid),
        created_at=_when(created),
        last_active=_when(last),
        message_count=int(n or 0),
        archived_count=int(archived or 0),
        title=_text(title) if title is not None else None,
    )


def info(cfg: SessionConfig, session_id: str) -> Plan[SessionInfo | None]:
    """The session's metadata; None for an unknown (or expired) session."""
    keys = cfg.keys(session_id)
    values = yield Call("session.info", lambda r: r.hmget(keys.meta, _META_FIELDS), idempotent=True)
    return _info(values)


def list_sessions(cfg: SessionConfig, limit: int | None = None) -> Plan[list[SessionInfo]]:
    """The user's sessions, most recently active first, from the index the writes maintain."""
    if limit is not None:
        _int(limit, "limit", minimum=0)
    if limit == 0:
        return []
    index = session_index(cfg.prefix, cfg.user_id)
    stop = -1 if limit is None else limit - 1
    members = yield Call("session.list", lambda r: r.zrevrange(index, 0, stop), idempotent=True)
    sids = [_text(m) for m in members]
    if not sids:
        return []
    rows = yield Call(
        "session.list_meta",
        lambda r: evalsha(
            r,
            chat_scripts.LIST_META,
            [index, *(cfg.keys(sid).meta for sid in sids)],
            [sid.encode("utf-8") for sid in sids],
        ),
        idempotent=True,
    )
    found = [_info(row) for row in rows]
    return [row for row in found if row is not None]


def snapshot(cfg: SessionConfig, session_id: str) -> Plan[SessionSnapshot]:
    """Active messages, summary and archive size in one MULTI (a consistent view)."""
    keys = cfg.keys(session_id)
    raws, summary, archived = yield _script(
        "session.snapshot", chat_scripts.SNAPSHOT, keys, [keys.sid], idempotent=True
    )
    return SessionSnapshot(
        messages=_decode_all(raws),
        summary=_text(summary) if summary is not None else None,
        archived_count=int(archived),
    )


def compact(
    cfg: SessionConfig, session_id: str, upto: Sequence[SessionMessage], summary: str
) -> Plan[bool]:
    """Archive the oldest messages ``upto`` (as read) and store ``summary``, atomically.

    Returns False, changing nothing, if the session's oldest messages are no longer ``upto``.
    """
    keys = cfg.keys(session_id)
    encoded = encode_text(summary, "summary")
    if not upto:
        return True
    args = [
        *_head(cfg, keys),
        len(upto),
        encoded,
        id_needle(upto[0].id),
        id_needle(upto[-1].id),
    ]
    result = yield _script("session.compact", chat_scripts.COMPACT, keys, args)
    return int(result) >= 0


@dataclass(frozen=True, slots=True)
class SessionDump:
    """Everything of one session, as an export holds it and an import puts it back.

    Attributes:
        session_id: the session id.
        created_ms: first write (server clock, epoch ms).
        last_active_ms: latest write (server clock, epoch ms).
        title: the title, if any.
        summary: the running summary of the archived messages, if any.
        expires_at_ms: when the session expires (epoch ms), or None if it is persistent.
        messages: active messages, oldest first.
        archived: archived messages, oldest first.
    """

    session_id: str
    created_ms: int
    last_active_ms: int
    title: str | None
    summary: str | None
    expires_at_ms: int | None
    messages: list[SessionMessage]
    archived: list[SessionMessage]


def dump(cfg: SessionConfig, session_id: str) -> Plan[SessionDump | None]:
    """The whole session read in one atomic step; None if it does not exist (or expired)."""
    keys = cfg.keys(session_id)
    active, archived, flat, now, left = yield _script(
        "session.dump", chat_scripts.DUMP, keys, [keys.sid], idempotent=True
    )
    meta = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
    if "created" not in meta or "last_active" not in meta:
        return None
    return SessionDump(
        session_id=session_id,
        created_ms=int(meta["created"]),
        last_active_ms=int(meta["last_active"]),
        title=_text(meta["title"]) if "title" in meta else None,
        summary=_text(meta["summary"]) if "summary" in meta else None,
        expires_at_ms=int(now) + int(left) if int(left) >= 0 else None,
        messages=_decode_all(active),
        archived=_decode_all(archived),
    )


def restore(cfg: SessionConfig, session: SessionDump) -> Plan[int]:
    """Put ``session`` back as it was dumped, replacing whatever the session holds now, in one
    atomic step (ids, order, archive, title, summary, timestamps and expiry kept)."""
    keys = cfg.keys(session.session_id)
    envelopes = [
        id_needle(m.id)[:-1] + b',"data":' + m.data_json + b"}"
        for m in (*session.messages, *session.archived)
    ]
    for m in (*session.messages, *session.archived):
        encode_id(m.id, "message id")
    args: list[Any] = [
        keys.sid,
        int(session.created_ms),
        int(session.last_active_ms),
        "1" if session.title is not None else "0",
        encode_text(session.title or "", "title"),
        "1" if session.summary is not None else "0",
        encode_text(session.summary or "", "summary"),
        int(session.expires_at_ms or 0),
        len(session.messages),
        *envelopes,
    ]
    call = _script("session.restore", chat_scripts.RESTORE, keys, args, idempotent=True)
    return int((yield call))
