"""Patches that let mongomock-ng (the embedded store) scale to 100k records.

mongomock answers every filter with a scan of the whole collection and re-slices a cursor's results
for every document it hands out. This module patches it, once per process, in these places:

* scans: a filter is compiled to a predicate once (``core.embedded_filter``) instead of being interpreted
  for every document;
* ``_id`` point lookups: a filter that pins ``_id`` to plain values (a value or ``$in`` list) reads those
  documents directly, as the ``_id`` index does on a real server;
* equality lookups on indexed fields: ``{field: value}`` on a field with a (non-TTL) index reads the
  documents an in-memory equality index names, the index being kept current on every write; a range
  (``$gt``/``$gte``/``$lt``/``$lte``) on such a field reads the documents whose indexed values fall in it;
* cursors: ``Cursor.__next__`` indexes the computed results instead of slicing them per document
  (reading a cursor to the end was O(n²)), and a sort with a limit keeps the top k (``heapq``) instead of
  sorting and copying every match;
* ``page_and_total``: a list page and its total from one pass over the filter;
* geo queries (``core.embedded_geo``): ``$near``/``$nearSphere``, ``$centerSphere`` and ``$geoNear`` on GeoJSON
  points, measured as MongoDB measures them;
* write stamps: every change of a collection (a document put or deleted, a drop, an index change) stamps it
  with the next value of a process-wide clock, so ``write_stamp`` tells a reader whether anything changed
  since it last looked (``core.storage.Store.read_cached``).

Every patched path returns what mongomock's own path returns (tests/support compares them), except two that
correct it and answer as a MongoDB server does: Decimal128 values are compared and aggregated exactly
(``core.embedded_decimal``), and geo queries measure and filter as a server does (``core.embedded_geo``).
"""

from __future__ import annotations

import collections
import datetime
import itertools
import operator
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from bson import ObjectId

from core.embedded_filter import BRACKET, MATCH_ALL, compile_filter
from core.embedded_sort import top_k

_POINT_TYPES = (ObjectId, str, int)
_SLICE = 4096
_installed = False
_WRITE_CLOCK = itertools.count(1)
_UPSTREAM: dict[tuple[int, str], tuple[Any, Any]] = {}  # (id(owner), name) → (owner, mongomock's own)


def _get(owner: Any, name: str) -> Any:
    return owner[name] if isinstance(owner, dict) else owner.__dict__[name]


def _set(owner: Any, name: str, value: Any) -> None:
    if isinstance(owner, dict):  # a handler table, e.g. the aggregation stages
        owner[name] = value
    else:
        setattr(owner, name, value)


def _replace(owner: Any, name: str, new: Any) -> None:
    """Patch ``owner``'s attribute (a class) or entry (a dict) ``name``, remembering mongomock's own."""
    _UPSTREAM.setdefault((id(owner), name), (owner, _get(owner, name)))
    _set(owner, name, new)


@contextmanager
def upstream() -> Iterator[None]:
    """Run with mongomock's own implementations (tests compare the patched paths against them)."""
    patched = {key: _get(owner, key[1]) for key, (owner, _) in _UPSTREAM.items()}
    for (_, name), (owner, original) in _UPSTREAM.items():
        _set(owner, name, original)
    try:
        yield
    finally:
        for key, new in patched.items():
            _set(_UPSTREAM[key][0], key[1], new)


def install() -> None:
    """Patch mongomock-ng once per process (idempotent)."""
    global _installed
    if _installed:
        return
    from mongomock_ng import collection as mc

    from core import embedded_documents

    embedded_documents.install()
    embedded_documents.install_copy(_replace)
    _patch_iter_documents(mc)
    _patch_cursor(mc)
    _patch_store(mc)
    _patch_unique_index_check(mc)
    from core import embedded_aggregate, embedded_decimal, embedded_geo

    embedded_aggregate.install(_replace)
    embedded_decimal.install(_replace)
    embedded_geo.install(_replace)
    _installed = True


def install_exact_decimals() -> None:
    """Only the Decimal128 patch (``core.embedded_decimal``), for a process on a MongoDB server: mongomock's filter
    evaluates conditions there too (permission rules, listener conditions)."""
    from core import embedded_decimal

    embedded_decimal.install(_replace)


# --- filters that name _id or an indexed field ----------------------------------------------------

