"""LangChain messages to and from agentmem's neutral chat format (:mod:`agentmem.messages`).

A message written here and read here is equal to the original (every type, tool calls, usage and
response metadata, ids, content blocks); one written by LlamaIndex reads as the LangChain message
with the same role, text, images, tool calls and ids. What LangChain has no place for travels in
``response_metadata["agentmem"]`` (never sent to a model) and is stored again on write.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)
from pydantic_core import from_json

from agentmem import messages as fmt
from agentmem._redis.envelope import parse_envelope
from agentmem.errors import InvalidInputError, SerializationError
from agentmem.facts import Turn
from agentmem.sessions import SessionMessage

__all__ = ["dump", "load", "load_raw"]

_FW: fmt.Framework = "langchain"
_ROLE = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
_TYPE = {role: kind for kind, role in _ROLE.items()}
# Fields the neutral format holds itself; the others go to extra["langchain"] unless default.
_COVERED = frozenset({"content", "type", "tool_calls", "tool_call_id", "name", "role"})
# The classes messages_from_dict builds for the common types (the others go through it).
_CLASSES: dict[str, type[BaseMessage]] = {
    "human": HumanMessage,
    "ai": AIMessage,
    "system": SystemMessage,
    "tool": ToolMessage,
    "chat": ChatMessage,
    "function": FunctionMessage,
}
_DEFAULTS: dict[str, Any] = {
    "additional_kwargs": {},
    "response_metadata": {},
    "id": None,
    "example": False,
    "invalid_tool_calls": [],
    "usage_metadata": None,
    "artifact": None,
    "status": "success",
}


# -- content blocks ------------------------------------------------------------------------------


def _part(block: object) -> dict[str, Any]:
    """The neutral part of one LangChain content block (lossy; see :func:`_block`)."""
    if isinstance(block, str):
        return {"type": "text", "text": block}
    if not isinstance(block, dict):
        return {"type": "opaque"}
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        return {"type": "text", "text": block["text"]}
    if kind == "image":
        part: dict[str, Any] = {"type": "image"}
        if isinstance(block.get("url"), str):
            part["url"] = block["url"]
        elif isinstance(block.get("base64"), str):
            part["data"] = block["base64"]
        else:
            return {"type": "opaque"}
        if isinstance(block.get("mime_type"), str):
            part["mime_type"] = block["mime_type"]
        detail = (block.get("extras") or {}).get("detail")
        if isinstance(detail, str):
            part["detail"] = detail
        return part
    if kind == "image_url":  # the OpenAI chat-completions form
        inner = block.get("image_url")
        inner = {"url": inner} if isinstance(inner, str) else inner
        if isinstance(inner, dict) and isinstance(inner.get("url"), str):
            part = {"type": "image", "url": inner["url"]}
            if isinstance(inner.get("detail"), str):
                part["detail"] = inner["detail"]
            return part
    return {"type": "opaque"}


def _block(part: Mapping[str, Any]) -> Any | None:
    """The LangChain block of a neutral part; None for a part LangChain cannot hold."""
    own = fmt.own_block(part, _FW, _part)
    if own is not None:
        return own
    if part.get("type") == "text" and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if part.get("type") == "image":
        block: dict[str, Any] = {"type": "image"}
        if isinstance(part.get("url"), str):
            block["url"] = part["url"]
        elif isinstance(part.get("data"), str):
            block["base64"] = part["data"]
        else:
            return None
        if isinstance(part.get("mime_type"), str):
            block["mime_type"] = part["mime_type"]
        if isinstance(part.get("detail"), str):
            block["extras"] = {"detail": part["detail"]}
        return block
    return None


def _to_part(block: object) -> dict[str, Any]:
    part = _part(block)
    rebuilt = None if part["type"] == "opaque" else _block(part)
    return fmt.part_with_original(part, block, rebuilt, _FW)


# -- messages ------------------------------------------------------------------------------------


def to_neutral(message: BaseMessage) -> dict[str, Any]:
    """The neutral document of one LangChain message (exact for LangChain's own reads)."""
    data = dict(message_to_dict(message)["data"])
    kind = message.type
    metadata = dict(data.get("response_metadata") or {})
    carry = metadata.pop(fmt.CARRY_KEY, None)
    data["response_metadata"] = metadata
    role = data["role"] if kind == "chat" and isinstance(data.get("role"), str) else None
    role = role or _ROLE.get(kind, kind)
    own = {k: v for k, v in data.items() if k not in _COVERED and v != _DEFAULTS.get(k, ...)}
    if _TYPE.get(role, "chat") != kind:
        own["type"] = kind  # a ChatMessage with a shared role, a FunctionMessage, ...
    content = data["content"]
    calls = [
        {"id": c.get("id"), "name": c["name"], "args": c["args"]}
        for c in data.get("tool_calls") or ()
    ]
    doc = fmt.message(
        role,
        content if isinstance(content, str) else [_to_part(b) for b in content],
        tool_calls=calls,
        tool_call_id=data.get("tool_call_id"),
        name=data.get("name"),
        extra={_FW: own},
    )
    return fmt.with_carry(doc, carry, _FW)


def _type_of(doc: Mapping[str, Any], own: Mapping[str, Any]) -> str:
    role = doc["role"]
    kind = own.get("type")
    # The own type holds only while the role still matches it (the other side may have edited).
    if isinstance(kind, str) and (kind == "chat" or _ROLE.get(kind, kind) == role):
        return kind
    return _TYPE.get(role, "chat")


def _tool_calls(doc: Mapping[str, Any], data: dict[str, Any]) -> list[list[Any]]:
    """Put the document's tool calls in ``data``; return the JSON-text arguments it parsed."""
    calls, invalid = [], list(data.get("invalid_tool_calls") or [])
    texts: list[list[Any]] = []
    for i, call in enumerate(doc.get("tool_calls", [])):
        args = call.get("args")
        if isinstance(args, str):  # LlamaIndex may keep the arguments as JSON text
            try:
                args = json.loads(args)
            except ValueError:
                args = None
            if isinstance(args, dict):
                texts.append([i, call["args"]])
        if isinstance(args, dict):
            calls.append(
                {"name": call["name"], "args": args, "id": call.get("id"), "type": "tool_call"}
            )
        else:  # LangChain's place for arguments that are not a JSON object
            raw = call.get("args")
            invalid.append({"name": call["name"], "args": raw if isinstance(raw, str) else json.dumps(raw),
                            "id": call.get("id"), "error": None, "type": "invalid_tool_call"})  # fmt: skip
    if calls:
        data["tool_calls"] = calls
    if invalid:
        data["invalid_tool_calls"] = invalid
    return texts


def from_neutral(doc: Mapping[str, Any], where: str) -> BaseMessage:
    """The LangChain message of a neutral document.

    Raises:
        SerializationError: the document is malformed, or is a tool result without the id of
            the call it answers (LangChain requires one).
    """
    fmt.check(doc, where)
    own = dict(doc.get("extra", {}).get(_FW) or {})
    kind = _type_of(doc, own)
    own.pop("type", None)
    content: Any = doc["content"]
    carried: list[list[Any]] = []  # a plain string is one text part, which LangChain holds
    if not isinstance(content, str):
        kept, carried = fmt.split_content(doc, _FW, lambda p: _block(p) is not None)
        content = [_block(part) for _, part in kept]
    data: dict[str, Any] = {**own, "type": kind, "content": content}
    if "name" in doc:
        data["name"] = doc["name"]
    if kind == "chat":
        data["role"] = doc["role"]
    if kind == "tool":
        if not isinstance(doc.get("tool_call_id"), str):
            raise SerializationError(
                f"{where} is a tool result without the id of the call it answers; a LangChain "
                "ToolMessage needs tool_call_id (write it with additional_kwargs['tool_call_id'] "
                "in LlamaIndex)"
            )
        data["tool_call_id"] = doc["tool_call_id"]
    texts = _tool_calls(doc, data) if kind == "ai" else []
    # Tool calls or a call id on a message kind without a field for them: carried, not dropped.
    homeless = {
        key: doc[key]
        for key, home in (("tool_calls", "ai"), ("tool_call_id", "tool"))
        if key in doc and kind != home
    }
    carry = fmt.carry_of(doc, _FW, carried, texts, homeless)
    if carry is not None:
        data["response_metadata"] = {**(data.get("response_metadata") or {}), fmt.CARRY_KEY: carry}
    try:
        cls = _CLASSES.get(kind)
        if cls is not None:  # what messages_from_dict does for these types
            return cls(**data)
        return messages_from_dict([{"type": kind, "data": data}])[0]
    except (ValueError, TypeError, KeyError) as exc:
        raise SerializationError(f"{where} cannot be read as a LangChain message ({exc})") from exc


def _legacy(value: dict[str, Any], where: str) -> BaseMessage:
    try:
        return messages_from_dict([value])[0]
    except (ValueError, TypeError, KeyError) as exc:
        raise SerializationError(f"{where} cannot be read as a LangChain message ({exc})") from exc


def _load_doc(message_id: str, value: dict[str, Any]) -> BaseMessage:
    where = f"message {message_id!r}"
    if fmt.is_neutral(value):
        return from_neutral(value, where)
    if isinstance(value.get("type"), str) and isinstance(value.get("data"), dict):
        return _legacy(value, where)  # written by agentmem before the neutral format
    fmt.check(value, where)  # raises, naming the message
    raise AssertionError("unreachable")  # pragma: no cover


def load(stored: Sequence[SessionMessage]) -> list[BaseMessage]:
    """Stored session messages as LangChain messages, oldest first."""
    return [_load_doc(item.id, item.data) for item in stored]


def load_raw(raws: Sequence[bytes | str]) -> list[BaseMessage]:
    """Stored envelopes (``SessionStore._read_raw``) as LangChain messages, oldest first: equal
    to :func:`load` of the decoded messages, with each envelope parsed once (pydantic's JSON
    parser)."""
    out = []
    for raw in raws:
        message_id, doc = parse_envelope(raw, from_json)
        out.append(_load_doc(message_id, doc))
    return out


def dump(messages: Sequence[BaseMessage]) -> tuple[list[dict[str, Any]], list[str | None]]:
    """Neutral documents and ids of LangChain messages, ready for ``SessionStore.append``.

    Raises:
        InvalidInputError: an item is not a LangChain message.
    """
    docs, ids = [], []
    for i, message in enumerate(messages):
        if not isinstance(message, BaseMessage):
            raise InvalidInputError(
                f"message {i} is a {type(message).__name__}, not a LangChain BaseMessage"
            )
        docs.append(to_neutral(message))
        ids.append(message.id)
    return docs, ids


def turns_of(messages: Sequence[BaseMessage]) -> list[Turn]:
    """The human and AI messages with text, as turns to consolidate (tool traffic left out)."""
    roles = {"human": "user", "ai": "assistant"}
    return [
        Turn(roles[m.type], m.text, m.id) for m in messages if m.type in roles and m.text.strip()
    ]
