"""One table of filter cases, run the same way through every filter front end.

Each :class:`FilterCase` gives the expected ids over :data:`DOCS` and the same filter written
three ways: as an :mod:`agentmem.filters` tree, as a LangChain-style dict and as a LlamaIndex
``MetadataFilters`` spec (plain dicts, so this module imports no framework; the LlamaIndex tests
build ``MetadataFilters.model_validate(spec)``). ``None`` means that front end cannot express it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentmem import filters as f

__all__ = ["CASES", "DOCS", "UNSUPPORTED_LANGCHAIN", "UNSUPPORTED_LLAMAINDEX", "FilterCase"]

DOCS: dict[str, tuple[str, dict[str, Any]]] = {
    "a": ("apples and pears", {"topic": "food", "n": 1, "tags": ["x", "y"], "flag": True}),
    "b": ("black coffee", {"topic": "drink", "n": 2.5, "tags": ["y"], "note": "hi", "flag": False}),
    "c": ("carrot cake", {"topic": "food", "n": 3, "note": None}),
    "d": ("darts league", {"topic": "sport", "id": 7}),
    "e": ("empty metadata", {}),
}


@dataclass(frozen=True)
class FilterCase:
    """One filter and the ids it must select from :data:`DOCS`."""

    name: str
    expected: frozenset[str]
    ast: f.Filter
    langchain: dict[str, Any] | None
    llamaindex: dict[str, Any] | None


def _li(*filters: dict[str, Any], condition: str = "and") -> dict[str, Any]:
    return {"filters": list(filters), "condition": condition}


def _m(key: str, operator: str, value: Any) -> dict[str, Any]:
    return {"key": key, "operator": operator, "value": value}


def _ids(text: str) -> frozenset[str]:
    return frozenset(text)


CASES: list[FilterCase] = [
    FilterCase("eq", _ids("ac"), f.Eq("topic", "food"), {"topic": "food"},
               _li(_m("topic", "==", "food"))),
    FilterCase("eq_operator", _ids("ac"), f.Eq("topic", "food"), {"topic": {"$eq": "food"}},
               _li(_m("topic", "==", "food"))),
    FilterCase("ne_missing_key_matches", _ids("bde"), f.Ne("topic", "food"),
               {"topic": {"$ne": "food"}}, _li(_m("topic", "!=", "food"))),
    FilterCase("gt", _ids("bc"), f.Gt("n", 1), {"n": {"$gt": 1}}, _li(_m("n", ">", 1))),
    FilterCase("gte", _ids("abc"), f.Gte("n", 1), {"n": {"$gte": 1}}, _li(_m("n", ">=", 1))),
    FilterCase("lt", _ids("ab"), f.Lt("n", 3), {"n": {"$lt": 3}}, _li(_m("n", "<", 3))),
    FilterCase("lte_float", _ids("ab"), f.Lte("n", 2.5), {"n": {"$lte": 2.5}},
               _li(_m("n", "<=", 2.5))),
    FilterCase("range_pair", _ids("b"), f.And(f.Gt("n", 1), f.Lt("n", 3)),
               {"n": {"$gt": 1, "$lt": 3}}, _li(_m("n", ">", 1), _m("n", "<", 3))),
    FilterCase("range_on_unknown_key", frozenset(), f.Gt("never_written", 0),
               {"never_written": {"$gt": 0}}, _li(_m("never_written", ">", 0))),
    FilterCase("int_equals_float", _ids("a"), f.Eq("n", 1.0), {"n": 1.0}, _li(_m("n", "==", 1.0))),
    FilterCase("in", _ids("bd"), f.In("topic", ["drink", "sport"]),
               {"topic": {"$in": ["drink", "sport"]}}, _li(_m("topic", "in", ["drink", "sport"]))),
    FilterCase("nin", _ids("bde"), f.NotIn("topic", ["food"]), {"topic": {"$nin": ["food"]}},
               _li(_m("topic", "nin", ["food"]))),
    FilterCase("contains", _ids("a"), f.Contains("tags", "x"), {"tags": {"$contains": "x"}},
               _li(_m("tags", "contains", "x"))),
    FilterCase("is_null", _ids("acde"), f.IsNull("note"), {"note": {"$exists": False}},
               _li(_m("note", "is_empty", None))),
    FilterCase("exists", _ids("b"), f.Not(f.IsNull("note")), {"note": {"$exists": True}}, None),
    FilterCase("and", _ids("c"), f.And(f.Eq("topic", "food"), f.Gt("n", 1)),
               {"$and": [{"topic": "food"}, {"n": {"$gt": 1}}]},
               _li(_m("topic", "==", "food"), _m("n", ">", 1))),
    FilterCase("implicit_and", _ids("c"), f.And(f.Eq("topic", "food"), f.Gt("n", 1)),
               {"topic": "food", "n": {"$gt": 1}}, None),
    FilterCase("or", _ids("bd"), f.Or(f.Eq("topic", "drink"), f.Eq("id", 7)),
               {"$or": [{"topic": "drink"}, {"id": 7}]},
               _li(_m("topic", "==", "drink"), _m("id", "==", 7), condition="or")),
    FilterCase("not", _ids("bde"), f.Not(f.Eq("topic", "food")),
               {"$not": {"topic": "food"}}, _li(_m("topic", "==", "food"), condition="not")),
    FilterCase("nested", _ids("ad"),
               f.Or(f.And(f.Eq("topic", "food"), f.Lt("n", 2)), f.Eq("topic", "sport")),
               {"$or": [{"$and": [{"topic": "food"}, {"n": {"$lt": 2}}]}, {"topic": "sport"}]},
               _li(_li(_m("topic", "==", "food"), _m("n", "<", 2)), _m("topic", "==", "sport"),
                   condition="or")),
    FilterCase("reserved_key_id", _ids("d"), f.Eq("id", 7), {"id": 7}, _li(_m("id", "==", 7))),
    FilterCase("bool_is_not_number", _ids("a"), f.Eq("flag", True), {"flag": True}, None),
    FilterCase("any", _ids("ab"), f.Or(f.Contains("tags", "x"), f.Contains("tags", "y")),
               None, _li(_m("tags", "any", ["x", "y"]))),
    FilterCase("all", _ids("a"), f.And(f.Contains("tags", "x"), f.Contains("tags", "y")),
               None, _li(_m("tags", "all", ["x", "y"]))),
]  # fmt: skip

UNSUPPORTED_LANGCHAIN: list[dict[str, Any]] = [
    {"topic": {"$like": "fo%"}},
    {"topic": {"$gt": "a"}},
    {"$nor": [{"topic": "food"}]},
]

UNSUPPORTED_LLAMAINDEX: list[dict[str, Any]] = [
    _li(_m("topic", "text_match", "fo")),
    _li(_m("topic", ">", "a")),
]
