"""Memory that forms itself, for LangChain 1.x agents: a middleware, tools and a model extractor.

* :class:`ChatModelExtractor`: agentmem's :class:`~agentmem.facts.FactExtractor` over any LangChain
  chat model (structured output where the model has it, JSON in the reply otherwise).
* :class:`AgentMemMemoryMiddleware`: for ``create_agent(..., middleware=[...])``. Before each model
  call it adds the run's user's current facts that match the latest user message to the system
  message (not to the message list, so nothing recalled is checkpointed or grows per turn), within
  a token budget; after the agent it queues the turn for consolidation and returns: the model
  that forms facts runs in the :class:`~agentmem.Consolidator`'s worker, off the response path.
* :func:`memory_tools`: ``search_memory`` and ``manage_memory`` (add, update, forget one fact),
  bound to the run's user, for agents that should decide themselves.

The user comes from the run's context (``context={"user_id": ...}`` or an object with that
attribute) or ``configurable["user_id"]``, as the checkpoint saver finds it. A run without a user
is neither recalled for nor consolidated (there is no one to remember it for).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from langchain.agents.middleware import AgentMiddleware, ModelRequest
from langchain.tools import ToolRuntime
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import StructuredTool
from langgraph.config import get_config

from agentmem.consolidation import Consolidator
from agentmem.errors import ExtractionError, InvalidInputError
from agentmem.facts import (
    RECENT,
    Fact,
    MemoryOperations,
    Turn,
    extraction_prompt,
    format_facts,
)
from agentmem.longterm import Recency
from langchain_agentmem._checkpoint_convert import checked_user, context_value
from langchain_agentmem._messages import turns_of

__all__ = ["AgentMemMemoryMiddleware", "ChatModelExtractor", "memory_tools"]


_JSON = re.compile(r"\{.*\}", re.S)


def _from_text(text: str) -> Any:
    match = _JSON.search(text)
    if match is None:
        raise ExtractionError(f"the model's reply has no JSON object: {text!r:.200}")
    try:
        return json.loads(match.group(0))
    except ValueError as exc:
        raise ExtractionError(
            f"the model's reply is not valid JSON ({exc}): {text!r:.200}"
        ) from exc


class ChatModelExtractor:
    """Consolidation with a LangChain chat model: one call per batch.

    Args:
        model: any chat model. With ``with_structured_output`` (most providers) the answer is
            validated against agentmem's schema; without it the model is asked for JSON.
    """

    def __init__(self, model: BaseChatModel) -> None:
        self.model = model
        try:
            self._structured: Any = model.with_structured_output(MemoryOperations)
        except NotImplementedError:
            self._structured = None

    def __repr__(self) -> str:
        return f"ChatModelExtractor({type(self.model).__name__})"

    def _messages(self, turns: Sequence[Turn], known: Sequence[Fact]) -> list[BaseMessage]:
        prompt = extraction_prompt(turns, known)
        if self._structured is None:
            prompt += '\nReply with the JSON object only: {"operations": [...]}.'
        return [HumanMessage(prompt)]

    def extract(self, turns: Sequence[Turn], known: Sequence[Fact]) -> Any:
        messages = self._messages(turns, known)
        if self._structured is not None:
            return self._structured.invoke(messages)
        return _from_text(self.model.invoke(messages).text)

    async def aextract(self, turns: Sequence[Turn], known: Sequence[Fact]) -> Any:
        messages = self._messages(turns, known)
        if self._structured is not None:
            return await self._structured.ainvoke(messages)
        return _from_text((await self.model.ainvoke(messages)).text)


# -- the run's user ------------------------------------------------------------------------------


def _user(context: Any, user_key: str) -> str | None:
    """The run's user: its context first, then ``configurable`` (as the saver finds it)."""
    user = context_value(context, user_key)
    if user in (None, ""):
        try:
            user = (get_config().get("configurable") or {}).get(user_key)
        except RuntimeError:  # outside a runnable context
            user = None
    return checked_user(user, user_key)


def _thread(runtime: Any) -> str | None:
    info = getattr(runtime, "execution_info", None)
    return getattr(info, "thread_id", None)


def _this_turn(messages: Sequence[BaseMessage]) -> list[Turn]:
    """The messages of the latest turn: from the last human message on, with text."""
    start = max((i for i, m in enumerate(messages) if m.type == "human"), default=None)
    return [] if start is None else turns_of(messages[start:])


def _last_question(messages: Sequence[BaseMessage]) -> str:
    return next((m.text for m in reversed(messages) if m.type == "human" and m.text.strip()), "")


def _with_facts(request: ModelRequest, block: str) -> ModelRequest:
    old = request.system_message
    if old is None:
        return request.override(system_message=SystemMessage(block))
    if isinstance(old.content, str):
        content: Any = f"{old.content}\n\n{block}" if old.content else block
    else:
        content = [*old.content, {"type": "text", "text": block}]
    return request.override(system_message=SystemMessage(content))


