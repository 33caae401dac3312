"""The one place where backend exceptions become agentmem exceptions.

Every driver call (``agentmem._plan``) and every connection helper runs inside
:func:`translate_errors`. Exceptions already derived from :class:`AgentMemError` pass through.
"""

from __future__ import annotations

from types import TracebackType
from typing import Literal

import grpc
import httpx
import redis.exceptions as rx
import weaviate.exceptions as wx

from agentmem._connections import GrpcUnavailable
from agentmem.errors import (
    AgentMemError,
    AuthenticationFailed,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ClosedError,
    InvalidInputError,
)

__all__ = ["translate_errors", "translate_exception"]

_REDIS_AUTH_HINT = (
    "Redis refused the connection's credentials ({detail}). Give the password (and ACL user) in "
    "AGENTMEM_REDIS_URL=redis://USER:PASSWORD@host:port/0, or in AGENTMEM_REDIS_PASSWORD / "
    "AGENTMEM_REDIS_USERNAME, or RedisSettings(password=..., username=...)."
)
_WEAVIATE_AUTH_HINT = (
    "Weaviate refused the request's credentials ({detail}). Set AGENTMEM_WEAVIATE_API_KEY, or "
    "WeaviateSettings(api_key=...)."
)


def translate_exception(exc: BaseException, *, label: str = "") -> AgentMemError | None:
    """Map a redis-py or weaviate-client exception to agentmem's; None if it is neither."""
    where = f" during {label}" if label else ""
    if isinstance(exc, AgentMemError):
        return exc
    if isinstance(exc, rx.RedisError):
        return _translate_redis(exc, where)
    if isinstance(exc, wx.WeaviateBaseError):
        return _translate_weaviate(exc, where)
    if isinstance(exc, (GrpcUnavailable, grpc.RpcError, httpx.HTTPError)):
        return _translate_transport(exc, where)
    return None


# redis-py's words when a pool has no free connection: BlockingConnectionPool after its wait, and
# the async cluster's node pools (MaxConnectionsError) at once. Redis itself is up in both cases.
_POOL_BUSY = ("no connection available", "too many connections")


def _pool_busy(where: str, detail: str) -> BackendTimeout:
    return BackendTimeout(
        f"no Redis connection of this AgentMem's pool came free in time{where} ({detail}): Redis "
        "is up, but more callers share one AgentMem than it has connections; raise "
        "RedisSettings.max_connections (AGENTMEM_REDIS_MAX_CONNECTIONS) or AGENTMEM_TIMEOUT, or "
        "lower the concurrency",
        backend="redis",
    )


