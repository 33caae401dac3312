"""The neutral chat-message format every agentmem chat adapter stores (no framework imports).

One session may be written by LangChain and read by LlamaIndex, or the other way round, so the
adapters do not store their framework's own dump: each converts its messages to this format on
write and from it on read. A stored message is a JSON object::

    {
      "v": 1,
      "role": "user" | "assistant" | "system" | "tool" | <any other role, stored as given>,
      "content": "plain text" | [part, ...],
      "tool_calls": [{"id": "call-1" | null, "name": "lookup", "args": {...} | "raw text"}],
      "tool_call_id": "call-1",              # a tool result: the call it answers
      "name": "alice",                       # who spoke (or which tool answered)
      "extra": {"langchain": {...}, "llamaindex": {...}}
    }

Keys without a value are left out. ``content`` is a string when the message is one plain text,
else a list of parts:

- ``{"type": "text", "text": ...}``
- ``{"type": "image", "url": ...}`` or ``{"type": "image", "data": <base64>, "mime_type": ...}``,
  either with an optional ``"detail"``;
- ``{"type": "opaque"}``: a block only the framework that wrote it understands.

Any part may carry ``"extra": {<framework>: <its original block>}`` when the generic part does not
rebuild that block exactly (a LangChain ``image_url`` block, an audio block). The writing
framework reads its original back when the part still says the same thing (:func:`own_block`),
so a message read by its own framework is equal to the one written.

``extra`` at the message level holds what only one framework has (LangChain's ``id``,
``usage_metadata``, ``response_metadata``; LlamaIndex's other ``additional_kwargs``), keyed by
framework. A framework reading a message it did not write cannot hold the other's extras, nor an
opaque part without its own original: those travel inside the message it returns as a *carry*
(:func:`carry_of`), and are put back into the stored message when that framework writes the
message again (:func:`with_carry`). Nothing is dropped on the way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from agentmem._redis.envelope import MAX_DEPTH, check_document
from agentmem.errors import SerializationError

__all__ = [
    "CARRY_KEY",
    "FORMAT_VERSION",
    "MAX_DEPTH",
    "Framework",
    "carry_of",
    "check",
    "check_document",
    "content_parts",
    "is_neutral",
    "message",
    "own_block",
    "part_with_original",
    "split_content",
    "with_carry",
]

FORMAT_VERSION = 1
"""The ``"v"`` of every stored neutral message."""

CARRY_KEY = "agentmem"
"""Where an adapter keeps a message's carry (the other framework's extras and parts)."""

Framework = Literal["langchain", "llamaindex"]

_FIELDS = frozenset({"tool_calls", "tool_call_id", "name"})


def message(
    role: str,
    content: str | list[dict[str, Any]],
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    tool_call_id: str | None = None,
    name: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A neutral message, with the keys that have no value left out."""
    doc: dict[str, Any] = {"v": FORMAT_VERSION, "role": role, "content": content}
    if tool_calls:
        doc["tool_calls"] = tool_calls
    if tool_call_id is not None:
        doc["tool_call_id"] = tool_call_id
    if name is not None:
        doc["name"] = name
    kept = {fw: value for fw, value in (extra or {}).items() if value}
    if kept:
        doc["extra"] = kept
    return doc


