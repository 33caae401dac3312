"""Print what a `make bench` run measured on: the machine, Python, Redis, Weaviate and the peers.

The README's benchmark tables name these, so a reader can tell which run a number comes from.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

from agentmem.local import WEAVIATE_VERSION, find_weaviate_binary

PACKAGES = (
    "agentmem", "redis", "weaviate-client", "langgraph", "langgraph-checkpoint-sqlite",
    "langgraph-checkpoint-postgres", "langchain-community", "langchain-weaviate", "llama-index-core",
    "llama-index-storage-chat-store-redis", "llama-index-vector-stores-weaviate",
)  # fmt: skip


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _redis() -> str:
    try:
        out = subprocess.run(
            [os.environ.get("AGENTMEM_REDIS_BIN", "redis-server"), "--version"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "not found"
    return next((w.removeprefix("v=") for w in out.split() if w.startswith("v=")), out.strip())


def main() -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"- machine: {_cpu()}, {os.cpu_count()} cores, load average {load} at the start")
    print(f"- Python {platform.python_version()} on {platform.system()} {platform.release()}")
    print(f"- Redis {_redis()} (redis-server, no modules)")
    print(f"- Weaviate {WEAVIATE_VERSION} ({find_weaviate_binary(build=False, download=False)})")
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    print("- packages: " + ", ".join(versions))


if __name__ == "__main__":
    main()
