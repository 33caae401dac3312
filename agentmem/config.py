"""Settings as small frozen value objects, read from the environment by :meth:`AgentMemSettings.from_env`.

Secrets (passwords, API keys, header values, credentials inside URLs) never appear in ``repr``:
every settings class prints them as ``'***'``.

Environment variables (all optional; an empty value counts as unset):

=========================================  ========================================================
``AGENTMEM_REDIS_URL``                     ``redis://[user[:password]@]host[:port][/db]``, or
                                           ``rediss://`` for TLS; ``redis+cluster://`` (or
                                           ``rediss+cluster://``) for a node of a Redis Cluster
``AGENTMEM_REDIS_CLUSTER``                 boolean: the URL names a node of a Redis Cluster
``AGENTMEM_REDIS_USERNAME``                ACL user (overrides the URL's)
``AGENTMEM_REDIS_PASSWORD``                password (overrides the URL's)
``AGENTMEM_REDIS_CA_CERTS``                CA bundle for ``rediss://``
``AGENTMEM_REDIS_CERTFILE``                client certificate for mutual TLS
``AGENTMEM_REDIS_KEYFILE``                 client key for mutual TLS
``AGENTMEM_REDIS_MAX_CONNECTIONS``         integer >= 1: size of each Redis connection pool
                                           (default 64)
``AGENTMEM_WEAVIATE_URL``                  ``http(s)://host[:port]`` of Weaviate's REST endpoint
``AGENTMEM_WEAVIATE_GRPC_HOST``            gRPC host (defaults to the REST host)
``AGENTMEM_WEAVIATE_GRPC_PORT``            port: gRPC port (default 50051)
``AGENTMEM_WEAVIATE_API_KEY``              Weaviate API key
``AGENTMEM_WEAVIATE_HEADERS``              JSON object of string headers (e.g. model-provider keys)
``AGENTMEM_WEAVIATE_REPLICATION_FACTOR``   integer >= 1: replicas of collections agentmem creates
``AGENTMEM_WEAVIATE_CONSISTENCY``          ``ONE``, ``QUORUM`` or ``ALL`` (any case) for every read
                                           and write
``AGENTMEM_TIMEOUT``                       seconds: one backend call (default 10)
``AGENTMEM_HOME``                          data folder of the local default (default
                                           ``~/.agentmem``; ``~`` is expanded)
``AGENTMEM_LOCAL_AUTOSTART``               boolean: start local servers implicitly (default on)
``AGENTMEM_LOCAL_REDIS_PORT``              port of the local Redis (default 16379)
``AGENTMEM_LOCAL_WEAVIATE_PORT``           port, at most 65530: REST port of the local Weaviate
                                           (default 18080; it also binds the next five ports)
``AGENTMEM_LOCAL_GRPC_PORT``               port: gRPC port of the local Weaviate (default 15051)
``AGENTMEM_KEY_PREFIX``                    prefix of every Redis key (default ``agentmem``)
=========================================  ========================================================

Every value is parsed strictly, and a value that does not fit raises a
:class:`~agentmem.errors.ConfigurationError` that names the variable and says what it accepts:
a *boolean* is one of ``1 true yes on`` or ``0 false no off`` (any case); an *integer* is decimal
digits only (``6379.9`` is refused, not truncated); a *port* is an integer from 1 to 65535;
*seconds* is a finite number greater than 0. Surrounding whitespace is ignored. Settings built in
code are checked the same way when constructed. Only :meth:`AgentMemSettings.from_env` reads the
environment; the classes' defaults never do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from agentmem._envparse import (
    BOOLEAN_FALSE,
    BOOLEAN_TRUE,
    REDIS_SCHEMES,
    WEAVIATE_SCHEMES,
    EnvReader,
    check_count,
    check_port,
    check_seconds,
    check_url,
    redact_url,
)
from agentmem.errors import ConfigurationError

__all__ = [
    "BOOLEAN_FALSE",
    "BOOLEAN_TRUE",
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
# The local Weaviate binds its REST port and the next five (gossip, data, raft, ...).
_MAX_LOCAL_WEAVIATE_PORT = 65535 - 5


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

    Raises:
        ConfigurationError: the URL, timeout or pool size is malformed.
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
        check_url("RedisSettings.url", self.url, REDIS_SCHEMES)
        check_seconds("RedisSettings.timeout", self.timeout)
        check_count("RedisSettings.max_connections", self.max_connections)
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

    Raises:
        ConfigurationError: a field is malformed.
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
        check_url("WeaviateSettings.url", self.url, WEAVIATE_SCHEMES)
        check_port("WeaviateSettings.grpc_port", self.grpc_port)
        check_seconds("WeaviateSettings.timeout", self.timeout)
        check_seconds("WeaviateSettings.startup_timeout", self.startup_timeout)
        if self.consistency is not None and self.consistency not in _CONSISTENCY:
            raise ConfigurationError(
                f"WeaviateSettings.consistency={self.consistency!r} is not one of "
                f"{', '.join(_CONSISTENCY)}"
            )
        if self.replication_factor is not None:
            check_count("WeaviateSettings.replication_factor", self.replication_factor)

    def __repr__(self) -> str:
        masked = {k: _MASK for k in self.headers}
        return (
            f"WeaviateSettings(url={redact_url(self.url)!r}, grpc_host={self.grpc_host!r}, "
            f"grpc_port={self.grpc_port!r}, api_key={_mask(self.api_key)}, headers={masked!r}, "
            f"timeout={self.timeout!r}, replication_factor={self.replication_factor!r}, "
            f"consistency={self.consistency!r})"
        )


def _default_home() -> Path:
    return Path.home() / ".agentmem"


@dataclass(frozen=True, slots=True)
class LocalSettings:
    """The zero-config local default: servers agentmem starts itself on loopback.

    Attributes:
        home: folder holding the servers' data (``data/``), logs and pid files.
        redis_port: port of the local Redis.
        weaviate_port: REST port of the local Weaviate (it also binds the next five ports).
        weaviate_grpc_port: gRPC port of the local Weaviate.
        autostart: start the local servers on first use when no URL is configured.

    Raises:
        ConfigurationError: a port is out of range.
    """

    home: Path = field(default_factory=_default_home)
    redis_port: int = 16379
    weaviate_port: int = 18080
    weaviate_grpc_port: int = 15051
    autostart: bool = True

    @property
    def redis_url(self) -> str:
        """URL of the local Redis."""
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def weaviate_url(self) -> str:
        """REST URL of the local Weaviate."""
        return f"http://127.0.0.1:{self.weaviate_port}"

    def __post_init__(self) -> None:
        check_port("LocalSettings.redis_port", self.redis_port)
        check_port("LocalSettings.weaviate_port", self.weaviate_port, _MAX_LOCAL_WEAVIATE_PORT)
        check_port("LocalSettings.weaviate_grpc_port", self.weaviate_grpc_port)


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
        """Build settings from ``AGENTMEM_*`` variables (see the module docstring).

        Args:
            environ: the variables to read; ``None`` reads ``os.environ``. Nothing else is read,
                so a mapping given here fully decides the result.

        Raises:
            ConfigurationError: a variable's value does not fit; the message names it.
        """
        env = EnvReader(os.environ if environ is None else environ)
        timeout = env.seconds("AGENTMEM_TIMEOUT", DEFAULT_TIMEOUT)
        redis = RedisSettings(
            url=env.url("AGENTMEM_REDIS_URL", REDIS_SCHEMES),
            cluster=env.boolean("AGENTMEM_REDIS_CLUSTER", False),
            username=env.text("AGENTMEM_REDIS_USERNAME"),
            password=env.text("AGENTMEM_REDIS_PASSWORD"),
            ssl_ca_certs=env.text("AGENTMEM_REDIS_CA_CERTS"),
            ssl_certfile=env.text("AGENTMEM_REDIS_CERTFILE"),
            ssl_keyfile=env.text("AGENTMEM_REDIS_KEYFILE"),
            timeout=timeout,
            max_connections=env.count("AGENTMEM_REDIS_MAX_CONNECTIONS") or 64,
        )
        weaviate = WeaviateSettings(
            url=env.url("AGENTMEM_WEAVIATE_URL", WEAVIATE_SCHEMES),
            grpc_host=env.text("AGENTMEM_WEAVIATE_GRPC_HOST"),
            grpc_port=env.port("AGENTMEM_WEAVIATE_GRPC_PORT", 50051),
            api_key=env.text("AGENTMEM_WEAVIATE_API_KEY"),
            headers=env.headers("AGENTMEM_WEAVIATE_HEADERS"),
            timeout=timeout,
            replication_factor=env.count("AGENTMEM_WEAVIATE_REPLICATION_FACTOR"),
            consistency=env.choice("AGENTMEM_WEAVIATE_CONSISTENCY", _CONSISTENCY),
        )
        home = env.text("AGENTMEM_HOME")
        local = LocalSettings(
            home=Path(home).expanduser() if home else _default_home(),
            redis_port=env.port("AGENTMEM_LOCAL_REDIS_PORT", 16379),
            weaviate_port=env.port(
                "AGENTMEM_LOCAL_WEAVIATE_PORT", 18080, maximum=_MAX_LOCAL_WEAVIATE_PORT
            ),
            weaviate_grpc_port=env.port("AGENTMEM_LOCAL_GRPC_PORT", 15051),
            autostart=env.boolean("AGENTMEM_LOCAL_AUTOSTART", True),
        )
        return cls(
            redis=redis,
            weaviate=weaviate,
            local=local,
            key_prefix=env.text("AGENTMEM_KEY_PREFIX") or "agentmem",
        )

    def with_local_urls(self) -> AgentMemSettings:
        """Fill each unset URL with the local default server's URL."""
        redis, weaviate = self.redis, self.weaviate
        if redis.url is None:
            redis = replace(redis, url=self.local.redis_url)
        if weaviate.url is None:
            weaviate = replace(
                weaviate,
                url=self.local.weaviate_url,
                grpc_port=self.local.weaviate_grpc_port,
            )
        return replace(self, redis=redis, weaviate=weaviate)
