"""The write plan of long-term memory: batched upserts whose every result is checked.

Split from :mod:`agentmem._weaviate.plans` (which re-exports :func:`add`); see there for how plans
run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import weaviate.exceptions as wx
from weaviate.classes.config import DataType, Property
from weaviate.classes.data import DataObject

from agentmem._plan import Call, Plan
from agentmem._weaviate import schema
from agentmem._weaviate.codec import Prepared
from agentmem._weaviate.lifecycle import Target, add_property, col, ensure, refresh
from agentmem.errors import BackendError, BackendUnavailable, PartialWriteError

__all__ = ["add", "collection_gone", "insert"]


def insert(t: Target, data: list[DataObject[Any, Any]]) -> Call:
    # Upserts by deterministic UUID, so a retry after a dropped connection is harmless.
    return Call("longterm.add", lambda c: col(c, t).data.insert_many(data), True)


def add(t: Target, batches: Sequence[Sequence[Prepared]]) -> Plan[None]:
    """Upsert ``batches`` (checked and cut by :mod:`~agentmem._weaviate.codec` before this plan
    runs, so nothing in them can fail to encode), checking every object's result."""
    objects = [o for batch in batches for o in batch]
    if not objects:
        return
    yield from ensure(t)
    yield from _number_properties(t, objects)
    succeeded: list[str] = []
    failed: dict[str, str] = {}
    start = 0
    for chunk in batches:
        data = [DataObject(properties=o.properties, uuid=o.uuid, vector=o.vector) for o in chunk]
        try:
            result = yield from _insert_batch(t, data, objects)
        except BackendUnavailable as exc:
            # The server went away mid-write (after the driver's retries): earlier batches are
            # stored, this one may be in part, later ones are not. Upserts are idempotent, so
            # re-running the same write stores each memory once.
            reason = f"not confirmed: {exc}; re-run the write (upserts are idempotent)"
            failed.update({o.memory_id: reason for o in objects[start:]})
            raise PartialWriteError(
                f"Weaviate became unreachable after {len(succeeded)} of {len(objects)} memories "
                "were stored; see .succeeded and .failed, and re-run the write once it is back",
                succeeded=succeeded,
                failed=failed,
            ) from exc
        if isinstance(result, str):  # the server refused every object of this batch
            failed.update({o.memory_id: result for o in chunk})
        else:
            errors = result.errors
            for index, obj in enumerate(chunk):
                if index in errors:
                    failed[obj.memory_id] = str(errors[index].message)
                else:
                    succeeded.append(obj.memory_id)
        start += len(chunk)
    if failed:
        raise PartialWriteError(
            f"{len(failed)} of {len(objects)} memories were not stored"
            + (" (the others were)" if succeeded else "")
            + "; see .failed for each reason and retry those",
            succeeded=succeeded,
            failed=failed,
        )


def _number_properties(t: Target, objects: Sequence[Prepared]) -> Plan[None]:
    wanted = {name for o in objects for name in o.properties if name.startswith("n_")}
    if wanted - t.props:
        # Another process may have added some since this one looked.
        yield from refresh(t, check=False)
    for name in sorted(wanted - t.props):
        prop = Property(name=name, data_type=DataType.NUMBER, index_range_filters=True)
        yield add_property(t, prop)
        t.props.add(name)


def _insert_batch(
    t: Target, data: list[DataObject[Any, Any]], objects: Sequence[Prepared]
) -> Plan[Any]:
    """One batch: the client's result, or one reason (a str) when the server refused every
    object (the client then raises instead of returning per-object errors).

    If the collection was removed by another process after this one cached it, the insert makes
    Weaviate's auto-schema create an empty stand-in of the same name without multi-tenancy, and
    every object is refused. The stand-in is removed, the collection created properly, and the
    batch sent once more.
    """
    for attempt in (1, 2):
        try:
            return (yield insert(t, data))
        except BackendError as exc:
            if not isinstance(exc.__cause__, wx.WeaviateInsertManyAllFailedError):
                raise
            text = str(exc)
            if attempt == 2 or not _collection_vanished(text):
                return text
        yield from _replace_stand_in(t)
        yield from _number_properties(t, objects)
    raise AssertionError("unreachable")  # pragma: no cover


def _collection_vanished(text: str) -> bool:
    return "multi-tenancy disabled" in text or collection_gone(text.lower())


def _replace_stand_in(t: Target) -> Plan[None]:
    t.ready = False
    t.props = set()
    t.known.tenants.clear()
    t.known.clean = False
    exists = yield Call("longterm.exists", lambda c: c.collections.exists(t.collection), True)
    if exists:
        config = yield Call(
            "longterm.config", lambda c: c.collections.use(t.collection).config.get(), True
        )
        description = config.description or ""
        if (
            schema.parse_version(description) is None
            and "auto-schema" in description
            and not config.multi_tenancy_config.enabled
        ):
            yield Call("longterm.drop_stand_in", lambda c: c.collections.delete(t.collection), True)
    yield from ensure(t)


def collection_gone(text: str) -> bool:
    return "could not find class" in text or "collection not found" in text
