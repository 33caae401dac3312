"""The zero-config local default: a Weaviate and a Redis that agentmem runs itself on loopback.

``agentmem up`` (or the first use of the library with no URLs configured) starts both servers as
detached processes whose data lives under one folder (``~/.agentmem`` by default), waits until both
answer, and leaves them running for later processes. ``agentmem down`` stops them; the data stays.

Robustness rules:

* ``up`` takes an exclusive ``flock`` on ``run/lock``; the kernel drops it when the process dies, so
  a killed ``up`` never blocks the next one.
* A pid file counts only while its process is alive *and* is the server it names; a stale pid file
  (after ``kill -9`` or a reboot) is ignored and replaced.
* A second ``up`` finds both servers answering and does nothing.

The Weaviate binary is found in this order (:func:`find_weaviate_binary`): ``AGENTMEM_WEAVIATE_BIN``;
``weaviate`` or ``weaviate-server`` on ``PATH``; agentmem's cache folder; built once with the Go
toolchain (``go install github.com/weaviate/weaviate/cmd/weaviate-server@v<pin>``) into the cache;
the official release binary, downloaded into the cache. Another version than the pin (say
:data:`OLDEST_WEAVIATE_VERSION`, which ``make test`` also runs) comes from the cache, Go or the
release only, so the binary found is that version.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentmem._progress import Progress
from agentmem.errors import BackendUnavailable, ConfigurationError, ServerBinaryNotFound

_log = logging.getLogger("agentmem")

__all__ = [
    "OLDEST_WEAVIATE_VERSION",
    "WEAVIATE_VERSION",
    "LocalRedisCluster",
    "LocalStack",
    "LocalWeaviateCluster",
    "ServerStatus",
    "WeaviatePorts",
    "cache_dir",
    "find_redis_binary",
    "find_weaviate_binary",
    "free_cluster_ports",
    "free_port",
]

# The newest Weaviate the Go module proxy serves here that builds with this toolchain (1.40.x is
# not published to the proxy). weaviate-client 4.x needs 1.27 or newer.
WEAVIATE_VERSION = "1.38.5"
OLDEST_WEAVIATE_VERSION = "1.35.2"
"""The oldest Weaviate agentmem supports: ``make test`` runs the long-term suites on it once more.
(weaviate-client 4.24 itself refuses servers before 1.27; nothing before 1.35.2 is tested.) Below
1.38.2 BM25 queries rank a wider window, and below ``DELETES_FIXED_IN`` (1.38.5) deletes write
tombstones and negated results are checked again in Python."""
_VERSION_OK = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}")
_WEAVIATE_MODULE = "github.com/weaviate/weaviate/cmd/weaviate-server"
_RELEASE_URL = (
    "https://github.com/weaviate/weaviate/releases/download/v{v}/weaviate-v{v}-linux-{arch}.tar.gz"
)


def cache_dir() -> Path:
    """agentmem's cache folder (``AGENTMEM_CACHE_DIR``, else ``$XDG_CACHE_HOME/agentmem``)."""
    explicit = os.environ.get("AGENTMEM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agentmem"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_redis_binary() -> Path:
    """Locate ``redis-server``: ``AGENTMEM_REDIS_BIN``, then ``PATH``, then Debian's location.

    Raises:
        ServerBinaryNotFound: with the install commands to run.
    """
    explicit = os.environ.get("AGENTMEM_REDIS_BIN")
    if explicit:
        if _executable(Path(explicit)):
            return Path(explicit)
        raise ServerBinaryNotFound(f"AGENTMEM_REDIS_BIN={explicit!r} is not an executable file")
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if _executable(Path("/usr/bin/redis-server")) else None
    )
    if found:
        return Path(found)
    raise ServerBinaryNotFound(
        "redis-server was not found. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`; "
        "macOS: `brew install redis`), set AGENTMEM_REDIS_BIN to its path, or point "
        "AGENTMEM_REDIS_URL at a Redis you run elsewhere (e.g. `docker compose up -d redis`)."
    )


