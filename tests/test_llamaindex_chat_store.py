"""AgentMemChatStore and AgentMemDBChatStore against the real test Redis.

Behaviour is checked against LlamaIndex's own stores: the same operations run on
``SimpleChatStore`` / ``SQLAlchemyChatStore`` must give the same answers.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import pickle
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.memory import BaseMemoryBlock, ChatMemoryBuffer, Memory
from llama_index.core.storage.chat_store import BaseChatStore, SimpleChatStore
from llama_index.core.storage.chat_store.base_db import MessageStatus
from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore
from sqlalchemy.ext.asyncio import create_async_engine
from workflows import Context, Workflow, step
from workflows.context.serializers import JsonSerializer
from workflows.events import StartEvent, StopEvent

from agentmem import AgentMem, AgentMemSettings, InvalidInputError
from llamaindex_agentmem import AgentMemChatStore, AgentMemDBChatStore, chat_store, db_chat_store
from tests.support import ScriptedLLM


@pytest.fixture
def mem(amem: AgentMem) -> AgentMem:
    """These tests use sync and async methods on one object: an AgentMem that closes both."""
    return amem


def chat(text: str, role: MessageRole = MessageRole.USER) -> ChatMessage:
    return ChatMessage(role=role, content=text)


def rich_messages() -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.SYSTEM, content="be brief"),
        ChatMessage(
            role=MessageRole.USER,
            blocks=[
                TextBlock(text="what is this? ünïcødé"),
                ImageBlock(url="https://example.com/cat.png", image_mimetype="image/png"),
            ],
        ),
        ChatMessage(
            role=MessageRole.ASSISTANT,
            content="",
            additional_kwargs={
                "tool_calls": [{"id": "c1", "name": "lookup", "args": {"q": "cat"}}]
            },
        ),
        ChatMessage(
            role=MessageRole.TOOL, content="a cat", additional_kwargs={"tool_call_id": "c1"}
        ),
        ChatMessage(role=MessageRole.ASSISTANT, content="A cat."),
    ]


def dumped(messages: list[ChatMessage] | None) -> Any:
    return None if messages is None else [m.model_dump(mode="json") for m in messages]


async def ev(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


ASYNC_NAMES = {
    "set_messages": "aset_messages",
    "get_messages": "aget_messages",
    "add_message": "async_add_message",
    "delete_messages": "adelete_messages",
    "delete_message": "adelete_message",
    "delete_last_message": "adelete_last_message",
    "get_keys": "aget_keys",
}


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Calls a BaseChatStore method by its sync name, or its async twin."""

    def invoke(store: BaseChatStore, name: str, *args: Any) -> Any:
        method = name if request.param == "sync" else ASYNC_NAMES[name]
        return getattr(store, method)(*args)

    return invoke


async def test_behaves_like_simple_chat_store(mem: AgentMem, call: Callable[..., Any]) -> None:
    ours, reference = AgentMemChatStore(mem, user_id="u"), SimpleChatStore()
    script: list[tuple[str, tuple[Any, ...]]] = [
        ("get_messages", ("a",)),
        ("set_messages", ("a", [chat("1"), chat("2"), chat("3"), chat("4")])),
        ("add_message", ("a", chat("5", MessageRole.ASSISTANT))),
        ("add_message", ("b", chat("x"))),
        ("delete_message", ("a", 1)),
        ("delete_message", ("a", 99)),
        ("delete_last_message", ("a",)),
        ("get_messages", ("a",)),
        ("delete_messages", ("b",)),
        ("delete_messages", ("never",)),
        ("delete_last_message", ("never",)),
        ("get_messages", ("b",)),
        ("set_messages", ("a", [chat("new")])),
        ("get_messages", ("a",)),
    ]
    for name, args in script:
        got = await ev(call(ours, name, *args))
        expected = getattr(reference, name)(*args)
        if isinstance(expected, ChatMessage):
            got, expected = dumped([got]), dumped([expected])
        elif isinstance(expected, list):
            got, expected = dumped(got), dumped(expected)
        assert got == expected, (name, args)
    assert await ev(call(ours, "get_keys")) == ["a"]


