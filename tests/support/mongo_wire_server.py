"""A MongoDB wire-protocol test server backed by one in-process ``mongomock_ng.MongoClient``.

No MongoDB server can be installed on the test machines, so this module speaks just enough of the
wire protocol for the real pymongo driver (in any number of client processes) to use it::

    server = MongoWireServer().start()
    client = pymongo.MongoClient(server.uri)
    ...
    server.stop()

or as a process (end-to-end tests point gunicorn and RQ workers at it through ``MONGODB_URI``)::

    python -m tests.support.mongo_wire_server --port 0     # prints "READY <port>", serves until SIGTERM

Every command runs under one server-wide lock, so each command is atomic: a compare-and-set
``update`` with an ``{_id, version}`` filter, or a ``findAndModify``, is safe across processes.

Protocol: the legacy OP_QUERY handshake (and OP_QUERY commands on ``<db>.$cmd``) answered with
OP_REPLY, and OP_MSG with kind-0 bodies, kind-1 document sequences, ``moreToCome`` (no reply) and
``checksumPresent`` (the CRC is stripped, not verified).

Commands: hello/isMaster/ismaster, ping, buildInfo/buildinfo, endSessions, killSessions,
killAllSessions, find, getMore, killCursors, insert, update, delete, findAndModify/findandmodify,
aggregate, count, distinct, createIndexes, listIndexes, dropIndexes, listCollections,
listDatabases, create, drop, dropDatabase and renameCollection (within one database). Anything
else answers ``CommandNotFound`` (code 59) -- e.g. explain, dbStats, collStats, serverStatus.

Limits -- this is a test fixture, not a database:

* No authentication, no TLS, no compression (OP_COMPRESSED is neither advertised nor accepted),
  no exhaust replies (the driver copes with ordinary ones), no tailable/awaitData cursors, no
  change streams, no ``explain``, no database-level ``aggregate: 1``.
* No replica set: the server reports itself standalone, so there are no transactions and no
  retryable writes. ``lsid``, ``txnNumber``, ``$clusterTime``, ``readConcern``, ``writeConcern``,
  ``$readPreference``, ``apiVersion``, ``comment``, ``hint``, ``let`` and ``maxTimeMS`` are
  accepted and ignored (a command never times out; it only waits for the lock).
* Cursors are snapshots: a cursor's whole result set is computed (and BSON-encoded) when it is
  opened. Cursors idle for ten minutes are forgotten. Batches are capped at 16 MiB.
* Query, update and aggregation semantics are exactly mongomock-ng's, gaps included: ``$text``,
  ``$jsonSchema``, ``$elemMatch`` projections with operators and the positional ``$`` update on
  arrays of scalars fail, ``$$NOW`` is unset and ``find`` ignores ``collation``.
  NotImplementedError is answered with code 238 ``NotImplemented``, other unexpected mongomock
  exceptions with code 8 ``UnknownError``.
  ``create`` only accepts ``validator``/``validationLevel``/``validationAction`` (no capped
  collections, no views). Indexes are bookkeeping only: unique, sparse and partial unique
  constraints are enforced; TTL expiry is mongomock's, evaluated lazily on access.
* Writes made with ``w: 0`` (``moreToCome``) are applied, but their errors are dropped.
* Storage is in memory and lost when the server stops.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import secrets
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
import mongomock_ng
from bson.codec_options import CodecOptions
from bson.errors import BSONError
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from mongomock_ng.filtering import filter_applies
from pymongo.errors import CollectionInvalid, DuplicateKeyError, InvalidName, OperationFailure

from core import embedded_index

_log = logging.getLogger(__name__)

CODEC: CodecOptions = CodecOptions(document_class=dict)

OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013

MSG_CHECKSUM_PRESENT = 1 << 0
MSG_MORE_TO_COME = 1 << 1
REPLY_QUERY_FAILURE = 1 << 1

HEADER = struct.Struct("<iiii")
MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000
MAX_WRITE_BATCH_SIZE = 100_000
MAX_BATCH_BYTES = MAX_BSON_SIZE - 64 * 1024
DEFAULT_FIRST_BATCH = 101
MAX_WIRE_VERSION = 21  # MongoDB 7.0
SERVER_VERSION = "7.0.0"
CURSOR_IDLE_SECONDS = 600.0

# Error codes, as a real server reports them.
BAD_VALUE = 2
UNKNOWN_ERROR = 8
FAILED_TO_PARSE = 9
NAMESPACE_NOT_FOUND = 26
INDEX_NOT_FOUND = 27
CURSOR_NOT_FOUND = 43
NAMESPACE_EXISTS = 48
COMMAND_NOT_FOUND = 59
INVALID_OPTIONS = 72
INVALID_NAMESPACE = 73
INDEX_OPTIONS_CONFLICT = 85
NOT_IMPLEMENTED = 238
DUPLICATE_KEY = 11000
BSON_OBJECT_TOO_LARGE = 10334
MISSING_DB = 40571

_CODE_NAMES = {
    BAD_VALUE: "BadValue",
    UNKNOWN_ERROR: "UnknownError",
    FAILED_TO_PARSE: "FailedToParse",
    14: "TypeMismatch",
    NAMESPACE_NOT_FOUND: "NamespaceNotFound",
    INDEX_NOT_FOUND: "IndexNotFound",
    CURSOR_NOT_FOUND: "CursorNotFound",
    NAMESPACE_EXISTS: "NamespaceExists",
    COMMAND_NOT_FOUND: "CommandNotFound",
    INVALID_OPTIONS: "InvalidOptions",
    INVALID_NAMESPACE: "InvalidNamespace",
    INDEX_OPTIONS_CONFLICT: "IndexOptionsConflict",
    86: "IndexKeySpecsConflict",
    121: "DocumentValidationFailure",
    NOT_IMPLEMENTED: "NotImplemented",
    BSON_OBJECT_TOO_LARGE: "BSONObjectTooLarge",
    DUPLICATE_KEY: "DuplicateKey",
}

_INDEX_OPTIONS = ("name", "unique", "sparse", "expireAfterSeconds", "partialFilterExpression")


class ProtocolError(Exception):
    """The peer sent something that is not a message we can parse; the connection is closed."""


class CommandError(Exception):
    """A command failed; answered as ``{ok: 0, errmsg, code, codeName}``."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------------------------
