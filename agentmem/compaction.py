"""Pure helpers for compacting a long session into a running summary plus a recent window.

The framework adapters decide how many tokens a message costs, which messages answer a tool call
(and so must stay with the AI message that made it) and how their messages are built. This module
decides *where to cut*, what to ask the model and what the compacted view is, so those rules are
written, and tested, once: :func:`split_for_budget` and :class:`Compaction`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, TypeVar

from agentmem._redis.session_plans import SessionSnapshot
from agentmem.errors import InvalidInputError

__all__ = ["SUMMARY_PROMPT", "Compaction", "split_for_budget"]

M = TypeVar("M")

SUMMARY_PROMPT = (
    "You maintain the running summary of a conversation between a user and an assistant. "
    "Merge the existing summary with the new messages into one concise summary. Keep facts, "
    "decisions, names, numbers, open questions and the results of tool calls. Answer with the "
    "summary only."
)
"""The default instruction given to the summarizing model."""


def split_for_budget(sizes: Sequence[int], cuttable: Sequence[bool], budget: int) -> int:
    """Where to cut a session so the newest messages fit ``budget``.

    Args:
        sizes: token cost of each message, oldest first.
        cuttable: ``cuttable[i]`` is true when the session may be cut right before message ``i``
            (false for a tool result, which must stay with the AI message that asked for it).
            ``cuttable[0]`` is ignored.
        budget: tokens the kept (newest) messages may use.

    Returns:
        ``k`` such that ``messages[:k]`` go to the summary and ``messages[k:]`` are kept: the
        smallest allowed cut whose kept part fits. If even the newest unbreakable group does not
        fit, that group is kept anyway (a view without the latest turn would be useless); 0
        means nothing needs compacting.

    Raises:
        InvalidInputError: the sequences differ in length or the budget is negative.
    """
    if len(sizes) != len(cuttable):
        raise InvalidInputError(f"got {len(sizes)} sizes and {len(cuttable)} cut flags")
    if budget < 0:
        raise InvalidInputError(f"budget must be >= 0, got {budget}")
    total = sum(sizes)
    if total <= budget:
        return 0
    kept = total
    fallback = 0
    for k in range(1, len(sizes)):
        kept -= sizes[k - 1]
        if not cuttable[k]:
            continue
        fallback = k
        if kept <= budget:
            return k
    return fallback


class Compaction(ABC, Generic[M]):
    """One compaction attempt's pure parts, for messages of a framework's type ``M``.

    Built from a session snapshot and the framework's messages (already decoded from it); an
    adapter subclasses it with four small hooks. The caller asks the model with :meth:`request`,
    commits ``snapshot.messages[:cut]`` with the summary, and returns :meth:`view`.

    Attributes:
        snapshot: the session as read (the commit checks that its head did not change).
        messages: the framework's messages of the snapshot, oldest first.
        cut: messages before it go to the summary; 0 when everything fits the budget.
    """

    def __init__(
        self,
        snapshot: SessionSnapshot,
        messages: list[M],
        sizes: Sequence[int],
        max_tokens: int,
        prompt: str,
    ) -> None:
        self.snapshot = snapshot
        self.messages = messages
        cuttable = [not self.answers_tool_call(m) for m in messages]
        self.cut = split_for_budget(sizes, cuttable, max_tokens)
        self.prompt = prompt

    @abstractmethod
    def answers_tool_call(self, message: M) -> bool:
        """Whether ``message`` is a tool result (never the first message kept)."""

    @abstractmethod
    def transcript(self, messages: Sequence[M]) -> str:
        """The messages as text for the summarizing model, one per line."""

    @abstractmethod
    def system(self, text: str) -> M:
        """A system message of the framework."""

    @abstractmethod
    def user(self, text: str) -> M:
        """A user message of the framework."""

    def request(self) -> list[M]:
        """What to send the model: the instruction, the existing summary and the cut messages."""
        previous = self.snapshot.summary or "(none yet)"
        new = self.transcript(self.messages[: self.cut])
        return [
            self.system(self.prompt),
            self.user(f"Existing summary:\n{previous}\n\nNew messages:\n{new}"),
        ]

    def view(self, summary: str | None) -> list[M]:
        """The compacted history: a system message with ``summary`` (if any), then the kept
        messages."""
        kept = self.messages[self.cut :]
        if not summary:
            return kept
        return [self.system(f"Summary of the earlier conversation:\n{summary}"), *kept]
