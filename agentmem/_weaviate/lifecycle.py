"""Schema lifecycle plans: create or migrate the collection, check its version, make the tenant.

Run through :mod:`agentmem._plan` like every other plan; :class:`Target` carries this process's
cache of what is already known to exist, so steady-state calls skip all of this.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import weaviate.exceptions as wx
from weaviate.classes.config import ConsistencyLevel, Property
from weaviate.classes.tenants import Tenant

from agentmem._plan import Call, Plan
from agentmem._weaviate import schema
from agentmem._weaviate.codec import DEAD
from agentmem.errors import BackendError, SchemaVersionError

__all__ = [
    "BM25_FIXED_IN", "DELETES_FIXED_IN", "Known", "Target", "add_property", "bm25_window", "col",
    "deletes_are_real", "drop_tombstones", "ensure", "locate", "parse_version", "refresh",
    "server_version", "setup",
]  # fmt: skip


@dataclass
class Known:
    """What this process has checked about one collection: shared by every memory object built
    on the same :class:`~agentmem.AgentMem`, so a per-request object costs no extra calls."""

    ready: bool = False
    props: set[str] = field(default_factory=set)
    tenants: set[str] = field(default_factory=set)
    server: tuple[int, ...] | None = None  # the server's version, read once
    # No tombstone is in the collection: on a server where deletes are real, this process created
    # it, or its setup() removed every tenant's tombstones. Searches then leave out the "alive"
    # filter (see agentmem._weaviate.plans.search).
    clean: bool = False
    # Tenant-bound collection handles, per client (sync, or one async client per event loop).
    handles: WeakKeyDictionary[Any, dict[tuple[str, str | None], Any]] = field(
        default_factory=WeakKeyDictionary, repr=False, compare=False
    )


# weaviate#11780: BlockMax-WAND could prune rare-term matches still in the memtable once a limited
# result heap filled. Fixed in 1.38.2 (and every 1.39).
_log = logging.getLogger("agentmem")

BM25_FIXED_IN = (1, 38, 2)
BM25_WINDOW = 1000  # candidates ranked on servers before the fix

# Weaviate 1.35 answers negated filters (not, containsNone, !=) wrongly for an id that was deleted
# and written again: the negation still sees the deleted version. 1.38.5 answers them right
# (single node and a 3-node cluster, with and without tenants; `tests/test_longterm_deletes.py`).
# No release between the two was tried, so the gate is the first version shown to be right.
DELETES_FIXED_IN = (1, 38, 5)


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.38.5"`` -> ``(1, 38, 5)``; suffixes (``-rc.1``) and junk end the numbers; ``()`` when
    nothing parses (treated as the oldest server: every workaround applies)."""
    numbers: list[int] = []
    for part in text.strip().lstrip("v").split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        numbers.append(int(digits))
        if len(digits) < len(part):
            break
    return tuple(numbers)


def server_version(t: Target) -> Plan[tuple[int, ...]]:
    """The server's version, asked once per :class:`Known` (that is, per AgentMem and collection)."""
    if t.known.server is None:
        meta = yield Call("weaviate.meta", lambda c: c.get_meta(), True)
        t.known.server = version = parse_version(str((meta or {}).get("version", "")))
        shown = ".".join(map(str, version)) or "of unknown version"
        _log.info(
            "Weaviate %s for %s: BM25 window %s, deletes %s", shown, t.collection,
            "off" if version >= BM25_FIXED_IN else f"{BM25_WINDOW} (weaviate#11780)",
            "real" if version >= DELETES_FIXED_IN else "as tombstones, negations re-checked",
        )  # fmt: skip
    return t.known.server


def bm25_window(t: Target, limit: int) -> Plan[int]:
    """How many candidates a BM25 or hybrid query ranks: ``limit`` on a server with the
    weaviate#11780 fix, :data:`BM25_WINDOW` before it, or what the caller asked for."""
    window = t.bm25_window
    if window is None:
        fixed = (yield from server_version(t)) >= BM25_FIXED_IN
        window = 0 if fixed else BM25_WINDOW
    return max(limit, window)


def deletes_are_real(t: Target) -> Plan[bool]:
    """Whether deletes remove objects and negated results need no re-check: a server at
    :data:`DELETES_FIXED_IN` or later. Below it, deletes write tombstones (see
    :func:`agentmem._weaviate.plans.delete`) and negated results are checked in Python."""
    return (yield from server_version(t)) >= DELETES_FIXED_IN


