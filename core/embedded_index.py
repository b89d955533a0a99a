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

import datetime
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

    from core import embedded_documents

    embedded_documents.install()
    _patch_iter_documents(mc)
    _patch_cursor(mc)
    _patch_store(mc)
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
        candidates = equality_candidates(store, filter)
        if candidates is not None:
            return (doc for doc in candidates if filter_applies(filter, doc))
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


# --- equality indexes -----------------------------------------------------------------------------

_SCALARS = (str, int, float, ObjectId, bool, datetime.datetime)


class EqualityIndexes:
    """For one collection: every index key → {entry: ids}, entries as mongomock's unique check computes them.

    Kept current by the store's ``__setitem__``/``__delitem__`` (every insert, update, replace and delete ends
    in one), rebuilt lazily after a drop, an index change or an aborted transaction. A document whose entries
    cannot be hashed, or whose indexed path crosses an array, is kept aside and is a candidate of every lookup.
    """

    def __init__(self, store: Any, compute: Any):
        self.compute = compute
        self.keys = [tuple(ix["key"]) for ix in store.indexes.values()
                     if [k for k, _ in ix["key"]] != ["_id"]]
        self.entries: dict[tuple[Any, ...], dict[Any, set[Any]]] = {key: {} for key in self.keys}
        self.of_id: dict[Any, list[tuple[tuple[Any, ...], list[Any] | None]]] = {}
        self.aside: dict[tuple[Any, ...], set[Any]] = {key: set() for key in self.keys}
        self.position: dict[Any, int] = {}
        self.next_position = 0
        for doc_id, doc in store._documents.items():
            self.add(doc_id, doc)

    def add(self, doc_id: Any, doc: dict[str, Any]) -> None:
        if doc_id not in self.position:
            self.position[doc_id] = self.next_position
            self.next_position += 1
        stored = []
        for key in self.keys:
            entries = None if _crosses_array(doc, key) else self.compute(doc, key, False)
            if entries is not None:
                try:
                    for entry in entries:
                        self.entries[key].setdefault(entry, set()).add(doc_id)
                except TypeError:
                    entries = None
            if entries is None:
                self.aside[key].add(doc_id)
            stored.append((key, entries))
        self.of_id[doc_id] = stored

    def remove(self, doc_id: Any, keep_position: bool = False) -> None:
        for key, entries in self.of_id.pop(doc_id, []):
            if entries is None:
                self.aside[key].discard(doc_id)
                continue
            for entry in entries:
                ids = self.entries[key].get(entry)
                if ids is not None:
                    ids.discard(doc_id)
                    if not ids:
                        del self.entries[key][entry]
        if not keep_position:
            self.position.pop(doc_id, None)

    def candidates(self, key: tuple[Any, ...], entries: list[Any]) -> list[Any] | None:
        """Ids that may hold one of ``entries`` under ``key``, in store order; None when not indexed."""
        index = self.entries.get(key)
        if index is None:
            return None
        found: set[Any] = set(self.aside[key])
        try:
            for entry in entries:
                found |= index.get(entry, set())
        except TypeError:
            return None
        return sorted(found, key=self.position.__getitem__)


def _crosses_array(doc: dict[str, Any], key: tuple[Any, ...]) -> bool:
    for name, _ in key:
        value: Any = doc
        for part in name.split(".")[:-1]:
            value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, list):
                return True
    return False


def _indexes_of(store: Any) -> EqualityIndexes | None:
    if store._ttl_indexes:  # expiry deletes behind the store's back: keep mongomock's own path
        return None
    indexes = store.__dict__.get("_equality")
    if indexes is None:
        from mongomock_ng.collection import Collection

        indexes = EqualityIndexes(store, Collection._compute_index_entries)
        store.__dict__["_equality"] = indexes
    return indexes


def equality_candidates(store: Any, filter: Any) -> list[dict[str, Any]] | None:
    """The documents an equality condition on an indexed field can match (in store order), or None."""
    if not isinstance(filter, dict) or not filter or not store.indexes:
        return None
    conditions = [filter]
    if set(filter) == {"$and"} and isinstance(filter["$and"], list):
        conditions = [c for c in filter["$and"] if isinstance(c, dict)]
    for condition in conditions:
        for name, value in condition.items():
            if name.startswith("$") or not isinstance(value, _SCALARS):
                continue
            indexes = _indexes_of(store)
            if indexes is None:
                return None
            ids = indexes.candidates(((name, 1),), [(value,)])
            if ids is None:
                ids = indexes.candidates(((name, -1),), [(value,)])
            if ids is not None:
                documents = store._documents
                return [documents[i] for i in ids if i in documents]
    return None


def _patch_store(mc: Any) -> None:
    from mongomock_ng.store import CollectionStore

    def setitem(self: Any, key: Any, val: Any) -> None:
        indexes = self.__dict__.get("_equality")
        if indexes is not None:
            indexes.remove(key, keep_position=key in self._documents)
        with self._rwlock.writer():
            self._documents[key] = val
        if indexes is not None:
            indexes.add(key, val)

    def delitem(self: Any, key: Any) -> None:
        with self._rwlock.writer():
            del self._documents[key]
        indexes = self.__dict__.get("_equality")
        if indexes is not None:
            indexes.remove(key)

    def forgetting(name: str) -> Any:
        original = getattr(CollectionStore, name)

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            self.__dict__.pop("_equality", None)
            try:
                return original(self, *args, **kwargs)
            finally:
                self.__dict__.pop("_equality", None)
        return method

    _replace(CollectionStore, "__setitem__", setitem)
    _replace(CollectionStore, "__delitem__", delitem)
    for name in ("drop", "create_index", "drop_index", "abort_transaction"):
        _replace(CollectionStore, name, forgetting(name))

    def ensure_uniques(self: Any, new_data: dict[str, Any]) -> None:
        indexes = _indexes_of(self._store)
        if indexes is None:
            return upstream_ensure(self, new_data)
        for index in self._store.indexes.values():
            if not index.get("unique"):
                continue
            key = tuple(index.get("key"))
            new_entries = self._compute_index_entries(new_data, index.get("key"), index.get("sparse"))
            if new_entries is None:
                continue
            ids = indexes.candidates(key, new_entries)
            if ids is None:
                return upstream_ensure(self, new_data)
            _check_unique_among(self, index, new_data, new_entries, [self._store._documents[i] for i in ids])
        return None

    upstream_ensure = mc.Collection._ensure_uniques
    _replace(mc.Collection, "_ensure_uniques", ensure_uniques)


def _check_unique_among(collection: Any, index: dict[str, Any], new_data: dict[str, Any], new_entries: list[Any],
                        docs: list[dict[str, Any]]) -> None:
    """mongomock's unique check, over the candidate documents instead of the whole collection."""
    from mongomock_ng import helpers
    from mongomock_ng.filtering import filter_applies
    from pymongo.errors import DuplicateKeyError

    unique = index.get("key")
    partial = index.get("partialFilterExpression")
    for doc in docs:
        if doc["_id"] == new_data.get("_id"):
            continue
        if partial is not None and not filter_applies(partial, doc):
            continue
        doc_entries = collection._compute_index_entries(doc, unique, index.get("sparse"))
        if doc_entries is None:
            continue
        if collection._entries_overlap(new_entries, doc_entries):
            raise DuplicateKeyError("E11000 Duplicate Key Error", 11000,
                                    {"keyPattern": dict(unique),
                                     "keyValue": {k: helpers.get_value_by_dot(new_data, k) for k, _ in unique}})
