"""Production connection options against real servers: Redis ACL users, rediss:// TLS with a
certificate the test makes, and Weaviate API-key authentication. Secrets never leak into errors."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmem import (
    AgentMem,
    AgentMemSettings,
    AuthenticationFailed,
    BackendUnavailable,
    LocalSettings,
    RedisSettings,
    WeaviateSettings,
)
from agentmem.local import LocalStack, WeaviatePorts, free_port
from tests.support import one_node_graph

pytestmark = pytest.mark.slow


def _redis(url: str, **options: object) -> AgentMemSettings:
    return AgentMemSettings(redis=RedisSettings(url=url, **options),  # type: ignore[arg-type]
                            local=LocalSettings(autostart=False))  # fmt: skip


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(
        tmp_path_factory.mktemp("acl-redis"), redis_port=free_port(),
        weaviate_ports=WeaviatePorts.free(),
        # Exactly the permissions the README tells users to grant, on agentmem's key prefix.
        redis_args=["--user", "default", "off", "--user", "agent", "on", ">agent-pw",
                    "~agentmem:*", "+@read", "+@write", "+@scripting", "+time", "+ping", "+client"],
    )  # fmt: skip
    # The readiness probe sends an unauthenticated PING; with `default` off Redis answers NOAUTH,
    # which still proves the server is up.
    stack.up(only=["redis"])
    yield stack
    stack.down()


@pytest.mark.parametrize("how", ["settings", "url"])
def test_redis_acl_user_and_password_connect(acl_redis: LocalStack, how: str) -> None:
    from agentmem.sessions import SessionStore
    from langchain_agentmem import AgentMemCheckpointSaver

    if how == "settings":
        url = f"redis://127.0.0.1:{acl_redis.redis_port}/0"
        settings = _redis(url, username="agent", password="agent-pw")
    else:
        settings = _redis(f"redis://agent:agent-pw@127.0.0.1:{acl_redis.redis_port}/0")
    with AgentMem(settings) as mem:
        assert mem.redis().client_info()["user"] == "agent"  # not the (disabled) default user
        store = SessionStore(mem, user_id="acl-user")
        store.append(f"s-{how}", [{"content": "written with the documented ACL"}])
        assert [m.data["content"] for m in store.read(f"s-{how}")] == [
            "written with the documented ACL"
        ]
        graph = one_node_graph(AgentMemCheckpointSaver(mem))
        config = {"configurable": {"thread_id": f"acl-{how}"}}
        graph.invoke({"x": 0}, config)
        assert graph.get_state(config).values == {"x": 1}


def test_wrong_acl_password_raises_without_leaking_it(acl_redis: LocalStack) -> None:
    url = f"redis://127.0.0.1:{acl_redis.redis_port}/0"
    settings = _redis(url, username="agent", password="not-the-pw-123")
    with AgentMem(settings) as mem, pytest.raises(AuthenticationFailed) as info:
        mem.ping(weaviate=False)
    assert "not-the-pw-123" not in str(info.value)
    assert "AGENTMEM_REDIS_PASSWORD" in str(info.value)


def _make_certificates(folder: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""
    paths = {name: folder / f"{name}.pem" for name in ("ca", "ca-key", "server", "server-key")}
    csr, ext = folder / "server.csr", folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=agentmem-test-ca",
        "-keyout", str(paths["ca-key"]), "-out", str(paths["ca"]))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(paths["server-key"]), "-out", str(csr))  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(paths["ca"]), "-CAkey", str(paths["ca-key"]),
        "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(paths["server"]))  # fmt: skip
    return paths


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    folder = tmp_path_factory.mktemp("tls-redis")
    certs = _make_certificates(folder)
    tls_port = free_port()
    stack = LocalStack(
        folder, redis_port=free_port(), weaviate_ports=WeaviatePorts.free(),
        redis_args=["--tls-port", str(tls_port), "--tls-cert-file", str(certs["server"]),
                    "--tls-key-file", str(certs["server-key"]),
                    "--tls-ca-cert-file", str(certs["ca"]), "--tls-auth-clients", "no"],
    )  # fmt: skip
    stack.up(only=["redis"])  # the plain port serves the readiness probe; the test uses TLS
    yield tls_port, certs["ca"]
    stack.down()


def test_rediss_verifies_the_server_certificate(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    with AgentMem(_redis(f"rediss://127.0.0.1:{port}/0", ssl_ca_certs=str(ca))) as mem:
        mem.ping(weaviate=False)
        mem.redis().set("tls-key", b"over tls")
        assert mem.redis().get("tls-key") == b"over tls"
    # Without our CA the certificate cannot be verified: agentmem never turns verification off.
    unverified = _redis(f"rediss://127.0.0.1:{port}/0", timeout=2.0)
    with (
        AgentMem(unverified) as mem,
        pytest.raises(BackendUnavailable, match=r"(?i)certificate|ssl"),
    ):
        mem.ping(weaviate=False)


async def test_async_rediss_verifies_the_server_certificate(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    # The port speaks only TLS, so a value written and read back went over a verified TLS link.
    async with AgentMem(_redis(f"rediss://127.0.0.1:{port}/0", ssl_ca_certs=str(ca))) as mem:
        client = await mem.aredis()
        await client.set("async-tls-key", b"over async tls")
        assert await client.get("async-tls-key") == b"over async tls"
    async with AgentMem(_redis(f"rediss://127.0.0.1:{port}/0", timeout=2.0)) as mem:
        with pytest.raises(BackendUnavailable, match=r"(?i)certificate|ssl"):
            await mem.aping(weaviate=False)


@pytest.fixture(scope="module")
def keyed_weaviate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(
        tmp_path_factory.mktemp("keyed-weaviate"), redis_port=free_port(),
        weaviate_ports=WeaviatePorts.free(),
        weaviate_env={
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "false",
            "AUTHENTICATION_APIKEY_ENABLED": "true",
            "AUTHENTICATION_APIKEY_ALLOWED_KEYS": "right-key-456",
            "AUTHENTICATION_APIKEY_USERS": "tester",
        },
    )  # fmt: skip
    stack.up(only=["weaviate"])
    yield stack
    stack.down()


def _weaviate(stack: LocalStack, api_key: str | None) -> AgentMemSettings:
    return AgentMemSettings(
        weaviate=WeaviateSettings(url=stack.weaviate_url, grpc_port=stack.weaviate_ports.grpc,
                                  api_key=api_key, startup_timeout=10.0),
        local=LocalSettings(autostart=False),
    )  # fmt: skip


def test_weaviate_api_key_is_required_and_accepted(keyed_weaviate: LocalStack) -> None:
    anonymous = _weaviate(keyed_weaviate, None)
    with AgentMem(anonymous) as mem, pytest.raises(AuthenticationFailed, match="API_KEY"):
        mem.ping(redis=False)
    with AgentMem(_weaviate(keyed_weaviate, "wrong-key-123")) as mem:
        with pytest.raises(AuthenticationFailed) as info:
            mem.ping(redis=False)
        assert "wrong-key-123" not in str(info.value)
    with AgentMem(_weaviate(keyed_weaviate, "right-key-456")) as mem:
        mem.ping(redis=False)
        assert "right-key-456" not in repr(mem)


async def test_async_weaviate_api_key(keyed_weaviate: LocalStack) -> None:
    async with AgentMem(_weaviate(keyed_weaviate, "right-key-456")) as mem:
        await mem.aping(redis=False)
    async with AgentMem(_weaviate(keyed_weaviate, None)) as mem:
        with pytest.raises(AuthenticationFailed):
            await mem.aping(redis=False)


def test_acl_without_the_documented_permissions_names_what_to_grant(
    tmp_path: Path,
) -> None:
    stack = LocalStack(tmp_path, redis_port=free_port(), weaviate_ports=WeaviatePorts.free(),
                       redis_args=["--user", "default", "off", "--user", "agent", "on", ">pw",
                                   "~agentmem:*", "+@read", "+@write", "+@scripting", "+ping",
                                   "+client"])  # no +time  # fmt: skip
    stack.up(only=["redis"])
    try:
        url = f"redis://agent:pw@127.0.0.1:{stack.redis_port}/0"
        from agentmem.sessions import SessionStore

        with AgentMem(_redis(url)) as mem:
            with pytest.raises(AuthenticationFailed, match=r"\+time"):
                SessionStore(mem, user_id="u").append("s", [{"content": "x"}])
            assert SessionStore(mem, user_id="u").read("s") == []  # nothing was written
    finally:
        stack.down()
