"""The one place where backend exceptions become agentmem exceptions.

Every driver call (``agentmem._plan``) and every connection helper runs inside
:func:`translate_errors`. Exceptions already derived from :class:`AgentMemError` pass through.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis.exceptions as rx
import weaviate.exceptions as wx

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
    return None


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
            "AGENTMEM_TIMEOUT or check the server's load.",
            backend="redis",
        )
    if isinstance(exc, rx.ConnectionError):
        return BackendUnavailable(
            f"Redis could not be reached{where} ({detail}). Is it running, "
            "and is AGENTMEM_REDIS_URL right?",
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


@contextlib.contextmanager
def translate_errors(label: str = "") -> Iterator[None]:
    """Re-raise backend exceptions inside the block as agentmem exceptions (chained)."""
    try:
        yield
    except AgentMemError:
        raise
    except rx.RedisError as exc:
        raise _translate_redis(exc, f" during {label}" if label else "") from exc
    except wx.WeaviateBaseError as exc:
        raise _translate_weaviate(exc, f" during {label}" if label else "") from exc
