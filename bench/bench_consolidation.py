"""Memory that forms itself: what agentmem adds per consolidated batch, the model's time left out.

One Redis and one Weaviate (``agentmem.local.LocalStack`` on free loopback ports). Each round
queues one batch of 10 messages (5 user/assistant pairs) for a user who already has 20 facts,
then consolidates it with a model that answers at once (two operations: one new fact, one
update), so every millisecond measured is agentmem's: the queue calls, the candidate search in
the user's tenant, storing the decision, writing the facts (the old one closed, the new one
embedded by a hashing embedder in microseconds) and popping the batch.

Printed: p50 and p95 of the whole batch and of each stage, and the time ``enqueue`` adds to a
turn (what the response path pays). Target (issue 13): under 50 ms per batch at p50.

Run: ``.venv/bin/python bench/bench_consolidation.py`` (about a minute).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentmem import AgentMem, AgentMemSettings, Consolidator, LocalSettings, RedisSettings
from agentmem.config import WeaviateSettings
from agentmem.facts import Fact, Turn
from agentmem.local import LocalStack, WeaviatePorts, free_port
from agentmem.testing.embedding import HashingEmbedder

ROUNDS = 60
USERS = 6


class Instant:
    """A model that decides at once: add one fact, update the first known one."""

    def __init__(self) -> None:
        self.n = 0

    def _ops(self, turns: Sequence[Turn], known: Sequence[Fact]) -> Any:
        self.n += 1
        ops: list[dict[str, Any]] = [
            {"action": "add", "text": f"The user mentioned topic {self.n}"}
        ]
        if known:
            ops.append({"action": "update", "target": "F1", "text": f"The user now likes {self.n}"})
        return {"operations": ops}

    def extract(self, turns: Sequence[Turn], known: Sequence[Fact]) -> Any:
        return self._ops(turns, known)

    async def aextract(self, turns: Sequence[Turn], known: Sequence[Fact]) -> Any:
        return self._ops(turns, known)


def batch(i: int) -> list[Turn]:
    turns = []
    for j in range(5):
        turns.append(
            Turn(
                "user",
                f"Message {i}.{j}: I was thinking about my trip and the food there.",
                f"u{i}.{j}",
            )
        )
        turns.append(
            Turn("assistant", f"That sounds lovely; tell me more about round {i}.", f"a{i}.{j}")
        )
    return turns


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="agentmem-bench-facts-"))
    stack = LocalStack(tmp / "stack", redis_port=free_port(), weaviate_ports=WeaviatePorts.free())
    stack.up()
    try:
        settings = AgentMemSettings(
            redis=RedisSettings(url=stack.redis_url),
            weaviate=WeaviateSettings(url=stack.weaviate_url, grpc_port=stack.weaviate_ports.grpc),
            local=LocalSettings(autostart=False),
            key_prefix="benchfacts",
        )
        with AgentMem(settings) as mem:
            c = Consolidator(
                mem, extractor=Instant(), embedder=HashingEmbedder(), collection="BenchFacts"
            )
            stages: dict[str, list[float]] = defaultdict(list)
            for kind in ("recall", "apply"):
                original = getattr(type(c.facts("u0")), kind)

                def timed(self: Any, *a: Any, _o: Any = original, _k: str = kind, **kw: Any) -> Any:
                    start = time.perf_counter()
                    try:
                        return _o(self, *a, **kw)
                    finally:
                        stages[_k].append(time.perf_counter() - start)

                setattr(type(c.facts("u0")), kind, timed)
            users = [f"user-{u}" for u in range(USERS)]
            for user in users:  # each user starts with 20 facts
                for k in range(20):
                    c.facts(user).add(f"The user likes thing number {k} a lot")
            c.enqueue(users[0], batch(-1))
            c.run_pending()  # warm-up: connections, collection, scripts
            stages.clear()
            enqueue, whole = [], []
            for i in range(ROUNDS):
                user = users[i % USERS]
                start = time.perf_counter()
                c.enqueue(user, batch(i))
                enqueue.append(time.perf_counter() - start)
                start = time.perf_counter()
                report = c.run_pending()
                whole.append(time.perf_counter() - start)
                assert report.batches == 1, report
            mem.weaviate().collections.delete("BenchFacts")
    finally:
        stack.down()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n## Consolidation: agentmem's own time per batch of 10 messages ({ROUNDS} rounds, "
          "model time excluded)\n")  # fmt: skip
    print("| stage | p50 ms | p95 ms |\n|---|---:|---:|")
    rows = [
        ("enqueue (on the response path)", enqueue),
        ("candidate search in the user's tenant", stages["recall"]),
        ("write the facts (close the old, add the new)", stages["apply"]),
        ("whole batch: queue, search, decision, write, pop", whole),
    ]
    for name, values in rows:
        print(f"| {name} | {pct(values, 0.5) * 1000:.2f} | {pct(values, 0.95) * 1000:.2f} |")
    rest = (
        statistics.median(whole)
        - statistics.median(stages["recall"])
        - statistics.median(stages["apply"])
    )
    print(
        f"\nqueue and decision calls (the rest of a batch): about {rest * 1000:.2f} ms at p50; "
        f"target: whole batch under 50 ms at p50 ({pct(whole, 0.5) * 1000:.1f} ms: "
        f"{'met' if pct(whole, 0.5) < 0.05 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
