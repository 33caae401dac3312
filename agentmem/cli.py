"""The ``agentmem`` command: ``up``, ``status``, ``down`` and ``install`` for the local default
servers; ``sessions``, ``session``, ``threads``, ``checkpoints``, ``search`` and ``facts`` to look
inside memory; ``forget``, ``export`` and ``import`` for a user's data; ``worker`` to consolidate
queued turns into facts (see ``agentmem._cli_memory``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from agentmem import __version__
from agentmem._cli_memory import COMMANDS, add_commands, run
from agentmem._progress import Progress
from agentmem.config import AgentMemSettings
from agentmem.errors import AgentMemError
from agentmem.local import (
    WEAVIATE_VERSION,
    LocalStack,
    ServerStatus,
    default_stack,
    find_redis_binary,
    find_weaviate_binary,
)

__all__ = ["main"]

_DESCRIPTION = (
    "Long-term, session and workflow memory for agents. The local default servers: up, status, "
    "down, install. Inside memory: sessions, session, threads, checkpoints, checkpoint, runs, "
    "search, facts. Memory that forms itself: worker. A user's data: forget, export, import. "
    "What to fix: doctor. Connection settings come from AGENTMEM_* environment variables (or the local "
    "default, with the same --home and port options as 'up')."
)


def _parser() -> argparse.ArgumentParser:
    local = AgentMemSettings.from_env().local
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        type=Path,
        default=local.home,
        help="data folder of the local servers (default: %(default)s)",
    )
    common.add_argument("--redis-port", type=int, default=local.redis_port)
    common.add_argument("--weaviate-port", type=int, default=local.weaviate_port)
    common.add_argument("--grpc-port", type=int, default=local.weaviate_grpc_port)
    parser = argparse.ArgumentParser(prog="agentmem", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"agentmem {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser(
        "up", parents=[common], help="start the local Weaviate and Redis and wait for them"
    )
    up.add_argument(
        "--only",
        choices=["redis", "weaviate"],
        action="append",
        help="start only this server (repeatable)",
    )
    up.add_argument(
        "--quiet",
        action="store_true",
        help="no status table on stdout (what is starting is still said on stderr)",
    )
    commands.add_parser(
        "status", parents=[common], help="show whether the local servers run and answer"
    )
    commands.add_parser("down", parents=[common], help="stop the local servers (their data stays)")
    install = commands.add_parser(
        "install", parents=[common], help="find, build or download the server binaries (cached)"
    )
    install.add_argument(
        "--weaviate-version",
        default=WEAVIATE_VERSION,
        metavar="X.Y.Z",
        help="which Weaviate (default: the pinned %(default)s); another version is built with Go "
        "or downloaded into a cache folder of its own, e.g. the oldest supported one for tests",
    )
    install.add_argument(
        "--path-only",
        action="store_true",
        help="print only the Weaviate binary's path (for scripts); Redis is not looked for",
    )
    add_commands(commands, common)
    return parser


def _print(statuses: Sequence[ServerStatus]) -> None:
    for status in statuses:
        state = "up" if status.answering else "down"
        pid = f" (pid {status.pid})" if status.pid else ""
        print(f"{status.name:<9} {state:<5} {status.url}{pid}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    try:
        parser = _parser()  # its defaults come from AGENTMEM_* variables, which may be malformed
    except AgentMemError as exc:
        print(f"agentmem: {exc}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    try:
        code = _main(args)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at exit
        return code
    except BrokenPipeError:  # `agentmem checkpoint T | head`: the reader left; end quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(args: argparse.Namespace) -> int:
    if args.command in COMMANDS:
        try:
            return run(args)
        except AgentMemError as exc:
            print(f"agentmem: {exc}", file=sys.stderr)
            return 1
    stack: LocalStack = default_stack(
        args.home, args.redis_port, args.weaviate_port, args.grpc_port
    )
    try:
        if args.command == "up":
            statuses = stack.up(only=args.only or ("redis", "weaviate"), progress=Progress())
            if not args.quiet:
                _print(statuses)
                print(f"data: {stack.home / 'data'}")
        elif args.command == "status":
            statuses = stack.status()
            _print(statuses)
            return 0 if all(s.answering for s in statuses) else 3
        elif args.command == "install":
            weaviate = find_weaviate_binary(version=args.weaviate_version)
            if args.path_only:
                print(weaviate)
            else:
                print(f"redis-server: {find_redis_binary()}")
                print(f"weaviate:     {weaviate}")
        else:
            stopped = stack.down()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    except AgentMemError as exc:
        print(f"agentmem: {exc}", file=sys.stderr)
        return 1
    return 0