def _patch_iter_documents(mc: Any) -> None:

    original = mc.Collection._iter_documents

    def iter_documents(self: Any, filter: Any) -> Iterator[dict[str, Any]] | Iterable[dict[str, Any]]:
        found = matching(self, filter)
        return original(self, filter) if found is None else found

    _replace(mc.Collection, "_iter_documents", iter_documents)


def matching(collection: Any, filter: Any) -> Iterable[dict[str, Any]] | None:
    """The documents ``filter`` matches, in store order, by the fastest exact path; None: ask mongomock."""
    from mongomock_ng.filtering import filter_applies

    keys = id_candidates(filter)
    store = collection._store
    if keys is not None:
        if store._ttl_indexes:  # each read expires documents first
            found = [store[key] for key in keys if key in store]
        else:  # the same reads without a lock round and an expiry pass per key
            documents = store._documents
            with store._rwlock.reader():
                found = [documents[key] for key in keys if key in documents]
        if len(filter) == 1:  # the filter is the _id condition itself: every candidate matches
            return found
        return (doc for doc in found if filter_applies(filter, doc))
    candidates = equality_candidates(store, filter)
    if candidates is None:
        candidates = range_candidates(store, filter)
    match = compile_filter(filter)
    if candidates is not None:
        test = match or (lambda doc: filter_applies(filter, doc))
        return (doc for doc in candidates if test(doc))
    if match is None or store.is_empty:  # mongomock validates a filter even on an empty collection
        return None
    if match is MATCH_ALL:
        return _snapshot(store)
    return _scan(_snapshot(store), match)


def _snapshot(store: Any) -> list[dict[str, Any]]:
    """The stored documents in store order, as mongomock's scan lists them.

    The store is an ``OrderedDict`` that mongomock never reorders (no ``move_to_end``), so the plain dict's
    order is the same; reading it directly skips a hash of every key (a Python-level ``ObjectId.__hash__``)."""
    if store._ttl_indexes:
        return list(store.documents)  # expires documents first
    documents = store._documents
    with store._rwlock.reader():
        if type(documents) is collections.OrderedDict:
            return list(dict.values(documents))
        return list(documents.values())


def _scan(docs: list[dict[str, Any]], match: Any) -> Iterator[dict[str, Any]]:
    """The documents ``match`` accepts, checking the time limit between slices (a scan may yield nothing)."""
    from core.embedded_query import check_deadline

    for start in range(0, len(docs), _SLICE):
        check_deadline()
        yield from filter(match, docs[start:start + _SLICE])


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


# --- list page + total ----------------------------------------------------------------------------

def page_and_total(collection: Any, filter: dict[str, Any], page_filter: dict[str, Any],
                   sort: list[tuple[str, int]], skip: int, limit: int,
                   projection: dict[str, Any] | None) -> tuple[list[dict[str, Any]], int]:
    """A page of ``page_filter`` matches and the count of ``filter`` matches, from one scan."""
    from mongomock_ng.filtering import filter_applies

    found = matching(collection, filter)  # not through the deadline wrapper's step per document
    matches = list(collection._iter_documents(filter) if found is None else found)
    total = len(matches)
    if page_filter is not filter and page_filter != filter:  # a keyset page: the filter and a cursor condition
        test = compile_filter(page_filter) or (lambda doc: filter_applies(page_filter, doc))
        matches = [doc for doc in matches if test(doc)]
    docs = top_k(matches, _normalize_sort(sort), skip + limit)[skip:] if limit else []
    fields = dict(projection) if projection else None
    out = [collection._copy_only_fields(d, fields, dict, filter=page_filter) for d in docs]
    return [d for d in out if d is not None], total


# --- equality indexes -----------------------------------------------------------------------------

_SCALARS = (str, int, float, ObjectId, bool, datetime.datetime)


