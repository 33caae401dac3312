"""LangGraph store: what one vector per indexed field path costs in ``AgentMemStore``.

``AgentMemStore`` keeps, like ``InMemoryStore``, one vector per text its index's field paths pick
and scores an item by its best one. The vectors live in a companion collection
(``<collection>Paths``), one Weaviate object per vector carrying a copy of the item's value, so a
search is one ``near_vector`` call. This script measures, on one fresh Weaviate, an index of one
field against one of three fields, and a store without an index (``query`` ranked by BM25):

* objects: Weaviate objects stored for the items (items plus path vectors);
* batch put: items per second, written 50 per ``batch`` call;
* put p50: one ``put`` of an existing item (read, embed, write the vectors, then the item);
* search p50 / p95: ``search(prefix, query=..., limit=10)``.

Embeddings are agentmem's deterministic hashing embedder (no model, no download), so the numbers
are the store's own cost. Run: ``.venv/bin/python bench/bench_store.py`` (well under a minute).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from _servers import weaviate_only
from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp

from agentmem import AgentMem
from agentmem.longterm import LongTermMemory
from agentmem.testing.embedding import HashingEmbedder
from langchain_agentmem import AgentMemStore

N_ITEMS = 1000
N_PUTS = 100
N_SEARCHES = 300
# fmt: off
WORDS = ["tea", "ramen", "lisbon", "cat", "dog", "jazz", "piano", "river", "bond", "yield",
         "apple", "fox", "whale", "red", "blue", "green", "figs", "plums", "train", "bike",
         "rain", "snow", "chess", "opera"]
# fmt: on
_HASH = HashingEmbedder(dims=64)


class HashEmbeddings(Embeddings):
    """LangChain embeddings over agentmem's hashing embedder."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return _HASH.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return _HASH.embed_query(text)


def value(i: int) -> dict[str, Any]:
    def words(field: int) -> str:
        return " ".join(WORDS[(i * 7 + field * 5 + j) % len(WORDS)] for j in range(4))

    return {"a": words(1), "b": words(2), "c": words(3), "n": i}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def measure(mem: AgentMem, label: str, fields: list[str] | None) -> str:
    collection = f"Bs{uuid.uuid4().hex[:8]}"
    index: Any = (
        None if fields is None else {"dims": 64, "embed": HashEmbeddings(), "fields": fields}
    )
    store = AgentMemStore(mem, tenant="bench", collection=collection, index=index)
    try:
        start = time.perf_counter()
        for first in range(0, N_ITEMS, 50):
            store.batch([PutOp(("b",), f"k{i}", value(i)) for i in range(first, first + 50)])
        batch_rate = N_ITEMS / (time.perf_counter() - start)
        puts = []
        for i in range(N_PUTS):
            start = time.perf_counter()
            store.put(("b",), f"k{i}", value(i + 1))
            puts.append(time.perf_counter() - start)
        searches = []
        for i in range(N_SEARCHES):
            query = f"{WORDS[i % len(WORDS)]} {WORDS[(i * 3) % len(WORDS)]}"
            start = time.perf_counter()
            store.search(("b",), query=query, limit=10)
            searches.append(time.perf_counter() - start)
        objects = sum(
            len(LongTermMemory(mem, tenant="bench", collection=name).find(limit=10_000))
            for name in (collection, f"{collection}Paths")
        )
        return (
            f"| {label} | {objects:,} | {batch_rate:,.0f} | {pct(puts, 0.5):.1f} | "
            f"{pct(searches, 0.5):.1f} | {pct(searches, 0.95):.1f} |"
        )
    finally:
        store.drop_collections()


def main() -> None:
    with weaviate_only() as mem:
        measure(mem, "warm-up", ["a"])
        rows = [
            measure(mem, "index, 1 field", ["a"]),
            measure(mem, "index, 3 fields", ["a", "b", "c"]),
            measure(mem, "no index (BM25)", None),
        ]
    print(f"AgentMemStore, {N_ITEMS:,} items of 3 text fields, 64-dim hashing embeddings\n")
    print("| store | Weaviate objects | batch put (items/s) | put p50 (ms) | search p50 (ms) "
          "| search p95 (ms) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
