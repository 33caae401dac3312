"""The embedder protocol long-term memory uses (None means BM25 only, the zero-config default).

A LangChain ``Embeddings`` object satisfies :class:`Embedder` as it is; the LlamaIndex adapter
wraps an embed model. The core never imports either framework.

What an embedder returns is checked before anything is written or searched: one vector per text,
each a non-empty list of finite numbers, all of one length within a write; otherwise
:class:`~agentmem.errors.InvalidInputError`. Blank query texts are never sent to it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Embedder"]


@runtime_checkable
class Embedder(Protocol):
    """Turns text into vectors, with sync and native async methods."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """The vector of a search query."""
        ...

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_documents`."""
        ...

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query`."""
        ...
