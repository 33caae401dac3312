"""The long-term memory collection: its properties, versioned migrations and the record codec.

One collection (``AgentMemory`` by default) with native multi-tenancy holds every memory. The
schema version lives in the collection's description (``... schema_version=N``), so reading it
costs the same call that reads the property list. Migrations are an ordered list; each one is
idempotent (it only adds what is missing), so a crashed ``setup()`` can simply run again.

Metadata is stored three ways, because no single Weaviate property type does everything:

* ``metadata_json``: the exact caller metadata as JSON text (the source of truth on read, so any
  key, including Weaviate-reserved names such as ``id`` or ``vector``, round-trips unchanged);
* ``meta_kv`` / ``meta_keys``: field-tokenized text arrays of canonical ``[tag, key, value]`` tokens
  and of key names, which make equality, membership and presence filters work on *any* key with a
  fixed schema;
* ``n_<key>`` number properties, added on demand the first time a numeric value is written
  under a key, which make range filters work.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from weaviate.classes.config import (
    Configure,
    DataType,
    Property,
    Reconfigure,
    StopwordsPreset,
    Tokenization,
    VectorDistances,
)

from agentmem._args import check_text, utf8_size
from agentmem.errors import SerializationError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "base_properties",
    "describe",
    "id_to_uuid",
    "kv_tokens",
    "number_property",
    "parse_version",
    "tenant_name",
]

_ID_NAMESPACE = uuid.UUID("5a0c8f1e-7d1b-4c57-9a43-0c6f0f1f6a52")
_TENANT_OK = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
_PROP_OK = re.compile(r"[a-z0-9_]{1,120}")
_VERSION = re.compile(r"schema_version=(\d+)")


def id_to_uuid(memory_id: str) -> str:
    """The Weaviate object UUID of a caller id (uuid5, so any string works and maps stably).

    Raises:
        InvalidInputError: the id is not a non-empty string, or has no UTF-8 form.
    """
    return str(uuid.uuid5(_ID_NAMESPACE, check_text(memory_id, "a memory id")))


def tenant_name(tenant: str) -> str:
    """The Weaviate tenant name for a caller tenant.

    Weaviate allows ``[A-Za-z0-9_-]{1,64}``. Names in that alphabet are kept (readable in the
    console); anything else, and any name starting with ``x-``, is hashed behind an ``x-``
    marker, so two caller tenants can never share a Weaviate tenant.
    """
    check_text(tenant, "a tenant")
    if _TENANT_OK.fullmatch(tenant) and not tenant.startswith("x-"):
        return tenant
    return "x-" + hashlib.sha256(tenant.encode()).hexdigest()[:60]


def number_property(key: str) -> str:
    """Name of the number property that mirrors metadata ``key`` for range filters."""
    utf8_size(key, "a metadata key")
    if _PROP_OK.fullmatch(key):
        return f"n_k_{key}"
    return "n_h_" + hashlib.sha256(key.encode()).hexdigest()[:40]


def canonical(value: Any) -> Any:
    """Normalize a metadata value so equal values give equal tokens (``1.0`` -> ``1``)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(f"metadata numbers must be finite, got {value!r}")
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    return value


# The encoders of json.dumps with these options, made once (dumps builds one per call when given
# options); encode() keeps no state between calls, so threads may share them.
_token_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def token(tag: str, key: str, value: Any) -> str:
    """One canonical filter token: ``["v", key, value]`` or ``["e", key, element]``."""
    try:
        return _token_json([tag, key, canonical(value)])
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"metadata value at {key!r} is not JSON-serializable") from exc


def kv_tokens(metadata: Mapping[str, Any]) -> list[str]:
    """Every filter token of ``metadata``: one per key, plus one per element of a list value."""
    out: list[str] = []
    for key, value in metadata.items():
        out.append(token("v", key, value))
        if isinstance(value, (list, tuple)):
            out.extend(token("e", key, element) for element in value)
    return out


