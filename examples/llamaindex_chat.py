"""A LlamaIndex agent whose conversation lives in Redis, read back by a brand-new Memory and agent.

LlamaIndex's `Memory` keeps its chat queue in AgentMemDBChatStore: a session of one user in Redis.
Two turns are chatted with one agent; then a new Memory object and a new agent (as a restarted
process would build them) read the same session back from Redis and answer from it.

Run it with `.venv/bin/python examples/llamaindex_chat.py` (zero-config local servers, or the
AGENTMEM_* environment variables). Set OPENAI_API_KEY to use a real model instead of the script.
"""

from __future__ import annotations

import asyncio
import uuid
import warnings

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.memory import Memory
from models import llamaindex_llm

from agentmem import AgentMem, aforget_user
from llamaindex_agentmem import AgentMemDBChatStore

# Building a FunctionAgent inspects it, touching deprecated pydantic attributes: keep stderr quiet.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="inspect")


def session(mem: AgentMem, user_id: str, session_id: str) -> tuple[FunctionAgent, Memory]:
    """What every process builds: an agent, and a Memory on the user's session in Redis."""
    store = AgentMemDBChatStore(mem, user_id=user_id)
    memory = Memory.from_defaults(session_id=session_id, chat_store=store)
    return FunctionAgent(llm=llamaindex_llm(), tools=[]), memory


async def main() -> None:
    run = uuid.uuid4().hex[:6]
    user_id, session_id = f"ada-{run}", f"chat-{run}"
    async with AgentMem() as mem:
        agent, memory = session(mem, user_id, session_id)
        for text in ["Hi, I'm Ada.", "Remember that my locker code is 4711."]:
            print(f"user: {text}\nagent: {await agent.run(text, memory=memory)}")

        # Later, in another process: a brand-new Memory and agent on the same session id.
        agent, memory = session(mem, user_id, session_id)
        history = await memory.aget_all()
        print(f"new Memory read {len(history)} messages from Redis, first {history[0].content!r}")
        question = "What did I ask you to remember?"
        print(f"user: {question}\nagent: {await agent.run(question, memory=memory)}")

        await aforget_user(user_id, memory=mem, longterm=False)  # Redis only: their chats


if __name__ == "__main__":
    asyncio.run(main())
