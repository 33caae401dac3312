"""Every example runs in the test suite (against the test servers), so none of them rots."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentmem import AgentMem
from agentmem._weaviate.schema import tenant_name
from agentmem.local import LocalRedisCluster, free_cluster_ports
from tests.conftest import RedisServer, WeaviateServer, settings_for

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(
    script: str, redis: RedisServer, weaviate: WeaviateServer, prefix: str, **extra: str
) -> str:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEM_")}
    env = {
        **inherited,
        "AGENTMEM_REDIS_URL": redis.url,
        "AGENTMEM_WEAVIATE_URL": weaviate.url,
        "AGENTMEM_WEAVIATE_GRPC_PORT": str(weaviate.grpc_port),
        "AGENTMEM_KEY_PREFIX": prefix,
        "AGENTMEM_LOCAL_AUTOSTART": "0",
        "AGENTMEM_EXAMPLES_MODEL": "scripted",
        **extra,
    }
    if weaviate.replication_factor:
        env["AGENTMEM_WEAVIATE_REPLICATION_FACTOR"] = str(weaviate.replication_factor)
    if weaviate.consistency:
        env["AGENTMEM_WEAVIATE_CONSISTENCY"] = weaviate.consistency
    result = subprocess.run([sys.executable, str(EXAMPLES / script)], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _keys_left(redis: RedisServer, prefix: str) -> list[str]:
    """Redis keys under ``prefix`` (on every node of a cluster): what an example left behind."""
    with AgentMem(settings_for(redis, None, prefix)) as mem:
        return list(mem.redis().scan_iter(match=f"{prefix}:*"))


@pytest.mark.timeout(240)  # two Python processes that each import both frameworks
def test_quickstart_demo_shows_the_four_behaviours_then_forgets_the_user(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    out = _run("quickstart.py", redis_server, weaviate_server, key_prefix)
    user = re.search(r"one user \((ada-\w+)\)", out)
    assert user, out
    fact = "I take my tea green, no sugar."
    lines = [line.strip() for line in out.splitlines()]
    # Session 1 (a child process): the name goes to the LangGraph store, the fact to long-term.
    assert "tool:  save_name('Ada')" in lines
    assert f"tool:  remember({fact!r})" in lines
    # A fresh process reads the conversation of session 1 back from the checkpointer.
    assert "(5 messages of session 1 restored from Redis)" in lines
    assert f"agent: You asked me to remember: {fact!r}" in lines
    # Session 2 (a new thread): the fact from long-term memory and the name from the store.
    assert f"agent: Ada, from memory: {fact}" in lines
    # The LlamaIndex agent finds the fact the LangChain tool wrote; its chat is in Redis.
    step4 = lines[
        lines.index("4. A LlamaIndex agent recalls the fact that the LangChain tool wrote") :
    ]
    assert step4[1:3] == ["user:  How do I take my tea?", f"agent: from memory: {fact}"]
    assert "session memory: 4 messages of this chat are in Redis" in lines
    # The workflow paused in the child process and resumed here.
    paused = re.search(r"saved to Redis as run (voucher-\w+)", out)
    assert paused, out
    assert f"found run {paused[1]} (paused, saved at InputRequiredEvent)" in lines
    assert "human says 'yes' -> voucher sent" in lines
    # Forget me: nothing of the user is left in Redis or Weaviate.
    assert (
        "6. Forget me: deleted 1 chat session, 2 threads, 1 workflow run and the user's tenant "
        "in 2 collections" in lines
    )
    assert _keys_left(redis_server, key_prefix) == []
    with AgentMem(settings_for(redis_server, weaviate_server, key_prefix)) as mem:
        for collection in ("AgentMemory", "AgentMemStore"):
            tenants = mem.weaviate().collections.use(collection).tenants.get()
            assert tenant_name(user[1]) not in tenants


def test_langchain_rag_answers_from_the_retrieved_note(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    out = _run("langchain_rag.py", redis_server, weaviate_server, key_prefix)
    retrieved = re.findall(r"^retrieved: (.+)$", out, re.M)
    assert len(retrieved) == 2  # k=2 of the three notes
    flight = "Ada's flight to Lisbon leaves on Friday at 9:40"
    assert retrieved[0] == flight  # BM25 ranks the note that shares the most words first
    assert f"answer: According to your memory: {flight}" in out  # the chain's Context held it


def test_langgraph_hitl_pauses_before_the_tool_and_a_new_agent_resumes_it(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    out = _run("langgraph_hitl.py", redis_server, weaviate_server, key_prefix)
    linked = re.search(r"^threads of (ada-(\w+)): ", out, re.M)
    assert linked, out
    user, run = linked.groups()
    email = "bob@example.com: 'the report is ready'"
    assert out.splitlines() == [
        "paused before send_email {'to': 'bob@example.com', 'body': 'the report is ready'}, "
        "tools run so far: 0",
        f"threads of {user}: ['hitl-{run}']",  # user_id in configurable linked the thread
        f"tool after approval: email sent to {email}",  # it ran only after the approval
        f"agent: from memory: email sent to {email}",
        f"forgot {user}: threads ['hitl-{run}']",
    ]
    assert _keys_left(redis_server, key_prefix) == []


def test_langgraph_store_shares_a_memory_across_threads_of_one_user_only(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    out = _run("langgraph_store.py", redis_server, weaviate_server, key_prefix)
    assert out.splitlines() == [
        "thread 1 of ada: I will remember that.",
        "thread 2 of ada: from memory: I am vegetarian",
        "thread 1 of bob: I found nothing in memory.",
        "ada's store holds: ['I am vegetarian']",
        "bob's store holds: []",
    ]
    assert _keys_left(redis_server, key_prefix) == []


def test_llamaindex_chat_history_is_read_back_by_a_new_memory_and_agent(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    out = _run("llamaindex_chat.py", redis_server, weaviate_server, key_prefix)
    assert out.splitlines() == [
        "user: Hi, I'm Ada.",
        "agent: noted.",
        "user: Remember that my locker code is 4711.",
        "agent: noted.",
        'new Memory read 4 messages from Redis, first "Hi, I\'m Ada."',
        "user: What did I ask you to remember?",
        "agent: You asked me to remember: 'my locker code is 4711.'",
    ]
    assert _keys_left(redis_server, key_prefix) == []


def test_llamaindex_workflow_is_resumed_and_finished_by_another_process(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    out = _run("llamaindex_workflow_resume.py", redis_server, weaviate_server, key_prefix)
    lines = out.splitlines()
    assert len(lines) == 4, out
    first = re.fullmatch(r"process (\d+) paused: refund 42 EUR\? \(yes/no\)", lines[0])
    second = re.fullmatch(r"process (\d+) found run \S+: 'paused' at InputRequiredEvent", lines[1])
    assert first and second
    assert first[1] != second[1]  # saved by one process, resumed by another
    assert lines[2] == "result: refund of 42 EUR approved"  # the amount came back from Redis
    assert lines[3] == "resumed again: refused, the run is 'completed'"
    assert _keys_left(redis_server, key_prefix) == []


def test_cluster_and_remote_runs_against_a_redis_cluster(
    tmp_path: Path, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    cluster = LocalRedisCluster(tmp_path, free_cluster_ports(3))
    cluster.up()
    try:
        # A plain URL of one node plus AGENTMEM_REDIS_CLUSTER=1, as in the example's docstring.
        node = RedisServer(cluster.url.replace("redis+cluster://", "redis://", 1), None)
        out = _run("cluster_and_remote.py", node, weaviate_server, key_prefix,
                   AGENTMEM_REDIS_CLUSTER="1")  # fmt: skip
        left = _keys_left(RedisServer(cluster.url, None), key_prefix)
    finally:
        cluster.down()
    lines = out.splitlines()
    assert lines[0].startswith(f"redis:    RedisSettings(url='{node.url}', cluster=True,")
    assert lines[1].startswith(f"weaviate: WeaviateSettings(url='{weaviate_server.url}',")
    assert lines[2:4] == ["the same settings built in code: True", "redis client: RedisCluster"]
    assert lines[4:7] == [
        "session:   2 messages read back, last 'Hello Ada!'",
        "workflow:  a new saver read the checkpoint back, count=42",
        'long-term: recalled "Ada\'s office is in building 7"',
    ]
    forgot = re.fullmatch(r"forgot (ada-(\w+)): .*", lines[7])
    assert forgot, out
    user, run = forgot.groups()
    assert lines[7] == f"forgot {user}: sessions ['chat-{run}'], threads ['count-{run}']"
    assert left == []  # the example cleaned up after itself, on every node
