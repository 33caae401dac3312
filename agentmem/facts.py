"""Facts about a user, formed from conversations: never overwritten, invalidated instead.

A :class:`Fact` is a long-term memory in its own collection (``AgentMemFacts``, one tenant per
user) that carries when it became true (``valid_from``) and when it stopped (``invalid_at``),
which fact replaced it, and where it came from (the session or thread, the message ids). A
changed fact is *superseded*: the old one gets ``invalid_at`` and ``superseded_by``, the new one
``supersedes``; a contradicted one is *invalidated*. So :meth:`FactMemory.recall` answers "now"
and "as of T", and :meth:`FactMemory.history` shows every version.

Facts are decided by a :class:`FactExtractor`: the user's own model, behind a two-method
protocol (the LangChain and LlamaIndex adapters implement it over any chat model or LLM). It
gets the new turns and the user's current facts that they may touch (one hybrid search), and
returns :class:`FactOp` operations, which :func:`parse_operations` checks: a malformed answer
raises :class:`~agentmem.errors.ExtractionError` and nothing is applied.

The durable, off-the-response-path pipeline around this (a queue in Redis and a worker) is
:class:`agentmem.consolidation.Consolidator`.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from agentmem._store import require_scope
from agentmem.core import AgentMem
from agentmem.embeddings import Embedder
from agentmem.errors import ExtractionError, InvalidInputError, NotFound
from agentmem.filters import And, Filter, Gt, IsNull, Lte, Or
from agentmem.longterm import MAX_MEMORY_BYTES, LongTermMemory, MemoryRecord, Recency

__all__ = [
    "DEFAULT_FACTS_COLLECTION",
    "RECENT",
    "Fact",
    "FactExtractor",
    "FactMemory",
    "FactOp",
    "MemoryOperation",
    "MemoryOperations",
    "Turn",
    "extraction_prompt",
    "format_facts",
    "normalize",
    "parse_operations",
]

DEFAULT_FACTS_COLLECTION = "AgentMemFacts"

RECENT = Recency(half_life_seconds=30 * 86400, weight=0.2)
"""The recall preference the middleware and the memory block use by default: a fact's relevance
blended with its age (a month old counts half on the recency term, which is a fifth of the
score), so of two facts that match alike the newer one comes first."""

# One fact is one sentence or two; a model that returns pages is malformed, not a fact.
MAX_FACT_CHARS = 2_000

Action = Literal["add", "update", "invalidate"]


@dataclass(frozen=True, slots=True)
class Turn:
    """One message to consolidate.

    Attributes:
        role: who said it (``"user"``, ``"assistant"``, ``"tool"``...).
        text: what was said (text only).
        id: the message's id in its session or thread, if it has one (kept as the source).
    """

    role: str
    text: str
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    """One fact about a user.

    Attributes:
        id: stable id (deterministic per batch and operation, so a replay writes the same).
        text: the fact, one self-contained statement ("prefers tea to coffee").
        valid_from: epoch seconds when it became true (when the user said it).
        invalid_at: epoch seconds when it stopped being true (None: still true).
        supersedes: the id of the fact this one replaced, if any.
        superseded_by: the id of the fact that replaced this one, if any.
        source: where it came from: ``session`` (a session or thread id) and ``messages``.
    """

    id: str
    text: str
    valid_from: float
    invalid_at: float | None = None
    supersedes: str | None = None
    superseded_by: str | None = None
    source: Mapping[str, Any] = field(default_factory=dict)

    def valid(self, at: float | None = None) -> bool:
        """True if the fact holds at ``at`` (epoch seconds; None: now)."""
        when = time.time() if at is None else at
        return self.valid_from <= when and (self.invalid_at is None or self.invalid_at > when)


@dataclass(frozen=True, slots=True)
class FactOp:
    """One operation decided for a batch.

    Attributes:
        action: ``"add"`` a new fact, ``"update"`` (supersede) ``target`` with ``text``, or
            ``"invalidate"`` ``target`` (it is no longer true).
        text: the new fact (add, update).
        target: the id of a known fact (update, invalidate).
    """

    action: Action
    text: str | None = None
    target: str | None = None


@runtime_checkable
class FactExtractor(Protocol):
    """What consolidation asks of a model: operations for new turns, given known facts.

    ``known`` are the user's current facts the turns may touch. Return :class:`FactOp` objects,
    or plain data that :func:`parse_operations` accepts (``{"operations": [...]}``, a list of
    ``{"action", "text", "target"}`` dicts, targets as fact ids or as the ``F1``.. handles of
    :func:`extraction_prompt`). One call per batch.
    """

    def extract(self, turns: Sequence[Turn], known: Sequence[Fact]) -> Any: ...

    async def aextract(self, turns: Sequence[Turn], known: Sequence[Fact]) -> Any: ...


class MemoryOperation(BaseModel):
    """One operation, as a model returns it through structured output (the adapters' schema)."""

    action: Literal["add", "update", "invalidate"]
    text: str | None = Field(default=None, description="the fact, for add and update")
    target: str | None = Field(default=None, description="the handle F<n> of a known fact")


class MemoryOperations(BaseModel):
    """Operations on the user's long-term memory (an empty list: nothing to remember)."""

    operations: list[MemoryOperation] = Field(default_factory=list)


# -- text ----------------------------------------------------------------------------------------


_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Text compared for exact duplicates: NFKC, case-folded, whitespace collapsed, no trailing
    punctuation."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", folded).strip().rstrip(".!").strip()


