"""LlamaIndex messages to and from agentmem's neutral chat format (:mod:`agentmem.messages`).

A ``ChatMessage`` written here and read here is equal to the original (role, every block,
``additional_kwargs``); one written by LangChain reads as the ``ChatMessage`` with the same role,
text, images, tool calls (``ToolCallBlock``) and ids (a tool result's ``tool_call_id`` and ``name``
in ``additional_kwargs``, as LlamaIndex's agents write them). What a ``ChatMessage`` has no place
for (LangChain's usage and response metadata, message id, ...) is kept on an
:class:`AgentMemChatMessage`, a ``ChatMessage`` with one more field, and stored again when that
message is written back. It is never put in ``additional_kwargs``, which LLM integrations send
to the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock
from llama_index.core.bridge.pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import from_json

from agentmem import messages as fmt
from agentmem._redis.envelope import parse_envelope
from agentmem.errors import InvalidInputError, SerializationError
from agentmem.facts import Turn
from agentmem.sessions import SessionMessage

__all__ = ["AgentMemChatMessage", "dump", "load", "load_one", "load_raw"]

_FW: fmt.Framework = "llamaindex"
_ROLES = {role.value for role in MessageRole}


class AgentMemChatMessage(ChatMessage):
    """A ``ChatMessage`` read from a session another framework wrote, with what it cannot hold.

    Attributes:
        agentmem: the other framework's fields and blocks (stored again when this message is
            written back through an agentmem chat store). Not sent to any model.
    """

    agentmem: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields of another framework kept by agentmem; not sent to the model.",
    )


# -- blocks --------------------------------------------------------------------------------------


def _part(block: Mapping[str, Any]) -> dict[str, Any]:
    """The neutral part of one dumped block (``model_dump(mode="json")``), lossy."""
    kind = block.get("block_type")
    if kind == "text" and isinstance(block.get("text"), str):
        return {"type": "text", "text": block["text"]}
    if kind == "image" and block.get("path") is None:
        part: dict[str, Any] = {"type": "image"}
        if isinstance(block.get("image"), str):
            part["data"] = block["image"]
        elif isinstance(block.get("url"), str):
            part["url"] = block["url"]
        else:
            return {"type": "opaque"}
        for name, key in (("image_mimetype", "mime_type"), ("detail", "detail")):
            if isinstance(block.get(name), str):
                part[key] = block[name]
        return part
    return {"type": "opaque"}


def _block(part: Mapping[str, Any]) -> dict[str, Any] | None:
    """The dumped block of a neutral part; None for a part a ChatMessage cannot hold."""
    own = fmt.own_block(part, _FW, _part)
    if own is not None:
        return dict(own)
    if part.get("type") == "text" and isinstance(part.get("text"), str):
        return {"block_type": "text", "text": part["text"]}
    if part.get("type") == "image" and isinstance(part.get("url") or part.get("data"), str):
        return {
            "block_type": "image",
            "image": part.get("data"),
            "path": None,
            "url": None if "data" in part else part.get("url"),
            "image_mimetype": part.get("mime_type"),
            "detail": part.get("detail"),
        }
    return None


def _to_part(block: Mapping[str, Any]) -> dict[str, Any]:
    part = _part(block)
    rebuilt = None if part["type"] == "opaque" else _block(part)
    return fmt.part_with_original(part, block, rebuilt, _FW)


# -- messages ------------------------------------------------------------------------------------


def _openai_calls(value: object) -> list[dict[str, Any]] | None:
    """Neutral tool calls of ``additional_kwargs["tool_calls"]`` in the OpenAI form, or None."""
    if not isinstance(value, list) or not value:
        return None
    calls = []
    for item in value:
        function = item.get("function") if isinstance(item, dict) else None
        if not (isinstance(function, dict) and isinstance(function.get("name"), str)):
            return None
        args = function.get("arguments", {})
        if not isinstance(args, (dict, str)):
            return None
        calls.append({"id": item.get("id"), "name": function["name"], "args": args})
    return calls


def _plain_text(message: ChatMessage) -> dict[str, Any] | None:
    """The neutral document of a plain ``ChatMessage`` (one text block, no ``additional_kwargs``),
    built without a pydantic dump (equal to what :func:`to_neutral` builds); None for any other.
    """
    if type(message) is not ChatMessage or message.additional_kwargs:
        return None
    blocks = message.blocks
    if len(blocks) != 1 or type(blocks[0]) is not TextBlock:
        return None
    text, role = blocks[0].text, message.role
    if type(text) is not str or type(role) is not MessageRole:
        return None
    return {"v": fmt.FORMAT_VERSION, "role": role.value, "content": text}


def to_neutral(message: ChatMessage) -> dict[str, Any]:
    """The neutral document of one ``ChatMessage`` (exact for LlamaIndex's own reads).

    Raises:
        SerializationError: a value of the message cannot be stored as JSON.
    """
    plain = _plain_text(message)
    if plain is not None:  # the common case (about 4x faster)
        return plain
    return _to_neutral(message)


def _to_neutral(message: ChatMessage) -> dict[str, Any]:
    # The JSON dump turns a key 1 into "1" (and keeps one of 1 and "1"), so look first.
    fmt.check_document(message.additional_kwargs, "the message's additional_kwargs")
    for block in message.blocks:
        if isinstance(getattr(block, "tool_kwargs", None), dict):
            fmt.check_document(block.tool_kwargs, "a tool call's tool_kwargs")  # type: ignore[union-attr]
    try:
        dumped = message.model_dump(mode="json")
    except (ValueError, TypeError, RecursionError) as exc:  # pydantic's errors are ValueErrors
        raise SerializationError(
            f"a ChatMessage cannot be stored as JSON ({exc}); make additional_kwargs values "
            "JSON-compatible"
        ) from exc
    carry = dumped.pop("agentmem", None)
    kwargs = dict(dumped.get("additional_kwargs") or {})
    # LlamaIndex's agents put a tool result's call id and tool name here.
    tool_call_id = (
        kwargs.pop("tool_call_id") if isinstance(kwargs.get("tool_call_id"), str) else None
    )
    name = kwargs.pop("name") if isinstance(kwargs.get("name"), str) else None
    parts, calls, positions = [], [], []
    for i, block in enumerate(dumped.get("blocks") or ()):
        if block.get("block_type") == "tool_call":
            calls.append({"id": block.get("tool_call_id"), "name": block.get("tool_name"),
                          "args": block.get("tool_kwargs")})  # fmt: skip
            positions.append(i)
        else:
            parts.append(_to_part(block))
    own: dict[str, Any] = {}
    if not calls:  # older LlamaIndex LLMs keep an assistant's tool calls in the OpenAI form
        found = _openai_calls(kwargs.get("tool_calls"))
        if found:
            calls, own["calls_in_kwargs"] = found, True
    if kwargs:
        own["additional_kwargs"] = kwargs
    if positions != list(range(len(parts), len(parts) + len(positions))):
        own["tool_call_at"] = positions  # tool calls not at the end: keep where they were
    single = len(parts) == 1 and parts[0] == {"type": "text", "text": parts[0].get("text")}
    doc = fmt.message(
        str(dumped.get("role", "user")),
        parts[0]["text"] if single else parts,
        tool_calls=calls,
        tool_call_id=tool_call_id,
        name=name,
        extra={_FW: own},
    )
    return fmt.with_carry(doc, carry, _FW)


def _insert_calls(
    blocks: list[dict[str, Any]], calls: list[dict[str, Any]], own: Mapping[str, Any]
) -> list[dict[str, Any]]:
    at = own.get("tool_call_at")
    if not (isinstance(at, list) and len(at) == len(calls)):
        return blocks + calls
    out = list(blocks)
    for position, call in zip(at, calls, strict=True):
        out.insert(min(position, len(out)) if isinstance(position, int) else len(out), call)
    return out


def from_neutral(doc: Mapping[str, Any], where: str) -> ChatMessage:
    """The ``ChatMessage`` of a neutral document (an :class:`AgentMemChatMessage` when it
    carries another framework's fields).

    Raises:
        SerializationError: the document is malformed, or its role is not a LlamaIndex role.
    """
    fmt.check(doc, where)
    if len(doc) == 3 and isinstance(doc["content"], str) and doc["role"] in _ROLES:
        # The common case, a plain text with nothing else.
        if _PLAIN_IS_EXACT:
            return _plain_message(doc["role"], doc["content"])
        return ChatMessage.model_validate(_plain_value(doc["role"], doc["content"]))
    if doc["role"] not in _ROLES:
        raise SerializationError(
            f"{where} has the role {doc['role']!r}, which LlamaIndex has no MessageRole for "
            f"(it has {sorted(_ROLES)})"
        )
    own = doc.get("extra", {}).get(_FW) or {}
    kwargs = dict(own.get("additional_kwargs") or {})
    if "tool_call_id" in doc:
        kwargs["tool_call_id"] = doc["tool_call_id"]
    if "name" in doc:
        kwargs["name"] = doc["name"]
    calls = doc.get("tool_calls", [])
    if own.get("calls_in_kwargs") and _openai_calls(kwargs.get("tool_calls")) == calls:
        calls = []  # they are in additional_kwargs, as the LLM that made them wrote them
    elif own.get("calls_in_kwargs"):
        kwargs.pop("tool_calls", None)  # changed by the other framework: the calls below win
    kept, carried = fmt.split_content(doc, _FW, lambda p: _block(p) is not None)
    blocks = [b for b in (_block(part) for _, part in kept) if b is not None]
    tool_blocks = [
        {"block_type": "tool_call", "tool_call_id": c.get("id"), "tool_name": c["name"],
         "tool_kwargs": c.get("args") if isinstance(c.get("args"), (dict, str)) else {}}
        for c in calls
    ]  # fmt: skip
    value = {"role": doc["role"], "additional_kwargs": kwargs,
             "blocks": _insert_calls(blocks, tool_blocks, own)}  # fmt: skip
    carry = fmt.carry_of(doc, _FW, carried)
    try:
        if carry is None:
            return ChatMessage.model_validate(value)
        return AgentMemChatMessage.model_validate({**value, "agentmem": carry})
    except ValidationError as exc:
        raise SerializationError(f"{where} cannot be read as a ChatMessage ({exc})") from exc


def load_one(stored: SessionMessage) -> ChatMessage:
    """One stored session message as a ``ChatMessage``."""
    return _load_doc(stored.id, stored.data)


def _load_doc(message_id: str, value: dict[str, Any]) -> ChatMessage:
    where = f"message {message_id!r}"
    if fmt.is_neutral(value):
        return from_neutral(value, where)
    if isinstance(value.get("blocks"), list) and isinstance(value.get("role"), str):
        try:  # written by agentmem before the neutral format: LlamaIndex's own dump
            return ChatMessage.model_validate(value)
        except ValidationError as exc:
            raise SerializationError(f"{where} cannot be read as a ChatMessage ({exc})") from exc
    fmt.check(value, where)  # raises, naming the message
    raise AssertionError("unreachable")  # pragma: no cover


def load(stored: Sequence[SessionMessage]) -> list[ChatMessage]:
    """Stored session messages as ``ChatMessage`` objects, oldest first."""
    return [load_one(item) for item in stored]


# Validates a whole read in one call; ChatMessage instances in the list pass through as they are.
_MANY: TypeAdapter[list[ChatMessage]] = TypeAdapter(list[ChatMessage])

_ROLE_OF = {role.value: role for role in MessageRole}
_new = object.__new__
_set = object.__setattr__


def _built(cls: type[Any], values: dict[str, Any], fields_set: set[str]) -> Any:
    # What BaseModel.model_construct leaves on an instance, without its per-field loop.
    obj = _new(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", fields_set)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def _plain_value(role: str, text: str) -> dict[str, Any]:
    """What ``ChatMessage.model_validate`` takes for a plain text: LlamaIndex's own dump."""
    return {"role": role, "additional_kwargs": {}, "blocks": [{"block_type": "text", "text": text}]}


def _plain_message(role: str, text: str) -> ChatMessage:
    """The ``ChatMessage`` of a plain text, as validating :func:`_plain_value` makes it (and as
    LlamaIndex's own JSON dump reads back)."""
    block = _built(TextBlock, {"block_type": "text", "text": text}, {"block_type", "text"})
    values = {"role": _ROLE_OF[role], "additional_kwargs": {}, "blocks": [block]}
    return _built(ChatMessage, values, {"role", "additional_kwargs", "blocks"})  # type: ignore[no-any-return]


def _plain_is_exact() -> bool:
    """Whether :func:`_plain_message` builds exactly what validation builds, with this pydantic
    and llama-index (every instance attribute compared); if not, reads validate instead."""
    try:
        for cls in (ChatMessage, TextBlock):
            if cls.__pydantic_post_init__ or cls.__private_attributes__:
                return False
            if cls.model_config.get("extra") == "allow":
                return False
        for role in MessageRole:
            for text in ("", "text é"):
                fast = _plain_message(role.value, text)
                slow = ChatMessage.model_validate(_plain_value(role.value, text))
                same = (
                    fast == slow
                    and fast.__getstate__() == slow.__getstate__()
                    and fast.blocks[0].__getstate__() == slow.blocks[0].__getstate__()
                    and fast.model_dump_json() == slow.model_dump_json()
                )
                if not same:
                    return False
    except Exception:  # any surprise: take the validated path
        return False
    return True


_PLAIN_IS_EXACT = _plain_is_exact()


def load_raw(raws: Sequence[bytes | str]) -> list[ChatMessage]:
    """Stored envelopes (``SessionStore._read_raw``) as ``ChatMessage`` objects, oldest first.

    Equal to :func:`load` of the decoded messages, but each envelope is parsed once (pydantic's
    JSON parser) and the plain text messages are validated together in one pass.

    Raises:
        SerializationError: a stored message is malformed, or not a LlamaIndex message.
    """
    values: list[ChatMessage | dict[str, Any]] = []
    for raw in raws:
        message_id, doc = parse_envelope(raw, from_json)
        role, content = doc.get("role"), doc.get("content")
        if (
            len(doc) == 3
            and type(content) is str
            and type(role) is str
            and role in _ROLES
            and doc.get("v") == fmt.FORMAT_VERSION
        ):
            if _PLAIN_IS_EXACT:
                values.append(_plain_message(role, content))
            else:
                values.append(_plain_value(role, content))
        else:
            values.append(_load_doc(message_id, doc))
    if _PLAIN_IS_EXACT:  # every value is a ChatMessage already
        return values  # type: ignore[return-value]
    try:
        return _MANY.validate_python(values)
    except ValidationError as exc:  # pragma: no cover - the values above are valid by shape
        raise SerializationError(
            f"a stored message cannot be read as a ChatMessage ({exc})"
        ) from exc


def dump(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Neutral documents of ``ChatMessage`` objects, ready for ``SessionStore.append``.

    Raises:
        InvalidInputError: an item is not a ``ChatMessage``.
        SerializationError: a message holds a value JSON cannot encode.
    """
    docs = []
    for i, message in enumerate(messages):
        # (pydantic's isinstance is Python code: look at the exact type first)
        if type(message) is not ChatMessage and not isinstance(message, ChatMessage):
            raise InvalidInputError(
                f"message {i} is a {type(message).__name__}, not a LlamaIndex ChatMessage"
            )
        docs.append(to_neutral(message))
    return docs


_ASSISTANT = {"assistant", "chatbot", "model"}


def turns_of(messages: Sequence[ChatMessage]) -> list[Turn]:
    """User and assistant messages with text, as turns to consolidate (tools and system left out)."""
    out = []
    for m in messages:
        role = m.role.value if isinstance(m.role, MessageRole) else str(m.role)
        role = "assistant" if role in _ASSISTANT else role
        text = m.content or ""
        if role in ("user", "assistant") and text.strip():
            out.append(Turn(role, text, m.additional_kwargs.get("id")))
    return out