class EqualityIndexes:
    """For one collection: every key a lookup can use → {entry: ids}, entries as mongomock's unique check computes them.

    Kept current by the store's ``__setitem__``/``__delitem__`` (every insert, update, replace and delete ends
    in one), rebuilt lazily after a drop, an index change or an aborted transaction. A document whose entries
    cannot be hashed, or whose indexed path crosses an array, is kept aside and is a candidate of every lookup.
    """

    def __init__(self, store: Any, compute: Any):
        self.compute = compute
        # the keys a lookup can use: one-field keys (equality and range conditions) and unique keys (the unique
        # check); a compound key that is not unique serves neither, so keeping it would only slow every write
        self.keys = [tuple(ix["key"]) for ix in store.indexes.values()
                     if [k for k, _ in ix["key"]] != ["_id"] and (len(ix["key"]) == 1 or ix.get("unique"))]
        # Documents are held by their position in the store (an int: hashing an ObjectId runs Python code)
        self.layout = [(key, key[0][0] if len(key) == 1 and "." not in key[0][0] else None,
                        _two_parts(key)) for key in self.keys]
        self.entries: dict[tuple[Any, ...], dict[Any, set[int]]] = {key: {} for key in self.keys}
        self.of_id: dict[Any, list[tuple[tuple[Any, ...], list[Any] | None]]] = {}
        self.aside: dict[tuple[Any, ...], set[int]] = {key: set() for key in self.keys}
        # positions whose value is not one plain scalar (arrays, documents, ...): candidates of every range
        self.loose: dict[tuple[Any, ...], set[int]] = {key: set() for key in self.keys}
        self.position: dict[Any, int] = {}
        self.id_at: dict[int, Any] = {}
        self.next_position = 0
        documents = store._documents
        items = dict.items(documents) if type(documents) is collections.OrderedDict else documents.items()
        for doc_id, doc in items:  # store order (see _snapshot)
            self.add(doc_id, doc)

    def add(self, doc_id: Any, doc: dict[str, Any]) -> None:
        pos = self.position.get(doc_id)
        if pos is None:
            pos = self.position[doc_id] = self.next_position
            self.id_at[pos] = doc_id
            self.next_position += 1
        stored = []
        for key, name, parts in self.layout:
            entries = None
            if name is not None:  # one top-level field: a plain value's entry is the value itself
                value = doc.get(name, _MISSING)
                if value is _MISSING:
                    entries = [(None,)]
                elif type(value) in BRACKET:
                    entries = [(value,)]
            elif parts is not None:  # ``a.b``: the same when ``a`` is missing or a plain dict
                head = doc.get(parts[0], _MISSING)
                if head is _MISSING:
                    entries = [(None,)]
                elif type(head) is dict:
                    value = head.get(parts[1])
                    if type(value) in BRACKET:  # None too: a missing ``b`` is None, as for mongomock
                        entries = [(value,)]
                if entries is not None:
                    self.loose[key].add(pos)  # as below (only ranges on top-level fields read it)
            if entries is None:  # as mongomock's unique check computes them
                self.loose[key].add(pos)
                entries = None if _crosses_array(doc, key) else self.compute(doc, key, False)
            if entries is not None:
                try:
                    for entry in entries:
                        self.entries[key].setdefault(entry, set()).add(pos)
                except TypeError:
                    entries = None
            if entries is None:
                self.aside[key].add(pos)
            stored.append((key, entries))
        self.of_id[doc_id] = stored

    def remove(self, doc_id: Any, keep_position: bool = False) -> None:
        pos = self.position.get(doc_id)
        for key, entries in self.of_id.pop(doc_id, []):
            self.loose[key].discard(pos)  # type: ignore[arg-type]
            if entries is None:
                self.aside[key].discard(pos)  # type: ignore[arg-type]
                continue
            for entry in entries:
                held = self.entries[key].get(entry)
                if held is not None:
                    held.discard(pos)  # type: ignore[arg-type]
                    if not held:
                        del self.entries[key][entry]
        if not keep_position and pos is not None:
            del self.position[doc_id]
            del self.id_at[pos]

    def candidates(self, key: tuple[Any, ...], entries: list[Any]) -> list[Any] | None:
        """Ids that may hold one of ``entries`` under ``key``, in store order; None when not indexed."""
        index = self.entries.get(key)
        if index is None:
            return None
        found: set[int] = set(self.aside[key])
        try:
            for entry in entries:
                found |= index.get(entry, set())
        except TypeError:
            return None
        return [self.id_at[pos] for pos in sorted(found)]

    def in_range(self, name: str, bounds: dict[str, Any]) -> list[Any] | None:
        """Ids that may satisfy the comparisons ``bounds`` (``$gt``... on plain operands of one BSON bracket) on
        the one-field index of ``name``, in store order; None when not indexed. A plain value is a candidate
        when it satisfies them all; any other value (an array may satisfy each bound with another element)
        always is."""
        key = next((k for k in (((name, 1),), ((name, -1),)) if k in self.entries), None)
        if key is None:
            return None
        bracket = BRACKET[type(next(iter(bounds.values())))]
        tests = [(_RANGE_OPS[op], operand) for op, operand in bounds.items()]
        found: set[int] = self.aside[key] | self.loose[key]
        for entry, held in self.entries[key].items():
            value = entry[0]
            if BRACKET.get(type(value)) == bracket and all(test(value, operand) for test, operand in tests):
                found |= held
        return [self.id_at[pos] for pos in sorted(found)]



