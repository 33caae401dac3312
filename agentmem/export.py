"""Export a user's data to a file, and import it again: the mirror of :mod:`agentmem.forget`.

:func:`export_user` (and :func:`aexport_user`) find everything of one user the way
:func:`~agentmem.forget_user` does (the owner index for LangGraph threads and saved workflow runs,
the user's session index, every agentmem Weaviate collection with the user's tenant) and write it
as JSON Lines:

1. a header: ``{"agentmem_export": 1, "agentmem_version": ..., "user_id": ..., "created_at": ...,
   "vectors": true|false}``;
2. one line per record, each with a ``"kind"``:

   - ``session``: a chat session with its active and archived messages (ids and documents, in
     order), title, running summary, timestamps and expiry, as :class:`~agentmem.SessionStore`
     keeps them;
   - ``thread``: a LangGraph thread, every checkpoint with its metadata, parent, pending writes
     and channel values, in the checkpoint store's own stored form (bytes as base64), and its
     expiry;
   - ``run``: a saved workflow run (snapshot as base64, status, label, error, saves, time of the
     last save, expiry);
   - ``memory``: one long-term memory object of one collection (formed facts included: they live
     in a collection), with its id, text, metadata, namespace, expiry, creation time and, unless
     ``vectors=False``, its vector;

3. a closing line: ``{"end": true, "counts": {...}, "lines": [...], "sha256": ...}``: the records
   counted by kind, a short digest of every line before it (so an edited line can be named) and
   the SHA-256 of all of them. An export that fails part way leaves a file without it, which no
   import takes.

Expiry is kept as a point in time (server clock): what expires in an hour at the export expires at
that time after the import (what expired in between goes at once), what had no TTL gets none.

Nothing in the file names a Redis key, so it imports into any deployment: another key prefix,
a Redis Cluster, a Weaviate cluster. Batches of turns still queued for consolidation are **not**
exported: they are copies of turns the sessions hold, with a worker's state (decided operations,
attempts, a lease); the facts already formed are exported with their collection.

:func:`import_user` (and :func:`aimport_user`) read the whole file and check it before writing
anything: a known header, every line valid with the fields its kind needs, the digests and counts
of the closing line, the closing line present. Any problem raises
:class:`~agentmem.errors.ExportFileError` naming the line, and nothing is written. Then every
record is written with its ids: a session, thread or run of the same id is replaced by the
exported one, a memory of the same id is overwritten, and nothing that is not in the file is
deleted. Importing the same file twice leaves the stores as the first import left them. Imported
threads and runs are linked to the user in the owner index, so ``forget_user`` finds them; a
thread id that belongs to another user in the target refuses the import before anything is
written (``OwnershipError``). Memories exported without vectors are embedded by the ``embedder``
given to the import (without one they are stored for BM25 search only).

Example:
    >>> export_user("ada", "ada.jsonl").summary()
    >>> import_user("ada.jsonl", memory=AgentMem(other_settings)).summary()
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import IO, Any, Final

from agentmem._plan import Plan
from agentmem._progress import Progress
from agentmem._redis import checkpoint_plans, run_plans, session_plans
from agentmem._redis import owner_plans as owners
from agentmem._redis.envelope import SessionMessage
from agentmem._redis.keys import check_prefix, encode_id
from agentmem._store import require_scope
from agentmem._weaviate import codec, plans
from agentmem._weaviate.args import check_collection
from agentmem._weaviate.codec import RETURN, TOMBSTONE_TIME
from agentmem._weaviate.lifecycle import Target, col, locate
from agentmem._weaviate.records import MemoryRecord
from agentmem.checkpoints import CheckpointStore
from agentmem.core import AgentMem
from agentmem.embeddings import Embedder
from agentmem.errors import AgentMemError, ExportFileError, OwnershipError
from agentmem.forget import _holding
from agentmem.longterm import LongTermMemory
from agentmem.runs import RunStore
from agentmem.sessions import SessionStore

__all__ = [
    "FORMAT_VERSION",
    "ExportReport",
    "ImportReport",
    "aexport_user",
    "aimport_user",
    "export_user",
    "import_user",
]

FORMAT_VERSION: Final = 1
"""The version of the export file format this agentmem writes and reads."""

KINDS: Final = ("session", "thread", "run", "memory")
_PAGE = 200  # memory objects per Weaviate page of an export
_DIGEST = 16  # hex characters of each line's digest in the closing line

File = str | os.PathLike[str] | IO[str]


@dataclass
class _Report:
    user_id: str
    sessions: int = 0
    messages: int = 0
    threads: int = 0
    runs: int = 0
    memories: int = 0
    collections: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Records by kind: ``{"session": .., "thread": .., "run": .., "memory": ..}``."""
        return {
            "session": self.sessions,
            "thread": self.threads,
            "run": self.runs,
            "memory": self.memories,
        }

    def _words(self) -> str:
        where = f" in {', '.join(self.collections)}" if self.collections else ""
        return (
            f"{_count(self.sessions, 'chat session')} ({_count(self.messages, 'message')}), "
            f"{_count(self.threads, 'LangGraph thread')}, {_count(self.runs, 'workflow run')} "
            f"and {_count(self.memories, 'long-term memory', plural='long-term memories')}{where}"
        )


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


