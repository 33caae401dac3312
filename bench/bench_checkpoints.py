"""Workflow memory: agentmem's LangGraph saver against InMemorySaver, SqliteSaver and PostgresSaver.

Every system runs the same graphs in the same process, against servers started here:

* a Redis from ``agentmem.local.LocalStack`` on a free loopback port;
* a throwaway PostgreSQL cluster (``initdb``/``pg_ctl`` in a temp folder, as the ``postgres`` user
  when run as root); if it cannot start, the reason is printed and the rest is measured;
* SQLite in a file in a temp folder.

Measurements:

* step time: a 20-step graph with four channels (a counter, a small string, a 20 kB string set
  once, a list that grows by one item per step), ``durability="sync"`` so every checkpoint is
  written before the next step; median over runs of (wall time of one run / 20);
* round trips: socket writes of agentmem's client per ``put``, ``put_writes`` and ``get_tuple``
  during those runs (a redis-py Connection subclass counts them per thread), after a warm-up run
  that opens the connection and loads the scripts;
* bytes: after 100 steps in which one small channel changes and a 50 kB one never does, the
  bytes each system holds (Redis: ``MEMORY USAGE`` of every key; SQLite: file size; Postgres:
  ``pg_total_relation_size`` of the checkpoint tables; InMemorySaver: the serialized bytes it keeps).

Run: ``.venv/bin/python bench/bench_checkpoints.py`` (well under a minute).
"""

from __future__ import annotations

import base64
import contextlib
import operator
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import redis
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from agentmem import AgentMem, AgentMemSettings, LocalSettings, RedisSettings
from agentmem.local import LocalStack, WeaviatePorts, free_port
from langchain_agentmem import AgentMemCheckpointSaver

STEPS = 20
RUNS = 15
BYTES_STEPS = 100
_COUNTS = threading.local()


def sends() -> int:
    """Socket writes made by this thread so far (LangGraph runs writes on worker threads)."""
    return int(getattr(_COUNTS, "n", 0))


class CountingConnection(redis.Connection):
    """Counts writes to the socket per thread: one per round trip."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        _COUNTS.n = sends() + 1
        super().send_packed_command(command, check_health)


class State(TypedDict, total=False):
    counter: int
    small: str
    big: str
    items: Annotated[list[str], operator.add]


def chain(steps: int, *, grow: bool) -> Any:
    builder = StateGraph(State)
    previous = START

    def node(i: int) -> Callable[[State], State]:
        def run(state: State) -> State:
            out: State = {"counter": state.get("counter", 0) + 1, "small": f"step {i}"}
            if grow:
                out["items"] = [f"item {i}"]
            return out

        return run

    for i in range(steps):
        builder.add_node(f"n{i}", node(i))
        builder.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    builder.add_edge(previous, END)
    return builder


def random_text(size: int) -> str:
    """Base64 of random bytes: text that compresses about as well as real text does not."""
    return base64.b64encode(os.urandom(size * 3 // 4)).decode()


def step_times(saver: BaseCheckpointSaver[Any], user_id: str | None = None) -> float:
    graph = chain(STEPS, grow=True).compile(checkpointer=saver)
    per_step = []
    for run in range(RUNS + 1):
        config: Any = {"configurable": {"thread_id": f"bench-{uuid.uuid4().hex}"}}
        if user_id is not None:  # the thread becomes the user's; every call checks the owner
            config["configurable"]["user_id"] = user_id
        start = time.perf_counter()
        graph.invoke({"big": random_text(20_000), "items": []}, config, durability="sync")
        if run:  # the first run warms caches, scripts and connections
            per_step.append((time.perf_counter() - start) / STEPS)
    return statistics.median(per_step)


def bytes_after_100_steps(saver: BaseCheckpointSaver[Any]) -> str:
    graph = chain(BYTES_STEPS, grow=False).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "bytes"}, "recursion_limit": BYTES_STEPS + 10}
    graph.invoke({"big": random_text(50_000)}, config, durability="sync")
    return "measured below"


class Counted:
    """Wraps the saver's methods to count socket writes and time each call (inside the graph,
    on LangGraph's worker threads); keeps the arguments of one call of each for a replay."""

    def __init__(self, saver: AgentMemCheckpointSaver) -> None:
        self.calls: dict[str, list[int]] = {"put": [], "put_writes": [], "get_tuple": []}
        self.seconds: dict[str, list[float]] = {name: [] for name in self.calls}
        self.sample: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        for name in self.calls:
            original = getattr(saver, name)

            def wrapper(*a: Any, _o: Any = original, _n: str = name, **kw: Any) -> Any:
                before, start = sends(), time.perf_counter()
                result = _o(*a, **kw)
                self.seconds[_n].append(time.perf_counter() - start)
                self.calls[_n].append(sends() - before)
                if len(self.calls[_n]) == 10:
                    self.sample[_n] = (a, kw)
                return result

            setattr(saver, name, wrapper)