_MISSING = object()


_RANGE_OPS = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _conditions(store: Any, filter: Any) -> tuple[list[dict[str, Any]], set[tuple[Any, ...]]] | None:
    """The filter's top-level conditions (its own keys, or each object of a top-level ``$and``) and the
    collection's index keys; None when there is nothing an index could serve."""
    if not isinstance(filter, dict) or not filter or not store.indexes:
        return None
    conditions = [filter]
    if set(filter) == {"$and"} and isinstance(filter["$and"], list):
        conditions = [c for c in filter["$and"] if isinstance(c, dict)]
    return conditions, {tuple(ix["key"]) for ix in store.indexes.values()}


def range_candidates(store: Any, filter: Any) -> list[dict[str, Any]] | None:
    """The documents a range condition on an indexed field can match (in store order), or None."""
    split = _conditions(store, filter)
    if split is None:
        return None
    conditions, indexed = split
    for condition in conditions:
        for name, bounds in condition.items():
            if name.startswith("$") or "." in name or not _plain_bounds(bounds):
                continue
            if ((name, 1),) not in indexed and ((name, -1),) not in indexed:
                continue
            indexes = _indexes_of(store)
            ids = None if indexes is None else indexes.in_range(name, bounds)
            if ids is not None:
                documents = store._documents
                return [documents[i] for i in ids if i in documents]
    return None


def _plain_bounds(bounds: Any) -> bool:
    """``{$gt/$gte/$lt/$lte: operand}`` with operands all numbers or all strings (no NaN): values of another
    type never compare true with them, and none raises (unlike naive and aware datetimes)."""
    if not isinstance(bounds, dict) or not bounds or not set(bounds) <= set(_RANGE_OPS):
        return False
    brackets = {BRACKET.get(type(v)) for v in bounds.values()}
    return brackets in ({10}, {15}) and all(v == v for v in bounds.values())


def _two_parts(key: tuple[Any, ...]) -> tuple[str, str] | None:
    """``("a", "b")`` for the one-field key ``a.b``; None for any other key."""
    if len(key) != 1 or key[0][0].count(".") != 1:
        return None
    head, tail = key[0][0].split(".")
    return None if not head or not tail or tail.isdigit() else (head, tail)


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

        from core.embedded_query import extend_deadline

        start = time.monotonic()
        indexes = EqualityIndexes(store, Collection._compute_index_entries)
        store.__dict__["_equality"] = indexes
        extend_deadline(time.monotonic() - start)  # building the index is not the query's time
    return indexes


def equality_candidates(store: Any, filter: Any) -> list[dict[str, Any]] | None:
    """The documents an equality condition on an indexed field can match (in store order), or None."""
    split = _conditions(store, filter)
    if split is None:
        return None
    conditions, indexed = split
    for condition in conditions:
        for name, value in condition.items():
            if name.startswith("$") or not isinstance(value, _SCALARS):
                continue
            if ((name, 1),) not in indexed and ((name, -1),) not in indexed:
                continue  # no index on it: do not build the others just to find that out
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


def write_stamp(collection_store: Any) -> int:
    """The clock value of the collection's last change (0: none since the process started)."""
    return collection_store.__dict__.get("_written", 0)


def _stamp(collection_store: Any) -> None:
    collection_store.__dict__["_written"] = next(_WRITE_CLOCK)