async def test_rich_messages_round_trip_exactly(mem: AgentMem, call: Callable[..., Any]) -> None:
    store = AgentMemChatStore(mem, user_id="u")
    await ev(call(store, "set_messages", "k", rich_messages()))
    await ev(call(store, "add_message", "k", chat("more")))
    assert dumped(await ev(call(store, "get_messages", "k"))) == dumped(
        [*rich_messages(), chat("more")]
    )


async def test_get_keys_lists_only_this_users_sessions(
    mem: AgentMem, call: Callable[..., Any]
) -> None:
    alice, bob = (
        AgentMemChatStore(mem, user_id="alice"),
        AgentMemChatStore(mem, user_id="bob"),
    )
    await ev(call(alice, "add_message", "a1", chat("x")))
    await ev(call(alice, "add_message", "a2", chat("x")))
    await ev(call(bob, "add_message", "b1", chat("x")))
    assert sorted(await ev(call(alice, "get_keys"))) == ["a1", "a2"]
    assert await ev(call(bob, "get_keys")) == ["b1"]


def test_methods_are_native_and_never_use_threads() -> None:
    for name in ASYNC_NAMES.values():
        assert getattr(AgentMemChatStore, name) is not getattr(BaseChatStore, name), name
    source = inspect.getsource(chat_store) + inspect.getsource(db_chat_store)
    for forbidden in ("to_thread", "run_in_executor", "asyncio.run", "asyncio_run"):
        assert forbidden not in source


def test_oversized_message_writes_nothing(mem: AgentMem) -> None:
    store = AgentMemChatStore(mem, user_id="u", max_message_bytes=300)
    store.add_message("k", chat("ok"))
    with pytest.raises(InvalidInputError, match="max_message_bytes=300"):
        store.set_messages("k", [chat("fine"), chat("x" * 400)])
    assert [m.content for m in store.get_messages("k")] == ["ok"]


async def test_chat_memory_buffer_uses_the_store_sync_and_async(mem: AgentMem) -> None:
    store = AgentMemChatStore(mem, user_id="u")
    buffer = ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key="c", token_limit=50)
    buffer.put(chat("hello"))
    await buffer.aput(chat("hi there", MessageRole.ASSISTANT))
    for i in range(30):
        buffer.put(chat(f"filler message number {i}"))
    assert len(store.get_messages("c")) == 32  # the store keeps everything
    window = await buffer.aget()
    assert 0 < len(window) < 32  # the buffer trims to its token limit
    assert window[-1].content == "filler message number 29"
    buffer.reset()
    assert store.get_messages("c") == []


class Noop(Workflow):
    @step
    async def run_step(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=None)


async def test_context_round_trip_keeps_no_secret_and_reconnects_lazily(
    redis_settings: AgentMemSettings, mem: AgentMem
) -> None:
    url = str(redis_settings.redis.url)
    secret_url = url.replace("redis://", "redis://agent:sup3r-s3cret@")
    # Same server and mode (standalone or cluster), plus credentials the store must not leak.
    secret_redis = replace(redis_settings.redis, url=secret_url, password="sup3r-s3cret")
    secret_settings = AgentMemSettings(redis=secret_redis, key_prefix=mem.key_prefix)
    scheme = "redis+cluster://" if secret_redis.cluster else "redis://"
    with AgentMem(secret_settings) as holder:  # never connects: only its settings are read
        store = AgentMemChatStore(holder, user_id="u", ttl=600)
        buffer = ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key="c")
        dumped_store = store.to_dict()
        assert dumped_store["redis_url"] == url.replace("redis://", f"{scheme}agent@")
        workflow = Noop()
        ctx = Context(workflow)
        await ctx.store.set("buffer", buffer)
        data = ctx.to_dict(serializer=JsonSerializer())
    text = json.dumps(data)
    assert "sup3r-s3cret" not in text and "AgentMemChatStore" in text
    # The test server has no ACL user "agent"; drop it so the rebuilt store can log in.
    text = text.replace(f"{scheme}agent@", scheme)
    writer = AgentMemChatStore(mem, user_id="u")
    writer.set_messages("c", [chat("stored before the restore")])

    restored_ctx = Context.from_dict(workflow, json.loads(text), serializer=JsonSerializer())
    restored = await restored_ctx.store.get("buffer")
    assert isinstance(restored, ChatMemoryBuffer)
    assert isinstance(restored.chat_store, AgentMemChatStore)
    assert restored.chat_store._memory is None  # nothing connected until first use
    assert [m.content for m in await restored.aget_all()] == ["stored before the restore"]
    assert restored.chat_store.ttl == 600
    await restored.chat_store.aclose()


