"""Memory that forms itself: a durable queue of turns and a worker that turns them into facts.

:meth:`Consolidator.enqueue` puts a batch of turns in the user's queue in Redis (one atomic call,
in the user's hash slot) and returns at once; the model is never on the response path. A worker
(:meth:`Consolidator.run_pending`, a background thread from :meth:`Consolidator.start`, an
asyncio task from :meth:`Consolidator.astart`, or the ``agentmem worker`` process) takes each
user's batches in order under a lease and, per batch:

1. skips it if the same turns (normalized) were consolidated before: no model call;
2. finds the user's current facts the turns may touch (one search in the user's tenant);
3. asks the :class:`~agentmem.facts.FactExtractor` once for operations, and checks them;
4. stores the operations with the batch, so a replay applies exactly the same ones;
5. applies them (new facts embedded in one call; superseded ones closed, never overwritten);
6. pops the batch, checking in the same script that it still holds the lease.

A crash at any step leaves the batch queued: the next worker replays it, and since fact ids and
values derive from the batch and its stored operations, nothing is added twice. A batch whose
model answer is malformed (or whose model call fails) is retried with exponential backoff, then
parked with its reason (:meth:`Consolidator.parked`, ``agentmem facts --parked``); an unreachable
server is not the batch's fault and is simply retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentmem import _telemetry
from agentmem._redis import fact_queue as q
from agentmem._redis.keys import check_prefix, encode_text
from agentmem._store import Store, require_scope
from agentmem.core import AgentMem
from agentmem.embeddings import Embedder
from agentmem.errors import AgentMemError, BackendUnavailable, InvalidInputError
from agentmem.facts import (
    DEFAULT_FACTS_COLLECTION,
    Fact,
    FactExtractor,
    FactMemory,
    FactOp,
    Turn,
    digest,
    normalize,
    parse_operations,
)

__all__ = ["MAX_BATCH_BYTES", "ConsolidationReport", "Consolidator"]

_log = logging.getLogger("agentmem")

# What the per-batch generator yields: ("redis", user, plan), ("recall", user, query),
# ("extract", user, turns, known) or ("apply", user, ops, batch id, at, source).
Steps = Generator[tuple[Any, ...], Any, bool]

_USERS_PER_PASS = 1000  # users one pass of the worker looks at, longest waiting first

MAX_BATCH_BYTES = 1 << 20
"""Largest queued batch (its JSON): 1 MiB. Bigger ones raise ``InvalidInputError`` at enqueue."""


@dataclass
class ConsolidationReport:
    """What one :meth:`Consolidator.run_pending` did.

    Attributes:
        batches: batches applied.
        duplicates: batches skipped as exact duplicates (no model call).
        facts: facts written (new, and ended ones).
        retried: batches that failed and stay queued for a retry.
        parked: batches given up on.
        errors: user id -> the last error, for the batches that failed.
    """

    batches: int = 0
    duplicates: int = 0
    facts: int = 0
    retried: int = 0
    parked: int = 0
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Batch:
    id: str
    at: float
    session: str | None
    turns: list[Turn]


def _encode_batch(batch_id: str, at: float, session: str | None, turns: Sequence[Turn]) -> str:
    items = []
    for t in turns:
        if not isinstance(t, Turn):
            raise InvalidInputError(
                f"turns must be agentmem.facts.Turn objects, got {type(t).__name__}"
            )
        encode_text(t.role, "a turn's role")
        encode_text(t.text, "a turn's text")
        items.append({"role": t.role, "text": t.text, "id": t.id})
    raw = json.dumps({"id": batch_id, "at": at, "session": session, "turns": items})
    if len(raw.encode()) > MAX_BATCH_BYTES:
        raise InvalidInputError(
            f"a batch of {len(raw.encode()):,} bytes is larger than {MAX_BATCH_BYTES:,}; "
            "enqueue fewer or shorter turns. Nothing was queued."
        )
    return raw


def _decode_batch(raw: bytes) -> _Batch:
    data = json.loads(raw)
    turns = [Turn(str(t["role"]), str(t["text"]), t.get("id")) for t in data["turns"]]
    return _Batch(str(data["id"]), float(data["at"]), data.get("session"), turns)


def _ids_of(raw: bytes) -> tuple[str, str]:
    """The batch id and dedup digest of a queued batch ('' digest if it cannot be read)."""
    try:
        b = _decode_batch(raw)
    except (ValueError, KeyError, TypeError):
        return "undecodable:" + digest([raw.decode("utf-8", "replace")]), ""
    return b.id, digest([f"{t.role}\0{t.text}" for t in b.turns])


def _ops_json(ops: Sequence[FactOp]) -> str:
    return json.dumps([{"action": o.action, "text": o.text, "target": o.target} for o in ops])


def _ops_from(stored: bytes) -> list[FactOp]:
    return [FactOp(o["action"], o.get("text"), o.get("target")) for o in json.loads(stored)]


def _without_known(ops: list[FactOp], known: Sequence[Fact]) -> list[FactOp]:
    """Drop additions that repeat a known fact exactly (normalized): no duplicate facts."""
    seen = {normalize(f.text) for f in known}
    out = []
    for op in ops:
        if op.action == "add" and op.text is not None and normalize(op.text) in seen:
            continue
        if op.text is not None:
            seen.add(normalize(op.text))
        out.append(op)
    return out


class Consolidator(Store):
    """Queues turns and consolidates them into each user's facts; sync and async.

    Args:
        memory: the :class:`AgentMem` to use (borrowed; None: from the environment, owned).
        extractor: the model behind consolidation (see :class:`~agentmem.facts.FactExtractor`);
            the adapters build one over a LangChain chat model or a LlamaIndex LLM.
        embedder: embeds facts and the candidate search; None: BM25 only.
        collection: the Weaviate collection of facts.
        candidates: how many current facts the model sees with each batch.
        max_attempts: failed model attempts before a batch is parked.
        retry_delay: seconds before the first retry of a failed batch (doubling each time).
        lease: seconds a worker holds a user's queue before another may take over.
    """

    def __init__(
        self,
        memory: AgentMem | None = None,
        *,
        extractor: FactExtractor | None = None,
        embedder: Embedder | None = None,
        collection: str = DEFAULT_FACTS_COLLECTION,
        candidates: int = 8,
        max_attempts: int = 5,
        retry_delay: float = 2.0,
        lease: float = 120.0,
    ) -> None:
        if extractor is not None and not isinstance(extractor, FactExtractor):
            raise InvalidInputError(
                "extractor must have extract(turns, known) and aextract(turns, known); use "
                "langchain_agentmem.ChatModelExtractor or llamaindex_agentmem.LLMExtractor"
            )
        for name, value in (("candidates", candidates), ("max_attempts", max_attempts)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be an int >= 1, got {value!r}")
        super().__init__(memory)
        self.extractor = extractor
        self.embedder = embedder
        self.collection = collection
        self.candidates = candidates
        self.max_attempts = max_attempts
        self.retry_delay = float(retry_delay)
        self._lease_ms = int(lease * 1000)
        self._cfg = q.QueueConfig(
            check_prefix(self._memory.key_prefix), self._memory.settings.redis.cluster
        )
        self._token = uuid.uuid4().hex
        self._not_before: dict[str, float] = {}
        self._facts: dict[str, FactMemory] = {}
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.last_report: ConsolidationReport | None = None
        self.last_error: AgentMemError | None = None

    def __repr__(self) -> str:
        return f"Consolidator(collection={self.collection!r}, extractor={self.extractor!r})"

    def facts(self, user_id: str) -> FactMemory:
        """The :class:`FactMemory` of ``user_id`` (recall, history, manual edits)."""
        require_scope(user_id, "user_id", "Consolidator.facts")
        fm = self._facts.get(user_id)
        if fm is None:
            if len(self._facts) > 1000:
                self._facts.clear()
            fm = self._facts[user_id] = FactMemory(
                self._memory, user_id=user_id, embedder=self.embedder, collection=self.collection
            )
        return fm

    # -- the queue -------------------------------------------------------------------------------

    def _batch(
        self, user_id: str, turns: Sequence[Turn], session_id: str | None
    ) -> tuple[str, str]:
        require_scope(user_id, "user_id", "Consolidator.enqueue")
        if session_id is not None:
            encode_text(session_id, "session_id")
        batch_id = uuid.uuid4().hex
        return batch_id, _encode_batch(batch_id, time.time(), session_id, list(turns))

    def prepare(
        self, user_id: str, turns: Sequence[Turn], *, session_id: str | None = None
    ) -> q.Prepared:
        """Check and encode a batch, for a chat append to queue in its own atomic step
        (``SessionStore.append(..., consolidate=...)``); nothing is written here.

        Raises:
            InvalidInputError: as :meth:`enqueue`.
        """
        batch_id, raw = self._batch(user_id, turns, session_id)
        return q.Prepared(batch_id, user_id, raw, self._cfg)

    def wake(self) -> None:
        """Tell this object's background worker that a batch was queued."""
        self._wake.set()

    def enqueue(self, user_id: str, turns: Sequence[Turn], *, session_id: str | None = None) -> str:
        """Queue ``turns`` for consolidation (durable when this returns); returns the batch id.

        Raises:
            InvalidInputError: a bad user id, turn or session id, or a batch over
                :data:`MAX_BATCH_BYTES`; nothing was queued.
        """
        batch_id, raw = self._batch(user_id, turns, session_id)
        self._run(q.enqueue(self._cfg, user_id, [raw]))
        self._wake.set()
        return batch_id

    async def aenqueue(
        self, user_id: str, turns: Sequence[Turn], *, session_id: str | None = None
    ) -> str:
        """Async twin of :meth:`enqueue`."""
        batch_id, raw = self._batch(user_id, turns, session_id)
        await self._arun(q.enqueue(self._cfg, user_id, [raw]))
        self._wake.set()
        return batch_id

    def pending(self, user_id: str) -> int:
        """Batches of ``user_id`` still queued."""
        return self._run(q.depth(self._cfg, user_id))

    async def apending(self, user_id: str) -> int:
        """Async twin of :meth:`pending`."""
        return await self._arun(q.depth(self._cfg, user_id))

    def parked(self, user_id: str) -> dict[str, dict[str, Any]]:
        """Parked batches of ``user_id``: batch id -> ``{reason, at, batch}``."""
        return self._run(q.parked(self._cfg, user_id))

    async def aparked(self, user_id: str) -> dict[str, dict[str, Any]]:
        """Async twin of :meth:`parked`."""
        return await self._arun(q.parked(self._cfg, user_id))

    def drop_user(self, user_id: str) -> int:
        """Delete the user's queue and parked batches (``forget_user`` calls this)."""
        return self._run(q.drop_user(self._cfg, user_id))

    async def adrop_user(self, user_id: str) -> int:
        """Async twin of :meth:`drop_user`."""
        return await self._arun(q.drop_user(self._cfg, user_id))

    # -- the worker ------------------------------------------------------------------------------

    def _extractor(self) -> FactExtractor:
        if self.extractor is None:
            raise InvalidInputError(
                "this Consolidator has no extractor, so it can queue turns but not consolidate "
                "them; pass extractor=... (or run `agentmem worker --extractor module:object`)"
            )
        return self.extractor

    # Each batch is processed by one generator, _steps, that yields what it needs done (a Redis
    # plan, a recall, the model call, applying operations) and receives the result, or the
    # exception thrown into it; _drive runs it with sync calls and _adrive with async ones, so
    # the two workers cannot drift apart (agentmem._plan's idea, one level up).

    def run_pending(self, *, max_batches: int | None = None) -> ConsolidationReport:
        """Consolidate queued batches of every user now, oldest user first; returns a report."""
        report = ConsolidationReport()
        self._extractor()
        users = self._run(q.queued_users(self._cfg, _USERS_PER_PASS))
        if _telemetry.recording():  # the backlog is read only to be recorded
            depth = self._run(q.backlog(self._cfg, users))
            _telemetry.record_queue_depth(depth, self._memory._server("redis"))
        for user in users:
            if self._not_before.get(user, 0.0) > time.monotonic():
                continue
            if not self._run(q.lease(self._cfg, user, self._token, self._lease_ms)):
                continue  # another worker has this user
            try:
                while max_batches is None or report.batches + report.duplicates < max_batches:
                    if not self._drive(self._steps(user, report)):
                        break
            finally:
                self._run(q.release(self._cfg, user, self._token))
        return report

    async def arun_pending(self, *, max_batches: int | None = None) -> ConsolidationReport:
        """Async twin of :meth:`run_pending` (the model's ``aextract``, async clients)."""
        report = ConsolidationReport()
        self._extractor()
        users = await self._arun(q.queued_users(self._cfg, _USERS_PER_PASS))
        if _telemetry.recording():  # the backlog is read only to be recorded
            depth = await self._arun(q.backlog(self._cfg, users))
            _telemetry.record_queue_depth(depth, self._memory._server("redis"))
        for user in users:
            if self._not_before.get(user, 0.0) > time.monotonic():
                continue
            if not await self._arun(q.lease(self._cfg, user, self._token, self._lease_ms)):
                continue
            try:
                while max_batches is None or report.batches + report.duplicates < max_batches:
                    if not await self._adrive(self._steps(user, report)):
                        break
            finally:
                await self._arun(q.release(self._cfg, user, self._token))
        return report

    def _drive(self, steps: Steps) -> bool:
        try:
            step = next(steps)
            while True:
                try:
                    result = self._do(step)
                except Exception as exc:
                    step = steps.throw(exc)
                    continue
                step = steps.send(result)
        except StopIteration as stop:
            return bool(stop.value)

    def _do(self, step: tuple[Any, ...]) -> Any:
        kind, user = step[0], step[1]
        if kind == "redis":
            return self._run(step[2])
        facts = self.facts(user)
        if kind == "recall":
            return facts.recall(step[2], k=self.candidates)
        if kind == "extract":
            return self._extractor().extract(step[2], step[3])
        return facts.apply(step[2], batch_id=step[3], at=step[4], source=step[5])

    async def _adrive(self, steps: Steps) -> bool:
        try:
            step = next(steps)
            while True:
                try:
                    result = await self._ado(step)
                except Exception as exc:
                    step = steps.throw(exc)
                    continue
                step = steps.send(result)
        except StopIteration as stop:
            return bool(stop.value)

    async def _ado(self, step: tuple[Any, ...]) -> Any:
        kind, user = step[0], step[1]
        if kind == "redis":
            return await self._arun(step[2])
        facts = self.facts(user)
        if kind == "recall":
            return await facts.arecall(step[2], k=self.candidates)
        if kind == "extract":
            return await self._extractor().aextract(step[2], step[3])
        return await facts.aapply(step[2], batch_id=step[3], at=step[4], source=step[5])

    def _steps(self, user: str, report: ConsolidationReport) -> Steps:
        """One batch of ``user``; returns True to go on with the user's next batch."""
        cfg, token = self._cfg, self._token
        head = yield ("redis", user, q.peek(cfg, user, _ids_of))
        if head is None:
            return False
        batch_id = head.id
        try:
            batch = _decode_batch(head.raw)
        except (ValueError, KeyError, TypeError) as exc:
            why = f"cannot decode the queued batch: {exc}"
            yield ("redis", user, q.park(cfg, user, token, head, why, time.time()))
            report.parked += 1
            return True
        if head.seen and head.ops is None:
            yield ("redis", user, q.done(cfg, user, token, head))
            report.duplicates += 1
            return True
        try:
            if head.ops is not None:
                ops = _ops_from(head.ops)
            else:
                known = yield ("recall", user, _query(batch))
                try:
                    answer = yield ("extract", user, batch.turns, known)
                    decided = _without_known(parse_operations(answer, known), known)
                except BackendUnavailable:
                    raise
                except Exception as exc:  # a malformed answer, or the user's model raised
                    return (yield from self._failed(user, head, exc, report))
                plan = q.remember_ops(cfg, user, batch_id, _ops_json(decided))
                ops = _ops_from((yield ("redis", user, plan)))
            if not (yield ("redis", user, q.lease(cfg, user, token, self._lease_ms, renew=True))):
                return False  # the lease is gone (expired, or the user was forgotten)
            written = yield ("apply", user, ops, batch_id, batch.at, _source(batch))
        except BackendUnavailable as exc:  # not the batch's fault: it stays queued
            report.errors[user] = str(exc)
            report.retried += 1
            return False
        if (yield ("redis", user, q.done(cfg, user, token, head))) < 0:
            return False  # the lease was lost: another worker replays it (idempotently)
        report.batches += 1
        report.facts += len(written)
        return True

    def _failed(
        self, user: str, head: q.Head, exc: Exception, report: ConsolidationReport
    ) -> Steps:
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        report.errors[user] = reason
        tries = yield ("redis", user, q.fail(self._cfg, user, head.id))
        if tries >= self.max_attempts:
            park = q.park(self._cfg, user, self._token, head, reason, time.time())
            yield ("redis", user, park)
            report.parked += 1
            return True
        self._not_before[user] = time.monotonic() + self.retry_delay * 2 ** (tries - 1)
        report.retried += 1
        return False

    # -- in the background -----------------------------------------------------------------------

    def start(self, *, interval: float = 1.0) -> None:
        """Consolidate in a background thread of this process until :meth:`stop`.

        The thread wakes on each :meth:`enqueue` of this object and every ``interval`` seconds
        (for batches queued by other processes). Use this from sync code; from async code use
        :meth:`astart`.
        """
        self._extractor()
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval,), name="agentmem-consolidation", daemon=True
        )
        self._thread.start()

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.last_report = self.run_pending()
            except AgentMemError as exc:  # a server away: the batches stay queued for the next
                self._log_failure(exc)
            self._wake.wait(interval)

    def _log_failure(self, exc: AgentMemError) -> None:
        self.last_error = exc
        _log.warning("consolidation round failed, batches stay queued: %s", exc)

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop the background thread after the batch it is on (idempotent)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    async def astart(self, *, interval: float = 1.0) -> None:
        """Consolidate in an asyncio task on the running loop until :meth:`astop`."""
        self._extractor()
        if self._task is not None and not self._task.done():
            return
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._aloop(interval))

    async def _aloop(self, interval: float) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.last_report = await self.arun_pending()
            except AgentMemError as exc:
                self._log_failure(exc)
            deadline = time.monotonic() + interval
            while not self._wake.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(min(0.05, interval))

    async def astop(self) -> None:
        """Stop the asyncio task after the batch it is on (idempotent)."""
        self._stop.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    def close(self) -> None:
        self.stop()
        super().close()

    async def aclose(self) -> None:
        await self.astop()
        self.stop()
        await super().aclose()


def _query(batch: _Batch) -> str:
    said = [t.text for t in batch.turns if t.role == "user"] or [t.text for t in batch.turns]
    return " ".join(said)[:4000] or "."


def _source(batch: _Batch) -> Mapping[str, Any]:
    return {"session": batch.session, "messages": [t.id for t in batch.turns if t.id]}
