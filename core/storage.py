"""The one connection to the store: pymongo for a real MongoDB, mongomock-ng when none is configured.

All code talks the pymongo API. The embedded store does not make a read-then-write atomic across
threads, so every write on it goes through a process-wide lock: a compare-and-set on ``version``
then behaves as it does on a real server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Container, Hashable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import bson
import pymongo
from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from core import embedded_query
from core.embedded_index import put_new, write_stamp

_embedded_client: Any = None
_embedded_journal: Any = None
_embedded_lock = threading.RLock()
READ_CACHE_SIZE = 10_000  # cached reads per store (tokens, stamps, group versions); cleared when full
T = TypeVar("T")


class LockedCursor:
    """A cursor of the embedded store whose evaluation runs under the store lock (and its time limit)."""

    def __init__(self, inner: Any, lock: threading.RLock, deadline: float | None = None):
        self._inner = inner
        self._lock = lock
        self._deadline = deadline

    def __iter__(self) -> LockedCursor:
        return self

    def __next__(self) -> Any:
        with self._lock, embedded_query.time_limit(self._deadline):
            return next(self._inner)

    def __getattr__(self, name: str) -> Any:
        return _locked_attribute(getattr(self._inner, name), self._lock,
                                 lambda result: result is self._inner, self._deadline)


def _locked_attribute(attr: Any, lock: threading.RLock, is_cursor: Callable[[Any], bool],
                      deadline: float | None = None) -> Any:
    """``attr`` as is when it is a value; a method is wrapped to run under ``lock``, its cursors stay locked."""
    if not callable(attr):
        return attr

    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock, embedded_query.time_limit(deadline):
            result = attr(*args, **kwargs)
        return LockedCursor(result, lock, deadline) if is_cursor(result) else result
    return locked


class LockedCollection:
    """Wraps an embedded collection so that every operation runs under the store lock.

    mongomock mutates stored documents in place, so a read running beside a write can fail or see a torn
    document; one lock makes each operation atomic, as each command is on a real server.
    """

    def __init__(self, inner: Any, lock: threading.RLock):
        self._inner = inner
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        return _locked_attribute(getattr(self._inner, name), self._lock,
                                 lambda result: hasattr(result, "__next__") and not isinstance(result, dict | list))

    @property
    def name(self) -> str:
        return self._inner.name

    def page_and_total(self, filter: dict[str, Any], page_filter: dict[str, Any], sort: list[tuple[str, int]],
                       skip: int, limit: int, projection: dict[str, Any] | None,
                       max_time_ms: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """A list page and the filter's total from one scan (see ``embedded_index.page_and_total``)."""
        from core import embedded_index

        deadline = embedded_query.deadline_after(max_time_ms)
        filter = embedded_query.prefilter(self._inner, filter, self._lock, deadline)
        page_filter = embedded_query.prefilter(self._inner, page_filter, self._lock, deadline)
        with self._lock, embedded_query.time_limit(deadline):
            return embedded_index.page_and_total(self._inner, filter, page_filter, sort, skip, limit, projection)
    # Reads that may carry user patterns: evaluate those outside the lock, and honour the time limit.
    def find(self, filter: Any = None, *args: Any, **kwargs: Any) -> LockedCursor:
        deadline = embedded_query.deadline_after(kwargs.get("max_time_ms"))
        filter = embedded_query.prefilter(self._inner, filter, self._lock, deadline)
        with self._lock, embedded_query.time_limit(deadline):
            cursor = self._inner.find(filter, *args, **kwargs)
        return LockedCursor(cursor, self._lock, deadline)

    def count_documents(self, filter: Any, **kwargs: Any) -> int:
        deadline = embedded_query.deadline_after(kwargs.pop("maxTimeMS", None))
        filter = embedded_query.prefilter(self._inner, filter, self._lock, deadline)
        with self._lock, embedded_query.time_limit(deadline):
            return self._inner.count_documents(filter, **kwargs)

    def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any) -> Any:
        deadline = embedded_query.deadline_after(kwargs.pop("maxTimeMS", None))
        pipeline = list(pipeline)
        for i, stage in enumerate(pipeline):  # leading $match stages read stored documents: prefilter them
            if set(stage) != {"$match"}:
                break
            pipeline[i] = {"$match": embedded_query.prefilter(self._inner, stage["$match"], self._lock, deadline)}
        with self._lock, embedded_query.time_limit(deadline):
            return list(self._inner.aggregate(pipeline, **kwargs))


