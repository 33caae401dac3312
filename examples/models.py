"""The chat models the examples use: a real one when you have a key, a scripted one otherwise.

With ``OPENAI_API_KEY`` set (and ``langchain-openai`` / ``llama-index-llms-openai`` installed),
:func:`langchain_model` and :func:`llamaindex_llm` return OpenAI's ``gpt-4o-mini``; with
``ANTHROPIC_API_KEY`` (and ``langchain-anthropic`` / ``llama-index-llms-anthropic``), Anthropic's
``claude-3-5-haiku-latest``. ``AGENTMEM_EXAMPLES_MODEL=<model name>`` picks another model of that
provider. Without a key, or with
``AGENTMEM_EXAMPLES_MODEL=scripted`` (what the test suite sets), they return a small scripted model
so every example runs anywhere, offline and deterministically. The scripted model is not clever:
it follows the rules in :func:`decide`, which is enough to drive tools and show memory at work.
Everything else in the examples (Redis, Weaviate, agentmem) is real either way.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reply", "decide", "langchain_model", "llamaindex_llm", "model_name"]


@dataclass
class Reply:
    """What the scripted model says: text, or calls of tools (name, arguments)."""

    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


_REMEMBER = re.compile(r"\bremember(?:\s+that)?[\s:,]+(?P<fact>[^\n]+)", re.I)
_NAME = re.compile(r"\b(?:I'm|I am|my name is|call me)\s+(?P<name>[A-Z][\w-]*)", re.I)
_RECALL_OWN = re.compile(r"what did i (?:ask|tell) you", re.I)
_CONTEXT = re.compile(r"Context:\s*\n(?P<first>[^\n]+)", re.I)
_USER_NAME = re.compile(r"The user's name is (?P<name>[\w-]+)")
# "Email bob@example.com: the report is ready" -> tool send_email(to, body)
_EMAIL = re.compile(r"^\s*email\s+(?P<to>[^\s:,]+@[^\s:,]+)[\s:,]+(?P<body>.+)$", re.I | re.S)


# Memory that forms itself: the consolidation prompt (agentmem.facts.extraction_prompt) offers
# the MemoryOperations tool (structured output); these rules stand in for the model's judgement.
_KNOWN_FACT = re.compile(r"^F(?P<n>\d+): (?P<text>.+)$", re.M)
_SAID = re.compile(r"^user: (?P<text>.+)$", re.M)
_DRINK = re.compile(r"favourite drink is (?P<drink>[\w -]+?)\s*(?:[.!,;]|$)", re.I)
_KNOWN_DRINK = re.compile(r"favourite drink is (?P<drink>[^\n]+)")


def _consolidate(prompt: str) -> Reply:
    known = {m["text"]: m["n"] for m in _KNOWN_FACT.finditer(prompt)}
    new = prompt.split("New messages:", 1)[-1]
    ops: list[dict[str, Any]] = []
    for said in _SAID.finditer(new):
        text = said["text"]
        if (name := _NAME.search(text)) and f"The user's name is {name['name']}" not in known:
            ops.append({"action": "add", "text": f"The user's name is {name['name']}"})
        if drink := _DRINK.search(text):
            fact = f"The user's favourite drink is {drink['drink'].strip().lower()}"
            old = next((n for t, n in known.items() if "favourite drink" in t), None)
            if old is None:
                ops.append({"action": "add", "text": fact})
            elif fact not in known:
                ops.append({"action": "update", "target": f"F{old}", "text": fact})
    return Reply(calls=[("MemoryOperations", {"operations": ops})])


def decide(messages: list[tuple[str, str]], tools: list[str]) -> Reply:
    """The scripted model's rules; ``messages`` are ``(role, text)`` pairs, roles ``system``,
    ``user``, ``assistant`` and ``tool``; ``tools`` are the names of the tools it may call."""
    if "MemoryOperations" in tools:
        return _consolidate(messages[-1][1] if messages else "")
    system = "\n".join(text for role, text in messages if role == "system")
    known = _USER_NAME.search(system)
    hello = f"{known['name']}, " if known else ""
    role, last = messages[-1] if messages else ("user", "")
    if "favourite drink" in last and last.rstrip().endswith("?"):
        drink = _KNOWN_DRINK.search(system)
        return Reply(f"{hello}your favourite drink is {drink['drink'].strip()}." if drink
                     else "I do not know your favourite drink yet.")  # fmt: skip
    if role == "tool":
        if last.lower().startswith("saved"):
            return Reply(f"{hello}I will remember that.")
        return Reply(f"{hello}from memory: {last}" if last else "I found nothing in memory.")
    if context := _CONTEXT.search(last):
        return Reply(f"According to your memory: {context['first'].strip()}")
    if _RECALL_OWN.search(last):
        earlier = [t for r, t in messages[:-1] if r == "user" and _REMEMBER.search(t)]
        if earlier:
            fact = _REMEMBER.search(earlier[-1])["fact"]  # type: ignore[index]
            return Reply(f"You asked me to remember: {fact.strip()!r}")
        return Reply("You have not asked me to remember anything in this conversation.")
    calls: list[tuple[str, dict[str, Any]]] = []
    if (name := _NAME.search(last)) and "save_name" in tools:
        calls.append(("save_name", {"name": name["name"]}))
    if (email := _EMAIL.search(last)) and "send_email" in tools:
        calls.append(("send_email", {"to": email["to"], "body": email["body"].strip()}))
    if (fact := _REMEMBER.search(last)) and "remember" in tools:
        calls.append(("remember", {"fact": fact["fact"].strip()}))
    elif last.rstrip().endswith("?") and "recall" in tools:
        calls.append(("recall", {"query": last.strip()}))
    if calls:
        return Reply(calls=calls)
    return Reply(f"{hello}noted." if last else "Hello!")


@dataclass(frozen=True)
class _Provider:
    key: str  # the API key's environment variable
    name: str  # for LangChain's init_chat_model
    model: str  # the default model
    packages: tuple[str, str]  # (LangChain module, LlamaIndex module)
    pip: str


_PROVIDERS = (
    _Provider("OPENAI_API_KEY", "openai", "gpt-4o-mini",
              ("langchain_openai", "llama_index.llms.openai"),
              "langchain-openai llama-index-llms-openai"),
    _Provider("ANTHROPIC_API_KEY", "anthropic", "claude-3-5-haiku-latest",
              ("langchain_anthropic", "llama_index.llms.anthropic"),
              "langchain-anthropic llama-index-llms-anthropic"),
)  # fmt: skip


def _provider() -> _Provider | None:
    """The provider whose key is set and whose packages import, else None (scripted)."""
    if os.environ.get("AGENTMEM_EXAMPLES_MODEL") == "scripted":
        return None
    for provider in _PROVIDERS:
        if not os.environ.get(provider.key):
            continue
        missing = [m for m in provider.packages if not _importable(m)]
        if not missing:
            return provider
        print(f"{provider.key} is set, but {', '.join(missing)} cannot be imported: using the "
              f"scripted model (pip install {provider.pip})", file=sys.stderr)  # fmt: skip
    return None


def model_name() -> str:
    """``"scripted"``, or ``provider:model`` of the real model the examples will use."""
    provider = _provider()
    if provider is None:
        return "scripted"
    return f"{provider.name}:{os.environ.get('AGENTMEM_EXAMPLES_MODEL') or provider.model}"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _roles_langchain(messages: list[Any]) -> list[tuple[str, str]]:
    roles = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}
    return [(roles.get(m.type, m.type), m.text) for m in messages]


def langchain_model() -> Any:
    """A LangChain chat model that supports ``bind_tools`` (for ``create_agent``)."""
    name = model_name()
    if name != "scripted":
        from langchain.chat_models import init_chat_model

        return init_chat_model(name, temperature=0)

    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.utils.function_calling import convert_to_openai_tool
    from pydantic import Field

    class ScriptedChatModel(BaseChatModel):
        """Follows :func:`decide`; no network."""

        tool_names: list[str] = Field(default_factory=list)
        turn: int = 0

        @property
        def _llm_type(self) -> str:
            return "scripted"

        def _reply(self, messages: list[Any]) -> ChatResult:
            reply = decide(_roles_langchain(messages), self.tool_names)
            self.turn += 1
            calls = [
                {"name": n, "args": a, "id": f"call-{self.turn}-{i}", "type": "tool_call"}
                for i, (n, a) in enumerate(reply.calls)
            ]
            message = AIMessage(reply.text, tool_calls=calls)
            return ChatResult(generations=[ChatGeneration(message=message)])

        def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:  # fmt: skip
            return self._reply(messages)

        async def _agenerate(self, messages: list[Any], stop: Any = None,
                             run_manager: Any = None, **kwargs: Any) -> ChatResult:  # fmt: skip
            return self._reply(messages)

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            names = [convert_to_openai_tool(t)["function"]["name"] for t in tools]
            return ScriptedChatModel(tool_names=names)

    return ScriptedChatModel()


def llamaindex_llm() -> Any:
    """A LlamaIndex function-calling LLM (for ``FunctionAgent`` and chat engines)."""
    name = model_name()
    if name.startswith("openai:"):
        from llama_index.llms.openai import OpenAI  # type: ignore[import-not-found]

        return OpenAI(model=name.split(":", 1)[1], temperature=0)
    if name.startswith("anthropic:"):
        from llama_index.llms.anthropic import Anthropic  # type: ignore[import-not-found]

        return Anthropic(model=name.split(":", 1)[1], temperature=0)

    from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
    from llama_index.core.llms.mock import MockFunctionCallingLLM

    def respond(messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
        tools = [t.metadata.name for t in kwargs.get("tools") or []]
        pairs = [(str(m.role.value), m.content or "") for m in messages]
        reply = decide(pairs, tools)
        if not reply.calls:
            return ChatMessage(role=MessageRole.ASSISTANT, content=reply.text)
        blocks = [
            ToolCallBlock(tool_call_id=f"call-{len(messages)}-{i}", tool_name=n, tool_kwargs=a)
            for i, (n, a) in enumerate(reply.calls)
        ]
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)  # type: ignore[arg-type]

    return MockFunctionCallingLLM(response_generator=respond, is_chat_model=True)
