"""``agentmem`` subcommands that look inside memory without writing code, and ``forget``.

They connect like the library does: ``AGENTMEM_*`` environment variables, or the local default.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from agentmem.checkpoints import CheckpointStore
from agentmem.core import AgentMem
from agentmem.longterm import DEFAULT_COLLECTION, LongTermMemory
from agentmem.sessions import SessionStore

__all__ = ["add_commands", "run"]

COMMANDS = ("sessions", "session", "threads", "checkpoints", "search", "forget")
# The LangGraph store keeps its memories in a collection of its own (see langchain_agentmem.store).
_STORE_COLLECTION = "AgentMemStore"


def add_commands(commands: Any) -> None:
    """Register the memory subcommands on an ``argparse`` subparsers object."""
    sessions = commands.add_parser("sessions", help="list a user's chat sessions, newest first")
    sessions.add_argument("--user", required=True)
    sessions.add_argument("--limit", type=int, default=50)
    session = commands.add_parser("session", help="print the messages of one session")
    session.add_argument("--user", required=True)
    session.add_argument("session_id")
    session.add_argument("--archived", action="store_true", help="print the archived messages")
    commands.add_parser("threads", help="list the LangGraph threads that have checkpoints")
    checkpoints = commands.add_parser("checkpoints", help="list a thread's checkpoints")
    checkpoints.add_argument("thread_id")
    checkpoints.add_argument("--limit", type=int, default=20)
    search = commands.add_parser("search", help="search a tenant's long-term memory (BM25)")
    search.add_argument("--tenant", required=True)
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5)
    search.add_argument("--collection", default=DEFAULT_COLLECTION)
    forget = commands.add_parser("forget", help="delete a user's data everywhere")
    forget.add_argument("--user", required=True)
    forget.add_argument("--thread", action="append", default=[],
                        help="also delete this LangGraph thread (repeatable)")  # fmt: skip
    forget.add_argument("--yes", action="store_true", help="do it (without it: say what would go)")


def run(args: argparse.Namespace) -> int:
    """Run one memory subcommand; return the exit code."""
    with AgentMem() as mem:
        if args.command == "sessions":
            for info in SessionStore(mem, user_id=args.user).list_sessions(limit=args.limit):
                title = f"  {info.title!r}" if info.title else ""
                print(f"{info.session_id}\t{info.message_count} messages\t"
                      f"last active {info.last_active:%Y-%m-%d %H:%M:%S}{title}")  # fmt: skip
        elif args.command == "session":
            store = SessionStore(mem, user_id=args.user)
            for message in store.read(args.session_id, archived=args.archived):
                print(json.dumps(message.data, ensure_ascii=False))
        elif args.command == "threads":
            for thread in CheckpointStore(mem).threads():
                print(thread)
        elif args.command == "checkpoints":
            for n, record in enumerate(CheckpointStore(mem).iter(args.thread_id)):
                if n >= args.limit:
                    break
                values, writes = len(record.values), len(record.writes)
                print(f"{record.checkpoint_id}\tns={record.ns!r}\tparent={record.parent_id}\t"
                      f"{values} channel values\t{writes} pending writes")  # fmt: skip
        elif args.command == "search":
            memory = LongTermMemory(mem, tenant=args.tenant, collection=args.collection)
            for hit in memory.search(args.query, k=args.k, mode="bm25"):
                print(f"{hit.relevance:.3f}\t{hit.record.id}\t{hit.record.text}")
        else:
            return _forget(mem, args)
    return 0


def _forget(mem: AgentMem, args: argparse.Namespace) -> int:
    sessions = SessionStore(mem, user_id=args.user)
    found = [info.session_id for info in sessions.list_sessions()]
    plan = [f"{len(found)} chat sessions of {args.user!r}",
            f"long-term memories of tenant {args.user!r} (collections {DEFAULT_COLLECTION}, "
            f"{_STORE_COLLECTION})",
            *[f"LangGraph thread {t!r}" for t in args.thread]]  # fmt: skip
    if not args.yes:
        print("would delete: " + "; ".join(plan) + " (add --yes to delete)")
        return 0
    for session_id in found:
        sessions.clear(session_id)
    client = mem.weaviate()
    for collection in (DEFAULT_COLLECTION, _STORE_COLLECTION):
        if client.collections.exists(collection):
            LongTermMemory(mem, tenant=args.user, collection=collection).drop_tenant()
    checkpoints = CheckpointStore(mem)
    for thread in args.thread:
        checkpoints.delete_thread(thread)
    print("deleted: " + "; ".join(plan))
    return 0
