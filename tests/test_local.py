"""The zero-config local default: `agentmem up/status/down`, crash recovery, autostart, binaries."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmem import (
    AgentMem,
    AgentMemSettings,
    ConfigurationError,
    LocalSettings,
    ServerBinaryNotFound,
)
from agentmem._weaviate import codec, lifecycle
from agentmem.cli import main
from agentmem.filters import Ne
from agentmem.local import (
    OLDEST_WEAVIATE_VERSION,
    WEAVIATE_VERSION,
    LocalStack,
    LocalWeaviateCluster,
    WeaviatePorts,
    default_stack,
    find_redis_binary,
    find_weaviate_binary,
    free_port,
)
from agentmem.longterm import LongTermMemory, MemoryRecord
from tests.support import WeaviateServer, run_cli, settings_for

pytestmark = pytest.mark.slow


def _free_block(width: int = 6) -> int:
    """A base port with ``width`` free ports from it (the local default uses a block)."""
    return free_port(span=width)


@pytest.fixture
def cli_home(tmp_path: Path) -> Iterator[list[str]]:
    """CLI arguments for a private local default; stopped after the test."""
    args = ["--home", str(tmp_path), "--redis-port", str(free_port()),
            "--weaviate-port", str(_free_block()), "--grpc-port", str(free_port())]  # fmt: skip
    yield args
    run_cli("down", *args)


def test_up_twice_is_harmless_and_status_and_down_say_what_they_did(cli_home: list[str]) -> None:
    first = run_cli("up", *cli_home)
    assert first.returncode == 0, first.stderr
    assert "redis     up" in first.stdout and "weaviate  up" in first.stdout
    said = first.stderr.splitlines()  # not a terminal: one plain line as each starts and ends
    for name in ("redis", "weaviate"):
        assert any(line.startswith(f"agentmem: starting the local {name} server") for line in said)
        assert any(
            line.startswith(f"agentmem: the local {name} server answers after") for line in said
        )
    assert "\r" not in first.stderr
    pids = run_cli("status", *cli_home).stdout
    second = run_cli("up", *cli_home)
    assert second.returncode == 0, second.stderr
    assert "starting" not in second.stderr  # nothing started, nothing said
    assert run_cli("status", *cli_home).stdout == pids  # same processes: nothing restarted
    down = run_cli("down", *cli_home)
    assert "stopped: weaviate, redis" in down.stdout
    after = run_cli("status", *cli_home)
    assert after.returncode == 3
    assert "redis     down" in after.stdout and "weaviate  down" in after.stdout


def _stack(args: list[str]) -> LocalStack:
    home, redis_port, weaviate_port, grpc_port = args[1], args[3], args[5], args[7]
    return default_stack(Path(home), int(redis_port), int(weaviate_port), int(grpc_port))


def test_up_after_kill_9_of_both_servers_starts_them_again(cli_home: list[str]) -> None:
    assert run_cli("up", *cli_home).returncode == 0
    stack = _stack(cli_home)
    old = {s.name: s.pid for s in stack.status()}
    stack.kill("redis")
    stack.kill("weaviate")
    assert not any(s.answering for s in stack.status())
    again = run_cli("up", *cli_home)
    assert again.returncode == 0, again.stderr
    now = stack.status()
    assert all(s.answering for s in now)
    assert all(s.pid != old[s.name] for s in now)


def test_up_after_kill_9_of_a_previous_up_process_works(cli_home: list[str]) -> None:
    process = subprocess.Popen([sys.executable, "-m", "agentmem", "up", *cli_home],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    stack = _stack(cli_home)
    deadline = time.monotonic() + 30
    while stack.status()[1].pid is None and time.monotonic() < deadline:
        time.sleep(0.05)  # kill it while Weaviate is still starting, holding the lock
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    again = run_cli("up", *cli_home)
    assert again.returncode == 0, again.stderr
    assert all(s.answering for s in stack.status())


def test_library_starts_the_local_default_on_first_use(tmp_path: Path) -> None:
    local = LocalSettings(home=tmp_path, redis_port=free_port(), weaviate_port=_free_block(),
                          weaviate_grpc_port=free_port(), autostart=True)  # fmt: skip
    settings = AgentMemSettings(local=local)  # no URLs: the local default
    try:
        with AgentMem(settings) as mem:
            mem.ping()  # starts Redis and Weaviate, then talks to both
            assert mem.settings.redis.url == f"redis://127.0.0.1:{local.redis_port}/0"
        statuses = default_stack(tmp_path, local.redis_port, local.weaviate_port,
                                 local.weaviate_grpc_port).status()  # fmt: skip
        assert all(s.answering for s in statuses)  # they outlive the object that started them
    finally:
        default_stack(tmp_path, local.redis_port, local.weaviate_port,
                      local.weaviate_grpc_port).down()  # fmt: skip


async def test_async_library_start_of_local_redis(tmp_path: Path) -> None:
    local = LocalSettings(home=tmp_path, redis_port=free_port(), weaviate_port=_free_block(),
                          weaviate_grpc_port=free_port(), autostart=True)  # fmt: skip
    try:
        async with AgentMem(AgentMemSettings(local=local)) as mem:
            await mem.aping(weaviate=False)
            client = await mem.aredis()
            assert await client.set("k", b"v") is True
    finally:
        default_stack(tmp_path, local.redis_port, local.weaviate_port,
                      local.weaviate_grpc_port).down()  # fmt: skip


def test_weaviate_binary_in_the_cache_is_reused_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = tmp_path / "weaviate" / f"v{WEAVIATE_VERSION}" / "weaviate-server"
    cached.parent.mkdir(parents=True)
    cached.write_text("#!/bin/sh\n")
    cached.chmod(0o755)
    monkeypatch.setenv("AGENTMEM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("AGENTMEM_WEAVIATE_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no weaviate, and no go to build with
    assert find_weaviate_binary(build=True, download=False) == cached


def test_missing_weaviate_binary_error_lists_every_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTMEM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("AGENTMEM_WEAVIATE_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ServerBinaryNotFound) as info:
        find_weaviate_binary(build=True, download=False)
    message = str(info.value)
    for option in ("AGENTMEM_WEAVIATE_BIN", "PATH", "go install", "docker compose"):
        assert option in message


def test_bad_explicit_binary_paths_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTMEM_WEAVIATE_BIN", str(tmp_path / "nope"))
    with pytest.raises(ServerBinaryNotFound, match="AGENTMEM_WEAVIATE_BIN"):
        find_weaviate_binary()
    monkeypatch.setenv("AGENTMEM_REDIS_BIN", str(tmp_path / "nope"))
    with pytest.raises(ServerBinaryNotFound, match="AGENTMEM_REDIS_BIN"):
        find_redis_binary()


def _fake_weaviate(cache: Path, version: str) -> Path:
    binary = cache / "weaviate" / f"v{version}" / "weaviate-server"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    return binary


def test_install_finds_another_weaviate_version_in_its_own_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    oldest = _fake_weaviate(tmp_path, OLDEST_WEAVIATE_VERSION)
    pinned = _fake_weaviate(tmp_path, WEAVIATE_VERSION)
    monkeypatch.setenv("AGENTMEM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("AGENTMEM_WEAVIATE_BIN", str(pinned))  # names the pin: not another version
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no weaviate, and no go to build with
    assert main(["install", "--weaviate-version", OLDEST_WEAVIATE_VERSION, "--path-only"]) == 0
    assert capsys.readouterr().out == f"{oldest}\n"
    assert find_weaviate_binary(version=OLDEST_WEAVIATE_VERSION, download=False) == oldest
    assert find_weaviate_binary(download=False) == pinned  # the pin still honours the variable
    monkeypatch.delenv("AGENTMEM_WEAVIATE_BIN")
    assert main(["install", "--path-only"]) == 0
    assert capsys.readouterr().out == f"{pinned}\n"


def test_install_of_a_malformed_or_unavailable_weaviate_version_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTMEM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for bad in ("1.35", "../1.35.2", "v1.35.2"):
        with pytest.raises(ConfigurationError, match="three numbers"):
            find_weaviate_binary(version=bad, build=False, download=False)
    assert main(["install", "--weaviate-version", "1.35", "--path-only"]) == 1
    assert "three numbers" in capsys.readouterr().err
    with pytest.raises(ServerBinaryNotFound, match=r"go install \S+@v1\.30\.0"):
        find_weaviate_binary(version="1.30.0", build=True, download=False)
    assert not (tmp_path / "weaviate" / "v1.30.0" / "weaviate-server").exists()


def _stored(lt: LongTermMemory) -> dict[str, bool]:
    """Every object of the tenant, tombstones included: memory id -> is a tombstone."""
    handle = lifecycle.col(lt.memory.weaviate(), lt._target)
    found = handle.query.fetch_objects(limit=100, return_properties=["memory_id", "created_at"])
    return {
        o.properties["memory_id"]: o.properties["created_at"] == codec.TOMBSTONE_TIME
        for o in found.objects
    }


def test_tombstones_written_on_the_oldest_weaviate_go_once_the_pin_serves_the_data_and_setup_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same data folder, first served by the oldest supported Weaviate, then by the pin.
    monkeypatch.delenv("AGENTMEM_WEAVIATE_BIN", raising=False)
    binaries = {
        v: find_weaviate_binary(version=v) for v in (OLDEST_WEAVIATE_VERSION, WEAVIATE_VERSION)
    }
    stack = LocalStack(tmp_path, redis_port=free_port(), weaviate_ports=WeaviatePorts.free())
    server = WeaviateServer(stack.weaviate_url, stack.weaviate_ports.grpc, stack)
    collection = "Upgraded"

    def served_by(version: str) -> AgentMem:
        stack.down()
        monkeypatch.setenv("AGENTMEM_WEAVIATE_BIN", str(binaries[version]))
        stack.up(only=["weaviate"])
        mem = AgentMem(settings_for(None, server, "up"))
        assert mem.weaviate().get_meta()["version"] == version
        return mem

    try:
        with served_by(OLDEST_WEAVIATE_VERSION) as mem:
            alice = LongTermMemory(mem, tenant="alice", collection=collection)
            bob = LongTermMemory(mem, tenant="bob", collection=collection)
            alice.add([MemoryRecord(f"note {i}", {"n": i}, id=f"a{i}") for i in range(3)])
            bob.add([MemoryRecord("bob", id="b0")])
            assert alice.delete(filter=Ne("n", 0)) == 2 and bob.clear() == 1
            assert _stored(alice) == {"a0": False, "a1": True, "a2": True}
            assert _stored(bob) == {"b0": True}
        with served_by(WEAVIATE_VERSION) as mem:
            alice = LongTermMemory(mem, tenant="alice", collection=collection)
            bob = LongTermMemory(mem, tenant="bob", collection=collection)
            assert [r.id for r in alice.find()] == ["a0"]  # tombstones stay hidden until then
            alice.setup()
            assert _stored(alice) == {"a0": False} and _stored(bob) == {}
            alice.add([MemoryRecord("back", {"n": 0}, id="a1"), MemoryRecord("new", id="a3")])
            assert sorted(r.id or "" for r in alice.find(filter=Ne("n", 0))) == ["a3"]
            assert alice.delete(filter=Ne("n", 1)) == 3
            assert _stored(alice) == {}
    finally:
        stack.down()


def test_ports_picked_for_servers_not_started_yet_never_collide(tmp_path: Path) -> None:
    # Nothing binds these ports, so only free_port's own bookkeeping keeps them apart.
    def used(ports: WeaviatePorts) -> list[int]:
        return [*dataclasses.astuple(ports), ports.raft + 1]  # Raft's RPC port sits above it

    picked = [p for _ in range(100) for p in used(WeaviatePorts.free())]
    picked += [free_port() for _ in range(100)]
    picked += [p for _ in range(10) for ports in LocalWeaviateCluster(tmp_path, 3).ports
               for p in used(ports)]  # fmt: skip
    assert len(picked) == len(set(picked)) == 100 * 7 + 100 + 10 * 3 * 7
