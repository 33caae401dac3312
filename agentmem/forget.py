"""Forget a user: delete everything agentmem keeps about one user, in all three memories.

:func:`forget_user` (and :func:`aforget_user`) delete, in this order:

1. the user's LangGraph threads and saved workflow runs, found in the user's owner index (the
   adapters link them when they are given a ``user_id``; see
   :meth:`agentmem.CheckpointStore.link_user`), plus any ``threads`` named by the caller;
2. every chat session of the user (messages, archive, metadata and index), after the user's
   consolidation queue (turns waiting to become facts, parked batches), so no worker forms new
   facts from them;
3. the user's tenant in every agentmem collection on the Weaviate server that has one
   (long-term memories written through LangChain, LangGraph's store and LlamaIndex alike);
4. the owner index itself, last, so an interrupted call can simply be run again.

If a server cannot be reached part way (Weaviate down, say, after the Redis part is gone), the
call raises :class:`~agentmem.errors.ForgetIncomplete`: its ``report`` is what was deleted, and
its message says what is left and what to do (``agentmem up`` for the local default servers,
else which URL setting to check); running the same call again deletes the rest.

Example:
    >>> report = forget_user("ada")
    >>> report.sessions, report.threads, report.runs, report.collections
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentmem._plan import Call, Plan
from agentmem._redis import fact_queue as queue
from agentmem._redis import owner_plans as owners
from agentmem._redis.keys import check_prefix
from agentmem._weaviate.schema import parse_version, tenant_name
from agentmem.checkpoints import CheckpointStore
from agentmem.config import redact_url
from agentmem.core import AgentMem
from agentmem.errors import BackendUnavailable, ForgetIncomplete, OwnershipError
from agentmem.longterm import LongTermMemory
from agentmem.runs import RunStore
from agentmem.sessions import SessionStore

__all__ = ["ForgetReport", "aforget_user", "forget_user"]


@dataclass
class ForgetReport:
    """What :func:`forget_user` deleted.

    Attributes:
        user_id: the user.
        sessions: ids of the chat sessions deleted.
        threads: ids of the LangGraph threads deleted.
        runs: ``(workflow, run id)`` of the saved workflow runs deleted.
        collections: the Weaviate collections the user had a tenant in, now removed (their
            formed facts among them).
        queued: batches of turns that were waiting for consolidation (or parked), dropped.
    """

    user_id: str
    sessions: list[str] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)
    runs: list[tuple[str, str]] = field(default_factory=list)
    collections: list[str] = field(default_factory=list)
    queued: int = 0

    def summary(self) -> str:
        """What was deleted, in words (e.g. for a log line or the CLI)."""
        longterm = (
            f"the tenant in {', '.join(self.collections)}"
            if self.collections
            else "no Weaviate tenant"
        )
        return (
            f"{_count(self.sessions, 'chat session')}, {_count(self.threads, 'LangGraph thread')}, "
            f"{_count(self.runs, 'workflow run')}, "
            f"{_count(range(self.queued), 'queued consolidation batch', 'es')} and {longterm}"
        )


def _count(items: Sequence[object], noun: str, plural: str = "s") -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else plural}"


def _incomplete(
    mem: AgentMem, report: ForgetReport, error: BackendUnavailable, longterm: bool
) -> ForgetIncomplete:
    """The error for a forget that stopped part way: what went, what is left, what to do."""
    settings = mem.settings
    if error.backend == "weaviate":
        name, url, local = "Weaviate", settings.weaviate.url, settings.local.weaviate_url
        left = "the user's long-term memory in Weaviate"
    else:
        name, url, local = "Redis", settings.redis.url, settings.local.redis_url
        left = "the rest of the user's sessions, threads and runs in Redis"
        if longterm and not report.collections:
            left += ", and maybe their long-term memory in Weaviate"
    if url == local:
        advice = f"Start the local {name} with `agentmem up`"
    else:
        advice = (
            f"Make sure the {name} at {redact_url(url)} answers "
            f"(AGENTMEM_{name.upper()}_URL or {name}Settings.url)"
        )
    if error.backend == "weaviate":
        advice += " (or pass longterm=False, CLI --redis-only, if you keep no long-term memory)"
    return ForgetIncomplete(
        f"forgetting user {report.user_id!r} stopped part way because {name} could not be "
        f"reached. Deleted so far: {report.summary()} (the error's .report lists them). Still "
        f"there: {left}. {advice}, then run it again: a re-run deletes what is left. "
        f"The cause: {error}",
        backend=error.backend,
        report=report,
    )


def _queue(mem: AgentMem) -> queue.QueueConfig:
    return queue.QueueConfig(check_prefix(mem.key_prefix), mem.settings.redis.cluster)


def _holding(user_id: str) -> Plan[list[str]]:
    """The agentmem collections (their description carries a schema version) in which
    ``user_id`` has a tenant."""
    tenant = tenant_name(user_id)
    configs = yield Call("forget.collections", lambda c: c.collections.list_all(simple=True), True)
    found = []
    for name in sorted(n for n, c in configs.items() if parse_version(c.description) is not None):
        tenants = yield Call("forget.tenant", _tenant_lookup(name, tenant), True)
        if tenant in tenants:
            found.append(name)
    return found


def _tenant_lookup(collection: str, tenant: str) -> Callable[[Any], Any]:
    return lambda c: c.collections.use(collection).tenants.get_by_names([tenant])


def forget_user(
    user_id: str,
    *,
    memory: AgentMem | None = None,
    threads: Sequence[str] = (),
    longterm: bool = True,
) -> ForgetReport:
    """Delete every session, linked thread and run, and long-term memory of ``user_id``.

    Args:
        user_id: the user to forget.
        memory: the :class:`AgentMem` to use (``None``: one from ``AGENTMEM_*`` variables).
        threads: more LangGraph thread ids to delete (threads written without a ``user_id``;
            one that belongs to another user raises ``OwnershipError``).
        longterm: also remove the user's Weaviate tenants; ``False`` leaves Weaviate alone (for
            deployments that use only the Redis memories).

    Returns:
        A :class:`ForgetReport` of what was deleted. Running it again deletes nothing more.

    Raises:
        ForgetIncomplete: a server could not be reached part way; ``report`` is what was
            deleted, and running the call again once the server answers deletes the rest.
        OwnershipError: a thread named in ``threads`` belongs to another user; checked before
            anything is deleted, so nothing is.
    """
    mem = memory if memory is not None else AgentMem()
    report = ForgetReport(user_id)
    try:
        prefix = check_prefix(mem.key_prefix)
        checkpoints, runs = CheckpointStore(mem), RunStore(mem)
        for thread in threads:  # another user's thread refuses before anything is deleted
            checkpoints.get(thread, user_id=user_id)
        owned = mem.run(owners.owned(prefix, user_id), "redis")
        for item in owned:
            if item.kind == "thread":
                try:
                    checkpoints.delete_thread(item.id, user_id=user_id)
                except OwnershipError:
                    continue  # a stale link to another user's thread: not this user's data
                report.threads.append(item.id)
            elif runs.delete(item.workflow or "", item.id):
                report.runs.append((item.workflow or "", item.id))
        for thread in threads:
            checkpoints.delete_thread(thread, user_id=user_id)
            report.threads.append(thread)
        report.queued = mem.run(queue.drop_user(_queue(mem), user_id), "redis")
        sessions = SessionStore(mem, user_id=user_id)
        for info in sessions.list_sessions():
            sessions.clear(info.session_id)
            report.sessions.append(info.session_id)
        names = mem.run(_holding(user_id), "weaviate") if longterm else []
        for name in names:
            LongTermMemory(mem, tenant=user_id, collection=name).drop_tenant()
            report.collections.append(name)
        mem.run(owners.unlink_all(prefix, user_id), "redis")
        return report
    except BackendUnavailable as exc:
        raise _incomplete(mem, report, exc, longterm) from exc
    finally:
        if memory is None:
            mem.close()


async def aforget_user(
    user_id: str,
    *,
    memory: AgentMem | None = None,
    threads: Sequence[str] = (),
    longterm: bool = True,
) -> ForgetReport:
    """Async twin of :func:`forget_user`."""
    mem = memory if memory is not None else AgentMem()
    report = ForgetReport(user_id)
    try:
        prefix = check_prefix(mem.key_prefix)
        checkpoints, runs = CheckpointStore(mem), RunStore(mem)
        for thread in threads:  # another user's thread refuses before anything is deleted
            await checkpoints.aget(thread, user_id=user_id)
        owned = await mem.arun(owners.owned(prefix, user_id), "redis")
        for item in owned:
            if item.kind == "thread":
                try:
                    await checkpoints.adelete_thread(item.id, user_id=user_id)
                except OwnershipError:
                    continue  # a stale link to another user's thread: not this user's data
                report.threads.append(item.id)
            elif await runs.adelete(item.workflow or "", item.id):
                report.runs.append((item.workflow or "", item.id))
        for thread in threads:
            await checkpoints.adelete_thread(thread, user_id=user_id)
            report.threads.append(thread)
        report.queued = await mem.arun(queue.drop_user(_queue(mem), user_id), "redis")
        sessions = SessionStore(mem, user_id=user_id)
        for info in await sessions.alist_sessions():
            await sessions.aclear(info.session_id)
            report.sessions.append(info.session_id)
        names = []
        if longterm:
            names = await mem.arun(_holding(user_id), "weaviate")
        for name in names:
            await LongTermMemory(mem, tenant=user_id, collection=name).adrop_tenant()
            report.collections.append(name)
        await mem.arun(owners.unlink_all(prefix, user_id), "redis")
        return report
    except BackendUnavailable as exc:
        raise _incomplete(mem, report, exc, longterm) from exc
    finally:
        if memory is None:
            await mem.aclose()