class Store:
    """Holds the database handle; ``collection(name)`` is how packages reach their collections."""

    def __init__(self, db: Database, embedded: bool, client: Any, journal: Any = None):
        self.db = db
        self.embedded = embedded
        self.client = client
        self.journal = journal  # an embedded store kept in a data folder (core.embedded_journal)
        self._handles: dict[str, Any] = {}
        self._read_cache: dict[tuple[str, Hashable], tuple[Any, int, Any]] = {}

    def commit(self) -> None:
        """Make the writes done so far durable (the end of a request): a no-op but for a data folder."""
        if self.journal is not None:
            self.journal.commit()

    def collection(self, name: str) -> Collection:
        """The collection's handle, made once per name and reused."""
        col = self._handles.get(name)
        if col is None:
            col = self.db[name]
            if self.embedded:
                col = LockedCollection(col, _embedded_lock)
            self._handles[name] = col
        return col  # type: ignore[return-value]

    def _embedded_store(self, collection: str) -> Any:
        """mongomock's store of an embedded collection, through the kept handle (``db[name]`` builds a new one)."""
        return self.collection(collection)._inner._store  # type: ignore[attr-defined]

    def read_cached(self, collection: str, key: Hashable, load: Callable[[], T]) -> T:
        """``load()`` (a read of ``collection``), or on the embedded store the answer it gave last time for
        ``key`` when nothing has written ``collection`` since: the store lives in this process and stamps
        every change, so the answer is the one a read would give now. The value is shared: do not change it.

        On a real server every call reads (another process may have written)."""
        if not self.embedded:
            return load()
        collection_store = self._embedded_store(collection)
        cached = self._read_cache.get((collection, key))
        # a hit needs no lock: the stamp is read after the entry, so a write made meanwhile makes it a miss
        if cached is not None and cached[0] is collection_store and cached[1] == write_stamp(collection_store):
            return cached[2]
        with _embedded_lock:
            stamp = write_stamp(collection_store)
            value = load()
            if len(self._read_cache) >= READ_CACHE_SIZE:
                self._read_cache.clear()
            self._read_cache[(collection, key)] = (collection_store, stamp, value)
            return value

    def insert_built(self, collection: str, docs: list[dict[str, Any]]) -> None:
        """Insert documents the runtime built itself, their ids preset; one whose id is already stored is left
        as it is (a repeated write of the same documents is a no-op). For collections whose only unique key is
        ``_id`` (logs, history).

        On the embedded store they go into the collection as BSON carries them (one round trip through the C
        codec: fresh copies, dates as the store keeps them) instead of through mongomock's insert, whose
        per-document validation walks cost more than the rest of the write."""
        if not docs:
            return
        if not self.embedded:
            self._insert_ignoring_repeats(collection, docs)
            return
        self._insert_embedded(collection, lambda stored: (bson.decode(bson.encode(doc)) for doc in docs
                                                          if doc["_id"] not in stored))

    def insert_encoded(self, collection: str, encoded: list[tuple[Any, bytes]]) -> None:
        """``insert_built`` of documents already BSON-encoded, as ``(_id, bytes)``: a writer that keeps the
        encoded form anyway (a history entry packed into its record's outbox) does not encode it again."""
        if not encoded:
            return
        if not self.embedded:
            self._insert_ignoring_repeats(collection, [RawBSONDocument(raw) for _, raw in encoded])
            return
        self._insert_embedded(collection, lambda stored: (bson.decode(raw) for oid, raw in encoded
                                                          if oid not in stored))

    def _insert_ignoring_repeats(self, collection: str, docs: list[Any]) -> None:
        try:
            self.collection(collection).insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            refused_as_duplicates(exc)

    def _insert_embedded(self, collection: str,
                         make: Callable[[Container[Any]], Iterable[dict[str, Any]]]) -> None:
        """The documents ``make`` gives, under the store lock, into an embedded collection whose only unique key
        is ``_id``. ``make`` gets the stored ids (read under that lock: no reader lock of mongomock's per id),
        so a writer that copies its documents copies none that is stored already; ``put_new`` leaves those
        out in any case."""
        with _embedded_lock:
            stored = self._embedded_store(collection)
            if any(index.get("unique") for index in stored.indexes.values()):
                raise ValueError(f"{collection} has a unique index besides _id: insert it as any document")
            put_new(stored, make(stored._documents))

    def insert_owned(self, collection: str, docs: list[dict[str, Any]]) -> None:
        """``insert_built`` on the embedded store of documents handed over: stored as they are, without a copy.
        The caller built each one for this write, shares no list or dict in it with anything else and keeps
        no reference to it, and its values are BSON's (datetimes to the millisecond, no tuples). A server
        gets an ``insert_built``."""
        if not docs:
            return
        if not self.embedded:
            self.insert_built(collection, docs)
            return
        self._insert_embedded(collection, lambda stored: docs)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """The writes inside happen together on the embedded store: no other operation runs between them (the
        store lock), and a data folder journals them as one record, so a crash keeps all or none. A no-op on a
        server, where writers that need it use an outbox instead (see ``entities.history.recorder``)."""
        if not self.embedded:
            yield
            return
        with self.journal.group() if self.journal is not None else _embedded_lock:  # a group takes that lock
            yield

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Serialise a read-modify-write on the embedded store; a no-op on a real server."""
        if self.embedded:
            with _embedded_lock:
                yield
        else:
            yield

    def collection_names(self) -> list[str]:
        return self.db.list_collection_names()

    def ensure_ttl(self, collection: str, field: str, name: str) -> None:
        """Expire documents once ``field`` (a datetime) is in the past.

        On MongoDB this is a TTL index, enforced by the server. mongomock re-scans a TTL-indexed collection
        on every operation (cost grows with its size), so the embedded store sweeps expired documents
        from a background thread instead: same outcome, at most ``SWEEP_SECONDS`` late.
        """
        if not self.embedded:
            self.collection(collection).create_index([(field, 1)], name=name, expireAfterSeconds=0)
            return
        self.collection(collection).create_index([(field, 1)], name=name)
        _sweeper.watch(self.db, collection, field)

    def sweep_expired(self) -> int:
        """Run the embedded store's expiry sweep now (tests, and the sweeper thread)."""
        return _sweeper.sweep()


