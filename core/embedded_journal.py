"""A data folder for the embedded store: snapshot + append-only journal, so acknowledged writes survive a crash.

mongomock-ng keeps every collection in a ``CollectionStore``, and every change to a stored document ends in
``store[_id] = doc`` or ``del store[_id]`` (an update re-assigns the whole document once it is validated), a
dropped collection in ``drop()``, an index in ``create_index``/``drop_index``. The store classes below add one
journal record per such change, as BSON: ``put`` (the whole document), ``del`` (its ``_id``), ``drop``,
``index``, ``unindex``, ``create``. Replaying them in order over the snapshot rebuilds the exact state.

Files in the folder:

* ``snapshot.bson`` — the whole store at one generation, written to a temp file, fsynced, renamed over;
* ``journal.<gen>.bson`` — the changes since that snapshot; ``sync()`` writes and fsyncs what is pending;
* ``LOCK`` — held with ``flock`` while a process has the folder open (the OS releases it when the process dies).

Each record is framed ``<length:4><crc32:4><bson>``; a record cut short by a crash (or with a bad checksum)
ends the replay there and is cut off the file, so a torn last write is ignored, never fatal.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
from mongomock_ng.store import CollectionStore, DatabaseStore, ServerStore

log = logging.getLogger("core.embedded_journal")

FSYNC_MODES = ("always", "batch")
SNAPSHOT = "snapshot.bson"
LOCK = "LOCK"
_HEADER = struct.Struct("<II")
COMPACT_MIN_BYTES = 64 * 1024 * 1024  # compact once the journal is past this and past the snapshot's size
BATCH_SECONDS = 0.2


class DataDirInUse(RuntimeError):
    pass


class DamagedSnapshot(DataDirInUse):
    """The snapshot does not read to its end. It is written to a temporary file, synced and renamed, so a crash
    never leaves it short: the disk or someone changed it. Nothing is loaded or written, so the data folder stays
    as it was, for a backup to be restored or the damage to be looked at."""


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_records(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The intact records of a journal or snapshot file and the byte offset where they end."""
    records: list[dict[str, Any]] = []
    if not path.exists():
        return records, 0
    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        start, end = offset + _HEADER.size, offset + _HEADER.size + length
        if end > len(data) or zlib.crc32(data[start:end]) != crc:
            break
        try:
            records.append(bson.decode(data[start:end]))
        except Exception:  # a checksum collision on garbage: treat as torn
            break
        offset = end
    return records, offset


