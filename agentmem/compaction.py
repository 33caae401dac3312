"""Pure helpers for compacting a long session into a running summary plus a recent window.

The framework adapters decide how many tokens a message costs, which messages must stay together
(an AI message that calls tools and the tool results answering it) and how to ask a model for a
summary. This module only decides *where to cut*, so the rule is written, and tested, once.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentmem.errors import InvalidInputError

__all__ = ["SUMMARY_PROMPT", "split_for_budget"]

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
