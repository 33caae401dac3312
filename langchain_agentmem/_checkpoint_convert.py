"""Conversions between LangGraph's checkpoint types and agentmem's stored records.

Everything that touches the serializer lives here, as functions of it: a saver copy made by
``with_allowlist`` swaps ``serde``, so nothing may capture it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from agentmem.checkpoints import CheckpointRecord, NewCheckpoint, Typed, WriteRecord
from agentmem.errors import InvalidInputError, SerializationError

__all__ = [
    "address_of",
    "check_plain",
    "config_of",
    "configurable",
    "contains",
    "dump",
    "list_scope",
    "load",
    "matches",
    "page_size",
    "thread_id_of",
    "to_new_checkpoint",
    "to_tuple",
    "to_writes",
    "user_of",
]

# Where LangGraph puts the run's Runtime (and so its context) in the config a saver receives. A
# test pins it, so a LangGraph release that moves it fails loudly instead of linking nothing.
RUNTIME = "__pregel_runtime"
_PAGE = 100


def _version_key(version: Any) -> str:
    # Part of a channel value's field name. The type is part of it, so 1 and "1" never share a
    # value; the exact version (with its type) is kept inside the serialized checkpoint.
    return f"{type(version).__name__}:{version!r}"


def configurable(config: RunnableConfig | None) -> dict[str, Any]:
    return dict((config or {}).get("configurable") or {})


def thread_id_of(config: RunnableConfig) -> str:
    thread_id = configurable(config).get("thread_id")
    if thread_id is None or thread_id == "":
        raise InvalidInputError(
            'the config has no thread_id; pass {"configurable": {"thread_id": "..."}}'
        )
    return str(thread_id)


def address_of(config: RunnableConfig) -> tuple[str, str, str | None]:
    """(thread id, namespace, checkpoint id or None) named by a get_tuple() config."""
    ns = str(configurable(config).get("checkpoint_ns") or "")
    return thread_id_of(config), ns, get_checkpoint_id(config)


def list_scope(config: RunnableConfig | None) -> tuple[str | None, str | None, str | None]:
    """(thread id, namespace or None for all, exact checkpoint id) of a list() config."""
    conf = configurable(config)
    thread_id = conf.get("thread_id")
    ns = conf.get("checkpoint_ns")
    return (
        str(thread_id) if thread_id not in (None, "") else None,
        str(ns) if ns is not None else None,
        conf.get("checkpoint_id") or None,
    )


def page_size(filter: dict[str, Any] | None, exact: str | None, limit: int | None) -> int:
    # Without a filter every record read is returned, so read no more than asked for.
    return limit if limit and not filter and not exact else _PAGE


def matches(tup: CheckpointTuple, filter: dict[str, Any] | None, exact_id: str | None) -> bool:
    if exact_id and tup.checkpoint["id"] != exact_id:
        return False
    return contains(tup.metadata, filter) if filter else True


def user_of(config: RunnableConfig, user_key: str | None) -> str | None:
    """The user named by ``config``, checked, or None.

    ``configurable[user_key]`` first, else the run's context (``graph.invoke(...,
    context=...)``, a dict or an object with that attribute), which LangGraph hands to the
    saver inside ``configurable`` as the runtime.
    """
    if user_key is None:
        return None
    conf = configurable(config)
    user = conf.get(user_key)
    if user is None:
        user = context_value(getattr(conf.get(RUNTIME), "context", None), user_key)
    return checked_user(user, user_key)


def context_value(context: Any, key: str) -> Any:
    """``key`` of a run's context: a dict, or an object with that attribute."""
    return context.get(key) if isinstance(context, dict) else getattr(context, key, None)


def checked_user(user: Any, user_key: str) -> str | None:
    """A user id as found in a run (None or "": no user); an int becomes its text.

    Raises:
        InvalidInputError: anything else that is not a str.
    """
    if user in (None, ""):
        return None
    if isinstance(user, int) and not isinstance(user, bool):
        return str(user)
    if not isinstance(user, str):
        raise InvalidInputError(
            f"configurable[{user_key!r}] (or the run context's) must be a str naming the user, "
            f"got {type(user).__name__}; pass the user id as text (or user_key=None). "
            "Nothing was read or written."
        )
    return user


