"""agentmem quickstart: a real round trip through each memory, on the zero-config local default.

Run it with `make demo`. With no AGENTMEM_*_URL set, the first use starts a local Redis and a local
Weaviate (data under ~/.agentmem) and leaves them running for next time; `agentmem down` stops them.
"""

from __future__ import annotations

import uuid

from agentmem import AgentMem


def main() -> None:
    print("agentmem quickstart (the first run starts local servers; it may take a minute)")
    with AgentMem() as mem:
        mem.ping()
        print(f"  Redis    {mem.settings.redis.url}")
        print(f"  Weaviate {mem.settings.weaviate.url} (gRPC {mem.settings.weaviate.grpc_port})")

        # Redis round trip through the shared core.
        key = f"{mem.key_prefix}:quickstart:{uuid.uuid4().hex[:8]}"
        mem.redis().set(key, "hello from agentmem", ex=60)
        print(f"  redis    wrote and read back: {mem.redis().get(key)!r}")

        # Weaviate round trip through the shared core.
        client = mem.weaviate()
        name = "AgentmemQuickstart"
        if not client.collections.exists(name):
            client.collections.create(name)
        notes = client.collections.use(name)
        notes.data.insert({"text": "Ada prefers green tea in the afternoon"})
        hits = notes.query.bm25("tea", limit=1).objects
        print(f"  weaviate wrote and found by BM25: {hits[0].properties['text']!r}")
        client.collections.delete(name)
    print("done: both backends answered with what was written")


if __name__ == "__main__":
    main()
