"""The release: the wheel and sdist build, pass `twine check`, and install like any package.

Each extra is installed from the built wheel into a virtual environment of its own (packages come
from the index, as on a user's machine) and runs its quickstart there, against the test servers,
from a folder outside this checkout, so nothing of the source tree can stand in for the wheel.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

import agentmem
from tests.support import RedisServer, WeaviateServer, agentmem_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agentmem", "langchain_agentmem", "llamaindex_agentmem")

# What a user of the core alone writes first: a session and a long-term memory, no framework.
CORE_QUICKSTART = """
import sys
import agentmem
from agentmem import AgentMem, LongTermMemory, MemoryRecord, SessionStore, forget_user

assert "site-packages" in agentmem.__file__, agentmem.__file__
with AgentMem() as mem:
    chat = SessionStore(mem, user_id="ada")
    chat.append("chat-1", [{"role": "user", "content": "I like green tea"}])
    notes = LongTermMemory(mem, tenant="ada", collection="ReleaseCheck")
    notes.add([MemoryRecord("Ada likes green tea", id="tea")])
    hits = notes.search("green tea", mode="bm25")
    print(len(chat.read("chat-1")), hits[0].record.text)
    notes.drop_collection()
    forget_user("ada", memory=mem)
"""


def _run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, and the wheel built from it (what `python -m build` does by default)."""
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return out


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_the_wheel_and_sdist_pass_twine_check_and_hold_the_packages_and_nothing_else(
    dist: Path,
) -> None:
    wheel, sdist = _one(dist, "*.whl"), _one(dist, "*.tar.gz")
    assert wheel.name == f"agentmem-{agentmem.__version__}-py3-none-any.whl"
    _run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)

    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {*PACKAGES, f"agentmem-{agentmem.__version__}.dist-info"}
    for package in PACKAGES:
        assert f"{package}/py.typed" in names  # typed for the user's mypy
    dist_info = f"agentmem-{agentmem.__version__}.dist-info"
    assert f"{dist_info}/licenses/LICENSE" in names
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "agentmem = agentmem.cli:main" in entry_points

    with tarfile.open(sdist) as archive:
        members = [m.split("/", 1)[1] for m in archive.getnames() if "/" in m]
    assert {"README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml"} <= set(members)
    # The LoCoMo slice (CC BY-NC) and the tests' data are never packaged.
    assert not [m for m in members if m.startswith(("tests/", "bench/", "data/", "../"))]
    assert not [m for m in members if "locomo" in m.lower()]


def _venv_with(dist: Path, extra: str, where: Path) -> Path:
    """A clean virtual environment with the built wheel (and ``extra``) installed; its python."""
    _run(sys.executable, "-m", "venv", where)
    python = where / "bin" / "python"
    wheel = _one(dist, "*.whl")
    spec = f"{wheel}[{extra}]" if extra else str(wheel)
    _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", spec, timeout=600)
    return python


def _examples_in(folder: Path, *scripts: str) -> None:
    for name in ("models.py", *scripts):
        shutil.copy(ROOT / "examples" / name, folder / name)


@pytest.mark.parametrize(
    ("extra", "scripts"),
    [
        ("", ()),
        ("langchain", ("langchain_rag.py", "langgraph_store.py")),
        ("llamaindex", ("llamaindex_chat.py",)),
        ("all", ("quickstart.py",)),  # what `make demo` runs
    ],
    ids=["core", "langchain", "llamaindex", "all"],
)
def test_each_extra_installs_from_the_wheel_into_a_clean_venv_and_runs_its_quickstart(
    dist: Path,
    extra: str,
    scripts: tuple[str, ...],
    tmp_path: Path,
    redis_server: RedisServer,
    weaviate_server: WeaviateServer,
    key_prefix: str,
) -> None:
    python = _venv_with(dist, extra, tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    env = agentmem_env(
        redis_server, weaviate_server, key_prefix, AGENTMEM_EXAMPLES_MODEL="scripted"
    )
    env.pop("PYTHONPATH", None)

    version = _run(python.parent / "agentmem", "--version", env=env, cwd=work).stdout
    assert version.split() == ["agentmem", agentmem.__version__]
    # The frameworks of the other extras are not installed (the core needs none of them).
    probe = "import importlib.util as u; print([m for m in ('langchain', 'llama_index') if u.find_spec(m)])"
    present = _run(python, "-c", probe, env=env, cwd=work).stdout.strip()
    expected = {"": [], "langchain": ["langchain"], "llamaindex": ["llama_index"]}
    assert present == str(expected.get(extra, ["langchain", "llama_index"]))

    if not scripts:
        out = _run(python, "-c", CORE_QUICKSTART, env=env, cwd=work, timeout=120).stdout
        assert out.split() == ["1", "Ada", "likes", "green", "tea"]
        return
    _examples_in(work, *scripts)
    for script in scripts:
        out = _run(python, script, env=env, cwd=work, timeout=240).stdout
        assert out.strip(), script  # each example prints what it did; tests/test_examples.py
        # checks what they print against the source tree; here it is that they run at all