SWEEP_SECONDS = 60.0


class _Sweeper:
    def __init__(self) -> None:
        self.targets: set[tuple[Any, str, str]] = set()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def watch(self, db: Any, collection: str, field: str) -> None:
        with self.lock:
            self.targets.add((db, collection, field))
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="embedded-ttl-sweeper", daemon=True)
                self.thread.start()

    def sweep(self) -> int:
        import datetime as dt

        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        removed = 0
        for db, collection, field in list(self.targets):
            with _embedded_lock:
                removed += db[collection].delete_many({field: {"$lte": now}}).deleted_count
        return removed

    def _loop(self) -> None:
        import time

        while True:
            time.sleep(SWEEP_SECONDS)
            try:
                self.sweep()
            except Exception:  # a dropped database must not kill the sweeper
                continue


_sweeper = _Sweeper()


def refused_as_duplicates(exc: BulkWriteError) -> set[int]:
    """The positions an unordered ``insert_many`` refused because their key was taken; ``exc`` itself when any
    write failed for another reason."""
    errors = exc.details.get("writeErrors", [])
    if any(e.get("code") != 11000 for e in errors):
        raise exc
    return {e["index"] for e in errors}


def connect(uri: str | None, db_name: str, data_dir: str | None = None, fsync: str = "always",
            timeout_ms: int = 5000, **client_kwargs: Any) -> Store:
    """``data_dir`` keeps the embedded store in that folder (one per process); without it, it lives in memory.
    ``timeout_ms`` bounds how long an operation waits for an unreachable server (then ConnectionFailure)."""
    from core import embedded_index

    if uri:
        embedded_index.install_exact_decimals()
        client_kwargs.setdefault("serverSelectionTimeoutMS", timeout_ms)
        client_kwargs.setdefault("connectTimeoutMS", timeout_ms)
        client = pymongo.MongoClient(uri, tz_aware=False, **client_kwargs)
        return Store(client[db_name], embedded=False, client=client)
    global _embedded_client, _embedded_journal
    import mongomock_ng

    embedded_index.install()
    embedded_query.install()
    with _embedded_lock:
        if _embedded_client is None:
            server = None
            if data_dir:
                from core.embedded_journal import open_data_dir

                _embedded_journal, server = open_data_dir(data_dir, fsync, _embedded_lock)
            _embedded_client = mongomock_ng.MongoClient(_store=server)
    return Store(_embedded_client[db_name], embedded=True, client=_embedded_client, journal=_embedded_journal)


def drop_embedded(db_name: str) -> None:
    """Forget an embedded database (tests use a fresh one each)."""
    if _embedded_client is not None:
        _embedded_client.drop_database(db_name)
