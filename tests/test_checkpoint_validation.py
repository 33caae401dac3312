"""Bad checkpoint input (lone surrogates in ids, namespaces or metadata; data nested very deep) is
refused with a typed agentmem error before anything is written, through every saver method, sync
and async; nothing is stored in a changed form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from agentmem import AgentMem, CheckpointStore, InvalidInputError, SerializationError
from langchain_agentmem import AgentMemCheckpointSaver
from tests.support import nested_dict, redis_snapshot

BAD_TEXT = ["lone \ud800 high", "\udfff", "ok\udc80ok"]


def cfg(thread: str = "t", ns: str = "", **extra: Any) -> Any:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ns, **extra}}


def saver_calls(saver: AgentMemCheckpointSaver, bad: str) -> dict[str, Callable[[], Any]]:
    cp = empty_checkpoint()
    return {
        "put thread": lambda: saver.put(cfg(bad), cp, {}, {}),
        "put ns": lambda: saver.put(cfg(ns=bad), cp, {}, {}),
        "put user": lambda: saver.put(cfg(user_id=bad), cp, {}, {}),
        "put_writes thread": lambda: saver.put_writes(
            cfg(bad, checkpoint_id=cp["id"]), [("c", 1)], "task"
        ),
        "put_writes ns": lambda: saver.put_writes(
            cfg(ns=bad, checkpoint_id=cp["id"]), [("c", 1)], "task"
        ),
        "put_writes task": lambda: saver.put_writes(cfg(checkpoint_id=cp["id"]), [("c", 1)], bad),
        "put_writes channel": lambda: saver.put_writes(
            cfg(checkpoint_id=cp["id"]), [(bad, 1)], "task"
        ),
        "get_tuple thread": lambda: saver.get_tuple(cfg(bad)),
        "get_tuple ns": lambda: saver.get_tuple(cfg(ns=bad)),
        "get_tuple id": lambda: saver.get_tuple(cfg(checkpoint_id=bad)),
        "list thread": lambda: list(saver.list(cfg(bad))),
        "list ns": lambda: list(saver.list(cfg(ns=bad))),
        "list before": lambda: list(saver.list(cfg(), before=cfg(checkpoint_id=bad))),
        "delete_thread": lambda: saver.delete_thread(bad),
        "copy_thread source": lambda: saver.copy_thread(bad, "t2"),
        "copy_thread target": lambda: saver.copy_thread("t", bad),
        "prune": lambda: saver.prune([bad]),
        "delete_for_runs": lambda: saver.delete_for_runs([bad]),
    }


@pytest.mark.parametrize("bad", BAD_TEXT, ids=range(len(BAD_TEXT)))
def test_lone_surrogates_anywhere_are_refused_before_writing(mem: AgentMem, bad: str) -> None:
    saver = AgentMemCheckpointSaver(mem)
    saver.put(cfg(), empty_checkpoint(), {"step": 0}, {})  # something to copy, prune and list
    before = redis_snapshot(mem)
    calls = saver_calls(saver, bad)
    calls["put metadata value"] = lambda: saver.put(cfg(), empty_checkpoint(), {"note": bad}, {})
    calls["put metadata key"] = lambda: saver.put(cfg(), empty_checkpoint(), {bad: 1}, {})
    calls["put metadata nested"] = lambda: saver.put(
        cfg(), empty_checkpoint(), {"n": {"tags": ["ok", bad]}}, {}
    )
    calls["put config metadata"] = lambda: saver.put(
        {**cfg(), "metadata": {"tag": bad}}, empty_checkpoint(), {}, {}
    )
    for label, call in calls.items():
        with pytest.raises(InvalidInputError):
            call()
        assert redis_snapshot(mem) == before, label


async def test_lone_surrogates_are_refused_by_the_async_methods_too(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    bad = BAD_TEXT[0]
    cp = empty_checkpoint()
    before = redis_snapshot(mem)
    with pytest.raises(InvalidInputError):
        await saver.aput(cfg(), cp, {"note": bad}, {})
    with pytest.raises(InvalidInputError):
        await saver.aput(cfg(ns=bad), cp, {}, {})
    with pytest.raises(InvalidInputError):
        await saver.aput_writes(cfg(bad, checkpoint_id=cp["id"]), [("c", 1)], "task")
    with pytest.raises(InvalidInputError):
        await saver.aget_tuple(cfg(bad))
    with pytest.raises(InvalidInputError):
        [t async for t in saver.alist(cfg(ns=bad))]
    with pytest.raises(InvalidInputError):
        await saver.adelete_thread(bad)
    with pytest.raises(InvalidInputError):
        await saver.acopy_thread("t", bad)
    with pytest.raises(InvalidInputError):
        await CheckpointStore(mem).athreads(user_id=bad)
    assert redis_snapshot(mem) == before


@pytest.mark.parametrize("depth", [150, 100_000])
def test_metadata_nested_very_deep_is_refused_before_writing(mem: AgentMem, depth: int) -> None:
    saver = AgentMemCheckpointSaver(mem)
    with pytest.raises(SerializationError, match="levels deep"):
        saver.put(cfg(), empty_checkpoint(), {"deep": nested_dict(depth)}, {})
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(SerializationError, match="levels deep"):
        saver.put(cfg(), empty_checkpoint(), {"loop": cyclic}, {})
    assert redis_snapshot(mem) == {}
    # Ninety levels are fine, and read back whole.
    stored = saver.put(cfg(), empty_checkpoint(), {"deep": nested_dict(90)}, {})
    got = saver.get_tuple(stored)
    assert got is not None and got.metadata["deep"] == nested_dict(90)  # type: ignore[typeddict-item]


async def test_a_list_filter_nested_very_deep_is_a_typed_error(mem: AgentMem) -> None:
    saver = AgentMemCheckpointSaver(mem)
    saver.put(cfg(), empty_checkpoint(), {"deep": nested_dict(3)}, {})
    with pytest.raises(SerializationError, match="filter"):
        list(saver.list(cfg(), filter=nested_dict(100_000)))
    with pytest.raises(SerializationError, match="filter"):
        [t async for t in saver.alist(None, filter=nested_dict(100_000))]
    assert len(list(saver.list(cfg(), filter={"deep": nested_dict(2)}))) == 1