def digest(parts: Sequence[str]) -> str:
    """Hex digest of normalized texts (the dedup key of a batch)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(normalize(part).encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:32]


def extraction_prompt(turns: Sequence[Turn], known: Sequence[Fact]) -> str:
    """The instruction both adapters send to the user's model (one call per batch)."""
    facts = "\n".join(f"F{i + 1}: {f.text}" for i, f in enumerate(known)) or "(none)"
    said = "\n".join(f"{t.role}: {t.text}" for t in turns)
    return (
        "You maintain long-term memory about one user. From the new messages, decide what to "
        "remember about the user: lasting facts, preferences, plans, relationships. Ignore "
        "small talk and anything only true for this conversation.\n"
        "Known facts (refer to them by their handle):\n"
        f"{facts}\n\n"
        "New messages:\n"
        f"{said}\n\n"
        'Answer with operations: {"action": "add", "text": <a new self-contained fact>} for '
        'something new; {"action": "update", "target": "F<n>", "text": <the fact as it is '
        'now>} when a known fact changed; {"action": "invalidate", "target": "F<n>"} when a '
        "known fact is no longer true. Nothing that is already known: no operation. Write "
        'facts in the third person ("The user prefers tea"). Return {"operations": []} if '
        "there is nothing to remember."
    )


def format_facts(facts: Sequence[Fact], *, budget_tokens: int | None = None) -> str:
    """Facts as prompt lines, best first, cut to ``budget_tokens`` (4 characters a token)."""
    lines, used = [], 0
    for f in facts:
        line = f"- {f.text}"
        cost = len(line) // 4 + 1
        if budget_tokens is not None and used + cost > budget_tokens:
            break
        lines.append(line)
        used += cost
    return "\n".join(lines)


# -- checking a model's answer -------------------------------------------------------------------


