"""The zero-config local default: `agentmem up/status/down`, crash recovery, autostart, binaries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmem import AgentMem, AgentMemSettings, LocalSettings, ServerBinaryNotFound
from agentmem.local import (
    WEAVIATE_VERSION,
    LocalStack,
    default_stack,
    find_redis_binary,
    find_weaviate_binary,
    free_port,
)
from tests.support import run_cli

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
    pids = run_cli("status", *cli_home).stdout
    second = run_cli("up", *cli_home)
    assert second.returncode == 0, second.stderr
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
