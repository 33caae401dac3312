"""``agentmem doctor`` against real servers: healthy, misconfigured, stopped, narrow ACLs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from weaviate.classes.config import Configure

from agentmem import AgentMem, AgentMemSettings
from agentmem._weaviate.schema import SCHEMA_VERSION, describe
from agentmem.local import LocalStack, WeaviatePorts, free_port
from tests.support import RedisServer, WeaviateServer, agentmem_env, run_cli


def doctor(env: dict[str, str]) -> tuple[int, list[str]]:
    result = run_cli("doctor", env=env)
    assert result.stderr == "", result.stderr
    return result.returncode, result.stdout.splitlines()


def fixes(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("[fix]")]


def test_a_healthy_setup_has_nothing_to_fix(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    code, lines = doctor(agentmem_env(redis_server, weaviate_server, key_prefix))
    assert (code, fixes(lines)) == (0, []), lines
    assert lines[-1] == "nothing to fix"
    said = "\n".join(lines)
    assert "[ok] redis grants: scripts, the server clock and keys under" in said
    mode = "cluster" if "+cluster://" in redis_server.url else "standalone"
    assert f"[ok] redis cluster mode: {mode}" in said
    assert "[ok] weaviate version: Weaviate " in said
    assert "[ok] weaviate replication: " in said


def test_a_cluster_flag_that_does_not_match_the_server_is_a_fix(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    if "+cluster://" in redis_server.url:  # a cluster node, configured as a standalone server
        flip = {"AGENTMEM_REDIS_URL": redis_server.url.replace("+cluster://", "://"),
                "AGENTMEM_REDIS_CLUSTER": "0"}  # fmt: skip
    else:
        flip = {"AGENTMEM_REDIS_CLUSTER": "1"}
    env = agentmem_env(redis_server, weaviate_server, key_prefix, **flip)
    code, lines = doctor(env)
    assert code == 2
    (fix,) = fixes(lines)
    assert fix.startswith("[fix] redis cluster mode:") and "AGENTMEM_REDIS_CLUSTER" in fix


def test_a_stopped_server_and_an_impossible_replication_factor_are_fixes(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    env = agentmem_env(redis_server, weaviate_server, key_prefix,
                       AGENTMEM_WEAVIATE_URL=f"http://127.0.0.1:{free_port()}")  # fmt: skip
    code, lines = doctor(env)
    assert code == 2
    (fix,) = fixes(lines)
    assert fix.startswith("[fix] weaviate reachable: not reachable: make sure http://127.0.0.1:")
    env = agentmem_env(redis_server, weaviate_server, key_prefix,
                       AGENTMEM_WEAVIATE_REPLICATION_FACTOR="9")  # fmt: skip
    code, lines = doctor(env)
    assert code == 2
    (fix,) = fixes(lines)
    assert "replication factor 9 with" in fix and "at most" in fix


def test_an_old_schema_version_says_to_run_setup(
    redis_server: RedisServer,
    weaviate_server: WeaviateServer,
    key_prefix: str,
    full_settings: AgentMemSettings,
) -> None:
    name = f"Old{uuid.uuid4().hex[:8]}"
    with AgentMem(full_settings) as mem:
        mem.weaviate().collections.create(
            name, description=describe(SCHEMA_VERSION - 1),
            multi_tenancy_config=Configure.multi_tenancy(enabled=True),
            replication_config=Configure.replication(factor=weaviate_server.replication_factor or 1),
        )  # fmt: skip
        try:
            code, lines = doctor(agentmem_env(redis_server, weaviate_server, key_prefix))
        finally:
            mem.weaviate().collections.delete(name)
    assert code == 2
    (fix,) = fixes(lines)
    assert fix.startswith(f"[fix] weaviate schema {name}: schema version {SCHEMA_VERSION - 1}")
    assert ".setup()" in fix


@pytest.fixture(scope="module")
def narrow_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(
        tmp_path_factory.mktemp("doctor-acl"), redis_port=free_port(),
        weaviate_ports=WeaviatePorts.free(),
        redis_args=["--user", "default", "off",
                    # What the README documents, on agentmem's prefix:
                    "--user", "full", "on", ">pw", "~agentmem:*", "+@read", "+@write",
                    "+@scripting", "+time", "+ping", "+client",
                    # No scripting:
                    "--user", "noscripts", "on", ">pw", "~agentmem:*", "+@read", "+@write",
                    "+time", "+ping", "+client",
                    # Another key prefix:
                    "--user", "elsewhere", "on", ">pw", "~other:*", "+@read", "+@write",
                    "+@scripting", "+time", "+ping", "+client"],
    )  # fmt: skip
    stack.up(only=["redis"])
    yield stack
    stack.down()


@pytest.mark.parametrize(
    ("user", "said"),
    [("full", None), ("noscripts", "eval"), ("elsewhere", "key")],
)
def test_the_grants_of_the_redis_user_are_probed(
    narrow_redis: LocalStack,
    weaviate_server: WeaviateServer,
    redis_server: RedisServer,
    user: str,
    said: str | None,
) -> None:
    env = agentmem_env(redis_server, weaviate_server, "agentmem",
                       AGENTMEM_REDIS_URL=f"redis://{user}:pw@127.0.0.1:{narrow_redis.redis_port}/0",
                       AGENTMEM_REDIS_CLUSTER="0")  # fmt: skip
    code, lines = doctor(env)
    grants = [
        line for line in lines if line.startswith(("[ok] redis grants", "[fix] redis grants"))
    ]
    assert len(grants) == 1, lines
    if said is None:  # the documented grants: nothing to fix at all
        assert (code, fixes(lines)) == (0, []), lines
        assert grants[0].startswith("[ok]")
        return
    assert code == 2 and grants[0].startswith("[fix] redis grants: the user lacks a grant")
    assert said in grants[0].lower() and "+@scripting" in grants[0]
