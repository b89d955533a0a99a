"""Patches that let mongomock-ng (the embedded store) scale to 100k records.

mongomock answers every filter with a scan of the whole collection and re-slices a cursor's results
for every document it hands out. This module patches it, once per process, in four places:

* ``_id`` point lookups: a filter that pins ``_id`` to plain values (a value or ``$in`` list) reads those
  documents directly, as the ``_id`` index does on a real server;
* equality lookups on indexed fields: ``{field: value}`` on a field with a (non-TTL) index reads the
  documents an in-memory equality index names, the index being kept current on every write;
* cursors: ``Cursor.__next__`` indexes the computed results instead of slicing them per document
  (reading a cursor to the end was O(n²)), and a sort with a limit keeps the top k (``heapq``) instead of
  sorting and copying every match;
* ``page_and_total``: a list page and its total from one pass over the filter.

Every patched path returns what mongomock's own path returns (tests/support compares them).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from bson import ObjectId

_POINT_TYPES = (ObjectId, str, int)
_installed = False
_UPSTREAM: dict[tuple[Any, str], Any] = {}  # (class, attribute) → mongomock's own implementation


def _replace(cls: Any, name: str, new: Any) -> None:
    _UPSTREAM.setdefault((cls, name), cls.__dict__[name])
    setattr(cls, name, new)


@contextmanager
def upstream() -> Iterator[None]:
    """Run with mongomock's own implementations (tests compare the patched paths against them)."""
    patched = {(cls, name): cls.__dict__[name] for cls, name in _UPSTREAM}
    for (cls, name), original in _UPSTREAM.items():
        setattr(cls, name, original)
    try:
        yield
    finally:
        for (cls, name), new in patched.items():
            setattr(cls, name, new)


def install() -> None:
    """Patch mongomock-ng once per process (idempotent)."""
    global _installed
    if _installed:
        return
    from mongomock_ng import collection as mc

    _patch_iter_documents(mc)
    _patch_cursor(mc)
    _installed = True


# --- filters that name _id or an indexed field ----------------------------------------------------

def _patch_iter_documents(mc: Any) -> None:
    from mongomock_ng.filtering import filter_applies

    original = mc.Collection._iter_documents

    def iter_documents(self: Any, filter: Any) -> Iterator[dict[str, Any]] | Iterable[dict[str, Any]]:
        keys = id_candidates(filter)
        store = self._store
        if keys is not None:
            found = [store[key] for key in keys if key in store]
            if len(filter) == 1:  # the filter is the _id condition itself: every candidate matches
                return iter(found)
            return (doc for doc in found if filter_applies(filter, doc))
        return original(self, filter)

    _replace(mc.Collection, "_iter_documents", iter_documents)


def id_candidates(filter: Any) -> list[Any] | None:
    """The ``_id`` values a filter can match, when it pins ``_id`` to plain values; else None."""
    if not isinstance(filter, dict) or "_id" not in filter:
        return None
    wanted = filter["_id"]
    if isinstance(wanted, _POINT_TYPES) and not isinstance(wanted, bool):
        return [wanted]
    if isinstance(wanted, dict) and set(wanted) == {"$in"} and isinstance(wanted["$in"], (list, tuple)):
        values = wanted["$in"]
        if all(isinstance(v, _POINT_TYPES) and not isinstance(v, bool) for v in values):
            return list(dict.fromkeys(values))
    return None


# --- cursors --------------------------------------------------------------------------------------

def _patch_cursor(mc: Any) -> None:
    from mongomock_ng import helpers

    original_compute = mc.Cursor._compute_results

    def compute_results(self: Any, with_limit_and_skip: bool = False) -> list[dict[str, Any]]:
        factory = self._factory
        args = getattr(factory, "args", None)
        if not (with_limit_and_skip and self._limit and args is not None and len(args) == 4
                and _plain_sort(args[1]) and not _has_near(args[0])):
            return original_compute(self, with_limit_and_skip)
        key = (factory, self._skip, self._limit)
        if getattr(self, "_top_key", None) != key:
            spec, sort, projection, container = args
            wanted = (self._skip or 0) + abs(self._limit)
            docs = top_k(self.collection._iter_documents(spec), _normalize_sort(sort), wanted)[self._skip or 0:]
            results = [self.collection._copy_only_fields(d, projection, container, filter=spec) for d in docs]
            results = [r for r in results if r is not None]
            if self.collection.codec_options.tz_aware:
                results = [helpers.make_datetime_timezone_aware_in_document(r) for r in results]
            self._top_results, self._top_key = results, key
        return self._top_results

    def next_document(self: Any) -> Any:
        if self._limit:
            results, index = self._compute_results(with_limit_and_skip=True), self._emitted
        else:  # the whole result, offset by skip: no per-document slice
            results, index = self._compute_results(with_limit_and_skip=False), (self._skip or 0) + self._emitted
        if index >= len(results):
            raise StopIteration
        self._emitted += 1
        return mc._cast_document_class(results[index], self.collection.codec_options.document_class)

    _replace(mc.Cursor, "_compute_results", compute_results)
    _replace(mc.Cursor, "__next__", next_document)
    _replace(mc.Cursor, "next", next_document)


def _has_near(spec: Any) -> bool:
    return isinstance(spec, dict) and "$near" in repr(spec)


def _normalize_sort(sort: Any) -> list[tuple[str, int]]:
    if not sort:
        return []
    items = sort.items() if isinstance(sort, dict) else sort
    return [(item, 1) if isinstance(item, str) else (item[0], item[1]) for item in items]


def _plain_sort(sort: Any) -> bool:
    return all(isinstance(k, str) and not k.startswith("$") for k, _ in _normalize_sort(sort))


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


def top_k(docs: Iterable[dict[str, Any]], sort: list[tuple[str, int]], k: int) -> list[dict[str, Any]]:
    """The first ``k`` documents in ``sort`` order (ties keep store order); no sort: the first ``k``."""
    if not sort:
        return list(itertools.islice(docs, k))
    return heapq.nsmallest(k, docs, key=sort_key(sort))


# --- list page + total ----------------------------------------------------------------------------

def page_and_total(collection: Any, filter: dict[str, Any], page_filter: dict[str, Any],
                   sort: list[tuple[str, int]], skip: int, limit: int,
                   projection: dict[str, Any] | None) -> tuple[list[dict[str, Any]], int]:
    """A page of ``page_filter`` matches and the count of ``filter`` matches, from one scan."""
    from mongomock_ng.filtering import filter_applies

    total = 0
    same = page_filter is filter or page_filter == filter

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal total
        for doc in collection._iter_documents(filter):
            total += 1
            if same or filter_applies(page_filter, doc):
                yield doc

    matches = counted()
    docs = top_k(matches, _normalize_sort(sort), skip + limit)[skip:] if limit else []
    for _ in matches:  # finish the count
        pass
    fields = dict(projection) if projection else None
    out = [collection._copy_only_fields(d, fields, dict, filter=page_filter) for d in docs]
    return [d for d in out if d is not None], total
