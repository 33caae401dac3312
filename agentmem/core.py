"""``AgentMem``: the one object that holds settings and the backend clients.

Adapters (LangChain, LangGraph, LlamaIndex) share one ``AgentMem`` or build their own. Ownership is
explicit: clients that ``AgentMem`` created it closes; clients handed to it are borrowed and never
closed. Constructors do no I/O; a client is created (and, for the local default, its server
started) on first use.

Where the clients live, and why:

- **Sync clients** belong to the process. After ``os.fork()`` (gunicorn, Celery prefork,
  multiprocessing) the child never touches the parent's sockets: it notices the new pid and
  builds its own clients (the parent's are dropped, not closed, so the parent keeps them).
- **Async clients** belong to the event loop that made them (redis-py's asyncio connections,
  httpx's ``AsyncClient`` and gRPC's aio channels all do). Each running loop gets its own
  clients; a loop that has closed never gets its old clients back. So a second ``asyncio.run``
  in a script, a notebook cell, a Celery task or LlamaIndex's own temporary loop just works.
- **Connections are bounded and waited for**: at most ``RedisSettings.max_connections`` Redis
  connections per pool; a caller beyond that waits for a free one (up to the timeout) instead
  of failing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

import redis
import redis.asyncio as aredis
from weaviate.client import WeaviateAsyncClient, WeaviateClient

from agentmem import _connections
from agentmem._lifecycle import Lifecycle
from agentmem._plan import Plan, run_async, run_sync
from agentmem._telemetry import Server, server_of
from agentmem._translate import translate_errors
from agentmem.config import AgentMemSettings
from agentmem.errors import BackendTimeout, BackendUnavailable, ClosedError

__all__ = ["AgentMem"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Backend = Literal["redis", "weaviate"]

_NOT_READY = (
    "Weaviate did not report ready: it is starting, overloaded, or did not answer within the "
    "timeout (AGENTMEM_TIMEOUT)"
)


class _LoopClients:
    """The async clients of one event loop (created inside it, used only from it)."""

    __slots__ = ("closer", "gate", "lock", "redis", "weaviate")

    def __init__(self, permits: int | None) -> None:
        self.lock = asyncio.Lock()
        self.redis: Any = None
        self.weaviate: Any = None
        self.closer: AsyncGenerator[None, None] | None = None
        # Only for the async Redis Cluster client, whose per-node pools raise instead of waiting.
        self.gate = asyncio.Semaphore(permits) if permits else None

    async def start_closer(self) -> None:
        """Close these clients when their loop shuts down.

        ``asyncio.run`` (and every ``asyncio.Runner``) ends by closing the async generators
        started in its loop (``loop.shutdown_asyncgens``), while the loop still runs: the one
        moment a loop's clients can still be closed properly. A suspended generator holding
        them open is that hook. A loop closed without it leaves them to the garbage collector.
        """
        if self.closer is None:
            self.closer = self._close_at_loop_end()
            await self.closer.__anext__()

    async def _close_at_loop_end(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            redis_client, self.redis = self.redis, None
            weaviate_client, self.weaviate = self.weaviate, None
            if redis_client is not None:
                await redis_client.aclose()
            if weaviate_client is not None:
                await weaviate_client.close()

    async def aclose(self) -> None:
        if self.closer is not None:
            await self.closer.aclose()


class AgentMem(Lifecycle):
    """Settings plus lazily created Redis and Weaviate clients: sync ones per process, async
    ones per event loop.

    Args:
        settings: all settings; ``None`` reads them from ``AGENTMEM_*`` environment variables.
            A Redis or Weaviate URL that is not set means the local default server, started on
            first use (see ``agentmem up``) unless ``settings.local.autostart`` is false.
        redis: a sync Redis client to borrow instead of creating one.
        async_redis: an asyncio Redis client to borrow. It belongs to the event loop it was
            made in; use it only from that loop.
        weaviate_client: a connected sync Weaviate client to borrow.
        async_weaviate_client: a connected async Weaviate client to borrow (same loop rule).

    Example:
        >>> with AgentMem() as mem:        # local default, or AGENTMEM_*_URL
        ...     mem.ping()
    """

    def __init__(
        self,
        settings: AgentMemSettings | None = None,
        *,
        redis: redis.Redis | None = None,
        async_redis: aredis.Redis | None = None,
        weaviate_client: WeaviateClient | None = None,
        async_weaviate_client: WeaviateAsyncClient | None = None,
    ) -> None:
        given = settings if settings is not None else AgentMemSettings.from_env()
        self._local = {
            "redis": given.redis.url is None and redis is None,
            "weaviate": given.weaviate.url is None and weaviate_client is None,
        }
        self._settings = given.with_local_urls()
        self._borrowed: dict[str, Any] = {
            "redis": redis,
            "async_redis": async_redis,
            "weaviate": weaviate_client,
            "async_weaviate": async_weaviate_client,
        }
        borrow = {
            "redis": redis is not None or async_redis is not None,
            "weaviate": weaviate_client is not None or async_weaviate_client is not None,
        }
        # The servers' addresses for traces and metrics (none for a borrowed client).
        self._servers: dict[str, Server] = {
            "redis": server_of("redis", None if borrow["redis"] else self._settings.redis.url),
            "weaviate": server_of(
                "weaviate", None if borrow["weaviate"] else self._settings.weaviate.url
            ),
        }
        self._started: set[str] = set()
        self._closed = False
        self._pid = os.getpid()
        self._sync: dict[str, Any] = {}  # this process's sync clients
        self._loops: dict[asyncio.AbstractEventLoop, _LoopClients] = {}
        self._reset()
        _INSTANCES.add(self)

    def _reset(self) -> None:
        """Forget every client this object made (at construction, and in a forked child)."""
        self._lock = threading.Lock()
        self._reset_locked()

    def __repr__(self) -> str:
        return f"AgentMem(settings={self._settings!r}, owned={sorted(self._sync)!r})"

    @property
    def settings(self) -> AgentMemSettings:
        """The settings in force, with the local default's URLs filled in."""
        return self._settings

    @property
    def key_prefix(self) -> str:
        """Prefix of every Redis key written through this object."""
        return self._settings.key_prefix

    # -- clients ---------------------------------------------------------------------------------

    def redis(self) -> redis.Redis:
        """This process's sync Redis client (created, and the local server started, on first use)."""
        return self._sync_client("redis")  # type: ignore[no-any-return]

    def weaviate(self) -> WeaviateClient:
        """This process's connected sync Weaviate client (connected on first use)."""
        return self._sync_client("weaviate")  # type: ignore[no-any-return]

    async def aredis(self) -> aredis.Redis:
        """The running event loop's asyncio Redis client (created on first use in that loop)."""
        return await self._async_client("redis")  # type: ignore[no-any-return]

    async def aweaviate(self) -> WeaviateAsyncClient:
        """The running event loop's connected async Weaviate client (created on first use)."""
        return await self._async_client("weaviate")  # type: ignore[no-any-return]

    def run(self, plan: Plan[T], backend: Backend) -> T:
        """Run ``plan`` on the sync client of ``backend`` with the configured retries."""
        client = self._sync_client(backend)
        return run_sync(plan, client, self._settings.retry, self._servers[backend])

    async def arun(self, plan: Plan[T], backend: Backend) -> T:
        """Run ``plan`` on the running loop's async client of ``backend``."""
        client = await self._async_client(backend)
        retry, where = self._settings.retry, self._servers[backend]
        if backend != "redis" or not self._settings.redis.cluster:
            return await run_async(plan, client, retry, where)
        async with self._gate():
            return await run_async(plan, client, retry, where)

    def _server(self, backend: Backend) -> Server:
        """The server of ``backend`` as trace and metric attributes (agentmem._telemetry)."""
        return self._servers[backend]

    def ping(self, *, redis: bool = True, weaviate: bool = True) -> None:
        """Check that the backends answer.

        Raises:
            AuthenticationFailed: a server wants credentials that were not given.
            BackendUnavailable: a server could not be reached.
        """
        if redis:
            with translate_errors("redis.ping"):
                self.redis().ping()
        if weaviate:
            with translate_errors("weaviate.ping"):
                ready = self.weaviate().is_ready()
            if not ready:
                raise BackendUnavailable(_NOT_READY, backend="weaviate")

    async def aping(self, *, redis: bool = True, weaviate: bool = True) -> None:
        """Async twin of :meth:`ping`."""
        if redis:
            client = await self.aredis()
            with translate_errors("redis.ping"):
                await client.ping()
        if weaviate:
            wclient = await self.aweaviate()
            with translate_errors("weaviate.ping"):
                ready = await wclient.is_ready()
            if not ready:
                raise BackendUnavailable(_NOT_READY, backend="weaviate")

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync clients this object created (borrowed ones stay open). Idempotent.

        Async clients can only be closed from their own loop, with :meth:`aclose`; those of
        loops that have already closed are released here.
        """
        with self._lock:
            self._closed = True
            clients, self._sync = self._sync, {}
            self._drop_closed_loops()
        if self._pid == os.getpid():
            for client in clients.values():
                client.close()

    async def aclose(self) -> None:
        """Close the running loop's async clients and the sync clients. Idempotent."""
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._loops.pop(loop, None)
        if state is not None:
            await state.aclose()
        self.close()

    # -- internals -------------------------------------------------------------------------------

    def _check(self) -> None:
        """Refuse a closed object; in a forked child, start afresh (called under the lock)."""
        if self._closed:
            raise ClosedError("this AgentMem was closed; create a new one")
        if self._pid != os.getpid():  # a fork the at-fork hook missed (e.g. os.fork from C)
            self._reset_locked()

    def _reset_locked(self) -> None:
        if self._pid != os.getpid():
            _release_inherited(list(self._sync.values()))
        self._pid = os.getpid()
        self._sync = {}
        self._loops = {}

    def _sync_client(self, backend: Backend) -> Any:
        borrowed = self._borrowed[backend]
        with self._lock:
            self._check()
            if borrowed is not None:
                return borrowed
            client = self._sync.get(backend)
            if client is None:
                self._ensure_local(backend)
                client = self._new_sync(backend)
                self._sync[backend] = client
            return client

    def _new_sync(self, backend: Backend) -> Any:
        if backend == "redis":
            return _connections.redis_client(self._settings.redis)
        client = _connections.weaviate_client(self._settings.weaviate)
        with translate_errors("weaviate.connect"):
            client.connect()
        return client

    def _loop_state(self) -> _LoopClients:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._check()
            state = self._loops.get(loop)
            if state is None:
                self._drop_closed_loops()
                redis_settings = self._settings.redis
                permits = redis_settings.max_connections if redis_settings.cluster else None
                state = self._loops[loop] = _LoopClients(permits)
            return state

    async def _async_client(self, backend: Backend) -> Any:
        borrowed = self._borrowed[f"async_{backend}"]
        if borrowed is not None:
            with self._lock:
                self._check()
            return borrowed
        state = self._loop_state()
        client = getattr(state, backend)
        if client is not None:
            return client
        async with state.lock:
            client = getattr(state, backend)
            if client is None:
                await self._aensure_local(backend)
                client = await self._new_async(backend)
                setattr(state, backend, client)
                await state.start_closer()
        return client

    async def _new_async(self, backend: Backend) -> Any:
        if backend == "redis":
            client = _connections.async_redis_client(self._settings.redis)
            if self._settings.redis.cluster:
                # redis-py's async cluster client initializes lazily, and many concurrent
                # first commands race in that step (seen with redis-py 8.1: 'NoneType' has
                # no attribute 'writelines'); initializing here, under the loop's lock, avoids it.
                with translate_errors("redis.cluster.initialize"):
                    await client.initialize()
            return client
        wclient = _connections.async_weaviate_client(self._settings.weaviate)
        with translate_errors("weaviate.connect"):
            await wclient.connect()
        return wclient

    @asynccontextmanager
    async def _gate(self) -> AsyncIterator[None]:
        """Wait for one of ``max_connections`` permits (async Redis Cluster only)."""
        gate = self._loop_state().gate
        assert gate is not None  # made for every loop when the settings name a cluster
        timeout = self._settings.redis.timeout
        try:
            await asyncio.wait_for(gate.acquire(), timeout)
        except asyncio.TimeoutError:
            raise BackendTimeout(_busy(self._settings.redis.max_connections, timeout),
                                 backend="redis") from None  # fmt: skip
        try:
            yield
        finally:
            gate.release()

    def _drop_closed_loops(self) -> None:
        # Their clients cannot be closed any more (closing needs the loop). Dropping them lets
        # the garbage collector release their sockets; they are never handed out again.
        for loop in [loop for loop in self._loops if loop.is_closed()]:
            del self._loops[loop]

    def _up_command(self, name: str) -> list[str] | None:
        """The ``agentmem up`` command for local server ``name``, or None if not needed."""
        local = self._settings.local
        if not self._local[name] or not local.autostart or name in self._started:
            return None
        return [
            sys.executable,
            "-m",
            "agentmem",
            "up",
            "--quiet",
            "--only",
            name,
            "--home",
            str(local.home),
            "--redis-port",
            str(local.redis_port),
            "--weaviate-port",
            str(local.weaviate_port),
            "--grpc-port",
            str(local.weaviate_grpc_port),
        ]

    def _ensure_local(self, name: str) -> None:
        # A separate process starts the server, so it is never this process's child: no zombie,
        # and the same file lock as the CLI guards against two processes starting it at once.
        command = self._up_command(name)
        if command is not None:
            result = subprocess.run(command, stdin=subprocess.DEVNULL, check=False)
            self._after_up(name, result.returncode)

    async def _aensure_local(self, name: str) -> None:
        command = self._up_command(name)
        if command is not None:
            process = await asyncio.create_subprocess_exec(*command, stdin=subprocess.DEVNULL)
            self._after_up(name, await process.wait())

    def _after_up(self, name: str, returncode: int) -> None:
        if returncode != 0:
            raise BackendUnavailable(
                f"could not start the local {name} server (see the message above); run "
                f"`agentmem up` to retry, or set AGENTMEM_{name.upper()}_URL to a server of yours",
                backend=name,
            )
        self._started.add(name)


