"""AgentMemChatMessageHistory against the real test Redis, sync and async."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from agentmem import AgentMem, ConflictError, InvalidInputError, SerializationError
from agentmem.sessions import SessionStore
from langchain_agentmem import AgentMemChatMessageHistory
from langchain_agentmem import chat_message_history as module
from tests.support import ScriptedChatModel


@pytest.fixture
def mem(amem: AgentMem) -> AgentMem:
    """These tests use sync and async methods on one object: an AgentMem that closes both."""
    return amem


def every_message_type() -> list[BaseMessage]:
    return [
        SystemMessage("You are terse.", id="sys-1"),
        HumanMessage(
            content=[
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image", "url": "https://example.com/cat.png", "mime_type": "image/png"},
            ],
            id="h-1",
            name="alice",
        ),
        AIMessage(
            content="",
            id="ai-1",
            tool_calls=[
                {"name": "lookup", "args": {"q": "cat", "n": 2}, "id": "call-1"},
                {"name": "weather", "args": {"city": "Zürich"}, "id": "call-2"},
            ],
            usage_metadata={"input_tokens": 10, "output_tokens": 3, "total_tokens": 13},
            response_metadata={"model_name": "fake", "finish_reason": "tool_calls"},
            additional_kwargs={"refusal": None},
        ),
        ToolMessage("a cat", tool_call_id="call-1", name="lookup", id="t-1", artifact={"k": 1}),
        ToolMessage("sunny", tool_call_id="call-2", status="error", id="t-2"),
        AIMessage("It is a cat; ☀️ in Zürich.", id="ai-2"),
        HumanMessage("no id"),
    ]


async def ev(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ops(history: AgentMemChatMessageHistory, flavour: str) -> dict[str, Callable[..., Any]]:
    if flavour == "sync":
        return {
            "get": lambda: history.messages,
            "add": history.add_messages,
            "clear": history.clear,
        }
    return {"get": history.aget_messages, "add": history.aadd_messages, "clear": history.aclear}


async def test_every_message_type_round_trips_exactly(mem: AgentMem, flavour: str) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="alice")
    op = ops(history, flavour)
    original = every_message_type()
    await ev(op["add"](original[:3]))
    await ev(op["add"](original[3:]))
    loaded = await ev(op["get"]())
    assert loaded == original
    assert [type(m) for m in loaded] == [type(m) for m in original]
    ai = loaded[2]
    assert isinstance(ai, AIMessage)
    assert ai.tool_calls == original[2].tool_calls  # type: ignore[attr-defined]
    assert ai.usage_metadata == {"input_tokens": 10, "output_tokens": 3, "total_tokens": 13}
    assert loaded[-1].id is None


async def test_clear_empties_only_this_session(mem: AgentMem, flavour: str) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u")
    other = AgentMemChatMessageHistory(mem, session_id="s", user_id="someone-else")
    await ev(ops(history, flavour)["add"]([HumanMessage("a")]))
    other.add_messages([HumanMessage("b")])
    await ev(ops(history, flavour)["clear"]())
    assert await ev(ops(history, flavour)["get"]()) == []
    assert other.messages == [HumanMessage("b")]


async def test_sync_and_async_share_one_history(mem: AgentMem) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u")
    history.add_user_message("one")
    await history.aadd_messages([AIMessage("two")])
    assert [m.content for m in await history.aget_messages()] == ["one", "two"]
    assert [m.content for m in history.messages] == ["one", "two"]


async def test_oversized_and_unserializable_messages_write_nothing(
    mem: AgentMem, flavour: str
) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u", max_message_bytes=500)
    op = ops(history, flavour)
    with pytest.raises(InvalidInputError, match="max_message_bytes=500"):
        await ev(op["add"]([HumanMessage("ok"), HumanMessage("x" * 600)]))
    with pytest.raises(SerializationError):
        await ev(op["add"]([HumanMessage("ok"), AIMessage("a", additional_kwargs={"o": object()})]))
    assert await ev(op["get"]()) == []


async def test_max_messages_keeps_a_stable_window(mem: AgentMem, flavour: str) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u", max_messages=3)
    op = ops(history, flavour)
    await ev(op["add"]([HumanMessage(str(i)) for i in range(5)]))
    assert [m.content for m in await ev(op["get"]())] == ["2", "3", "4"]


def test_is_a_base_chat_message_history_without_executor_fallbacks() -> None:
    assert issubclass(AgentMemChatMessageHistory, BaseChatMessageHistory)
    for name in ("aget_messages", "aadd_messages", "aclear"):
        assert getattr(AgentMemChatMessageHistory, name) is not getattr(
            BaseChatMessageHistory, name
        )
    source = inspect.getsource(module)
    for forbidden in ("run_in_executor", "to_thread", "asyncio.run"):
        assert forbidden not in source


def test_empty_session_id_is_rejected(mem: AgentMem) -> None:
    with pytest.raises(InvalidInputError, match="session_id"):
        AgentMemChatMessageHistory(mem, session_id="", user_id="u")


def _chain(mem: AgentMem, replies: list[str]) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    return RunnableWithMessageHistory(
        prompt | FakeListChatModel(responses=replies),  # type: ignore[arg-type]
        lambda session_id: AgentMemChatMessageHistory(mem, session_id=session_id, user_id="u"),
        input_messages_key="question",
        history_messages_key="history",
    )


def test_runnable_with_message_history_sync(mem: AgentMem) -> None:
    chain = _chain(mem, ["hello!", "you said hi"])
    config: Any = {"configurable": {"session_id": "conv"}}
    assert chain.invoke({"question": "hi"}, config=config).content == "hello!"
    assert chain.invoke({"question": "what did I say?"}, config=config).content == "you said hi"
    stored = AgentMemChatMessageHistory(mem, session_id="conv", user_id="u").messages
    assert [(m.type, m.content) for m in stored] == [
        ("human", "hi"),
        ("ai", "hello!"),
        ("human", "what did I say?"),
        ("ai", "you said hi"),
    ]


async def test_runnable_with_message_history_async(mem: AgentMem) -> None:
    chain = _chain(mem, ["first", "second"])
    config: Any = {"configurable": {"session_id": "conv"}}
    assert (await chain.ainvoke({"question": "q1"}, config=config)).content == "first"
    assert (await chain.ainvoke({"question": "q2"}, config=config)).content == "second"
    stored = await AgentMemChatMessageHistory(mem, session_id="conv", user_id="u").aget_messages()
    assert [m.content for m in stored] == ["q1", "first", "q2", "second"]


# -- compaction ----------------------------------------------------------------------------------


def ten_each(messages: Sequence[BaseMessage]) -> int:
    return 10 * len(messages)


def tool_turn() -> list[BaseMessage]:
    return [
        HumanMessage("My name is Ada; look up two things.", id="m0"),
        AIMessage(
            "",
            id="m1",
            tool_calls=[
                {"name": "lookup", "args": {"q": "first"}, "id": "c1"},
                {"name": "lookup", "args": {"q": "second"}, "id": "c2"},
            ],
        ),
        ToolMessage("first result", tool_call_id="c1", id="m2"),
        ToolMessage("second result", tool_call_id="c2", id="m3"),
        AIMessage("Both looked up.", id="m4"),
        HumanMessage("Thanks. What next?", id="m5"),
        AIMessage("Rest.", id="m6"),
    ]


async def compact(history: AgentMemChatMessageHistory, flavour: str, **kw: Any) -> Any:
    if flavour == "sync":
        return history.compact(token_counter=ten_each, **kw)
    return await history.acompact(token_counter=ten_each, **kw)


async def test_compaction_keeps_tool_calls_with_their_results_and_archives_the_rest(
    mem: AgentMem, flavour: str
) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u")
    turn = tool_turn()
    history.add_messages(turn)
    model = ScriptedChatModel(replies=["Ada looked up first and second."])
    # 55 tokens would fit the newest five messages, but that cut would orphan a tool result.
    view = await compact(history, flavour, model=model, max_tokens=55)
    assert view == [
        SystemMessage("Summary of the earlier conversation:\nAda looked up first and second."),
        *turn[4:],
    ]
    assert history.messages == turn[4:]
    assert history.archived_messages() == turn[:4]  # summarized, not deleted
    asked = model.seen[0][1].text
    assert "Ada" in asked and '"q": "second"' in asked and "second result" in asked
    assert "(none yet)" in asked


async def test_compaction_merges_into_the_running_summary(mem: AgentMem, flavour: str) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u")
    history.add_messages([HumanMessage(f"q{i}") for i in range(4)])
    model = ScriptedChatModel(replies=["S1", "S2"])
    await compact(history, flavour, model=model, max_tokens=20)
    history.add_messages([HumanMessage("q4"), HumanMessage("q5")])
    view = await compact(history, flavour, model=model, max_tokens=20)
    assert [m.text for m in view] == ["Summary of the earlier conversation:\nS2", "q4", "q5"]
    second_request = model.seen[1][1].text
    assert "S1" in second_request and "q2" in second_request and "q0" not in second_request
    assert [m.text for m in await history.aarchived_messages()] == ["q0", "q1", "q2", "q3"]


async def test_compaction_does_not_call_the_model_when_everything_fits(
    mem: AgentMem, flavour: str
) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u")
    history.add_messages([HumanMessage("a"), AIMessage("b")])
    model = ScriptedChatModel(replies=[])
    assert await compact(history, flavour, model=model, max_tokens=100) == history.messages
    assert model.seen == []


async def test_compaction_keeps_the_newest_group_even_over_budget(
    mem: AgentMem, flavour: str
) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u")
    turn = tool_turn()[:4]  # ends in a tool call group of three messages
    history.add_messages(turn)
    view = await compact(history, flavour, model=ScriptedChatModel(replies=["S"]), max_tokens=10)
    assert view[1:] == turn[1:]


class InterferingModel(ScriptedChatModel):  # type: ignore[misc]
    """Another writer archives the oldest message while this model is 'thinking'."""

    interfere: Callable[[], Any]
    times: int = 1

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if len(self.seen) < self.times:
            self.interfere()
        result: ChatResult = super()._generate(messages)
        return result


async def test_compaction_retries_when_another_writer_changed_the_session(
    mem: AgentMem, flavour: str
) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u")
    history.add_messages([HumanMessage(f"q{i}") for i in range(6)])
    rival = SessionStore(mem, user_id="u")
    model = InterferingModel(
        replies=["stale", "fresh"], interfere=lambda: rival.archive_oldest("s", 1)
    )
    view = await compact(history, flavour, model=model, max_tokens=20)
    assert [m.text for m in view] == ["Summary of the earlier conversation:\nfresh", "q4", "q5"]
    assert len(model.seen) == 2  # the first summary was discarded, not committed
    assert "q0" not in model.seen[1][1].text  # the rival had archived it already
    assert [m.text for m in history.archived_messages()] == ["q0", "q1", "q2", "q3"]


async def test_compaction_gives_up_with_conflict_error_under_constant_interference(
    mem: AgentMem, flavour: str
) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u")
    history.add_messages([HumanMessage(f"q{i}") for i in range(10)])
    rival = SessionStore(mem, user_id="u")
    model = InterferingModel(
        replies=["a", "b", "c"], interfere=lambda: rival.archive_oldest("s", 1), times=3
    )
    with pytest.raises(ConflictError, match="kept changing"):
        await compact(history, flavour, model=model, max_tokens=20)
    assert history.archived_messages() == [HumanMessage(f"q{i}") for i in range(3)]


# -- constructor, lifecycle, validation ----------------------------------------------------------


def test_the_user_must_be_named_and_memory_comes_first(mem: AgentMem) -> None:
    from agentmem import SHARED

    with pytest.raises(TypeError):
        AgentMemChatMessageHistory(mem, session_id="s")  # type: ignore[call-arg]
    with pytest.raises(InvalidInputError, match=r"AgentMemChatMessageHistory needs user_id="):
        AgentMemChatMessageHistory(mem, session_id="s", user_id="")
    with pytest.raises(InvalidInputError, match="first argument, memory, is the AgentMem"):
        AgentMemChatMessageHistory("s", session_id="s", user_id="u")  # type: ignore[arg-type]
    shared = AgentMemChatMessageHistory(mem, session_id="s", user_id=SHARED)
    shared.add_user_message("for everyone")
    assert AgentMemChatMessageHistory(mem, session_id="s", user_id="u").messages == []
    assert SessionStore(mem, user_id=SHARED).count("s") == 1


async def test_with_blocks_close_the_history_and_leave_a_borrowed_memory_open(
    mem: AgentMem,
) -> None:
    from agentmem import ClosedError

    with AgentMemChatMessageHistory(mem, session_id="s", user_id="u") as history:
        history.add_user_message("one")
    with pytest.raises(ClosedError):
        history.messages  # noqa: B018
    async with AgentMemChatMessageHistory(mem, session_id="s", user_id="u") as history:
        assert [m.text for m in await history.aget_messages()] == ["one"]
    with pytest.raises(ClosedError):
        await history.aget_messages()
    assert mem.redis().ping()


async def test_bad_messages_raise_typed_errors_and_write_nothing(
    mem: AgentMem, flavour: str
) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u")
    op = ops(history, flavour)
    deep: Any = "leaf"
    for _ in range(3000):
        deep = [deep]
    with pytest.raises(SerializationError, match="nested more than"):
        await ev(op["add"]([HumanMessage("ok"), AIMessage("a", additional_kwargs={"d": deep})]))
    with pytest.raises(SerializationError, match="key 1"):
        await ev(op["add"]([AIMessage("a", response_metadata={1: "x", "1": "y"})]))
    with pytest.raises(SerializationError, match="message 0"):
        await ev(op["add"]([HumanMessage("lone \ud800 surrogate")]))
    with pytest.raises(InvalidInputError, match="not a LangChain BaseMessage"):
        await ev(op["add"](["just text"]))
    with pytest.raises(InvalidInputError, match="session_id"):
        await ev(
            ops(AgentMemChatMessageHistory(mem, session_id="s\ud800", user_id="u"), flavour)["add"](
                [HumanMessage("x")]
            )
        )
    assert await ev(op["get"]()) == []
    assert SessionStore(mem, user_id="u").list_sessions() == []


def test_messages_stored_before_the_neutral_format_still_read(mem: AgentMem) -> None:
    from langchain_core.messages import message_to_dict

    old = every_message_type()
    SessionStore(mem, user_id="u").append("s", [message_to_dict(m) for m in old])
    assert AgentMemChatMessageHistory(mem, session_id="s", user_id="u").messages == old
