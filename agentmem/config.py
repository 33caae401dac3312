"""Settings as small frozen value objects, read from the environment by :meth:`AgentMemSettings.from_env`.

Secrets (passwords, API keys, header values, credentials inside URLs) never appear in ``repr``:
every settings class prints them as ``'***'``.

Environment variables (all optional):

=================================  ================================================================
``AGENTMEM_REDIS_URL``             ``redis://[user[:password]@]host:port/db`` or ``rediss://`` for TLS;
                                   ``redis+cluster://`` (or ``rediss+cluster://``) for a Cluster node
``AGENTMEM_REDIS_CLUSTER``         ``1``: the URL names a node of a Redis Cluster
``AGENTMEM_REDIS_USERNAME``        ACL user (overrides the URL's)
``AGENTMEM_REDIS_PASSWORD``        password (overrides the URL's)
``AGENTMEM_REDIS_CA_CERTS``        CA bundle for ``rediss://``
``AGENTMEM_REDIS_CERTFILE``        client certificate for mutual TLS
``AGENTMEM_REDIS_KEYFILE``         client key for mutual TLS
``AGENTMEM_WEAVIATE_URL``          ``http(s)://host:port`` of Weaviate's REST endpoint
``AGENTMEM_WEAVIATE_GRPC_HOST``    gRPC host (defaults to the REST host)
``AGENTMEM_WEAVIATE_GRPC_PORT``    gRPC port (default 50051)
``AGENTMEM_WEAVIATE_API_KEY``      Weaviate API key
``AGENTMEM_WEAVIATE_HEADERS``      JSON object of extra headers (e.g. model-provider keys)
``AGENTMEM_WEAVIATE_REPLICATION_FACTOR``  replicas of collections agentmem creates (e.g. 3)
``AGENTMEM_WEAVIATE_CONSISTENCY``  ``ONE``, ``QUORUM`` or ``ALL`` for every read and write
``AGENTMEM_TIMEOUT``               seconds for one backend call (default 10)
``AGENTMEM_HOME``                  data and cache folder of the local default (default ``~/.agentmem``)
``AGENTMEM_LOCAL_AUTOSTART``       ``0`` to never start local servers implicitly (default ``1``)
``AGENTMEM_LOCAL_REDIS_PORT``      port of the local Redis (default 16379)
``AGENTMEM_LOCAL_WEAVIATE_PORT``   REST port of the local Weaviate (default 18080; it also binds the
                                   next five ports)
``AGENTMEM_LOCAL_GRPC_PORT``       gRPC port of the local Weaviate (default 15051)
``AGENTMEM_KEY_PREFIX``            prefix of every Redis key (default ``agentmem``)
=================================  ================================================================
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from agentmem.errors import ConfigurationError

__all__ = [
    "DEFAULT_TIMEOUT",
    "AgentMemSettings",
    "LocalSettings",
    "RedisSettings",
    "RetrySettings",
    "WeaviateSettings",
    "redact_url",
]

DEFAULT_TIMEOUT = 10.0
_MASK = "***"
_CONSISTENCY = ("ONE", "QUORUM", "ALL")


def redact_url(url: str | None) -> str | None:
    """Return ``url`` with any password replaced by ``***`` (safe to log)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:{_MASK}@{host}{port}"))


def _mask(value: object) -> str:
    return repr(_MASK) if value else repr(value)


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Bounded retries with exponential backoff, applied to idempotent calls only.

    Attributes:
        attempts: total tries of one idempotent call (1 means no retry).
        base_delay: seconds before the first retry; doubles each time.
        max_delay: cap on one delay, in seconds.
    """

    attempts: int = 3
    base_delay: float = 0.05
    max_delay: float = 1.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failed tries (pure; shared by sync and async)."""
        return float(min(self.max_delay, self.base_delay * (2 ** max(0, failures - 1))))


