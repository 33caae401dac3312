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
    settings_for,
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
    assert (
        _cli(*cli, "threads", "--user", "someone-else")
        == "no LangGraph threads for user 'someone-else'\n"
    )
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


def test_version_help_and_empty_results_say_what_they_mean(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    from agentmem import __version__

    env = agentmem_env(redis_server, weaviate_server, key_prefix)
    assert run_cli("--version", env=env).stdout.strip() == f"agentmem {__version__}"
    helped = run_cli("--help", env=env).stdout
    assert "``" not in helped and ":class:" not in helped
    every = ("up", "status", "down", "install", "sessions", "session", "threads", "checkpoints",
             "checkpoint", "runs", "search", "facts", "worker", "forget", "doctor")  # fmt: skip
    for command in every:
        assert f"    {command}" in helped, command
    empty = {
        ("sessions", "--user", "nobody"): "no chat sessions for user 'nobody'",
        ("threads", "--user", "nobody"): "no LangGraph threads for user 'nobody'",
        ("checkpoints", "no-such-thread"): "no checkpoints in thread 'no-such-thread'",
        ("runs", "--user", "nobody"): "no saved workflow runs of user 'nobody'",
        ("session", "--user", "nobody", "s1"): "no messages in session 's1' of user 'nobody'",
    }
    for args, said in empty.items():
        result = run_cli(*args, env=env)
        assert (result.returncode, result.stdout.strip()) == (0, said), (args, result.stderr)


def test_a_closed_pipe_ends_the_command_quietly(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    import subprocess
    import sys

    env = agentmem_env(redis_server, weaviate_server, key_prefix)
    with AgentMem(settings_for(redis_server, weaviate_server, key_prefix)) as mem:
        store = SessionStore(mem, user_id=USER)
        store.append("long", [{"role": "user", "content": f"line {i} " * 20} for i in range(3000)])
    reader = subprocess.Popen(["head", "-n", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert reader.stdin is not None
    cli = subprocess.run([sys.executable, "-m", "agentmem", "session", "--user", USER, "long"],
                         env=env, stdout=reader.stdin, stderr=subprocess.PIPE, text=True,
                         timeout=120)  # fmt: skip
    reader.stdin.close()
    reader.wait()
    assert (cli.returncode, cli.stderr) == (0, "")


def test_memory_commands_honour_the_local_options_of_up(tmp_path: Path) -> None:
    from agentmem.local import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEM_")}
    port = free_port()
    result = run_cli("sessions", "--user", "ada", "--home", str(tmp_path), "--redis-port",
                     str(port), env=env)  # fmt: skip
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr and "agentmem up" in result.stderr
