"""LangChain's standard VectorStore suite (sync and async variants) on real Weaviate."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from agentmem import AgentMem, AgentMemSettings
from langchain_agentmem import AgentMemVectorStore


class TestAgentMemVectorStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    async def vectorstore(  # type: ignore[override]
        self, full_settings: AgentMemSettings, unique_collection: str
    ) -> AsyncIterator[VectorStore]:
        # Async fixture so the async Weaviate client is closed on the loop that opened it.
        memory = AgentMem(full_settings)
        store = AgentMemVectorStore(
            memory,
            embedding=self.get_embeddings(),
            tenant="standard",
            collection=unique_collection,
        )
        try:
            yield store
        finally:
            store.memory.drop_collection()
            await memory.aclose()
