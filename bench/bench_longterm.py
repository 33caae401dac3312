"""Long-term memory: agentmem against plain weaviate-client and the framework peers.

One fresh Weaviate (agentmem.local.LocalStack on free loopback ports) serves every system in the
same run, with the same precomputed vectors from WordLlama (PyPI ``wordllama``, the 256-dim
``l2_supercat`` model whose weights and tokenizer ship inside the wheel: torch-free, loaded with
downloads disabled, so nothing is fetched at run time). Every system stores identical vectors.

* ingest: 10,000 documents (the turns of the LoCoMo dev conversations, ../shared/data/locomo_dev.json
  from the project root, read in place, never copied, repeated with distinct ids to reach 10,000)
  written once per system; objects per second and the ratio to agentmem.
  Systems: agentmem ``LongTermMemory.add``, plain ``insert_many`` (the floor), and, when
  installed, langchain-weaviate ``WeaviateVectorStore.add_texts`` and
  llama-index-vector-stores-weaviate ``WeaviateVectorStore.add``.
* query: the LoCoMo questions as k=10 vector and BM25 queries; p50/p95 latency of agentmem's
  ``search`` against plain weaviate-client ``near_vector`` / ``bm25`` on the same collection, with
  the p50 ratio to agentmem.
* retrieval quality: LoCoMo evidence recall@10 and hit@10 over categories 1-4, one tenant per
  conversation, for ``bm25`` (agentmem's zero-config default), ``vector`` and ``hybrid`` (WordLlama
  through agentmem's ``Embedder`` protocol). The data's README gives about 0.52 recall@10 for plain
  BM25 as the floor.

Run: ``.venv/bin/python bench/bench_longterm.py [--data PATH]`` (a minute or two).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import weaviate
from _servers import weaviate_only
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.tenants import Tenant

from agentmem import AgentMem
from agentmem.longterm import LongTermMemory, MemoryRecord

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "locomo_dev.json"
DIMS = 256
K = 10
N_INGEST = 10_000
MODES = ("bm25", "vector", "hybrid")
MODEL = f"WordLlama l2_supercat {DIMS}-dim"
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


class WordLlamaEmbedder:
    """agentmem ``Embedder`` over WordLlama, loaded from the files inside the wheel only."""

    def __init__(self) -> None:
        import wordllama
        from wordllama import WordLlama

        # The wheel holds weights/ and tokenizers/ in the layout WordLlama expects of a cache
        # directory; with downloads disabled a missing file raises instead of being fetched.
        package = Path(wordllama.__file__).parent
        self.model = WordLlama.load(dim=DIMS, cache_dir=package, disable_download=True)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self.model.embed(texts, norm=True)]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rate(n: int, fn: Callable[[], Any]) -> float:
    return n / timed(fn)


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


def ingest_langchain_weaviate(
    client: Any, turns: list[Turn], vectors: list[list[float]], embedder: WordLlamaEmbedder
) -> float | None:
    try:
        from langchain_core.embeddings import Embeddings
        from langchain_weaviate import WeaviateVectorStore
    except ImportError:
        return None
    table = {t.text: v for t, v in zip(turns, vectors, strict=True)}

    class Precomputed(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [table[t] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_query(text)

    store = WeaviateVectorStore(client, f"Lc{uuid.uuid4().hex[:6]}", "text", Precomputed())
    texts = [t.text for t in turns]
    metas = [t.metadata for t in turns]
    return rate(len(turns), lambda: store.add_texts(texts, metas))


def ingest_llamaindex_weaviate(
    client: Any, turns: list[Turn], vectors: list[list[float]]
) -> float | None:
    try:
        from llama_index.core.schema import TextNode
        from llama_index.vector_stores.weaviate import WeaviateVectorStore
    except ImportError:
        return None
    store = WeaviateVectorStore(weaviate_client=client, index_name=f"Li{uuid.uuid4().hex[:6]}")
    nodes = [
        TextNode(text=t.text, metadata=t.metadata, embedding=v)
        for t, v in zip(turns, vectors, strict=True)
    ]
    return rate(len(turns), lambda: store.add(nodes))


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
    embedder = WordLlamaEmbedder()
    vectors = embedder.embed_documents([t.text for t in turns])
    qvectors = embedder.embed_documents([q for _, q, _, _ in questions])
    with weaviate_only() as mem:
        run(mem, turns, vectors, questions, qvectors, args.queries, embedder)


def run(
    mem: AgentMem,
    turns: list[Turn],
    vectors: list[list[float]],
    questions: list[tuple[str, str, set[str], int]],
    qvectors: list[list[float]],
    n_queries: int,
    embedder: WordLlamaEmbedder,
) -> None:
    client = mem.weaviate()
    bench = LongTermMemory(mem, tenant="bench", collection=f"Am{uuid.uuid4().hex[:6]}")
    bench.setup()
    # 10,000 documents: the LoCoMo turns repeated, each copy with its own id.
    docs = [turns[i % len(turns)] for i in range(N_INGEST)]
    dvecs = [vectors[i % len(turns)] for i in range(N_INGEST)]
    records = [
        MemoryRecord(
            t.text, t.metadata, id=f"{t.conversation}/{t.dia_id}/{i // len(turns)}", vector=v
        )
        for i, (t, v) in enumerate(zip(docs, dvecs, strict=True))
    ]
    n = len(records)
    rows = [
        ("agentmem LongTermMemory.add", rate(n, lambda: bench.add(records))),
        ("weaviate-client insert_many (floor)", rate(n, lambda: ingest_plain(client, docs, dvecs))),
        ("langchain-weaviate add_texts", ingest_langchain_weaviate(client, docs, dvecs, embedder)),
        ("llama-index-vector-stores-weaviate add", ingest_llamaindex_weaviate(client, docs, dvecs)),
    ]  # fmt: skip
    base = rows[0][1]
    assert base is not None
    print(
        f"\n## Ingest ({n:,} documents: {len(turns):,} LoCoMo turns repeated with distinct ids, "
        f"precomputed {MODEL} vectors, one tenant)\n"
    )
    print("| system | objects/s | ratio to agentmem |\n|---|---:|---:|")
    for name, value in rows:
        if value is None:
            print(f"| {name} | not installed | - |")
        else:
            print(f"| {name} | {value:,.0f} | {value / base:.2f} |")

    raw = client.collections.use(bench.collection).with_tenant("bench").query
    sample = list(zip(questions, qvectors, strict=True))[:n_queries]
    lat: dict[str, list[float]] = {k: [] for k in ("am_vec", "raw_vec", "am_bm25", "raw_bm25")}
    for (_, question, _, _), qv in sample:
        lat["am_vec"].append(timed(lambda: bench.search(vector=qv, k=K, mode="vector")))  # noqa: B023
        lat["raw_vec"].append(timed(lambda: raw.near_vector(qv, limit=K)))  # noqa: B023
        lat["am_bm25"].append(timed(lambda: bench.search(question, k=K, mode="bm25")))  # noqa: B023
        lat["raw_bm25"].append(timed(lambda: raw.bm25(question, limit=K)))  # noqa: B023
    print(
        f"\n## Query latency ({len(sample)} LoCoMo questions over the {n:,} documents, k={K}, ms; "
        f"ratio = p50 / agentmem p50)\n"
    )
    print("| query | system | p50 | p95 | ratio to agentmem |\n|---|---|---:|---:|---:|")
    for kind in ("vec", "bm25"):
        base_p50 = pct(lat[f"am_{kind}"], 0.5)
        for system, key in (("agentmem search", "am"), ("weaviate-client", "raw")):
            values = lat[f"{key}_{kind}"]
            p50, p95 = pct(values, 0.5), pct(values, 0.95)
            print(f"| {kind} | {system} | {p50:.2f} | {p95:.2f} | {p50 / base_p50:.2f} |")

    quality = LongTermMemory(mem, tenant="x", collection=f"Lq{uuid.uuid4().hex[:6]}")
    by_conv: dict[str, LongTermMemory] = {}
    for t in turns:
        if t.conversation not in by_conv:
            by_conv[t.conversation] = LongTermMemory(
                mem, tenant=t.conversation, collection=quality.collection, embedder=embedder
            )
    for conv, lt in by_conv.items():
        lt.add(
            [
                MemoryRecord(t.text, t.metadata, id=t.dia_id, vector=v)
                for t, v in zip(turns, vectors, strict=True)
                if t.conversation == conv
            ]
        )
    # recall[mode][category] and hit[mode][category]: one value per question.
    recall: dict[str, dict[int, list[float]]] = {m: {} for m in MODES}
    hit: dict[str, dict[int, list[float]]] = {m: {} for m in MODES}
    # The question text only: vector and hybrid embed it through the memory's embedder.
    for conv, question, evidence, category in questions:
        for mode in MODES:
            hits = by_conv[conv].search(question, k=K, mode=mode)  # type: ignore[arg-type]
            found = {h.record.id for h in hits}
            recall[mode].setdefault(category, []).append(len(found & evidence) / len(evidence))
            hit[mode].setdefault(category, []).append(1.0 if found & evidence else 0.0)
    categories = sorted({c for _, _, _, c in questions})
    counts = {c: sum(1 for q in questions if q[3] == c) for c in categories}
    print(
        f"\n## LoCoMo retrieval, k={K}, {len(questions)} questions of categories 1-4 "
        f"(vector and hybrid: {MODEL}; per category: recall / hit)\n"
    )
    head = " | ".join(f"cat {c} (n={counts[c]})" for c in categories)
    print(f"| mode | evidence recall@10 | hit@10 | {head} |")
    print("|---|---:|---:|" + "---:|" * len(categories))
    for mode in MODES:
        every_r = [r for rs in recall[mode].values() for r in rs]
        every_h = [h for hs in hit[mode].values() for h in hs]
        cells = " | ".join(
            f"{statistics.mean(recall[mode][c]):.3f} / {statistics.mean(hit[mode][c]):.3f}"
            for c in categories
        )
        print(
            f"| {mode} | {statistics.mean(every_r):.3f} | {statistics.mean(every_h):.3f} | {cells} |"
        )
    window_sweep(mem, quality.collection, questions)
    bench.drop_collection()
    quality.drop_collection()


if __name__ == "__main__":
    main()