def is_number(value: object) -> bool:
    """True for ints and finite floats (booleans are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def dumps(value: Any, what: str) -> str:
    """JSON text of ``value``; SerializationError (nothing written) if it has no JSON form."""
    try:
        return _json(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(
            f"{what} must be JSON-serializable (str, number, bool, None, list, dict): {exc}"
        ) from exc


# -- schema and migrations ---------------------------------------------------------------------


def _text(name: str, *, searchable: bool = False, filterable: bool = True) -> Property:
    return Property(
        name=name,
        data_type=DataType.TEXT,
        tokenization=Tokenization.WORD if searchable else Tokenization.FIELD,
        index_searchable=searchable,
        index_filterable=filterable,
    )


def _text_array(name: str) -> Property:
    return Property(
        name=name,
        data_type=DataType.TEXT_ARRAY,
        tokenization=Tokenization.FIELD,
        index_searchable=False,
    )


def base_properties() -> list[Property]:
    """Properties of schema version 1."""
    return [
        _text("text", searchable=True),
        _text("memory_id"),
        _text("ref_doc_id"),
        _text("metadata_json", filterable=False),
        _text("extra_json", filterable=False),
        _text_array("meta_kv"),
        _text_array("meta_keys"),
        Property(name="created_at", data_type=DataType.DATE),
    ]


def v2_properties() -> list[Property]:
    """Properties added by schema version 2: namespaces for the LangGraph store."""
    return [
        _text("namespace"),
        _text_array("ns_prefixes"),
        Property(name="expires_at", data_type=DataType.NUMBER),
    ]


def no_properties() -> list[Property]:
    """A step that adds no property."""
    return []


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step.

    Attributes:
        version: the version the collection has after this step.
        properties: properties this step adds (skipped when already present).
        reconfigure: keyword arguments of ``config.update`` this step applies to an existing
            collection (a new one is created with them, see :func:`create_kwargs`).
    """

    version: int
    properties: Callable[[], list[Property]]
    reconfigure: Callable[[], dict[str, Any]] | None = None


# Schema version 3, "real deletes": on a server where deletes are real
# (lifecycle.DELETES_FIXED_IN), a delete removes the object and setup() removes the tombstones
# that earlier deletes wrote (lifecycle.drop_tombstones). It adds no property: the step exists so
# that a collection of an older agentmem goes through setup() once, which does the purge.
# setup() purges on every run on such a server, so tombstones written while an older server
# served the collection also go once it is upgraded and setup() runs again.
REAL_DELETES = Migration(3, no_properties)

# Keyword ranking (BM25 over ``text``). Tuned on the LoCoMo dev slice (../shared/data, turns as
# memories, evidence recall@10 over 760 questions of categories 1-4, Weaviate 1.38.5): Weaviate's
# defaults (k1 1.2, b 0.75, English stopwords removed from queries) 0.522; no stopwords 0.535 (a
# textbook Okapi BM25 in Python: 0.537); no stopwords and b 0.3: 0.566. Memories are short and of
# similar length, so full length normalisation (b 0.75) mostly punishes the turns that say more;
# recall is flat for b from 0 to 0.4 and k1 from 0.3 to 1.2, so k1 stays at its usual 1.2. The
# stopword list removes words such as "not", "no" and "when" from questions, which matter here.
# All three settings act at query time, so an existing collection changes in place, with no
# reindexing (schema version 4).
BM25_K1 = 1.2
BM25_B = 0.3
STOPWORDS = StopwordsPreset.NONE


def keyword_ranking() -> dict[str, Any]:
    """``config.update`` arguments of schema version 4: agentmem's BM25 settings."""
    return {
        "inverted_index_config": Reconfigure.inverted_index(
            bm25_k1=BM25_K1, bm25_b=BM25_B, stopwords_preset=STOPWORDS
        )
    }


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, base_properties),
    Migration(2, v2_properties),
    REAL_DELETES,
    Migration(4, no_properties, reconfigure=keyword_ranking),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def describe(version: int) -> str:
    """The collection description that records ``version``."""
    return f"agentmem long-term memory; schema_version={version}"


def parse_version(description: str | None) -> int | None:
    """The schema version recorded in a description, or None if it is not agentmem's."""
    match = _VERSION.search(description or "")
    return int(match.group(1)) if match else None


def create_kwargs(name: str, *, replication_factor: int | None = None) -> dict[str, Any]:
    """Arguments of ``collections.create`` for a fresh collection at the current version."""
    extra: dict[str, Any] = {}
    if replication_factor is not None:
        extra["replication_config"] = Configure.replication(factor=replication_factor)
    return {
        **extra,
        "name": name,
        "description": describe(SCHEMA_VERSION),
        "properties": [p for m in MIGRATIONS for p in m.properties()],
        "inverted_index_config": Configure.inverted_index(
            bm25_k1=BM25_K1, bm25_b=BM25_B, stopwords_preset=STOPWORDS
        ),
        "multi_tenancy_config": Configure.multi_tenancy(
            enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
        ),
        # Vectors are supplied by the caller's embedder; objects written without one are found
        # by BM25 only.
        "vector_config": Configure.Vectors.self_provided(
            vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)
        ),
    }


def missing(wanted: Iterable[Property], existing: set[str]) -> list[Property]:
    """The properties of ``wanted`` whose names are not in ``existing``."""
    return [p for p in wanted if p.name not in existing]