def _busy(permits: int, timeout: float) -> str:
    return (
        f"all {permits} Redis connections of this AgentMem stayed busy for {timeout:g} s: Redis is "
        "up, but too many callers share one AgentMem; raise RedisSettings.max_connections "
        "(AGENTMEM_REDIS_MAX_CONNECTIONS) or AGENTMEM_TIMEOUT, or lower the concurrency"
    )


# Every AgentMem of the process, so a forked child can drop the parent's clients at once (even
# before its first call) and gets fresh locks: a lock held by another parent thread at fork time
# would otherwise stay held forever in the child.
_INSTANCES: weakref.WeakSet[AgentMem] = weakref.WeakSet()


def _release_inherited(clients: list[Any]) -> None:
    """Close, in a forked child, the copies of the parent's sync clients.

    Measured with grpcio 1.78: while the child holds the parent's gRPC channel, every *new*
    channel in the child fails its health check (30 s, then UNAVAILABLE); once the copy is
    closed, new channels work and the parent's own channel is unaffected. Closing a copied
    socket only drops the child's descriptor (redis-py skips ``shutdown`` in a child), so the
    parent keeps its connections. Best effort: a copy that cannot be closed is left as it is.
    """
    for client in clients:
        try:
            client.close()
        except Exception as exc:  # a half-inherited client may fail in any way
            logger.debug("could not close an inherited client after fork: %r", exc)


def _after_fork_in_child() -> None:
    for mem in list(_INSTANCES):
        mem._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