def parse_operations(raw: Any, known: Sequence[Fact]) -> list[FactOp]:
    """Check a model's answer and return its operations; targets become fact ids.

    Raises:
        ExtractionError: the answer is not operations, names an unknown action or a fact that is
            not among ``known``, or has an empty or oversized text. Nothing is applied.
    """
    if hasattr(raw, "model_dump"):  # a pydantic object from structured output
        raw = raw.model_dump()
    if isinstance(raw, Mapping):
        if "operations" not in raw:
            raise ExtractionError(f"the model's answer has no 'operations': {raw!r:.200}")
        raw = raw["operations"]
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise ExtractionError(f"the model's answer is not a list of operations: {raw!r:.200}")
    handles = {f"F{i + 1}": f.id for i, f in enumerate(known)}
    ids = {f.id for f in known}
    ops = []
    for item in raw:
        if isinstance(item, FactOp):
            op = item
        else:
            if hasattr(item, "model_dump"):
                item = item.model_dump()
            if not isinstance(item, Mapping):
                raise ExtractionError(f"an operation is not an object: {item!r:.200}")
            op = FactOp(item.get("action"), item.get("text"), item.get("target"))  # type: ignore[arg-type]
        ops.append(_check_op(op, handles, ids))
    return ops


def _check_op(op: FactOp, handles: Mapping[str, str], ids: set[str]) -> FactOp:
    if op.action not in ("add", "update", "invalidate"):
        raise ExtractionError(
            f"unknown action {op.action!r:.40} (expected add, update, invalidate)"
        )
    target = op.target
    if op.action != "add":
        target = handles.get(str(target), target)
        if target not in ids:
            raise ExtractionError(f"{op.action} names {op.target!r:.60}, which is not a known fact")
    text = op.text
    if op.action != "invalidate":
        if not isinstance(text, str) or not text.strip():
            raise ExtractionError(f"{op.action} needs a non-empty text, got {text!r:.60}")
        if len(text) > MAX_FACT_CHARS:
            raise ExtractionError(
                f"a fact of {len(text)} characters is too long (at most {MAX_FACT_CHARS})"
            )
        text = text.strip()
    return FactOp(op.action, text if op.action != "invalidate" else None, target)


# -- the store -----------------------------------------------------------------------------------


def _fact(record: MemoryRecord) -> Fact:
    m = record.metadata
    return Fact(
        id=str(record.id),
        text=record.text,
        valid_from=float(m.get("valid_from") or 0.0),
        invalid_at=None if m.get("invalid_at") is None else float(m["invalid_at"]),
        supersedes=m.get("supersedes"),
        superseded_by=m.get("superseded_by"),
        source=dict(m.get("source") or {}),
    )


def _metadata(f: Fact) -> dict[str, Any]:
    return {
        "valid_from": f.valid_from,
        "invalid_at": f.invalid_at,
        "supersedes": f.supersedes,
        "superseded_by": f.superseded_by,
        "source": dict(f.source),
    }


CURRENT: Filter = IsNull("invalid_at")


def as_of(at: float) -> Filter:
    """Facts that held at ``at`` (epoch seconds)."""
    return And(Lte("valid_from", at), Or(IsNull("invalid_at"), Gt("invalid_at", at)))


