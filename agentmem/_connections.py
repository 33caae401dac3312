"""Build the sync and async Redis and Weaviate clients from settings (no I/O except Weaviate's
``connect``, which the caller invokes explicitly)."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

import redis
import redis.asyncio as aredis
import redis.asyncio.cluster as acluster
import redis.cluster as cluster
import weaviate
from redis.backoff import NoBackoff
from redis.retry import Retry
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.client import WeaviateAsyncClient, WeaviateClient

from agentmem.config import RedisSettings, WeaviateSettings
from agentmem.errors import ConfigurationError

__all__ = ["async_redis_client", "async_weaviate_client", "redis_client", "weaviate_client"]


def _redis_kwargs(settings: RedisSettings) -> dict[str, Any]:
    if settings.url is None:
        raise ConfigurationError("RedisSettings.url is not set")
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.timeout,
        "socket_connect_timeout": settings.timeout,
        "max_connections": settings.max_connections,
        # agentmem retries idempotent calls itself; a blind client-side retry could apply a
        # non-idempotent write (an append) twice.
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": False,
        "client_name": "agentmem",
    }
    if settings.username is not None:
        kwargs["username"] = settings.username
    if settings.password is not None:
        kwargs["password"] = settings.password
    if urlsplit(settings.url).scheme == "rediss":
        kwargs["ssl_cert_reqs"] = "required"
        for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
            value = getattr(settings, name)
            if value is not None:
                kwargs[name] = value
    return kwargs


def redis_client(settings: RedisSettings) -> redis.Redis:
    """A sync Redis client with its own pool (lazy: it connects on the first command).

    With ``settings.cluster`` it is a ``redis.cluster.RedisCluster``, which has the same command
    API; agentmem keeps every multi-key operation inside one hash slot, so both work the same.
    """
    if settings.cluster:
        node = cluster.RedisCluster.from_url(settings.url or "", **_redis_kwargs(settings))
        return cast(redis.Redis, node)
    return redis.Redis.from_url(settings.url or "", **_redis_kwargs(settings))


def async_redis_client(settings: RedisSettings) -> aredis.Redis:
    """An asyncio Redis client with its own pool (lazy: it connects on the first command).

    With ``settings.cluster`` it is a ``redis.asyncio.cluster.RedisCluster``.
    """
    if settings.cluster:
        node = acluster.RedisCluster.from_url(settings.url or "", **_redis_kwargs(settings))
        return cast(aredis.Redis, node)
    return aredis.Redis.from_url(settings.url or "", **_redis_kwargs(settings))


def _weaviate_kwargs(settings: WeaviateSettings) -> dict[str, Any]:
    if settings.url is None:
        raise ConfigurationError("WeaviateSettings.url is not set")
    parts = urlsplit(settings.url)
    secure = parts.scheme == "https"
    host = parts.hostname or "localhost"
    return {
        "http_host": host,
        "http_port": parts.port or (443 if secure else 80),
        "http_secure": secure,
        "grpc_host": settings.grpc_host or host,
        "grpc_port": settings.grpc_port,
        "grpc_secure": secure,
        "headers": dict(settings.headers) or None,
        "auth_credentials": Auth.api_key(settings.api_key) if settings.api_key else None,
        "additional_config": AdditionalConfig(
            timeout=Timeout(
                init=settings.startup_timeout, query=settings.timeout, insert=settings.timeout
            ),
        ),
    }


def weaviate_client(settings: WeaviateSettings) -> WeaviateClient:
    """A sync Weaviate client, not yet connected (call ``.connect()``)."""
    kwargs = _weaviate_kwargs(settings)
    headers = kwargs.pop("headers")
    auth = kwargs.pop("auth_credentials")
    config = kwargs.pop("additional_config")
    return WeaviateClient(
        connection_params=weaviate.connect.ConnectionParams.from_params(**kwargs),
        additional_headers=headers,
        auth_client_secret=auth,
        additional_config=config,
    )


def async_weaviate_client(settings: WeaviateSettings) -> WeaviateAsyncClient:
    """An async Weaviate client, not yet connected (await ``.connect()``)."""
    return weaviate.use_async_with_custom(**_weaviate_kwargs(settings))
