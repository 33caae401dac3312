"""The public surface and the import boundary between the core and the adapters."""

from __future__ import annotations

import subprocess
import sys

import agentmem

FRAMEWORKS = ("langchain", "langchain_core", "langgraph", "llama_index", "workflows")


def test_public_exports_are_pinned() -> None:
    assert sorted(agentmem.__all__) == sorted(
        [
            "AgentMem", "SHARED", "RunStateError",
            "CheckpointStore", "LongTermMemory", "MemoryHit", "MemoryRecord", "RunStore",
            "SessionStore", "AgentMemError", "AgentMemSettings", "AuthenticationFailed",
            "BackendError", "BackendTimeout", "BackendUnavailable", "ClosedError",
            "ConfigurationError", "ConflictError", "InvalidInputError", "LocalSettings",
            "NotFound", "OwnershipError", "PartialWriteError", "RedisSettings", "RetrySettings",
            "SchemaVersionError", "SerializationError", "ServerBinaryNotFound",
            "UnsupportedFilterError", "WeaviateSettings", "__version__",
            "ForgetReport", "ForgetIncomplete", "forget_user", "aforget_user",
            "Consolidator", "ConsolidationReport", "ExtractionError", "Fact", "FactExtractor",
            "FactMemory", "FactOp", "Turn",
            "ExportFileError", "ExportReport", "ImportReport", "export_user", "aexport_user",
            "import_user", "aimport_user",
        ]
    )  # fmt: skip
    for name in agentmem.__all__:
        assert hasattr(agentmem, name), name


def test_core_import_loads_no_framework() -> None:
    # A fresh interpreter, so modules imported by other tests do not count.
    code = (
        "import sys, agentmem, agentmem.core, agentmem.local, agentmem.cli;"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r}];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_agentmem_leaves_the_warning_filters_as_they_were() -> None:
    # weaviate-client sets filters when imported (one shows every DeprecationWarning of the whole
    # program). The adapters add none of their own; the frameworks they import keep theirs.
    code = (
        "import warnings\n"
        "before = list(warnings.filters)\n"
        "import agentmem, agentmem.cli, agentmem.local\n"
        "assert warnings.filters == before, ('core', warnings.filters)\n"
        "import langchain.agents, langchain_core.vectorstores, langgraph.graph\n"
        "import llama_index.core, llama_index.core.vector_stores, workflows\n"
        "before = list(warnings.filters)\n"
        "import langchain_agentmem, langchain_agentmem.memory\n"
        "import llamaindex_agentmem, llamaindex_agentmem.memory, llamaindex_agentmem.workflows\n"
        "assert warnings.filters == before, ('adapters', warnings.filters)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_errors_derive_from_one_root_and_from_builtins_callers_catch() -> None:
    from agentmem import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.AgentMemError), name
    assert issubclass(errors.InvalidInputError, ValueError)
    assert issubclass(errors.UnsupportedFilterError, ValueError)
    assert issubclass(errors.NotFound, KeyError)
    assert issubclass(errors.ExportFileError, errors.InvalidInputError)
    assert issubclass(errors.BackendTimeout, errors.BackendUnavailable)
