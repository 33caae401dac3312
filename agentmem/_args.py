"""Checks of common arguments, shared by every store (one error message for one mistake)."""

from __future__ import annotations

from datetime import timedelta

from agentmem.errors import InvalidInputError

__all__ = ["duration_ms"]


def duration_ms(value: float | timedelta | None, name: str) -> int:
    """``value`` (seconds or a timedelta) in whole milliseconds; ``None`` is 0 (not set).

    Raises:
        InvalidInputError: not a number or timedelta, or shorter than one millisecond.
    """
    if value is None:
        return 0
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0.001:
        raise InvalidInputError(f"{name} must be None or at least 0.001 seconds, got {value!r}")
    return int(seconds * 1000)
