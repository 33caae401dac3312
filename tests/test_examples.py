"""Every example runs in the test suite (against the test servers), so none of them rots."""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from agentmem import AgentMem
from agentmem._weaviate.schema import tenant_name
from agentmem.local import LocalRedisCluster, free_cluster_ports
from tests.support import RedisServer, WeaviateServer, agentmem_env, settings_for

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(
    script: str, redis: RedisServer, weaviate: WeaviateServer, prefix: str, **extra: str
) -> str:
    env = agentmem_env(redis, weaviate, prefix, AGENTMEM_EXAMPLES_MODEL="scripted", **extra)
    result = subprocess.run([sys.executable, str(EXAMPLES / script)], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _keys_left(redis: RedisServer, prefix: str) -> list[str]:
    """Redis keys under ``prefix`` (on every node of a cluster): what an example left behind."""
    with AgentMem(settings_for(redis, None, prefix)) as mem:
        return list(mem.redis().scan_iter(match=f"{prefix}:*"))


@pytest.mark.timeout(240)  # two Python processes that each import both frameworks
def test_quickstart_demo_shows_memory_forming_itself_across_frameworks_then_forgets(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    out = _run("quickstart.py", redis_server, weaviate_server, key_prefix)
    user = re.search(r"one user \((ada-\w+)\)", out)
    assert user, out
    lines = [line.strip() for line in out.splitlines()]
    # Session 1 (a child process): no memory tool is called; the turn is queued, not yet formed.
    assert "user:  Hi, I'm Ada. My favourite drink is green tea." in lines
    assert not [line for line in lines if line.startswith("tool:")]
    assert "queued for consolidation: 1 batch (no model ran yet)" in lines
    # A fresh process reads the conversation of session 1 back, and its worker forms the facts.
    assert "(2 messages of session 1 restored from Redis)" in lines
    assert (
        "the worker formed: The user's name is Ada | The user's favourite drink is green tea"
        in lines
    )
    # Session 2 recalls on its own; session 3 changes the preference.
    assert "agent: Ada, your favourite drink is green tea." in lines
    assert "facts now: The user's name is Ada | The user's favourite drink is black coffee" in lines
    # Session 4, LlamaIndex, recalls the new preference through its memory block.
    step5 = lines[
        lines.index("5. Session 4, a LlamaIndex agent: a Memory block recalls the same facts") :
    ]
    assert step5[1:3] == [
        "user:  What is my favourite drink?",
        "agent: Ada, your favourite drink is black coffee.",
    ]
    assert "session memory: 2 messages of this chat are in Redis" in lines
    # The CLI shows the old preference invalidated, not overwritten.
    history = lines[lines.index(f"6. agentmem facts --user {user[1]} --history") + 1 :][:3]
    assert history == [
        "The user's name is Ada: current",
        "The user's favourite drink is green tea: invalidated",
        "The user's favourite drink is black coffee: current",
    ]
    # The workflow paused in the child process and resumed here.
    paused = re.search(r"saved to Redis as run (voucher-\w+)", out)
    assert paused, out
    assert f"found run {paused[1]} (paused, saved at InputRequiredEvent)" in lines
    assert "human says 'yes' -> voucher sent" in lines
    # Forget me: nothing of the user is left in Redis or Weaviate.
    assert (
        "8. Forget me: deleted 1 chat session, 3 LangGraph threads, 1 workflow run, 0 queued "
        "consolidation batches and the tenant in AgentMemFacts" in lines
    )
    assert _keys_left(redis_server, key_prefix) == []
    with AgentMem(settings_for(redis_server, weaviate_server, key_prefix)) as mem:
        for collection in ("AgentMemFacts",):
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
    linked = re.search(r"^threads of (ada-\w+): ", out, re.M)
    assert linked, out
    user = linked.group(1)
    email = "bob@example.com: 'the report is ready'"
    assert out.splitlines() == [
        "paused before send_email {'to': 'bob@example.com', 'body': 'the report is ready'}, "
        "tools run so far: 0",
        f"threads of {user}: ['{user}:hitl']",  # user_id in configurable linked the thread
        "another user was refused: OwnershipError",  # the thread is the user's alone
        f"tool after approval: email sent to {email}",  # it ran only after the approval
        f"agent: from memory: email sent to {email}",
        f"forgot {user}: threads ['{user}:hitl']",
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


# -- each install extra brings what its quickstart and examples import ---------------------------

ROOT = EXAMPLES.parent
OURS = {"agentmem", "langchain_agentmem", "llamaindex_agentmem", "models", "__future__"}


def _extra_for(example: str) -> str:
    if example.startswith(("langchain_", "langgraph_")):
        return "langchain"
    return "llamaindex" if example.startswith("llamaindex_") else "all"


def _sources() -> list[tuple[str, str, str]]:
    """(where, extra, code): the two README quickstarts and every example script."""
    readme = (ROOT / "README.md").read_text()
    found = []
    for title, extra in (("LangChain / LangGraph", "langchain"), ("LlamaIndex", "llamaindex")):
        section = readme.split(f"## Quickstart: {title}\n", 1)[1]
        found.append((f"README {title}", extra, section.split("```python\n", 1)[1].split("```")[0]))
    for path in sorted(EXAMPLES.glob("*.py")):
        found.append((path.name, _extra_for(path.name), path.read_text()))
    return found


def _module_level_imports(code: str) -> set[str]:
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT  # the quickstarts use await
    tree = compile(code, "<quickstart>", "exec", flags=flags)
    modules = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return {m for m in modules if m.split(".")[0] not in OURS | set(sys.stdlib_module_names)}


def _extra_requirements(extras: set[str]) -> list[str]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the same parser, from PyPI (a dev dependency there)
        import tomli as tomllib
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted: list[str] = list(table["dependencies"])
    for extra in extras:
        wanted += table["optional-dependencies"][extra]
    return wanted


def _installed_by(extra: str) -> set[str]:
    """The distributions `pip install "agentmem[extra]"` installs (over the installed metadata)."""
    todo, seen = [Requirement(r) for r in _extra_requirements({extra})], set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name == "agentmem":  # agentmem[a,b] inside an extra
            todo += [Requirement(r) for r in _extra_requirements(set(requirement.extras))]
            continue
        if name in seen:
            continue
        seen.add(name)
        for raw in metadata.requires(name) or []:
            needed = Requirement(raw)
            contexts = [{"extra": e} for e in requirement.extras] or [{"extra": ""}]
            if needed.marker is None or any(needed.marker.evaluate(c) for c in contexts):
                todo.append(needed)
    return seen


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def _distribution_of(module: str) -> str:
    """The installed distribution that holds ``module`` (namespace packages such as
    ``langgraph`` are spread over several, so the module's own file decides)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, module
    origin = Path(spec.origin).resolve()
    for name in _packages_distributions().get(module.split(".")[0], []):
        dist = metadata.distribution(name)
        relative = [f for f in dist.files or [] if f.name == origin.name]
        if any(Path(str(dist.locate_file(f))).resolve() == origin for f in relative):
            return canonicalize_name(name)
    raise AssertionError(f"no installed distribution holds {module} ({origin})")


def test_each_extra_installs_what_its_quickstart_and_examples_import() -> None:
    installed = {extra: _installed_by(extra) for extra in ("langchain", "llamaindex", "all")}
    checked, missing = [], []
    for where, extra, code in _sources():
        for module in sorted(_module_level_imports(code)):
            checked.append(module)
            dist = _distribution_of(module)
            if dist not in installed[extra]:
                missing.append(f"{where} imports {module} (from {dist}), not in agentmem[{extra}]")
    assert "langchain.agents" in checked and "llama_index.core" in checked  # the parse found them
    assert missing == [], "\n".join(missing)
