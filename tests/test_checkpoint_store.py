"""The framework-free core: CheckpointStore (sync and async twins) and RunStore on real Redis."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentmem import AgentMem
from agentmem.checkpoints import (
    CheckpointStore,
    NewCheckpoint,
    Typed,
    WriteRecord,
)
from agentmem.runs import RunStore


def new(thread: str, cid: str, parent: str | None, value: bytes, ns: str = "") -> NewCheckpoint:
    return NewCheckpoint(
        thread_id=thread,
        ns=ns,
        checkpoint_id=cid,
        parent_id=parent,
        checkpoint=Typed("raw", b"cp-" + cid.encode()),
        metadata=Typed("raw", b"md"),
        run_id="run-" + cid[-1],
        versions={"v": cid, "const": "1"},
        new_values={
            "v": Typed("raw", value),
            **({"const": Typed("raw", b"C")} if not parent else {}),
        },
    )


def test_core_modules_import_no_framework() -> None:
    code = (
        "import sys, agentmem.checkpoints, agentmem.runs;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain', 'langchain_core', 'langgraph', 'llama_index', 'workflows')];"
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_sync_store_round_trips_opaque_bytes_in_order(mem: AgentMem) -> None:
    store = CheckpointStore(mem)
    store.put(new("t", "c1", None, b"\x00\xff binary"))
    store.put(new("t", "c2", "c1", b"two"))
    store.put_writes(
        "t",
        "",
        "c2",
        [
            WriteRecord("task-b", 0, "x", Typed("raw", b"b0"), "~b"),
            WriteRecord("task-a", 1, "x", Typed("raw", b"a1"), "~a"),
            WriteRecord("task-a", 0, "x", Typed("raw", b"a0"), "~a"),
        ],
    )
    latest = store.get("t")
    assert latest is not None
    assert (latest.checkpoint_id, latest.parent_id) == ("c2", "c1")
    assert latest.values == {"v": Typed("raw", b"two"), "const": Typed("raw", b"C")}
    assert [(w.task_id, w.idx) for w in latest.writes] == [
        ("task-a", 0),
        ("task-a", 1),
        ("task-b", 0),
    ]
    first = store.get("t", checkpoint_id="c1")
    assert first is not None
    assert first.values["v"] == Typed("raw", b"\x00\xff binary")
    assert [r.checkpoint_id for r in store.list("t")] == ["c2", "c1"]
    assert [r.checkpoint_id for r in store.list("t", before="c2")] == ["c1"]
    assert store.copy_thread("t", "copy") is True
    assert store.delete_runs(["run-1"]) == 2  # c1 in both threads
    assert [r.checkpoint_id for r in store.list("copy")] == ["c2"]
    assert sorted(store.threads()) == ["copy", "t"]
    store.delete_thread("t")
    assert store.get("t") is None
    assert store.copy_thread("t", "empty") is False
    assert store.get("empty") is None


async def test_async_store_prunes_per_namespace(mem: AgentMem) -> None:
    store = CheckpointStore(mem)
    for ns in ("", "sub:1"):
        parent = None
        for i in range(5):
            await store.aput(new("t", f"c{i}", parent, f"{ns}{i}".encode(), ns=ns))
            parent = f"c{i}"
    assert await store.aprune("t", keep_last=2) == 6
    assert [r.checkpoint_id async for r in store.alist("t", ns="sub:1")] == ["c4", "c3"]
    assert len([r async for r in store.alist("t")]) == 4
    survivor = await store.aget("t", "", "c3")
    assert survivor is not None
    assert survivor.values["const"] == Typed("raw", b"C")  # written by c0, still shared


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_run_store_saves_lists_and_deletes(mem: AgentMem, flavour: str) -> None:
    if flavour == "sync":
        runs = RunStore(mem)
        assert runs.save("wf", "r1", b"{}", status="paused", label="ask") == 1
        assert runs.save("wf", "r1", b'{"a":1}', status="done") == 2
        listed = runs.list_runs("wf")
        got = runs.get("wf", "r1")
        deleted = runs.delete("wf", "r1")
    else:
        aruns = RunStore(mem)
        assert await aruns.asave("wf", "r1", b"{}", status="paused", label="ask") == 1
        assert await aruns.asave("wf", "r1", b'{"a":1}', status="done") == 2
        listed = await aruns.alist_runs("wf")
        got = await aruns.aget("wf", "r1")
        deleted = await aruns.adelete("wf", "r1")
    assert [(r.run_id, r.status, r.saves, r.data) for r in listed] == [("r1", "done", 2, None)]
    assert got is not None
    assert got.data == b'{"a":1}'
    assert deleted
