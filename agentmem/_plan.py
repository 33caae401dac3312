"""Operations written once as plans, run by a sync and an async driver.

A plan is a generator that yields :class:`Call` objects and receives each call's result; it
``return``s the operation's value. Plans hold no client, never sleep and never await, so the same
plan serves the sync and the async facade (httpx's ``auth_flow`` idea applied to storage)::

    def clear(key: str) -> Plan[int]:
        deleted = yield Call("chat.clear", lambda r: r.delete(key))
        return int(deleted)

The drivers run every call inside :func:`agentmem._translate.translate_errors` and retry a call
only when it is marked ``idempotent`` and failed because the backend was unreachable. A call that
still fails is thrown into the plan (``generator.throw``), so a plan may handle it, for example to
report which items of a batch were stored before the server went away; a plan that does not catch
it lets it propagate to the caller unchanged.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from agentmem._telemetry import NO_SERVER, Server, attempt
from agentmem._translate import translate_errors
from agentmem.config import RetrySettings
from agentmem.errors import AgentMemError, AuthenticationFailed, BackendUnavailable

__all__ = ["Call", "Plan", "run_async", "run_sync"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One backend call of a plan.

    Attributes:
        label: names the operation in errors and logs (``"chat.append"``).
        fn: takes the client and returns the result (an awaitable on an async client).
        idempotent: safe to repeat after a connection failure.
    """

    label: str
    fn: Callable[[Any], Any]
    idempotent: bool = False


Plan = Generator[Call, Any, T]

_NO_RETRY = RetrySettings(attempts=1)
_log = logging.getLogger("agentmem")


def _retrying(call: Call, exc: BackendUnavailable, failures: int, retry: RetrySettings) -> float:
    delay = retry.delay(failures)
    _log.info("%s: %s; retrying in %.2f s (attempt %d of %d)", call.label, exc, delay,
              failures + 1, retry.attempts)  # fmt: skip
    return delay


def _reconnected(call: Call, failures: int) -> None:
    _log.info("%s: the server answers again after %d failed attempt%s", call.label, failures,
                 "" if failures == 1 else "s")  # fmt: skip


def _retryable(exc: BackendUnavailable, call: Call, failures: int, retry: RetrySettings) -> bool:
    return (
        call.idempotent and not isinstance(exc, AuthenticationFailed) and failures < retry.attempts
    )


def run_sync(
    plan: Plan[T], client: Any, retry: RetrySettings = _NO_RETRY, where: Server = NO_SERVER
) -> T:
    """Drive ``plan`` against a sync client and return its value.

    ``where`` names the server for traces and metrics (see :mod:`agentmem._telemetry`): each
    attempt at a call is one span and one duration measurement.
    """
    try:
        call = next(plan)
        while True:
            failures = 0
            while True:
                try:
                    with attempt(call.label, where), translate_errors(call.label):
                        result = call.fn(client)
                    break
                except BackendUnavailable as exc:
                    failures += 1
                    if _retryable(exc, call, failures, retry):
                        time.sleep(_retrying(call, exc, failures, retry))
                        continue
                    call = plan.throw(exc)  # the plan may handle it, or it propagates
                    failures = 0
                except AgentMemError as exc:
                    call = plan.throw(exc)
                    failures = 0
            if failures:
                _reconnected(call, failures)
            call = plan.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def run_async(
    plan: Plan[T], client: Any, retry: RetrySettings = _NO_RETRY, where: Server = NO_SERVER
) -> T:
    """Drive ``plan`` against an async client and return its value (``where``: as in
    :func:`run_sync`)."""
    try:
        call = next(plan)
        while True:
            failures = 0
            while True:
                try:
                    with attempt(call.label, where), translate_errors(call.label):
                        result = call.fn(client)
                        if inspect.isawaitable(result):
                            result = await result
                    break
                except BackendUnavailable as exc:
                    failures += 1
                    if _retryable(exc, call, failures, retry):
                        await asyncio.sleep(_retrying(call, exc, failures, retry))
                        continue
                    call = plan.throw(exc)  # the plan may handle it, or it propagates
                    failures = 0
                except AgentMemError as exc:
                    call = plan.throw(exc)
                    failures = 0
            if failures:
                _reconnected(call, failures)
            call = plan.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
