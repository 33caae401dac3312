"""The official LangGraph checkpointer conformance suite, run against real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import ProgressCallbacks

from agentmem import AgentMem, AgentMemSettings
from langchain_agentmem import AgentMemCheckpointSaver


@pytest.fixture
def registered(redis_settings: AgentMemSettings) -> object:
    @checkpointer_test(name="AgentMemCheckpointSaver")
    async def agentmem_saver() -> AsyncIterator[AgentMemCheckpointSaver]:
        async with AgentMem(redis_settings) as memory:
            yield AgentMemCheckpointSaver(memory)

    return agentmem_saver


async def test_conformance_suite_passes_every_base_and_extended_capability(
    registered: object, mem: AgentMem
) -> None:
    report = await validate(registered, progress=ProgressCallbacks.verbose())  # type: ignore[arg-type]
    report.print_report()
    assert report.passed_all_base()
    assert report.passed_all(), report.results