# Wire format
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WireMessage:
    request_id: int
    op_code: int
    payload: bytes


_next_request_id = itertools.count(1).__next__


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    """``size`` bytes, or None if the peer closed the connection before sending any."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            if remaining == size:
                return None
            raise ProtocolError("connection closed mid-message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(sock: socket.socket) -> WireMessage | None:
    header = _recv_exact(sock, HEADER.size)
    if header is None:
        return None
    length, request_id, _response_to, op_code = HEADER.unpack(header)
    if length < HEADER.size or length > MAX_MESSAGE_SIZE:
        raise ProtocolError(f"bad message length {length}")
    payload = _recv_exact(sock, length - HEADER.size) if length > HEADER.size else b""
    if payload is None:
        raise ProtocolError("connection closed mid-message")
    return WireMessage(request_id, op_code, payload)


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\x00", pos)
    return data[pos:end].decode("utf-8"), end + 1


def _int32(data: bytes, pos: int) -> int:
    return struct.unpack_from("<i", data, pos)[0]


def parse_op_msg(payload: bytes) -> tuple[int, dict[str, Any]]:
    """(flagBits, body) with every kind-1 document sequence merged into the body."""
    flags = struct.unpack_from("<I", payload, 0)[0]
    end = len(payload) - (4 if flags & MSG_CHECKSUM_PRESENT else 0)
    pos = 4
    body: dict[str, Any] | None = None
    sequences: dict[str, list[dict[str, Any]]] = {}
    while pos < end:
        kind = payload[pos]
        size = _int32(payload, pos + 1)
        section_end = pos + 1 + size
        if size < 5 or section_end > end:
            raise ProtocolError("bad OP_MSG section size")
        if kind == 0:
            if body is not None:
                raise ProtocolError("OP_MSG with two body sections")
            body = bson.decode(payload[pos + 1 : section_end], CODEC)
        elif kind == 1:
            identifier, docs_start = _cstring(payload, pos + 5)
            sequences[identifier] = bson.decode_all(payload[docs_start:section_end], CODEC)
        else:
            raise ProtocolError(f"unknown OP_MSG section kind {kind}")
        pos = section_end
    if body is None:
        raise ProtocolError("OP_MSG without a body section")
    body.update(sequences)
    return flags, body


def parse_op_query(payload: bytes) -> tuple[str, dict[str, Any]]:
    """(full collection name, query document) of a legacy OP_QUERY."""
    namespace, pos = _cstring(payload, 4)
    pos += 8  # numberToSkip, numberToReturn
    size = _int32(payload, pos)
    query = bson.decode(payload[pos : pos + size], CODEC)
    if "$query" in query:
        query = query["$query"]
    return namespace, query


def _frame(response_to: int, op_code: int, payload: bytes) -> bytes:
    return HEADER.pack(HEADER.size + len(payload), _next_request_id(), response_to, op_code) + payload


def encode_op_msg(response_to: int, document: bytes) -> bytes:
    return _frame(response_to, OP_MSG, struct.pack("<IB", 0, 0) + document)


def encode_op_reply(response_to: int, document: bytes, flags: int = 0) -> bytes:
    return _frame(response_to, OP_REPLY, struct.pack("<iqii", flags, 0, 0, 1) + document)


# --------------------------------------------------------------------------------------------
# Replies and errors
# --------------------------------------------------------------------------------------------


def error_reply(code: int, message: str) -> dict[str, Any]:
    return {"ok": 0.0, "errmsg": message, "code": code, "codeName": _CODE_NAMES.get(code, f"Location{code}")}


def _clean_message(exc: BaseException) -> str:
    message = str(exc)
    if isinstance(exc, OperationFailure):
        message = message.split(", full error:", 1)[0]
    return message or type(exc).__name__


def classify_exception(exc: BaseException) -> tuple[int, str]:
    """The (code, errmsg) a real server would most plausibly have answered with."""
    if isinstance(exc, CommandError):
        return exc.code, exc.message
    if isinstance(exc, OperationFailure):
        return exc.code or BAD_VALUE, _clean_message(exc)
    if isinstance(exc, NotImplementedError):
        return NOT_IMPLEMENTED, f"not supported by the mongomock-ng test server: {exc}"
    if isinstance(exc, InvalidName):
        return INVALID_NAMESPACE, str(exc)
    if isinstance(exc, CollectionInvalid):
        return NAMESPACE_EXISTS, str(exc)
    if isinstance(exc, (ValueError, TypeError, KeyError, BSONError)):
        return BAD_VALUE, f"{type(exc).__name__}: {exc}"
    _log.exception("unexpected error in command")
    return UNKNOWN_ERROR, f"{type(exc).__name__}: {exc}"


def _write_error(index: int, exc: BaseException, ns: str) -> dict[str, Any]:
    code, message = classify_exception(exc)
    entry: dict[str, Any] = {"index": index, "code": code, "errmsg": message}
    if isinstance(exc, DuplicateKeyError):
        details = exc.details or {}
        entry["errmsg"] = f"E11000 duplicate key error collection: {ns} dup key: {details.get('keyValue')}"
        entry.update({k: details[k] for k in ("keyPattern", "keyValue") if k in details})
    return entry


def _write_reply(n: int, errors: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    reply: dict[str, Any] = {"n": n, **extra}
    if errors:
        reply["writeErrors"] = errors
    reply["ok"] = 1.0
    return reply


def _sort_spec(sort: Mapping[str, Any] | None) -> list[tuple[str, Any]] | None:
    return list(sort.items()) if sort else None


def _is_replacement(update: Any) -> bool:
    return isinstance(update, Mapping) and not any(key.startswith("$") for key in update)


def _apply_update(collection: Any, query: Mapping[str, Any], update: Any, *, multi: bool = False,
                  upsert: bool = False, array_filters: list[Any] | None = None,
                  collation: Any = None) -> Any:
    """Run one update statement (operator update, pipeline or replacement) through mongomock."""
    options: dict[str, Any] = {"upsert": upsert}
    if collation:
        options["collation"] = collation
    if _is_replacement(update):
        if multi:
            raise CommandError(FAILED_TO_PARSE, "multi update is not supported for replacement-style update")
        return collection.replace_one(query, update, **options)
    if array_filters:
        options["array_filters"] = array_filters
    method = collection.update_many if multi else collection.update_one
    return method(query, update, **options)


# --------------------------------------------------------------------------------------------
# Cursors
# --------------------------------------------------------------------------------------------


@dataclass
class ServerCursor:
    cursor_id: int
    ns: str
    docs: list[RawBSONDocument]
    position: int = 0
    last_used: float = field(default_factory=time.monotonic)

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.docs)

    def next_batch(self, max_docs: int | None) -> list[RawBSONDocument]:
        batch: list[RawBSONDocument] = []
        size = 0
        while not self.exhausted and (max_docs is None or len(batch) < max_docs):
            doc = self.docs[self.position]
            if batch and size + len(doc.raw) > MAX_BATCH_BYTES:
                break
            batch.append(doc)
            size += len(doc.raw)
            self.position += 1
        self.last_used = time.monotonic()
        return batch


class CursorRegistry:
    """Server-side cursor state keyed by cursor id (callers hold the command lock)."""

    def __init__(self, idle_seconds: float = CURSOR_IDLE_SECONDS):
        self._cursors: dict[int, ServerCursor] = {}
        self._idle_seconds = idle_seconds

    def __len__(self) -> int:
        return len(self._cursors)

    def __contains__(self, cursor_id: object) -> bool:
        return cursor_id in self._cursors

    def open(self, ns: str, docs: Iterable[Mapping[str, Any]], batch_size: int | None,
             single_batch: bool = False) -> dict[str, Any]:
        self._reap_idle()
        encoded = [RawBSONDocument(bson.encode(doc, codec_options=CODEC)) for doc in docs]
        cursor = ServerCursor(self._new_id(), ns, encoded)
        first = cursor.next_batch(DEFAULT_FIRST_BATCH if batch_size is None else batch_size)
        keep = not (single_batch or cursor.exhausted)
        if keep:
            self._cursors[cursor.cursor_id] = cursor
        return self._reply(cursor.cursor_id if keep else 0, ns, "firstBatch", first)

    def get_more(self, cursor_id: int, batch_size: int | None) -> dict[str, Any]:
        cursor = self._cursors.get(cursor_id)
        if cursor is None:
            raise CommandError(CURSOR_NOT_FOUND, f"cursor id {cursor_id} not found")
        batch = cursor.next_batch(batch_size or None)
        if cursor.exhausted:
            del self._cursors[cursor_id]
            cursor_id = 0
        return self._reply(cursor_id, cursor.ns, "nextBatch", batch)

    def kill(self, cursor_ids: Iterable[int]) -> dict[str, Any]:
        killed: list[Int64] = []
        not_found: list[Int64] = []
        for cursor_id in cursor_ids:
            found = self._cursors.pop(int(cursor_id), None) is not None
            (killed if found else not_found).append(Int64(cursor_id))
        return {"cursorsKilled": killed, "cursorsNotFound": not_found, "cursorsAlive": [],
                "cursorsUnknown": [], "ok": 1.0}

    def _new_id(self) -> int:
        while True:
            cursor_id = secrets.randbits(62) + 1
            if cursor_id not in self._cursors:
                return cursor_id

    def _reap_idle(self) -> None:
        deadline = time.monotonic() - self._idle_seconds
        for cursor_id in [cid for cid, c in self._cursors.items() if c.last_used < deadline]:
            del self._cursors[cursor_id]

    @staticmethod
    def _reply(cursor_id: int, ns: str, key: str, batch: list[RawBSONDocument]) -> dict[str, Any]:
        return {"cursor": {"id": Int64(cursor_id), "ns": ns, key: batch}, "ok": 1.0}


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    db: str
    name: str
    body: dict[str, Any]
    connection_id: int

    @property
    def target(self) -> Any:
        return self.body[self.name]

    @property
    def collection_name(self) -> str:
        name = self.target
        if not isinstance(name, str) or not name:
            raise CommandError(INVALID_NAMESPACE, f"collection name has invalid type {type(name).__name__}")
        return name

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.collection_name}"

    def int_option(self, key: str, default: int = 0) -> int:
        value = self.body.get(key)
        return default if value is None else int(value)


Handler = Callable[[Command], dict[str, Any]]


class CommandBackend:
    """Executes decoded commands against one mongomock client, one command at a time."""

    def __init__(self, client: Any | None = None, journal: Any = None):
        embedded_index.install()  # the runtime's embedded store, patched the same way: same speed end to end
        self.client = client if client is not None else mongomock_ng.MongoClient()
        self.lock = threading.Lock()
        self.journal = journal  # a data folder (core.embedded_journal): each reply waits for its writes' fsync
        self.cursors = CursorRegistry()
        self._connection_ids = itertools.count(1)
        self._handlers: dict[str, Handler] = {
            "hello": self._hello,
            "isMaster": self._hello,
            "ismaster": self._hello,
            "ping": self._ok,
            "buildInfo": self._build_info,
            "buildinfo": self._build_info,
            "endSessions": self._ok,
            "killSessions": self._ok,
            "killAllSessions": self._ok,
            "find": self._find,
            "getMore": self._get_more,
            "killCursors": self._kill_cursors,
            "insert": self._insert,
            "update": self._update,
            "delete": self._delete,
            "findAndModify": self._find_and_modify,
            "findandmodify": self._find_and_modify,
            "aggregate": self._aggregate,
            "count": self._count,
            "distinct": self._distinct,
            "createIndexes": self._create_indexes,
            "listIndexes": self._list_indexes,
            "dropIndexes": self._drop_indexes,
            "listCollections": self._list_collections,
            "listDatabases": self._list_databases,
            "create": self._create,
            "drop": self._drop,
            "dropDatabase": self._drop_database,
            "renameCollection": self._rename_collection,
        }

    @property
    def command_names(self) -> list[str]:
        return sorted(self._handlers)

    def next_connection_id(self) -> int:
        return next(self._connection_ids)

    def run(self, db: str, body: dict[str, Any], connection_id: int) -> bytes:
        """Execute one command atomically and return its BSON-encoded reply.

        The reply is encoded before the lock is released: values it carries (a ``distinct``
        result, a ``findAndModify`` value) may share objects with the store that the next
        command would mutate.
        """
        name = next(iter(body), "")
        handler = self._handlers.get(name)
        if handler is None:
            return _encode_reply(error_reply(COMMAND_NOT_FOUND, f"no such command: '{name}'"))
        with self.lock:
            try:
                reply = handler(Command(db, name, body, connection_id))
            except Exception as exc:
                reply = error_reply(*classify_exception(exc))
            encoded = _encode_reply(reply)
        if self.journal is not None:
            self.journal.commit()
        return encoded

    # -- helpers ---------------------------------------------------------------------------

    def _collection(self, cmd: Command) -> Any:
        return self.client[cmd.db][cmd.collection_name]

    def _collection_exists(self, db: str, name: str) -> bool:
        return name in self.client[db].list_collection_names()

    def _ensure_collection(self, cmd: Command) -> bool:
        """Create the collection explicitly (so it survives being emptied); True if it was new."""
        if self._collection_exists(cmd.db, cmd.collection_name):
            return False
        self.client[cmd.db].create_collection(cmd.collection_name)
        return True

    def _require_collection(self, cmd: Command) -> Any:
        if not self._collection_exists(cmd.db, cmd.collection_name):
            raise CommandError(NAMESPACE_NOT_FOUND, f"ns does not exist: {cmd.ns}")
        return self._collection(cmd)

    # -- handshake and trivia --------------------------------------------------------------

    def _ok(self, cmd: Command) -> dict[str, Any]:
        return {"ok": 1.0}

    def _hello(self, cmd: Command) -> dict[str, Any]:
        return {
            "helloOk": True,
            "isWritablePrimary": True,
            "ismaster": True,
            "maxBsonObjectSize": MAX_BSON_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
            "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE,
            "localTime": datetime.now(UTC),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": cmd.connection_id,
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION,
            "readOnly": False,
            "ok": 1.0,
        }

    def _build_info(self, cmd: Command) -> dict[str, Any]:
        version_array = [int(part) for part in SERVER_VERSION.split(".")] + [0]
        return {"version": SERVER_VERSION, "gitVersion": "mongomock-ng", "versionArray": version_array,
                "bits": 64, "debug": False, "maxBsonObjectSize": MAX_BSON_SIZE, "storageEngines": [],
                "ok": 1.0}

    # -- reads -----------------------------------------------------------------------------

    def _find(self, cmd: Command) -> dict[str, Any]:
        body = cmd.body
        options: dict[str, Any] = {}
        if body.get("collation"):
            options["collation"] = body["collation"]
        limit = abs(cmd.int_option("limit"))
        docs = self._collection(cmd).find(
            body.get("filter") or {},
            projection=body.get("projection") or None,
            skip=cmd.int_option("skip"),
            limit=limit,
            sort=_sort_spec(body.get("sort")),
            **options,
        )
        batch_size = body.get("batchSize")
        if batch_size is None and limit:
            batch_size = limit
        single = bool(body.get("singleBatch")) or cmd.int_option("limit") < 0
        return self.cursors.open(cmd.ns, docs, batch_size, single_batch=single)

    def _get_more(self, cmd: Command) -> dict[str, Any]:
        return self.cursors.get_more(int(cmd.target), cmd.int_option("batchSize") or None)

    def _kill_cursors(self, cmd: Command) -> dict[str, Any]:
        return self.cursors.kill(cmd.body.get("cursors") or [])

    def _aggregate(self, cmd: Command) -> dict[str, Any]:
        if not isinstance(cmd.target, str):
            raise CommandError(NOT_IMPLEMENTED, "database-level aggregate ({aggregate: 1}) is not supported")
        if cmd.body.get("explain"):
            raise CommandError(NOT_IMPLEMENTED, "explain is not supported")
        docs = self._collection(cmd).aggregate(list(cmd.body.get("pipeline") or []))
        batch_size = (cmd.body.get("cursor") or {}).get("batchSize")
        return self.cursors.open(cmd.ns, docs, batch_size)

    def _count(self, cmd: Command) -> dict[str, Any]:
        options: dict[str, Any] = {"skip": max(cmd.int_option("skip"), 0)}
        limit = abs(cmd.int_option("limit"))
        if limit:
            options["limit"] = limit
        n = self._collection(cmd).count_documents(cmd.body.get("query") or {}, **options)
        return {"n": n, "ok": 1.0}

    def _distinct(self, cmd: Command) -> dict[str, Any]:
        key = cmd.body.get("key")
        if not isinstance(key, str):
            raise CommandError(FAILED_TO_PARSE, "distinct requires a string 'key'")
        values = self._collection(cmd).distinct(key, cmd.body.get("query") or None)
        return {"values": list(values), "ok": 1.0}

    # -- writes ----------------------------------------------------------------------------

    def _insert(self, cmd: Command) -> dict[str, Any]:
        self._ensure_collection(cmd)
        collection = self._collection(cmd)
        bypass = bool(cmd.body.get("bypassDocumentValidation"))
        ordered = cmd.body.get("ordered", True)
        n, errors = 0, []
        for index, doc in enumerate(cmd.body.get("documents") or []):
            try:
                collection.insert_one(doc, bypass_document_validation=bypass)
            except Exception as exc:
                errors.append(_write_error(index, exc, cmd.ns))
                if ordered:
                    break
            else:
                n += 1
        return _write_reply(n, errors)

    def _update(self, cmd: Command) -> dict[str, Any]:
        collection = self._collection(cmd)
        ordered = cmd.body.get("ordered", True)
        n = modified = 0
        upserted: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, stmt in enumerate(cmd.body.get("updates") or []):
            try:
                if stmt.get("upsert"):
                    self._ensure_collection(cmd)
                raw = _apply_update(
                    collection, stmt.get("q") or {}, stmt.get("u"), multi=bool(stmt.get("multi")),
                    upsert=bool(stmt.get("upsert")), array_filters=stmt.get("arrayFilters"),
                    collation=stmt.get("collation"),
                ).raw_result
            except Exception as exc:
                errors.append(_write_error(index, exc, cmd.ns))
                if ordered:
                    break
                continue
            n += raw.get("n", 0)
            modified += raw.get("nModified", 0)
            if raw.get("upserted") is not None:
                upserted.append({"index": index, "_id": raw["upserted"]})
        extra: dict[str, Any] = {"nModified": modified}
        if upserted:
            extra["upserted"] = upserted
        return _write_reply(n, errors, **extra)

    def _delete(self, cmd: Command) -> dict[str, Any]:
        collection = self._collection(cmd)
        ordered = cmd.body.get("ordered", True)
        n, errors = 0, []
        for index, stmt in enumerate(cmd.body.get("deletes") or []):
            options = {"collation": stmt["collation"]} if stmt.get("collation") else {}
            delete = collection.delete_one if stmt.get("limit") == 1 else collection.delete_many
            try:
                n += delete(stmt.get("q") or {}, **options).deleted_count
            except Exception as exc:
                errors.append(_write_error(index, exc, cmd.ns))
                if ordered:
                    break
        return _write_reply(n, errors)

    def _find_and_modify(self, cmd: Command) -> dict[str, Any]:
        body = cmd.body
        remove, update = bool(body.get("remove")), body.get("update")
        if remove == (update is not None):
            raise CommandError(FAILED_TO_PARSE, "Either an update or remove=true must be specified")
        if remove and (body.get("new") or body.get("upsert")):
            raise CommandError(FAILED_TO_PARSE, "Cannot specify both new=true/upsert=true and remove=true")
        collection = self._collection(cmd)
        current = collection.find_one(body.get("query") or {}, sort=_sort_spec(body.get("sort")))
        if current is None:
            if remove or not body.get("upsert"):
                return self._fam_reply(None, n=0, **({} if remove else {"updatedExisting": False}))
            return self._fam_upsert(cmd, collection)
        selector = {"_id": current["_id"]}
        projection = body.get("fields") or None
        before = collection.find_one(selector, projection)
        if remove:
            collection.delete_one(selector)
            return self._fam_reply(before, n=1)
        _apply_update(collection, selector, update, array_filters=body.get("arrayFilters"))
        value = collection.find_one(selector, projection) if body.get("new") else before
        return self._fam_reply(value, n=1, updatedExisting=True)

    def _fam_upsert(self, cmd: Command, collection: Any) -> dict[str, Any]:
        body = cmd.body
        self._ensure_collection(cmd)
        raw = _apply_update(collection, body.get("query") or {}, body.get("update"), upsert=True,
                            array_filters=body.get("arrayFilters")).raw_result
        upserted_id = raw.get("upserted")
        value = None
        if body.get("new"):
            value = collection.find_one({"_id": upserted_id}, body.get("fields") or None)
        return self._fam_reply(value, n=1, updatedExisting=False, upserted=upserted_id)

    @staticmethod
    def _fam_reply(value: dict[str, Any] | None, **last_error: Any) -> dict[str, Any]:
        return {"lastErrorObject": last_error, "value": value, "ok": 1.0}

    # -- indexes ---------------------------------------------------------------------------

    def _create_indexes(self, cmd: Command) -> dict[str, Any]:
        specs = cmd.body.get("indexes")
        if not isinstance(specs, list) or not specs:
            raise CommandError(BAD_VALUE, "Must specify at least one index to create")
        created = self._ensure_collection(cmd)
        collection = self._collection(cmd)
        before = len(list(collection.list_indexes()))
        for spec in specs:
            self._create_index(collection, spec)
        after = len(list(collection.list_indexes()))
        return {"createdCollectionAutomatically": created, "numIndexesBefore": before,
                "numIndexesAfter": after, "ok": 1.0}

    @staticmethod
    def _create_index(collection: Any, spec: Mapping[str, Any]) -> None:
        key = spec.get("key")
        if not isinstance(key, Mapping) or not key:
            raise CommandError(FAILED_TO_PARSE, "index specification must have a non-empty 'key' document")
        options = {name: spec[name] for name in _INDEX_OPTIONS if spec.get(name) is not None}
        try:
            collection.create_index(list(key.items()), **options)
        except DuplicateKeyError:
            raise
        except OperationFailure as exc:
            if exc.code is None:
                raise CommandError(INDEX_OPTIONS_CONFLICT, _clean_message(exc)) from exc
            raise

    def _list_indexes(self, cmd: Command) -> dict[str, Any]:
        collection = self._require_collection(cmd)
        specs = [
            {"v": 2, "key": info["key"], "name": info["name"],
             **{k: v for k, v in info.items() if k not in ("v", "key", "name")}}
            for info in collection.list_indexes()
        ]
        batch_size = (cmd.body.get("cursor") or {}).get("batchSize")
        return self.cursors.open(cmd.ns, specs, batch_size)

    def _drop_indexes(self, cmd: Command) -> dict[str, Any]:
        collection = self._require_collection(cmd)
        was = len(list(collection.list_indexes()))
        target = cmd.body.get("index")
        if target == "*":
            collection.drop_indexes()
        else:
            for name in self._index_names(collection, target):
                if name == "_id_":
                    raise CommandError(INVALID_OPTIONS, "cannot drop _id index")
                collection.drop_index(name)
        return {"nIndexesWas": was, "ok": 1.0}

    @staticmethod
    def _index_names(collection: Any, target: Any) -> list[str]:
        if isinstance(target, str):
            names = [target]
        elif isinstance(target, list):
            names = [str(name) for name in target]
        elif isinstance(target, Mapping):
            wanted = list(target.items())
            indexes = collection.list_indexes()
            names = [info["name"] for info in indexes if list(info["key"].items()) == wanted]
            if not names:
                raise CommandError(INDEX_NOT_FOUND, f"can't find index with key: {dict(target)}")
        else:
            raise CommandError(BAD_VALUE, "dropIndexes requires 'index' (a name, names, key or '*')")
        existing = {info["name"] for info in collection.list_indexes()}
        missing = [name for name in names if name not in existing]
        if missing:
            raise CommandError(INDEX_NOT_FOUND, f"index not found with name [{missing[0]}]")
        return names

    # -- collections and databases ---------------------------------------------------------

    def _list_collections(self, cmd: Command) -> dict[str, Any]:
        database = self.client[cmd.db]
        infos = [
            {"name": name, "type": "collection", "options": database[name].options(),
             "info": {"readOnly": False}}
            for name in sorted(database.list_collection_names())
        ]
        query = cmd.body.get("filter") or {}
        infos = [info for info in infos if filter_applies(query, info)]
        if cmd.body.get("nameOnly"):
            infos = [{"name": info["name"], "type": info["type"]} for info in infos]
        batch_size = (cmd.body.get("cursor") or {}).get("batchSize")
        return self.cursors.open(f"{cmd.db}.$cmd.listCollections", infos, batch_size)

    def _list_databases(self, cmd: Command) -> dict[str, Any]:
        databases: list[dict[str, Any]] = [
            {"name": name, "sizeOnDisk": 0, "empty": False}
            for name in sorted(self.client.list_database_names())
        ]
        query = cmd.body.get("filter") or {}
        databases = [info for info in databases if filter_applies(query, info)]
        if cmd.body.get("nameOnly"):
            return {"databases": [{"name": info["name"]} for info in databases], "ok": 1.0}
        return {"databases": databases, "totalSize": 0, "totalSizeMb": 0, "ok": 1.0}

    _CREATE_IGNORED = frozenset({
        "lsid", "$db", "$readPreference", "txnNumber", "$clusterTime", "apiVersion", "apiStrict",
        "apiDeprecationErrors", "readConcern", "writeConcern", "comment", "maxTimeMS",
    })

    def _create(self, cmd: Command) -> dict[str, Any]:
        options = {k: v for k, v in cmd.body.items() if k != cmd.name and k not in self._CREATE_IGNORED}
        if self._collection_exists(cmd.db, cmd.collection_name):
            raise CommandError(NAMESPACE_EXISTS, f"Collection {cmd.ns} already exists.")
        self.client[cmd.db].create_collection(cmd.collection_name, **options)
        return {"ok": 1.0}

    def _drop(self, cmd: Command) -> dict[str, Any]:
        if not self._collection_exists(cmd.db, cmd.collection_name):
            return {"ok": 1.0}  # MongoDB 7.0 no longer reports "ns not found" here
        collection = self._collection(cmd)
        was = len(list(collection.list_indexes()))
        collection.drop()
        return {"nIndexesWas": was, "ns": cmd.ns, "ok": 1.0}

    def _drop_database(self, cmd: Command) -> dict[str, Any]:
        self.client.drop_database(cmd.db)
        return {"dropped": cmd.db, "ok": 1.0}

    def _rename_collection(self, cmd: Command) -> dict[str, Any]:
        source, target = cmd.target, cmd.body.get("to")
        if not (isinstance(source, str) and isinstance(target, str) and "." in source and "." in target):
            raise CommandError(INVALID_NAMESPACE, "renameCollection needs full 'db.collection' names")
        db, _, old_name = source.partition(".")
        target_db, _, new_name = target.partition(".")
        if target_db != db:
            raise CommandError(NOT_IMPLEMENTED, "renaming a collection across databases is not supported")
        if not self._collection_exists(db, old_name):
            raise CommandError(NAMESPACE_NOT_FOUND, f"Source collection {source} does not exist")
        drop_target = bool(cmd.body.get("dropTarget"))
        if self._collection_exists(db, new_name) and not drop_target:
            raise CommandError(NAMESPACE_EXISTS, f"Target collection {target} already exists")
        self.client[db].rename_collection(old_name, new_name, dropTarget=drop_target)
        return {"ok": 1.0}

    # -- messages --------------------------------------------------------------------------

    def handle_message(self, message: WireMessage, connection_id: int) -> bytes | None:
        """The encoded reply to one message, or None when the client asked for none."""
        try:
            if message.op_code == OP_MSG:
                return self._handle_op_msg(message, connection_id)
            if message.op_code == OP_QUERY:
                return self._handle_op_query(message, connection_id)
        except (BSONError, struct.error, IndexError, ValueError) as exc:
            raise ProtocolError(f"malformed message: {exc}") from exc
        raise ProtocolError(f"unsupported opcode {message.op_code}")

    def _handle_op_msg(self, message: WireMessage, connection_id: int) -> bytes | None:
        flags, body = parse_op_msg(message.payload)
        db = body.get("$db")
        if isinstance(db, str) and db:
            reply = self.run(db, body, connection_id)
        else:
            reply = _encode_reply(error_reply(MISSING_DB, "OP_MSG requests require a $db argument"))
        if flags & MSG_MORE_TO_COME:
            return None  # unacknowledged (w: 0): the client wants no reply, errors included
        return encode_op_msg(message.request_id, reply)

    def _handle_op_query(self, message: WireMessage, connection_id: int) -> bytes:
        namespace, query = parse_op_query(message.payload)
        db, _, collection = namespace.partition(".")
        if collection != "$cmd":
            failure = {"$err": "legacy OP_QUERY is only supported for commands", "code": 5739101, "ok": 0.0}
            return encode_op_reply(message.request_id, _encode_reply(failure), REPLY_QUERY_FAILURE)
        return encode_op_reply(message.request_id, self.run(db, query, connection_id))


def _encode_reply(reply: Mapping[str, Any]) -> bytes:
    try:
        data = bson.encode(reply, codec_options=CODEC)
    except Exception as exc:
        _log.exception("could not encode a reply")
        return bson.encode(error_reply(BAD_VALUE, f"could not encode the reply: {exc}"))
    if len(data) > MAX_BSON_SIZE + 16 * 1024:
        return bson.encode(error_reply(BSON_OBJECT_TOO_LARGE, "reply exceeds the maximum BSON size"))
    return data


# --------------------------------------------------------------------------------------------
# TCP server
# --------------------------------------------------------------------------------------------


class _ConnectionHandler(socketserver.BaseRequestHandler):
    server: _TCPServer
    request: socket.socket

    def handle(self) -> None:
        backend = self.server.backend
        connection_id = backend.next_connection_id()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.request)
        try:
            self._serve(backend, connection_id)
        except (ProtocolError, OSError) as exc:
            _log.debug("closing connection %d: %s", connection_id, exc)
        finally:
            self.server.untrack(self.request)

    def _serve(self, backend: CommandBackend, connection_id: int) -> None:
        while True:
            message = read_message(self.request)
            if message is None:
                return
            reply = backend.handle_message(message, connection_id)
            if reply is not None:
                self.request.sendall(reply)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # many worker processes may connect at once

    def __init__(self, address: tuple[str, int], backend: CommandBackend):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.backend = backend
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _ConnectionHandler)

    def track(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(sock)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class MongoWireServer:
    """A MongoDB-compatible TCP endpoint over an in-process mongomock-ng store."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data_dir: str | None = None, fsync: str = "always"):
        """``data_dir`` keeps the data in that folder across restarts (snapshot + journal, one process at a time)."""
        self.host = host
        self._requested_port = port
        if data_dir:
            from core.embedded_journal import Journal

            lock = threading.Lock()
            journal = Journal(Path(data_dir).resolve(), fsync, store_lock=lock)
            self.backend = CommandBackend(mongomock_ng.MongoClient(_store=journal.open()), journal)
            self.backend.lock = lock
        else:
            self.backend = CommandBackend()
        self._server: _TCPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MongoWireServer:
        if self._server is not None:
            raise RuntimeError("server already started")
        self._server = _TCPServer((self.host, self._requested_port), self.backend)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"mongo-wire-server:{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
            if thread is not None:
                thread.join(timeout=5)
        if self.backend.journal is not None:
            self.backend.journal.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mongodb://{host}:{self.port}/?directConnection=true"

    @property
    def client(self) -> Any:
        """The backing mongomock client (for white-box assertions in tests)."""
        return self.backend.client

    def __enter__(self) -> MongoWireServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="MongoDB wire-protocol test server over mongomock-ng")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--data-dir", default=None, help="keep the data in this folder across restarts")
    parser.add_argument("--fsync", default="always", choices=("always", "batch"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    stopping = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server = MongoWireServer(args.host, args.port, args.data_dir, args.fsync).start()
    print(f"READY {server.port}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
