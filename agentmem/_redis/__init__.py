"""Redis internals: the key grammar, Lua sources and plans. Nothing here is public API."""

from __future__ import annotations

__all__: list[str] = []
