"""``agentmem`` subcommands that look inside memory without writing code, and ``forget``.

They connect like the library does: ``AGENTMEM_*`` environment variables, or the local default.
Checkpoint values are shown as stored: JSON as is, msgpack decoded when ``ormsgpack`` is installed
(LangGraph installs it; objects appear as ``{"type": "module.Class", "value": ...}``), anything
else (encrypted values, say) as its tag and size.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from agentmem._progress import Progress
from agentmem.checkpoints import CheckpointStore, Typed
from agentmem.config import AgentMemSettings
from agentmem.consolidation import Consolidator
from agentmem.core import AgentMem
from agentmem.doctor import diagnose, report
from agentmem.errors import AuthenticationFailed, BackendUnavailable, InvalidInputError, NotFound
from agentmem.export import export_user, import_user
from agentmem.facts import DEFAULT_FACTS_COLLECTION
from agentmem.forget import forget_user
from agentmem.longterm import DEFAULT_COLLECTION, LongTermMemory
from agentmem.runs import RunStore
from agentmem.sessions import SessionStore

__all__ = ["COMMANDS", "add_commands", "run"]

COMMANDS = (
    "sessions", "session", "threads", "checkpoints", "checkpoint", "runs", "search", "facts",
    "worker", "forget", "export", "import", "doctor",
)  # fmt: skip


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register the memory subcommands on an ``argparse`` subparsers object; ``common`` holds
    the local default's options (``--home`` and the ports), shared with ``agentmem up``."""
    real_add = commands.add_parser

    def add_parser(name: str, **kwargs: Any) -> Any:
        return real_add(name, parents=[common], **kwargs)

    commands.add_parser = add_parser
    sessions = commands.add_parser("sessions", help="list a user's chat sessions, newest first")
    sessions.add_argument("--user", required=True)
    sessions.add_argument("--limit", type=int, default=50)
    session = commands.add_parser("session", help="print the messages of one session")
    session.add_argument("--user", required=True)
    session.add_argument("session_id")
    session.add_argument("--archived", action="store_true", help="print the archived messages")
    threads = commands.add_parser("threads", help="list LangGraph threads (all, or a user's)")
    threads.add_argument("--user", help="only the threads linked to this user")
    checkpoints = commands.add_parser("checkpoints", help="list a thread's checkpoints")
    checkpoints.add_argument("thread_id")
    checkpoints.add_argument("--limit", type=int, default=20)
    checkpoint = commands.add_parser("checkpoint", help="show one checkpoint (default: newest)")
    checkpoint.add_argument("thread_id")
    checkpoint.add_argument("checkpoint_id", nargs="?")
    checkpoint.add_argument("--ns", default="", help="checkpoint namespace (default: root)")
    runs = commands.add_parser("runs", help="list saved workflow runs of a workflow or a user")
    which = runs.add_mutually_exclusive_group(required=True)
    which.add_argument("--workflow")
    which.add_argument("--user")
    search = commands.add_parser("search", help="search a tenant's long-term memory (BM25)")
    search.add_argument("--tenant", required=True)
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5)
    search.add_argument("--collection", default=DEFAULT_COLLECTION)
    facts = commands.add_parser(
        "facts", help="list a user's formed facts (current; --history with validity; --parked)"
    )
    facts.add_argument("--user", required=True)
    facts.add_argument("--history", action="store_true",
                       help="every version, with when it held and what replaced it")  # fmt: skip
    facts.add_argument("--parked", action="store_true",
                       help="batches consolidation gave up on, with the reason")  # fmt: skip
    facts.add_argument("--collection", default=DEFAULT_FACTS_COLLECTION)
    worker = commands.add_parser(
        "worker", help="consolidate queued turns into facts until stopped (Ctrl-C)"
    )
    worker.add_argument("--extractor", required=True, metavar="MODULE:NAME",
                        help="the model: a FactExtractor, or a callable that returns one "
                        "(e.g. myapp.memory:extractor)")  # fmt: skip
    worker.add_argument("--embedder", metavar="MODULE:NAME",
                        help="embeds facts (an object, or a callable returning one)")  # fmt: skip
    worker.add_argument("--collection", default=DEFAULT_FACTS_COLLECTION)
    worker.add_argument("--interval", type=float, default=1.0,
                        help="seconds between looks at the queue (default: %(default)s)")  # fmt: skip
    worker.add_argument("--once", action="store_true", help="consolidate what is queued, then exit")
    commands.add_parser(
        "doctor", help="check the configured servers and say what to fix (exit 0: nothing to fix)"
    )
    forget = commands.add_parser("forget", help="delete a user's data in every memory")
    forget.add_argument("--user", required=True)
    forget.add_argument("--thread", action="append", default=[],
                        help="also delete this thread, run without a user_id (repeatable)")  # fmt: skip
    forget.add_argument("--redis-only", action="store_true",
                        help="leave Weaviate alone (deployments without long-term memory)")  # fmt: skip
    forget.add_argument("--yes", action="store_true", help="do it (without it: say what would go)")
    export = commands.add_parser(
        "export", help="write a user's data in every memory to a JSON Lines file"
    )
    export.add_argument("--user", required=True)
    export.add_argument("-o", "--output", metavar="FILE",
                        help="the file to write (default: stdout)")  # fmt: skip
    export.add_argument("--no-vectors", action="store_true",
                        help="leave the memories' vectors out (an import embeds again)")  # fmt: skip
    export.add_argument("--redis-only", action="store_true",
                        help="leave Weaviate alone (deployments without long-term memory)")  # fmt: skip
    load = commands.add_parser(
        "import", help="write the data of an export file (checked first) into memory"
    )
    load.add_argument("file", help="a file written by 'agentmem export'")
    load.add_argument("--embedder", metavar="MODULE:NAME",
                      help="embeds memories exported without vectors")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run one memory subcommand; return the exit code.

    Only ``forget`` and ``import`` may start the local default: a command that only reads never starts a
    server (nor creates a tenant or collection); against a stopped local default it says how to
    start it instead.
    """
    settings = AgentMemSettings.from_env()
    settings = replace(settings, local=replace(
        settings.local, home=args.home, redis_port=args.redis_port,
        weaviate_port=args.weaviate_port, weaviate_grpc_port=args.grpc_port,
    ))  # fmt: skip
    local = settings.redis.url is None or settings.weaviate.url is None
    writes = args.command in ("forget", "import")
    if not writes:
        settings = replace(settings, local=replace(settings.local, autostart=False))
    if args.command == "doctor":
        return report(diagnose(settings))
    try:
        return _run(args, settings)
    except BackendUnavailable as exc:
        if not local or writes or isinstance(exc, AuthenticationFailed):
            raise
        raise BackendUnavailable(
            f"{exc} Reads never start the local default: `agentmem up` starts it.",
            backend=exc.backend,
        ) from exc


def _run(args: argparse.Namespace, settings: AgentMemSettings) -> int:
    with AgentMem(settings) as mem:
        if args.command == "sessions":
            infos = SessionStore(mem, user_id=args.user).list_sessions(limit=args.limit)
            for info in infos:
                title = f"  {info.title!r}" if info.title else ""
                print(f"{info.session_id}\t{info.message_count} messages\t"
                      f"last active {info.last_active:%Y-%m-%d %H:%M:%S}{title}")  # fmt: skip
            _none(infos, f"no chat sessions for user {args.user!r}")
        elif args.command == "session":
            store = SessionStore(mem, user_id=args.user)
            messages = store.read(args.session_id, archived=args.archived)
            for message in messages:
                print(json.dumps(message.data, ensure_ascii=False))
            _none(messages, f"no {'archived ' if args.archived else ''}messages in session "
                  f"{args.session_id!r} of user {args.user!r}")  # fmt: skip
        elif args.command == "threads":
            threads = CheckpointStore(mem).threads(user_id=args.user)
            for thread in threads:
                print(thread)
            _none(
                threads, "no LangGraph threads" + (f" for user {args.user!r}" if args.user else "")
            )
        elif args.command == "checkpoints":
            n = -1
            for n, record in enumerate(CheckpointStore(mem).list(args.thread_id)):
                if n >= args.limit:
                    break
                values, writes = len(record.values), len(record.writes)
                print(f"{record.checkpoint_id}\tns={record.ns!r}\tparent={record.parent_id}\t"
                      f"{values} channel values\t{writes} pending writes")  # fmt: skip
            _none(range(n + 1), f"no checkpoints in thread {args.thread_id!r}")
        elif args.command == "checkpoint":
            _show_checkpoint(mem, args)
        elif args.command == "runs":
            runs = RunStore(mem)
            found = runs.user_runs(args.user) if args.user else runs.list_runs(args.workflow)
            for saved in found:
                print(f"{saved.workflow}\t{saved.run_id}\t{saved.status}\t{saved.label}\t"
                      f"saved {saved.saves}x, last {saved.saved_at:%Y-%m-%d %H:%M:%S}")  # fmt: skip
            whose = f"user {args.user!r}" if args.user else f"workflow {args.workflow!r}"
            _none(found, f"no saved workflow runs of {whose}")
        elif args.command == "search":
            memory = LongTermMemory(mem, tenant=args.tenant, collection=args.collection)
            missing = memory.missing()  # a read creates nothing: say so rather than print nothing
            if missing is not None:
                raise NotFound(missing)
            hits = memory.search(args.query, k=args.k, mode="bm25")
            for hit in hits:
                print(f"{hit.relevance:.3f}\t{hit.record.id}\t{hit.record.text}")
            _none(hits, f"nothing in tenant {args.tenant!r} matches {args.query!r}")
        elif args.command == "facts":
            _facts(mem, args)
        elif args.command == "worker":
            return _worker(mem, args)
        elif args.command == "export":
            return _export(mem, args)
        elif args.command == "import":
            embedder = _load(args.embedder, "embedder") if args.embedder else None
            loaded = import_user(args.file, memory=mem, progress=Progress(), embedder=embedder)
            print(loaded.summary())
        else:
            return _forget(mem, args)
    return 0


def _none(items: Any, message: str) -> None:
    """Say so when a listing is empty (an empty output looks like a failure)."""
    if not len(items):
        print(message)


def _when(seconds: float | None) -> str:
    return "now" if seconds is None else f"{datetime.fromtimestamp(seconds):%Y-%m-%d %H:%M:%S}"


def _facts(mem: AgentMem, args: argparse.Namespace) -> None:
    consolidator = Consolidator(mem, collection=args.collection)
    if args.parked:
        parked = consolidator.parked(args.user)
        for batch_id, entry in sorted(parked.items(), key=lambda kv: kv[1].get("at", 0)):
            print(f"{batch_id}\tparked {_when(entry.get('at'))}\t{entry.get('reason')}")
        if not parked:
            print(f"no parked batches for user {args.user!r}")
        return
    facts = consolidator.facts(args.user)
    shown = facts.history() if args.history else facts.current()
    for f in shown:
        line = f"{f.id}\t{f.text}"
        if args.history:
            ended = "current" if f.invalid_at is None else "invalidated"
            by = f", replaced by {f.superseded_by}" if f.superseded_by else ""
            line += f"\t{ended}: {_when(f.valid_from)} .. {_when(f.invalid_at)}{by}"
        print(line)
    if not shown:
        print(f"no facts for user {args.user!r} in {args.collection}")


def _load(spec: str, what: str) -> Any:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise InvalidInputError(f"--{what} takes MODULE:NAME, got {spec!r}")
    target = getattr(importlib.import_module(module), name)
    return target() if callable(target) and not hasattr(target, "extract") else target


def _worker(mem: AgentMem, args: argparse.Namespace) -> int:
    embedder = _load(args.embedder, "embedder") if args.embedder else None
    extractor = _load(args.extractor, "extractor")
    with Consolidator(
        mem, extractor=extractor, embedder=embedder, collection=args.collection
    ) as consolidator:
        if args.once:
            report = consolidator.run_pending()
            print(f"consolidated {report.batches} batches ({report.facts} facts written), "
                  f"{report.duplicates} duplicates, {report.retried} to retry, "
                  f"{report.parked} parked")  # fmt: skip
            return 0 if not report.errors else 4
        print(f"agentmem worker: consolidating into {args.collection}; Ctrl-C stops", flush=True)
        try:
            while True:
                report = consolidator.run_pending()
                if report.batches or report.parked or report.retried:
                    print(f"{report.batches} batches, {report.facts} facts, "
                          f"{report.retried} to retry, {report.parked} parked", flush=True)  # fmt: skip
                time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0


def _show_checkpoint(mem: AgentMem, args: argparse.Namespace) -> None:
    record = CheckpointStore(mem).get(args.thread_id, args.ns, args.checkpoint_id)
    if record is None:
        raise NotFound(
            f"no checkpoint {args.checkpoint_id or '(newest)'} in thread {args.thread_id!r} "
            f"namespace {args.ns!r}; 'agentmem checkpoints {args.thread_id}' lists them"
        )
    shown = {
        "thread_id": record.thread_id,
        "checkpoint_ns": record.ns,
        "checkpoint_id": record.checkpoint_id,
        "parent_id": record.parent_id,
        "metadata": _readable(record.metadata),
        "channel_values": {name: _readable(v) for name, v in sorted(record.values.items())},
        "pending_writes": [
            {"task_id": w.task_id, "channel": w.channel, "value": _readable(w.value)}
            for w in record.writes
        ],
    }
    print(json.dumps(shown, ensure_ascii=False, indent=2, default=repr))


def _readable(value: Typed) -> Any:
    """A stored value as JSON-able data where its tag says how to read it."""
    try:
        if value.tag == "json":
            return json.loads(value.data)
        if value.tag == "msgpack":
            ormsgpack = importlib.import_module("ormsgpack")

            def ext(code: int, data: bytes) -> Any:
                inner = ormsgpack.unpackb(data, ext_hook=ext)
                if isinstance(inner, list) and len(inner) >= 3 and isinstance(inner[1], str):
                    return {"type": f"{inner[0]}.{inner[1]}", "value": inner[2]}  # a class
                return {"ext": code, "value": inner}

            return ormsgpack.unpackb(value.data, ext_hook=ext)
        if value.tag == "null":
            return None
    except Exception:  # not decodable here: fall through to the tag and size
        pass
    return f"<{value.tag}, {len(value.data)} bytes>"


def _export(mem: AgentMem, args: argparse.Namespace) -> int:
    """To ``-o FILE`` (progress and summary on stderr and stdout), or to stdout: then the summary
    goes to stderr, and progress too if stderr is a terminal."""
    vectors, longterm = not args.no_vectors, not args.redis_only
    if args.output:
        report = export_user(args.user, args.output, memory=mem, vectors=vectors,
                             longterm=longterm, progress=Progress())  # fmt: skip
        print(report.summary())
        return 0
    progress = Progress() if sys.stderr.isatty() else None
    report = export_user(args.user, sys.stdout, memory=mem, vectors=vectors, longterm=longterm,
                         progress=progress)  # fmt: skip
    print(report.summary(), file=sys.stderr)
    return 0


def _forget(mem: AgentMem, args: argparse.Namespace) -> int:
    if not args.yes:
        sessions = SessionStore(mem, user_id=args.user).list_sessions()
        threads = [*CheckpointStore(mem).threads(user_id=args.user), *args.thread]
        runs = RunStore(mem).user_runs(args.user)
        print(f"would delete for user {args.user!r}: {len(sessions)} chat sessions, "
              f"{len(threads)} LangGraph threads, {len(runs)} saved workflow runs, and their "
              "tenant in every agentmem Weaviate collection (add --yes to delete)")  # fmt: skip
        return 0
    report = forget_user(args.user, memory=mem, threads=args.thread, longterm=not args.redis_only)
    print(f"deleted for user {args.user!r}: {report.summary()}")
    return 0