def find_weaviate_binary(
    *, version: str = WEAVIATE_VERSION, build: bool = True, download: bool = True
) -> Path:
    """Locate (or build, or download) a Weaviate server binary: the pinned one by default.

    Args:
        version: which Weaviate (``"1.35.2"``). ``AGENTMEM_WEAVIATE_BIN`` and ``PATH`` are asked
            for the pin only; another version comes from the cache, Go or the release, each
            kept in a folder of its own, so the path returned is that version.
        build: allow building it with ``go install`` when Go is available.
        download: allow downloading the official release binary.

    Raises:
        ConfigurationError: ``version`` is not three dot-separated numbers.
        ServerBinaryNotFound: nothing worked; the message lists every option.
    """
    if not isinstance(version, str) or not _VERSION_OK.fullmatch(version):
        raise ConfigurationError(
            f"a Weaviate version is three numbers like {WEAVIATE_VERSION!r}, got {version!r}"
        )
    if version == WEAVIATE_VERSION:
        explicit = os.environ.get("AGENTMEM_WEAVIATE_BIN")
        if explicit:
            if _executable(Path(explicit)):
                return Path(explicit)
            raise ServerBinaryNotFound(
                f"AGENTMEM_WEAVIATE_BIN={explicit!r} is not an executable file"
            )
        for name in ("weaviate", "weaviate-server"):
            found = shutil.which(name)
            if found:
                return Path(found)
    target = cache_dir() / "weaviate" / f"v{version}" / "weaviate-server"
    if _executable(target):
        return target
    problems: list[str] = []
    if build:
        problem = _build_with_go(target, version)
        if problem is None:
            return target
        problems.append(problem)
    if download:
        problem = _download_release(target, version)
        if problem is None:
            return target
        problems.append(problem)
    raise ServerBinaryNotFound(
        f"No Weaviate {version} server binary is available ({'; '.join(problems) or 'not tried'}). "
        "Options: set AGENTMEM_WEAVIATE_BIN to a weaviate-server binary; put `weaviate` on PATH; "
        f"install Go and run `go install {_WEAVIATE_MODULE}@v{version}`; or run Weaviate "
        "in Docker (`docker compose up -d weaviate` with this project's compose.yaml) and set "
        "AGENTMEM_WEAVIATE_URL=http://localhost:8080."
    )