@dataclass
class Target:
    """Where a memory object reads and writes, and what is known to exist there."""

    collection: str
    tenant: str
    known: Known = field(default_factory=Known)
    bm25_window: int | None = None  # None: chosen from the server's version
    replication_factor: int | None = None  # of the collection, when agentmem creates it
    consistency: str | None = None  # "ONE" / "QUORUM" / "ALL" for every read and write

    @property
    def ready(self) -> bool:
        """The collection exists at the current schema version."""
        return self.known.ready

    @ready.setter
    def ready(self, value: bool) -> None:
        self.known.ready = value

    @property
    def props(self) -> set[str]:
        """The collection's property names."""
        return self.known.props

    @props.setter
    def props(self, value: set[str]) -> None:
        self.known.props = value

    @property
    def tenant_ready(self) -> bool:
        """The tenant exists."""
        return self.tenant in self.known.tenants

    @tenant_ready.setter
    def tenant_ready(self, value: bool) -> None:
        if value:
            self.known.tenants.add(self.tenant)
        else:
            self.known.tenants.discard(self.tenant)


_HANDLES_PER_CLIENT = 1024  # tenants whose handles are kept per client (then made anew)


def col(client: Any, t: Target) -> Any:
    """The tenant-bound collection handle of ``t`` on a sync or async client (no I/O).

    Made once per client and tenant and kept in ``t.known`` (building one costs two collection
    objects of the client). The client's own argument checks are skipped: agentmem checks every
    argument before a plan runs and builds each call itself, with the client's types.
    """
    try:
        return t.known.handles[client][t.tenant, t.consistency]
    except KeyError:
        pass
    handle = client.collections.use(t.collection, skip_argument_validation=True)
    handle = handle.with_tenant(t.tenant)
    if t.consistency is not None:
        handle = handle.with_consistency_level(ConsistencyLevel[t.consistency])
    per_client = t.known.handles.setdefault(client, {})
    if len(per_client) >= _HANDLES_PER_CLIENT:
        per_client.clear()
    per_client[t.tenant, t.consistency] = handle
    return handle


def _tolerate_exists(label: str, fn: Callable[[Any], Any]) -> Call:
    """A call whose "already exists" answer counts as success: another process got there first."""

    def run(c: Any) -> Any:
        try:
            result = fn(c)
        except wx.WeaviateBaseError as exc:
            if not _exists(exc):
                raise
            return None
        return _absorb_exists(result) if inspect.isawaitable(result) else result

    return Call(label, run)


def _exists(exc: wx.WeaviateBaseError) -> bool:
    # A duplicate collection is a 422 "already exists"; a duplicate property is refused by the
    # client ("already exists") or, when two writers race past that check, by the server with a
    # 422 "conflict for property ...: already in use".
    text = str(exc)
    return "already exists" in text or "already in use" in text


async def _absorb_exists(pending: Awaitable[Any]) -> Any:
    try:
        return await pending
    except wx.WeaviateBaseError as exc:
        if not _exists(exc):
            raise
        return None


def _create(t: Target) -> Call:
    # The winner's schema version is checked right after, so losing the race is harmless.
    kwargs = schema.create_kwargs(t.collection, replication_factor=t.replication_factor)
    return _tolerate_exists("longterm.create", lambda c: c.collections.create(**kwargs))


def _create_new(t: Target) -> Plan[None]:
    """Create the collection; one this process made on a server where deletes are real holds no
    tombstone (one that another process made first is not assumed to)."""
    created = yield _create(t)
    if created is not None:
        t.known.clean = yield from deletes_are_real(t)


def add_property(t: Target, prop: Property) -> Call:
    """Add ``prop`` to the collection (fine if another process just added it)."""
    return _tolerate_exists(
        "longterm.add_property",
        lambda c: c.collections.use(t.collection).config.add_property(prop),
    )


def _reconfigure(t: Target, changes: dict[str, Any]) -> Call:
    return Call(
        "longterm.migrate",
        lambda c: c.collections.use(t.collection).config.update(**changes),
        True,  # setting the same values again changes nothing
    )


def _describe(t: Target, description: str) -> Call:
    return Call(
        "longterm.migrate",
        lambda c: c.collections.use(t.collection).config.update(description=description),
        True,
    )


def _version_error(t: Target, found: int | None) -> SchemaVersionError:
    if found is None:
        return SchemaVersionError(
            f"collection {t.collection!r} exists but was not created by agentmem (no "
            "schema_version in its description); choose another collection name"
        )
    if found > schema.SCHEMA_VERSION:
        return SchemaVersionError(
            f"collection {t.collection!r} has schema version {found}, newer than this agentmem "
            f"({schema.SCHEMA_VERSION}); upgrade agentmem"
        )
    return SchemaVersionError(
        f"collection {t.collection!r} has schema version {found}, older than this agentmem "
        f"({schema.SCHEMA_VERSION}); call setup() (or asetup()) once to migrate it"
    )


