"""llamaindex_agentmem: agentmem adapters."""

from __future__ import annotations

from llamaindex_agentmem.chat_store import AgentMemChatStore, AgentMemDBChatStore

__all__ = ["AgentMemChatStore", "AgentMemDBChatStore"]
