"""Settings: parsing the environment, and secrets that never show."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from agentmem import (
    AgentMem,
    AgentMemSettings,
    ConfigurationError,
    LocalSettings,
    RedisSettings,
    WeaviateSettings,
)
from agentmem.config import BOOLEAN_FALSE, BOOLEAN_TRUE, redact_url
from tests.support import run_cli


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


def _field(settings: AgentMemSettings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


# Every variable with a value it accepts and the field it sets. A variable read from the process
# environment instead of the mapping, or parsed loosely, shows up here as a wrong value.
ACCEPTED = [
    ("AGENTMEM_REDIS_URL", "redis://h:6380/2", "redis.url", "redis://h:6380/2"),
    ("AGENTMEM_REDIS_URL", "rediss://h/0", "redis.url", "rediss://h/0"),
    ("AGENTMEM_REDIS_URL", "redis://h", "redis.url", "redis://h"),
    ("AGENTMEM_REDIS_URL", " redis://h:1/0 ", "redis.url", "redis://h:1/0"),
    ("AGENTMEM_REDIS_CLUSTER", "TRUE", "redis.cluster", True),
    ("AGENTMEM_REDIS_CLUSTER", "off", "redis.cluster", False),
    ("AGENTMEM_REDIS_USERNAME", "alice", "redis.username", "alice"),
    ("AGENTMEM_REDIS_PASSWORD", " pw with spaces ", "redis.password", " pw with spaces "),
    ("AGENTMEM_REDIS_CA_CERTS", "/ca.pem", "redis.ssl_ca_certs", "/ca.pem"),
    ("AGENTMEM_REDIS_CERTFILE", "/c.pem", "redis.ssl_certfile", "/c.pem"),
    ("AGENTMEM_REDIS_KEYFILE", "/k.pem", "redis.ssl_keyfile", "/k.pem"),
    ("AGENTMEM_REDIS_MAX_CONNECTIONS", "256", "redis.max_connections", 256),
    ("AGENTMEM_WEAVIATE_URL", "https://w.example:443", "weaviate.url", "https://w.example:443"),
    ("AGENTMEM_WEAVIATE_URL", "http://w/", "weaviate.url", "http://w/"),
    ("AGENTMEM_WEAVIATE_GRPC_HOST", "g.example", "weaviate.grpc_host", "g.example"),
    ("AGENTMEM_WEAVIATE_GRPC_PORT", "50052", "weaviate.grpc_port", 50052),
    ("AGENTMEM_WEAVIATE_API_KEY", "key", "weaviate.api_key", "key"),
    ("AGENTMEM_WEAVIATE_HEADERS", '{"X-A": "b"}', "weaviate.headers", {"X-A": "b"}),
    ("AGENTMEM_WEAVIATE_REPLICATION_FACTOR", "3", "weaviate.replication_factor", 3),
    ("AGENTMEM_WEAVIATE_CONSISTENCY", "quorum", "weaviate.consistency", "QUORUM"),
    ("AGENTMEM_TIMEOUT", "2.5", "redis.timeout", 2.5),
    ("AGENTMEM_TIMEOUT", "3", "weaviate.timeout", 3.0),
    ("AGENTMEM_TIMEOUT", ".5", "redis.timeout", 0.5),
    ("AGENTMEM_HOME", "/srv/mem", "local.home", Path("/srv/mem")),
    ("AGENTMEM_HOME", "~/mem", "local.home", Path.home() / "mem"),
    ("AGENTMEM_LOCAL_AUTOSTART", "no", "local.autostart", False),
    ("AGENTMEM_LOCAL_AUTOSTART", "Yes", "local.autostart", True),
    ("AGENTMEM_LOCAL_REDIS_PORT", " 6379 ", "local.redis_port", 6379),
    ("AGENTMEM_LOCAL_WEAVIATE_PORT", "65530", "local.weaviate_port", 65530),
    ("AGENTMEM_LOCAL_GRPC_PORT", "1", "local.weaviate_grpc_port", 1),
    ("AGENTMEM_KEY_PREFIX", "app1", "key_prefix", "app1"),
]


@pytest.mark.parametrize(("name", "value", "path", "expected"), ACCEPTED)
def test_each_variable_is_read_from_the_mapping_given(
    name: str, value: str, path: str, expected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process environment says something else; only the mapping counts.
    for other in {n for n, *_ in ACCEPTED}:
        monkeypatch.setenv(other, "from-os-environ")
    assert _field(AgentMemSettings.from_env({name: value}), path) == expected


def test_unset_or_empty_variables_give_the_documented_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTMEM_HOME", "/from/os/environ")
    for settings in (
        AgentMemSettings.from_env({}),
        AgentMemSettings.from_env({"AGENTMEM_HOME": ""}),
    ):
        assert settings.local == LocalSettings(home=Path.home() / ".agentmem")
        assert settings.redis == RedisSettings() and settings.weaviate == WeaviateSettings()
    assert AgentMemSettings().local.home == Path.home() / ".agentmem"  # defaults read no env


@pytest.mark.parametrize("word", [*BOOLEAN_TRUE, *BOOLEAN_FALSE])
def test_booleans_accept_exactly_the_documented_words_in_any_case(word: str) -> None:
    for spelled in (word, word.upper(), word.capitalize()):
        settings = AgentMemSettings.from_env({"AGENTMEM_LOCAL_AUTOSTART": spelled})
        assert settings.local.autostart is (word in BOOLEAN_TRUE)


# Every value refused, with a part of the message that says what is accepted.
REFUSED = [
    ("AGENTMEM_REDIS_URL", "http://localhost:6379", "redis://host:port"),
    ("AGENTMEM_REDIS_URL", "redis://h:notaport/0", "malformed port"),
    ("AGENTMEM_REDIS_URL", "redis://h:70000/0", "malformed port"),
    ("AGENTMEM_REDIS_URL", "redis://h:0/0", "from 1 to 65535"),
    ("AGENTMEM_REDIS_URL", "redis://h:1/zero", "database number"),
    ("AGENTMEM_REDIS_URL", "redis:///0", "redis://host:port"),
    ("AGENTMEM_REDIS_CLUSTER", "maybe", "1, true, yes, on or 0, false, no, off"),
    ("AGENTMEM_REDIS_CLUSTER", "2", "is not a boolean"),
    ("AGENTMEM_REDIS_MAX_CONNECTIONS", "0", "integer >= 1"),
    ("AGENTMEM_REDIS_MAX_CONNECTIONS", "64.5", "integer >= 1"),
    ("AGENTMEM_WEAVIATE_URL", "localhost:8080", "http://host:port"),
    ("AGENTMEM_WEAVIATE_URL", "http://w:8080/v1", "only scheme, host and port"),
    ("AGENTMEM_WEAVIATE_URL", "http://w:8080?x=1", "only scheme, host and port"),
    ("AGENTMEM_WEAVIATE_URL", "http://w:port", "malformed port"),
    ("AGENTMEM_WEAVIATE_GRPC_PORT", "6379.9", "integer from 1 to 65535"),
    ("AGENTMEM_WEAVIATE_GRPC_PORT", "65536", "integer from 1 to 65535"),
    ("AGENTMEM_WEAVIATE_GRPC_PORT", "-1", "integer from 1 to 65535"),
    ("AGENTMEM_WEAVIATE_GRPC_PORT", "5_0051", "integer from 1 to 65535"),
    ("AGENTMEM_WEAVIATE_HEADERS", "[1, 2]", "JSON object of strings"),
    ("AGENTMEM_WEAVIATE_HEADERS", '{"a": 1}', "JSON object of strings"),
    ("AGENTMEM_WEAVIATE_REPLICATION_FACTOR", "0", "integer >= 1"),
    ("AGENTMEM_WEAVIATE_REPLICATION_FACTOR", "three", "integer >= 1"),
    ("AGENTMEM_WEAVIATE_CONSISTENCY", "most", "ONE, QUORUM, ALL"),
    ("AGENTMEM_TIMEOUT", "soon", "finite number of seconds greater than 0"),
    ("AGENTMEM_TIMEOUT", "nan", "finite number"),
    ("AGENTMEM_TIMEOUT", "inf", "finite number"),
    ("AGENTMEM_TIMEOUT", "1e999", "finite number"),
    ("AGENTMEM_TIMEOUT", "0", "greater than 0"),
    ("AGENTMEM_TIMEOUT", "-1", "greater than 0"),
    ("AGENTMEM_LOCAL_AUTOSTART", "nein", "is not a boolean"),
    ("AGENTMEM_LOCAL_REDIS_PORT", "6379.9", "integer from 1 to 65535"),
    ("AGENTMEM_LOCAL_REDIS_PORT", "0", "integer from 1 to 65535"),
    ("AGENTMEM_LOCAL_WEAVIATE_PORT", "65531", "integer from 1 to 65530"),
    ("AGENTMEM_LOCAL_GRPC_PORT", "port", "integer from 1 to 65535"),
]


@pytest.mark.parametrize(("name", "value", "accepted"), REFUSED)
def test_malformed_variables_raise_a_configuration_error_naming_them(
    name: str, value: str, accepted: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        AgentMemSettings.from_env({name: value})
    assert str(raised.value).startswith(name)
    assert accepted in str(raised.value)


def test_a_refused_url_never_shows_its_password() -> None:
    with pytest.raises(ConfigurationError) as raised:
        AgentMemSettings.from_env({"AGENTMEM_REDIS_URL": "redis://u:hunter2@h:port/0"})
    assert "hunter2" not in str(raised.value) and "u:***@h:port" in str(raised.value)


@pytest.mark.parametrize(
    ("build", "label"),
    [
        (lambda: RedisSettings(url="redis://h:notaport/0"), "RedisSettings.url="),
        (lambda: RedisSettings(timeout=float("nan")), "RedisSettings.timeout="),
        (lambda: RedisSettings(max_connections=0), "RedisSettings.max_connections="),
        (lambda: WeaviateSettings(url="http://w/v1"), "WeaviateSettings.url="),
        (lambda: WeaviateSettings(grpc_port=0), "WeaviateSettings.grpc_port="),
        (lambda: WeaviateSettings(timeout=0), "WeaviateSettings.timeout="),
        (lambda: WeaviateSettings(startup_timeout=-1), "WeaviateSettings.startup_timeout="),
        (lambda: WeaviateSettings(replication_factor=0), "WeaviateSettings.replication_factor="),
        (lambda: WeaviateSettings(consistency="most"), "WeaviateSettings.consistency="),
        (lambda: LocalSettings(redis_port=70000), "LocalSettings.redis_port="),
        (lambda: LocalSettings(weaviate_port=65533), "LocalSettings.weaviate_port="),
        (lambda: LocalSettings(weaviate_grpc_port=True), "LocalSettings.weaviate_grpc_port="),
    ],
)
def test_settings_built_in_code_are_checked_the_same_way(build: Any, label: str) -> None:
    with pytest.raises(ConfigurationError, match=label):
        build()


def test_the_cli_reports_a_malformed_variable_without_a_traceback() -> None:
    env = {**os.environ, "AGENTMEM_LOCAL_REDIS_PORT": "6379.9"}
    result = run_cli("status", env=env, timeout=60)
    assert result.returncode == 1
    assert "AGENTMEM_LOCAL_REDIS_PORT='6379.9' is not a port" in result.stderr
    assert "Traceback" not in result.stderr


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
