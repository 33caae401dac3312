"""Long-term memory: agentmem against plain weaviate-client and the framework peers.

One fresh Weaviate (agentmem.local.LocalStack on free loopback ports) serves every system in the
same run, with the same precomputed vectors (a deterministic hashing embedder, so no model is
needed and every system stores identical vectors).

* ingest: every turn of the LoCoMo dev conversations (/work/shared/data/locomo_dev.json, read in
  place, never copied) written once per system; objects per second.
  Systems: agentmem ``LongTermMemory.add``, plain ``insert_many`` (the floor), and, when
  installed, langchain-weaviate ``WeaviateVectorStore.add_texts`` and
  llama-index-vector-stores-weaviate ``WeaviateVectorStore.add``.
* query: the LoCoMo questions as k=10 vector and BM25 queries; p50/p95 latency of agentmem's
  ``search`` against plain weaviate-client ``near_vector`` / ``bm25`` on the same collection.
* retrieval quality: LoCoMo evidence recall@10 and hit@10 over categories 1-4, one tenant per
  conversation, BM25 (agentmem's zero-config default). The data's README gives about 0.52
  recall@10 for plain BM25 as the floor.

Run: ``.venv/bin/python bench/bench_longterm.py [--data PATH]`` (about a minute).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.tenants import Tenant

from agentmem import AgentMem, AgentMemSettings, LocalSettings, RedisSettings, WeaviateSettings
from agentmem.local import LocalStack, WeaviatePorts, free_port
from agentmem.longterm import LongTermMemory, MemoryRecord
from agentmem.testing.embedding import HashingEmbedder

DATA = Path("/work/shared/data/locomo_dev.json")
DIMS = 256
K = 10
_EVIDENCE = re.compile(r"D:?(\d+):0*(\d+)")


@dataclass
class Turn:
    conversation: str
    dia_id: str
    text: str
    metadata: dict[str, Any]


def load(path: Path) -> tuple[list[Turn], list[tuple[str, str, set[str], int]]]:
    """Turns and (conversation, question, evidence ids, category) of the LoCoMo file."""
    turns: list[Turn] = []
    questions: list[tuple[str, str, set[str], int]] = []
    for sample in json.loads(path.read_text()):
        conv = sample["conversation"]
        cid = sample["sample_id"]
        known: set[str] = set()
        for key, value in conv.items():
            if not (key.startswith("session_") and isinstance(value, list)):
                continue
            date = conv.get(f"{key}_date_time", "")
            for turn in value:
                text = f"{turn['speaker']}: {turn['text']}"
                if turn.get("blip_caption"):
                    text += f" [shares {turn['blip_caption']}]"
                meta = {"speaker": turn["speaker"], "date": date, "dia_id": turn["dia_id"]}
                turns.append(Turn(cid, turn["dia_id"], text, meta))
                known.add(turn["dia_id"])
        for qa in sample["qa"]:
            if qa.get("category") not in (1, 2, 3, 4):
                continue
            raw = " ".join(str(e) for e in qa.get("evidence", []))
            ids = {f"D{s}:{t}" for s, t in _EVIDENCE.findall(raw)} & known
            if ids:
                questions.append((cid, str(qa["question"]), ids, int(qa["category"])))
    return turns, questions


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rate(n: int, fn: Callable[[], Any]) -> str:
    return f"{n / timed(fn):,.0f}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def ingest_plain(
    client: weaviate.WeaviateClient, turns: list[Turn], vectors: list[list[float]]
) -> None:
    name = f"Plain{uuid.uuid4().hex[:6]}"
    col = client.collections.create(
        name,
        multi_tenancy_config=Configure.multi_tenancy(enabled=True),
        vector_config=Configure.Vectors.self_provided(),
        properties=[Property(name="text", data_type=DataType.TEXT)],
    )
    col.tenants.create([Tenant(name="bench")])
    tenant = col.with_tenant("bench")
    objects = [
        DataObject(properties={"text": t.text}, vector=v)
        for t, v in zip(turns, vectors, strict=True)
    ]
    for start in range(0, len(objects), 200):
        result = tenant.data.insert_many(objects[start : start + 200])
        assert not result.errors


def ingest_langchain_weaviate(client: Any, turns: list[Turn], vectors: list[list[float]]) -> str:
    try:
        from langchain_core.embeddings import Embeddings
        from langchain_weaviate import WeaviateVectorStore
    except ImportError:
        return "not installed"
    table = {t.text: v for t, v in zip(turns, vectors, strict=True)}

    class Precomputed(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [table[t] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return HashingEmbedder(DIMS).embed_query(text)

    store = WeaviateVectorStore(client, f"Lc{uuid.uuid4().hex[:6]}", "text", Precomputed())
    texts = [t.text for t in turns]
    metas = [t.metadata for t in turns]
    return f"{len(turns) / timed(lambda: store.add_texts(texts, metas)):,.0f}"


def ingest_llamaindex_weaviate(client: Any, turns: list[Turn], vectors: list[list[float]]) -> str:
    try:
        from llama_index.core.schema import TextNode
        from llama_index.vector_stores.weaviate import WeaviateVectorStore
    except ImportError:
        return "not installed"
    store = WeaviateVectorStore(weaviate_client=client, index_name=f"Li{uuid.uuid4().hex[:6]}")
    nodes = [
        TextNode(text=t.text, metadata=t.metadata, embedding=v)
        for t, v in zip(turns, vectors, strict=True)
    ]
    return f"{len(turns) / timed(lambda: store.add(nodes)):,.0f}"


def window_sweep(
    mem: AgentMem, collection: str, questions: list[tuple[str, str, set[str], int]]
) -> None:
    """Recall and latency of BM25 against ``bm25_window`` (0 = Weaviate's own limited query)."""
    print("\n## BM25 window (workaround for weaviate#11780): recall@10 and latency\n")
    print("| bm25_window | evidence recall@10 | p50 ms | p95 ms |\n|---:|---:|---:|---:|")
    for window in (0, 100, 300, 1000):
        memories: dict[str, LongTermMemory] = {}
        recall: list[float] = []
        lat: list[float] = []
        for conv, question, evidence, _ in questions:
            lt = memories.setdefault(
                conv, LongTermMemory(mem, tenant=conv, collection=collection, bm25_window=window)
            )
            start = time.perf_counter()
            found = {h.record.id for h in lt.search(question, k=K, mode="bm25")}
            lat.append(time.perf_counter() - start)
            recall.append(len(found & evidence) / len(evidence))
        mean = statistics.mean(recall)
        print(f"| {window} | {mean:.3f} | {pct(lat, 0.5):.2f} | {pct(lat, 0.95):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    turns, questions = load(args.data)
    embedder = HashingEmbedder(DIMS)
    vectors = embedder.embed_documents([t.text for t in turns])
    qvectors = embedder.embed_documents([q for _, q, _, _ in questions])
    warnings.simplefilter("ignore", ResourceWarning)
    with tempfile.TemporaryDirectory() as root:
        stack = LocalStack(Path(root), redis_port=free_port(), weaviate_ports=WeaviatePorts.free())
        stack.up(only=["weaviate"])
        try:
            settings = AgentMemSettings(
                redis=RedisSettings(url="redis://127.0.0.1:1/0"),
                weaviate=WeaviateSettings(
                    url=stack.weaviate_url, grpc_port=stack.weaviate_ports.grpc
                ),
                local=LocalSettings(autostart=False),
            )
            with AgentMem(settings) as mem:
                run(mem, turns, vectors, questions, qvectors, args.queries)
        finally:
            stack.down()


def run(
    mem: AgentMem,
    turns: list[Turn],
    vectors: list[list[float]],
    questions: list[tuple[str, str, set[str], int]],
    qvectors: list[list[float]],
    n_queries: int,
) -> None:
    client = mem.weaviate()
    bench = LongTermMemory(mem, tenant="bench", collection=f"Am{uuid.uuid4().hex[:6]}")
    bench.setup()
    records = [
        MemoryRecord(t.text, t.metadata, id=f"{t.conversation}/{t.dia_id}", vector=v)
        for t, v in zip(turns, vectors, strict=True)
    ]
    n = len(records)
    rows = [
        ("agentmem LongTermMemory.add", rate(n, lambda: bench.add(records))),
        ("weaviate-client insert_many (floor)", rate(n, lambda: ingest_plain(client, turns, vectors))),
        ("langchain-weaviate add_texts", ingest_langchain_weaviate(client, turns, vectors)),
        ("llama-index-vector-stores-weaviate add", ingest_llamaindex_weaviate(client, turns, vectors)),
    ]  # fmt: skip
    print(f"\n## Ingest ({n} LoCoMo turns, {DIMS}-dim precomputed vectors, one tenant)\n")
    print("| system | objects/s |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")

    raw = client.collections.use(bench.collection).with_tenant("bench").query
    sample = list(zip(questions, qvectors, strict=True))[:n_queries]
    lat: dict[str, list[float]] = {k: [] for k in ("am_vec", "raw_vec", "am_bm25", "raw_bm25")}
    for (_, question, _, _), qv in sample:
        lat["am_vec"].append(timed(lambda: bench.search(vector=qv, k=K, mode="vector")))  # noqa: B023
        lat["raw_vec"].append(timed(lambda: raw.near_vector(qv, limit=K)))  # noqa: B023
        lat["am_bm25"].append(timed(lambda: bench.search(question, k=K, mode="bm25")))  # noqa: B023
        lat["raw_bm25"].append(timed(lambda: raw.bm25(question, limit=K)))  # noqa: B023
    print(f"\n## Query latency ({len(sample)} LoCoMo questions, k={K}, ms)\n")
    print("| query | agentmem p50 | agentmem p95 | weaviate-client p50 | weaviate-client p95 |")
    print("|---|---:|---:|---:|---:|")
    for kind in ("vec", "bm25"):
        a, r = lat[f"am_{kind}"], lat[f"raw_{kind}"]
        print(
            f"| {kind} | {pct(a, 0.5):.2f} | {pct(a, 0.95):.2f} | {pct(r, 0.5):.2f} | {pct(r, 0.95):.2f} |"
        )

    quality = LongTermMemory(mem, tenant="x", collection=f"Lq{uuid.uuid4().hex[:6]}")
    by_conv: dict[str, LongTermMemory] = {}
    for t in turns:
        if t.conversation not in by_conv:
            by_conv[t.conversation] = LongTermMemory(
                mem, tenant=t.conversation, collection=quality.collection
            )
    for conv, lt in by_conv.items():
        lt.add(
            [MemoryRecord(t.text, t.metadata, id=t.dia_id) for t in turns if t.conversation == conv]
        )
    recall: dict[int, list[float]] = {}
    hit: dict[int, list[float]] = {}
    for conv, question, evidence, category in questions:
        found = {h.record.id for h in by_conv[conv].search(question, k=K, mode="bm25")}
        recall.setdefault(category, []).append(len(found & evidence) / len(evidence))
        hit.setdefault(category, []).append(1.0 if found & evidence else 0.0)
    print(f"\n## LoCoMo retrieval, BM25, k={K} ({len(questions)} questions, categories 1-4)\n")
    print("| category | questions | evidence recall@10 | hit@10 |\n|---|---:|---:|---:|")
    for category in sorted(recall):
        r, h = statistics.mean(recall[category]), statistics.mean(hit[category])
        print(f"| {category} | {len(recall[category])} | {r:.3f} | {h:.3f} |")
    everything = [r for rs in recall.values() for r in rs]
    hits = [h for hs in hit.values() for h in hs]
    print(
        f"| all | {len(everything)} | {statistics.mean(everything):.3f} | {statistics.mean(hits):.3f} |"
    )
    window_sweep(mem, quality.collection, questions)
    bench.drop_collection()
    quality.drop_collection()


if __name__ == "__main__":
    main()
