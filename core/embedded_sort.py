"""Top-k for the embedded store: the first k documents in a sort order, as mongomock's sort orders them.

mongomock sorts every match with one stable ``sorted`` per key, comparing through ``BsonComparable``.
``top_k`` keeps only k (``heapq``). When every key is a top-level field sorted in one direction and every
value is a plain scalar, Python compares the values natively: the values themselves when each field holds
one type, else (BSON type bracket, value) pairs; otherwise each comparison goes through mongomock's own
``resolve_sort_key``.
"""

from __future__ import annotations

import datetime
import heapq
import itertools
from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from core.embedded_filter import BRACKET


class _NotPlain(Exception):
    """A sort value the plain tuple key cannot order as mongomock does."""


def top_k(docs: Iterable[dict[str, Any]], sort: list[tuple[str, int]], k: int) -> list[dict[str, Any]]:
    """The first ``k`` documents in ``sort`` order (ties keep store order); no sort: the first ``k``."""
    if not sort:
        return list(itertools.islice(docs, k))
    directions = {direction < 0 for _, direction in sort}
    names = [name for name, _ in sort]
    docs = docs if isinstance(docs, list) else list(docs)
    if len(directions) > 1 or any("." in name or name.startswith("$") for name in names):
        return _compared_top_k(docs, sort, k)
    descending = directions.pop()
    keys = _columns(docs, names)
    if keys is not None:  # one plain type per field: order positions by the values themselves
        pick = heapq.nlargest if descending else heapq.nsmallest  # both keep store order on ties
        return [docs[i] for i in pick(k, range(len(docs)), key=keys.__getitem__)]
    try:
        return _plain_top_k(docs, names, descending, k)
    except _NotPlain:
        return _compared_top_k(docs, sort, k)


def _compared_top_k(docs: list[dict[str, Any]], sort: list[tuple[str, int]], k: int) -> list[dict[str, Any]]:
    """Top-k comparing through mongomock's own sort keys. A NaN compares false with everything, so with one
    among the sorted values there is no order to select from: the answer is whatever mongomock's successive
    stable sorts make of it, and only running them gives it."""
    from mongomock_ng.filtering import resolve_sort_key

    heads = {name.split(".")[0] for name, _ in sort}
    if any(_holds_nan(doc.get(head)) for doc in docs for head in heads):
        for name, direction in reversed(sort):
            docs = sorted(docs, key=lambda doc, name=name: resolve_sort_key(name, doc), reverse=direction < 0)
        return docs[:k]
    return heapq.nsmallest(k, docs, key=sort_key(sort))


def _holds_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, dict):
        return any(_holds_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_nan(v) for v in value)
    return False


_SAME_BRACKET = [{int}, {float}, {int, float}, {str}, {bool}, {datetime.datetime}]


def plain_keys(values: list[Any]) -> list[Any] | None:
    """``values`` as keys Python orders as BSON does, when they are all of one plain type (numbers count as one;
    an ObjectId is keyed by its bytes); else None."""
    types = set(map(type, values))
    if types == {ObjectId}:
        return [value.binary for value in values]
    if types not in _SAME_BRACKET or (float in types and any(v != v for v in values)):
        return None
    return values


def _columns(docs: list[dict[str, Any]], names: list[str]) -> list[Any] | None:
    """Each document's sort values (a tuple for several fields) when every field holds one plain type in
    every document, so that Python orders them as BSON does; else None."""
    from mongomock_ng.filtering import NOTHING

    columns = []
    for name in names:
        column = plain_keys([doc.get(name, NOTHING) for doc in docs])
        if column is None:
            return None
        columns.append(column)
    return columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))


def _plain_top_k(docs: list[dict[str, Any]], names: list[str], descending: bool,
                 k: int) -> list[dict[str, Any]]:
    from mongomock_ng.filtering import NOTHING

    def value_key(doc: dict[str, Any]) -> tuple[Any, ...]:
        key: list[Any] = []
        for name in names:
            value = doc.get(name, NOTHING)
            if value is None or value is NOTHING:
                key += (5, 0)  # null and missing: equal, below every other bracket
                continue
            bracket = BRACKET.get(type(value))
            if bracket is None or (bracket == 10 and value != value):  # lists, documents, NaN, subclasses
                raise _NotPlain
            key += (bracket, value.binary if bracket == 35 else value)  # ObjectIds order as their bytes
        return tuple(key)

    # (key, position): ties keep store order in either direction, as a stable sort does
    if descending:
        decorated = [(value_key(doc), -i) for i, doc in enumerate(docs)]
        chosen = heapq.nlargest(k, decorated)
        return [docs[-i] for _, i in chosen]
    decorated = [(value_key(doc), i) for i, doc in enumerate(docs)]
    return [docs[i] for _, i in heapq.nsmallest(k, decorated)]


class _SortKey:
    """A document's sort values; ``<`` walks the keys in order, each ascending or descending."""

    __slots__ = ("directions", "values")

    def __init__(self, values: list[Any], directions: tuple[int, ...]):
        self.values = values
        self.directions = directions

    def __lt__(self, other: _SortKey) -> bool:
        for mine, theirs, direction in zip(self.values, other.values, self.directions, strict=True):
            if mine < theirs:
                return direction >= 0
            if theirs < mine:
                return direction < 0
        return False

    def __eq__(self, other: object) -> bool:  # ties fall back to store order in heapq's decoration
        return isinstance(other, _SortKey) and not self < other and not other < self

    __hash__ = None  # type: ignore[assignment]


def sort_key(sort: list[tuple[str, int]]) -> Any:
    """A key function ordering documents as mongomock's successive stable sorts do."""
    from mongomock_ng.filtering import resolve_sort_key

    names = [name for name, _ in sort]
    directions = tuple(direction for _, direction in sort)

    def key(doc: dict[str, Any]) -> _SortKey:
        return _SortKey([resolve_sort_key(name, doc) for name in names], directions)
    return key
