"""The `agentmem` memory commands against the test servers: look inside each memory, and
`forget` a user so that no trace of them is left in Redis or Weaviate."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agentmem import (
    AgentMem,
    AgentMemSettings,
    LongTermMemory,
    MemoryRecord,
    RunStore,
    SessionStore,
)
from langchain_agentmem import AgentMemCheckpointSaver
from tests.support import (
    RedisServer,
    WeaviateServer,
    agentmem_env,
    one_node_graph,
    redis_keys,
    run_cli,
)

USER = "ada-cli"


def _cli(redis: RedisServer, weaviate: WeaviateServer, prefix: str, *args: str) -> str:
    env = agentmem_env(redis, weaviate, prefix)
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _seed(mem: AgentMem) -> None:
    SessionStore(mem, user_id=USER).append("chat-1", [{"role": "user", "content": "I like tea"}])
    LongTermMemory(mem, tenant=USER).add([MemoryRecord("Ada prefers green tea", id="tea")])
    config = {"configurable": {"thread_id": USER, "user_id": USER}}
    one_node_graph(AgentMemCheckpointSaver(mem)).invoke({"x": 0}, config)
    RunStore(mem).save("approval", "run-1", b"{}", status="paused", user_id=USER)


@pytest.mark.timeout(300)  # fourteen CLI processes, each importing agentmem and weaviate-client
def test_memory_commands_show_what_was_written_and_forget_leaves_no_trace(
    redis_server: RedisServer, weaviate_server: WeaviateServer, full_settings: AgentMemSettings,
    full_mem: AgentMem,
) -> None:  # fmt: skip
    _seed(full_mem)
    cli = (redis_server, weaviate_server, full_settings.key_prefix)

    assert "chat-1\t1 messages" in _cli(*cli, "sessions", "--user", USER)
    assert '"content": "I like tea"' in _cli(*cli, "session", "--user", USER, "chat-1")
    assert USER in _cli(*cli, "threads").split()
    assert _cli(*cli, "threads", "--user", USER).split() == [USER]
    assert _cli(*cli, "threads", "--user", "someone-else") == ""
    assert "channel values" in _cli(*cli, "checkpoints", USER)
    shown = json.loads(_cli(*cli, "checkpoint", USER))
    assert shown["thread_id"] == USER
    assert shown["channel_values"]["__root__"] == {"x": 1}  # msgpack decoded
    assert "approval\trun-1\tpaused" in _cli(*cli, "runs", "--user", USER)
    assert "approval\trun-1\tpaused" in _cli(*cli, "runs", "--workflow", "approval")
    assert "Ada prefers green tea" in _cli(*cli, "search", "--tenant", USER, "tea")

    from agentmem._weaviate.schema import tenant_name

    tenants = full_mem.weaviate().collections.use("AgentMemory").tenants
    assert tenant_name(USER) in tenants.get()  # so the check after forget means something
    dry = _cli(*cli, "forget", "--user", USER)
    assert dry.startswith("would delete")
    assert "1 chat sessions, 1 LangGraph threads, 1 saved workflow runs" in dry
    assert SessionStore(full_mem, user_id=USER).count("chat-1") == 1  # nothing deleted yet

    # The thread was linked to the user by the saver: forget finds it without --thread.
    assert _cli(*cli, "forget", "--user", USER, "--yes").startswith("deleted")
    assert RunStore(full_mem).get("approval", "run-1") is None
    assert SessionStore(full_mem, user_id=USER).list_sessions() == []
    assert (
        AgentMemCheckpointSaver(full_mem).get_tuple({"configurable": {"thread_id": USER}}) is None
    )
    assert tenant_name(USER) not in tenants.get()  # the tenant itself is gone
    assert redis_keys(full_mem) == []  # no key of the user's sessions or thread is left


@pytest.mark.parametrize("command", [["sessions", "--user", "u1"], ["search", "--tenant", "u1", "tea"],
                                     ["threads"]])  # fmt: skip
def test_a_read_against_a_stopped_local_default_starts_nothing_and_says_how(
    tmp_path: Path, command: list[str]
) -> None:
    from agentmem.local import WeaviatePorts, free_port

    ports = WeaviatePorts.free()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEM_")}
    env.update(AGENTMEM_HOME=str(tmp_path), AGENTMEM_LOCAL_REDIS_PORT=str(free_port()),
               AGENTMEM_LOCAL_WEAVIATE_PORT=str(ports.http),
               AGENTMEM_LOCAL_GRPC_PORT=str(ports.grpc))  # fmt: skip
    result = run_cli(*command, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "agentmem up" in result.stderr
    status = run_cli("status", env=env, timeout=60)
    assert status.returncode == 3, status.stdout  # nothing was started
    assert not (tmp_path / "data").exists()