def setup(t: Target) -> Plan[int]:
    """Create the collection, or apply the missing migrations in order. Returns the version."""
    exists = yield Call("longterm.exists", lambda c: c.collections.exists(t.collection), True)
    if not exists:
        yield from _create_new(t)
    else:
        config = yield Call(
            "longterm.config", lambda c: c.collections.use(t.collection).config.get(), True
        )
        found = schema.parse_version(config.description)
        if found is None or found > schema.SCHEMA_VERSION:
            raise _version_error(t, found)
        names = {p.name for p in config.properties}
        for migration in schema.MIGRATIONS:
            if migration.version <= found:
                continue
            for prop in schema.missing(migration.properties(), names):
                yield add_property(t, prop)
                names.add(prop.name)
            if migration.reconfigure is not None:
                yield _reconfigure(t, migration.reconfigure())
            description = schema.describe(migration.version)
            yield _describe(t, description)
            _log.info("migrated %s to schema version %d", t.collection, migration.version)
        yield from drop_tombstones(t)
        t.known.clean = yield from deletes_are_real(t)  # every tenant's tombstones just went
    t.ready = False
    yield from ensure(t)
    return schema.SCHEMA_VERSION


_PAGE = 10_000  # the most objects one delete_many removes (Weaviate's QUERY_MAXIMUM_RESULTS)


def drop_tombstones(t: Target) -> Plan[int]:
    """Remove the tombstones of every tenant, on a server where deletes are real (a no-op
    before :data:`DELETES_FIXED_IN`, where they are still needed). Returns how many went.

    One call lists the tenants, then one ``delete_many`` per tenant (more for a tenant with over
    ten thousand tombstones). A tenant with none costs that one call.

    Raises:
        BackendError: the server refused to remove some (run ``setup()`` again).
    """
    if not (yield from deletes_are_real(t)):
        return 0
    tenants = yield Call(
        "longterm.tenants", lambda c: c.collections.use(t.collection).tenants.get(), True
    )
    total = 0
    for tenant in sorted(tenants):
        target = Target(t.collection, tenant, t.known, consistency=t.consistency)
        while True:
            result = yield _delete_dead(target)
            total += result.successful
            if result.failed:
                raise BackendError(
                    f"{result.failed} tombstones of tenant {tenant!r} in {t.collection!r} could "
                    f"not be removed ({total} were); run setup() again",
                    backend="weaviate",
                )
            if result.matches < _PAGE:
                break
    return total


def _delete_dead(t: Target) -> Call:
    # Removing what is already gone removes nothing, so a retry is harmless.
    return Call("longterm.drop_tombstones", lambda c: col(c, t).data.delete_many(where=DEAD), True)


def ensure(t: Target) -> Plan[None]:
    """Make sure the collection (current version) and the tenant exist; cached after the first time.

    What :func:`locate` finds missing is created: a missing collection at the current version
    (zero-config; migrating an existing one is left to an explicit ``setup()``), then the tenant.
    """
    missing = yield from locate(t)
    if missing == "collection":
        yield from _create_new(t)
        # Also after creating: another process may have won the race with its own version.
        yield from refresh(t, check=True)
        t.ready = True
        missing = yield from locate(t)  # only this tenant is asked about, never the whole list
    if missing == "tenant":
        yield Call(
            "longterm.tenant",
            lambda c: c.collections.use(t.collection).tenants.create([Tenant(name=t.tenant)]),
            True,  # creating an existing tenant is a no-op on Weaviate 1.35
        )
        t.tenant_ready = True


def locate(t: Target) -> Plan[str | None]:
    """What a read needs, checked without creating anything: ``None`` when the collection (at the
    current version) and the tenant exist, else ``"collection"`` or ``"tenant"``, whichever is
    missing. Only writes create (:func:`ensure`); what is found is cached like there, what is
    missing is asked again next time (a write may create it meanwhile)."""
    if not t.ready:
        exists = yield Call("longterm.exists", lambda c: c.collections.exists(t.collection), True)
        if not exists:
            return "collection"
        yield from refresh(t, check=True)
        t.ready = True
    if not t.tenant_ready:
        found = yield Call(
            "longterm.tenant",
            lambda c: c.collections.use(t.collection).tenants.get_by_names([t.tenant]),
            True,
        )
        if t.tenant not in found:
            return "tenant"
        t.tenant_ready = True
    return None


def refresh(t: Target, *, check: bool) -> Plan[None]:
    config = yield Call(
        "longterm.config", lambda c: c.collections.use(t.collection).config.get(), True
    )
    if check:
        found = schema.parse_version(config.description)
        if found != schema.SCHEMA_VERSION:
            raise _version_error(t, found)
    t.props = {p.name for p in config.properties}
