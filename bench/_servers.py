"""What the benchmarks share: a throwaway Weaviate of the pinned version on free ports."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentmem import AgentMem, AgentMemSettings, LocalSettings, RedisSettings, WeaviateSettings
from agentmem.local import LocalStack, WeaviatePorts, free_port


@contextmanager
def weaviate_only() -> Iterator[AgentMem]:
    """An ``AgentMem`` on a Weaviate started for this run alone (and stopped after it)."""
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
                yield mem
        finally:
            stack.down()