def _translate_transport(exc: BaseException, where: str) -> AgentMemError:
    """Errors below weaviate-client: its gRPC channel and its httpx REST connection."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        code = exc.code()
        detail = f"gRPC {code.name}: {exc.details()}"
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return BackendTimeout(
                f"Weaviate did not answer in time{where} ({detail}); raise AGENTMEM_TIMEOUT or "
                "check the server's load",
                backend="weaviate",
            )
        if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
            return BackendError(f"Weaviate answered with an error{where}: {detail}",
                                backend="weaviate")  # fmt: skip
    if isinstance(exc, httpx.TimeoutException):
        return BackendTimeout(
            f"Weaviate did not answer in time{where} ({detail}); a write may or may not have "
            "been applied: read it back, or repeat it if it is idempotent",
            backend="weaviate",
        )
    if isinstance(exc, httpx.HTTPStatusError):
        return BackendError(f"Weaviate answered with an error{where}: {detail}",
                            backend="weaviate")  # fmt: skip
    sent = isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError))
    return BackendUnavailable(
        f"Weaviate could not be reached{where} ({detail}). Is it running, and are "
        "AGENTMEM_WEAVIATE_URL and the gRPC port right?"
        + (" The connection dropped mid-call: a write may or may not have been applied." if sent
           else ""),
        backend="weaviate",
    )  # fmt: skip


def _maybe_applied(detail: str) -> str:
    """What a caller must know after a lost connection: was the command sent?

    redis-py fails *connecting* before anything is sent ("Error 111 connecting to ...",
    "Timeout connecting to server"); any other connection loss or timeout may come after the
    server ran the command (a write applied, its reply lost).
    """
    if "connecting" in detail.lower():
        return " Nothing was sent."
    return (
        " The connection was lost after the call was sent: a write may or may not have been "
        "applied (read it back before repeating it)."
    )


def _translate_redis(exc: rx.RedisError, where: str) -> AgentMemError:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, rx.AuthenticationError):
        return AuthenticationFailed(_REDIS_AUTH_HINT.format(detail=detail), backend="redis")
    # Inside a Lua script a denied command arrives as a plain ResponseError.
    if isinstance(exc, rx.NoPermissionError) or "can't run this command" in detail:
        return AuthenticationFailed(
            f"The Redis ACL user may not run this command{where} ({detail}); grant it "
            "+@read +@write +@scripting +time +ping +client on agentmem's key prefix (~agentmem:*).",
            backend="redis",
        )
    if isinstance(exc, rx.TimeoutError):
        return BackendTimeout(
            f"Redis did not answer in time{where} ({detail}); raise "
            f"AGENTMEM_TIMEOUT or check the server's load.{_maybe_applied(detail)}",
            backend="redis",
        )
    if isinstance(exc, rx.ConnectionError) and any(w in detail.lower() for w in _POOL_BUSY):
        return _pool_busy(where, detail)
    if isinstance(exc, rx.ConnectionError):
        return BackendUnavailable(
            f"Redis could not be reached{where} ({detail}). Is it running, "
            f"and is AGENTMEM_REDIS_URL right?{_maybe_applied(detail)}",
            backend="redis",
        )
    if isinstance(exc, rx.DataError):
        return InvalidInputError(f"Redis rejected a value{where}: {detail}")
    return BackendError(f"Redis answered with an error{where}: {detail}", backend="redis")


def _translate_weaviate(exc: wx.WeaviateBaseError, where: str) -> AgentMemError:
    detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    status = getattr(exc, "status_code", None)
    if isinstance(exc, wx.AuthenticationFailedError) or status in (401, 403):
        return AuthenticationFailed(_WEAVIATE_AUTH_HINT.format(detail=detail), backend="weaviate")
    if isinstance(exc, wx.WeaviateQueryError):
        # gRPC failures arrive as query errors whose message carries the gRPC status.
        lowered = detail.lower()
        if "deadline exceeded" in lowered:
            return BackendTimeout(
                f"Weaviate did not answer in time{where} ({detail}); raise "
                "AGENTMEM_TIMEOUT or check the server's load.",
                backend="weaviate",
            )
        if "unavailable" in lowered or "connection refused" in lowered:
            return BackendUnavailable(
                f"Weaviate could not be reached{where} ({detail})", backend="weaviate"
            )
        if "query maximum results exceeded" in lowered:
            return InvalidInputError(
                f"offset + limit is larger than the server lets one query return{where} "
                "(Weaviate's QUERY_MAXIMUM_RESULTS, 10,000 by default): narrow the filter, ask "
                "for fewer, or raise QUERY_MAXIMUM_RESULTS on the server"
            )
    if isinstance(exc, wx.WeaviateTimeoutError):
        return BackendTimeout(
            f"Weaviate did not answer in time{where} ({detail})", backend="weaviate"
        )
    if isinstance(exc, wx.WeaviateClosedClientError):
        return ClosedError(f"the Weaviate client is closed{where}")
    if isinstance(
        exc,
        (
            wx.WeaviateConnectionError,
            wx.WeaviateStartUpError,
            wx.WeaviateGRPCUnavailableError,
            wx.WeaviateRetryError,
        ),
    ):
        return BackendUnavailable(
            f"Weaviate could not be reached{where} ({detail}). Is it "
            "running, and are AGENTMEM_WEAVIATE_URL and the gRPC port right?",
            backend="weaviate",
        )
    if isinstance(
        exc,
        (
            wx.WeaviateInvalidInputError,
            wx.WeaviateInsertInvalidPropertyError,
            wx.WeaviateAddInvalidPropertyError,
        ),
    ):
        return InvalidInputError(f"Weaviate rejected the input{where}: {detail}")
    return BackendError(f"Weaviate answered with an error{where}: {detail}", backend="weaviate")


class translate_errors:  # a class, not @contextmanager: it wraps every backend call
    """Re-raise backend exceptions inside the block as agentmem exceptions (chained).

    Use it as ``with translate_errors("chat.append"): ...``.
    """

    __slots__ = ("label",)

    def __init__(self, label: str = "") -> None:
        self.label = label

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc is None or isinstance(exc, AgentMemError) or not isinstance(exc, Exception):
            return False
        label = self.label
        where = f" during {label}" if label else ""
        if isinstance(exc, rx.RedisError):
            raise _translate_redis(exc, where) from exc
        if isinstance(exc, wx.WeaviateBaseError):
            raise _translate_weaviate(exc, where) from exc
        if isinstance(exc, (GrpcUnavailable, grpc.RpcError, httpx.HTTPError)):
            raise _translate_transport(exc, where) from exc
        if isinstance(exc, RuntimeError):
            loop_error = _loop_misuse(exc, label)
            if loop_error is not None:
                raise loop_error from exc
        return False


def _loop_misuse(exc: RuntimeError, label: str) -> AgentMemError | None:
    """A client used outside the event loop it belongs to (only borrowed async clients can be:
    ``AgentMem`` keeps its own async clients per loop)."""
    text = str(exc)
    if "Event loop is closed" not in text and "different loop" not in text \
            and "different event loop" not in text:  # fmt: skip
        return None
    where = f" during {label}" if label else ""
    return ClosedError(
        f"an async client was used outside the event loop it belongs to{where} ({text}); a "
        "write may or may not have been applied. An async client given to "
        "AgentMem(async_redis=..., async_weaviate_client=...) works only in the loop that made "
        "it: let AgentMem create its own (it keeps one per event loop), or pass one made in this loop"
    )