def put_new(collection_store: Any, docs: Iterable[dict[str, Any]]) -> None:
    """Store the documents whose id is not stored yet (the first, of one given twice) as
    ``collection_store[_id] = doc`` would, with mongomock's writer lock taken and the collection stamped once
    for all of them. A store that journals each put (a data folder's) gets them one by one."""
    from mongomock_ng.store import CollectionStore

    documents = collection_store._documents
    new: dict[Any, dict[str, Any]] = {}
    for doc in docs:
        if doc["_id"] not in documents and doc["_id"] not in new:
            new[doc["_id"]] = doc
    if not new:
        return
    docs = new.values()
    if type(collection_store).__setitem__ is not CollectionStore.__setitem__:
        for doc in docs:
            collection_store[doc["_id"]] = doc
        return
    try:
        with collection_store._rwlock.writer():
            for doc in docs:
                documents[doc["_id"]] = doc
    finally:
        _stamp(collection_store)
    indexes = collection_store.__dict__.get("_equality")
    if indexes is not None:
        for doc in docs:
            indexes.add(doc["_id"], doc)


def _patch_store(mc: Any) -> None:
    from mongomock_ng.store import CollectionStore

    def setitem(self: Any, key: Any, val: Any) -> None:
        indexes = self.__dict__.get("_equality")
        if indexes is not None:
            indexes.remove(key, keep_position=key in self._documents)
        try:
            with self._rwlock.writer():
                self._documents[key] = val
        finally:
            _stamp(self)
        if indexes is not None:
            indexes.add(key, val)

    def delitem(self: Any, key: Any) -> None:
        try:
            with self._rwlock.writer():
                del self._documents[key]
        finally:
            _stamp(self)
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
                _stamp(self)
        return method

    _replace(CollectionStore, "__setitem__", setitem)
    _replace(CollectionStore, "__delitem__", delitem)
    for name in ("drop", "drop_index", "abort_transaction"):
        _replace(CollectionStore, name, forgetting(name))
    create_changing = forgetting("create_index")
    create_upstream = CollectionStore.create_index

    def create_index(self: Any, index_name: str, index_dict: dict[str, Any]) -> Any:
        """An index created again as it is (every metadata save ensures them all) changes neither the documents
        nor the keys a lookup can use: the lookups' index is kept rather than rebuilt by the next query."""
        if self.indexes.get(index_name) == index_dict:
            return create_upstream(self, index_name, index_dict)
        return create_changing(self, index_name, index_dict)

    _replace(CollectionStore, "create_index", create_index)

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


def _patch_unique_index_check(mc: Any) -> None:
    """A new unique index checks the stored documents as MongoDB does: a list that repeats a value is no duplicate
    (mongomock refuses the index over such a document: a document would duplicate itself)."""
    import threading

    from mongomock_ng import helpers
    from mongomock_ng.filtering import filter_applies
    from pymongo.errors import DuplicateKeyError

    upstream_create = mc.Collection.create_index
    upstream_raise = mc.Collection.__dict__["_raise_if_duplicate_index"].__func__
    checked_here = threading.local()

    def raise_if_duplicate(*args: Any, **kwargs: Any) -> None:
        if not getattr(checked_here, "active", False):
            upstream_raise(*args, **kwargs)

    def create_index(self: Any, keys: Any, *args: Any, **kwargs: Any) -> Any:
        index_list = helpers.create_index_list(keys)
        if not kwargs.get("unique") or any(direction == "2dsphere" for _, direction in index_list):
            return upstream_create(self, keys, *args, **kwargs)
        partial, sparse = kwargs.get("partialFilterExpression"), kwargs.get("sparse", False)
        seen: set[Any] = set()
        for doc in self._store.documents:
            if partial is not None and not filter_applies(partial, doc):
                continue
            entries = self._compute_index_entries(doc, index_list, sparse)
            if entries is None:
                continue
            own = list(dict.fromkeys(map(_hashable, entries)))
            if seen.intersection(own):
                raise DuplicateKeyError("E11000 Duplicate Key Error", 11000, {
                    "keyPattern": dict(index_list),
                    "keyValue": {k: helpers.get_value_by_dot(doc, k) for k, _ in index_list}})
            seen.update(own)
        checked_here.active = True
        try:
            return upstream_create(self, keys, *args, **kwargs)
        finally:
            checked_here.active = False

    _replace(mc.Collection, "create_index", create_index)
    _replace(mc.Collection, "_raise_if_duplicate_index", staticmethod(raise_if_duplicate))


def _hashable(entry: tuple[Any, ...]) -> Any:
    try:
        hash(entry)
        return entry
    except TypeError:  # a document in the key
        return repr(entry)


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