@dataclass(frozen=True, slots=True, repr=False)
class RedisSettings:
    """Where and how to reach Redis.

    Attributes:
        url: ``redis://`` or ``rediss://`` URL; ``None`` means the local default server.
        username: ACL user; overrides one in the URL.
        password: password; overrides one in the URL.
        ssl_ca_certs: CA bundle used to verify the server with ``rediss://``.
        ssl_certfile: client certificate for mutual TLS.
        ssl_keyfile: client key for mutual TLS.
        timeout: socket timeout of one call, in seconds.
        max_connections: upper bound of each connection pool.
        cluster: the URL names one node of a Redis Cluster (``redis+cluster://`` URLs set this).
    """

    url: str | None = None
    username: str | None = None
    password: str | None = None
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_connections: int = 64
    cluster: bool = False

    def __post_init__(self) -> None:
        # `redis+cluster://` / `rediss+cluster://` are accepted as a shorthand for cluster=True.
        if self.url and "+cluster://" in self.url.split("@")[0]:
            object.__setattr__(self, "url", self.url.replace("+cluster://", "://", 1))
            object.__setattr__(self, "cluster", True)

    def __repr__(self) -> str:
        return (
            f"RedisSettings(url={redact_url(self.url)!r}, cluster={self.cluster!r}, "
            f"username={self.username!r}, "
            f"password={_mask(self.password)}, ssl_ca_certs={self.ssl_ca_certs!r}, "
            f"timeout={self.timeout!r}, max_connections={self.max_connections!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class WeaviateSettings:
    """Where and how to reach Weaviate.

    Attributes:
        url: ``http(s)://host:port`` of the REST endpoint; ``None`` means the local default.
        grpc_host: gRPC host; defaults to the REST host.
        grpc_port: gRPC port.
        api_key: Weaviate API key, if authentication is on.
        headers: extra headers sent with every request (values are treated as secrets).
        timeout: seconds for one query or write.
        startup_timeout: seconds to wait for the server's readiness when connecting.
        replication_factor: replicas of each collection agentmem creates (``None``: the
            server's default). Use 3 on a three-node cluster.
        consistency: consistency level of every read and write, ``"ONE"``, ``"QUORUM"`` or
            ``"ALL"`` (``None``: the server's default, QUORUM).
    """

    url: str | None = None
    grpc_host: str | None = None
    grpc_port: int = 50051
    api_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    startup_timeout: float = 30.0
    replication_factor: int | None = None
    consistency: str | None = None

    def __post_init__(self) -> None:
        if self.consistency is not None and self.consistency not in _CONSISTENCY:
            raise ConfigurationError(
                f"consistency={self.consistency!r} is not one of {', '.join(_CONSISTENCY)}"
            )
        if self.replication_factor is not None and self.replication_factor < 1:
            raise ConfigurationError(
                f"replication_factor must be >= 1, got {self.replication_factor}"
            )

    def __repr__(self) -> str:
        masked = {k: _MASK for k in self.headers}
        return (
            f"WeaviateSettings(url={redact_url(self.url)!r}, grpc_host={self.grpc_host!r}, "
            f"grpc_port={self.grpc_port!r}, api_key={_mask(self.api_key)}, headers={masked!r}, "
            f"timeout={self.timeout!r}, replication_factor={self.replication_factor!r}, "
            f"consistency={self.consistency!r})"
        )


def _default_home() -> Path:
    return Path(os.environ.get("AGENTMEM_HOME") or Path.home() / ".agentmem")


@dataclass(frozen=True, slots=True)
class LocalSettings:
    """The zero-config local default: servers agentmem starts itself on loopback.

    Attributes:
        home: folder holding the servers' data (``data/``), logs and pid files.
        redis_port: port of the local Redis.
        weaviate_port: REST port of the local Weaviate.
        weaviate_grpc_port: gRPC port of the local Weaviate.
        autostart: start the local servers on first use when no URL is configured.
    """

    home: Path = field(default_factory=_default_home)
    redis_port: int = 16379
    weaviate_port: int = 18080
    weaviate_grpc_port: int = 15051
    autostart: bool = True


@dataclass(frozen=True, slots=True)
class AgentMemSettings:
    """All of agentmem's settings.

    Attributes:
        redis: Redis connection settings.
        weaviate: Weaviate connection settings.
        local: the local default used when a URL is not set.
        retry: retry policy for idempotent calls.
        key_prefix: prefix of every Redis key agentmem writes.
    """

    redis: RedisSettings = field(default_factory=RedisSettings)
    weaviate: WeaviateSettings = field(default_factory=WeaviateSettings)
    local: LocalSettings = field(default_factory=LocalSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    key_prefix: str = "agentmem"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AgentMemSettings:
        """Build settings from ``AGENTMEM_*`` environment variables (see the module docstring).

        Raises:
            ConfigurationError: a variable has a value that cannot be parsed.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        timeout = _parse_float("AGENTMEM_TIMEOUT", get("AGENTMEM_TIMEOUT"), DEFAULT_TIMEOUT)
        redis = RedisSettings(
            url=_check_url(
                "AGENTMEM_REDIS_URL",
                get("AGENTMEM_REDIS_URL"),
                ("redis", "rediss", "redis+cluster", "rediss+cluster"),
            ),
            cluster=get("AGENTMEM_REDIS_CLUSTER") in ("1", "true"),
            username=get("AGENTMEM_REDIS_USERNAME"),
            password=get("AGENTMEM_REDIS_PASSWORD"),
            ssl_ca_certs=get("AGENTMEM_REDIS_CA_CERTS"),
            ssl_certfile=get("AGENTMEM_REDIS_CERTFILE"),
            ssl_keyfile=get("AGENTMEM_REDIS_KEYFILE"),
            timeout=timeout,
        )
        weaviate = WeaviateSettings(
            url=_check_url(
                "AGENTMEM_WEAVIATE_URL", get("AGENTMEM_WEAVIATE_URL"), ("http", "https")
            ),
            grpc_host=get("AGENTMEM_WEAVIATE_GRPC_HOST"),
            grpc_port=int(
                _parse_float(
                    "AGENTMEM_WEAVIATE_GRPC_PORT", get("AGENTMEM_WEAVIATE_GRPC_PORT"), 50051
                )
            ),
            api_key=get("AGENTMEM_WEAVIATE_API_KEY"),
            headers=_parse_headers(get("AGENTMEM_WEAVIATE_HEADERS")),
            timeout=timeout,
            replication_factor=_optional_int(
                "AGENTMEM_WEAVIATE_REPLICATION_FACTOR", get("AGENTMEM_WEAVIATE_REPLICATION_FACTOR")
            ),
            consistency=(get("AGENTMEM_WEAVIATE_CONSISTENCY") or "").upper() or None,
        )
        local = LocalSettings(
            redis_port=int(
                _parse_float("AGENTMEM_LOCAL_REDIS_PORT", get("AGENTMEM_LOCAL_REDIS_PORT"), 16379)
            ),
            weaviate_port=int(
                _parse_float(
                    "AGENTMEM_LOCAL_WEAVIATE_PORT", get("AGENTMEM_LOCAL_WEAVIATE_PORT"), 18080
                )
            ),
            weaviate_grpc_port=int(
                _parse_float("AGENTMEM_LOCAL_GRPC_PORT", get("AGENTMEM_LOCAL_GRPC_PORT"), 15051)
            ),
            autostart=get("AGENTMEM_LOCAL_AUTOSTART") not in ("0", "false"),
        )
        return cls(
            redis=redis,
            weaviate=weaviate,
            local=local,
            key_prefix=get("AGENTMEM_KEY_PREFIX") or "agentmem",
        )

    def with_local_urls(self) -> AgentMemSettings:
        """Fill each unset URL with the local default server's URL."""
        redis, weaviate = self.redis, self.weaviate
        if redis.url is None:
            redis = replace(redis, url=f"redis://127.0.0.1:{self.local.redis_port}/0")
        if weaviate.url is None:
            weaviate = replace(
                weaviate,
                url=f"http://127.0.0.1:{self.local.weaviate_port}",
                grpc_port=self.local.weaviate_grpc_port,
            )
        return replace(self, redis=redis, weaviate=weaviate)


def _parse_float(name: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None


def _optional_int(name: str, raw: str | None) -> int | None:
    return None if raw is None else int(_parse_float(name, raw, 0))


def _check_url(name: str, raw: str | None, schemes: tuple[str, ...]) -> str | None:
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigurationError(
            f"{name}={redact_url(raw)!r} is not a URL of the form "
            f"{' or '.join(s + '://host:port' for s in schemes)}"
        )
    return raw


def _parse_headers(raw: str | None) -> dict[str, str]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigurationError(
            'AGENTMEM_WEAVIATE_HEADERS must be a JSON object of strings, e.g. {"X-OpenAI-Api-Key": "..."}'
        )
    return value