class Journal:
    """The write side: records pending changes, writes and fsyncs them on ``sync()``, compacts when large."""

    def __init__(self, folder: Path, fsync: str = "always", compact_min_bytes: int = COMPACT_MIN_BYTES,
                 store_lock: Any = None):
        if fsync not in FSYNC_MODES:
            raise ValueError(f"EMBEDDED_FSYNC must be one of {', '.join(FSYNC_MODES)}, got {fsync!r}")
        self.folder = folder
        self.fsync_mode = fsync
        self.compact_min_bytes = compact_min_bytes
        self.store_lock = store_lock if store_lock is not None else threading.RLock()  # held by every store op
        self.generation = 0
        self.server: ServerStore | None = None
        self._pending: list[bytes] = []
        self._pending_lock = threading.Lock()  # appends (under mongomock's per-collection locks)
        self._io_lock = threading.Lock()  # file writes, fsync and compaction
        self._file: Any = None
        self._size = 0
        self._snapshot_size = 0
        self._lock_file: Any = None
        self._replaying = False
        self._syncer: threading.Thread | None = None
        self._closed = threading.Event()
        self._group: list[bytes] | None = None  # the records of the open ``group``, appended as one at its end
        self._group_thread: int | None = None

    # --- recording ---------------------------------------------------------------------------------

    def encode(self, op: str, db: str, col: str, **fields: Any) -> bytes | None:
        """One framed record; raises (so the write fails, unchanged) when the document cannot be BSON."""
        if self._replaying:
            return None
        return _frame(bson.encode({"op": op, "db": db, "c": col, **fields}))

    def append(self, record: bytes | None) -> None:
        """Queue a record for the next ``sync``. Called once the change is applied in memory, so that a
        snapshot taken meanwhile either holds the change or is followed by its record."""
        if record is None:
            return
        if self._group is not None and self._group_thread == threading.get_ident():
            self._group.append(record)
            return
        with self._pending_lock:
            self._pending.append(record)

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        """The changes made inside are journaled as one record (``group``, their records framed inside), so a
        crash keeps all of them or none: a record and its history entry. The store lock is held throughout
        (every change is made under it, and compaction takes it), so no other change joins the group and no
        snapshot falls in its middle. A group opened inside another joins it."""
        with self.store_lock:
            if self._group is not None:
                yield
                return
            self._group, self._group_thread = [], threading.get_ident()
            try:
                yield
            finally:
                records, self._group, self._group_thread = self._group, None, None
                if len(records) == 1:
                    self.append(records[0])
                elif records:
                    self.append(_frame(bson.encode({"op": "group", "records": b"".join(records)})))

    def record(self, op: str, db: str, col: str, **fields: Any) -> None:
        self.append(self.encode(op, db, col, **fields))

    @property
    def dirty(self) -> bool:
        return bool(self._pending)

    def sync(self) -> None:
        """Write and fsync every pending record; returns once they are on disk (group commit)."""
        if not self._pending and self._size < self.compact_min_bytes:
            return
        with self._io_lock:
            self._size += self._write_pending(durable=True)
            if self._size >= max(self.compact_min_bytes, self._snapshot_size):
                self._compact_locked()

    def commit(self) -> None:
        """The end of a request: ``always`` syncs now; ``batch`` leaves it to the syncer thread."""
        if self.fsync_mode == "always":
            self.sync()

    # --- opening -----------------------------------------------------------------------------------

    def open(self) -> ServerStore:
        """Lock the folder, load the snapshot, replay the journal, start a fresh journal generation."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock()
        server = JournaledServerStore(self)
        self.server = server
        self._replaying = True
        try:
            snapshot_path = self.folder / SNAPSHOT
            snapshot, intact = read_records(snapshot_path)
            if snapshot_path.exists() and intact != snapshot_path.stat().st_size:
                self._unlock()
                raise DamagedSnapshot(
                    f"{snapshot_path} is damaged after byte {intact} of {snapshot_path.stat().st_size}, so records "
                    "acknowledged before it was written would be lost: the runtime did not start and changed nothing "
                    "in the folder. Restore the folder from a backup.")
            if snapshot and snapshot[0].get("op") == "snapshot":
                self.generation = int(snapshot[0]["gen"])
            for rec in snapshot[1:]:
                apply(server, rec)
            journal_path = self._journal_path(self.generation)
            records, good = read_records(journal_path)
            for rec in records:
                apply(server, rec)
        finally:
            self._replaying = False
        if journal_path.exists() and good != journal_path.stat().st_size:
            log.warning("%s: ignoring %d bytes of a torn or damaged last record", journal_path,
                        journal_path.stat().st_size - good)
            with open(journal_path, "r+b") as fh:  # cut the torn tail so new records follow intact ones
                fh.truncate(good)
                os.fsync(fh.fileno())
        self._snapshot_size = (self.folder / SNAPSHOT).stat().st_size if (self.folder / SNAPSHOT).exists() else 0
        self._file = open(journal_path, "ab")  # noqa: SIM115 - kept open for the life of the process
        self._size = good
        if records:
            with self._io_lock:
                self._compact_locked()
        self._start_syncer()
        return server

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(Exception):
            self.sync()
        with self._io_lock:
            if self._file is not None:
                self._file.close()
                self._file = None
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _lock(self) -> None:
        path = self.folder / LOCK
        fh = open(path, "a+")  # noqa: SIM115 - the lock lives as long as the process has the folder
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            owner = fh.read().strip() or "another process"
            fh.close()
            raise DataDirInUse(f"The data folder {self.folder} is in use by process {owner}; stop it first, or "
                               f"use another --data-dir") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock_file = fh

    def _journal_path(self, generation: int) -> Path:
        return self.folder / f"journal.{generation}.bson"

    # --- compaction --------------------------------------------------------------------------------

    def compact(self) -> None:
        with self._io_lock:
            self._write_pending(durable=False)  # the snapshot that follows is fsynced
            self._compact_locked()

    def _write_pending(self, durable: bool) -> int:
        """Append the pending records to the journal file (the caller holds ``_io_lock``); the bytes written."""
        with self._pending_lock:
            chunk, self._pending = b"".join(self._pending), []
        if not chunk or self._file is None:
            return 0
        self._file.write(chunk)
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())
        return len(chunk)

    def _compact_locked(self) -> None:
        """Write the whole store as the next generation's snapshot (temp file, fsync, rename), then switch
        to an empty journal. A crash at any point leaves either the old snapshot + old journal or the new
        snapshot (whose generation names the journal to replay), never a mix."""
        assert self.server is not None
        generation = self.generation + 1
        tmp = self.folder / f"{SNAPSHOT}.tmp"
        with self.store_lock, self._pending_lock, open(tmp, "wb") as fh:  # no change happens while we copy
            fh.write(_frame(bson.encode({"op": "snapshot", "gen": generation})))
            for rec in dump(self.server):
                fh.write(_frame(bson.encode(rec)))
            fh.flush()
            os.fsync(fh.fileno())
            # Changes recorded while we dumped are in the snapshot already: drop them from the old journal.
            self._pending = []
        new_journal = self._journal_path(generation)
        with open(new_journal, "wb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.folder / SNAPSHOT)
        _fsync_dir(self.folder)
        old = self._journal_path(self.generation)
        if self._file is not None:
            self._file.close()
        self._file = open(new_journal, "ab")  # noqa: SIM115
        self.generation, self._size = generation, 0
        self._snapshot_size = (self.folder / SNAPSHOT).stat().st_size
        with contextlib.suppress(FileNotFoundError):
            old.unlink()

    # --- batch syncing -----------------------------------------------------------------------------

    def _start_syncer(self) -> None:
        """Writes made outside requests (jobs, sweeps) and ``batch`` mode are synced every BATCH_SECONDS."""
        def loop() -> None:
            while not self._closed.wait(BATCH_SECONDS):
                try:
                    self.sync()
                except Exception:
                    log.exception("could not sync the embedded journal")
        self._syncer = threading.Thread(target=loop, name="embedded-journal-sync", daemon=True)
        self._syncer.start()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the journaled store classes ---------------------------------------------------------------------


class JournaledCollectionStore(CollectionStore):
    def __init__(self, name: str, journal: Journal, db_name: str):
        super().__init__(name)
        self._journal = journal
        self._db_name = db_name

    def _rec(self, op: str, **fields: Any) -> None:
        self._journal.record(op, self._db_name, self.name, **fields)

    def __setitem__(self, key: Any, val: Any) -> None:
        record = self._journal.encode("put", self._db_name, self.name, doc=val)
        super().__setitem__(key, val)
        self._journal.append(record)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._rec("del", id=key)

    def create(self, **options: Any) -> None:
        super().create(**options)
        self._rec("create", options=options)

    def drop(self) -> None:
        super().drop()
        self._rec("drop")

    def create_index(self, index_name: str, index_dict: dict[str, Any]) -> None:
        super().create_index(index_name, index_dict)
        self._rec("index", name=index_name, spec=_index_spec(index_dict))

    def drop_index(self, index_name: str) -> None:
        super().drop_index(index_name)
        self._rec("unindex", name=index_name)


class JournaledDatabaseStore(DatabaseStore):
    def __init__(self, journal: Journal, name: str):
        super().__init__()
        self._journal = journal
        self._name = name

    def __getitem__(self, col_name: str) -> CollectionStore:
        try:
            return self._collections[col_name]
        except KeyError:
            col = self._collections[col_name] = JournaledCollectionStore(col_name, self._journal, self._name)
            return col

    def rename(self, name: str, new_name: str) -> None:
        col = self._collections.pop(name, None) or JournaledCollectionStore(new_name, self._journal, self._name)
        col.name = new_name
        self._collections[new_name] = col
        self._journal.record("rename", self._name, name, to=new_name)


class JournaledServerStore(ServerStore):
    def __init__(self, journal: Journal):
        super().__init__()
        self._journal = journal

    def __getitem__(self, db_name: str) -> DatabaseStore:
        try:
            return self._databases[db_name]
        except KeyError:
            db = self._databases[db_name] = JournaledDatabaseStore(self._journal, db_name)
            return db


def _index_spec(index_dict: dict[str, Any]) -> dict[str, Any]:
    """An index as BSON can hold it: its key is a list of (field, direction) pairs."""
    spec = dict(index_dict)
    spec["key"] = [[k, v] for k, v in index_dict.get("key", [])]
    return spec


def _framed(data: bytes) -> Iterator[dict[str, Any]]:
    """The records framed one after another in ``data`` (a group's; its own checksum covered them all)."""
    offset = 0
    while offset < len(data):
        length, _ = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        yield bson.decode(data[start:start + length])
        offset = start + length


def apply(server: ServerStore, rec: dict[str, Any]) -> None:
    """Apply one journal or snapshot record (journaling is off while replaying)."""
    op = rec.get("op")
    if op == "group":
        for inner in _framed(rec["records"]):
            apply(server, inner)
        return
    db = server[rec["db"]]
    col = db[rec["c"]]
    if op == "put":
        col[rec["doc"]["_id"]] = rec["doc"]
    elif op == "del":
        with contextlib.suppress(KeyError):
            col.__delitem__(rec["id"])
    elif op == "drop":
        col.drop()
    elif op == "create":
        col.create(**rec.get("options", {}))
    elif op == "index":
        spec = dict(rec["spec"])
        spec["key"] = [tuple(pair) for pair in spec.get("key", [])]
        col.create_index(rec["name"], spec)
    elif op == "unindex":
        with contextlib.suppress(KeyError):
            col.drop_index(rec["name"])
    elif op == "rename":
        if rec["c"] in db._collections:
            db.rename(rec["c"], rec["to"])
    elif op == "collection":
        if rec.get("created"):
            col.create(**rec.get("options", {}))
        for name, spec in rec.get("indexes", {}).items():
            spec = dict(spec)
            spec["key"] = [tuple(pair) for pair in spec.get("key", [])]
            col.create_index(name, spec)


def dump(server: ServerStore) -> Iterator[dict[str, Any]]:
    """The records that rebuild ``server``: per collection its options and indexes, then its documents."""
    for db_name, db in list(server._databases.items()):
        for col_name, col in list(db._collections.items()):
            if not col.is_created:
                continue
            yield {"op": "collection", "db": db_name, "c": col_name, "created": bool(col._is_force_created),
                   "options": dict(col.options),
                   "indexes": {name: _index_spec(spec) for name, spec in col.indexes.items()}}
            for doc in list(col._documents.values()):
                yield {"op": "put", "db": db_name, "c": col_name, "doc": doc}


def open_data_dir(folder: str | os.PathLike[str], fsync: str = "always",
                  store_lock: Any = None) -> tuple[Journal, ServerStore]:
    """Open (lock, load, replay) a data folder; the returned store is what ``mongomock_ng.MongoClient(_store=…)``
    takes. ``store_lock`` is the lock every operation on the store holds (compaction takes it too)."""
    journal = Journal(Path(folder).resolve(), fsync, store_lock=store_lock)
    server = journal.open()
    atexit.register(journal.close)
    return journal, server
