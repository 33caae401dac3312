"""What the framework adapters over long-term memory share: one constructor shape, one lifecycle.

Every adapter (LangChain and LlamaIndex vector stores, the LangGraph store) takes the
:class:`~agentmem.AgentMem` as its first positional argument (or None: one built from the
environment, owned and closed by the adapter) and everything else by keyword. A wrong first
argument is refused at once, with the keyword it was probably meant for, instead of failing
later with an ``AttributeError``. Their ``with`` / ``async with`` comes from
:class:`agentmem._lifecycle.Lifecycle`.
"""

from __future__ import annotations

from agentmem.core import AgentMem
from agentmem.errors import InvalidInputError

__all__ = ["check_memory"]


def check_memory(memory: object, owner: str, hint: str = "") -> AgentMem | None:
    """Check the first argument of adapter ``owner``: an :class:`AgentMem` or None.

    Args:
        memory: what the caller passed first.
        owner: the adapter's class name, for the message.
        hint: what the caller probably meant (e.g. ``"pass the embeddings as embedding=..."``).

    Raises:
        InvalidInputError: ``memory`` is something else; the message names the argument.
    """
    if memory is None or isinstance(memory, AgentMem):
        return memory
    advice = f"; {hint}" if hint else ""
    raise InvalidInputError(
        f"{owner}'s first argument, memory, is the AgentMem to use (or None to build one from "
        f"AGENTMEM_* variables), got {type(memory).__name__}{advice}; pass every other setting "
        "by keyword"
    )
