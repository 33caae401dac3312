"""Retrieval quality on LoCoMo: agentmem's BM25, vector and hybrid search against the textbook.

Every turn of the LoCoMo dev conversations (../shared/data/locomo_dev.json from the project
root, CC BY-NC 4.0: read in place, never copied or packaged) is stored as one memory, one tenant
per conversation, with its speaker and image caption in the text. Each question of categories
1-4 is asked with k=10; evidence recall@10 is the share of the question's evidence turns among
the results, hit@10 whether any is. No language model is involved.

Rows:

* textbook Okapi BM25: 30 lines of Python below over the same texts (lowercase alphanumeric
  tokens, no stopwords, k1 1.2, b 0.75), the floor issue 12 asks agentmem's BM25 to beat;
* Weaviate's defaults: a plain weaviate-client collection with no inverted-index settings (k1
  1.2, b 0.75, English stopwords removed from queries), what a collection made by hand ranks like;
* agentmem ``bm25`` (its BM25 settings, ``agentmem._weaviate.schema.BM25_*``), ``vector`` and
  ``hybrid`` (relativeScoreFusion, alpha 0.5) with WordLlama 256-dim vectors (see
  ``bench_longterm.py``).

The settings were tuned on this same slice (it is the only one here), so the BM25 gain is an
upper estimate for other data; the table says so.

Run: ``.venv/bin/python bench/bench_retrieval.py`` (about a minute).
"""

from __future__ import annotations

import logging
import math
import re
import statistics
import uuid
from collections import Counter
from collections.abc import Callable, Sequence

from _servers import weaviate_only
from bench_longterm import DATA, MODEL, Turn, WordLlamaEmbedder, load
from weaviate.classes.config import Configure, DataType, Property, Tokenization
from weaviate.classes.data import DataObject
from weaviate.classes.tenants import Tenant

from agentmem import AgentMem
from agentmem._weaviate import schema
from agentmem.longterm import LongTermMemory, MemoryRecord

K = 10
Question = tuple[str, str, set[str], int]
_TOKEN = re.compile(r"[a-z0-9]+")


class Okapi:
    """Textbook Okapi BM25 over one conversation's turns (Robertson-Sparck Jones idf, +1)."""

    def __init__(self, turns: Sequence[Turn], k1: float = 1.2, b: float = 0.75) -> None:
        self.ids = [t.dia_id for t in turns]
        self.docs = [Counter(_TOKEN.findall(t.text.lower())) for t in turns]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.average = sum(self.lengths) / len(self.lengths)
        self.df = Counter(word for doc in self.docs for word in doc)
        self.k1, self.b = k1, b

    def top(self, query: str, k: int) -> list[str]:
        n = len(self.docs)
        words = set(_TOKEN.findall(query.lower()))
        idf = {w: math.log(1 + (n - self.df[w] + 0.5) / (self.df[w] + 0.5)) for w in words}
        scores: list[tuple[float, int]] = []
        for i, doc in enumerate(self.docs):
            norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.average)
            score = sum(
                idf[w] * doc[w] * (self.k1 + 1) / (doc[w] + norm) for w in words if w in doc
            )
            if score > 0:
                scores.append((-score, i))
        return [self.ids[i] for _, i in sorted(scores)[:k]]


def score(
    questions: Sequence[Question], search: Callable[[str, str], list[str]]
) -> tuple[float, float, dict[int, float]]:
    """Mean evidence recall@K, hit@K and recall per category of ``search(conversation, q)``."""
    recall: dict[int, list[float]] = {}
    hits: list[float] = []
    for conv, question, evidence, category in questions:
        found = set(search(conv, question))
        recall.setdefault(category, []).append(len(found & evidence) / len(evidence))
        hits.append(1.0 if found & evidence else 0.0)
    every = [r for rs in recall.values() for r in rs]
    by_category = {c: statistics.mean(rs) for c, rs in sorted(recall.items())}
    return statistics.mean(every), statistics.mean(hits), by_category


