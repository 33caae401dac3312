"""Build the sync and async Redis and Weaviate clients from settings (no I/O except Weaviate's
``connect``, which the caller invokes explicitly).

Two choices here bound how long a caller can wait:

- Redis pools *wait* for a free connection (``BlockingConnectionPool``, up to the timeout)
  instead of failing when ``max_connections`` are busy.
- Weaviate's gRPC channel fails fast when the server is unreachable. weaviate-client retries a
  call that ends in gRPC ``UNAVAILABLE`` by itself, sleeping 1 + 2 + 4 + 8 + 16 + 32 s (63 s per
  call, then agentmem's own attempts on top: 189 s for one search with Weaviate down). agentmem
  already retries idempotent calls with its own bounded backoff, so its channel turns
  ``UNAVAILABLE`` into :class:`GrpcUnavailable` at once, which weaviate-client does not catch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import urlsplit

import grpc
import grpc.aio
import redis
import redis.asyncio as aredis
import redis.asyncio.cluster as acluster
import redis.cluster as cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.client import WeaviateAsyncClient, WeaviateClient
from weaviate.connect.base import ConnectionParams

from agentmem.config import RedisSettings, WeaviateSettings
from agentmem.errors import ConfigurationError

__all__ = [
    "GrpcUnavailable",
    "async_redis_client",
    "async_weaviate_client",
    "redis_client",
    "weaviate_client",
]


def _redis_kwargs(settings: RedisSettings, retry: type[Any] = Retry) -> dict[str, Any]:
    """The client options of ``settings``; ``retry`` is the sync or the asyncio ``Retry`` class
    (redis-py 8.2 warns when an asyncio client is given the sync one)."""
    if settings.url is None:
        raise ConfigurationError("RedisSettings.url is not set")
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.timeout,
        "socket_connect_timeout": settings.timeout,
        "max_connections": settings.max_connections,
        # agentmem retries idempotent calls itself; a blind client-side retry could apply a
        # non-idempotent write (an append) twice.
        "retry": retry(NoBackoff(), 0),
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
    kwargs = _redis_kwargs(settings)
    if settings.cluster:
        # Each node's pool is a waiting one too ("timeout" is the wait for a free connection).
        node = cluster.RedisCluster.from_url(
            settings.url or "",
            connection_pool_class=redis.BlockingConnectionPool,
            timeout=settings.timeout,
            **kwargs,
        )
        return cast(redis.Redis, node)
    pool = redis.BlockingConnectionPool.from_url(
        settings.url or "", timeout=settings.timeout, **kwargs
    )
    return redis.Redis.from_pool(pool)


def async_redis_client(settings: RedisSettings) -> aredis.Redis:
    """An asyncio Redis client with its own pool (lazy: it connects on the first command).

    With ``settings.cluster`` it is a ``redis.asyncio.cluster.RedisCluster``, whose node pools
    raise instead of waiting when full; ``AgentMem`` bounds its concurrent calls itself there.
    """
    kwargs = _redis_kwargs(settings, AsyncRetry)
    if settings.cluster:
        node = acluster.RedisCluster.from_url(settings.url or "", **kwargs)
        return cast(aredis.Redis, node)
    pool = aredis.BlockingConnectionPool.from_url(
        settings.url or "", timeout=settings.timeout, **kwargs
    )
    return aredis.Redis.from_pool(pool)


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


def _weaviate(cls: type[Any], settings: WeaviateSettings) -> Any:
    kwargs = _weaviate_kwargs(settings)
    headers = kwargs.pop("headers")
    auth = kwargs.pop("auth_credentials")
    config = kwargs.pop("additional_config")
    return cls(
        connection_params=_FailFastParams.from_params(**kwargs),
        additional_headers=headers,
        auth_client_secret=auth,
        additional_config=config,
    )


def weaviate_client(settings: WeaviateSettings) -> WeaviateClient:
    """A sync Weaviate client, not yet connected (call ``.connect()``)."""
    return cast(WeaviateClient, _weaviate(WeaviateClient, settings))


def async_weaviate_client(settings: WeaviateSettings) -> WeaviateAsyncClient:
    """An async Weaviate client, not yet connected (await ``.connect()``)."""
    return cast(WeaviateAsyncClient, _weaviate(WeaviateAsyncClient, settings))


# -- gRPC that fails fast ------------------------------------------------------------------------


class GrpcUnavailable(Exception):
    """Weaviate's gRPC endpoint answered UNAVAILABLE (not a grpc.RpcError on purpose)."""


def _unavailable(error: grpc.RpcError) -> GrpcUnavailable:
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    return GrpcUnavailable(f"gRPC UNAVAILABLE: {details}")


class _SyncFailFast(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], details: Any, request: Any
    ) -> Any:
        outcome = continuation(details, request)
        if isinstance(outcome, grpc.RpcError) and outcome.code() == grpc.StatusCode.UNAVAILABLE:
            raise _unavailable(outcome)
        return outcome


class _AsyncUnary:
    """An aio unary-unary callable whose UNAVAILABLE becomes :class:`GrpcUnavailable`."""

    def __init__(self, inner: Callable[..., Awaitable[Any]]) -> None:
        self._inner = inner

    def __call__(self, request: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._call(request, kwargs)

    async def _call(self, request: Any, kwargs: dict[str, Any]) -> Any:
        try:
            return await self._inner(request, **kwargs)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise _unavailable(exc) from exc
            raise


class _AsyncFailFast(grpc.aio.Channel):  # type: ignore[misc]
    """Delegates to an aio channel; only unary-unary calls are wrapped (all that weaviate-client
    retries). A subclass, because weaviate-client checks ``isinstance(channel, aio.Channel)``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def __aenter__(self) -> _AsyncFailFast:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inner.close()

    async def close(self, grace: float | None = None) -> None:
        await self._inner.close(grace)

    def get_state(self, try_to_connect: bool = False) -> Any:
        return self._inner.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: Any) -> None:
        await self._inner.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._inner.channel_ready()

    def unary_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _AsyncUnary(self._inner.unary_unary(*args, **kwargs))

    def unary_stream(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.unary_stream(*args, **kwargs)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.stream_unary(*args, **kwargs)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.stream_stream(*args, **kwargs)


class _FailFastParams(ConnectionParams):
    """Connection parameters whose gRPC channel fails fast (see the module docstring)."""

    def _grpc_channel(self, *args: Any, **kwargs: Any) -> Any:
        channel = super()._grpc_channel(*args, **kwargs)
        if isinstance(channel, grpc.aio.Channel):
            return _AsyncFailFast(channel)
        return grpc.intercept_channel(channel, _SyncFailFast())
