"""Memory that forms itself: the queue, the worker, facts superseded and never overwritten.

Real Redis and Weaviate; the model is a deterministic stand-in (agentmem.testing.extractor).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Sequence
from typing import Any

import pytest

from agentmem import AgentMem, AgentMemSettings
from agentmem._redis import fact_queue as q
from agentmem.consolidation import MAX_BATCH_BYTES, Consolidator
from agentmem.errors import ExtractionError, InvalidInputError, NotFound
from agentmem.facts import Fact, FactMemory, Turn, parse_operations
from agentmem.testing.embedding import HashingEmbedder
from agentmem.testing.extractor import FunctionExtractor
from tests.support import favourite_drink, said


def test_enqueue_is_durable_and_a_worker_turns_it_into_a_fact(consolidator: Consolidator) -> None:
    batch = consolidator.enqueue(
        "ada", said("Hi! My favourite drink is tea.", "m1"), session_id="s1"
    )
    assert consolidator.pending("ada") == 1
    assert consolidator.extractor.calls == 0  # type: ignore[union-attr]  # not on the response path
    report = consolidator.run_pending()
    assert (report.batches, report.facts, consolidator.pending("ada")) == (1, 1, 0)
    (fact,) = consolidator.facts("ada").current()
    assert fact.text == "The user's favourite drink is tea"
    assert fact.id == f"{batch}:0"
    assert fact.invalid_at is None
    assert fact.source == {"session": "s1", "messages": ["m1"]}
    assert consolidator.facts("bob").current() == []  # another user's tenant has nothing


def test_a_changed_fact_is_superseded_not_overwritten_and_recall_answers_as_of(
    consolidator: Consolidator,
) -> None:
    consolidator.enqueue("ada", said("My favourite drink is tea"))
    consolidator.run_pending()
    between = time.time()
    time.sleep(0.01)
    consolidator.enqueue("ada", said("These days my favourite drink is coffee"))
    consolidator.run_pending()
    facts = consolidator.facts("ada")
    old, new = facts.history()
    assert (old.text, new.text) == (
        "The user's favourite drink is tea",
        "The user's favourite drink is coffee",
    )
    assert old.invalid_at is not None and old.invalid_at == new.valid_from
    assert (old.superseded_by, new.supersedes) == (new.id, old.id)
    assert [f.text for f in facts.recall("favourite drink")] == [new.text]
    assert [f.text for f in facts.recall("favourite drink", as_of_time=between)] == [old.text]
    assert not old.valid() and new.valid() and old.valid(between)


def test_the_same_turns_again_cost_no_model_call(consolidator: Consolidator) -> None:
    consolidator.enqueue("ada", said("My favourite drink is tea"))
    consolidator.run_pending()
    consolidator.enqueue("ada", said("my favourite   drink is TEA"))  # same once normalized
    report = consolidator.run_pending()
    assert (report.duplicates, report.batches) == (1, 0)
    assert consolidator.extractor.calls == 1  # type: ignore[union-attr]
    assert len(consolidator.facts("ada").history()) == 1


def test_an_addition_that_repeats_a_known_fact_adds_nothing(consolidator: Consolidator) -> None:
    consolidator.enqueue("ada", said("My favourite drink is tea"))
    consolidator.run_pending()
    consolidator.extractor.decide = lambda turns, known: {  # type: ignore[union-attr]
        "operations": [{"action": "add", "text": "the user's favourite drink is tea."}]
    }
    consolidator.enqueue("ada", said("Tea, as I said, is my favourite drink"))
    assert consolidator.run_pending().batches == 1
    assert len(consolidator.facts("ada").history()) == 1


@pytest.mark.parametrize(
    "answer",
    [
        "not json at all",
        {"ops": []},
        {"operations": [{"action": "replace", "text": "x"}]},
        {"operations": [{"action": "update", "target": "F9", "text": "x"}]},
        {"operations": [{"action": "add", "text": ""}]},
        {"operations": [{"action": "add", "text": "x" * 5000}]},
    ],
)
def test_a_malformed_answer_is_retried_then_parked_with_nothing_applied(
    consolidator: Consolidator, answer: Any
) -> None:
    consolidator.extractor.decide = lambda turns, known: answer  # type: ignore[union-attr]
    batch = consolidator.enqueue("ada", said("My favourite drink is tea"))
    reports = [consolidator.run_pending() for _ in range(3)]
    assert [r.retried for r in reports] == [1, 1, 0]
    assert reports[-1].parked == 1
    assert consolidator.pending("ada") == 0
    parked = consolidator.parked("ada")
    assert list(parked) == [batch]
    assert parked[batch]["reason"].startswith("ExtractionError")
    assert json.loads(parked[batch]["batch"])["turns"][0]["text"] == "My favourite drink is tea"
    assert consolidator.facts("ada").history() == []


def test_a_model_that_raises_is_retried_and_a_later_success_applies(
    consolidator: Consolidator,
) -> None:
    calls = {"n": 0}

    def flaky(turns: Sequence[Turn], known: Sequence[Fact]) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TimeoutError("the model timed out")
        return favourite_drink(turns, known)

    consolidator.extractor.decide = flaky  # type: ignore[union-attr]
    consolidator.enqueue("ada", said("My favourite drink is tea"))
    first = consolidator.run_pending()
    assert first.retried == 1 and "TimeoutError" in first.errors["ada"]
    assert consolidator.run_pending().batches == 1
    assert [f.text for f in consolidator.facts("ada").current()] == [
        "The user's favourite drink is tea"
    ]


def test_an_undecodable_queue_entry_is_parked_and_the_next_batch_still_runs(
    consolidator: Consolidator,
) -> None:
    consolidator.enqueue("ada", said("My favourite drink is tea"))
    keys = q.queue_keys(consolidator.memory.key_prefix, "ada")
    consolidator.memory.redis().lpush(keys.queue, b"\xff not a batch")
    report = consolidator.run_pending()
    assert (report.parked, report.batches) == (1, 1)
    (reason,) = [p["reason"] for p in consolidator.parked("ada").values()]
    assert reason.startswith("cannot decode")


def test_a_crash_after_applying_replays_the_same_operations_and_adds_nothing_twice(
    consolidator: Consolidator, monkeypatch: pytest.MonkeyPatch
) -> None:
    consolidator.enqueue("ada", said("My favourite drink is tea"))

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # the process dies between applying and popping the batch

    monkeypatch.setattr(q, "done", crash)
    with pytest.raises(KeyboardInterrupt):
        consolidator.run_pending()
    monkeypatch.undo()
    assert consolidator.pending("ada") == 1
    # The model would now answer differently: the stored decision is replayed, not re-asked.
    consolidator.extractor.decide = lambda t, k: {"operations": [{"action": "add", "text": "zzz"}]}  # type: ignore[union-attr]
    consolidator._run(q.release(consolidator._cfg, "ada", consolidator._token))
    assert consolidator.run_pending().batches == 1
    assert [f.text for f in consolidator.facts("ada").history()] == [
        "The user's favourite drink is tea"
    ]
    assert consolidator.extractor.calls == 1  # type: ignore[union-attr]


def test_a_worker_killed_mid_batch_is_replaced_and_the_batch_is_applied_once(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    with AgentMem(full_settings) as mem:
        c = Consolidator(
            mem,
            extractor=FunctionExtractor(favourite_drink),
            collection=unique_collection,
            lease=1.0,
        )
        c.enqueue("ada", said("My favourite drink is tea"))
        pid = os.fork()
        if pid == 0:  # the worker: a slow model, killed while it thinks
            with AgentMem(full_settings) as child_mem:
                slow = FunctionExtractor(favourite_drink, delay=30)
                Consolidator(
                    child_mem, extractor=slow, collection=unique_collection, lease=1.0
                ).run_pending()
            os._exit(0)
        keys = q.queue_keys(mem.key_prefix, "ada")
        deadline = time.monotonic() + 20
        while not mem.redis().exists(keys.lock) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert mem.redis().exists(keys.lock), "the worker never took the lease"
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert c.run_pending().batches == 0  # its lease still holds
        time.sleep(1.1)
        assert c.run_pending().batches == 1
        assert c.pending("ada") == 0
        assert len(c.facts("ada").history()) == 1
        mem.weaviate().collections.delete(unique_collection)


def test_two_workers_on_one_queue_apply_each_batch_once(
    consolidator: Consolidator, full_mem: AgentMem
) -> None:
    other = Consolidator(
        full_mem,
        extractor=FunctionExtractor(favourite_drink),
        embedder=HashingEmbedder(),
        collection=consolidator.collection,
    )
    for drink in ("tea", "coffee", "water"):
        consolidator.enqueue("ada", said(f"My favourite drink is {drink}"))
    import threading

    reports: list[Any] = []
    workers = [
        threading.Thread(target=lambda c=c: reports.append(c.run_pending()))
        for c in (consolidator, other)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    while consolidator.pending("ada"):
        reports.append(consolidator.run_pending())
    assert sum(r.batches for r in reports) == 3
    history = consolidator.facts("ada").history()
    assert [f.text.rsplit(" ", 1)[1] for f in history] == ["tea", "coffee", "water"]
    assert [f.text for f in consolidator.facts("ada").current()] == [
        "The user's favourite drink is water"
    ]


def test_async_worker_in_fresh_event_loops(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    async def write() -> None:
        async with AgentMem(full_settings) as mem:
            c = Consolidator(
                mem, extractor=FunctionExtractor(favourite_drink), collection=unique_collection
            )
            await c.aenqueue("ada", said("My favourite drink is tea"))
            assert await c.apending("ada") == 1

    async def work() -> list[str]:
        async with AgentMem(full_settings) as mem:
            c = Consolidator(
                mem, extractor=FunctionExtractor(favourite_drink), collection=unique_collection
            )
            report = await c.arun_pending()
            assert report.batches == 1
            return [f.text for f in await c.facts("ada").acurrent()]

    asyncio.run(write())
    assert asyncio.run(work()) == ["The user's favourite drink is tea"]
    with AgentMem(full_settings) as mem:
        mem.weaviate().collections.delete(unique_collection)


def test_the_background_thread_consolidates_after_enqueue(consolidator: Consolidator) -> None:
    consolidator.start(interval=5.0)
    try:
        consolidator.enqueue("ada", said("My favourite drink is tea"))
        deadline = time.monotonic() + 20
        while consolidator.pending("ada") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        consolidator.stop()
    assert consolidator.pending("ada") == 0
    assert len(consolidator.facts("ada").current()) == 1


async def test_the_asyncio_task_consolidates_after_enqueue(
    full_settings: AgentMemSettings, unique_collection: str
) -> None:
    async with AgentMem(full_settings) as mem:
        c = Consolidator(
            mem, extractor=FunctionExtractor(favourite_drink), collection=unique_collection
        )
        await c.astart(interval=5.0)
        try:
            await c.aenqueue("ada", said("My favourite drink is tea"))
            deadline = time.monotonic() + 20
            while await c.apending("ada") and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await c.astop()
        assert len(await c.facts("ada").acurrent()) == 1
        await (await mem.aweaviate()).collections.delete(unique_collection)


def test_bad_input_is_refused_with_nothing_queued(consolidator: Consolidator) -> None:
    with pytest.raises(InvalidInputError, match="larger than"):
        consolidator.enqueue("ada", [Turn("user", "x" * MAX_BATCH_BYTES)])
    with pytest.raises(InvalidInputError):
        consolidator.enqueue("", said("hi"))
    with pytest.raises(InvalidInputError):
        consolidator.enqueue("ada", ["not a turn"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError):
        consolidator.enqueue("ada", [Turn("user", "lone \ud800 surrogate")])
    assert consolidator.pending("ada") == 0
    with pytest.raises(InvalidInputError, match="extract"):
        Consolidator(consolidator.memory, extractor=object())  # type: ignore[arg-type]


def test_manual_edits_keep_history(consolidator: Consolidator) -> None:
    facts: FactMemory = consolidator.facts("ada")
    tea = facts.add("The user likes tea")
    coffee = facts.update(tea.id, "The user likes coffee")
    assert coffee.supersedes == tea.id
    ended = facts.forget(coffee.id)
    assert ended.invalid_at is not None
    assert facts.current() == []
    assert [f.text for f in facts.history()] == ["The user likes tea", "The user likes coffee"]
    with pytest.raises(NotFound):
        facts.update(tea.id, "again")
    with pytest.raises(InvalidInputError):
        facts.add("   ")


def test_parse_operations_maps_handles_and_refuses_strangers() -> None:
    known = [Fact("a1", "The user likes tea", 1.0)]
    ops = parse_operations(
        {"operations": [{"action": "update", "target": "F1", "text": "x"}]}, known
    )
    assert ops[0].target == "a1"
    assert parse_operations([{"action": "invalidate", "target": "a1"}], known)[0].text is None
    with pytest.raises(ExtractionError):
        parse_operations([{"action": "invalidate", "target": "F2"}], known)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_forget_user_drops_the_queue_parked_batches_and_formed_facts(
    consolidator: Consolidator, flavour: str
) -> None:
    from agentmem import aforget_user, forget_user

    consolidator.enqueue("ada", said("My favourite drink is tea"))
    consolidator.run_pending()
    consolidator.enqueue("ada", said("My favourite drink is coffee"))  # still queued
    consolidator.enqueue("bob", said("My favourite drink is milk"))
    consolidator.run_pending(max_batches=0)
    mem = consolidator.memory
    keys = q.queue_keys(mem.key_prefix, "ada")
    mem.redis().hset(keys.parked, "old", json.dumps({"reason": "x", "at": 0, "batch": "{}"}))
    if flavour == "sync":
        report = forget_user("ada", memory=mem)
    else:

        async def forget() -> Any:
            async with AgentMem(mem.settings) as amem:
                return await aforget_user("ada", memory=amem)

        report = asyncio.run(forget())
    assert report.queued == 1
    assert consolidator.collection in report.collections
    assert [k for k in keys.all() if mem.redis().exists(k)] == []
    assert consolidator.facts("ada").history() == []
    assert consolidator.pending("bob") == 1  # another user's queue is untouched


def cli_extractor() -> FunctionExtractor:
    """What `agentmem worker --extractor tests.test_consolidation:cli_extractor` loads."""
    return FunctionExtractor(favourite_drink)


def test_the_worker_command_consolidates_and_the_facts_command_shows_history(
    consolidator: Consolidator, redis_server: Any, weaviate_server: Any
) -> None:
    from tests.support import agentmem_env, run_cli

    env = agentmem_env(redis_server, weaviate_server, consolidator.memory.key_prefix)
    where = ["--collection", consolidator.collection]
    empty = run_cli("facts", "--user", "ada", *where, env=env)
    assert empty.returncode == 0 and "no facts for user 'ada'" in empty.stdout
    consolidator.enqueue("ada", said("My favourite drink is tea"))
    consolidator.enqueue("ada", said("My favourite drink is coffee"))
    extractor = "tests.test_consolidation:cli_extractor"
    done = run_cli("worker", "--once", "--extractor", extractor, *where, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("consolidated 2 batches (3 facts written)")
    current = run_cli("facts", "--user", "ada", *where, env=env).stdout.splitlines()
    assert [line.split("\t")[1] for line in current] == ["The user's favourite drink is coffee"]
    history = run_cli("facts", "--user", "ada", "--history", *where, env=env).stdout
    tea, coffee = history.splitlines()
    assert "favourite drink is tea\tinvalidated: " in tea and "replaced by" in tea
    assert "favourite drink is coffee\tcurrent: " in coffee and coffee.endswith(".. now")
    parked = run_cli("facts", "--user", "ada", "--parked", *where, env=env).stdout
    assert parked.strip() == "no parked batches for user 'ada'"
    bad = run_cli("worker", "--once", "--extractor", "nocolon", *where, env=env)
    assert bad.returncode == 1 and "MODULE:NAME" in bad.stderr


def test_an_update_of_a_fact_ended_meanwhile_still_adds_the_new_fact(
    consolidator: Consolidator,
) -> None:
    from agentmem.facts import FactOp

    facts = consolidator.facts("ada")
    tea = facts.add("The user's favourite drink is tea")
    facts.forget(tea.id)  # a manual edit between the model's decision and its application
    written = facts.apply([FactOp("update", "The user's favourite drink is coffee", tea.id)],
                          batch_id="b1", at=time.time(), source={})  # fmt: skip
    assert [f.text for f in written] == ["The user's favourite drink is coffee"]
    assert facts.get(tea.id).superseded_by is None  # its own history is kept as it was
    assert [f.text for f in facts.current()] == ["The user's favourite drink is coffee"]


def test_a_chat_append_queues_its_turn_in_the_same_atomic_step(
    consolidator: Consolidator,
) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    from agentmem import SessionStore
    from langchain_agentmem import AgentMemChatMessageHistory

    mem = consolidator.memory
    history = AgentMemChatMessageHistory(
        mem, session_id="s1", user_id="ada", consolidator=consolidator
    )
    history.add_messages([
        HumanMessage("My favourite drink is tea", id="h1"), AIMessage("Noted.", id="a1"),
        ToolMessage("tool output", tool_call_id="c1"),
    ])  # fmt: skip
    assert len(history.messages) == 3 and consolidator.pending("ada") == 1
    # A write that fails (a message over the size limit) queues nothing either.
    small = AgentMemChatMessageHistory(mem, session_id="s1", user_id="ada", consolidator=consolidator,
                                       max_message_bytes=1000)  # fmt: skip
    with pytest.raises(InvalidInputError):
        small.add_messages([HumanMessage("My favourite drink is water"), AIMessage("x" * 5000)])
    assert len(history.messages) == 3 and consolidator.pending("ada") == 1
    # A batch prepared for another user cannot ride on this user's append.
    other = consolidator.prepare("bob", said("hi"))
    with pytest.raises(InvalidInputError, match="cannot be queued"):
        SessionStore(mem, user_id="ada").append(
            "s1", [{"role": "user", "content": "x"}], consolidate=other
        )
    assert consolidator.run_pending().batches == 1
    (fact,) = consolidator.facts("ada").current()
    assert fact.source == {"session": "s1", "messages": ["h1", "a1"]}


def test_memorys_chat_store_queues_new_turns_with_their_append(consolidator: Consolidator) -> None:
    from llama_index.core.base.llms.types import ChatMessage, MessageRole
    from llama_index.core.memory import Memory

    from llamaindex_agentmem import AgentMemDBChatStore

    async def chat() -> int:
        async with AgentMem(consolidator.memory.settings) as mem:
            store = AgentMemDBChatStore(mem, user_id="ada", consolidator=consolidator)
            memory = Memory.from_defaults(session_id="li", chat_store=store)
            await memory.aput_messages([
                ChatMessage(role=MessageRole.USER, content="My favourite drink is tea"),
                ChatMessage(role=MessageRole.ASSISTANT, content="Noted."),
            ])  # fmt: skip
            return len(await store.get_messages("li"))

    assert asyncio.run(chat()) == 2
    assert consolidator.pending("ada") == 1
    assert consolidator.run_pending().batches == 1
    assert [f.text for f in consolidator.facts("ada").current()] == [
        "The user's favourite drink is tea"
    ]
