"""The plan drivers: one plan, run sync and async, with retries only where they are safe."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis.exceptions as rx

from agentmem import AgentMem, AuthenticationFailed, BackendUnavailable, RetrySettings
from agentmem._plan import Call, Plan, run_async, run_sync

FAST = RetrySettings(attempts=3, base_delay=0.0, max_delay=0.0)


class Flaky:
    """A call body that fails with ``error`` for the first ``failures`` tries."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.tries = failures, error, 0

    def __call__(self, client: Any) -> str:
        self.tries += 1
        if self.tries <= self.failures:
            raise self.error
        return "ok"


def _plan(body: Flaky, idempotent: bool) -> Plan[str]:
    result = yield Call("test.op", body, idempotent=idempotent)
    return f"{result}!"


def test_idempotent_call_is_retried_after_a_connection_failure() -> None:
    body = Flaky(2, rx.ConnectionError("reset"))
    assert run_sync(_plan(body, idempotent=True), None, FAST) == "ok!"
    assert body.tries == 3


async def test_async_driver_retries_the_same_way() -> None:
    body = Flaky(2, rx.ConnectionError("reset"))
    assert await run_async(_plan(body, idempotent=True), None, FAST) == "ok!"
    assert body.tries == 3


async def test_both_drivers_log_the_retries_and_the_reconnect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="agentmem"):
        run_sync(_plan(Flaky(2, rx.ConnectionError("reset")), idempotent=True), None, FAST)
        await run_async(_plan(Flaky(1, rx.ConnectionError("reset")), idempotent=True), None, FAST)
        run_sync(_plan(Flaky(0, rx.ConnectionError("reset")), idempotent=True), None, FAST)
    said = [r.getMessage() for r in caplog.records if r.name == "agentmem"]
    assert [m for m in said if "answers again" in m] == [
        "test.op: the server answers again after 2 failed attempts",
        "test.op: the server answers again after 1 failed attempt",
    ]
    assert len([m for m in said if "retrying in" in m]) == 3


@pytest.mark.parametrize(
    ("error", "idempotent"),
    [
        (rx.ConnectionError("reset"), False),  # a retried append could apply twice
        (rx.AuthenticationError("WRONGPASS"), True),  # retrying cannot fix credentials
    ],
)
def test_unsafe_or_hopeless_failures_are_not_retried(error: Exception, idempotent: bool) -> None:
    body = Flaky(1, error)
    with pytest.raises(BackendUnavailable) as info:
        run_sync(_plan(body, idempotent=idempotent), None, FAST)
    assert body.tries == 1
    assert isinstance(info.value.__cause__, type(error))
    if isinstance(error, rx.AuthenticationError):
        assert isinstance(info.value, AuthenticationFailed)


def test_retries_are_bounded() -> None:
    body = Flaky(10, rx.ConnectionError("down"))
    with pytest.raises(BackendUnavailable):
        run_sync(_plan(body, idempotent=True), None, FAST)
    assert body.tries == FAST.attempts


def _roundtrip(key: str) -> Plan[bytes | None]:
    yield Call("probe.set", lambda r: r.set(key, b"value"))
    value = yield Call("probe.get", lambda r: r.get(key), idempotent=True)
    return value  # type: ignore[no-any-return]


async def test_one_plan_serves_sync_and_async_clients(mem: AgentMem, amem: AgentMem) -> None:
    assert run_sync(_roundtrip(f"{mem.key_prefix}:a"), mem.redis()) == b"value"
    assert await run_async(_roundtrip(f"{amem.key_prefix}:b"), await amem.aredis()) == b"value"


def _batched(bodies: list[Flaky]) -> Plan[tuple[list[int], list[int]]]:
    """Runs one call per batch; a batch whose server is gone is reported, not lost."""
    done: list[int] = []
    for index, body in enumerate(bodies):
        try:
            yield Call(f"batch.{index}", body)
        except BackendUnavailable:
            return done, list(range(index, len(bodies)))
        done.append(index)
    return done, []


def test_a_plan_can_handle_a_failed_call_and_report_what_landed() -> None:
    bodies = [Flaky(0, rx.ConnectionError()), Flaky(0, rx.ConnectionError()),
              Flaky(5, rx.ConnectionError("gone")), Flaky(0, rx.ConnectionError())]  # fmt: skip
    assert run_sync(_batched(bodies), None, FAST) == ([0, 1], [2, 3])
    assert bodies[3].tries == 0  # nothing after the failure was attempted


async def test_the_async_driver_throws_failures_into_the_plan_too() -> None:
    bodies = [Flaky(0, rx.ConnectionError()), Flaky(5, rx.ConnectionError("gone"))]
    assert await run_async(_batched(bodies), None, FAST) == ([0], [1])
