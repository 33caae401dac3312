"""Session memory: agentmem against LangChain's and LlamaIndex's own Redis chat histories.

One fresh Redis (started with agentmem.local.LocalStack on free loopback ports) serves every
system in the same run. For each system:

* append: 200 turns of 10 messages each (a turn of an agent with tool calls), sliding TTL of one
  hour on; median wall time of one turn;
* read: a 1,000-message session read back 30 times; median wall time of one read;
* round trips: writes to the socket per append turn, counted by a redis-py Connection subclass
  given to every system's client (a pipeline or a script counts once).

LlamaIndex's ``BaseChatStore`` has no bulk append, so both LlamaIndex stores add the 10 messages
one ``add_message`` at a time (what ``ChatMemoryBuffer.put`` does); agentmem's ``Memory`` store
(``AgentMemDBChatStore.add_messages``) shows the bulk path. Ratios compare each system with the
agentmem adapter for the same framework.

Run: ``.venv/bin/python bench/bench_sessions.py`` (about 30 seconds).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aredis
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.storage.chat_store.redis import RedisChatStore

from agentmem import AgentMem, AgentMemSettings, LocalSettings, RedisSettings
from agentmem.local import LocalStack, WeaviatePorts, free_port
from langchain_agentmem import AgentMemChatMessageHistory
from llamaindex_agentmem import AgentMemChatStore, AgentMemDBChatStore

with warnings.catch_warnings():  # the peer announces its own sunset on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.chat_message_histories import RedisChatMessageHistory

TURNS = 200
PER_TURN = 10
READ_SIZE = 1_000
READS = 30
TTL = 3600


SENDS = [0]  # writes to the socket by every counted connection, sync or async


class CountingConnection(redis.Connection):
    """A redis-py connection that counts its writes to the socket (one per round trip)."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        SENDS[0] += 1
        super().send_packed_command(command, check_health)


