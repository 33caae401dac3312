"""``with`` / ``async with`` for every object that defines ``close`` and ``aclose``.

One mixin for ``AgentMem``, every core store and every framework adapter: leaving a ``with``
block calls ``close()``, leaving an ``async with`` block awaits ``aclose()``. What each object
closes is its own business (only what it owns: an ``AgentMem`` it built, never one it was given).
"""

from __future__ import annotations

from types import TracebackType

from typing_extensions import Self

__all__ = ["Lifecycle"]


class Lifecycle:
    """Context-manager protocol on top of ``close()`` and ``aclose()``."""

    def close(self) -> None:  # pragma: no cover - every user overrides it
        raise NotImplementedError

    async def aclose(self) -> None:  # pragma: no cover - every user overrides it
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
