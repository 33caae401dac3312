"""OpenTelemetry: one CLIENT span and one duration measurement per backend call, after the
database semantic conventions, with no user data in any attribute; an error counter; the
consolidation queue's depth; nothing at all with AGENTMEM_OTEL=0 or without the API installed.

The SDK's in-memory exporter and metric reader record what the real servers were asked to do.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentmem import (
    AgentMem,
    AgentMemSettings,
    BackendUnavailable,
    Consolidator,
    LongTermMemory,
    MemoryRecord,
    RedisSettings,
    RetrySettings,
    SessionStore,
    _telemetry,
)
from agentmem.testing.embedding import HashingEmbedder
from tests.support import RedisServer, WeaviateServer, said

# What agentmem may put in an attribute: the semantic conventions' names, nothing else.
ALLOWED = {"db.system.name", "db.operation.name", "server.address", "server.port", "error.type"}


@dataclass
class Recorded:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        """The data points of the metric ``name`` collected now."""
        data = self.metrics.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


_PROVIDERS: Recorded | None = None


@pytest.fixture
def otel() -> Iterator[Recorded]:
    """The SDK, set once for the process (OpenTelemetry allows one provider), emptied per test."""
    global _PROVIDERS
    if _PROVIDERS is None:
        exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        _PROVIDERS = Recorded(exporter, reader)
        _telemetry._next_look = 0.0  # earlier tests' calls looked less than a second ago
    _PROVIDERS.spans.clear()
    yield _PROVIDERS  # metrics accumulate: each test filters by its server port or operation


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _no_user_data(spans: list[ReadableSpan], *secrets: str) -> None:
    for span in spans:
        attributes = dict(span.attributes or {})
        assert set(attributes) <= ALLOWED, span.name
        assert not span.events, "exceptions are not recorded: their messages may name users"
        text = json.dumps(attributes) + span.name + (span.status.description or "")
        for secret in secrets:
            assert secret not in text, (secret, span.name)


def test_each_redis_call_is_a_client_span_with_db_attributes(
    otel: Recorded, mem: AgentMem, redis_server: RedisServer
) -> None:
    store = SessionStore(mem, user_id="ada-secret-user")
    store.append("session-secret", [{"role": "user", "content": "my pin is 4711"}])
    assert store.read("session-secret")[0].data["content"] == "my pin is 4711"

    spans = [s for s in otel.finished() if s.attributes and s.attributes["db.system.name"]]
    names = [s.name for s in spans]
    assert "session.append" in names and "session.read" in names, names
    host, port = _address(redis_server.url)
    for span in spans:
        assert span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.UNSET
        assert span.attributes is not None
        assert span.attributes["db.system.name"] == "redis"
        assert span.attributes["db.operation.name"] == span.name
        assert span.attributes["server.address"] == host
        if not mem.settings.redis.cluster:  # a cluster's seed port is one of its nodes
            assert span.attributes["server.port"] == port
        assert "error.type" not in span.attributes
    _no_user_data(spans, "ada-secret-user", "session-secret", "4711")

    durations = [
        p for p in otel.points("db.client.operation.duration")
        if p.attributes.get("db.operation.name") == "session.append"
    ]  # fmt: skip
    assert durations and sum(p.count for p in durations) >= 1
    assert all(set(p.attributes) <= ALLOWED for p in durations)


@pytest.mark.weaviate
def test_weaviate_calls_are_spans_too(
    otel: Recorded, full_mem: AgentMem, weaviate_server: WeaviateServer, unique_collection: str
) -> None:
    memory = LongTermMemory(
        full_mem, tenant="ada-secret-user", collection=unique_collection, embedder=HashingEmbedder()
    )
    try:
        memory.add([MemoryRecord("ada likes secret gardens", id="m-secret")])
        assert [h.record.id for h in memory.search("gardens", k=1)] == ["m-secret"]
    finally:
        memory.drop_collection()
    spans = [s for s in otel.finished() if (s.attributes or {}).get("db.system.name") == "weaviate"]
    names = {s.name for s in spans}
    assert "longterm.add" in names and any(n.startswith("longterm.search") for n in names), names
    host, port = _address(weaviate_server.url)
    assert all(s.attributes and s.attributes["server.address"] == host for s in spans)
    assert all(s.attributes and s.attributes["server.port"] == port for s in spans)
    _no_user_data(spans, "ada-secret-user", "secret gardens", "m-secret")


def test_a_failed_call_is_an_error_span_per_attempt_and_counted(
    otel: Recorded, redis_settings: AgentMemSettings
) -> None:
    dead = AgentMemSettings(
        redis=RedisSettings(url="redis://127.0.0.1:1/0", timeout=0.5),
        weaviate=redis_settings.weaviate,
        local=redis_settings.local,
        retry=RetrySettings(attempts=3, base_delay=0.0, max_delay=0.0),
        key_prefix=redis_settings.key_prefix,
    )
    with AgentMem(dead) as mem, pytest.raises(BackendUnavailable):
        SessionStore(mem, user_id="u").read("s")
    spans = [s for s in otel.finished() if (s.attributes or {}).get("server.port") == 1]
    assert [s.name for s in spans] == ["session.read"] * 3  # a span per attempt
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes and span.attributes["error.type"] == "BackendUnavailable"
    errors = [p for p in otel.points("agentmem.errors") if p.attributes.get("server.port") == 1]
    assert [p.value for p in errors] == [3]
    assert errors[0].attributes["db.operation.name"] == "session.read"
    failed = [
        p for p in otel.points("db.client.operation.duration")
        if p.attributes.get("server.port") == 1
    ]  # fmt: skip
    assert sum(p.count for p in failed) == 3


def test_async_calls_nest_under_the_callers_span_in_a_fresh_loop(
    otel: Recorded, redis_settings: AgentMemSettings
) -> None:
    tracer = trace.get_tracer("the-app")

    async def main() -> None:
        async with AgentMem(redis_settings) as mem:
            with tracer.start_as_current_span("handle-request"):
                store = SessionStore(mem, user_id="u")
                await store.aappend("s", [{"role": "user", "content": "hi"}])
                await store.aread("s")

    asyncio.run(main())
    asyncio.run(main())  # a second loop: its own clients, the same spans
    spans = otel.finished()
    parents = [s for s in spans if s.name == "handle-request"]
    assert len(parents) == 2
    for parent in parents:
        children = [s for s in spans if s.parent and s.parent.span_id == parent.context.span_id]
        assert {"session.append", "session.read"} <= {s.name for s in children}
        assert all(s.context.trace_id == parent.context.trace_id for s in children)


@pytest.mark.weaviate
def test_the_worker_records_the_queue_depth(otel: Recorded, consolidator: Consolidator) -> None:
    for n in range(3):
        consolidator.enqueue("ada", said(f"My favourite drink is tea number {n}"))
    for n in range(2):
        consolidator.enqueue("bob", said(f"My favourite drink is coffee number {n}"))

    def depth() -> list[int]:
        return [p.value for p in otel.points("agentmem.consolidation.queue.depth")]

    consolidator.run_pending(max_batches=0)  # looks, consolidates nothing
    assert depth() == [5]
    consolidator.run_pending()
    assert consolidator.pending("ada") == consolidator.pending("bob") == 0
    assert depth() == [5]  # the gauge holds what the pass saw at its start
    consolidator.run_pending()
    assert depth() == [0]


def _child(code: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_agentmem_otel_0_turns_it_off() -> None:
    code = "from agentmem import _telemetry as t; print(t.enabled)"
    assert _child(code, {**os.environ, "AGENTMEM_OTEL": "0"}) == "False"
    assert _child(code, {**os.environ, "AGENTMEM_OTEL": "off"}) == "False"
    assert _child(code, {**os.environ, "AGENTMEM_OTEL": "1"}) == "True"
    bad = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, timeout=120, env={**os.environ, "AGENTMEM_OTEL": "maybe"},
    )  # fmt: skip
    assert bad.returncode != 0
    assert "ConfigurationError" in bad.stderr and "AGENTMEM_OTEL" in bad.stderr


def test_without_the_api_installed_agentmem_works(redis_server: RedisServer) -> None:
    code = f"""
