"""The official LangGraph checkpointer conformance suite, run against real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import Capability
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
    # passed_all() only looks at detected capabilities: require all eight, with their tests run.
    assert sorted(report.results) == sorted(c.value for c in Capability)
    for name, result in report.results.items():
        assert result.detected, name
        assert result.passed is True, (name, result.failures)
        assert result.tests_passed > 0, name
        assert result.tests_failed == result.tests_skipped == 0, name
    assert report.conformance_level() == "FULL"