def is_neutral(doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` is a stored neutral message (and not an older framework dump)."""
    return doc.get("v") == FORMAT_VERSION and isinstance(doc.get("role"), str)


def check(doc: Mapping[str, Any], where: str) -> None:
    """Refuse a stored document that is not a well-formed neutral message.

    Raises:
        SerializationError: the document lacks a role or content, or has malformed parts or
            tool calls.
    """
    content = doc.get("content")
    if isinstance(content, str) and len(doc) == 3 and is_neutral(doc):
        return  # a plain text message (the common case): nothing more to check
    calls = doc.get("tool_calls", [])
    ok = (
        is_neutral(doc)
        and (
            isinstance(content, str)
            or (isinstance(content, list) and all(isinstance(p, dict) for p in content))
        )
        and isinstance(calls, list)
        and all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in calls)
        and isinstance(doc.get("extra", {}), dict)
    )
    if not ok:
        raise SerializationError(
            f"{where} is not an agentmem chat message (format v{FORMAT_VERSION}); was it written "
            "by something other than an agentmem chat adapter?"
        )


def content_parts(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``content`` as a list of parts (a plain string is one text part)."""
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def part_with_original(
    part: dict[str, Any], original: object, rebuilt: object, framework: Framework
) -> dict[str, Any]:
    """``part``, plus ``original`` under ``extra[framework]`` unless ``rebuilt`` equals it."""
    if rebuilt == original:
        return part
    return {**part, "extra": {**part.get("extra", {}), framework: original}}


def own_block(
    part: Mapping[str, Any], framework: Framework, to_part: Callable[[Any], dict[str, Any]]
) -> Any | None:
    """The framework's original block kept in ``part``, if the part still says the same thing.

    ``to_part`` converts a block of the framework to its part; an original whose part differs
    from ``part`` (the other framework changed it) is stale and ignored.
    """
    original = part.get("extra", {}).get(framework)
    if original is None:
        return None
    bare = {k: v for k, v in part.items() if k != "extra"}
    again = {k: v for k, v in to_part(original).items() if k != "extra"}
    return original if again == bare else None


def split_content(
    doc: Mapping[str, Any],
    framework: Framework,
    readable: Callable[[Mapping[str, Any]], bool],
) -> tuple[list[tuple[int, dict[str, Any]]], list[list[Any]]]:
    """The parts ``framework`` can hold (with their positions) and the ones it must carry.

    Returns:
        ``(kept, carried)``: ``kept`` as ``(index, part)`` pairs, ``carried`` as
        ``[index, part]`` pairs to put in the message's carry.
    """
    kept: list[tuple[int, dict[str, Any]]] = []
    carried: list[list[Any]] = []
    for i, part in enumerate(content_parts(doc["content"])):
        if readable(part):
            kept.append((i, part))
        else:
            carried.append([i, part])
    return kept, carried


def carry_of(
    doc: Mapping[str, Any],
    framework: Framework,
    parts: list[list[Any]],
    args: list[list[Any]] | None = None,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """What ``framework`` cannot hold of ``doc``: the other frameworks' extras and ``parts``.

    Args:
        doc: the stored message.
        framework: the framework reading it.
        parts: ``[index, part]`` pairs of the parts it cannot hold.
        args: ``[index, text]`` pairs of tool calls whose arguments were stored as JSON text
            and that the framework holds parsed (so the text is stored again on write).
        fields: neutral fields the framework has no place for on this kind of message (a
            ``tool_call_id`` on a user message in LangChain, say).

    Returns:
        ``{"extra": {...}, "parts": [...], "args": [...]}`` (empty keys left out), or None.
    """
    if isinstance(doc["content"], str) and not (parts or args or fields or "extra" in doc):
        return None  # the common case, with nothing to carry
    others = {fw: v for fw, v in doc.get("extra", {}).items() if fw != framework}
    carry: dict[str, Any] = {}
    if others:
        carry["extra"] = others
    if parts:
        carry["parts"] = parts
    if args:
        carry["args"] = args
    if fields:
        carry["fields"] = dict(fields)
    # Originals the other framework kept on parts this one holds (a LangChain ``image_url``
    # block, say): put back on write; the other framework checks they still apply.
    carried = {i for i, _ in parts}
    marks = []
    for i, part in enumerate(content_parts(doc["content"])):
        foreign = {fw: v for fw, v in part.get("extra", {}).items() if fw != framework}
        if foreign and i not in carried:
            marks.append([i, foreign])
    if marks:
        carry["marks"] = marks
    return carry or None


def _restore_args(doc: dict[str, Any], entries: object) -> dict[str, Any]:
    """Put back tool-call arguments that were JSON text, where they still parse to the same."""
    calls = [dict(c) for c in doc.get("tool_calls", [])]
    for entry in entries if isinstance(entries, list) else ():
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)):
            continue
        i, text = entry
        if 0 <= i < len(calls) and isinstance(text, str):
            try:
                same = json.loads(text) == calls[i].get("args")
            except ValueError:
                same = False
            if same:
                calls[i]["args"] = text
    return {**doc, "tool_calls": calls} if calls else doc


def with_carry(doc: dict[str, Any], carry: object, framework: Framework) -> dict[str, Any]:
    """``doc`` (just converted from ``framework``) with a carry it held put back.

    Carried parts go back to their positions, carried extras beside the framework's own.

    Raises:
        SerializationError: the carry is malformed (edited by hand).
    """
    if not carry:
        return doc
    if not isinstance(carry, dict):
        raise SerializationError(f"the message's {CARRY_KEY!r} carry is not a dict")
    parts = carry.get("parts", [])
    extra = carry.get("extra", {})
    if not isinstance(parts, list) or not isinstance(extra, dict):
        raise SerializationError(f"the message's {CARRY_KEY!r} carry is malformed")
    if parts:
        content = content_parts(doc["content"])
        for entry in sorted(parts, key=lambda e: e[0] if isinstance(e, list) else 0):
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)):
                raise SerializationError(f"the message's {CARRY_KEY!r} carry has a bad part")
            content.insert(min(entry[0], len(content)), entry[1])
        doc = {**doc, "content": content}
    marks = carry.get("marks", [])
    if marks and isinstance(marks, list):
        content = content_parts(doc["content"])
        for entry in marks:
            ok = isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)
            if ok and 0 <= entry[0] < len(content) and isinstance(entry[1], dict):
                part = content[entry[0]]
                content[entry[0]] = {**part, "extra": {**entry[1], **part.get("extra", {})}}
        doc = {**doc, "content": content}
    fields = carry.get("fields", {})
    if isinstance(fields, dict):
        doc = {**{k: v for k, v in fields.items() if k in _FIELDS and k not in doc}, **doc}
    if "args" in carry:
        doc = _restore_args(doc, carry["args"])
    others = {fw: v for fw, v in extra.items() if fw != framework}
    if others:
        doc = {**doc, "extra": {**others, **doc.get("extra", {})}}
    return doc
