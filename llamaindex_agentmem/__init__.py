"""llamaindex_agentmem: agentmem adapters."""

from __future__ import annotations

from llamaindex_agentmem.chat_store import AgentMemChatStore
from llamaindex_agentmem.db_chat_store import AgentMemDBChatStore
from llamaindex_agentmem.memory import AgentMemFactsBlock, LLMExtractor
from llamaindex_agentmem.vector_store import AgentMemVectorStore
from llamaindex_agentmem.workflows import AgentMemWorkflowCheckpointer, ResumedRun

__all__ = [
    "AgentMemChatStore",
    "AgentMemDBChatStore",
    "AgentMemFactsBlock",
    "AgentMemVectorStore",
    "AgentMemWorkflowCheckpointer",
    "LLMExtractor",
    "ResumedRun",
]