@dataclass
class ExportReport(_Report):
    """What :func:`export_user` wrote.

    Attributes:
        user_id: the user.
        sessions: chat sessions exported; ``messages``: their messages, archived ones included.
        threads: LangGraph threads exported.
        runs: saved workflow runs exported.
        memories: long-term memory objects exported (formed facts included).
        collections: the Weaviate collections they came from.
        vectors: whether the memories' vectors are in the file.
    """

    vectors: bool = True

    def summary(self) -> str:
        """What was exported, in words (for a log line or the CLI)."""
        return f"exported {self._words()}" + ("" if self.vectors else ", without vectors")


@dataclass
class ImportReport(_Report):
    """What :func:`import_user` wrote (fields as in :class:`ExportReport`).

    Attributes:
        embedded: memories the file had no vector for that the embedder embedded.
    """

    embedded: int = 0

    def summary(self) -> str:
        """What was imported, in words (for a log line or the CLI)."""
        embedded = f" ({self.embedded} embedded again)" if self.embedded else ""
        return f"imported {self._words()}{embedded} for user {self.user_id!r}"


# -- driving: one job, run by a sync or an async driver ------------------------------------------
#
# A job is a generator that yields steps and gets their results back: ("redis", plan) or
# ("weaviate", plan) run on the AgentMem's client of that backend, ("embed", texts) asks the
# embedder. The sync driver runs them on the sync clients, the async one natively on the async
# clients, so export and import are written once.

Step = tuple[str, Any]
Job = Generator[Step, Any, Any]


def _drive(mem: AgentMem, job: Job, embedder: Embedder | None = None) -> Any:
    result: Any = None
    error: AgentMemError | None = None
    while True:
        try:
            kind, arg = job.throw(error) if error is not None else job.send(result)
        except StopIteration as stop:
            return stop.value
        result, error = None, None
        try:
            if kind == "embed":
                assert embedder is not None
                result = embedder.embed_documents(arg)
            else:
                result = mem.run(arg, "redis" if kind == "redis" else "weaviate")
        except AgentMemError as exc:
            error = exc


async def _adrive(mem: AgentMem, job: Job, embedder: Embedder | None = None) -> Any:
    result: Any = None
    error: AgentMemError | None = None
    while True:
        try:
            kind, arg = job.throw(error) if error is not None else job.send(result)
        except StopIteration as stop:
            return stop.value
        result, error = None, None
        try:
            if kind == "embed":
                assert embedder is not None
                result = await embedder.aembed_documents(arg)
            else:
                result = await mem.arun(arg, "redis" if kind == "redis" else "weaviate")
        except AgentMemError as exc:
            error = exc


def _redis(plan: Plan[Any]) -> Generator[Step, Any, Any]:
    return (yield ("redis", plan))


