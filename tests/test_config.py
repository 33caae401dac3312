"""Settings: parsing the environment, and secrets that never show."""

from __future__ import annotations

import pytest

from agentmem import AgentMem, AgentMemSettings, ConfigurationError, RedisSettings, WeaviateSettings
from agentmem.config import redact_url


def test_from_env_reads_urls_credentials_and_headers() -> None:
    settings = AgentMemSettings.from_env(
        {
            "AGENTMEM_REDIS_URL": "rediss://alice:s3cret@redis.example:6380/2",
            "AGENTMEM_REDIS_CA_CERTS": "/etc/ca.pem",
            "AGENTMEM_WEAVIATE_URL": "https://weaviate.example:443",
            "AGENTMEM_WEAVIATE_GRPC_PORT": "50052",
            "AGENTMEM_WEAVIATE_API_KEY": "wv-key",
            "AGENTMEM_WEAVIATE_HEADERS": '{"X-OpenAI-Api-Key": "sk-1"}',
            "AGENTMEM_TIMEOUT": "2.5",
            "AGENTMEM_KEY_PREFIX": "app1",
        }
    )
    assert settings.redis.url == "rediss://alice:s3cret@redis.example:6380/2"
    assert settings.redis.ssl_ca_certs == "/etc/ca.pem"
    assert settings.redis.timeout == 2.5
    assert settings.weaviate.grpc_port == 50052
    assert settings.weaviate.api_key == "wv-key"
    assert dict(settings.weaviate.headers) == {"X-OpenAI-Api-Key": "sk-1"}
    assert settings.key_prefix == "app1"


def test_unset_urls_mean_the_local_default() -> None:
    settings = AgentMemSettings.from_env({}).with_local_urls()
    assert settings.redis.url == "redis://127.0.0.1:16379/0"
    assert settings.weaviate.url == "http://127.0.0.1:18080"
    assert settings.weaviate.grpc_port == 15051


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AGENTMEM_REDIS_URL", "http://localhost:6379"),
        ("AGENTMEM_WEAVIATE_URL", "localhost:8080"),
        ("AGENTMEM_TIMEOUT", "soon"),
        ("AGENTMEM_WEAVIATE_HEADERS", "[1, 2]"),
    ],
)
def test_malformed_environment_raises_configuration_error(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        AgentMemSettings.from_env({name: value})


def test_secrets_never_appear_in_repr() -> None:
    settings = AgentMemSettings(
        redis=RedisSettings(url="redis://bob:hunter2@h:1/0", password="pw-redis"),
        weaviate=WeaviateSettings(url="http://h:2", api_key="key-wv", headers={"X-Key": "hdr-s"}),
    )
    text = repr(settings) + repr(AgentMem(settings))
    for secret in ("hunter2", "pw-redis", "key-wv", "hdr-s"):
        assert secret not in text
    assert "redis://bob:***@h:1/0" in text


def test_redact_url_keeps_urls_without_password() -> None:
    assert redact_url("redis://h:1/0") == "redis://h:1/0"
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"


def test_retry_delay_grows_and_is_capped() -> None:
    retry = AgentMemSettings().retry
    delays = [retry.delay(n) for n in range(1, 10)]
    assert delays == sorted(delays)
    assert delays[0] == retry.base_delay
    assert max(delays) == retry.max_delay


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({"AGENTMEM_REDIS_URL": "redis+cluster://n1:7000/0"}, "redis://n1:7000/0"),
        ({"AGENTMEM_REDIS_URL": "rediss+cluster://u:p@n1:7000/0"}, "rediss://u:p@n1:7000/0"),
        ({"AGENTMEM_REDIS_URL": "redis://n1:7000/0", "AGENTMEM_REDIS_CLUSTER": "1"},
         "redis://n1:7000/0"),
    ],
)  # fmt: skip
def test_cluster_mode_from_url_scheme_or_flag(environ: dict[str, str], url: str) -> None:
    redis = AgentMemSettings.from_env(environ).redis
    assert redis.cluster is True
    assert redis.url == url
