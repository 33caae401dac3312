"""Session memory: agentmem against LangChain's and LlamaIndex's own Redis chat histories.

One fresh Redis (started with agentmem.local.LocalStack on free loopback ports) serves every
system in the same run. The systems take turns (each append turn and each read goes round all of
them, in a rotating order), so a change of load on a shared machine hits them alike. For each
system:

* append: 200 turns of 10 messages each (a turn of an agent with tool calls), sliding TTL of one
  hour on; median wall time of one turn;
* read: a 1,000-message session read back 30 times; median wall time of one read;
* round trips: writes to the socket per append turn, counted by a redis-py Connection subclass
  given to every system's client (a pipeline or a script counts once).

Both sides do the same work: the same messages, the same one-hour TTL refreshed on every append,
one history (LangChain) or store (LlamaIndex) object per session built before the clock starts
(``RedisChatMessageHistory`` builds a client from its URL in its constructor, which would otherwise
be counted against it), every client on the same kind of counting connection.

After the table, "where the time goes" splits agentmem's LlamaIndex ``add_message`` and the
1,000-message reads into measured stages (medians; the server's share of the script from
``INFO commandstats``), and the two ratios of issue 12 are printed with their targets.

LlamaIndex's ``BaseChatStore`` has no bulk append, so both LlamaIndex stores add the 10 messages
one ``add_message`` at a time (what ``ChatMemoryBuffer.put`` does); agentmem's ``Memory`` store
(``AgentMemDBChatStore.add_messages``) shows the bulk path. Ratios compare each system with the
agentmem adapter for the same framework.

Run: ``.venv/bin/python bench/bench_sessions.py`` (about 40 seconds).
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
_OPEN: list[Callable[[str], None]] = []  # builds the LangChain histories of one session


def redis_version() -> str:
    """The server version, read once while the server runs."""
    return _VERSION[0] if _VERSION else ""


def _rotated(found: list[System], turn: int) -> list[System]:
    shift = turn % len(found)
    return found[shift:] + found[:shift]


def measure(found: list[System]) -> list[dict[str, float]]:
    """Median append and read times of every system, measured in turns (see the docstring)."""
    tag = uuid.uuid4().hex[:8]
    # Each system its own sessions (agentmem's two LangChain and LlamaIndex adapters share a user).
    append_to = {s.name: f"bench-{i}-{tag}" for i, s in enumerate(found)}
    read_from = {s.name: f"read-{i}-{tag}" for i, s in enumerate(found)}
    for session in [*append_to.values(), *read_from.values()]:
        _OPEN[0](session)
    samples: dict[str, list[float]] = {s.name: [] for s in found}
    sends: dict[str, list[int]] = {s.name: [] for s in found}
    for turn in range(TURNS):
        for system in _rotated(found, turn):
            before = SENDS[0]
            start = time.perf_counter()
            system.append(append_to[system.name], turn)
            samples[system.name].append((time.perf_counter() - start) * 1000)
            sends[system.name].append(SENDS[0] - before)
    for system in found:
        for turn in range(READ_SIZE // PER_TURN):
            system.append(read_from[system.name], turn)
        assert system.read(read_from[system.name]) == READ_SIZE, system.name
    reads: dict[str, list[float]] = {s.name: [] for s in found}
    for turn in range(READS):
        for system in _rotated(found, turn):
            start = time.perf_counter()
            system.read(read_from[system.name])
            reads[system.name].append((time.perf_counter() - start) * 1000)
    return [
        {
            "append": statistics.median(samples[s.name]),
            "rtt": statistics.median(sends[s.name]),
            "read": statistics.median(reads[s.name]),
        }
        for s in found
    ]


STAGE_RUNS = 300


def _interleaved_us(stages: dict[str, Callable[[], Any]], times: int) -> dict[str, float]:
    """Median microseconds of each stage, the stages run in turn (one of each per round)."""
    samples: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(times):
        for name, run in stages.items():
            start = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - start) * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def _evalsha_totals(client: redis.Redis) -> tuple[int, int]:
    found = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(found.get("usec", 0)), int(found.get("calls", 0))


def where_the_time_goes(mem: AgentMem) -> dict[str, dict[str, float]]:
    """Stages of agentmem's LlamaIndex ``add_message`` and of the 1,000-message reads: the median
    microseconds of each, measured in turns (so the parts add up only roughly); the script's
    time on the server is the mean from ``INFO commandstats``."""
    from agentmem._redis import session_plans
    from langchain_agentmem._messages import load_raw as lc_load
    from llamaindex_agentmem._messages import dump as li_dump
    from llamaindex_agentmem._messages import load_raw as li_load

    client = mem.redis()
    store = AgentMemChatStore(mem, user_id="bench-stages", ttl=TTL)
    cfg = store.sessions._cfg
    message = li_turn(0)[0]
    session = f"stages-{uuid.uuid4().hex[:8]}"
    docs = li_dump([message])

    def planned() -> Any:
        return next(session_plans.append(cfg, session, docs))

    call = planned()
    store.add_message(session, message)
    usec, calls = _evalsha_totals(client)
    add = _interleaved_us(
        {
            "total": lambda: store.add_message(session, message),
            "convert": lambda: li_dump([message]),
            "keys + envelope": planned,
            "round trip": lambda: call.fn(client),
        },
        STAGE_RUNS,
    )
    usec2, calls2 = _evalsha_totals(client)
    add["script on server"] = (usec2 - usec) / max(calls2 - calls, 1)
    big = f"stages-read-{uuid.uuid4().hex[:8]}"
    for turn in range(READ_SIZE // PER_TURN):
        store.sessions.append(big, li_dump(li_turn(turn)))
    history = AgentMemChatMessageHistory(mem, session_id=big + "-lc", user_id="bench-stages")
    for turn in range(READ_SIZE // PER_TURN):
        history.add_messages(lc_turn(turn))
    li_key, lc_key = cfg.keys(big).msgs, cfg.keys(big + "-lc").msgs
    li_stored, lc_stored = client.lrange(li_key, 0, -1), client.lrange(lc_key, 0, -1)
    assert len(li_stored) == len(lc_stored) == READ_SIZE
    read = _interleaved_us(
        {
            "total": lambda: store.get_messages(big),
            "LRANGE round trip": lambda: client.lrange(li_key, 0, -1),
            "parse + build (LlamaIndex)": lambda: li_load(li_stored),
            "parse + build (LangChain)": lambda: lc_load(lc_stored),
        },
        READS,
    )
    store.sessions.clear(big)
    store.sessions.clear(session)
    history.clear()
    return {"add": add, "read": read}


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

    ours: dict[str, AgentMemChatMessageHistory] = {}
    theirs: dict[str, RedisChatMessageHistory] = {}

    def lc_ours(session: str) -> AgentMemChatMessageHistory:
        return ours[session]

    def lc_theirs(session: str) -> RedisChatMessageHistory:
        return theirs[session]

    def lc_open(session: str) -> None:
        """Build each side's history of ``session`` once, outside the timings."""
        ours[session] = AgentMemChatMessageHistory(
            mem, session_id=session, user_id="bench", ttl=TTL
        )
        history = RedisChatMessageHistory(session, url=url, key_prefix=f"{prefix}-lc:", ttl=TTL)
        history.redis_client = client  # count its round trips on the same kind of connection
        theirs[session] = history

    # The messages of every turn, built before the clock starts (the same for both sides).
    lc_turns = [lc_turn(turn) for turn in range(TURNS)]
    li_turns = [li_turn(turn) for turn in range(TURNS)]
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
            lambda s, t: lc_ours(s).add_messages(lc_turns[t]),
            lambda s: len(lc_ours(s).messages),
        ),
        System(
            "langchain-community `RedisChatMessageHistory`",
            "LangChain",
            lambda s, t: lc_theirs(s).add_messages(lc_turns[t]),
            lambda s: len(lc_theirs(s).messages),
        ),
        System(
            "agentmem `AgentMemChatStore` (10 x add_message)",
            "LlamaIndex",
            lambda s, t: [li_ours.add_message(s, m) for m in li_turns[t]] and None,
            lambda s: len(li_ours.get_messages(s)),
        ),
        System(
            "llama-index `RedisChatStore` (10 x add_message)",
            "LlamaIndex",
            lambda s, t: [li_theirs.add_message(li_theirs_key(s), m) for m in li_turns[t]] and None,
            lambda s: len(li_theirs.get_messages(li_theirs_key(s))),
        ),
        System(
            "agentmem `AgentMemDBChatStore.add_messages` (Memory, async)",
            "LlamaIndex",
            lambda s, t: loop.run_until_complete(db_ours.add_messages(s, li_turns[t])),
            lambda s: len(loop.run_until_complete(db_ours.get_messages(s))),
        ),
    ]
    _BORROWED.extend([pool, apool])
    _OPEN.append(lc_open)
    return found, mem