def _weaviate(plan: Plan[Any]) -> Generator[Step, Any, Any]:
    return (yield ("weaviate", plan))


# -- the file ------------------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _Writer:
    """Writes lines and keeps the digests the closing line needs."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._sha = hashlib.sha256()
        self._lines: list[str] = []

    def line(self, obj: dict[str, Any]) -> None:
        text = _dumps(obj) + "\n"
        data = text.encode("utf-8")
        self._sha.update(data)
        self._lines.append(hashlib.sha256(data).hexdigest()[:_DIGEST])
        self._out.write(text)

    def end(self, counts: dict[str, int]) -> None:
        trailer = {"end": True, "counts": counts, "lines": self._lines}
        trailer["sha256"] = self._sha.hexdigest()
        self._out.write(_dumps(trailer) + "\n")
        self._out.flush()


@contextmanager
def _opened(file: File, mode: str) -> Iterator[IO[str]]:
    """``file`` opened (a path) or as given (a file object). A path written is written beside
    it first (``<name>.partial``) and renamed into place only when the export ends, so an
    export that fails leaves any earlier file at that path as it was."""
    if not isinstance(file, (str, os.PathLike)):
        yield file
        return
    if mode == "r":
        with open(file, encoding="utf-8", newline="\n") as f:
            yield f
        return
    partial = f"{os.fspath(file)}.partial"
    try:
        with open(partial, mode, encoding="utf-8", newline="\n") as f:
            yield f
        os.replace(partial, file)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


# -- export --------------------------------------------------------------------------------------


def _session_line(d: session_plans.SessionDump) -> dict[str, Any]:
    return {
        "kind": "session",
        "session_id": d.session_id,
        "title": d.title,
        "summary": d.summary,
        "created_at_ms": d.created_ms,
        "last_active_ms": d.last_active_ms,
        "expires_at_ms": d.expires_at_ms,
        "messages": [{"id": m.id, "data": m.data} for m in d.messages],
        "archived": [{"id": m.id, "data": m.data} for m in d.archived],
    }


def _thread_line(thread_id: str, d: checkpoint_plans.ThreadDump) -> dict[str, Any]:
    return {
        "kind": "thread",
        "thread_id": thread_id,
        "records": [_b64(b) for b in d.records],
        "writes": [_b64(b) for b in d.writes],
        "values": [_b64(b) for b in d.values],
        "ns_members": [_b64(b) for b in d.ns_members],
        "id_members": [_b64(b) for b in d.id_members],
        "expires_at_ms": d.expires_at_ms,
    }


def _run_line(d: run_plans.RunDump) -> dict[str, Any]:
    r = d.run
    return {
        "kind": "run",
        "workflow": r.workflow,
        "run_id": r.run_id,
        "status": r.status,
        "label": r.label,
        "error": r.error,
        "saved_at_ms": round(r.saved_at.timestamp() * 1000),
        "saves": r.saves,
        "expires_at_ms": d.expires_at_ms,
        "data": _b64(r.data or b""),
    }


def _memory_line(collection: str, r: MemoryRecord, vectors: bool) -> dict[str, Any]:
    line: dict[str, Any] = {
        "kind": "memory",
        "collection": collection,
        "id": r.id,
        "text": r.text,
        "metadata": dict(r.metadata),
        "extra": dict(r.extra),
        "ref_doc_id": r.ref_doc_id,
        "namespace": list(r.namespace) if r.namespace is not None else None,
        "expires_at": r.expires_at,
        "created_at": r.created_at.isoformat() if r.created_at is not None else None,
    }
    if vectors:
        line["vector"] = list(r.vector) if r.vector is not None else None
    return line


def _memory_page(
    t: Target, after: str | None, include_vector: bool
) -> Plan[tuple[list[MemoryRecord], str | None]]:
    """One page of every object of the tenant (Weaviate's cursor, which takes no filter; the
    tombstones of deleted memories are left out here)."""
    if (yield from locate(t)) is not None:
        return [], None
    found = yield from plans._read(
        t,
        "export.memories",
        lambda c: col(c, t).query.fetch_objects(
            limit=_PAGE, after=after, include_vector=include_vector, return_properties=RETURN
        ),
    )
    if found is None or not found.objects:
        return [], None
    records = [codec.decode(o, include_vector) for o in found.objects]
    alive = [r for r in records if r.created_at is None or r.created_at > TOMBSTONE_TIME]
    cursor = str(found.objects[-1].uuid) if len(found.objects) >= _PAGE else None
    return alive, cursor


def _export(
    mem: AgentMem, user_id: str, w: _Writer, vectors: bool, longterm: bool, progress: Progress
) -> Generator[Step, Any, ExportReport]:
    report = ExportReport(user_id, vectors=vectors)
    prefix = check_prefix(mem.key_prefix)
    checkpoints, runs = CheckpointStore(mem), RunStore(mem)
    sessions = SessionStore(mem, user_id=user_id)

    def tick() -> None:
        progress.tick(f"{sum(report.counts().values())} records")

    owned = yield from _redis(owners.owned(prefix, user_id))
    for item in owned:
        if item.kind == "thread":
            try:
                dumped = yield from _redis(
                    checkpoint_plans.dump_thread(checkpoints.config, item.id, user_id)
                )
            except OwnershipError:
                continue  # a stale link to another user's thread: not this user's data
            if dumped is not None:
                w.line(_thread_line(item.id, dumped))
                report.threads += 1
        else:
            run = yield from _redis(run_plans.dump(runs._cfg, item.workflow or "", item.id))
            if run is not None:
                w.line(_run_line(run))
                report.runs += 1
        tick()
    infos = yield from _redis(session_plans.list_sessions(sessions._cfg))
    for info in infos:
        session = yield from _redis(session_plans.dump(sessions._cfg, info.session_id))
        if session is not None:
            w.line(_session_line(session))
            report.sessions += 1
            report.messages += len(session.messages) + len(session.archived)
        tick()
    names = (yield from _weaviate(_holding(user_id))) if longterm else []
    for name in names:
        target = LongTermMemory(mem, tenant=user_id, collection=name)._target
        cursor: str | None = None
        first = True
        while first or cursor is not None:
            first = False
            page, cursor = yield from _weaviate(_memory_page(target, cursor, vectors))
            for record in page:
                w.line(_memory_line(name, record, vectors))
                report.memories += 1
                tick()
        report.collections.append(name)
    w.end(report.counts())
    return report


def _header(user_id: str, vectors: bool) -> dict[str, Any]:
    from agentmem import __version__

    return {
        "agentmem_export": FORMAT_VERSION,
        "agentmem_version": __version__,
        "user_id": user_id,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "vectors": vectors,
    }


def export_user(
    user_id: str,
    file: File,
    *,
    memory: AgentMem | None = None,
    vectors: bool = True,
    longterm: bool = True,
    progress: Progress | None = None,
) -> ExportReport:
    """Write everything agentmem keeps about ``user_id`` to ``file`` (JSON Lines).

    Args:
        user_id: the user.
        file: a path (written, replacing what is there) or a text file object (written to,
            left open).
        memory: the :class:`AgentMem` to use (``None``: one from ``AGENTMEM_*`` variables).
        vectors: write the memories' vectors (``False``: a smaller file; an import embeds again
            with the embedder it is given).
        longterm: also export the user's long-term memories; ``False`` leaves Weaviate alone
            (deployments that use only the Redis memories), as in ``forget_user``.
        progress: where to show progress (``None``: nowhere).

    Returns:
        An :class:`ExportReport`: what was written, counted by kind.
    """
    _check_user(user_id)
    mem = memory if memory is not None else AgentMem()
    shown = progress if progress is not None else Progress(quiet=True)
    try:
        with _opened(file, "w") as out:
            shown.begin(f"exporting the data of user {user_id!r}")
            w = _Writer(out)
            w.line(_header(user_id, vectors))
            report: ExportReport = _drive(mem, _export(mem, user_id, w, vectors, longterm, shown))
            shown.end(report.summary())
            return report
    finally:
        if memory is None:
            mem.close()


async def aexport_user(
    user_id: str,
    file: File,
    *,
    memory: AgentMem | None = None,
    vectors: bool = True,
    longterm: bool = True,
    progress: Progress | None = None,
) -> ExportReport:
    """Async twin of :func:`export_user` (the async clients; the file is written as it goes)."""
    _check_user(user_id)
    mem = memory if memory is not None else AgentMem()
    shown = progress if progress is not None else Progress(quiet=True)
    try:
        with _opened(file, "w") as out:
            shown.begin(f"exporting the data of user {user_id!r}")
            w = _Writer(out)
            w.line(_header(user_id, vectors))
            report: ExportReport = await _adrive(
                mem, _export(mem, user_id, w, vectors, longterm, shown)
            )
            shown.end(report.summary())
            return report
    finally:
        if memory is None:
            await mem.aclose()


def _check_user(user_id: object) -> None:
    """The check the stores make of a user id, before anything is opened."""
    encode_id(require_scope(user_id, "user_id", "export_user"), "user_id")


# -- reading and checking a file -----------------------------------------------------------------


@dataclass
class _Parsed:
    user_id: str
    vectors: bool
    sessions: list[session_plans.SessionDump] = field(default_factory=list)
    threads: list[tuple[str, checkpoint_plans.ThreadDump]] = field(default_factory=list)
    runs: list[run_plans.RunDump] = field(default_factory=list)
    memories: dict[str, list[MemoryRecord]] = field(default_factory=dict)


_AGAIN = "export the data again (agentmem export) and import the new file"


def _bad(line: int, what: str) -> ExportFileError:
    return ExportFileError(f"line {line} of the export file {what}; {_AGAIN}", line=line)


def _read_lines(src: IO[str]) -> list[str]:
    try:
        return list(src)
    except UnicodeDecodeError as exc:
        raise ExportFileError(
            f"the export file is not UTF-8 text ({exc.reason}); {_AGAIN}", line=None
        ) from exc


def _parse(lines: Sequence[str]) -> _Parsed:
    """Check the whole file; raise :class:`ExportFileError` naming the first bad line."""
    if not lines:
        raise ExportFileError(f"the export file is empty; {_AGAIN}", line=1)
    decoded: list[Any] = []
    broken: int | None = None
    for i, text in enumerate(lines, 1):
        try:
            decoded.append(json.loads(text))
        except ValueError:
            decoded.append(None)
            broken = broken or i
    last = decoded[-1]
    n = len(lines)
    if not (isinstance(last, dict) and last.get("end") is True) or not lines[-1].endswith("\n"):
        if broken is not None and broken < n:
            raise _bad(broken, "is not valid JSON (was it edited?)")
        if broken == n or not lines[-1].endswith("\n"):
            raise ExportFileError(
                f"the export file is truncated at line {n}: that line is cut short and the "
                f"closing line is missing; {_AGAIN}",
                line=n,
            )
        raise ExportFileError(
            f"the export file is truncated at line {n + 1}: it ends after line {n} without the "
            f"closing line an export writes last; {_AGAIN}",
            line=n + 1,
        )
    trailer = last
    digests = trailer.get("lines")
    if not isinstance(digests, list) or len(digests) != n - 1:
        raise _bad(n, "(the closing line) does not list one digest per line before it")
    sha = hashlib.sha256()
    for i, text in enumerate(lines[:-1], 1):
        data = text.encode("utf-8", "surrogatepass")
        sha.update(data)
        if hashlib.sha256(data).hexdigest()[:_DIGEST] != digests[i - 1]:
            if decoded[i - 1] is None:
                raise _bad(i, "is not valid JSON: it was edited or damaged after the export")
            raise ExportFileError(
                f"line {i} of the export file was edited after the export (it does not match "
                f"the digest the export wrote for it): undo the edit, or {_AGAIN}",
                line=i,
            )
    if sha.hexdigest() != trailer.get("sha256"):
        raise _bad(n, "(the closing line) has a SHA-256 that does not match the lines before it")
    if broken is not None:
        raise _bad(broken, "is not valid JSON (was it edited?)")
    parsed = _parse_header(decoded[0])
    counts = dict.fromkeys(KINDS, 0)
    for i, obj in enumerate(decoded[1:-1], 2):
        if not isinstance(obj, dict) or obj.get("kind") not in KINDS:
            kind = obj.get("kind") if isinstance(obj, dict) else None
            raise _bad(i, f"has an unknown kind of record {kind!r:.40}")
        _record(parsed, obj, i)
        counts[obj["kind"]] += 1
    if trailer.get("counts") != counts:
        raise _bad(
            n, f"(the closing line) counts {trailer.get('counts')!r:.200}, the file holds {counts}"
        )
    return parsed


def _parse_header(obj: Any) -> _Parsed:
    if not isinstance(obj, dict) or "agentmem_export" not in obj:
        raise ExportFileError(
            "line 1 of the file is not an agentmem export header: is it an export file? " + _AGAIN,
            line=1,
        )
    version = obj["agentmem_export"]
    if version != FORMAT_VERSION:
        raise ExportFileError(
            f"line 1: the file is in export format {version!r:.20}, this agentmem reads format "
            f"{FORMAT_VERSION}; import it with the agentmem version that wrote it "
            f"({obj.get('agentmem_version')!r:.40}) or a newer one",
            line=1,
        )
    user = obj.get("user_id")
    if not isinstance(user, str) or not user or not isinstance(obj.get("vectors"), bool):
        raise _bad(1, "(the header) lacks a user_id or the vectors flag")
    try:
        encode_id(user, "user_id")
    except AgentMemError as exc:
        raise _bad(1, f"(the header) has a user_id that cannot be stored: {exc}") from exc
    return _Parsed(user, obj["vectors"])


def _checked(plan: Plan[Any]) -> None:
    """Run a write plan up to its first call, which it yields without sending anything: a plan
    checks and encodes its whole input before that, so whatever it would refuse raises here."""
    try:
        next(plan)
    except StopIteration:
        pass
    finally:
        plan.close()


# Stand-in configurations for checking records as the stores' own write plans would.
_CHECK_PREFIX = "export-check"


_MISSING = object()


def _get(obj: dict[str, Any], key: str, kinds: type | tuple[type, ...], line: int) -> Any:
    value = obj.get(key, _MISSING)
    if (
        value is _MISSING
        or not isinstance(value, kinds)
        or isinstance(value, bool) != (kinds is bool)
    ):
        raise _bad(line, f"({obj.get('kind')}) lacks {key!r} or it has the wrong type")
    return value


def _opt(obj: dict[str, Any], key: str, kinds: type | tuple[type, ...], line: int) -> Any:
    return None if obj.get(key) is None else _get(obj, key, kinds, line)


def _bytes(values: Any, key: str, line: int) -> list[bytes]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _bad(line, f"(thread) lacks {key!r} or it is not a list of base64 strings")
    try:
        return [base64.b64decode(v, validate=True) for v in values]
    except (binascii.Error, ValueError):
        raise _bad(line, f"(thread) has {key!r} that is not base64") from None


def _messages(values: Any, key: str, line: int) -> list[SessionMessage]:
    if not isinstance(values, list):
        raise _bad(line, f"(session) lacks {key!r} or it is not a list")
    out = []
    for m in values:
        if not isinstance(m, dict) or not isinstance(m.get("id"), str) or not m["id"]:
            raise _bad(line, f"(session) has a message in {key!r} without an id")
        if not isinstance(m.get("data"), dict):
            raise _bad(line, f"(session) has message {m['id']!r:.40} whose data is not an object")
        out.append(SessionMessage(m["id"], _dumps(m["data"]).encode("utf-8")))
    return out


def _record(p: _Parsed, obj: dict[str, Any], line: int) -> None:
    kind = obj["kind"]
    try:
        if kind == "session":
            cfg = session_plans.SessionConfig(_CHECK_PREFIX, p.user_id)
            p.sessions.append(
                session_plans.SessionDump(
                    session_id=_get(obj, "session_id", str, line),
                    created_ms=_get(obj, "created_at_ms", int, line),
                    last_active_ms=_get(obj, "last_active_ms", int, line),
                    title=_opt(obj, "title", str, line),
                    summary=_opt(obj, "summary", str, line),
                    expires_at_ms=_opt(obj, "expires_at_ms", int, line),
                    messages=_messages(obj.get("messages"), "messages", line),
                    archived=_messages(obj.get("archived"), "archived", line),
                )
            )
            _checked(session_plans.restore(cfg, p.sessions[-1]))
        elif kind == "thread":
            parts = [
                _bytes(obj.get(k), k, line)
                for k in ("records", "writes", "values", "ns_members", "id_members")
            ]
            dump = checkpoint_plans.ThreadDump(
                parts[0], parts[1], parts[2], parts[3], parts[4],
                expires_at_ms=_opt(obj, "expires_at_ms", int, line),
            )  # fmt: skip
            p.threads.append((_get(obj, "thread_id", str, line), dump))
            store = checkpoint_plans.StoreConfig(prefix=_CHECK_PREFIX)
            _checked(checkpoint_plans.load_thread(store, p.threads[-1][0], dump, p.user_id))
        elif kind == "run":
            saved = run_plans.SavedRun(
                workflow=_get(obj, "workflow", str, line),
                run_id=_get(obj, "run_id", str, line),
                status=_get(obj, "status", str, line),
                label=_get(obj, "label", str, line),
                saved_at=datetime.fromtimestamp(
                    _get(obj, "saved_at_ms", int, line) / 1000, tz=timezone.utc
                ),
                saves=_get(obj, "saves", int, line),
                error=_get(obj, "error", str, line),
                data=_bytes([_get(obj, "data", str, line)], "data", line)[0],
            )
            p.runs.append(run_plans.RunDump(saved, _opt(obj, "expires_at_ms", int, line)))
            _checked(run_plans.restore(run_plans.RunConfig(_CHECK_PREFIX), p.runs[-1]))
        else:
            created = _opt(obj, "created_at", str, line)
            vector = _opt(obj, "vector", list, line)
            namespace = _opt(obj, "namespace", list, line)
            record = MemoryRecord(
                text=_get(obj, "text", str, line),
                metadata=_get(obj, "metadata", dict, line),
                id=_get(obj, "id", str, line),
                vector=vector,
                ref_doc_id=_opt(obj, "ref_doc_id", str, line),
                extra=_get(obj, "extra", dict, line),
                created_at=datetime.fromisoformat(created) if created else None,
                namespace=tuple(namespace) if namespace is not None else None,
                expires_at=_opt(obj, "expires_at", (int, float), line),
            )
            codec.prepare([replace(record, created_at=None)])  # the checks of a write
            collection = _get(obj, "collection", str, line)
            check_collection(collection)
            p.memories.setdefault(collection, []).append(record)
    except ExportFileError:
        raise
    except (AgentMemError, ValueError, TypeError) as exc:
        raise _bad(line, f"({kind}) cannot be imported: {exc}") from exc


# -- import --------------------------------------------------------------------------------------


def _import(
    mem: AgentMem, p: _Parsed, embedder: Embedder | None, progress: Progress
) -> Generator[Step, Any, ImportReport]:
    report = ImportReport(p.user_id)
    prefix = check_prefix(mem.key_prefix)
    checkpoints, runs = CheckpointStore(mem), RunStore(mem)
    sessions = SessionStore(mem, user_id=p.user_id, max_message_bytes=1 << 30)
    user = p.user_id

    def tick() -> None:
        progress.tick(f"{sum(report.counts().values())} records")

    # Another user's thread under one of the ids refuses before anything is written.
    for thread_id, _ in p.threads:
        yield from _redis(checkpoint_plans.get(checkpoints.config, thread_id, "", None, user))
    for run in p.runs:
        item = owners.Owned("run", run.run.run_id, run.run.workflow)
        # Linked first, as saves do, for as long as the run lives (or for good).
        yield from _redis(owners.link(prefix, user, [item], _left(run.expires_at_ms)))
        yield from _redis(run_plans.restore(runs._cfg, run))
        report.runs += 1
        tick()
    for thread_id, dump in p.threads:
        yield from _redis(checkpoint_plans.load_thread(checkpoints.config, thread_id, dump, user))
        report.threads += 1
        tick()
    for session in p.sessions:
        yield from _redis(session_plans.restore(sessions._cfg, session))
        report.sessions += 1
        report.messages += len(session.messages) + len(session.archived)
        tick()
    for name, records in p.memories.items():
        memory = LongTermMemory(mem, tenant=user, collection=name)
        yield from _weaviate(plans.setup(memory._target))
        prepared = codec.prepare([replace(r, created_at=None) for r in records])
        for obj, record in zip(prepared, records, strict=True):
            if record.created_at is not None:
                obj.properties["created_at"] = record.created_at
        todo = [i for i, o in enumerate(prepared) if o.vector is None] if embedder else []
        vectors: list[list[float]] = []
        if todo:
            vectors = yield ("embed", [prepared[i].properties["text"] for i in todo])
            report.embedded += len(todo)
        prepared = codec.attach(prepared, todo, vectors)
        yield from _weaviate(plans.add(memory._target, codec.batches(prepared)))
        report.memories += len(records)
        report.collections.append(name)
        tick()
    return report


def _left(expires_at_ms: int | None) -> int:
    """Milliseconds until ``expires_at_ms`` (at least 1), or 0 for no expiry."""
    if expires_at_ms is None:
        return 0
    return max(1, expires_at_ms - int(time.time() * 1000))


def _load(file: File) -> _Parsed:
    with _opened(file, "r") as src:
        return _parse(_read_lines(src))


def import_user(
    file: File,
    *,
    memory: AgentMem | None = None,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> ImportReport:
    """Write the data of an export file back: sessions, threads, runs, long-term memories.

    The whole file is checked first; nothing is written unless all of it is sound. Records keep
    their ids; one already there under the same id is replaced by the exported one (a memory
    object is overwritten), and nothing else is deleted, so a second import changes nothing.

    Args:
        file: a path or a text file object (read to its end).
        memory: the :class:`AgentMem` to write to (``None``: one from ``AGENTMEM_*``
            variables); another deployment than the export's is fine.
        progress: where to show progress (``None``: nowhere).
        embedder: embeds memories the file has no vector for (an export with
            ``vectors=False``); without one they are stored for BM25 search only.

    Returns:
        An :class:`ImportReport`: what was written, counted by kind.

    Raises:
        ExportFileError: the file is truncated, edited or not an export; nothing was written.
        OwnershipError: a thread of the file belongs to another user in the target; nothing
            was written.
        PartialWriteError: Weaviate stored some memories of a batch and not others (the error
            names them; importing the file again writes the rest).
    """
    parsed = _load(file)
    mem = memory if memory is not None else AgentMem()
    shown = progress if progress is not None else Progress(quiet=True)
    try:
        shown.begin(f"importing the data of user {parsed.user_id!r}")
        report: ImportReport = _drive(mem, _import(mem, parsed, embedder, shown), embedder)
        shown.end(report.summary())
        return report
    finally:
        if memory is None:
            mem.close()


async def aimport_user(
    file: File,
    *,
    memory: AgentMem | None = None,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> ImportReport:
    """Async twin of :func:`import_user` (the async clients and ``aembed_documents``)."""
    parsed = _load(file)
    mem = memory if memory is not None else AgentMem()
    shown = progress if progress is not None else Progress(quiet=True)
    try:
        shown.begin(f"importing the data of user {parsed.user_id!r}")
        job = _import(mem, parsed, embedder, shown)
        report: ImportReport = await _adrive(mem, job, embedder)
        shown.end(report.summary())
        return report
    finally:
        if memory is None:
            await mem.aclose()
