"""Every example runs in the test suite (against the test servers), so none of them rots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import RedisServer, WeaviateServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, redis: RedisServer, weaviate: WeaviateServer, prefix: str) -> str:
    env = {
        **os.environ,
        "AGENTMEM_REDIS_URL": redis.url,
        "AGENTMEM_WEAVIATE_URL": weaviate.url,
        "AGENTMEM_WEAVIATE_GRPC_PORT": str(weaviate.grpc_port),
        "AGENTMEM_KEY_PREFIX": prefix,
        "AGENTMEM_LOCAL_AUTOSTART": "0",
    }
    result = subprocess.run([sys.executable, str(EXAMPLES / script)], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart_shows_a_round_trip_through_each_memory(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    out = _run("quickstart.py", redis_server, weaviate_server, key_prefix)
    assert "long-term: recalled 'Ada prefers green tea in the afternoon'" in out
    assert "session:   2 messages survived, last 'Nice to meet you, Ada!'" in out
    assert "workflow:  paused with \"approve 'refund'?\"" in out
    assert "decision='yes'" in out
