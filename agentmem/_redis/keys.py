"""The Redis key grammar: pure functions, no I/O.

Every key agentmem writes starts with ``{prefix}:v1:`` (the schema version of the grammar). All keys
of one user share one Redis-Cluster hash tag, ``{u:<digest of the user id>}``, so a session's
messages, its metadata and the user's session index live in one slot and one Lua script can update
them atomically on standalone Redis, Cluster and proxies alike.

Ids never appear raw in a key: user and session ids are arbitrary strings (braces, colons, glob
characters, NUL, unicode, megabytes), so keys carry a fixed-length digest of them. The raw ids are
stored as *values* (the session index member and the ``sid`` metadata field), where any bytes are
safe.

Layout for user ``U`` and session ``S``::

    {p}:v1:{u:<h(U)>}:sessions            ZSET  session id -> last active (ms)   (the user's index)
    {p}:v1:{u:<h(U)>}:s:<h(S)>:msgs       LIST  active messages, oldest first
    {p}:v1:{u:<h(U)>}:s:<h(S)>:meta       HASH  sid, created, last_active, count, archived, title
    {p}:v1:{u:<h(U)>}:s:<h(S)>:arch       LIST  archived (compacted) messages, oldest first
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from agentmem.errors import ConfigurationError, InvalidInputError

__all__ = [
    "SCHEMA_VERSION",
    "SessionKeys",
    "check_prefix",
    "digest",
    "encode_id",
    "encode_text",
    "session_index",
    "session_keys",
    "user_tag",
]

SCHEMA_VERSION = "v1"

# 128 bits of SHA-256: collisions are out of reach, and keys stay short.
_DIGEST_HEX = 32


def encode_id(value: object, what: str) -> bytes:
    """Return ``value`` (a user or session id) as UTF-8 bytes.

    Raises:
        InvalidInputError: ``value`` is not a non-empty string, or has lone surrogates.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{what} must be a non-empty str, got {value!r:.80}")
    return encode_text(value, what)


def encode_text(value: object, what: str) -> bytes:
    """Return ``value`` (any stored text: a title, a summary, a label) as UTF-8 bytes.

    Raises:
        InvalidInputError: ``value`` is not a string, or has lone surrogates.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a str, got {type(value).__name__}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} is not valid Unicode ({exc.reason}); pass text without lone surrogates"
        ) from None


def digest(value: str, what: str = "id") -> str:
    """A fixed-length hex digest of an id, safe inside any key (no braces, colons or globs)."""
    return hashlib.sha256(encode_id(value, what)).hexdigest()[:_DIGEST_HEX]


def check_prefix(prefix: str) -> str:
    """Validate a key prefix and return it.

    Raises:
        ConfigurationError: the prefix is empty or contains ``{`` or ``}`` (Redis Cluster would
            take the first ``{...}`` as the hash tag and scatter one user's keys over slots).
    """
    if not prefix or "{" in prefix or "}" in prefix:
        raise ConfigurationError(
            f"key prefix {prefix!r} must be non-empty and contain no '{{' or '}}'; "
            "set AGENTMEM_KEY_PREFIX (or AgentMemSettings.key_prefix) to e.g. 'agentmem'"
        )
    return prefix


def user_tag(prefix: str, user_id: str) -> str:
    """``{prefix}:v1:{u:<digest>}``: the start of every key of one user (one hash slot)."""
    return f"{check_prefix(prefix)}:{SCHEMA_VERSION}:{{u:{digest(user_id, 'user_id')}}}"


def session_index(prefix: str, user_id: str) -> str:
    """The user's session index (ZSET of session ids scored by last activity, in ms)."""
    return f"{user_tag(prefix, user_id)}:sessions"


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The four keys one session's Lua scripts touch, in the order the scripts expect them, and
    the session id as the scripts get it (``ARGV[1]``)."""

    msgs: str
    meta: str
    arch: str
    index: str
    sid: bytes

    def all(self) -> list[str]:
        """``[msgs, meta, arch, index]``: the ``KEYS`` array of every session script."""
        return [self.msgs, self.meta, self.arch, self.index]


# Ids up to this length have their keys remembered (a chat turn builds the same keys again).
_CACHED_ID_CHARS = 256


def session_keys(prefix: str, user_id: str, session_id: str) -> SessionKeys:
    """The keys of session ``session_id`` of ``user_id``; all share the user's hash tag.

    Raises:
        InvalidInputError: ``session_id`` (or ``user_id``) is not a non-empty str, or has lone
            surrogates.
        ConfigurationError: a bad prefix.
    """
    # Only plain str ids are remembered: a str subclass could compare equal to another id.
    if (
        type(session_id) is str
        and type(user_id) is str
        and type(prefix) is str
        and len(session_id) <= _CACHED_ID_CHARS
        and len(user_id) <= _CACHED_ID_CHARS
    ):
        return _remembered_keys(prefix, user_id, session_id)
    return _session_keys(prefix, user_id, session_id)


def _session_keys(prefix: str, user_id: str, session_id: str) -> SessionKeys:
    sid = encode_id(session_id, "session_id")
    base = f"{user_tag(prefix, user_id)}:s:{hashlib.sha256(sid).hexdigest()[:_DIGEST_HEX]}"
    return SessionKeys(
        msgs=f"{base}:msgs",
        meta=f"{base}:meta",
        arch=f"{base}:arch",
        index=session_index(prefix, user_id),
        sid=sid,
    )


# A bad id raises inside, and lru_cache remembers only results, never errors.
_remembered_keys = functools.lru_cache(maxsize=1024)(_session_keys)
