"""langchain_agentmem: agentmem adapters."""

from __future__ import annotations

from langchain_agentmem.chat_message_history import AgentMemChatMessageHistory
from langchain_agentmem.checkpoint import AgentMemCheckpointSaver
from langchain_agentmem.memory import AgentMemMemoryMiddleware, ChatModelExtractor, memory_tools
from langchain_agentmem.store import AgentMemStore
from langchain_agentmem.vectorstores import AgentMemVectorStore

__all__ = [
    "AgentMemChatMessageHistory",
    "AgentMemCheckpointSaver",
    "AgentMemMemoryMiddleware",
    "AgentMemStore",
    "AgentMemVectorStore",
    "ChatModelExtractor",
    "memory_tools",
]
