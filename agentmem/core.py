"""``AgentMem``: the one object that holds settings and the four backend clients.

Adapters (LangChain, LangGraph, LlamaIndex) share one ``AgentMem`` or build their own. Ownership is
explicit: clients that ``AgentMem`` created it closes; clients handed to it are borrowed and never
closed. Constructors do no I/O; a client is created (and, for the local default, its server
started) on first use.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from types import TracebackType
from typing import Any

import redis
import redis.asyncio as aredis
from weaviate.client import WeaviateAsyncClient, WeaviateClient

from agentmem import _connections
from agentmem._translate import translate_errors
from agentmem.config import AgentMemSettings
from agentmem.errors import BackendUnavailable, ClosedError

__all__ = ["AgentMem"]

_NOT_READY = (
    "Weaviate did not report ready: it is starting, overloaded, or did not answer within the "
    "timeout (AGENTMEM_TIMEOUT)"
)


class AgentMem:
    """Settings plus lazily created sync and async Redis and Weaviate clients.

    Args:
        settings: all settings; ``None`` reads them from ``AGENTMEM_*`` environment variables.
            A Redis or Weaviate URL that is not set means the local default server, started on
            first use (see ``agentmem up``) unless ``settings.local.autostart`` is false.
        redis: a sync Redis client to borrow instead of creating one.
        async_redis: an asyncio Redis client to borrow.
        weaviate_client: a connected sync Weaviate client to borrow.
        async_weaviate_client: a connected async Weaviate client to borrow.

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
        self._clients: dict[str, Any] = {
            "redis": redis,
            "async_redis": async_redis,
            "weaviate": weaviate_client,
            "async_weaviate": async_weaviate_client,
        }
        self._owned: set[str] = set()
        self._started: set[str] = set()
        self._lock = threading.Lock()
        self._alock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"AgentMem(settings={self._settings!r}, owned={sorted(self._owned)!r})"

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
        """The sync Redis client (created, and the local server started, on first use)."""
        with self._lock:
            self._check_open()
            if self._clients["redis"] is None:
                self._ensure_local("redis")
                self._own("redis", _connections.redis_client(self._settings.redis))
            return self._clients["redis"]  # type: ignore[no-any-return]

    async def aredis(self) -> aredis.Redis:
        """The asyncio Redis client (created, and the local server started, on first use)."""
        async with self._alock:
            self._check_open()
            if self._clients["async_redis"] is None:
                await self._aensure_local("redis")
                client = _connections.async_redis_client(self._settings.redis)
                if self._settings.redis.cluster:
                    # redis-py's async cluster client initializes lazily, and many concurrent
                    # first commands race in that step (seen with redis-py 8.1: 'NoneType' has
                    # no attribute 'writelines'); initializing here, under our lock, avoids it.
                    with translate_errors("redis.cluster.initialize"):
                        await client.initialize()
                self._own("async_redis", client)
            return self._clients["async_redis"]  # type: ignore[no-any-return]

    def weaviate(self) -> WeaviateClient:
        """The connected sync Weaviate client (connected on first use)."""
        with self._lock:
            self._check_open()
            if self._clients["weaviate"] is None:
                self._ensure_local("weaviate")
                client = _connections.weaviate_client(self._settings.weaviate)
                with translate_errors("weaviate.connect"):
                    client.connect()
                self._own("weaviate", client)
            return self._clients["weaviate"]  # type: ignore[no-any-return]

    async def aweaviate(self) -> WeaviateAsyncClient:
        """The connected async Weaviate client (connected on first use)."""
        async with self._alock:
            self._check_open()
            if self._clients["async_weaviate"] is None:
                await self._aensure_local("weaviate")
                client = _connections.async_weaviate_client(self._settings.weaviate)
                with translate_errors("weaviate.connect"):
                    await client.connect()
                self._own("async_weaviate", client)
            return self._clients["async_weaviate"]  # type: ignore[no-any-return]

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

        Async clients can only be closed with :meth:`aclose`.
        """
        with self._lock:
            self._closed = True
            for name in ("redis", "weaviate"):
                if name in self._owned:
                    self._owned.discard(name)
                    self._clients[name].close()
                self._clients[name] = None

    async def aclose(self) -> None:
        """Close every client this object created, async and sync. Idempotent."""
        async with self._alock:
            for name in ("async_redis", "async_weaviate"):
                if name in self._owned:
                    self._owned.discard(name)
                    client = self._clients[name]
                    await (client.aclose() if name == "async_redis" else client.close())
                self._clients[name] = None
        self.close()

    def __enter__(self) -> AgentMem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> AgentMem:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- internals -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this AgentMem was closed; create a new one")

    def _own(self, name: str, client: Any) -> None:
        self._clients[name] = client
        self._owned.add(name)

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
