"""Long-term memory speed: agentmem against plain weaviate-client and the framework peers.

One fresh Weaviate (agentmem.local.LocalStack on free loopback ports) serves every system in the
same run, with the same precomputed vectors from WordLlama (PyPI ``wordllama``, the 256-dim
``l2_supercat`` model whose weights and tokenizer ship inside the wheel: torch-free, loaded with
downloads disabled, so nothing is fetched at run time). Retrieval quality is measured by
``bench_retrieval.py``, not here.

* ingest: 10,000 documents (the turns of the LoCoMo dev conversations, ../shared/data/locomo_dev.json
  from the project root, read in place, never copied, repeated with distinct ids to reach 10,000).
  Every system writes into a collection (and tenant) made for it before the clock starts, and only
  the write is timed; the rows run ``--ingest-rounds`` times, interleaved (a fresh order each
  round), and the table gives medians. Systems: agentmem ``LongTermMemory.add`` (checking and encoding
  included: that is its own work), plain ``insert_many`` of the very objects agentmem stores (the
  same properties, uuids and vectors, built before the clock, into a collection of agentmem's
  schema: the floor), and, when installed, langchain-weaviate ``WeaviateVectorStore.add_texts``
  and llama-index-vector-stores-weaviate ``WeaviateVectorStore.add``.
* query: the LoCoMo questions as k=10 vector, BM25 and hybrid queries over the 10,000 documents;
  agentmem's ``search`` against the plain weaviate-client call **with the arguments agentmem's plan
  sends** (read from the plan itself: the same filter, return properties, metadata and limit), and,
  for information, the bare call (``near_vector(v, limit=10)``: no filter, default properties and
  metadata). Every question runs every row, in a shuffled order, for ``--rounds`` passes;
  the ratio is agentmem's p50 over the plain call's p50, the median of the passes' ratios.
  agentmem's collection handles skip the client's own argument checks (agentmem checks its
  arguments itself); the plain call keeps them, as a plain user's would.
* where the time goes: agentmem's stages of one vector query and of one 200-document write, each
  timed alone (medians of repeated runs).

Run: ``.venv/bin/python bench/bench_longterm.py [--data PATH]`` (about four minutes).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import weaviate
from _servers import weaviate_only
from weaviate.classes.data import DataObject
from weaviate.classes.tenants import Tenant

from agentmem import AgentMem
from agentmem._plan import run_sync
from agentmem._weaviate import codec, lifecycle, plans, schema
from agentmem._weaviate.args import make_scope
from agentmem.longterm import LongTermMemory, MemoryRecord

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "locomo_dev.json"
DIMS = 256
K = 10
N_INGEST = 10_000
FLOOR_BATCH = codec.BATCH  # objects per plain insert_many call
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


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def fresh(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# -- ingest --------------------------------------------------------------------------------------

Ingest = Callable[[], tuple[Callable[[], Any], Callable[[], None]]]
"""Makes a fresh target (untimed) and returns (the timed write, the untimed cleanup)."""


def agentmem_ingest(mem: AgentMem, records: list[MemoryRecord]) -> Ingest:
    def make() -> tuple[Callable[[], Any], Callable[[], None]]:
        lt = LongTermMemory(mem, tenant="bench", collection=fresh("Am"))
        lt.setup()  # the collection and the tenant, before the clock
        return (lambda: lt.add(records)), lt.drop_collection

    return make


def plain_ingest(client: weaviate.WeaviateClient, records: list[MemoryRecord]) -> Ingest:
    """insert_many of exactly what agentmem stores, into a collection of agentmem's schema."""
    prepared = codec.prepare(records)

    def make() -> tuple[Callable[[], Any], Callable[[], None]]:
        name = fresh("Plain")
        client.collections.create(**schema.create_kwargs(name))
        handle = client.collections.use(name)
        handle.tenants.create([Tenant(name="bench")])
        tenant = handle.with_tenant("bench")
        objects = [
            DataObject(properties=p.properties, uuid=p.uuid, vector=p.vector) for p in prepared
        ]

        def write() -> None:
            for start in range(0, len(objects), FLOOR_BATCH):
                result = tenant.data.insert_many(objects[start : start + FLOOR_BATCH])
                assert not result.errors, result.errors

        return write, lambda: client.collections.delete(name)

    return make


