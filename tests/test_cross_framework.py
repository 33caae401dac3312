"""LangChain and LlamaIndex share one memory: what one writes the other finds, with the same
text, id and metadata; and two tenants never see each other through any adapter API.

The session tests (at the end) check that one chat session written by either framework reads
back through the other: roles, text, images, tool calls and their ids; and that what one
framework cannot hold raises a typed error or is kept and stored again, never dropped."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages import ChatMessage as LCChatMessage
from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.memory import ChatMemoryBuffer, Memory
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from agentmem import AgentMem, SerializationError
from langchain_agentmem import AgentMemChatMessageHistory
from langchain_agentmem import AgentMemVectorStore as LCStore
from llamaindex_agentmem import AgentMemChatStore, AgentMemDBChatStore
from llamaindex_agentmem import AgentMemVectorStore as LIStore
from tests.support import HASH, HashEmbeddings, hash_query


@pytest.fixture
def stores(full_mem: AgentMem, unique_collection: str) -> Iterator[tuple[LCStore, LIStore]]:
    lc = LCStore(
        full_mem, embedding=HashEmbeddings(), tenant="shared", collection=unique_collection
    )
    li = LIStore(full_mem, tenant="shared", collection=unique_collection)
    yield lc, li
    lc.memory.drop_collection()


META = {"topic": "travel", "id": 5, "tags": ["trip"], "score": 0.5}


@pytest.mark.weaviate
def test_memory_written_by_langchain_is_found_by_llamaindex_unchanged(
    stores: tuple[LCStore, LIStore],
) -> None:
    lc, li = stores
    lc.add_documents([Document("booked a flight to Lisbon", metadata=META, id="lc-1")])
    result = li.query(hash_query("flight to Lisbon", similarity_top_k=1))
    assert result.nodes is not None
    (node,) = result.nodes
    assert (node.node_id, node.get_content(), node.metadata) == (
        "lc-1",
        "booked a flight to Lisbon",
        META,
    )
    flt = MetadataFilters(filters=[MetadataFilter(key="topic", value="travel")])
    assert [n.node_id for n in li.get_nodes(filters=flt)] == ["lc-1"]


@pytest.mark.weaviate
def test_memory_written_by_llamaindex_is_found_by_langchain_unchanged(
    stores: tuple[LCStore, LIStore],
) -> None:
    lc, li = stores
    li.add(
        [
            TextNode(
                id_="li-1",
                text="allergic to peanuts",
                metadata=META,
                embedding=HASH.embed_query("allergic to peanuts"),
            )
        ]
    )
    (doc,) = lc.similarity_search("peanuts allergic", k=1)
    assert doc == Document("allergic to peanuts", metadata=META, id="li-1")
    assert [
        d.id for d in lc.similarity_search("x", k=3, filter={"tags": {"$contains": "trip"}})
    ] == ["li-1"]
    assert lc.get_by_ids(["li-1"]) == [doc]


def _visible(read: Callable[[], list[str]], want: list[str], seconds: float = 15.0) -> None:
    """Wait until ``read()`` returns ``want`` (replicas catching up); fail if it never does."""
    deadline = time.monotonic() + seconds
    got = read()
    while got != want and time.monotonic() < deadline:
        time.sleep(0.2)
        got = read()
    assert got == want


@pytest.mark.weaviate
def test_two_tenants_never_see_each_other_through_either_adapter(
    full_mem: AgentMem, unique_collection: str
) -> None:
    a_lc = LCStore(
        full_mem, embedding=HashEmbeddings(), tenant="tenant-a", collection=unique_collection
    )
    b_lc = LCStore(
        full_mem, embedding=HashEmbeddings(), tenant="tenant-b", collection=unique_collection
    )
    a_li = LIStore(full_mem, tenant="tenant-a", collection=unique_collection)
    b_li = LIStore(full_mem, tenant="tenant-b", collection=unique_collection)
    try:
        a_lc.add_texts(["alpha secret"], metadatas=[{"k": "v"}], ids=["a1"])
        a_li.add(
            [
                TextNode(
                    id_="a2",
                    text="alpha node",
                    metadata={"k": "v"},
                    embedding=HASH.embed_query("alpha node"),
                )
            ]
        )
        b_lc.add_texts(["beta note"], metadatas=[{"k": "v"}], ids=["b1"])
        # Reads from tenant B: every API sees only b1. On a replicated cluster a search may be
        # served by a replica that has not applied the write yet (seen under load in the
        # cluster pass), so the first search waits for b1 to be visible before anything is judged.
        _visible(lambda: [d.id for d in b_lc.similarity_search("beta note", k=1)], ["b1"])
        assert [d.id for d in b_lc.similarity_search("alpha secret", k=10)] == ["b1"]
        assert [d.id for d in b_lc.similarity_search("alpha", k=10, search_mode="bm25")] == []
        assert [d.id for d in b_lc.max_marginal_relevance_search("alpha", k=5)] == ["b1"]
        assert b_lc.get_by_ids(["a1", "a2"]) == []
        assert (b_li.query(hash_query("alpha node", similarity_top_k=10)).ids) == ["b1"]
        assert [
            n.node_id
            for n in b_li.get_nodes(
                filters=MetadataFilters(filters=[MetadataFilter(key="k", value="v")])
            )
        ] == ["b1"]
        assert b_li.get_nodes(["a1", "a2"]) == []
        # Deletes and clears in tenant B leave tenant A untouched.
        b_lc.delete(["a1"])
        b_li.delete_nodes(["a2"])
        b_li.clear()
        assert {d.id for d in a_lc.get_by_ids(["a1", "a2"])} == {"a1", "a2"}
        assert b_lc.get_by_ids(["b1"]) == []
    finally:
        a_lc.memory.drop_collection()


# -- sessions ------------------------------------------------------------------------------------

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def lc_conversation() -> list[BaseMessage]:
    """A LangChain turn with every shared feature: roles, text, images, tool calls and ids."""
    return [
        SystemMessage("You are terse.", id="sys-1"),
        HumanMessage(
            [
                {"type": "text", "text": "What is in these pictures?"},
                {"type": "image", "url": "https://example.com/cat.png", "mime_type": "image/png"},
                {"type": "image", "base64": PNG, "mime_type": "image/png"},
            ],
            id="h-1",
        ),
        AIMessage(
            "Let me look.",
            id="ai-1",
            tool_calls=[
                {"name": "lookup", "args": {"q": "cat", "n": 2}, "id": "call-1"},
                {"name": "weather", "args": {"city": "Zürich"}, "id": "call-2"},
            ],
            usage_metadata={"input_tokens": 10, "output_tokens": 3, "total_tokens": 13},
            response_metadata={"model_name": "fake", "finish_reason": "tool_calls"},
        ),
        ToolMessage("a cat", tool_call_id="call-1", name="lookup", id="t-1", artifact={"k": 1}),
        ToolMessage("sunny", tool_call_id="call-2", name="weather", status="error", id="t-2"),
        AIMessage("A cat; ☀️ in Zürich.", id="ai-2"),
    ]


def li_conversation() -> list[ChatMessage]:
    """The same turn as LlamaIndex's agents write it (``ToolCallBlock`` and the older OpenAI
    form of tool calls in ``additional_kwargs``)."""
    return [
        ChatMessage(role=MessageRole.SYSTEM, content="You are terse."),
        ChatMessage(
            role=MessageRole.USER,
            blocks=[
                TextBlock(text="What is in these pictures?"),
                ImageBlock(url="https://example.com/cat.png", image_mimetype="image/png"),
                ImageBlock(image=PNG.encode(), image_mimetype="image/png"),
            ],
        ),
        ChatMessage(
            role=MessageRole.ASSISTANT,
            blocks=[
                TextBlock(text="Let me look."),
                ToolCallBlock(tool_call_id="call-1", tool_name="lookup", tool_kwargs={"q": "cat"}),
            ],
        ),
        ChatMessage(
            role=MessageRole.TOOL,
            content="a cat",
            additional_kwargs={"tool_call_id": "call-1", "name": "lookup"},
        ),
        ChatMessage(
            role=MessageRole.ASSISTANT,
            content="",
            additional_kwargs={
                "tool_calls": [
                    {
                        "id": "call-2",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Zürich"}'},
                    }
                ]
            },
        ),
        ChatMessage(
            role=MessageRole.TOOL, content="sunny", additional_kwargs={"tool_call_id": "call-2"}
        ),
        ChatMessage(role=MessageRole.ASSISTANT, content="A cat; ☀️ in Zürich."),
    ]


def dumped(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json") for m in messages]


def tool_calls_of(message: ChatMessage) -> list[tuple[str | None, str, Any]]:
    return [
        (b.tool_call_id, b.tool_name, b.tool_kwargs)
        for b in message.blocks
        if isinstance(b, ToolCallBlock)
    ]


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def lc_add(history: AgentMemChatMessageHistory, flavour: str, messages: Any) -> None:
    if flavour == "sync":
        history.add_messages(messages)
    else:
        await history.aadd_messages(messages)


async def lc_get(history: AgentMemChatMessageHistory, flavour: str) -> list[BaseMessage]:
    return history.messages if flavour == "sync" else await history.aget_messages()


async def li_set(store: AgentMemChatStore, flavour: str, key: str, messages: Any) -> None:
    if flavour == "sync":
        store.set_messages(key, messages)
    else:
        await store.aset_messages(key, messages)


async def li_get(store: AgentMemChatStore, flavour: str, key: str) -> list[ChatMessage]:
    return store.get_messages(key) if flavour == "sync" else await store.aget_messages(key)


async def test_a_session_langchain_wrote_reads_through_llamaindex(
    amem: AgentMem, flavour: str
) -> None:
    history = AgentMemChatMessageHistory(amem, session_id="chat-1", user_id="user-42")
    await lc_add(history, flavour, lc_conversation())
    store = AgentMemChatStore(amem, user_id="user-42")
    read = await li_get(store, flavour, "chat-1")
    assert [m.role for m in read] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assert [m.content for m in read] == [
        "You are terse.", "What is in these pictures?", "Let me look.", "a cat", "sunny",
        "A cat; ☀️ in Zürich.",
    ]  # fmt: skip
    images = [b for b in read[1].blocks if isinstance(b, ImageBlock)]
    assert [(str(b.url) if b.url else None, b.image_mimetype) for b in images] == [
        ("https://example.com/cat.png", "image/png"),
        (None, "image/png"),
    ]
    assert images[1].image == PNG.encode()
    assert tool_calls_of(read[2]) == [
        ("call-1", "lookup", {"q": "cat", "n": 2}),
        ("call-2", "weather", {"city": "Zürich"}),
    ]
    assert [m.additional_kwargs for m in read[3:5]] == [
        {"tool_call_id": "call-1", "name": "lookup"},
        {"tool_call_id": "call-2", "name": "weather"},
    ]
    # The DB store behind Memory reads the same session the same way.
    db = AgentMemDBChatStore(amem, user_id="user-42")
    assert dumped(await db.get_messages("chat-1")) == dumped(read)


async def test_a_session_llamaindex_wrote_reads_through_langchain(
    amem: AgentMem, flavour: str
) -> None:
    store = AgentMemChatStore(amem, user_id="user-42")
    await li_set(store, flavour, "chat-1", li_conversation())
    history = AgentMemChatMessageHistory(amem, session_id="chat-1", user_id="user-42")
    read = await lc_get(history, flavour)
    assert [type(m) for m in read] == [
        SystemMessage, HumanMessage, AIMessage, ToolMessage, AIMessage, ToolMessage, AIMessage,
    ]  # fmt: skip
    assert [m.text for m in read] == [
        "You are terse.", "What is in these pictures?", "Let me look.", "a cat", "", "sunny",
        "A cat; ☀️ in Zürich.",
    ]  # fmt: skip
    assert read[1].content[1:] == [
        {"type": "image", "url": "https://example.com/cat.png", "mime_type": "image/png"},
        {"type": "image", "base64": PNG, "mime_type": "image/png"},
    ]
    ai, tool, ai2, tool2 = read[2], read[3], read[4], read[5]
    assert isinstance(ai, AIMessage) and isinstance(ai2, AIMessage)
    assert [(c["id"], c["name"], c["args"]) for c in ai.tool_calls] == [
        ("call-1", "lookup", {"q": "cat"})
    ]
    assert [(c["id"], c["name"], c["args"]) for c in ai2.tool_calls] == [
        ("call-2", "weather", {"city": "Zürich"})
    ]
    assert isinstance(tool, ToolMessage) and (tool.tool_call_id, tool.name) == ("call-1", "lookup")
    assert isinstance(tool2, ToolMessage) and tool2.tool_call_id == "call-2"


async def test_a_message_read_and_written_back_by_the_other_framework_loses_nothing(
    amem: AgentMem, flavour: str
) -> None:
    # LangChain -> LlamaIndex (read, written back) -> LangChain: equal to the original,
    # usage metadata, artifacts, statuses and message ids included.
    history = AgentMemChatMessageHistory(amem, session_id="lc", user_id="user-42")
    store = AgentMemChatStore(amem, user_id="user-42")
    await lc_add(history, flavour, lc_conversation())
    await li_set(store, flavour, "lc", await li_get(store, flavour, "lc"))
    assert await lc_get(history, flavour) == lc_conversation()
    # LlamaIndex -> LangChain (read, written back) -> LlamaIndex, likewise.
    other = AgentMemChatMessageHistory(amem, session_id="li", user_id="user-42")
    await li_set(store, flavour, "li", li_conversation())
    read = await lc_get(other, flavour)
    other.clear()
    await lc_add(other, flavour, read)
    assert dumped(await li_get(store, flavour, "li")) == dumped(li_conversation())


async def test_what_the_other_framework_cannot_hold_is_kept_or_refused(
    amem: AgentMem, flavour: str
) -> None:
    store = AgentMemChatStore(amem, user_id="u")
    history = AgentMemChatMessageHistory(amem, session_id="k", user_id="u")
    # A LlamaIndex audio block has no LangChain counterpart here: LangChain keeps it aside
    # (never sent to a model) and stores it again when it writes the message back.
    audio = ChatMessage(blocks=[TextBlock(text="listen"), AudioBlock(audio=b"RIFF", format="wav")])
    await li_set(store, flavour, "k", [audio])
    (read,) = await lc_get(history, flavour)
    assert read.content == [{"type": "text", "text": "listen"}]
    assert "agentmem" in read.response_metadata
    history.clear()
    await lc_add(history, flavour, [read])
    assert dumped(await li_get(store, flavour, "k")) == dumped([audio])
    # Tool calls on a user message: LangChain has no field for them there, so it carries them.
    odd = ChatMessage(blocks=[TextBlock(text="t"), ToolCallBlock(tool_call_id="z", tool_name="f")])
    await li_set(store, flavour, "k", [odd])
    (read,) = await lc_get(history, flavour)
    assert isinstance(read, HumanMessage) and read.text == "t"
    history.clear()
    await lc_add(history, flavour, [read])
    assert dumped(await li_get(store, flavour, "k")) == dumped([odd])
    # A role LlamaIndex has no MessageRole for, and a tool result without the id of its call
    # (a LangChain ToolMessage needs one): typed errors naming the problem.
    history.clear()
    await lc_add(history, flavour, [LCChatMessage("hm", role="critic")])
    with pytest.raises(SerializationError, match="'critic'"):
        await li_get(store, flavour, "k")
    await li_set(store, flavour, "k", [ChatMessage(role=MessageRole.TOOL, content="orphan")])
    with pytest.raises(SerializationError, match="tool_call_id"):
        await lc_get(history, flavour)


async def test_the_readme_quickstarts_share_chat_1_of_user_42(amem: AgentMem) -> None:
    """LangChain's quickstart history and LlamaIndex's quickstart Memory are one conversation."""
    history = AgentMemChatMessageHistory(amem, session_id="chat-1", user_id="user-42")
    history.add_messages([HumanMessage("My name is Ada."), AIMessage("Hello Ada!")])
    memory = Memory.from_defaults(
        session_id="chat-1", chat_store=AgentMemDBChatStore(amem, user_id="user-42")
    )
    seen = await memory.aget()
    assert [(m.role, m.content) for m in seen] == [
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada!"),
    ]
    await memory.aput_messages(
        [
            ChatMessage(role=MessageRole.USER, content="What is my name?"),
            ChatMessage(role=MessageRole.ASSISTANT, content="Ada."),
        ]
    )
    assert [(m.type, m.text) for m in await history.aget_messages()] == [
        ("human", "My name is Ada."), ("ai", "Hello Ada!"),
        ("human", "What is my name?"), ("ai", "Ada."),
    ]  # fmt: skip
    # A chat memory buffer on the BaseChatStore sees the same four messages.
    buffer = ChatMemoryBuffer.from_defaults(
        chat_store=AgentMemChatStore(amem, user_id="user-42"), chat_store_key="chat-1"
    )
    assert [m.content for m in buffer.get_all()] == [
        "My name is Ada.", "Hello Ada!", "What is my name?", "Ada.",
    ]  # fmt: skip
    # Another user's chat-1 is another conversation.
    assert AgentMemChatMessageHistory(amem, session_id="chat-1", user_id="user-7").messages == []


async def test_llamaindex_compacts_a_session_langchain_wrote_keeping_tool_results_with_calls(
    amem: AgentMem,
) -> None:
    from llama_index.core.llms import MockLLM

    history = AgentMemChatMessageHistory(amem, session_id="chat-1", user_id="user-42")
    history.add_messages([*lc_conversation(), HumanMessage("Thanks!")])
    store = AgentMemChatStore(amem, user_id="user-42")
    # 3 tokens a message; 12 would keep the two tool results without the call that asked for
    # them: the cut moves past them, so call and results are summarized together.
    view = await store.acompact("chat-1", MockLLM(), max_tokens=12, tokenizer=lambda m: 3)
    assert [m.role for m in view[1:]] == ["assistant", "user"]
    assert '"lookup"' in (view[0].content or "")  # the summarizer saw the tool calls
    assert [m.text for m in history.messages] == ["A cat; ☀️ in Zürich.", "Thanks!"]
    assert [m.id for m in history.archived_messages()] == ["sys-1", "h-1", "ai-1", "t-1", "t-2"]


async def test_one_pass_reads_equal_message_by_message_reads(amem: AgentMem) -> None:
    # get_messages / messages parse each envelope once and validate plain texts in one batch;
    # what they return must equal the message-by-message decoding of the same stored session.
    from langchain_agentmem._messages import load as lc_load
    from llamaindex_agentmem._messages import load as li_load

    history = AgentMemChatMessageHistory(amem, session_id="mixed", user_id="u")
    store = AgentMemChatStore(amem, user_id="u")
    history.add_messages(lc_conversation())
    for message in li_conversation():
        store.add_message("mixed", message)
    history.add_messages([HumanMessage("plain"), AIMessage("")])
    store.add_message("mixed", ChatMessage(role=MessageRole.USER, content="plain too"))
    decoded = store.sessions.read("mixed")
    assert len(decoded) == 16
    li_read = store.get_messages("mixed")
    assert li_read == li_load(decoded) == await store.aget_messages("mixed")
    assert [type(m) for m in li_read] == [type(m) for m in li_load(decoded)]
    lc_read = history.messages
    assert lc_read == lc_load(decoded) == await history.aget_messages()
    assert [type(m) for m in lc_read] == [type(m) for m in lc_load(decoded)]
    assert lc_read[:6] == lc_conversation()
    assert dumped(li_read[6:13]) == dumped(li_conversation())


async def test_a_session_stored_by_the_previous_release_reads_and_grows(amem: AgentMem) -> None:
    # The layout (keys, envelopes, metadata fields) of the release before the faster append
    # script, written with raw Redis commands: both frameworks read it, and appends keep its
    # metadata right.
    from agentmem._redis.keys import session_keys

    client = amem.redis()
    keys = session_keys(amem.key_prefix, "u", "old")
    created = "1700000000000"
    envelopes = [
        b'{"id":"m1","data":{"v":1,"role":"user","content":"hi"}}',
        b'{"id":"m2","data":{"v":1,"role":"assistant","content":"hello","extra":'
        b'{"langchain":{"id":"ai-1"}}}}',
        b'{"id":"m3","data":{"v":1,"role":"user","content":[{"type":"text","text":"parts"}]}}',
    ]
    client.rpush(keys.msgs, *envelopes)
    client.rpush(keys.arch, b'{"id":"a1","data":{"v":1,"role":"user","content":"archived"}}')
    client.hset(
        keys.meta,
        mapping={"sid": "old", "created": created, "last_active": created, "count": 3,
                 "archived": 1},
    )  # fmt: skip
    client.zadd(keys.index, {"old": int(created)})
    for key in (keys.msgs, keys.arch, keys.meta, keys.index):
        client.pexpire(key, 50_000)

    store = AgentMemChatStore(amem, user_id="u", ttl=100)
    assert [m.content for m in store.get_messages("old")] == ["hi", "hello", "parts"]
    history = AgentMemChatMessageHistory(amem, session_id="old", user_id="u", ttl=100)
    assert [m.content for m in history.messages] == [
        "hi",
        "hello",
        [{"type": "text", "text": "parts"}],
    ]
    assert history.messages[1].id == "ai-1"
    # LlamaIndex's own dump, as agentmem stored it before the neutral format.
    legacy = session_keys(amem.key_prefix, "u", "older")
    client.rpush(legacy.msgs, b'{"id":"m","data":{"role":"user","additional_kwargs":{},'
                 b'"blocks":[{"block_type":"text","text":"old dump"}]}}')  # fmt: skip
    assert store.get_messages("older") == [ChatMessage(role=MessageRole.USER, content="old dump")]
    store.add_message("old", ChatMessage(role=MessageRole.USER, content="new"))
    history.add_messages([AIMessage("newer")])
    info = store.sessions.info("old")
    assert info is not None
    assert (info.message_count, info.archived_count) == (5, 1)
    assert int(info.created_at.timestamp() * 1000) == int(created)  # kept, not rewritten
    for key in (keys.msgs, keys.arch, keys.meta, keys.index):
        assert 95_000 < client.pttl(key) <= 100_000, key
    assert [m.content for m in store.get_archived_messages("old")] == ["archived"]
