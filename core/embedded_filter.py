"""Filters compiled to Python predicates for the embedded store's scans (``embedded_index`` uses them).

mongomock evaluates a filter by interpreting it for every document (about 50 µs a document: 5 s for a
100k scan). ``compile_filter`` turns a filter into a closure once; each condition takes a fast path when
the document's value and the operand are plain scalars (str, int, float, bool, None, ObjectId, datetime)
and otherwise asks mongomock itself (``filter_applies`` on that one condition), so every document gets
the answer mongomock would give. Anything not understood compiles to ``None`` (keep mongomock's scan).
"""

from __future__ import annotations

import datetime
import operator
from collections.abc import Callable
from typing import Any

from bson import ObjectId

Predicate = Callable[[dict[str, Any]], bool]

# BSON comparison brackets of the plain types (mongomock's ``_get_compare_type``), by exact type
BRACKET: dict[type, int] = {type(None): 5, bool: 40, int: 10, float: 10, str: 15, ObjectId: 35,
                             datetime.datetime: 45}
_COMPARE = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}
_ID_IN = "$runtimeIdIn"  # embedded_query.ID_IN: ``_id`` in a frozenset
_FAST_OPS = {"$eq", "$ne", "$in", "$nin", _ID_IN, *_COMPARE}


def _plain(value: Any) -> bool:
    """A scalar whose equality and order Python decides as mongomock does (no NaN, no subclasses)."""
    return type(value) in BRACKET and value == value


def compile_filter(filter: Any) -> Predicate | None:
    """A predicate answering as ``filter_applies(filter, doc)``; None when the filter is not a plain dict
    of conditions (then the caller keeps mongomock's own evaluation, errors included)."""
    from mongomock_ng.filtering import filter_applies

    if not isinstance(filter, dict):
        return None
    parts: list[Predicate] = []
    for key, cond in filter.items():
        if not isinstance(key, str):
            return None
        if key == "$comment":
            continue
        if key in ("$and", "$or", "$nor"):
            if not isinstance(cond, list) or not cond:
                return None
            subs = [compile_filter(sub) for sub in cond]
            if any(sub is None for sub in subs):
                return None
            parts.append(_logical(key, subs))  # type: ignore[arg-type]
        elif key.startswith("$") or not key:
            return None  # $expr, $where, unknown operators: mongomock's own path
        else:
            parts.append(_condition(key, cond) or _upstream(filter_applies, {key: cond}))
    return _all(parts)


def MATCH_ALL(doc: dict[str, Any]) -> bool:  # a constant, compared by identity
    """An empty filter: every document."""
    return True


def _all(parts: list[Predicate]) -> Predicate:
    if not parts:
        return MATCH_ALL
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda doc: first(doc) and second(doc)
    return lambda doc: all(part(doc) for part in parts)


def _logical(key: str, subs: list[Predicate]) -> Predicate:
    if key == "$and":
        return _all(subs)
    if key == "$or":
        return lambda doc: any(sub(doc) for sub in subs)
    return lambda doc: not any(sub(doc) for sub in subs)


def _upstream(filter_applies: Any, one: dict[str, Any]) -> Predicate:
    return lambda doc: filter_applies(one, doc)


def _condition(key: str, cond: Any) -> Predicate | None:
    """One field's condition: a fast test on plain values, mongomock's for anything else; None when the
    condition itself is not one of the simple forms (plain value, or $eq/$ne/$gt(e)/$lt(e)/$in/$nin)."""
    from mongomock_ng.filtering import NOTHING, filter_applies

    if _plain(cond):
        tests: list[Callable[[Any], bool]] = [_equals(cond, NOTHING)]
    elif isinstance(cond, dict) and cond and set(cond) <= _FAST_OPS:
        built = [_operator(op, operand, NOTHING) for op, operand in cond.items()]
        if any(t is None for t in built):
            return None
        tests = built  # type: ignore[assignment]
    else:
        return None
    get = _getter(key, NOTHING)
    fallback = {key: cond}
    test = tests[0] if len(tests) == 1 else (lambda value: all(t(value) for t in tests))

    def predicate(doc: dict[str, Any]) -> bool:
        value = get(doc)
        if value is _COMPLEX or not (type(value) in BRACKET or value is NOTHING) or value != value:
            return filter_applies(fallback, doc)  # lists, documents, NaN, subclasses: mongomock decides
        return test(value)
    return predicate


_COMPLEX = object()  # the path crosses something other than a dict: ask mongomock


def _getter(key: str, nothing: Any) -> Callable[[dict[str, Any]], Any]:
    """The value at a dotted path as mongomock reads it when every step is a dict (missing → NOTHING)."""
    parts = key.split(".")
    if len(parts) == 1:
        return lambda doc: doc.get(key, nothing)
    head, last = parts[:-1], parts[-1]

    def get(doc: dict[str, Any]) -> Any:
        value: Any = doc
        for part in head:
            value = value.get(part, {})  # as mongomock: a missing step reads on in {}
            if type(value) is not dict:
                return _COMPLEX
        return value.get(last, nothing)
    return get


def _equals(operand: Any, nothing: Any) -> Callable[[Any], bool]:
    if operand is None:
        return lambda value: value is None or value is nothing
    return lambda value: value == operand


def _operator(op: str, operand: Any, nothing: Any) -> Callable[[Any], bool] | None:
    if op in ("$eq", "$ne"):
        if not _plain(operand):
            return None
        eq = _equals(operand, nothing)
        return eq if op == "$eq" else (lambda value: not eq(value))
    if op == _ID_IN:
        return (lambda value: value in operand) if isinstance(operand, frozenset) else None
    if op in ("$in", "$nin"):
        if not isinstance(operand, list | tuple) or not all(_plain(v) for v in operand):
            return None
        wanted = frozenset(operand)
        has_none = None in wanted

        def found(value: Any) -> bool:
            return (value is nothing and has_none) or (value is not nothing and value in wanted)
        return found if op == "$in" else (lambda value: not found(value))
    if not _plain(operand):
        return None
    compare, bracket = _COMPARE[op], BRACKET[type(operand)]
    if bracket == 5:  # null compares as 0 with 0 in its own bracket
        same = compare(0, 0)
        return lambda value: value is None and same
    return lambda value: value is not nothing and BRACKET[type(value)] == bracket and compare(value, operand)