class AgentMemMemoryMiddleware(AgentMiddleware):
    """Recall a user's facts into each model call and queue each turn for consolidation.

    Args:
        consolidator: the :class:`~agentmem.Consolidator` (its extractor: e.g.
            ``ChatModelExtractor(model)``) whose queue and facts to use.
        user_key: where the run names its user (context attribute or key, or configurable).
        k: at most this many facts recalled per model call.
        recency: how much newer facts are preferred (default :data:`agentmem.facts.RECENT`;
            None: relevance only).
        budget_tokens: at most about this many tokens of facts (4 characters a token).
        header: the line above the recalled facts in the system message.
        background: start the consolidator's background worker in this process on the first
            queued turn (False: run ``agentmem worker`` or ``run_pending`` yourself).
    """

    def __init__(
        self,
        consolidator: Consolidator,
        *,
        user_key: str = "user_id",
        k: int = 8,
        recency: Recency | None = RECENT,
        budget_tokens: int = 500,
        header: str = "What you know about the user (from earlier conversations):",
        background: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(consolidator, Consolidator):
            raise InvalidInputError("AgentMemMemoryMiddleware needs an agentmem.Consolidator")
        self.consolidator = consolidator
        self.user_key = user_key
        self.k = k
        self.recency = recency
        self.budget_tokens = budget_tokens
        self.header = header
        self.background = background

    def _block(self, facts: Sequence[Fact]) -> str | None:
        lines = format_facts(facts, budget_tokens=self.budget_tokens)
        return f"{self.header}\n{lines}" if lines else None

    def wrap_model_call(self, request: ModelRequest, handler: Callable[[ModelRequest], Any]) -> Any:
        user = _user(request.runtime.context if request.runtime else None, self.user_key)
        query = _last_question(request.messages)
        if user is not None and query:
            block = self._block(
                self.consolidator.facts(user).recall(query, k=self.k, recency=self.recency)
            )
            if block:
                request = _with_facts(request, block)
        return handler(request)

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[Any]]
    ) -> Any:
        user = _user(request.runtime.context if request.runtime else None, self.user_key)
        query = _last_question(request.messages)
        if user is not None and query:
            facts = await self.consolidator.facts(user).arecall(
                query, k=self.k, recency=self.recency
            )
            block = self._block(facts)
            if block:
                request = _with_facts(request, block)
        return await handler(request)

    def after_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        user, turns = _user(runtime.context, self.user_key), _this_turn(state["messages"])
        if user is not None and turns:
            self.consolidator.enqueue(user, turns, session_id=_thread(runtime))
            if self.background:
                self.consolidator.start()
        return None

    async def aafter_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        user, turns = _user(runtime.context, self.user_key), _this_turn(state["messages"])
        if user is not None and turns:
            await self.consolidator.aenqueue(user, turns, session_id=_thread(runtime))
            if self.background:
                self.consolidator.start()  # a worker thread: not tied to this event loop
        return None


def memory_tools(consolidator: Consolidator, *, user_key: str = "user_id", k: int = 5) -> list[Any]:
    """``search_memory`` and ``manage_memory`` tools bound to the run's user (sync and native
    async: an async agent awaits the async clients)."""

    def user_of(runtime: ToolRuntime[Any, Any]) -> str:
        user = _user(runtime.context, user_key)
        if user is None:
            raise InvalidInputError(f"this run names no user ({user_key!r} in its context)")
        return user

    def search_memory(query: str, runtime: ToolRuntime[Any, Any]) -> str:
        return _listing(consolidator.facts(user_of(runtime)).recall(query, k=k))

    async def asearch_memory(query: str, runtime: ToolRuntime[Any, Any]) -> str:
        return _listing(await consolidator.facts(user_of(runtime)).arecall(query, k=k))

    def manage_memory(
        action: Literal["add", "update", "forget"],
        runtime: ToolRuntime[Any, Any],
        text: str | None = None,
        fact_id: str | None = None,
    ) -> str:
        facts = consolidator.facts(user_of(runtime))
        if action == "add":
            return f"Saved [{facts.add(text or '').id}]"
        if not fact_id:
            return "fact_id is required to update or forget a fact"
        if action == "update":
            return f"Updated: now [{facts.update(fact_id, text or '').id}]"
        return f"Forgot [{facts.forget(fact_id).id}]"

    async def amanage_memory(
        action: Literal["add", "update", "forget"],
        runtime: ToolRuntime[Any, Any],
        text: str | None = None,
        fact_id: str | None = None,
    ) -> str:
        facts = consolidator.facts(user_of(runtime))
        if action == "add":
            return f"Saved [{(await facts.aadd(text or '')).id}]"
        if not fact_id:
            return "fact_id is required to update or forget a fact"
        if action == "update":
            return f"Updated: now [{(await facts.aupdate(fact_id, text or '')).id}]"
        return f"Forgot [{(await facts.aforget(fact_id)).id}]"

    return [
        StructuredTool.from_function(
            search_memory, coroutine=asearch_memory, name="search_memory",
            description="Search long-term memory for facts about the user.",
        ),
        StructuredTool.from_function(
            manage_memory, coroutine=amanage_memory, name="manage_memory",
            description="Add a fact about the user (text), update one (fact_id and the new "
            "text), or forget one (fact_id).",
        ),
    ]  # fmt: skip


def _listing(facts: Sequence[Fact]) -> str:
    return "\n".join(f"[{f.id}] {f.text}" for f in facts) or "Nothing in memory matches."