def langchain_ingest(
    client: weaviate.WeaviateClient, docs: list[Turn], vectors: list[list[float]]
) -> Ingest | None:
    try:
        from langchain_core.embeddings import Embeddings
        from langchain_weaviate import WeaviateVectorStore
    except ImportError:
        return None
    table = {t.text: v for t, v in zip(docs, vectors, strict=True)}

    class Precomputed(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [table[t] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return table[text]

    texts = [t.text for t in docs]
    metas = [t.metadata for t in docs]

    def make() -> tuple[Callable[[], Any], Callable[[], None]]:
        name = fresh("Lc")
        store = WeaviateVectorStore(client, name, "text", Precomputed())  # creates the collection
        return (lambda: store.add_texts(texts, metas)), lambda: client.collections.delete(name)

    return make


def llamaindex_ingest(
    client: weaviate.WeaviateClient, docs: list[Turn], vectors: list[list[float]]
) -> Ingest | None:
    try:
        from llama_index.core.schema import TextNode
        from llama_index.vector_stores.weaviate import WeaviateVectorStore
    except ImportError:
        return None

    def make() -> tuple[Callable[[], Any], Callable[[], None]]:
        name = fresh("Li")
        store = WeaviateVectorStore(weaviate_client=client, index_name=name)  # creates it
        nodes = [
            TextNode(text=t.text, metadata=t.metadata, embedding=v)
            for t, v in zip(docs, vectors, strict=True)
        ]
        return (lambda: store.add(nodes)), lambda: client.collections.delete(name)

    return make


def ingest_rows(systems: list[tuple[str, Ingest | None]], n: int, rounds: int) -> None:
    live = [(name, make) for name, make in systems if make is not None]
    rates: dict[str, list[float]] = {name: [] for name, _ in live}
    order = random.Random(12)
    for _ in range(rounds):
        for name, make in order.sample(live, len(live)):  # a fresh order every round
            write, cleanup = make()
            try:
                rates[name].append(n / timed(write))
            finally:
                cleanup()
            time.sleep(1.0)  # the server's own work after a drop, before the next row
    am = rates[live[0][0]]
    print(
        f"\n## Ingest ({n:,} documents, precomputed {MODEL} vectors, one tenant; median of "
        f"{rounds} interleaved rounds, each into a fresh collection; only the write is timed)\n"
    )
    print("| system | objects/s (median) | per round | agentmem / system |\n|---|---:|---|---:|")
    for name, make in systems:
        if make is None:
            print(f"| {name} | not installed | | - |")
            continue
        values = rates[name]
        ratio = statistics.median(a / b for a, b in zip(am, values, strict=True))
        rounds_text = ", ".join(f"{v:,.0f}" for v in values)
        print(f"| {name} | {statistics.median(values):,.0f} | {rounds_text} | {ratio:.2f} |")


# -- query ---------------------------------------------------------------------------------------


class _Recorder:
    """Stands in for a client and records the last method called on it with its arguments."""

    def __init__(self) -> None:
        self.method = ""
        self.args: tuple[Any, ...] = ()
        self.kwargs: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        self.method = name
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.args, self.kwargs = args, kwargs
        return self


def sent_by(lt: LongTermMemory, client: Any, **search: Any) -> tuple[str, dict[str, Any]]:
    """The query method and keyword arguments agentmem's search plan sends for ``search``.

    The plan runs on the real client up to its query call, which goes to a recorder instead.
    """
    q, scope = lt._query(search.get("query"), search.get("vector"), search["mode"], K, 0.5, None,
                         0, None, None, None, None)  # fmt: skip
    plan = lt._search_plan(q, scope, K, None, False, 0)
    call = next(plan)
    while not call.label.startswith("longterm.search."):
        call = plan.send(call.fn(client))
    recorder = _Recorder()
    call.fn(recorder)
    plan.close()
    return recorder.method, recorder.kwargs


def describe(kwargs: dict[str, Any]) -> str:
    def short(key: str, value: Any) -> str:
        if key == "return_properties":
            return f"{len(value)} properties"
        if key == "return_metadata":
            return "+".join(k for k, v in vars(value).items() if v) if value else "default"
        if key == "filters":
            return "none" if value is None else type(value).__name__.lstrip("_")
        return repr(value)

    return ", ".join(f"{k}={short(k, v)}" for k, v in kwargs.items() if k not in ("vector",))


def query_rows(
    lt: LongTermMemory, client: weaviate.WeaviateClient, questions: list[str],
    qvectors: list[list[float]], rounds: int,
) -> None:  # fmt: skip
    raw = client.collections.use(lt.collection).with_tenant(lt._target.tenant).query
    q0, v0 = questions[0], qvectors[0]
    shapes = {
        "vector": sent_by(lt, client, vector=v0, mode="vector"),
        "bm25": sent_by(lt, client, query=q0, mode="bm25"),
        "hybrid": sent_by(lt, client, query=q0, vector=v0, mode="hybrid"),
    }
    assert [m for m, _ in shapes.values()] == ["near_vector", "bm25", "hybrid"], shapes
    vec, bm, hy = (shapes[m][1] for m in ("vector", "bm25", "hybrid"))
    hy = {k: v for k, v in hy.items() if k != "vector"}

    def rows(q: str, v: list[float]) -> list[tuple[str, Callable[[], Any]]]:
        return [
            ("am vector", lambda: lt.search(vector=v, k=K, mode="vector")),
            ("same vector", lambda: raw.near_vector(v, **vec)),
            ("bare vector", lambda: raw.near_vector(v, limit=K)),
            ("am bm25", lambda: lt.search(q, k=K, mode="bm25")),
            ("same bm25", lambda: raw.bm25(q, **bm)),
            ("bare bm25", lambda: raw.bm25(q, limit=K)),
            ("am hybrid", lambda: lt.search(q, vector=v, k=K, mode="hybrid")),
            ("same hybrid", lambda: raw.hybrid(q, vector=v, **hy)),
            ("bare hybrid", lambda: raw.hybrid(q, vector=v, limit=K)),
        ]

    sample = list(zip(questions, qvectors, strict=True))
    for q, v in sample[:30]:  # warm-up, not recorded
        for _, fn in rows(q, v):
            fn()
    lat: list[dict[str, list[float]]] = []
    # A fresh order for every question: a rotation would keep each row behind the same other row
    # (the slow hybrid call before the first row, say), which skews latency on a shared machine.
    order = random.Random(12)
    for _ in range(rounds):
        this: dict[str, list[float]] = {}
        for q, v in sample:
            ops = rows(q, v)
            order.shuffle(ops)
            for name, fn in ops:
                this.setdefault(name, []).append(timed(fn))
        lat.append(this)
    every = {name: [x for r in lat for x in r[name]] for name in lat[0]}
    print(
        f"\n## Query latency ({len(sample)} LoCoMo questions x {rounds} rounds, k={K}, ms; "
        "agentmem / plain = agentmem p50 over the plain call's p50, median of the rounds)\n"
    )
    for mode in ("vector", "bm25", "hybrid"):
        print(f"- {mode}: the plain call sends {describe(shapes[mode][1])}")
    print(
        "\n| query | system | p50 | p95 | agentmem / plain (per round) |\n|---|---|---:|---:|---:|"
    )
    for mode in ("vector", "bm25", "hybrid"):
        for system, key in (("agentmem search", "am"), ("weaviate-client, same arguments", "same"),
                            ("weaviate-client, bare call", "bare")):  # fmt: skip
            values = every[f"{key} {mode}"]
            cell = "-"
            if key != "am":
                ratios = [pct(r[f"am {mode}"], 0.5) / pct(r[f"{key} {mode}"], 0.5) for r in lat]
                each = ", ".join(f"{x:.2f}" for x in ratios)
                cell = f"{statistics.median(ratios):.2f} ({each})"
            print(
                f"| {mode} | {system} | {pct(values, 0.5):.2f} | {pct(values, 0.95):.2f} | {cell} |"
            )


# -- where the time goes -------------------------------------------------------------------------


def median_us(fn: Callable[[], Any], n: int = 200) -> float:
    fn()
    return statistics.median(timed(fn) for _ in range(n)) * 1e6


def stages(
    lt: LongTermMemory, client: weaviate.WeaviateClient, vector: list[float],
    records: Sequence[MemoryRecord],
) -> None:  # fmt: skip
    t = lt._target
    kind, kwargs = sent_by(lt, client, vector=vector, mode="vector")
    handle = lifecycle.col(client, t)
    result = handle.query.near_vector(vector, **kwargs)
    scope = make_scope(None, None, None, None)
    parts = {
        "arguments": median_us(
            lambda: lt._query(None, vector, "vector", K, 0.5, None, 0, None, None, None, None)
        ),
        "filter": median_us(lambda: run_sync(plans._compile(t, scope), None)),
        "handle": median_us(lambda: lifecycle.col(client, t)),
        "client call (gRPC)": median_us(lambda: handle.query.near_vector(vector, **kwargs)),
        "decode": median_us(lambda: [codec.hit(o, "distance", False) for o in result.objects]),
    }
    total = median_us(lambda: lt.search(vector=vector, k=K, mode="vector"))
    line = " | ".join(f"{k} {v:,.0f}" for k, v in parts.items())
    rest = total - sum(parts.values())
    print(
        f"\n## Where the time goes (median microseconds of each stage run alone)\n\n"
        f"- vector query ({kind}, k={K}): {line} | rest (plan, driver) {rest:,.0f} "
        f"| search() {total:,.0f}"
    )
    batch = list(records)
    prepared = codec.prepare(batch)
    data = [DataObject(properties=p.properties, uuid=p.uuid, vector=p.vector) for p in prepared]
    parts = {
        "check+encode": median_us(lambda: lt._prepare(batch), 20),
        "attach+cut": median_us(lambda: codec.batches(codec.attach(prepared, [], [])), 20),
        "DataObjects": median_us(
            lambda: [
                DataObject(properties=p.properties, uuid=p.uuid, vector=p.vector) for p in prepared
            ],
            20,
        ),
        "client insert_many (gRPC)": median_us(lambda: handle.data.insert_many(data), 20),
    }
    total = median_us(lambda: lt.add(batch), 20)
    line = " | ".join(f"{k} {v:,.0f}" for k, v in parts.items())
    rest = total - sum(parts.values())
    print(
        f"- write of {len(batch)} documents: {line} | rest (plan, result check) {rest:,.0f} "
        f"| add() {total:,.0f}"
    )


# -- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the questions")
    parser.add_argument("--ingest-rounds", type=int, default=5)
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    turns, questions = load(args.data)
    embedder = WordLlamaEmbedder()
    vectors = embedder.embed_documents([t.text for t in turns])
    texts = [q for _, q, _, _ in questions][: args.queries]
    qvectors = embedder.embed_documents(texts)
    with weaviate_only() as mem:
        run(
            mem,
            turns,
            vectors,
            texts,
            qvectors,
            args.rounds,
            args.ingest_rounds,
            not args.skip_ingest,
        )


def run(
    mem: AgentMem, turns: list[Turn], vectors: list[list[float]], questions: list[str],
    qvectors: list[list[float]], rounds: int, ingest_rounds: int, ingest: bool,
) -> None:  # fmt: skip
    client = mem.weaviate()
    # 10,000 documents: the LoCoMo turns repeated, each copy with its own id.
    docs = [turns[i % len(turns)] for i in range(N_INGEST)]
    dvecs = [vectors[i % len(turns)] for i in range(N_INGEST)]
    records = [
        MemoryRecord(
            t.text, t.metadata, id=f"{t.conversation}/{t.dia_id}/{i // len(turns)}", vector=v
        )
        for i, (t, v) in enumerate(zip(docs, dvecs, strict=True))
    ]
    if ingest:
        systems = [
            ("agentmem LongTermMemory.add", agentmem_ingest(mem, records)),
            ("weaviate-client insert_many, same objects (floor)", plain_ingest(client, records)),
            ("langchain-weaviate add_texts", langchain_ingest(client, docs, dvecs)),
            ("llama-index-vector-stores-weaviate add", llamaindex_ingest(client, docs, dvecs)),
        ]
        ingest_rows(systems, len(records), ingest_rounds)
    bench = LongTermMemory(mem, tenant="bench", collection=fresh("Am"))
    bench.setup()
    bench.add(records)
    try:
        query_rows(bench, client, questions, qvectors, rounds)
        stages(bench, client, qvectors[0], records[:200])
    finally:
        bench.drop_collection()


if __name__ == "__main__":
    main()