def test_to_dict_from_dict_round_trip(mem: AgentMem) -> None:
    store = AgentMemChatStore(mem, user_id="u", max_messages=5)
    store.add_message("k", chat("x"))
    again = AgentMemChatStore.from_dict(store.to_dict())
    assert again.get_messages("k")[0].content == "x"
    assert again.max_messages == 5
    again.close()


# -- AgentMemDBChatStore -------------------------------------------------------------------------


async def run_db_script(store: Any) -> list[Any]:
    out: list[Any] = []
    active, archived = MessageStatus.ACTIVE, MessageStatus.ARCHIVED
    await store.add_messages("k", [chat(str(i)) for i in range(6)])
    await store.add_message("k", chat("6"))
    await store.add_message("other", chat("o"))
    out.append(await store.count_messages("k"))
    out.append(dumped(await store.archive_oldest_messages("k", 2)))
    out.append(dumped(await store.delete_oldest_messages("k", 1)))
    out.append(dumped(await store.get_messages("k")))
    out.append(dumped(await store.get_messages("k", status=archived)))
    out.append(dumped(await store.get_messages("k", status=None)))
    out.append(dumped(await store.get_messages("k", limit=2, offset=1)))
    out.append(dumped(await store.get_messages("k", status=None, limit=3, offset=1)))
    out.append(await store.count_messages("k", status=archived))
    out.append(await store.count_messages("k", status=None))
    out.append(dumped(await store.archive_oldest_messages("none", 3)))
    await store.delete_messages("k", status=archived)
    out.append(await store.count_messages("k", status=None))
    await store.set_messages("k", [chat("a"), chat("b")], status=active)
    out.append(dumped(await store.get_messages("k", status=None)))
    out.append(sorted(await store.get_keys()))
    await store.delete_messages("k")
    out.append(sorted(await store.get_keys()))
    out.append(dumped(await store.get_messages("k")))
    return out


@contextlib.asynccontextmanager
async def sqlalchemy_store(table: str) -> AsyncIterator[SQLAlchemyChatStore]:
    """LlamaIndex's own SQL store on in-memory SQLite, disposed before the test's loop closes
    (its aiosqlite worker thread would otherwise call into the closed loop later)."""
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    try:
        yield SQLAlchemyChatStore(table_name=table, async_engine=engine)
    finally:
        await engine.dispose()


async def test_db_store_behaves_like_sqlalchemy_chat_store(mem: AgentMem) -> None:
    ours = await run_db_script(AgentMemDBChatStore(mem, user_id="u"))
    async with sqlalchemy_store("t") as theirs:
        reference = await run_db_script(theirs)
    assert ours == reference


async def test_db_store_delete_message_takes_a_position(mem: AgentMem) -> None:
    store = AgentMemDBChatStore(mem, user_id="u")
    await store.add_messages("k", [chat("a"), chat("b"), chat("c")])
    removed = await store.delete_message("k", 1)
    assert removed is not None and removed.content == "b"
    assert await store.delete_message("k", 7) is None
    assert [m.content for m in await store.get_messages("k")] == ["a", "c"]


class Recorder(BaseMemoryBlock[str]):
    """A memory block that remembers what Memory flushed into it."""

    received: list[ChatMessage] = Field(default_factory=list)

    async def _aget(self, messages: list[ChatMessage] | None = None, **kwargs: Any) -> str:
        return f"{len(self.received)} messages flushed"

    async def _aput(self, messages: list[ChatMessage]) -> None:
        self.received.extend(messages)


async def drive_memory(chat_store: Any) -> tuple[Memory, Recorder]:
    block = Recorder(name="recorder")
    memory = Memory.from_defaults(
        session_id="session",
        chat_store=chat_store,
        token_limit=200,
        token_flush_size=60,
        chat_history_token_ratio=0.5,
        memory_blocks=[block],
    )
    for turn in range(12):
        await memory.aput_messages(
            [
                chat(f"question {turn}: " + "words " * 8),
                chat(f"answer {turn}: " + "more words " * 6, MessageRole.ASSISTANT),
            ]
        )
    return memory, block