def config_of(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


# Metadata and list() filters nested deeper than this are refused: LangGraph's metadata is a few
# levels deep, and a cap keeps every walk (ours, the serializer's, the filter match) far from
# Python's recursion limit.
MAX_DEPTH = 100


def check_plain(value: Any, what: str, *, text: bool = True) -> None:
    """Refuse, before anything is serialized or written, nesting of dicts, lists and tuples
    deeper than :data:`MAX_DEPTH` and (with ``text``) any key or string with a lone surrogate,
    which the serializer would silently store as ``"?"``.

    Raises:
        SerializationError: ``value`` is nested too deep (or contains itself).
        InvalidInputError: a string is not valid Unicode.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if text:
                _valid_text(item, what)
            continue
        if not isinstance(item, (dict, list, tuple)):
            continue
        if depth >= MAX_DEPTH:
            raise SerializationError(
                f"{what} is nested more than {MAX_DEPTH} levels deep (or contains itself); "
                "store flatter data. Nothing was written."
            )
        children = item.values() if isinstance(item, dict) else item
        if text and isinstance(item, dict):
            for key in item:
                if isinstance(key, str):
                    _valid_text(key, what)
        stack.extend((child, depth + 1) for child in children)


def _valid_text(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{what} has text that is not valid Unicode (a lone surrogate in {value!r:.60}); "
            "pass valid text. Nothing was written."
        ) from None


def contains(value: Any, wanted: Any) -> bool:
    # Containment like Postgres' JSONB @>: dicts match on the keys asked for (recursively),
    # anything else by equality. A flat filter is InMemorySaver's exact top-level match.
    if isinstance(wanted, dict):
        return isinstance(value, dict) and all(
            k in value and contains(value[k], v) for k, v in wanted.items()
        )
    return bool(value == wanted)


def dump(serde: SerializerProtocol, value: Any, what: str) -> Typed:
    try:
        tag, data = serde.dumps_typed(value)
    except Exception as exc:  # serde raises anything (TypeError, msgpack and cipher errors)
        raise SerializationError(
            f"{what} cannot be serialized by {type(serde).__name__} ({exc}); store "
            "plain data, or pass a serde that handles this type. Nothing was written."
        ) from exc
    return Typed(tag, bytes(data))


def load(serde: SerializerProtocol, value: Typed) -> Any:
    return serde.loads_typed((value.tag, value.data))


def to_new_checkpoint(
    serde: SerializerProtocol,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
) -> NewCheckpoint:
    conf = configurable(config)
    body: dict[str, Any] = dict(checkpoint)
    values: dict[str, Any] = body.pop("channel_values", None) or {}
    merged = get_checkpoint_metadata(config, metadata)
    check_plain(merged, "the checkpoint metadata")
    versions = {**(checkpoint.get("channel_versions") or {}), **new_versions}
    # Only channels that have a value are referenced: a channel without one (consumed,
    # cleared, or a delta channel left out on purpose) reads back as absent, as with
    # InMemorySaver, and costs no bytes per checkpoint.
    refs = {c: _version_key(v) for c, v in versions.items() if c in values}
    new_values: dict[str, Typed | None] = {
        c: dump(serde, values[c], f"channel {c!r}") for c in new_versions if c in values
    }
    run_id = merged.get("run_id")
    return NewCheckpoint(
        thread_id=thread_id_of(config),
        ns=str(conf.get("checkpoint_ns") or ""),
        checkpoint_id=checkpoint["id"],
        parent_id=conf.get("checkpoint_id") or None,
        checkpoint=dump(serde, body, "the checkpoint"),
        metadata=dump(serde, merged, "the checkpoint metadata"),
        run_id=str(run_id) if run_id is not None else None,
        versions=refs,
        new_values=new_values,
        # DeltaChannel (beta) counts updates since its last snapshot here; while any count
        # is open, the state is rebuilt from ancestors' writes, so retention keeps them.
        needs_ancestors=bool(merged.get("counters_since_delta_snapshot")),
    )


def to_writes(
    serde: SerializerProtocol, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
) -> list[WriteRecord]:
    return [
        WriteRecord(
            task_id=task_id,
            idx=WRITES_IDX_MAP.get(channel, i),
            channel=channel,
            value=dump(serde, value, f"the write to channel {channel!r}"),
            task_path=task_path,
        )
        for i, (channel, value) in enumerate(writes)
    ]


def to_tuple(serde: SerializerProtocol, record: CheckpointRecord) -> CheckpointTuple:
    checkpoint = cast(Checkpoint, load(serde, record.checkpoint))
    checkpoint["channel_values"] = {c: load(serde, v) for c, v in record.values.items()}
    parent = record.parent_id
    return CheckpointTuple(
        config=config_of(record.thread_id, record.ns, record.checkpoint_id),
        checkpoint=checkpoint,
        metadata=cast(CheckpointMetadata, load(serde, record.metadata)),
        parent_config=config_of(record.thread_id, record.ns, parent) if parent else None,
        pending_writes=[(w.task_id, w.channel, load(serde, w.value)) for w in record.writes],
    )
