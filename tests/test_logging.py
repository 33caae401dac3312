"""What agentmem says under the ``agentmem`` logger (real servers), and that it is quiet by default."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from weaviate.classes.config import Configure

from agentmem import AgentMem, AgentMemSettings, LocalSettings, RedisSettings, RetrySettings
from agentmem._progress import Progress
from agentmem._weaviate.lifecycle import BM25_FIXED_IN, DELETES_FIXED_IN, parse_version
from agentmem._weaviate.schema import SCHEMA_VERSION, describe
from agentmem.errors import BackendUnavailable
from agentmem.local import WEAVIATE_VERSION, LocalStack, WeaviatePorts, free_port
from agentmem.longterm import LongTermMemory, MemoryRecord
from agentmem.sessions import SessionStore
from tests.support import RedisServer, WeaviateServer, agentmem_env


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "agentmem"]


def test_the_workarounds_chosen_for_the_server_are_logged_once(
    full_mem: AgentMem, unique_collection: str, caplog: pytest.LogCaptureFixture
) -> None:
    memory = LongTermMemory(full_mem, tenant="ada", collection=unique_collection)
    with caplog.at_level(logging.INFO, logger="agentmem"):
        memory.add([MemoryRecord("green tea", id="t")])
        memory.search("tea", mode="bm25")
        memory.search("tea", mode="bm25")
    chosen = [m for m in messages(caplog) if m.startswith("Weaviate ")]
    version = os.environ.get("AGENTMEM_TEST_WEAVIATE_VERSION", WEAVIATE_VERSION)
    fixed = parse_version(version)
    window = "off" if fixed >= BM25_FIXED_IN else "1000 (weaviate#11780)"
    deletes = "real" if fixed >= DELETES_FIXED_IN else "as tombstones, negations re-checked"
    assert chosen == [
        f"Weaviate {version} for {unique_collection}: BM25 window {window}, deletes {deletes}"
    ]
    full_mem.weaviate().collections.delete(unique_collection)


def test_a_migration_is_logged(
    full_mem: AgentMem, weaviate_server: WeaviateServer, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"Mig{uuid.uuid4().hex[:8]}"
    full_mem.weaviate().collections.create(
        name, description=describe(SCHEMA_VERSION - 1),
        multi_tenancy_config=Configure.multi_tenancy(enabled=True),
        replication_config=Configure.replication(factor=weaviate_server.replication_factor or 1),
    )  # fmt: skip
    try:
        with caplog.at_level(logging.INFO, logger="agentmem"):
            LongTermMemory(full_mem, tenant="ada", collection=name).setup()
    finally:
        full_mem.weaviate().collections.delete(name)
    assert f"migrated {name} to schema version {SCHEMA_VERSION}" in messages(caplog)


def test_retries_are_logged_with_the_call_and_the_attempt(caplog: pytest.LogCaptureFixture) -> None:
    settings = AgentMemSettings(
        redis=RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", timeout=0.5),
        local=LocalSettings(autostart=False),
        retry=RetrySettings(attempts=3, base_delay=0.01),
    )
    with (
        AgentMem(settings) as mem,
        caplog.at_level(logging.INFO, logger="agentmem"),
        pytest.raises(BackendUnavailable),
    ):
        SessionStore(mem, user_id="ada").read("s1")
    retries = [m for m in messages(caplog) if "retrying in" in m]
    assert len(retries) == 2
    assert retries[0].startswith("session.") and retries[0].endswith("(attempt 2 of 3)")


def test_local_servers_log_their_start_and_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stack = LocalStack(tmp_path, redis_port=free_port(), weaviate_ports=WeaviatePorts.free())
    with caplog.at_level(logging.INFO, logger="agentmem"):
        stack.up(only=["redis"])
        stack.down()
    said = messages(caplog)
    assert any(m.startswith("started redis (pid ") for m in said), said
    assert any(m.startswith("stopped redis (pid ") for m in said), said


def test_nothing_below_warning_is_printed_by_default(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    script = (
        "import warnings\n"
        "filters = list(warnings.filters)\n"
        "from agentmem import AgentMem, LongTermMemory, MemoryRecord, SessionStore\n"
        "with AgentMem() as mem:\n"
        "    SessionStore(mem, user_id='ada').append('s', [{'content': 'hi'}])\n"
        "    lt = LongTermMemory(mem, tenant='ada', collection='QuietLog')\n"
        "    lt.add([MemoryRecord('tea', id='t')])\n"
        "    lt.search('tea', mode='bm25')\n"
        "    lt.drop_collection()\n"
        "assert warnings.filters == filters, 'agentmem changed the warning filters'\n"
    )
    env = agentmem_env(redis_server, weaviate_server, key_prefix)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "")


def test_a_program_that_closes_what_it_opened_sees_no_resource_warning(
    redis_server: RedisServer, weaviate_server: WeaviateServer, key_prefix: str
) -> None:
    script = (
        "import asyncio, gc\n"
        "from agentmem import AgentMem, Consolidator, LongTermMemory, MemoryRecord, SessionStore, Turn\n"
        "with AgentMem() as mem:\n"
        "    SessionStore(mem, user_id='ada').append('s', [{'content': 'hi'}])\n"
        "    lt = LongTermMemory(mem, tenant='ada', collection='RwCheck')\n"
        "    lt.add([MemoryRecord('tea', id='t')])\n"
        "    lt.search('tea', mode='bm25')\n"
        "    lt.drop_collection()\n"
        "    Consolidator(mem).enqueue('ada', [Turn('user', 'hi')])\n"
        "async def main():\n"
        "    async with AgentMem() as mem:\n"
        "        await SessionStore(mem, user_id='ada').aappend('s', [{'content': 'hi'}])\n"
        "        lt = LongTermMemory(mem, tenant='ada', collection='RwCheck2')\n"
        "        await lt.aadd([MemoryRecord('tea', id='t')])\n"
        "        await lt.adrop_collection()\n"
        "asyncio.run(main())\n"
        "gc.collect()\n"
    )
    # An AgentMem left open warns here: weaviate-client's Con004 and the unclosed sockets.
    env = agentmem_env(redis_server, weaviate_server, key_prefix)
    done = subprocess.run([sys.executable, "-X", "dev", "-W", "always::ResourceWarning", "-c",
                           script], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ResourceWarning" not in done.stderr, done.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_redrawn_line_on_a_terminal_and_two_plain_lines_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter(float(t) for t in range(100))
    monkeypatch.setattr("agentmem._progress.time.monotonic", lambda: next(clock))
    terminal = _Terminal()
    live = Progress(terminal)
    live.begin("building Weaviate")
    live.tick("3 MB")
    live.end("built it")
    drawn = terminal.getvalue()
    assert drawn.count("\n") == 1 and drawn.endswith("agentmem: built it after 3.0 s\n")
    assert "\r\x1b[Kagentmem: building Weaviate ... 2 s, 3 MB" in drawn

    plain = io.StringIO()
    log = Progress(plain)
    log.begin("starting the local redis server")
    log.tick("ignored off a terminal")
    log.end("the local redis server answers")
    assert plain.getvalue().splitlines() == [
        "agentmem: starting the local redis server ...",
        "agentmem: the local redis server answers after 1.0 s",
    ]


def test_a_quiet_progress_says_nothing_even_on_a_terminal() -> None:
    terminal = _Terminal()
    quiet = Progress(terminal, quiet=True)
    quiet.begin("starting the local redis server")
    quiet.tick("1 MB")
    quiet.end("the local redis server answers")
    assert terminal.getvalue() == ""
