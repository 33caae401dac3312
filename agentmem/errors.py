"""The agentmem exception hierarchy.

Everything agentmem raises derives from :class:`AgentMemError`. Backend exceptions (redis-py,
weaviate-client) are translated into these classes in exactly one place, ``agentmem._translate``,
always chained with ``raise ... from exc`` so the original stays visible in tracebacks::

    AgentMemError
    ├── ConfigurationError            settings are missing or contradict each other
    │   └── ServerBinaryNotFound      no Weaviate / Redis server binary could be found or built
    ├── BackendUnavailable            a server could not be reached or refused the connection
    │   ├── BackendTimeout            a call did not finish within the configured timeout
    │   ├── AuthenticationFailed      the server wants credentials, or refused the ones given
    │   └── ForgetIncomplete          forget_user stopped part way; ``report`` says what went
    ├── BackendError                  the server answered with an error agentmem cannot classify
    ├── ClosedError                   the object was closed and cannot be used again
    ├── InvalidInputError (ValueError)  an argument is malformed: a bad id, an oversized message
    │   ├── SerializationError        a value cannot be serialized
    │   ├── ExportFileError           an export file is truncated, edited or not an export
    │   └── UnsupportedFilterError    a filter the backend cannot express
    ├── NotFound (KeyError)           the named item does not exist
    ├── OwnershipError (PermissionError)  the item belongs to another user
    ├── ConflictError                 a concurrent writer changed what this call depended on
    ├── SchemaVersionError            stored data was written by a newer agentmem
    ├── PartialWriteError             some items of a batch were stored and some were not
    └── ExtractionError               a model's answer to consolidation was not valid operations

Where callers already catch a builtin (``ValueError`` for bad input, ``KeyError`` for a missing
item, ``PermissionError`` for another user's item), the agentmem class also derives from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentmem.forget import ForgetReport

__all__ = [
    "AgentMemError",
    "AuthenticationFailed",
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "ClosedError",
    "ConfigurationError",
    "ConflictError",
    "ExportFileError",
    "ExtractionError",
    "ForgetIncomplete",
    "InvalidInputError",
    "NotFound",
    "OwnershipError",
    "PartialWriteError",
    "SchemaVersionError",
    "SerializationError",
    "ServerBinaryNotFound",
    "UnsupportedFilterError",
]


class AgentMemError(Exception):
    """Root of every exception agentmem raises."""


class ConfigurationError(AgentMemError):
    """Settings are missing, malformed or contradict each other."""


class ServerBinaryNotFound(ConfigurationError):
    """No server binary could be found, built or downloaded for the local default."""


class BackendUnavailable(AgentMemError):
    """A backend server could not be reached, or dropped the connection.

    Attributes:
        backend: ``"redis"`` or ``"weaviate"``.
    """

    def __init__(self, message: str, *, backend: str) -> None:
        super().__init__(message)
        self.backend = backend


class BackendTimeout(BackendUnavailable):
    """A backend call did not finish within the configured timeout."""


class AuthenticationFailed(BackendUnavailable):
    """The backend requires credentials that were not given, or refused the ones given."""


class ForgetIncomplete(BackendUnavailable):
    """``forget_user`` could not reach a server part way: some of the user's data is gone.

    Running the same ``forget_user`` (or ``agentmem forget``) again once the server answers
    deletes the rest: the index of the user's threads and runs is removed last.

    Attributes:
        backend: the server that could not be reached, ``"redis"`` or ``"weaviate"``.
        report: the :class:`agentmem.ForgetReport` of what was deleted before the failure.
    """

    def __init__(self, message: str, *, backend: str, report: ForgetReport) -> None:
        super().__init__(message, backend=backend)
        self.report = report


class BackendError(AgentMemError):
    """The backend answered with an error that agentmem has no more specific class for.

    Attributes:
        backend: ``"redis"`` or ``"weaviate"``.
    """

    def __init__(self, message: str, *, backend: str) -> None:
        super().__init__(message)
        self.backend = backend


class ClosedError(AgentMemError):
    """The object was closed; build a new one instead of reusing it."""


class InvalidInputError(AgentMemError, ValueError):
    """An argument is malformed: a bad id, an oversized message, a wrong type."""


class SerializationError(InvalidInputError):
    """A value could not be serialized (or stored bytes could not be read back)."""


class ExportFileError(InvalidInputError):
    """An export file cannot be imported: truncated, edited, or not an agentmem export.

    Raised by :func:`agentmem.import_user` after checking the whole file and before writing
    anything, so nothing was written. The message names the line and says what to do.

    Attributes:
        line: the number (from 1) of the line at fault, or None when it is the whole file.
    """

    def __init__(self, message: str, *, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class UnsupportedFilterError(InvalidInputError):
    """A filter uses something the backend cannot express; nothing was queried.

    Attributes:
        node: the filter node that could not be translated.
        backend: the backend that cannot express it.
    """

    def __init__(self, message: str, *, node: object = None, backend: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.backend = backend


class NotFound(AgentMemError, KeyError):
    """The named item does not exist."""

    def __str__(self) -> str:
        # KeyError's __str__ quotes its argument; a message reads better unquoted.
        return str(self.args[0]) if self.args else ""


class OwnershipError(AgentMemError, PermissionError):
    """The item (a LangGraph thread, say) belongs to another user; nothing was read or written."""


class ConflictError(AgentMemError):
    """A concurrent writer changed what this call depended on; retry the call."""


class SchemaVersionError(AgentMemError):
    """Stored data has a schema version this code does not know (written by a newer agentmem)."""


class PartialWriteError(AgentMemError):
    """A batch write stored some items and not others.

    Attributes:
        succeeded: ids of the items that were stored.
        failed: id -> reason for each item that was not stored.
    """

    def __init__(
        self, message: str, *, succeeded: Sequence[str], failed: Mapping[str, str]
    ) -> None:
        super().__init__(message)
        self.succeeded = list(succeeded)
        self.failed = dict(failed)


class ExtractionError(AgentMemError):
    """A model's answer to consolidation is not valid operations (see
    :func:`agentmem.facts.parse_operations`); nothing of the batch was applied. The consolidation
    worker retries the batch with backoff, then parks it with this message as its reason."""
