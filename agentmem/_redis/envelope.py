"""How one message is stored: an envelope of its id and the caller's JSON document.

The stored bytes are ``{"id":<id>,"data":<document>}`` with the id first and ASCII-escaped. That
fixed shape lets a Lua script find a message by id with a prefix comparison, and lets readers take
the document's JSON bytes without decoding the envelope (so a pydantic adapter can validate the
bytes directly, in one pass).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from agentmem._redis.keys import encode_id
from agentmem.errors import InvalidInputError, SerializationError

__all__ = [
    "MAX_DEPTH",
    "SessionMessage",
    "check_document",
    "decode_message",
    "encode_messages",
    "id_needle",
    "parse_envelope",
]

_HEAD = b'{"id":'
# The id is an ASCII-escaped JSON string, so an unescaped quote followed by `,"data":` can only be
# its closing quote: the first match is the boundary.
_SEPARATOR = b'","data":'


@dataclass(frozen=True, slots=True)
class SessionMessage:
    """One stored message.

    Attributes:
        id: the message id (given on append, or generated).
        data_json: the caller's document as the JSON bytes that were stored.
    """

    id: str
    data_json: bytes

    @property
    def data(self) -> dict[str, Any]:
        """The caller's document, decoded.

        Raises:
            SerializationError: the stored bytes are not a JSON object.
        """
        try:
            value = json.loads(self.data_json)
        except ValueError as exc:
            raise SerializationError(f"message {self.id!r} holds invalid JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise SerializationError(f"message {self.id!r} holds JSON that is not an object")
        return value


MAX_DEPTH = 100
"""Deepest nesting of lists and dicts a stored message may have (far beyond any chat message;
a bound keeps a hostile document from exhausting the interpreter's recursion limit)."""


# json.dumps with options builds a new encoder per call; this one is built once (it keeps no
# state between calls, so threads may share it).
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


# json's own string encoder (its C version where there is one): what _ENCODER writes for a str.
_encode_str: Callable[[str], str] = json.encoder.encode_basestring
_SCALARS: dict[object, str] = {None: "null", True: "true", False: "false"}
_NAMES: dict[str, str] = {}  # a key's JSON string and the colon after it


def _flat_json(value: dict[str, Any]) -> str | None:
    """``value`` as ``_ENCODER`` writes it, if it is a flat dict with str keys and str, int,
    bool or None values (a plain chat message): such a document needs no
    :func:`check_document`, and the encoder's per-call setup costs more than writing it here.
    None for any other dict.
    """
    parts = []
    for key, item in value.items():
        if type(key) is not str:
            return None
        name = _NAMES.get(key)
        if name is None:
            name = _encode_str(key) + ":"
            # A chat message has a handful of short keys, always the same ones.
            if len(key) <= 64 and len(_NAMES) < 1024:
                _NAMES[key] = name
        kind = type(item)
        if kind is str:
            parts.append(name + _encode_str(item))
        elif kind is int:
            try:
                parts.append(name + int.__repr__(item))
            except ValueError:  # past Python's digit limit: the encoder reports it
                return None
        elif item is None or kind is bool:
            parts.append(name + _SCALARS[item])
        else:
            return None
    return "{" + ",".join(parts) + "}"


# A path into a document as a linked list: (key or index, parent path).
_Path: TypeAlias = "tuple[object, _Path] | None"


def check_document(value: object, what: str) -> None:
    """Refuse what JSON would store other than as given: a non-str key, or nesting too deep.

    JSON keys are strings; ``json.dumps`` turns ``1`` into ``"1"``, so ``{1: "x", "1": "y"}``
    would read back as ``{"1": "y"}``: such a document is refused instead.

    Raises:
        SerializationError: a dict key that is not a str (named with its path), or lists and
            dicts nested deeper than :data:`MAX_DEPTH`.
    """
    # Paths are linked (key, parent) pairs, rendered only for an error: a deep document must
    # not cost a growing string per level.
    stack: list[tuple[object, int, _Path]] = [(value, 0, None)]

    def render(path: _Path) -> str:
        keys: list[object] = []
        while path is not None:
            keys.append(path[0])
            path = path[1]
        return what + "".join(f"[{k!r:.40}]" for k in reversed(keys[-8:]))

    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise SerializationError(
                f"{what} is nested more than {MAX_DEPTH} levels deep; flatten it before storing"
            )
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise SerializationError(
                        f"{render(path)} cannot be stored as JSON: it has the key {key!r:.40} "
                        f"({type(key).__name__}), and JSON keys are strings (1 and '1' would "
                        "collide); use str keys"
                    )
                if isinstance(child, (dict, list, tuple)):
                    stack.append((child, depth + 1, (key, path)))
        elif isinstance(node, (list, tuple)):
            for i, child in enumerate(node):
                if isinstance(child, (dict, list, tuple)):
                    stack.append((child, depth + 1, (i, path)))


def id_needle(message_id: str) -> bytes:
    """The bytes every stored envelope of ``message_id`` starts with."""
    return _HEAD + json.dumps(message_id).encode() + b","


def encode_messages(
    messages: Sequence[Mapping[str, Any]],
    ids: Sequence[str | None] | None,
    max_bytes: int,
) -> list[bytes]:
    """Encode messages into stored envelopes; raise before anything is written.

    Raises:
        InvalidInputError: a message is not a mapping, an id is not a non-empty str, ``ids`` has
            another length than ``messages``, or a message exceeds ``max_bytes``
            (``max_message_bytes``).
        SerializationError: a message holds a value JSON cannot encode.
    """
    if type(messages) is not list and (
        isinstance(messages, Mapping) or not isinstance(messages, Sequence)
    ):
        raise InvalidInputError("messages must be a sequence of dicts (wrap one message in a list)")
    if ids is not None and len(ids) != len(messages):
        raise InvalidInputError(f"got {len(ids)} ids for {len(messages)} messages")
    encoded = []
    for i, message in enumerate(messages):
        if type(message) is not dict:  # a dict is dumped as it is; another mapping is copied
            if not isinstance(message, Mapping):
                raise InvalidInputError(f"message {i} is a {type(message).__name__}, not a dict")
            message = dict(message)
        message_id = ids[i] if ids is not None else None
        if message_id is None:
            # 128 random bits in hex (as long as a uuid4's hex, and 5x cheaper to make); hex
            # needs no JSON escaping.
            head = b'{"id":"' + os.urandom(16).hex().encode() + b'","data":'
        else:
            encode_id(message_id, f"id of message {i}")
            head = id_needle(message_id)[:-1] + b',"data":'
        text = _flat_json(message)
        if text is None:
            check_document(message, f"message {i}")
        try:
            # Compact JSON, non-ASCII kept, NaN refused; lone surrogates fail to encode here.
            raw = head + (_ENCODER.encode(message) if text is None else text).encode() + b"}"
        except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
            raise SerializationError(
                f"message {i} cannot be stored as JSON ({exc}); convert the value to str, "
                "number, bool, None, list or dict first"
            ) from exc
        if len(raw) > max_bytes:
            raise InvalidInputError(
                f"message {i} is {len(raw)} bytes encoded, over the limit of "
                f"max_message_bytes={max_bytes}; shorten it or raise the limit"
            )
        encoded.append(raw)
    return encoded


def decode_message(raw: bytes | str) -> SessionMessage:
    """Split one stored envelope into its id and its document's JSON bytes.

    Raises:
        SerializationError: the stored bytes are not an agentmem message envelope.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    cut = data.find(_SEPARATOR)
    if not data.startswith(_HEAD) or cut < 0 or not data.endswith(b"}"):
        raise SerializationError(
            "a stored message is not an agentmem envelope; was the key written by something else?"
        )
    quoted = data[len(_HEAD) : cut + 1]
    if b"\\" not in quoted:
        # Fast path (reads are hot): an ASCII JSON string without escapes is its own text.
        return SessionMessage(quoted[1:-1].decode("ascii"), data[cut + len(_SEPARATOR) : -1])
    try:
        message_id = json.loads(quoted)
    except ValueError as exc:
        raise SerializationError(f"a stored message has a malformed id ({exc})") from exc
    return SessionMessage(message_id, data[cut + len(_SEPARATOR) : -1])


def parse_envelope(raw: bytes | str, loads: Callable[[bytes], Any]) -> tuple[str, dict[str, Any]]:
    """The id and the document of one stored envelope, parsed in one pass by ``loads`` (a JSON
    parser of bytes, such as ``json.loads``).

    Equal to ``decode_message(raw)`` and its ``data``, which it falls back to for whatever
    ``loads`` does not parse into an envelope (so the errors are the same).

    Raises:
        SerializationError: the stored bytes are not an agentmem message envelope, or the
            document is not a JSON object.
    """
    if type(raw) is bytes and raw.startswith(_HEAD):
        try:
            envelope = loads(raw)
        except ValueError:  # json's and pydantic's errors both are ValueErrors
            envelope = None
        if type(envelope) is dict and len(envelope) == 2:
            message_id, data = envelope.get("id"), envelope.get("data")
            if type(message_id) is str and type(data) is dict:
                return message_id, data
    stored = decode_message(raw)
    return stored.id, stored.data