def median_us(run: Callable[[], Any], times: int = 2000) -> float:
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        spent.append(time.perf_counter() - start)
    return statistics.median(spent) * 1e6


def where_time_goes(
    saver: AgentMemCheckpointSaver, counted: Counted, client: redis.Redis, server_us: float
) -> list[str]:
    """Stages of one put and one put_writes, each measured on its own in this process."""
    from langchain_agentmem._checkpoint_convert import to_new_checkpoint, to_writes

    put_args, _ = counted.sample["put"]
    writes_args, writes_kw = counted.sample["put_writes"]
    task_path = writes_kw.get("task_path", writes_args[3] if len(writes_args) > 3 else "")
    prep_put = median_us(lambda: to_new_checkpoint(saver.serde, *put_args))
    prep_writes = median_us(
        lambda: to_writes(saver.serde, writes_args[1], writes_args[2], task_path)
    )
    unwrapped = type(saver)
    replay_put = median_us(lambda: unwrapped.put(saver, *put_args), 500)
    replay_writes = median_us(lambda: unwrapped.put_writes(saver, *writes_args, **writes_kw), 500)
    ping = median_us(client.ping, 500)
    in_graph = {k: statistics.median(v) * 1e6 for k, v in counted.seconds.items() if v}
    return [
        f"| serialize (LangGraph serde + agentmem's checks), put / put_writes | "
        f"{prep_put:.0f} / {prep_writes:.0f} µs |",
        f"| Redis server time per script (INFO commandstats, EVALSHA) | {server_us:.0f} µs |",
        f"| loopback round trip (PING from the main thread) | {ping:.0f} µs |",
        f"| whole call from the main thread, put / put_writes | "
        f"{replay_put:.0f} / {replay_writes:.0f} µs |",
        f"| whole call inside the graph (LangGraph's worker threads), put / put_writes | "
        f"{in_graph['put']:.0f} / {in_graph['put_writes']:.0f} µs |",
    ]


