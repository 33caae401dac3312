"""Memory that forms itself, for LlamaIndex: a memory block and an LLM extractor.

* :class:`LLMExtractor`: agentmem's :class:`~agentmem.facts.FactExtractor` over any LlamaIndex
  ``LLM`` (``structured_predict``: tool calling where the LLM has it, a JSON program otherwise).
* :class:`AgentMemFactsBlock`: a ``BaseMemoryBlock`` for ``Memory.from_defaults(memory_blocks=
  [...])``. Its ``aget`` recalls the user's current facts for the latest user message; its
  ``aput`` queues the messages ``Memory`` flushes from short-term memory for consolidation. Unlike
  LlamaIndex's ``FactExtractionMemoryBlock`` (facts kept in the block, in the process), the facts
  persist in Weaviate and are shared with the LangChain side: a fact formed from a LlamaIndex chat
  is recalled by a LangGraph agent through ``AgentMemMemoryMiddleware``, and back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM
from llama_index.core.memory import BaseMemoryBlock
from llama_index.core.prompts import PromptTemplate
from pydantic import Field

from agentmem.consolidation import Consolidator
from agentmem.facts import RECENT, Fact, MemoryOperations, Turn, extraction_prompt, format_facts
from llamaindex_agentmem._messages import turns_of

__all__ = ["AgentMemFactsBlock", "LLMExtractor"]

_PROMPT = PromptTemplate("{instruction}")


class LLMExtractor:
    """Consolidation with a LlamaIndex LLM: one ``structured_predict`` per batch."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def __repr__(self) -> str:
        return f"LLMExtractor({type(self.llm).__name__})"

    def extract(self, turns: Sequence[Turn], known: Sequence[Fact]) -> Any:
        instruction = extraction_prompt(turns, known)
        return self.llm.structured_predict(MemoryOperations, _PROMPT, instruction=instruction)

    async def aextract(self, turns: Sequence[Turn], known: Sequence[Fact]) -> Any:
        instruction = extraction_prompt(turns, known)
        return await self.llm.astructured_predict(
            MemoryOperations, _PROMPT, instruction=instruction
        )


def _role(message: ChatMessage) -> str:
    role = message.role.value if isinstance(message.role, MessageRole) else str(message.role)
    return "assistant" if role in ("assistant", "chatbot", "model") else role


def _text(message: ChatMessage) -> str:
    return message.content or ""


class AgentMemFactsBlock(BaseMemoryBlock[str]):
    """The user's facts, recalled into LlamaIndex ``Memory`` and formed from what it flushes.

    Args:
        consolidator: the :class:`~agentmem.Consolidator` (its extractor: e.g.
            ``LLMExtractor(llm)``) whose queue and facts to use.
        user_id: whose facts (one ``Memory`` serves one user's session).
        k: at most this many facts recalled.
        recency: how much newer facts are preferred (default :data:`agentmem.facts.RECENT`;
            None: relevance only).
        budget_tokens: at most about this many tokens of facts (4 characters a token).
        background: start the consolidator's background worker on the first queued batch.
    """

    name: str = "agentmem_facts"
    description: str | None = "Facts about the user from earlier conversations (agentmem)."
    consolidator: Any = Field(exclude=True)
    user_id: str
    k: int = 8
    recency: Any = Field(default=RECENT, exclude=True)
    budget_tokens: int = 500
    background: bool = True

    def model_post_init(self, context: Any) -> None:
        if not isinstance(self.consolidator, Consolidator):
            from agentmem.errors import InvalidInputError

            raise InvalidInputError("AgentMemFactsBlock needs an agentmem.Consolidator")
        self.consolidator.facts(self.user_id)  # checks the user id now

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        query = next(
            (_text(m) for m in reversed(messages or []) if _role(m) == "user" and _text(m).strip()),
            "",
        )
        if not query:
            return ""
        facts = await self.consolidator.facts(self.user_id).arecall(
            query, k=self.k, recency=self.recency
        )
        return format_facts(facts, budget_tokens=self.budget_tokens)

    async def _aput(self, messages: list[ChatMessage]) -> None:
        turns = turns_of(messages)
        if not turns:
            return
        session = next(
            (m.additional_kwargs.get("session_id") for m in messages if m.additional_kwargs),
            None,
        )
        await self.consolidator.aenqueue(self.user_id, turns, session_id=session)
        if self.background:
            self.consolidator.start()  # a worker thread: not tied to this event loop

    async def atruncate(self, content: str, tokens_to_truncate: int) -> str | None:
        lines = content.splitlines()
        while lines and tokens_to_truncate > 0:
            tokens_to_truncate -= len(lines.pop()) // 4 + 1
        return "\n".join(lines) or None
