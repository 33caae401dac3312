"""The one base of every core store: which :class:`AgentMem` it uses, how it runs plans, lifecycle.

Every store (:class:`~agentmem.sessions.SessionStore`, :class:`~agentmem.checkpoints.CheckpointStore`,
:class:`~agentmem.runs.RunStore`, :class:`~agentmem.longterm.LongTermMemory`) is one class with
``a``-prefixed async twins, as LangChain, LangGraph and LlamaIndex do it. Both flavours run the same
plan; only the driver differs. The store borrows the ``AgentMem`` it is given (never closing it) or
builds one from the environment and owns it, closing it in :meth:`Store.close` / :meth:`Store.aclose`.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal, TypeVar

from agentmem._adapter import check_memory
from agentmem._lifecycle import Lifecycle
from agentmem._plan import Plan
from agentmem.core import AgentMem
from agentmem.errors import ClosedError, InvalidInputError

__all__ = ["SHARED", "Store", "require_scope"]

T = TypeVar("T")

SHARED: Final = "shared"
"""The user id (or tenant) to pass when one store should deliberately serve every user.

Multi-user classes have no default user or tenant, so no one pools users by accident; pass
``user_id=agentmem.SHARED`` (or ``tenant=agentmem.SHARED``) to say that sharing is meant.
"""


def require_scope(value: object, name: str, owner: str) -> str:
    """Check a user id or tenant given to ``owner``; ``None`` or empty is refused with advice.

    Raises:
        InvalidInputError: the value is missing, empty or not a string.
    """
    if isinstance(value, str) and value:
        return value
    raise InvalidInputError(
        f"{owner} needs {name}=...: pass the user's (or org's) id, or agentmem.SHARED to share "
        f"one {name} between every user on purpose (got {value!r})"
    )


class Store(Lifecycle):
    """What every core store shares: the ``AgentMem``, the two plan drivers and the lifecycle.

    Subclasses set ``_backend`` to the client their plans use (``"redis"`` or ``"weaviate"``).
    """

    _backend: ClassVar[Literal["redis", "weaviate"]] = "redis"

    def __init__(self, memory: AgentMem | None) -> None:
        check_memory(memory, type(self).__name__)
        self._owns = memory is None
        self._memory = memory if memory is not None else AgentMem()
        self._closed = False

    @property
    def memory(self) -> AgentMem:
        """The :class:`AgentMem` whose clients this store uses."""
        return self._memory

    # -- drivers ---------------------------------------------------------------------------------

    def _run(self, plan: Plan[T]) -> T:
        self._check_open(plan)
        return self._memory.run(plan, self._backend)

    async def _arun(self, plan: Plan[T]) -> T:
        self._check_open(plan)
        return await self._memory.arun(plan, self._backend)

    def _check_open(self, plan: Plan[T]) -> None:
        if self._closed:
            plan.close()
            raise ClosedError(f"this {type(self).__name__} was closed; create a new one")

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store, and its ``AgentMem`` if the store created it. Idempotent."""
        self._closed = True
        if self._owns:
            self._memory.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close` (also closes the owned ``AgentMem``'s async clients)."""
        self._closed = True
        if self._owns:
            await self._memory.aclose()