def main() -> None:
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as root:
        stack = LocalStack(Path(root), redis_port=free_port(), weaviate_ports=WeaviatePorts.free())
        stack.up(only=["redis"])
        try:
            found, mem = systems(stack.redis_url, f"bench{uuid.uuid4().hex[:6]}", loop)
            _VERSION.append(str(mem.redis().info("server")["redis_version"]))
            rows = list(zip(found, measure(found), strict=True))
            stages = where_the_time_goes(mem)
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
    print()
    add, read = stages["add"], stages["read"]
    parts = add["convert"] + add["keys + envelope"] + add["round trip"]
    print(
        f"Where the time goes (medians of the stages, us): agentmem `AgentMemChatStore."
        f"add_message` of one message {add['total']:.0f} = convert the ChatMessage "
        f"{add['convert']:.1f} + keys and envelope {add['keys + envelope']:.1f} + EVALSHA round "
        f"trip {add['round trip']:.0f} (of which the script on the server "
        f"{add['script on server']:.1f}) + plan driver and store {add['total'] - parts:.1f}; "
        f"`get_messages` of 1,000 {read['total']:.0f} = LRANGE round trip "
        f"{read['LRANGE round trip']:.0f} + parse and build {read['parse + build (LlamaIndex)']:.0f}"
        f" (LangChain's messages: parse and build {read['parse + build (LangChain)']:.0f})."
    )
    by_name = {system.name.split(" ")[1]: r for system, r in rows}
    li_ours, li_peer = by_name["`AgentMemChatStore`"], by_name["`RedisChatStore`"]
    lc_ours, lc_peer = by_name["`AgentMemChatMessageHistory`"], by_name["`RedisChatMessageHistory`"]
    print(
        f"Issue 12: `add_message` of agentmem `AgentMemChatStore` is "
        f"{li_peer['append'] / li_ours['append']:.2f}x as fast as llama-index `RedisChatStore` "
        f"(target >= 1.00); a 1,000-message read takes agentmem "
        f"{lc_ours['read'] / lc_peer['read']:.2f}x the time of LangChain "
        f"`RedisChatMessageHistory` and {li_ours['read'] / li_peer['read']:.2f}x that of "
        f"llama-index `RedisChatStore` (target <= 1.00)."
    )


if __name__ == "__main__":
    main()