import sys
class NoOtel:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, NoOtel())
from agentmem import AgentMem, AgentMemSettings, LocalSettings, RedisSettings, SessionStore
from agentmem import _telemetry
settings = AgentMemSettings(redis=RedisSettings(url={redis_server.url!r}),
                            local=LocalSettings(autostart=False), key_prefix="nootel")
with AgentMem(settings) as mem:
    store = SessionStore(mem, user_id="u")
    store.append("s", [{{"role": "user", "content": "hi"}}])
    print(_telemetry.enabled, store.read("s")[0].data["content"], "opentelemetry" in sys.modules)
    store.clear("s")
"""
    assert _child(code) == "False hi False"


def test_providers_set_after_the_first_calls_are_used_from_the_next_look(
    redis_server: RedisServer,
) -> None:
    code = f"""
import time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from agentmem import AgentMem, AgentMemSettings, LocalSettings, RedisSettings, SessionStore
settings = AgentMemSettings(redis=RedisSettings(url={redis_server.url!r}),
                            local=LocalSettings(autostart=False), key_prefix="lateotel")
with AgentMem(settings) as mem:
    store = SessionStore(mem, user_id="u")
    store.count("s")  # looks for providers: none yet
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    time.sleep(1.1)  # the documented bound: the next look is at most a second later
    store.count("s")
    print(sorted(s.name for s in exporter.get_finished_spans()))
"""
    assert _child(code) == "['session.count']"
