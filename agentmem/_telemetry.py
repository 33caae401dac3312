"""OpenTelemetry traces and metrics, opt-in (``pip install agentmem[otel]``).

When ``opentelemetry-api`` is importable, every backend call the plan drivers make is one span
(per attempt: a retried call is several spans) and one measurement, after OpenTelemetry's database
semantic conventions:

- span ``<label>`` (the call's label, e.g. ``session.append``), kind CLIENT, with
  ``db.system.name`` (``redis`` or ``weaviate``), ``db.operation.name`` (the label),
  ``server.address`` and ``server.port`` (of the configured URL), and ``error.type`` (the
  agentmem error's class name) with status ERROR when the call failed;
- histogram ``db.client.operation.duration`` (seconds), same attributes;
- counter ``agentmem.errors``, backend calls that failed, same attributes;
- gauge ``agentmem.consolidation.queue.depth``: batches queued for consolidation, recorded by the
  worker (:class:`agentmem.Consolidator`) on each pass.

No user id, session id, message, memory text or error message is put in any attribute, and
exceptions are not recorded as span events (their messages may name a user's ids). While no SDK
is configured (the API's proxy or no-op providers are in place), a call skips the instrumentation
(``make bench`` measures the cost); a program that sets its providers after agentmem's first calls
is traced from the next look, within a second. ``AGENTMEM_OTEL=0`` turns it off entirely, as
does not installing the API.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from agentmem._envparse import EnvReader

__all__ = [
    "NO_SERVER",
    "Server",
    "attempt",
    "enabled",
    "record_queue_depth",
    "recording",
    "server_of",
]

try:
    if not EnvReader(os.environ).boolean("AGENTMEM_OTEL", True):
        raise ImportError("turned off by AGENTMEM_OTEL")
    from opentelemetry import context as _context
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
except ImportError:
    _trace = None  # type: ignore[assignment]

enabled = _trace is not None
"""True when spans and metrics are made (the API is installed and AGENTMEM_OTEL is not 0)."""

if enabled:
    # The providers in place while no SDK is configured: the API's proxies (and its no-op
    # classes, should a program set those). A call then skips the instrumentation entirely.
    _UNSET_TRACING: tuple[type, ...] = (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider)
    _UNSET_METRICS: tuple[type, ...] = (_metrics.NoOpMeterProvider,)
    try:  # the API names its meter proxy privately
        from opentelemetry.metrics._internal import _ProxyMeterProvider

        _UNSET_METRICS += (_ProxyMeterProvider,)
    except ImportError:  # pragma: no cover - another API release: always instrument
        pass


_LOOK_EVERY = 1.0  # seconds between looks for providers while none is set
_seen_configured = False
_next_look = 0.0


def recording() -> bool:
    """Whether spans and measurements are made now: the API is there, not turned off, and a
    program has set a provider. Work done only to be recorded (a queue's depth) asks this first."""
    return enabled and _configured()


def _configured() -> bool:
    """Whether a program has set a tracer or meter provider (an SDK) that records anything.

    Looking costs a few microseconds (the API reads the environment each time), so while no
    provider is set it looks again at most once a second; a provider can be set only once per
    process, so once one is seen the answer stays yes.
    """
    global _seen_configured, _next_look
    if _seen_configured:
        return True
    now = time.monotonic()
    if now < _next_look:
        return False
    _next_look = now + _LOOK_EVERY
    _seen_configured = not (
        isinstance(_trace.get_tracer_provider(), _UNSET_TRACING)
        and isinstance(_metrics.get_meter_provider(), _UNSET_METRICS)
    )
    return _seen_configured


_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)  # the semconv advice


@dataclass(frozen=True, slots=True)
class Server:
    """The server a driver talks to, as span and metric attributes (built once per client)."""

    attributes: Mapping[str, Any] = field(default_factory=dict)


NO_SERVER = Server()


def server_of(system: str, url: str | None) -> Server:
    """The :class:`Server` of ``system`` (``redis`` or ``weaviate``) at ``url`` (no address when
    ``url`` is None, e.g. a borrowed client). Credentials in the URL are never kept."""
    attributes: dict[str, Any] = {"db.system.name": system}
    if url:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None:
            port = {"redis": 6379, "rediss": 6379, "http": 80, "https": 443}.get(parts.scheme)
        if parts.hostname:
            attributes["server.address"] = parts.hostname
        if port is not None:
            attributes["server.port"] = port
    return Server(attributes)


class _Instruments:
    """The tracer and instruments, made on first use (the API's proxies follow a provider set
    later, so a program may configure its SDK after importing agentmem)."""

    def __init__(self) -> None:
        from agentmem import __version__  # agentmem imports this module while it initializes

        self.tracer = _trace.get_tracer("agentmem", __version__)
        meter = _metrics.get_meter("agentmem", __version__)
        self.duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of agentmem's database client operations.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        self.errors = meter.create_counter(
            "agentmem.errors",
            unit="{error}",
            description="Backend calls of agentmem that failed, by error type.",
        )
        self.queue_depth = meter.create_gauge(
            "agentmem.consolidation.queue.depth",
            unit="{batch}",
            description="Batches waiting for consolidation into facts, seen by a worker's pass.",
        )


_instruments: _Instruments | None = None


def _get() -> _Instruments:
    global _instruments
    if _instruments is None:
        _instruments = _Instruments()
    return _instruments


class _Attempt:
    """One attempt at a backend call: a CLIENT span made current, timed for the histogram."""

    __slots__ = ("_attributes", "_span", "_start", "_token")

    def __init__(self, label: str, where: Server) -> None:
        self._attributes = {**where.attributes, "db.operation.name": label}

    def __enter__(self) -> None:
        tools = _get()
        name = self._attributes["db.operation.name"]
        self._span = tools.tracer.start_span(
            name, kind=_trace.SpanKind.CLIENT, attributes=self._attributes
        )
        self._token = _context.attach(_trace.set_span_in_context(self._span))
        self._start = time.perf_counter()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._start
        tools = _get()
        attributes = self._attributes
        try:
            if kind is not None:
                attributes["error.type"] = kind.__qualname__
                self._span.set_attribute("error.type", kind.__qualname__)
                self._span.set_status(_trace.StatusCode.ERROR)
                tools.errors.add(1, attributes)
            tools.duration.record(elapsed, attributes)
        finally:
            self._span.end()
            _context.detach(self._token)


_OFF: AbstractContextManager[None] = nullcontext()


def attempt(label: str, where: Server) -> AbstractContextManager[None]:
    """A context manager around one attempt at the call ``label`` against ``where``."""
    if where is NO_SERVER or not recording():
        return _OFF
    return _Attempt(label, where)


def record_queue_depth(batches: int, where: Server) -> None:
    """Record the consolidation queue's depth, as a worker saw it."""
    if where is not NO_SERVER and recording():
        _get().queue_depth.set(batches, dict(where.attributes))