class AsyncCountingConnection(aredis.Connection):
    """The asyncio twin of :class:`CountingConnection`."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        SENDS[0] += 1
        await super().send_packed_command(command, check_health)


def lc_turn(turn: int) -> list[BaseMessage]:
    text = f"turn {turn}: " + "some words of a realistic length " * 5
    out: list[BaseMessage] = [HumanMessage(text)]
    for i in range(4):
        call = {"name": "search", "args": {"q": f"{turn}-{i}"}, "id": f"c{turn}-{i}"}
        out.append(AIMessage("", tool_calls=[call]))
        out.append(ToolMessage(text, tool_call_id=call["id"]))
    out.append(
        AIMessage(text, usage_metadata={"input_tokens": 9, "output_tokens": 9, "total_tokens": 18})
    )
    return out


def li_turn(turn: int) -> list[ChatMessage]:
    text = f"turn {turn}: " + "some words of a realistic length " * 5
    roles = (
        [MessageRole.USER] + [MessageRole.ASSISTANT, MessageRole.TOOL] * 4 + [MessageRole.ASSISTANT]
    )
    return [ChatMessage(role=role, content=text) for role in roles]


@dataclass
class System:
    name: str
    framework: str
    append: Callable[[str, int], None]  # (session, turn)
    read: Callable[[str], int]  # returns the number of messages read


_VERSION: list[str] = []
_BORROWED: list[Any] = []  # connection pools the benchmark created and must close itself


def redis_version() -> str:
    """The server version, read once while the server runs."""
    return _VERSION[0] if _VERSION else ""


def median_ms(run: Callable[[], Any], times: int) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def measure(system: System) -> dict[str, float]:
    session = f"bench-{uuid.uuid4().hex[:8]}"
    samples, sends = [], []
    for turn in range(TURNS):
        before = SENDS[0]
        start = time.perf_counter()
        system.append(session, turn)
        samples.append((time.perf_counter() - start) * 1000)
        sends.append(SENDS[0] - before)
    big = f"read-{uuid.uuid4().hex[:8]}"
    for turn in range(READ_SIZE // PER_TURN):
        system.append(big, turn)
    assert system.read(big) == READ_SIZE, system.name
    return {
        "append": statistics.median(samples),
        "rtt": statistics.median(sends),
        "read": median_ms(lambda: system.read(big), READS),
    }


def systems(
    url: str, prefix: str, loop: asyncio.AbstractEventLoop
) -> tuple[list[System], AgentMem]:
    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection)
    client = redis.Redis(connection_pool=pool)
    apool = aredis.ConnectionPool.from_url(url, connection_class=AsyncCountingConnection)
    aclient = aredis.Redis(connection_pool=apool)
    settings = AgentMemSettings(
        redis=RedisSettings(url=url), local=LocalSettings(autostart=False), key_prefix=prefix
    )
    mem = AgentMem(settings, redis=client, async_redis=aclient)

    def lc_ours(session: str) -> AgentMemChatMessageHistory:
        return AgentMemChatMessageHistory(mem, session_id=session, user_id="bench", ttl=TTL)

    def lc_theirs(session: str) -> RedisChatMessageHistory:
        history = RedisChatMessageHistory(session, url=url, key_prefix=f"{prefix}-lc:", ttl=TTL)
        history.redis_client = client  # count its round trips on the same kind of connection
        return history

    li_ours = AgentMemChatStore(mem, user_id="bench", ttl=TTL)
    li_theirs = RedisChatStore(redis_client=client, aredis_client=aclient, ttl=TTL)
    # Memory's store is async-only; the sync benchmark drives it on a private event loop.
    db_ours = AgentMemDBChatStore(mem, user_id="bench-db", ttl=TTL)

    def li_theirs_key(session: str) -> str:
        return f"{prefix}-li:{session}"

    found = [
        System(
            "agentmem `AgentMemChatMessageHistory`",
            "LangChain",
            lambda s, t: lc_ours(s).add_messages(lc_turn(t)),
            lambda s: len(lc_ours(s).messages),
        ),
        System(
            "langchain-community `RedisChatMessageHistory`",
            "LangChain",
            lambda s, t: lc_theirs(s).add_messages(lc_turn(t)),
            lambda s: len(lc_theirs(s).messages),
        ),
        System(
            "agentmem `AgentMemChatStore` (10 x add_message)",
            "LlamaIndex",
            lambda s, t: [li_ours.add_message(s, m) for m in li_turn(t)] and None,
            lambda s: len(li_ours.get_messages(s)),
        ),
        System(
            "llama-index `RedisChatStore` (10 x add_message)",
            "LlamaIndex",
            lambda s, t: [li_theirs.add_message(li_theirs_key(s), m) for m in li_turn(t)] and None,
            lambda s: len(li_theirs.get_messages(li_theirs_key(s))),
        ),
        System(
            "agentmem `AgentMemDBChatStore.add_messages` (Memory, async)",
            "LlamaIndex",
            lambda s, t: loop.run_until_complete(db_ours.add_messages(s, li_turn(t))),
            lambda s: len(loop.run_until_complete(db_ours.get_messages(s))),
        ),
    ]
    _BORROWED.extend([pool, apool])
    return found, mem


def main() -> None:
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as root:
        stack = LocalStack(Path(root), redis_port=free_port(), weaviate_ports=WeaviatePorts.free())
        stack.up(only=["redis"])
        try:
            found, mem = systems(stack.redis_url, f"bench{uuid.uuid4().hex[:6]}", loop)
            _VERSION.append(str(mem.redis().info("server")["redis_version"]))
            rows = [(system, measure(system)) for system in found]
            loop.run_until_complete(mem.aclose())
            sync_pool, async_pool = _BORROWED  # a client given a pool never closes it
            sync_pool.disconnect()
            loop.run_until_complete(async_pool.disconnect())
        finally:
            stack.down()
            loop.close()
    # Each framework's first row is agentmem's adapter: the 1.00 of its ratios.
    base: dict[str, dict[str, float]] = {}
    for system, result in rows:
        base.setdefault(system.framework, result)
    print(
        f"Session memory on one local Redis {redis_version()}: {TURNS} turns x {PER_TURN} "
        f"messages with a {TTL} s sliding TTL; reads of a {READ_SIZE:,}-message session "
        f"(median of {READS}).\n"
    )
    print(
        "| System | Framework | append 10 msgs: median ms | ratio to agentmem | round trips / append "
        "| read 1,000 msgs: median ms | ratio to agentmem |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for system, r in rows:
        b = base[system.framework]
        print(
            f"| {system.name} | {system.framework} | {r['append']:.3f} | "
            f"{r['append'] / b['append']:.2f} | {r['rtt']:.0f} | {r['read']:.2f} | "
            f"{r['read'] / b['read']:.2f} |"
        )


if __name__ == "__main__":
    main()