def _build_with_go(target: Path, version: str) -> str | None:
    go = shutil.which("go")
    if go is None:
        return "Go is not installed, so it could not be built"
    target.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress()
    progress.begin(
        f"building Weaviate {version} with Go into {target.parent} "
        "(first time only; this takes several minutes)"
    )
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, tempfile.TemporaryFile() as out:
        env = {**os.environ, "GOBIN": tmp, "CGO_ENABLED": "0"}
        build = subprocess.Popen(
            [go, "install", f"{_WEAVIATE_MODULE}@v{version}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        while build.poll() is None:
            progress.tick()
            time.sleep(0.1)
        built = Path(tmp) / "weaviate-server"
        if build.returncode != 0 or not _executable(built):
            progress.end(f"building Weaviate {version} failed")
            out.seek(0)
            tail = out.read().decode(errors="replace").strip().splitlines()[-5:]
            return "`go install` failed: " + " | ".join(tail)
        os.replace(built, target)  # atomic: a half-built binary is never in the cache
    progress.end(f"built {target}")
    return None


def _download_release(target: Path, version: str) -> str | None:
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(os.uname().machine)
    if sys.platform != "linux" or arch is None:
        return "no release binary for this platform"
    url = _RELEASE_URL.format(v=version, arch=arch)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            archive = Path(tmp) / "weaviate.tgz"
            progress = Progress()
            progress.begin(f"downloading Weaviate {version} from {url}")
            try:
                with urllib.request.urlopen(url, timeout=60) as response, archive.open("wb") as out:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                        progress.tick(f"{out.tell() >> 20} MB")
            except OSError:
                progress.end(f"downloading Weaviate {version} failed")
                raise
            progress.end(f"downloaded Weaviate {version} ({archive.stat().st_size >> 20} MB)")
            with tarfile.open(archive) as tar:
                member = tar.getmember("weaviate")
                tar.extractall(tmp, members=[member], filter="data")
            extracted = Path(tmp) / "weaviate"
            extracted.chmod(0o755)
            os.replace(extracted, target)
    except (OSError, KeyError, tarfile.TarError) as exc:
        return f"downloading the release binary failed ({exc})"
    return None


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_HANDED_OUT: set[int] = set()  # ports free_port gave this process: never given twice
_HANDED_OUT_LOCK = threading.Lock()


def free_port(*, span: int = 1, below: int | None = None) -> int:
    """A port on 127.0.0.1 such that it and the ``span - 1`` ports above it are free now.

    Ports are drawn below the kernel's ephemeral range (or ``below``), where the kernel never
    hands a port to an outgoing connection between this check and the server's bind, and none is
    handed out twice in a process: ports picked for servers that are not started yet (the six of a
    Weaviate, the nodes of a cluster) are free now but must not collide with each other.
    """
    import random

    top = (below if below is not None else _ephemeral_low()) - span
    while True:
        port = random.randint(10000, top)
        block = range(port, port + span)
        with _HANDED_OUT_LOCK:
            if _HANDED_OUT.isdisjoint(block) and all(_port_free(p) for p in block):
                _HANDED_OUT.update(block)
                return port


def free_cluster_ports(count: int) -> list[int]:
    """``count`` free ports usable by Redis Cluster nodes (each needs ``port + 10000`` free too)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(below=_ephemeral_low() - 10000)
        with _HANDED_OUT_LOCK:
            if port + 10000 in _HANDED_OUT or not _port_free(port + 10000):
                continue
            _HANDED_OUT.add(port + 10000)
        ports.append(port)
    return ports


@dataclass(frozen=True, slots=True)
class WeaviatePorts:
    """Every port one Weaviate node binds (the server exits if any of them is taken).

    Raft's internal RPC port is always ``raft + 1``: with ``CLUSTER_IN_LOCALHOST`` the server dials
    that port regardless of its setting.
    """

    http: int
    grpc: int
    gossip: int
    data: int
    raft: int
    profiling: int

    @classmethod
    def free(cls) -> WeaviatePorts:
        """Pick free ports for a throwaway server (tests)."""
        raft = free_port(span=2)  # the Raft port and its RPC port right above it
        return cls(free_port(), free_port(), free_port(), free_port(), raft, free_port())

    @classmethod
    def local_default(cls, http: int, grpc: int) -> WeaviatePorts:
        """The fixed ports of the local default, placed next to its REST port."""
        return cls(
            http=http, grpc=grpc, gossip=http + 1, data=http + 2, raft=http + 3, profiling=http + 5
        )


def _port_free(port: int) -> bool:
    # Binding (not connecting) also catches a port held by an outgoing connection.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What ``agentmem status`` reports for one server."""

    name: str
    url: str
    pid: int | None
    answering: bool


def _redis_answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    # A server with a password answers -NOAUTH: it is up, it just wants credentials.
    return reply.startswith((b"+PONG", b"-NOAUTH"))


def _weaviate_answers(port: int, timeout: float = 0.5) -> bool:
    url = f"http://127.0.0.1:{port}/v1/.well-known/ready"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class LocalStack:
    """A local Redis and Weaviate under one folder, started as detached processes.

    Args:
        home: folder for ``data/``, ``logs/`` and ``run/`` (pid files and the lock).
        redis_port: port of Redis on 127.0.0.1.
        weaviate_ports: every port of Weaviate on 127.0.0.1.
        redis_args: extra ``redis-server`` arguments (e.g. ``["--appendfsync", "always"]``).
        weaviate_env: extra environment for Weaviate (e.g. API-key authentication).
    """

    def __init__(
        self,
        home: Path,
        *,
        redis_port: int,
        weaviate_ports: WeaviatePorts,
        redis_args: Sequence[str] = (),
        weaviate_env: Mapping[str, str] | None = None,
    ) -> None:
        self.home = Path(home)
        self.redis_port = redis_port
        self.weaviate_ports = weaviate_ports
        self._redis_args = list(redis_args)
        self._weaviate_env = dict(weaviate_env or {})

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def weaviate_url(self) -> str:
        return f"http://127.0.0.1:{self.weaviate_ports.http}"

    # -- lifecycle -------------------------------------------------------------------------------

    def up(
        self,
        *,
        only: Sequence[str] = ("redis", "weaviate"),
        timeout: float = 120.0,
        progress: Progress | None = None,
    ) -> list[ServerStatus]:
        """Start whichever server is not running, and wait until it answers.

        Args:
            only: the servers to bring up (default both).
            timeout: seconds to wait for them to answer.
            progress: says which server is starting while it starts (``agentmem up`` passes
                one on stderr); None says nothing.

        Raises:
            ServerBinaryNotFound: a server binary is missing (the message says how to get it).
            BackendUnavailable: a server did not answer in time (its log file is named).
        """
        names = [name for name in ("redis", "weaviate") if name in only]
        with self._lock():
            started = {name: self._start(name) for name in names if not self._answers(name)}
            deadline = time.monotonic() + timeout
            try:
                for name, process in started.items():
                    self._wait(name, process, deadline, progress)
            except BackendUnavailable:
                for process in started.values():  # a failed up leaves nothing running
                    _terminate(process.pid, 10.0)
                raise
            finally:
                for process in started.values():
                    # The servers outlive this process; stop Popen's finalizer from warning.
                    process.returncode = process.poll() or 0
        return self.status()

    def down(self, *, timeout: float = 30.0) -> list[str]:
        """Stop both servers (SIGTERM, then SIGKILL after ``timeout``); return the names stopped."""
        stopped = []
        with self._lock():
            for name in ("weaviate", "redis"):
                pid = self._pid(name)
                if pid is not None:
                    _terminate(pid, timeout)
                    stopped.append(name)
                    _log.info("stopped %s (pid %d)", name, pid)
                self._pid_file(name).unlink(missing_ok=True)
        return stopped

    def status(self) -> list[ServerStatus]:
        """Report each server's URL, pid and whether it answers right now."""
        return [
            ServerStatus("redis", self.redis_url, self._pid("redis"), self._answers("redis")),
            ServerStatus(
                "weaviate", self.weaviate_url, self._pid("weaviate"), self._answers("weaviate")
            ),
        ]

    def kill(self, name: str) -> None:
        """``kill -9`` one server, as a crash would (for fault tests)."""
        pid = self._pid(name)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)

    # -- internals -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        run = self.home / "run"
        run.mkdir(parents=True, exist_ok=True)
        with (run / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released by the kernel if this process dies
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _pid_file(self, name: str) -> Path:
        return self.home / "run" / f"{name}.pid"

    def _pid(self, name: str) -> int | None:
        """The live pid of our server ``name``, or None (a stale pid file does not count)."""
        try:
            pid = int(self._pid_file(name).read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return None
        binary = b"redis-server" if name == "redis" else b"weaviate"
        return pid if binary in cmdline else None

    def _answers(self, name: str) -> bool:
        if name == "redis":
            return _redis_answers(self.redis_port)
        return _weaviate_answers(self.weaviate_ports.http)

    def _start(self, name: str) -> subprocess.Popen[bytes]:
        stale = self._pid(name)
        if stale is not None:  # alive but not answering: hung, or still starting from a killed up
            _terminate(stale, 10.0)
        argv, env = self._redis_command() if name == "redis" else self._weaviate_command()
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self._pid_file(name).parent.mkdir(parents=True, exist_ok=True)
        with (logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.home,
            )
        self._pid_file(name).write_text(f"{process.pid}\n")
        _log.info("started %s (pid %d), log %s", name, process.pid, logs / f"{name}.log")
        return process

    def _wait(
        self,
        name: str,
        process: subprocess.Popen[bytes],
        deadline: float,
        progress: Progress | None = None,
    ) -> None:
        progress = progress or Progress(quiet=True)
        progress.begin(f"starting the local {name} server (data in {self.home / 'data'})")
        while time.monotonic() < deadline:
            if self._answers(name):
                progress.end(f"the local {name} server answers")
                return
            if process.poll() is not None:
                break  # it exited
            progress.tick()
            time.sleep(0.1)
        progress.end(f"the local {name} server did not come up")
        log = self.home / "logs" / f"{name}.log"
        tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
        raise BackendUnavailable(
            f"the local {name} server did not come up; see {log}: " + " | ".join(tail),
            backend=name,
        )

    def _redis_command(self) -> tuple[list[str], dict[str, str]]:
        data = self.home / "data" / "redis"
        data.mkdir(parents=True, exist_ok=True)
        argv = [
            str(find_redis_binary()),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.redis_port),
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            "",
            *self._redis_args,
        ]
        return argv, dict(os.environ)

    def _weaviate_command(self) -> tuple[list[str], dict[str, str]]:
        ports = self.weaviate_ports
        data = self.home / "data" / "weaviate"
        data.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PERSISTENCE_DATA_PATH": str(data),
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
            "DEFAULT_VECTORIZER_MODULE": "none",
            "ENABLE_MODULES": "",
            "DISABLE_TELEMETRY": "true",
            "QUERY_DEFAULTS_LIMIT": "25",
            "LOG_LEVEL": "warning",
            "CLUSTER_HOSTNAME": "node1",
            "CLUSTER_IN_LOCALHOST": "true",
            # Without these the node advertises the host's first address (maybe IPv6), and its
            # Raft listener fails to parse it.
            "CLUSTER_ADVERTISE_ADDR": "127.0.0.1",
            "CLUSTER_BIND_ADDR": "127.0.0.1",
            "CLUSTER_GOSSIP_BIND_PORT": str(ports.gossip),
            "CLUSTER_DATA_BIND_PORT": str(ports.data),
            "RAFT_PORT": str(ports.raft),
            "RAFT_INTERNAL_RPC_PORT": str(ports.raft + 1),
            "RAFT_BOOTSTRAP_EXPECT": "1",
            "RAFT_JOIN": f"node1:{ports.raft}",
            "GRPC_PORT": str(ports.grpc),
            "GO_PROFILING_PORT": str(ports.profiling),
            **self._weaviate_env,
        }
        argv = [
            str(find_weaviate_binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(ports.http),
            "--scheme",
            "http",
        ]
        return argv, env


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A child of this process lingers as a zombie until reaped.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return False


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not _wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)


def default_stack(home: Path, redis_port: int, weaviate_port: int, grpc_port: int) -> LocalStack:
    """The local default's stack (the one ``agentmem up`` manages)."""
    if len({redis_port, weaviate_port, grpc_port}) != 3:
        raise ConfigurationError("the local Redis, Weaviate and gRPC ports must differ")
    return LocalStack(
        home,
        redis_port=redis_port,
        weaviate_ports=WeaviatePorts.local_default(weaviate_port, grpc_port),
    )


class LocalRedisCluster:
    """A Redis Cluster of ``len(ports)`` masters on loopback (no replicas), for tests and examples.

    Args:
        home: folder for each node's data, log and ``nodes.conf``.
        ports: one port per master (at least 3); the cluster bus uses ``port + 10000``.
    """

    def __init__(self, home: Path, ports: Sequence[int]) -> None:
        if len(ports) < 3:
            raise ConfigurationError("a Redis Cluster needs at least 3 masters")
        self.home = Path(home)
        self.ports = list(ports)
        self._nodes = [
            LocalStack(self.home / f"node-{port}", redis_port=port,
                       weaviate_ports=WeaviatePorts(0, 0, 0, 0, 0, 0),
                       redis_args=["--cluster-enabled", "yes",
                                   "--cluster-config-file", "nodes.conf",
                                   "--cluster-node-timeout", "2000"])
            for port in self.ports
        ]  # fmt: skip

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming the first node (clients discover the rest)."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    def up(self, *, timeout: float = 60.0) -> None:
        """Start every node, form the cluster if it is not formed yet, and wait until it is ok."""
        for node in self._nodes:
            node.up(only=["redis"], timeout=timeout)
        if not self._cluster_ok():
            cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
            addresses = [f"127.0.0.1:{port}" for port in self.ports]
            subprocess.run(
                [
                    cli,
                    "--cluster",
                    "create",
                    *addresses,
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=timeout,
            )
        deadline = time.monotonic() + timeout
        while not self._cluster_ok():
            if time.monotonic() > deadline:
                raise BackendUnavailable(
                    "the local Redis Cluster did not reach state ok", backend="redis"
                )
            time.sleep(0.1)

    def down(self) -> None:
        """Stop every node (data and cluster configuration stay)."""
        for node in self._nodes:
            node.down()

    def kill(self, port: int) -> None:
        """``kill -9`` the node on ``port``."""
        self._nodes[self.ports.index(port)].kill("redis")

    def _cluster_ok(self) -> bool:
        for port in self.ports:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                    sock.sendall(b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n")
                    reply = sock.recv(4096)
            except OSError:
                return False
            if b"cluster_state:ok" not in reply:
                return False
        return True


class LocalWeaviateCluster:
    """A Weaviate cluster of ``size`` nodes on loopback, each with its own ports and data.

    All nodes run on one host (``CLUSTER_IN_LOCALHOST``), join each other over memberlist through
    node 1's gossip port, and elect a Raft leader once all ``size`` nodes are up.

    Args:
        home: folder for each node's data and log.
        size: number of nodes (3 for a replication factor of 3).
    """

    def __init__(self, home: Path, size: int = 3) -> None:
        self.home = Path(home)
        self.ports = [_weaviate_node_ports() for _ in range(size)]
        names = [f"node{i + 1}" for i in range(size)]
        raft_join = ",".join(
            f"{name}:{ports.raft}" for name, ports in zip(names, self.ports, strict=True)
        )
        self.nodes = [
            LocalStack(self.home / name, redis_port=0, weaviate_ports=ports, weaviate_env={
                "CLUSTER_HOSTNAME": name,
                "CLUSTER_JOIN": f"127.0.0.1:{self.ports[0].gossip}",
                "RAFT_JOIN": raft_join,
                "RAFT_BOOTSTRAP_EXPECT": str(size),
            })
            for name, ports in zip(names, self.ports, strict=True)
        ]  # fmt: skip

    @property
    def urls(self) -> list[str]:
        """REST URL of each node."""
        return [node.weaviate_url for node in self.nodes]

    def up(self, *, timeout: float = 120.0) -> None:
        """Start every node that is not answering, then wait until all answer.

        If a node cannot be started or the cluster does not answer in time, the nodes this call
        started are stopped again before the error propagates (nodes that already ran are left
        alone), so a failed ``up`` leaves no half cluster holding ports.
        """
        # Node 1 first, until its gossip port listens (a node that cannot join exits); then the
        # others. Nobody is "ready" before the Raft quorum exists, so readiness is awaited last.
        started: list[tuple[LocalStack, subprocess.Popen[bytes]]] = []
        try:
            for index, node in enumerate(self.nodes):
                if node._answers("weaviate"):
                    continue
                started.append((node, node._start("weaviate")))
                if index == 0:
                    _wait_listening(self.ports[0].gossip, time.monotonic() + timeout)
            deadline = time.monotonic() + timeout
            for node, process in started:
                node._wait("weaviate", process, deadline)
        except BaseException:
            for node, _ in started:
                node.down()
            raise
        finally:
            for _, process in started:
                process.returncode = process.poll() or 0

    def stop(self, index: int) -> None:
        """Stop node ``index`` (SIGTERM, like a node going away)."""
        self.nodes[index].down()

    def down(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.down()


def _wait_listening(port: int, deadline: float) -> None:
    while _port_free(port) and time.monotonic() < deadline:
        time.sleep(0.05)


def _weaviate_node_ports() -> WeaviatePorts:
    # Gossip and data ports side by side, and Raft's RPC port right after its Raft port.
    gossip, raft = free_port(span=2), free_port(span=2)
    return WeaviatePorts(http=free_port(), grpc=free_port(), gossip=gossip, data=gossip + 1,
                         raft=raft, profiling=free_port())  # fmt: skip
