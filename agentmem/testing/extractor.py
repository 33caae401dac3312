"""A deterministic :class:`~agentmem.facts.FactExtractor` for tests and offline demos."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

from agentmem.facts import Fact, Turn

__all__ = ["FunctionExtractor"]


class FunctionExtractor:
    """Answers consolidation with ``decide(turns, known)``: any value ``parse_operations``
    accepts (or raises, like a failing model). Counts its calls in ``calls``.

    Args:
        decide: the stand-in for the model.
        delay: seconds each call takes (a slow model; ``aextract`` sleeps without blocking).
    """

    def __init__(self, decide: Callable[[Sequence[Turn], Sequence[Fact]], Any], delay: float = 0.0):
        self.decide = decide
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FunctionExtractor({getattr(self.decide, '__name__', 'decide')})"

    def _count(self) -> None:
        with self._lock:
            self.calls += 1

    def extract(self, turns: Sequence[Turn], known: Sequence[Fact]) -> Any:
        self._count()
        if self.delay:
            threading.Event().wait(self.delay)
        return self.decide(turns, known)

    async def aextract(self, turns: Sequence[Turn], known: Sequence[Fact]) -> Any:
        self._count()
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.decide(turns, known)
