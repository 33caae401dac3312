"""agentmem: long-term, session and workflow memory for agents, on Weaviate and plain Redis."""

from __future__ import annotations

import warnings

# weaviate-client changes the process's warning filters when it is imported (`simplefilter("default")`
# shows every DeprecationWarning of the whole program; protobuf and authlib filters come along).
# agentmem imports it here, first, and puts the program's own filters back afterwards.
with warnings.catch_warnings():
    from importlib.metadata import PackageNotFoundError, version

    import weaviate  # noqa: F401  (imported for the filters it sets, undone at the end of the block)

    from agentmem._store import SHARED
    from agentmem.checkpoints import CheckpointStore
    from agentmem.config import (
        AgentMemSettings,
        LocalSettings,
        RedisSettings,
        RetrySettings,
        WeaviateSettings,
    )
    from agentmem.consolidation import ConsolidationReport, Consolidator
    from agentmem.core import AgentMem
    from agentmem.errors import (
        AgentMemError,
        AuthenticationFailed,
        BackendError,
        BackendTimeout,
        BackendUnavailable,
        ClosedError,
        ConfigurationError,
        ConflictError,
        ExportFileError,
        ExtractionError,
        ForgetIncomplete,
        InvalidInputError,
        NotFound,
        OwnershipError,
        PartialWriteError,
        SchemaVersionError,
        SerializationError,
        ServerBinaryNotFound,
        UnsupportedFilterError,
    )
    from agentmem.export import (
        ExportReport,
        ImportReport,
        aexport_user,
        aimport_user,
        export_user,
        import_user,
    )
    from agentmem.facts import Fact, FactExtractor, FactMemory, FactOp, Turn
    from agentmem.forget import ForgetReport, aforget_user, forget_user
    from agentmem.longterm import LongTermMemory, MemoryHit, MemoryRecord
    from agentmem.runs import RunStateError, RunStore
    from agentmem.sessions import SessionStore

try:
    __version__ = version("agentmem")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "SHARED",
    "AgentMem",
    "AgentMemError",
    "AgentMemSettings",
    "AuthenticationFailed",
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "CheckpointStore",
    "ClosedError",
    "ConfigurationError",
    "ConflictError",
    "ConsolidationReport",
    "Consolidator",
    "ExportFileError",
    "ExportReport",
    "ExtractionError",
    "Fact",
    "FactExtractor",
    "FactMemory",
    "FactOp",
    "ForgetIncomplete",
    "ForgetReport",
    "ImportReport",
    "InvalidInputError",
    "LocalSettings",
    "LongTermMemory",
    "MemoryHit",
    "MemoryRecord",
    "NotFound",
    "OwnershipError",
    "PartialWriteError",
    "RedisSettings",
    "RetrySettings",
    "RunStateError",
    "RunStore",
    "SchemaVersionError",
    "SerializationError",
    "ServerBinaryNotFound",
    "SessionStore",
    "Turn",
    "UnsupportedFilterError",
    "WeaviateSettings",
    "__version__",
    "aexport_user",
    "aforget_user",
    "aimport_user",
    "export_user",
    "forget_user",
    "import_user",
]