async def test_memory_flushes_to_blocks_and_archives_like_sql(mem: AgentMem) -> None:
    ours_store = AgentMemDBChatStore(mem, user_id="u")
    ours, our_block = await drive_memory(ours_store)
    async with sqlalchemy_store("m") as reference:
        theirs, their_block = await drive_memory(reference)
        assert our_block.received, "the token limit was reached, so messages were flushed"
        assert dumped(our_block.received) == dumped(their_block.received)
        assert dumped(await ours.aget_all()) == dumped(await theirs.aget_all())
        assert dumped(await ours.aget()) == dumped(await theirs.aget())
    archived = await ours_store.get_messages("session", status=MessageStatus.ARCHIVED)
    # Archived, not deleted (Memory tags what it hands to blocks with the session id).
    assert [m.content for m in archived] == [m.content for m in our_block.received]
    total = await ours_store.count_messages("session", status=None)
    assert total == 24


# -- compaction ----------------------------------------------------------------------------------


def ten_each(message: ChatMessage) -> int:
    return 10


def tool_conversation() -> list[ChatMessage]:
    calls = [{"id": "c1", "name": "lookup", "args": {"q": "tides"}}]
    return [
        chat("I'm Ada. When is high tide?"),
        ChatMessage(
            role=MessageRole.ASSISTANT, content="", additional_kwargs={"tool_calls": calls}
        ),
        ChatMessage(
            role=MessageRole.TOOL, content="14:05", additional_kwargs={"tool_call_id": "c1"}
        ),
        chat("High tide is at 14:05.", MessageRole.ASSISTANT),
        chat("Thanks!"),
    ]


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_compaction_summarizes_archives_and_keeps_tool_results_with_their_call(
    mem: AgentMem, flavour: str
) -> None:
    store = AgentMemChatStore(mem, user_id="u")
    conversation = tool_conversation()
    store.set_messages("k", conversation)
    llm = ScriptedLLM(replies=["Ada asked about the tide: 14:05.", "Ada said thanks."])

    async def compact(budget: int) -> list[ChatMessage]:
        if flavour == "sync":
            return store.compact("k", llm, max_tokens=budget, tokenizer=ten_each)
        return await store.acompact("k", llm, max_tokens=budget, tokenizer=ten_each)

    # 30 tokens would start the window at the tool result; the cut moves to keep it with its call.
    view = await compact(30)
    assert [m.content for m in view] == [
        "Summary of the earlier conversation:\nAda asked about the tide: 14:05.",
        "High tide is at 14:05.",
        "Thanks!",
    ]
    assert dumped(store.get_archived_messages("k")) == dumped(conversation[:3])
    assert dumped(store.get_messages("k")) == dumped(conversation[3:])
    asked = llm.seen[0][1].content or ""
    assert "I'm Ada" in asked and '"q": "tides"' in asked and "14:05" in asked
    # A second pass merges the previous summary with the next messages.
    view = await compact(10)
    assert [m.content for m in view][1:] == ["Thanks!"]
    assert "Ada asked about the tide" in (llm.seen[1][1].content or "")
    assert len(await store.aget_archived_messages("k")) == 4
    assert await compact(100) == view  # fits now: no model call
    assert len(llm.seen) == 2


def test_copies_and_pickles_carry_settings_never_clients(mem: AgentMem) -> None:
    store = AgentMemChatStore(mem, user_id="u", ttl=60)
    store.add_message("k", chat("kept"))
    copied = copy.deepcopy(store)
    assert copied._memory is mem and copied.get_messages("k")[0].content == "kept"
    payload = pickle.dumps(store)
    assert b"AgentMem(" not in payload and b"Redis<" not in payload
    unpickled = pickle.loads(payload)
    assert unpickled._memory is None and unpickled.ttl == 60
    # ChatMemoryBuffer deep-copies cleanly too (AgentMem's locks are never copied).
    buffer = copy.deepcopy(ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key="k"))
    assert [m.content for m in buffer.get_all()] == ["kept"]


# -- constructor, lifecycle, validation ----------------------------------------------------------