class FactMemory:
    """The facts of one user: recall now or as of a moment, history, and applying operations.

    Every method has an ``a``-prefixed async twin.

    Args:
        memory: the :class:`AgentMem` to use (borrowed).
        user_id: whose facts (the Weaviate tenant). Required.
        embedder: embeds facts and queries; None recalls by BM25 only.
        collection: the Weaviate collection of facts.
    """

    def __init__(
        self,
        memory: AgentMem,
        *,
        user_id: str,
        embedder: Embedder | None = None,
        collection: str = DEFAULT_FACTS_COLLECTION,
    ) -> None:
        self.user_id = require_scope(user_id, "user_id", "FactMemory")
        self.memory = memory
        self._lt = LongTermMemory(memory, tenant=user_id, collection=collection, embedder=embedder)

    def __repr__(self) -> str:
        return f"FactMemory(user_id={self.user_id!r}, collection={self._lt.collection!r})"

    @property
    def collection(self) -> str:
        return self._lt.collection

    # -- reads -----------------------------------------------------------------------------------

    def recall(
        self,
        query: str,
        *,
        k: int = 8,
        as_of_time: float | None = None,
        recency: Recency | None = None,
    ) -> list[Fact]:
        """The facts that best match ``query`` and hold now (or at ``as_of_time``)."""
        return [
            _fact(h.record) for h in self._lt.search(query, **self._recall(k, as_of_time, recency))
        ]

    async def arecall(
        self,
        query: str,
        *,
        k: int = 8,
        as_of_time: float | None = None,
        recency: Recency | None = None,
    ) -> list[Fact]:
        """Async twin of :meth:`recall`."""
        hits = await self._lt.asearch(query, **self._recall(k, as_of_time, recency))
        return [_fact(h.record) for h in hits]

    def _recall(self, k: int, at: float | None, recency: Recency | None) -> dict[str, Any]:
        return {
            "k": k,
            "mode": "auto",
            "filter": CURRENT if at is None else as_of(at),
            "recency": recency,
        }

    def history(self, *, limit: int = 1000) -> list[Fact]:
        """Every fact of the user, current and invalidated, oldest first."""
        return _ordered(self._lt.find(limit=limit))

    async def ahistory(self, *, limit: int = 1000) -> list[Fact]:
        """Async twin of :meth:`history`."""
        return _ordered(await self._lt.afind(limit=limit))

    def current(self, *, limit: int = 1000) -> list[Fact]:
        """Every fact that holds now, oldest first."""
        return _ordered(self._lt.find(filter=CURRENT, limit=limit))

    async def acurrent(self, *, limit: int = 1000) -> list[Fact]:
        """Async twin of :meth:`current`."""
        return _ordered(await self._lt.afind(filter=CURRENT, limit=limit))

    def get(self, fact_id: str) -> Fact:
        """One fact by id.

        Raises:
            NotFound: there is no such fact.
        """
        return _one(self._lt.get([fact_id]), fact_id)

    async def aget(self, fact_id: str) -> Fact:
        """Async twin of :meth:`get`."""
        return _one(await self._lt.aget([fact_id]), fact_id)

    # -- writes ----------------------------------------------------------------------------------

    def apply(
        self, ops: Sequence[FactOp], *, batch_id: str, at: float, source: Mapping[str, Any]
    ) -> list[Fact]:
        """Apply checked operations; returns the facts written. Idempotent for the same
        ``batch_id``, ``ops`` and ``at`` (ids and values are derived from them)."""
        targets = [op.target for op in ops if op.target]
        known = {r.id: r for r in self._lt.get(targets, include_vector=True)} if targets else {}
        records = self._plan(ops, batch_id, at, source, known)
        if records:
            self._lt.add(records)
        return [_fact(r) for r in records]

    async def aapply(
        self, ops: Sequence[FactOp], *, batch_id: str, at: float, source: Mapping[str, Any]
    ) -> list[Fact]:
        """Async twin of :meth:`apply`."""
        targets = [op.target for op in ops if op.target]
        known = (
            {r.id: r for r in await self._lt.aget(targets, include_vector=True)} if targets else {}
        )
        records = self._plan(ops, batch_id, at, source, known)
        if records:
            await self._lt.aadd(records)
        return [_fact(r) for r in records]

    def _plan(
        self,
        ops: Sequence[FactOp],
        batch_id: str,
        at: float,
        source: Mapping[str, Any],
        known: Mapping[str | None, MemoryRecord],
    ) -> list[MemoryRecord]:
        out: dict[str, MemoryRecord] = {}
        for i, op in enumerate(ops):
            new_id = f"{batch_id}:{i}"
            old = out.get(str(op.target)) or known.get(op.target) if op.target else None
            # An old fact is ended unless it is gone (forgotten since the decision) or another
            # batch ended it already (its history stays); a replay ends it the same way again.
            old_fact = _fact(old) if old is not None else None
            if old_fact is not None and (
                old_fact.invalid_at is None or old_fact.superseded_by == new_id
            ):
                ended = Fact(
                    old_fact.id, old_fact.text, old_fact.valid_from, at,
                    old_fact.supersedes, new_id if op.action == "update" else None, old_fact.source,
                )  # fmt: skip
                out[ended.id] = MemoryRecord(
                    ended.text, _metadata(ended), id=ended.id, vector=old.vector if old else None
                )
            if op.action in ("add", "update"):
                assert op.text is not None
                fact = Fact(
                    new_id, op.text, at, None,
                    op.target if op.action == "update" else None, None, dict(source),
                )  # fmt: skip
                out[new_id] = MemoryRecord(fact.text, _metadata(fact), id=new_id)
        for record in out.values():
            if len(record.text.encode()) > MAX_MEMORY_BYTES:
                raise InvalidInputError("a fact is larger than the collection allows")
        return list(out.values())

    def add(self, text: str, *, source: Mapping[str, Any] | None = None) -> Fact:
        """Add one fact by hand (the "manage memory" tool); returns it."""
        return self.apply(
            [_checked("add", text)], batch_id=_manual(), at=time.time(), source=source or {}
        )[0]

    async def aadd(self, text: str, *, source: Mapping[str, Any] | None = None) -> Fact:
        """Async twin of :meth:`add`."""
        ops = [_checked("add", text)]
        return (await self.aapply(ops, batch_id=_manual(), at=time.time(), source=source or {}))[0]

    def update(self, fact_id: str, text: str) -> Fact:
        """Supersede a fact with a new text; returns the new fact.

        Raises:
            NotFound: no current fact has this id.
        """
        self._current(self.get(fact_id))
        written = self.apply(
            [_checked("update", text, fact_id)], batch_id=_manual(), at=time.time(), source={}
        )
        return next(f for f in written if f.supersedes == fact_id)

    async def aupdate(self, fact_id: str, text: str) -> Fact:
        """Async twin of :meth:`update`."""
        self._current(await self.aget(fact_id))
        ops = [_checked("update", text, fact_id)]
        written = await self.aapply(ops, batch_id=_manual(), at=time.time(), source={})
        return next(f for f in written if f.supersedes == fact_id)

    def forget(self, fact_id: str) -> Fact:
        """Invalidate a fact (it stays in the history); returns it as ended.

        Raises:
            NotFound: no current fact has this id.
        """
        self._current(self.get(fact_id))
        return self.apply(
            [FactOp("invalidate", None, fact_id)], batch_id=_manual(), at=time.time(), source={}
        )[0]

    async def aforget(self, fact_id: str) -> Fact:
        """Async twin of :meth:`forget`."""
        self._current(await self.aget(fact_id))
        ops = [FactOp("invalidate", None, fact_id)]
        return (await self.aapply(ops, batch_id=_manual(), at=time.time(), source={}))[0]

    @staticmethod
    def _current(fact: Fact) -> None:
        if fact.invalid_at is not None:
            raise NotFound(f"fact {fact.id!r:.80} is no longer current (it was invalidated)")


def _checked(action: Action, text: str, target: str | None = None) -> FactOp:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"a fact needs a non-empty text, got {text!r:.60}")
    if len(text) > MAX_FACT_CHARS:
        raise InvalidInputError(
            f"a fact of {len(text)} characters is too long (at most {MAX_FACT_CHARS})"
        )
    return FactOp(action, text.strip(), target)


def _manual() -> str:
    import uuid

    return f"m-{uuid.uuid4().hex}"


def _ordered(records: Sequence[MemoryRecord]) -> list[Fact]:
    return sorted((_fact(r) for r in records), key=lambda f: (f.valid_from, f.id))


def _one(records: Sequence[MemoryRecord], fact_id: str) -> Fact:
    if not records:
        raise NotFound(f"no fact {fact_id!r:.80} for this user")
    return _fact(records[0])