@contextlib.contextmanager
def postgres(root: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields its URI (raises RuntimeError if it cannot run)."""
    bindir = next(
        (p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None
    )
    initdb = shutil.which("initdb") or (str(bindir / "initdb") if bindir else None)
    if not initdb or not Path(initdb).exists():
        raise RuntimeError("initdb not found (apt-get install -y postgresql)")
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    data, port = root / "pgdata", free_port()
    data.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        os.chmod(root.parent, 0o755)  # mkdtemp made it 0700: let the postgres user through
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    run = {"check": True, "capture_output": True, "text": True}
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "bench"], **run)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=on"
    subprocess.run(
        [
            *as_user,
            pg_ctl,
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(root / "pg.log"),
            "start",
        ],
        **run,
    )
    try:
        yield f"postgresql://bench@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], **run)


def redis_bytes(client: redis.Redis, prefix: str) -> int:
    return sum(
        int(client.memory_usage(k, samples=0) or 0) for k in client.scan_iter(match=f"{prefix}:*")
    )


# What each part of a thread holds in agentmem's layout (agentmem._redis.checkpoint_keys).
_PARTS = {
    "cp": {
        b"r:": "checkpoint records (LangGraph's checkpoint + metadata, zlib)",
        b"b:": "references to channel values (80-byte names)",
        b"w:": "lists of pending-write names",
        b"t:": "put times",
        b"p:": "parent ids",
    },
    "bl": {b"": "channel values (a new version of a channel each)"},
    "wr": {b"": "pending writes"},
}


def agentmem_breakdown(client: redis.Redis, prefix: str) -> list[str]:
    """``MEMORY USAGE`` per key of the thread, and the payload bytes of each kind of field."""
    lines = []
    for key in sorted(client.scan_iter(match=f"{prefix}:*")):
        name = key.decode().rsplit(":", 1)[-1]
        usage = int(client.memory_usage(key, samples=0) or 0)
        kind = client.type(key).decode()
        if kind != "hash" or name not in _PARTS:
            count = client.zcard(key) if kind == "zset" else client.hlen(key)
            lines.append(f"| `{name}` ({kind}, {count} entries) | {usage:,} | |")
            continue
        lines.append(f"| `{name}` (hash, {client.hlen(key)} fields) | {usage:,} | |")
        sums: dict[bytes, list[int]] = {}
        for field, value in client.hgetall(key).items():
            head = next((h for h in _PARTS[name] if h and field.startswith(h)), b"")
            entry = sums.setdefault(head, [0, 0, 0])
            entry[0] += 1
            entry[1] += len(field)
            entry[2] += len(value)
        for head, (n, names, values) in sorted(sums.items()):
            label = _PARTS[name].get(head, "other")
            lines.append(f"| &nbsp; {label}: {n} fields | | {values:,} + {names:,} in names |")
    return lines


def memory_bytes(saver: InMemorySaver) -> int:
    total = 0
    for ns_map in saver.storage.values():
        for checkpoints in ns_map.values():
            for (_, cp), (_, md), _parent in checkpoints.values():
                total += len(cp) + len(md)
    total += sum(len(v[1]) for v in saver.blobs.values())
    total += sum(len(w[2][1]) for writes in saver.writes.values() for w in writes.values())
    return total


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="agentmem-bench-cp-"))
    stack = LocalStack(tmp / "stack", redis_port=free_port(), weaviate_ports=WeaviatePorts.free())
    stack.up(only=["redis"])
    rows: list[tuple[str, float | None, str]] = []
    try:
        settings = AgentMemSettings(
            redis=RedisSettings(url=stack.redis_url),
            local=LocalSettings(autostart=False),
            key_prefix="benchcp",
        )
        client = redis.Redis.from_url(stack.redis_url, connection_class=CountingConnection)
        with AgentMem(settings, redis=client) as memory:
            saver = AgentMemCheckpointSaver(memory)
            # Warm-up outside the count: connection handshake and one SCRIPT LOAD per script.
            chain(2, grow=True).compile(checkpointer=saver).invoke(
                {"items": []}, {"configurable": {"thread_id": "warm"}}, durability="sync"
            )
            counted = Counted(saver)
            client.config_resetstat()
            rows.append(("agentmem (Redis)", step_times(saver), ""))
            evalsha = client.info("commandstats").get("cmdstat_evalsha", {})
            trips = {k: statistics.mean(v) for k, v in counted.calls.items() if v}
            stages = where_time_goes(saver, counted, client, float(evalsha.get("usec_per_call", 0)))
            owned = step_times(saver, user_id="ada")
            rows.append(("agentmem (Redis), with user_id", owned, ""))
            client.delete(*client.scan_iter(match="benchcp:*"))
            bytes_after_100_steps(AgentMemCheckpointSaver(memory))
            sizes = {"agentmem (Redis)": redis_bytes(client, "benchcp")}
            breakdown = agentmem_breakdown(client, "benchcp")

        mem_saver = InMemorySaver()
        rows.append(("InMemorySaver", step_times(mem_saver), ""))
        mem_saver = InMemorySaver()
        bytes_after_100_steps(mem_saver)
        sizes["InMemorySaver"] = memory_bytes(mem_saver)

        for label, name in (("SqliteSaver (file)", "steps.db"), ("", "bytes.db")):
            with SqliteSaver.from_conn_string(str(tmp / name)) as sqlite:
                if label:
                    rows.append((label, step_times(sqlite), ""))
                else:
                    bytes_after_100_steps(sqlite)
        sizes["SqliteSaver (file)"] = (tmp / "bytes.db").stat().st_size

        try:
            from langgraph.checkpoint.postgres import PostgresSaver

            (tmp / "pg").mkdir()
            with postgres(tmp / "pg") as uri, PostgresSaver.from_conn_string(uri) as pg:
                pg.setup()
                rows.append(("PostgresSaver", step_times(pg), ""))
                with pg.conn.cursor() as cur:
                    cur.execute("TRUNCATE checkpoints, checkpoint_blobs, checkpoint_writes")
                bytes_after_100_steps(pg)
                with pg.conn.cursor() as cur:
                    cur.execute(
                        "SELECT sum(pg_total_relation_size(t)) AS total FROM unnest(ARRAY["
                        "'checkpoints','checkpoint_blobs','checkpoint_writes']) AS t"
                    )
                    row: Any = cur.fetchone()  # PostgresSaver's connection returns dict rows
                    sizes["PostgresSaver"] = int(row["total"])
        except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            rows.append(("PostgresSaver", None, f"not measured: {detail.strip()[:200]}"))
    finally:
        stack.down()
        shutil.rmtree(tmp, ignore_errors=True)

    base = rows[0][1] or 1.0
    print(
        f"\n## LangGraph checkpointers: {STEPS}-step graph, durability=sync, median of {RUNS} runs\n"
    )
    print(
        "| saver | ms per step | ratio to agentmem | bytes after 100 steps (50 kB channel unchanged) |"
    )
    print("|---|---:|---:|---:|")
    for name, seconds, note in rows:
        if seconds is None:
            print(f"| {name} | n/a | n/a | {note} |")
            continue
        size = sizes.get(name)
        print(
            f"| {name} | {seconds * 1000:.3f} | {seconds / base:.2f}x | "
            f"{f'{size:,}' if size is not None else 'n/a'} |"
        )
    print("\n## agentmem round trips per call (socket writes counted at the redis-py client)\n")
    print("| call | round trips (mean) |")
    print("|---|---:|")
    for name, value in trips.items():
        print(f"| {name} | {value:.2f} |")
    times = {name: seconds for name, seconds, _ in rows if seconds is not None}
    ours = sizes.get("agentmem (Redis)")
    verdicts = []
    for peer, target, best in (("InMemorySaver", 2.0, "<="), ("SqliteSaver (file)", 0.6, "<=")):
        if peer in times:
            ratio = base / times[peer]
            verdicts.append(f"step {ratio:.2f}x {peer}'s time (target {best} {target}x)")
    if ours and "PostgresSaver" in sizes:
        verdicts.append(f"bytes {sizes['PostgresSaver'] / ours:.1f}x smaller than PostgresSaver's "
                        "(target >= 50x)")  # fmt: skip
    print("\nIssue 12: agentmem's " + "; ".join(verdicts) + ".")
    print("\n## What agentmem holds after the 100 steps (MEMORY USAGE per key; payload bytes)\n")
    print("| key / part | bytes (Redis) | payload |")
    print("|---|---:|---:|")
    for line in breakdown:
        print(line)
    print("\n## Where a step's time goes (agentmem, medians, measured in this run)\n")
    print("| stage | time |")
    print("|---|---:|")
    for line in stages:
        print(line)


if __name__ == "__main__":
    main()
