"""Property-based tests of the session store against real Redis: every input either round-trips
exactly or raises a typed agentmem error and leaves Redis as it was; users never see each other."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from agentmem import AgentMem, AgentMemError, InvalidInputError, SerializationError
from agentmem.sessions import SessionStore
from langchain_agentmem import AgentMemChatMessageHistory
from llamaindex_agentmem import AgentMemChatStore
from tests.support import redis_snapshot

_ROLE = {"human": "user", "system": "system", "ai": "assistant", "tool": "tool"}

HOSTILE = st.sampled_from(["", "{", "}", "{}", ":", "*", "?", "[", "]", "'", '"', "\x00", "\\",
                           "\n", "é", "🧠", "a" * 5000, "{user}:*?[x]", " "])  # fmt: skip
IDS = st.one_of(
    HOSTILE, st.text(min_size=0, max_size=40), st.lists(HOSTILE, max_size=4).map("".join)
)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=60),
)  # fmt: skip
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)  # fmt: skip
DOCS = st.lists(st.dictionaries(st.text(max_size=12), JSON, max_size=5), min_size=1, max_size=5)
PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


@PROPERTY
@given(user=IDS, session=IDS, docs=DOCS)
def test_any_ids_and_json_documents_round_trip_or_fail_cleanly(
    mem: AgentMem, user: str, session: str, docs: list[dict[str, Any]]
) -> None:
    before = redis_snapshot(mem)
    try:
        store = SessionStore(mem, user_id=user)
        store.append(session, docs)
    except InvalidInputError:
        assert redis_snapshot(mem) == before  # a refused call wrote nothing
        return
    assert [m.data for m in store.read(session)] == docs
    assert store.count(session) == len(docs)
    assert session in [info.session_id for info in store.list_sessions()]
    store.clear(session)


class Opaque:
    """A value JSON cannot encode."""


@PROPERTY
@given(docs=DOCS, bad=st.sampled_from([{1, 2}, b"bytes", Opaque(), float("nan"), float("inf"),
                                       complex(1, 2)]))  # fmt: skip
def test_unserializable_values_raise_serialization_error_and_write_nothing(
    mem: AgentMem, docs: list[dict[str, Any]], bad: object
) -> None:
    store = SessionStore(mem, user_id="u")
    store.append("s", [{"keep": True}])
    before = redis_snapshot(mem)
    poisoned = [*docs, {"value": bad}]  # good messages first: the batch must fail as a whole
    try:
        store.append("s", poisoned)
    except SerializationError:
        assert redis_snapshot(mem) == before
        return
    # Only a float special value may be accepted, and then it must read back as itself.
    assert isinstance(bad, float)
    stored = store.read("s")[-1].data["value"]
    assert (math.isnan(bad) and math.isnan(stored)) or stored == bad


@PROPERTY
@given(size=st.integers(min_value=0, max_value=600))
def test_messages_near_and_over_the_size_limit(mem: AgentMem, size: int) -> None:
    store = SessionStore(mem, user_id="u", max_message_bytes=400)
    before = redis_snapshot(mem)
    try:
        store.append("s", [{"content": "x" * size}])
    except InvalidInputError as exc:
        assert "400" in str(exc)  # the message names the limit
        assert redis_snapshot(mem) == before
        assert size > 300  # small messages are never refused
        return
    assert store.read("s")[-1].data == {"content": "x" * size}
    assert size < 400  # a message over the limit is never stored


@PROPERTY
@given(users=st.lists(IDS, min_size=2, max_size=2, unique=True), session=IDS)
def test_one_users_sessions_are_invisible_to_another(
    mem: AgentMem, users: list[str], session: str
) -> None:
    try:
        owner, other = SessionStore(mem, user_id=users[0]), SessionStore(mem, user_id=users[1])
        owner.append(session, [{"secret": users[0]}])
    except AgentMemError:
        return  # an id both refuse; covered by the round-trip property
    assert other.read(session) == []
    assert other.count(session) == 0
    assert session not in [info.session_id for info in other.list_sessions()]
    assert owner.read(session)[0].data == {"secret": users[0]}
    owner.clear(session)


# -- keys JSON cannot keep apart; messages across frameworks --------------------------------------

ANY_KEY = st.one_of(st.text(max_size=6), st.integers(-3, 3), st.booleans(), st.none())
LOOSE = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(ANY_KEY, inner, max_size=3)),
    max_leaves=10,
)  # fmt: skip


def _non_str_key(value: object) -> bool:
    if isinstance(value, dict):
        return any(not isinstance(k, str) or _non_str_key(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_non_str_key(v) for v in value)
    return False


@PROPERTY
@given(doc=st.dictionaries(ANY_KEY, LOOSE, max_size=4))
def test_a_non_str_key_anywhere_is_refused_never_collapsed(
    mem: AgentMem, doc: dict[Any, Any]
) -> None:
    store = SessionStore(mem, user_id="u")
    before = redis_snapshot(mem)
    if _non_str_key(doc):
        event("refused: a non-str key")
        with pytest.raises(SerializationError, match="key"):
            store.append("s", [{"ok": 1}, doc])
        assert redis_snapshot(mem) == before
    else:
        event("stored: str keys only")
        store.append("s", [doc])
        assert store.read("s")[-1].data == doc


TEXT = st.text(max_size=30)
CALL = st.fixed_dictionaries({
    "name": st.text(min_size=1, max_size=8),
    "args": st.dictionaries(st.text(max_size=5), JSON_SCALARS, max_size=3),
    "id": st.text(min_size=1, max_size=8),
})  # fmt: skip
LC_MESSAGE = st.one_of(
    st.builds(HumanMessage, TEXT),
    st.builds(SystemMessage, TEXT),
    st.builds(lambda t, calls: AIMessage(t, tool_calls=calls), TEXT, st.lists(CALL, max_size=2)),
    st.builds(lambda t, i: ToolMessage(t, tool_call_id=i), TEXT, st.text(min_size=1, max_size=8)),
)


@PROPERTY
@given(messages=st.lists(LC_MESSAGE, min_size=1, max_size=6))
def test_langchain_messages_survive_a_read_and_write_back_through_llamaindex(
    mem: AgentMem, messages: list[BaseMessage]
) -> None:
    history = AgentMemChatMessageHistory(mem, session_id="s", user_id="u")
    store = AgentMemChatStore(mem, user_id="u")
    history.clear()
    history.add_messages(messages)
    read = store.get_messages("s")
    assert [m.content for m in read] == [m.text for m in messages]
    assert [m.role.value for m in read] == [_ROLE[m.type] for m in messages]
    store.set_messages("s", read)
    assert history.messages == messages
