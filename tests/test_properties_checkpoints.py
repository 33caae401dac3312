"""Property-based tests of the checkpoint saver on real Redis: any thread id, namespace and
metadata either round-trips exactly or raises a typed agentmem error and writes nothing.

Ids are drawn mostly valid, with a known share spoiled (empty, or a lone surrogate), so each
example says in advance whether it must be accepted; both outcomes are counted and each test
checks that most examples really were stored and read back (a property that refused nearly
everything would otherwise pass without checking anything).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.base import empty_checkpoint

from agentmem import AgentMem, InvalidInputError
from langchain_agentmem import AgentMemCheckpointSaver
from tests.support import redis_snapshot
from tests.test_properties_sessions import HOSTILE, JSON

PROPERTY = settings(max_examples=60, deadline=None)
# Non-empty ids made of characters that key grammars care about, plus any text (Hypothesis text
# has no lone surrogates by default, so all of these are valid).
GOOD_IDS = st.one_of(
    HOSTILE.filter(bool),
    st.text(min_size=1, max_size=40),
    st.lists(HOSTILE, min_size=1, max_size=4).map("".join).filter(bool),
)
# What a spoiled id is made into: refused whatever else it holds. (An empty namespace is the
# root one, so only a thread id is spoiled by emptying it.)
SURROGATES = [lambda s: s + "\ud800", lambda s: "\udfff" + s]
THREAD_SPOILERS = st.sampled_from([lambda s: "", *SURROGATES])
METADATA = st.dictionaries(st.text(min_size=1, max_size=12), JSON, max_size=5)
# At least this share of examples must be accepted and checked.
MIN_ACCEPTED = 0.5


# One example in five spoils something (sampled_from draws its items about evenly).
SPOIL = st.sampled_from([False, False, False, False, True])


@st.composite
def maybe_spoiled(draw: st.DrawFn, spoilers: Any = THREAD_SPOILERS) -> tuple[str, bool]:
    """An id and whether it is valid."""
    value = draw(GOOD_IDS)
    if draw(SPOIL):
        return draw(spoilers)(value), False
    return value, True


def _check_share(outcomes: Counter[str]) -> None:
    total = outcomes["accepted"] + outcomes["refused"]
    assert total > 0
    assert outcomes["accepted"] >= MIN_ACCEPTED * total, outcomes
    assert outcomes["refused"] > 0, outcomes  # the refusal path was exercised too


def test_any_thread_namespace_and_metadata_round_trip_or_fail_cleanly(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    outcomes: Counter[str] = Counter()

    @PROPERTY
    @given(
        thread=GOOD_IDS,
        ns=st.one_of(st.just(""), GOOD_IDS),
        spoil=st.sampled_from([None, None, None, None, None, None, None, "thread", "ns"]),
        spoiler=st.sampled_from(SURROGATES),
        metadata=METADATA,
    )
    def run(thread: str, ns: str, spoil: str | None, spoiler: Any, metadata: Any) -> None:
        tid = spoiler(thread) if spoil == "thread" else thread
        name = spoiler(ns) if spoil == "ns" else ns
        tid_ok, ns_ok = spoil != "thread", spoil != "ns"
        checkpoint = empty_checkpoint()
        config: Any = {"configurable": {"thread_id": tid, "checkpoint_ns": name}}
        before = redis_snapshot(mem)
        try:
            stored = saver.put(config, checkpoint, {**metadata, "step": 1}, {})
        except InvalidInputError:
            assert not (tid_ok and ns_ok), "a valid thread id and namespace were refused"
            assert redis_snapshot(mem) == before
            outcomes["refused"] += 1
            event("refused")
            return
        assert tid_ok and ns_ok, "an invalid thread id or namespace was accepted"
        loaded = saver.get_tuple(stored)
        assert loaded is not None
        assert loaded.checkpoint["id"] == checkpoint["id"]
        assert loaded.config["configurable"]["thread_id"] == tid
        assert loaded.config["configurable"]["checkpoint_ns"] == name
        assert {k: loaded.metadata.get(k) for k in metadata} == metadata  # type: ignore[attr-defined]
        saver.delete_thread(tid)
        outcomes["accepted"] += 1
        event("accepted")

    run()
    _check_share(outcomes)


def test_threads_never_see_each_others_checkpoints(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    outcomes: Counter[str] = Counter()

    @PROPERTY
    @given(owner=GOOD_IDS, other=maybe_spoiled())
    def run(owner: str, other: tuple[str, bool]) -> None:
        (oid, oid_ok) = other
        saver.put({"configurable": {"thread_id": owner, "checkpoint_ns": ""}},
                  empty_checkpoint(), {"step": 1}, {})  # fmt: skip
        try:
            seen = saver.get_tuple({"configurable": {"thread_id": oid}})
            listed = list(saver.list({"configurable": {"thread_id": oid}}))
        except InvalidInputError:
            assert not oid_ok, "a valid thread id was refused"
            outcomes["refused"] += 1
            event("refused")
        else:
            assert oid_ok, "an invalid thread id was accepted"
            if oid != owner:
                assert seen is None and listed == []
            else:
                assert seen is not None and len(listed) == 1
            outcomes["accepted"] += 1
            event("accepted")
        assert saver.get_tuple({"configurable": {"thread_id": owner}}) is not None
        saver.delete_thread(owner)

    run()
    _check_share(outcomes)