@pytest.mark.parametrize("cls", [AgentMemChatStore, AgentMemDBChatStore])
def test_memory_is_the_first_positional_and_the_user_must_be_named(
    mem: AgentMem, cls: type[Any]
) -> None:
    from agentmem import SHARED

    assert cls(mem, user_id="alice").user_id == "alice"
    assert cls(memory=mem, user_id="alice").user_id == "alice"  # the keyword still works
    with pytest.raises(InvalidInputError, match=rf"{cls.__name__} needs user_id=.*SHARED"):
        cls(mem)
    with pytest.raises(InvalidInputError, match="first argument, memory, is the AgentMem"):
        cls("alice", user_id="alice")
    assert cls(mem, user_id=SHARED).user_id == "shared"


async def test_with_blocks_close_the_store_and_leave_a_borrowed_memory_open(
    mem: AgentMem,
) -> None:
    from agentmem import ClosedError

    with AgentMemChatStore(mem, user_id="u") as store:
        store.add_message("k", chat("one"))
    with pytest.raises(ClosedError):
        store.get_messages("k")
    async with AgentMemDBChatStore(mem, user_id="u") as db:
        assert [m.content for m in await db.get_messages("k")] == ["one"]
    with pytest.raises(ClosedError):
        await db.get_messages("k")
    assert mem.redis().ping()


async def test_bad_messages_raise_typed_errors_and_write_nothing(
    mem: AgentMem, call: Callable[..., Any]
) -> None:
    from agentmem import SerializationError

    store = AgentMemChatStore(mem, user_id="u")
    deep: Any = "leaf"
    for _ in range(3000):
        deep = {"d": deep}
    bad = [
        ChatMessage(content="deep", additional_kwargs={"d": deep}),
        ChatMessage(content="collide", additional_kwargs={"x": {1: "int", "1": "str"}}),
        ChatMessage(content="lone \ud800 surrogate"),
    ]
    for message in bad:
        with pytest.raises(SerializationError):
            await ev(call(store, "set_messages", "k", [chat("ok"), message]))
        with pytest.raises(SerializationError):
            await ev(call(store, "add_message", "k", message))
    with pytest.raises(InvalidInputError, match="session_id"):
        await ev(call(store, "add_message", "k\ud800", chat("x")))
    with pytest.raises(InvalidInputError, match="not a LlamaIndex ChatMessage"):
        await ev(call(store, "set_messages", "k", ["text"]))
    assert await ev(call(store, "get_keys")) == []


def test_messages_stored_before_the_neutral_format_still_read(mem: AgentMem) -> None:
    from agentmem.sessions import SessionStore

    old = rich_messages()
    SessionStore(mem, user_id="u").append("k", [m.model_dump(mode="json") for m in old])
    assert dumped(AgentMemChatStore(mem, user_id="u").get_messages("k")) == dumped(old)


def test_plain_messages_read_back_exactly_as_validation_builds_them(mem: AgentMem) -> None:
    # Reads build plain text messages without a validation pass (llamaindex_agentmem._messages
    # checks at import that the result is identical, instance state included); each read
    # message is its own object, and editing one leaves the others and the stored ones alone.
    from llamaindex_agentmem import _messages

    assert _messages._PLAIN_IS_EXACT  # else reads still work, through validation
    store = AgentMemChatStore(mem, user_id="u")
    written = [chat("hi"), chat("", MessageRole.ASSISTANT), chat("é ☀️", MessageRole.TOOL)]
    for message in written:
        store.add_message("plain", message)
    read = store.get_messages("plain")
    assert read == written
    for got, message in zip(read, written, strict=True):
        want = ChatMessage.model_validate(message.model_dump())  # a round trip through a dump
        assert got.__getstate__() == want.__getstate__()
        assert got.blocks[0].__getstate__() == want.blocks[0].__getstate__()
        assert got.model_dump_json(exclude_unset=True) == want.model_dump_json(exclude_unset=True)
    read[0].content = "edited"
    read[0].additional_kwargs["k"] = 1
    again = store.get_messages("plain")
    assert again == written and read[1:] == written[1:]
    assert read[0].model_fields_set == {"role", "additional_kwargs", "blocks"}
    assert again[0].model_fields_set == {"role", "additional_kwargs", "blocks"}