def weaviate_defaults(mem: AgentMem, turns: Sequence[Turn]) -> Callable[[str, str], list[str]]:
    """A hand-made collection with Weaviate's default BM25 settings, one tenant per conversation."""
    client = mem.weaviate()
    collection = client.collections.create(
        f"Plain{uuid.uuid4().hex[:6]}",
        properties=[
            Property(name="text", data_type=DataType.TEXT, tokenization=Tokenization.WORD),
            Property(
                name="dia_id",
                data_type=DataType.TEXT,
                tokenization=Tokenization.FIELD,
                index_searchable=False,
            ),
        ],
        multi_tenancy_config=Configure.multi_tenancy(enabled=True),
        vector_config=Configure.Vectors.self_provided(),
    )
    conversations = sorted({t.conversation for t in turns})
    collection.tenants.create([Tenant(name=c) for c in conversations])
    for conv in conversations:
        objects = [
            DataObject(properties={"text": t.text, "dia_id": t.dia_id})
            for t in turns
            if t.conversation == conv
        ]
        result = collection.with_tenant(conv).data.insert_many(objects)
        assert not result.errors, result.errors

    def search(conv: str, question: str) -> list[str]:
        found = collection.with_tenant(conv).query.bm25(
            question, limit=K, return_properties=["dia_id"]
        )
        return [str(o.properties["dia_id"]) for o in found.objects]

    return search


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    turns, questions = load(DATA)
    embedder = WordLlamaEmbedder()
    vectors = embedder.embed_documents([t.text for t in turns])
    okapi = {
        conv: Okapi([t for t in turns if t.conversation == conv])
        for conv in {t.conversation for t in turns}
    }
    with weaviate_only() as mem:
        collection = f"Recall{uuid.uuid4().hex[:6]}"
        memories: dict[str, LongTermMemory] = {}
        for turn in turns:
            memories.setdefault(
                turn.conversation,
                LongTermMemory(
                    mem, tenant=turn.conversation, collection=collection, embedder=embedder
                ),
            )
        for conv, lt in memories.items():
            lt.add(
                [
                    MemoryRecord(t.text, t.metadata, id=t.dia_id, vector=v)
                    for t, v in zip(turns, vectors, strict=True)
                    if t.conversation == conv
                ]
            )

        def agentmem(mode: str) -> Callable[[str, str], list[str]]:
            def search(conv: str, question: str) -> list[str]:
                hits = memories[conv].search(question, k=K, mode=mode)  # type: ignore[arg-type]
                return [str(h.record.id) for h in hits]

            return search

        rows = [
            ("textbook Okapi BM25 (k1 1.2, b 0.75, no stopwords)", score(
                questions, lambda conv, q: okapi[conv].top(q, K)
            )),
            ("Weaviate defaults, plain client (k1 1.2, b 0.75, English stopwords)", score(
                questions, weaviate_defaults(mem, turns)
            )),
            (f"agentmem bm25 (k1 {schema.BM25_K1}, b {schema.BM25_B}, "
             f"stopwords {schema.STOPWORDS.value})", score(questions, agentmem("bm25"))),
            (f"agentmem vector ({MODEL})", score(questions, agentmem("vector"))),
            ("agentmem hybrid (relativeScoreFusion, alpha 0.5)", score(
                questions, agentmem("hybrid")
            )),
        ]  # fmt: skip
        memories[next(iter(memories))].drop_collection()
    categories = sorted(rows[0][1][2])
    counts = Counter(q[3] for q in questions)
    floor = rows[0][1][0]
    print(
        f"\n## LoCoMo retrieval, k={K}, {len(questions)} questions of categories 1-4, "
        f"{len(turns):,} turns in {len(okapi)} conversations (agentmem's BM25 settings were tuned "
        "on this slice)\n"
    )
    head = " | ".join(f"cat {c} (n={counts[c]})" for c in categories)
    print(f"| system | evidence recall@10 | ratio to textbook | hit@10 | {head} |")
    print("|---|---:|---:|---:|" + "---:|" * len(categories))
    for name, (recall, hit, by_category) in rows:
        cells = " | ".join(f"{by_category[c]:.3f}" for c in categories)
        print(f"| {name} | {recall:.3f} | {recall / floor:.2f} | {hit:.3f} | {cells} |")


if __name__ == "__main__":
    main()
