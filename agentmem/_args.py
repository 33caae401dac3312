"""Checks of common arguments, shared by every store (one error message for one mistake).

They run before any I/O, so a mistake raises a typed error and nothing is written.
"""

from __future__ import annotations

import math
import sys
from datetime import timedelta
from typing import Any, Final

from agentmem.errors import InvalidInputError, SerializationError

__all__ = [
    "MAX_DURATION_SECONDS",
    "MAX_JSON_DEPTH",
    "check_count",
    "check_json",
    "check_number",
    "check_text",
    "duration_ms",
    "utf8_size",
]

MAX_DURATION_SECONDS: Final = 1e12
"""The longest TTL or age agentmem accepts (about 31,700 years; ``None`` means "never")."""

MAX_JSON_DEPTH: Final = 64
"""How deeply lists and dicts may nest in stored JSON values (metadata, extra data, filter values).

Deeper values are refused with :class:`~agentmem.errors.SerializationError` instead of running into
Python's recursion limit while they are encoded or read back.
"""


def duration_ms(value: float | timedelta | None, name: str) -> int:
    """``value`` (seconds or a timedelta) in whole milliseconds; ``None`` is 0 (not set).

    Raises:
        InvalidInputError: not a number or timedelta, NaN or infinite, shorter than one
            millisecond, or longer than :data:`MAX_DURATION_SECONDS`.
    """
    if value is None:
        return 0
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    ok = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
    if not ok or not 0.001 <= seconds <= MAX_DURATION_SECONDS:  # NaN fails both comparisons
        raise InvalidInputError(
            f"{name} must be None or a finite number of seconds (or a timedelta) from 0.001 to "
            f"{MAX_DURATION_SECONDS:.0e} (agentmem._args.MAX_DURATION_SECONDS), got {value!r}"
        )
    return int(seconds * 1000)


def utf8_size(text: str, what: str) -> int:
    """The UTF-8 size of ``text`` in bytes; a string with no UTF-8 form is refused.

    Python strings may hold lone surrogates (``"\\ud800"``, from a bad decode, for example), which
    no server can store; the client would fail while sending them, possibly mid-batch.

    Raises:
        SerializationError: ``text`` has a lone surrogate.
    """
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise SerializationError(
            f"{what} is not valid Unicode text: it has a lone surrogate "
            f"({text[exc.start : exc.end]!r} at position {exc.start}); clean it up first, for "
            "example with text.encode('utf-8', 'replace').decode()"
        ) from None


def check_text(value: object, what: str, *, empty: bool = False) -> str:
    """``value`` as a string that can be stored (UTF-8 encodable; non-empty unless ``empty``).

    Raises:
        InvalidInputError: not a string, or empty when that is not allowed.
        SerializationError: the string has a lone surrogate.
    """
    if not isinstance(value, str) or (not empty and not value):
        need = "a string" if empty else "a non-empty string"
        raise InvalidInputError(f"{what} must be {need}, got {value!r}")
    utf8_size(value, what)
    return value


def check_count(value: object, what: str, *, minimum: int = 0) -> int:
    """``value`` as an int of at least ``minimum`` (booleans are not counts).

    Raises:
        InvalidInputError: not an int, or smaller than ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{what} must be an int of at least {minimum}, got {value!r}")
    return value


def check_number(
    value: object, what: str, *, low: float | None = None, high: float | None = None
) -> float:
    """``value`` as a finite float, within ``[low, high]`` where given (booleans are refused).

    Raises:
        InvalidInputError: not a number, NaN or infinite, or out of range.
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    number = float(value) if ok and abs(value) <= sys.float_info.max else math.nan  # type: ignore[arg-type]
    if (
        not math.isfinite(number)
        or (low is not None and number < low)
        or (high is not None and number > high)
    ):
        bounds = f" in [{low}, {high}]" if low is not None and high is not None else ""
        raise InvalidInputError(f"{what} must be a finite number{bounds}, got {value!r}")
    return number


def check_json(value: Any, what: str) -> None:
    """Check that ``value`` is JSON data that reads back exactly as it was written.

    Allowed: ``None``, booleans, ints, finite floats, strings, lists and tuples of these, and
    dicts with string keys (read back as lists and dicts), nested at most
    :data:`MAX_JSON_DEPTH` deep. Non-string dict keys are refused because JSON would turn them
    into strings (``{1: "x", "1": "y"}`` would read back as ``{"1": "y"}``).

    Raises:
        SerializationError: ``value`` has no exact JSON form; the message says where.
    """
    path: list[object] = []
    problem = _walk(value, path)
    if problem is not None:
        shown = "".join(f"[{p!r}]" for p in path[:6]) + ("[...]" if len(path) > 6 else "")
        raise SerializationError(f"{what}{shown} {problem}")


def _walk(value: Any, path: list[object]) -> str | None:
    """What is wrong with ``value`` (``path`` then leads to it), or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _unicode_problem(value)
    if isinstance(value, int):
        # No float form: range filters and JSON readers in other languages would fail.
        return None if abs(value) <= sys.float_info.max else "is an int too large to store"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"must be a finite number, got {value!r}"
    if len(path) >= MAX_JSON_DEPTH:
        return (
            f"nests lists and dicts more than {MAX_JSON_DEPTH} deep "
            "(agentmem._args.MAX_JSON_DEPTH); flatten it"
        )
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            path.append(index)
            problem = _walk(item, path)
            if problem is not None:
                return problem
            path.pop()
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return (
                    f"has the key {key!r} of type {type(key).__name__}; keys must be strings "
                    "(JSON would turn it into a string, and could merge it with another key)"
                )
            problem = _unicode_problem(key)
            if problem is not None:
                return f"has a key that {problem}"
            path.append(key)
            problem = _walk(item, path)
            if problem is not None:
                return problem
            path.pop()
        return None
    return (
        "must be JSON-serializable (str, number, bool, None, list, dict), got "
        f"{type(value).__name__}"
    )


def _unicode_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not valid Unicode text (a lone surrogate at position {exc.start})"
    return None
