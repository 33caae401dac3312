"""Property-based tests of the checkpoint saver on real Redis: any thread id, namespace and
metadata either round-trips exactly or raises a typed agentmem error and writes nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.base import empty_checkpoint

from agentmem import AgentMem, InvalidInputError
from langchain_agentmem import AgentMemCheckpointSaver
from tests.test_properties_sessions import HOSTILE, IDS, JSON, _keys

PROPERTY = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
METADATA = st.dictionaries(st.text(min_size=1, max_size=12), JSON, max_size=5)


@PROPERTY
@given(thread=IDS, ns=st.one_of(st.just(""), HOSTILE), metadata=METADATA)
def test_any_thread_namespace_and_metadata_round_trip_or_fail_cleanly(
    mem: AgentMem, thread: str, ns: str, metadata: dict[str, Any]
) -> None:
    saver = AgentMemCheckpointSaver(mem)
    checkpoint = empty_checkpoint()
    config = {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}
    before = _keys(mem)
    try:
        stored = saver.put(config, checkpoint, {**metadata, "step": 1}, {})  # type: ignore[arg-type]
    except InvalidInputError:
        assert _keys(mem) == before
        return
    loaded = saver.get_tuple(stored)
    assert loaded is not None
    assert loaded.checkpoint["id"] == checkpoint["id"]
    assert loaded.config["configurable"]["thread_id"] == thread
    assert loaded.config["configurable"]["checkpoint_ns"] == ns
    assert {k: loaded.metadata.get(k) for k in metadata} == metadata  # type: ignore[attr-defined]
    saver.delete_thread(thread)


@PROPERTY
@given(threads=st.lists(IDS, min_size=2, max_size=2, unique=True))
def test_threads_never_see_each_others_checkpoints(mem: AgentMem, threads: list[str]) -> None:
    saver = AgentMemCheckpointSaver(mem)
    owner, other = threads
    try:
        saver.put({"configurable": {"thread_id": owner, "checkpoint_ns": ""}},
                  empty_checkpoint(), {"step": 1}, {})  # fmt: skip
    except InvalidInputError:
        return
    try:
        assert saver.get_tuple({"configurable": {"thread_id": other}}) is None
        assert list(saver.list({"configurable": {"thread_id": other}})) == []
    except InvalidInputError:
        pass  # an id the saver refuses cannot read anything either
    assert saver.get_tuple({"configurable": {"thread_id": owner}}) is not None
    saver.delete_thread(owner)
