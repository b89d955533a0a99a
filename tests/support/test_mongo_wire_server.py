"""Tests of the MongoDB wire-protocol test server, driven through the real pymongo driver."""

from __future__ import annotations

import io
import os
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import bson
import gridfs
import pymongo
import pytest
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure
from pymongo.write_concern import WriteConcern

from .mongo_wire_server import OP_MSG, OP_QUERY, OP_REPLY, MongoWireServer

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[MongoWireServer]:
    srv = MongoWireServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: MongoWireServer) -> Iterator[MongoClient]:
    mongo: MongoClient = MongoClient(server.uri, serverSelectionTimeoutMS=5000)
    yield mongo
    mongo.close()


@pytest.fixture
def db(client: MongoClient, request: pytest.FixtureRequest) -> Iterator[Database]:
    name = "t_" + re.sub(r"\W", "_", request.node.name)[:50]
    client.drop_database(name)
    yield client[name]
    client.drop_database(name)


# -- helpers for raw wire access ---------------------------------------------------------------


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _roundtrip(sock: socket.socket, op_code: int, payload: bytes, request_id: int = 7) -> tuple[int, bytes]:
    sock.sendall(struct.pack("<iiii", 16 + len(payload), request_id, 0, op_code) + payload)
    length, _, response_to, reply_op = struct.unpack("<iiii", _recv_exact(sock, 16))
    assert response_to == request_id
    return reply_op, _recv_exact(sock, length - 16)


def _raw_socket(server: MongoWireServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


# -- CRUD ----------------------------------------------------------------------------------------


def test_insert_find_sort_skip_limit(db: Database) -> None:
    db.items.insert_many([{"_id": i, "n": i % 5, "label": f"item-{i}"} for i in range(20)])
    docs = list(db.items.find({"n": {"$gte": 3}}, {"label": 0}).sort([("n", DESCENDING), ("_id", ASCENDING)]))
    assert [(d["_id"], d["n"]) for d in docs][:3] == [(4, 4), (9, 4), (14, 4)]
    assert all("label" not in d for d in docs)
    page = list(db.items.find().sort("_id", ASCENDING).skip(5).limit(3))
    assert [d["_id"] for d in page] == [5, 6, 7]
    assert db.items.find_one({"_id": 3})["label"] == "item-3"
    assert db.items.find_one({"_id": 999}) is None


def test_find_past_first_batch_uses_get_more(db: Database, server: MongoWireServer) -> None:
    db.many.insert_many([{"_id": i} for i in range(1000)])
    cursor = db.many.find().sort("_id", ASCENDING).batch_size(50)
    first = next(cursor)
    cursor_id = cursor.cursor_id
    assert cursor_id and cursor_id in server.backend.cursors
    rest = [doc["_id"] for doc in cursor]
    assert [first["_id"], *rest] == list(range(1000))
    assert cursor_id not in server.backend.cursors


def test_cursor_closed_early_is_killed(db: Database, server: MongoWireServer) -> None:
    db.many.insert_many([{"_id": i} for i in range(300)])
    cursor = db.many.find().batch_size(50)
    taken = [next(cursor) for _ in range(60)]
    cursor_id = cursor.cursor_id
    assert len(taken) == 60 and cursor_id in server.backend.cursors
    cursor.close()
    assert cursor_id not in server.backend.cursors


def test_results_larger_than_one_bson_batch(db: Database) -> None:
    blob = b"x" * (1024 * 1024)
    db.big.insert_many([{"_id": i, "blob": blob} for i in range(20)])  # 20 MiB > one 16 MiB batch
    assert [doc["_id"] for doc in db.big.find({}, {"_id": 1})] == list(range(20))
    assert sum(len(doc["blob"]) for doc in db.big.find()) == 20 * len(blob)


def test_update_counts(db: Database) -> None:
    db.docs.insert_many([{"_id": i, "group": "a" if i < 3 else "b", "v": 0} for i in range(5)])
    one = db.docs.update_one({"group": "a"}, {"$set": {"v": 1}})
    assert (one.matched_count, one.modified_count) == (1, 1)
    many = db.docs.update_many({"group": "a"}, {"$set": {"v": 1}})
    assert (many.matched_count, many.modified_count) == (3, 2)
    same = db.docs.update_many({"group": "b"}, {"$set": {"v": 0}})
    assert (same.matched_count, same.modified_count) == (2, 0)
    replaced = db.docs.replace_one({"_id": 4}, {"group": "c", "v": 9})
    assert (replaced.matched_count, replaced.modified_count) == (1, 1)
    assert db.docs.find_one({"_id": 4}) == {"_id": 4, "group": "c", "v": 9}
    none = db.docs.update_one({"_id": 99}, {"$set": {"v": 1}})
    assert (none.matched_count, none.modified_count, none.upserted_id) == (0, 0, None)


def test_update_array_filters_and_pipeline(db: Database) -> None:
    db.docs.insert_one({"_id": 1, "scores": [1, 5, 9], "a": 2})
    db.docs.update_one({"_id": 1}, {"$set": {"scores.$[big]": 0}}, array_filters=[{"big": {"$gt": 4}}])
    assert db.docs.find_one({"_id": 1})["scores"] == [1, 0, 0]
    db.docs.update_one({"_id": 1}, [{"$set": {"b": {"$add": ["$a", 1]}}}])
    assert db.docs.find_one({"_id": 1})["b"] == 3


def test_upsert(db: Database) -> None:
    result = db.docs.update_one({"key": "k1"}, {"$set": {"v": 1}}, upsert=True)
    assert result.matched_count == 0 and result.upserted_id is not None
    assert db.docs.find_one({"_id": result.upserted_id}) == {"_id": result.upserted_id, "key": "k1", "v": 1}
    again = db.docs.update_one({"key": "k1"}, {"$set": {"v": 2}}, upsert=True)
    assert (again.matched_count, again.modified_count, again.upserted_id) == (1, 1, None)
    replaced = db.docs.replace_one({"_id": "fixed"}, {"v": 3}, upsert=True)
    assert replaced.upserted_id == "fixed"
    assert db.docs.count_documents({}) == 2


def test_delete(db: Database) -> None:
    db.docs.insert_many([{"_id": i, "odd": i % 2} for i in range(10)])
    assert db.docs.delete_one({"odd": 1}).deleted_count == 1
    assert db.docs.delete_many({"odd": 1}).deleted_count == 4
    assert db.docs.delete_many({"odd": 1}).deleted_count == 0
    assert db.docs.count_documents({}) == 5


def test_find_one_and_modify_family(db: Database) -> None:
    db.jobs.insert_many([{"_id": i, "state": "queued", "prio": i} for i in range(3)])
    after = db.jobs.find_one_and_update(
        {"state": "queued"}, {"$set": {"state": "running"}}, sort=[("prio", DESCENDING)],
        return_document=ReturnDocument.AFTER, projection={"state": 1},
    )
    assert after == {"_id": 2, "state": "running"}
    before = db.jobs.find_one_and_update({"_id": 0}, {"$inc": {"prio": 10}})
    assert before == {"_id": 0, "state": "queued", "prio": 0}
    assert db.jobs.find_one_and_update({"_id": 42}, {"$set": {"x": 1}}) is None
    created = db.jobs.find_one_and_update(
        {"_id": 42}, {"$set": {"state": "new"}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert created == {"_id": 42, "state": "new"}
    replaced = db.jobs.find_one_and_replace(
        {"_id": 1}, {"state": "replaced"}, return_document=ReturnDocument.AFTER
    )
    assert replaced == {"_id": 1, "state": "replaced"}
    assert db.jobs.find_one_and_delete({"_id": 1}) == {"_id": 1, "state": "replaced"}
    assert db.jobs.find_one({"_id": 1}) is None


def test_compare_and_set_race_loses_no_update(client: MongoClient, db: Database) -> None:
    db.counters.insert_one({"_id": "c", "version": 0, "value": 0})
    threads_count, increments = 8, 100
    errors: list[BaseException] = []

    def worker() -> None:
        coll = client[db.name].counters
        try:
            for _ in range(increments):
                while True:
                    doc = coll.find_one({"_id": "c"})
                    result = coll.update_one(
                        {"_id": "c", "version": doc["version"]},
                        {"$set": {"value": doc["value"] + 1}, "$inc": {"version": 1}},
                    )
                    if result.modified_count == 1:
                        break
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    final = db.counters.find_one({"_id": "c"})
    assert final["value"] == final["version"] == threads_count * increments


_CAS_SCRIPT = """
import sys
from pymongo import MongoClient

uri, db_name, increments = sys.argv[1], sys.argv[2], int(sys.argv[3])
with MongoClient(uri) as client:
    coll = client[db_name].counters
    for _ in range(increments):
        while True:
            doc = coll.find_one({"_id": "c"})
            result = coll.update_one({"_id": "c", "version": doc["version"]},
                                     {"$set": {"value": doc["value"] + 1}, "$inc": {"version": 1}})
            if result.modified_count == 1:
                break
"""


def test_compare_and_set_across_processes(server: MongoWireServer, db: Database) -> None:
    db.counters.insert_one({"_id": "c", "version": 0, "value": 0})
    processes, increments = 4, 50
    procs = [
        subprocess.Popen([sys.executable, "-c", _CAS_SCRIPT, server.uri, db.name, str(increments)])
        for _ in range(processes)
    ]
    assert [proc.wait(timeout=60) for proc in procs] == [0] * processes
    final = db.counters.find_one({"_id": "c"})
    assert final["value"] == final["version"] == processes * increments


def test_duplicate_key_errors(db: Database) -> None:
    db.users.create_index("email", unique=True)
    db.users.insert_one({"_id": 1, "email": "a@x"})
    with pytest.raises(DuplicateKeyError) as info:
        db.users.insert_one({"email": "a@x"})
    assert info.value.code == 11000
    with pytest.raises(DuplicateKeyError):
        db.users.insert_one({"_id": 1, "email": "other@x"})
    with pytest.raises(BulkWriteError) as bulk:
        db.users.insert_many([{"_id": 2, "email": "b@x"}, {"_id": 3, "email": "a@x"}, {"_id": 4}])
    assert bulk.value.details["nInserted"] == 1
    assert bulk.value.details["writeErrors"][0]["code"] == 11000
    with pytest.raises(DuplicateKeyError):
        db.users.update_one({"_id": 2}, {"$set": {"email": "a@x"}})
    with pytest.raises(DuplicateKeyError):
        db.users.find_one_and_update({"_id": 2}, {"$set": {"email": "a@x"}})
    assert db.users.find_one({"_id": 2})["email"] == "b@x"


def test_unordered_insert_continues_after_error(db: Database) -> None:
    db.docs.insert_one({"_id": 1})
    with pytest.raises(BulkWriteError) as bulk:
        db.docs.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3}], ordered=False)
    assert bulk.value.details["nInserted"] == 2
    assert db.docs.count_documents({}) == 3


# -- indexes, counting, aggregation ---------------------------------------------------------------


def test_indexes(db: Database) -> None:
    assert db.events.create_index([("user", ASCENDING), ("at", DESCENDING)]) == "user_1_at_-1"
    assert db.events.create_index("created", expireAfterSeconds=3600, name="ttl") == "ttl"
    db.events.create_index("code", unique=True, sparse=True)
    names = [spec["name"] for spec in db.events.list_indexes()]
    assert names == ["_id_", "user_1_at_-1", "ttl", "code_1"]
    info = db.events.index_information()
    assert info["user_1_at_-1"]["key"] == [("user", 1), ("at", -1)]
    assert info["ttl"]["expireAfterSeconds"] == 3600
    assert info["code_1"]["unique"] is True and info["code_1"]["sparse"] is True
    db.events.drop_index("ttl")
    assert "ttl" not in db.events.index_information()
    db.events.drop_indexes()
    assert list(db.events.index_information()) == ["_id_"]
    assert list(db.missing.list_indexes()) == []
    with pytest.raises(OperationFailure):
        db.events.drop_index("nope")


def test_counts(db: Database) -> None:
    db.docs.insert_many([{"_id": i, "even": i % 2 == 0} for i in range(10)])
    assert db.docs.count_documents({}) == 10
    assert db.docs.count_documents({"even": True}) == 5
    assert db.docs.count_documents({"even": True}, skip=2, limit=2) == 2
    assert db.docs.count_documents({"nothing": 1}) == 0
    assert db.docs.estimated_document_count() == 10
    assert db.empty.count_documents({}) == 0


def test_aggregate(db: Database) -> None:
    db.orders.insert_many([
        {"_id": 1, "customer": "ann", "total": 10, "tags": ["a", "b"]},
        {"_id": 2, "customer": "bob", "total": 5, "tags": ["b"]},
        {"_id": 3, "customer": "ann", "total": 7, "tags": []},
    ])
    db.customers.insert_many([{"_id": "ann", "city": "Oslo"}, {"_id": "bob", "city": "Rome"}])
    totals = list(db.orders.aggregate([
        {"$match": {"total": {"$gt": 1}}},
        {"$group": {"_id": "$customer", "sum": {"$sum": "$total"}, "n": {"$sum": 1}}},
        {"$sort": {"sum": -1}},
    ]))
    assert totals == [{"_id": "ann", "sum": 17, "n": 2}, {"_id": "bob", "sum": 5, "n": 1}]
    joined = list(db.orders.aggregate([
        {"$lookup": {"from": "customers", "localField": "customer", "foreignField": "_id", "as": "c"}},
        {"$unwind": "$c"},
        {"$project": {"city": "$c.city"}},
        {"$sort": {"_id": 1}},
    ]))
    assert [d["city"] for d in joined] == ["Oslo", "Rome", "Oslo"]
    tags = list(db.orders.aggregate([{"$unwind": "$tags"}, {"$count": "n"}]))
    assert tags == [{"n": 3}]
    batched = db.orders.aggregate([{"$sort": {"_id": 1}}], batchSize=1)
    assert [d["_id"] for d in batched] == [1, 2, 3]


def test_distinct(db: Database) -> None:
    db.docs.insert_many([{"k": "a", "n": 1}, {"k": "b", "n": 2}, {"k": "a", "n": 3}])
    assert sorted(db.docs.distinct("k")) == ["a", "b"]
    assert db.docs.distinct("k", {"n": {"$gt": 1}}) in (["b", "a"], ["a", "b"])


# -- collections and databases ---------------------------------------------------------------------


def test_collections_and_drop(client: MongoClient, db: Database) -> None:
    db.alpha.insert_one({})
    db.beta.insert_one({})
    db.create_collection("gamma")
    assert sorted(db.list_collection_names()) == ["alpha", "beta", "gamma"]
    assert db.list_collection_names(filter={"name": "beta"}) == ["beta"]
    infos = list(db.list_collections(filter={"name": {"$in": ["alpha", "gamma"]}}))
    assert [(i["name"], i["type"]) for i in infos] == [("alpha", "collection"), ("gamma", "collection")]
    with pytest.raises(pymongo.errors.CollectionInvalid):
        db.create_collection("gamma")
    db.alpha.drop()
    db.never_existed.drop()
    assert sorted(db.list_collection_names()) == ["beta", "gamma"]
    db.beta.delete_many({})
    assert "beta" in db.list_collection_names()  # emptied collections still exist, as in MongoDB
    assert db.name in client.list_database_names()
    client.drop_database(db.name)
    assert db.name not in client.list_database_names()


def test_rename_collection(db: Database) -> None:
    db.old.insert_one({"_id": 1})
    db.old.create_index("x")
    db.taken.insert_one({"_id": 2})
    db.old.rename("new")
    assert sorted(db.list_collection_names()) == ["new", "taken"]
    assert db.new.find_one() == {"_id": 1} and "x_1" in db.new.index_information()
    with pytest.raises(OperationFailure) as info:
        db.new.rename("taken")
    assert info.value.code == 48
    db.new.rename("taken", dropTarget=True)
    assert db.list_collection_names() == ["taken"] and db.taken.find_one() == {"_id": 1}


def test_gridfs_round_trip(db: Database) -> None:
    bucket = gridfs.GridFSBucket(db)
    payload = os.urandom(700 * 1024)
    file_id = bucket.upload_from_stream("blob.bin", io.BytesIO(payload), metadata={"kind": "test"})
    assert bucket.open_download_stream(file_id).read() == payload
    out = io.BytesIO()
    bucket.download_to_stream_by_name("blob.bin", out)
    assert out.getvalue() == payload
    assert db.fs.chunks.count_documents({"files_id": file_id}) == 3
    bucket.delete(file_id)
    assert db.fs.files.count_documents({}) == 0


def test_types_round_trip(db: Database) -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123000)
    oid = bson.ObjectId()
    db.docs.insert_one({"_id": oid, "when": when, "bin": b"\x00\x01", "nested": {"a": [1, {"b": None}]},
                        "dec": bson.Decimal128("1.10"), "big": 2**40})
    doc = db.docs.find_one({"when": {"$gte": datetime(2024, 1, 1)}})
    assert doc == {"_id": oid, "when": when, "bin": b"\x00\x01", "nested": {"a": [1, {"b": None}]},
                   "dec": bson.Decimal128("1.10"), "big": 2**40}
    assert db.docs.find_one({"nested.a.b": None, "_id": oid}) is not None
    assert db.docs.count_documents({"when": {"$regex": "x"}}) == 0
    db.docs.insert_one({"name": "Alice"})
    assert db.docs.find_one({"name": re.compile("^ali", re.IGNORECASE)})["name"] == "Alice"


# -- protocol behaviour ----------------------------------------------------------------------------


def test_unknown_command_fails_promptly(db: Database) -> None:
    started = time.monotonic()
    with pytest.raises(OperationFailure) as info:
        db.command("frobnicate")
    assert info.value.code == 59
    assert "no such command: 'frobnicate'" in str(info.value)
    assert time.monotonic() - started < 2


def test_bad_operator_is_an_error_not_a_hang(db: Database) -> None:
    db.docs.insert_one({"_id": 1})
    with pytest.raises(OperationFailure):
        db.docs.update_one({"_id": 1}, {"$frobnicate": {"a": 1}})
    with pytest.raises(OperationFailure):
        list(db.docs.aggregate([{"$frobnicate": {}}]))
    assert db.docs.find_one({"_id": 1}) == {"_id": 1}


def test_server_commands(client: MongoClient) -> None:
    assert client.admin.command("ping")["ok"] == 1.0
    info = client.server_info()
    assert info["version"] == "7.0.0" and info["versionArray"][:2] == [7, 0]
    hello = client.admin.command("hello")
    assert hello["isWritablePrimary"] is True and hello["maxWireVersion"] >= 17
    assert "setName" not in hello


def test_two_clients_see_each_others_writes(server: MongoWireServer, db: Database) -> None:
    with MongoClient(server.uri) as first, MongoClient(server.uri) as second:
        first[db.name].shared.insert_one({"_id": "from-first"})
        assert second[db.name].shared.find_one({"_id": "from-first"}) == {"_id": "from-first"}
        second[db.name].shared.update_one({"_id": "from-first"}, {"$set": {"seen": True}})
        assert first[db.name].shared.find_one({"_id": "from-first"})["seen"] is True


def test_unacknowledged_write_uses_more_to_come(db: Database) -> None:
    db.docs.with_options(write_concern=WriteConcern(w=0)).insert_one({"_id": "w0"})
    deadline = time.monotonic() + 5
    while db.docs.find_one({"_id": "w0"}) is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_legacy_op_query_handshake(server: MongoWireServer) -> None:
    query = bson.encode({"isMaster": 1})
    payload = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + query
    with _raw_socket(server) as sock:
        op_code, reply = _roundtrip(sock, OP_QUERY, payload)
    assert op_code == OP_REPLY
    flags, cursor_id, _start, returned = struct.unpack_from("<iqii", reply)
    assert (flags, cursor_id, returned) == (0, 0, 1)
    doc = bson.decode(reply[20:])
    assert doc["ismaster"] is True and doc["ok"] == 1.0 and doc["minWireVersion"] == 0


def test_op_msg_with_checksum_and_document_sequence(server: MongoWireServer, client: MongoClient) -> None:
    body = bson.encode({"insert": "seq", "$db": "t_raw_wire"})
    docs = bson.encode({"_id": 1}) + bson.encode({"_id": 2})
    sequence = b"documents\x00" + docs
    sections = b"\x00" + body + b"\x01" + struct.pack("<i", 4 + len(sequence)) + sequence
    payload = struct.pack("<I", 1) + sections + b"\x00\x00\x00\x00"  # checksumPresent + dummy CRC
    with _raw_socket(server) as sock:
        op_code, reply = _roundtrip(sock, OP_MSG, payload)
    assert op_code == OP_MSG
    assert bson.decode(reply[5:]) == {"n": 2, "ok": 1.0}
    assert client.t_raw_wire.seq.count_documents({}) == 2
    client.drop_database("t_raw_wire")


def test_op_msg_without_db_is_an_error_reply(server: MongoWireServer) -> None:
    payload = struct.pack("<IB", 0, 0) + bson.encode({"ping": 1})
    with _raw_socket(server) as sock:
        op_code, reply = _roundtrip(sock, OP_MSG, payload)
        assert op_code == OP_MSG and bson.decode(reply[5:])["ok"] == 0.0
        _, reply = _roundtrip(sock, OP_MSG, struct.pack("<IB", 0, 0) + bson.encode({"ping": 1, "$db": "admin"}))
        assert bson.decode(reply[5:]) == {"ok": 1.0}


def test_malformed_message_closes_only_that_connection(server: MongoWireServer, client: MongoClient) -> None:
    with _raw_socket(server) as sock:
        sock.sendall(struct.pack("<iiii", 5, 1, 0, OP_MSG))
        assert sock.recv(16) == b""
    with _raw_socket(server) as sock:
        sock.sendall(struct.pack("<iiii", 16 + 7, 1, 0, OP_MSG) + b"\x00" * 7)
        assert sock.recv(16) == b""
    with _raw_socket(server) as sock:
        sock.sendall(struct.pack("<iiii", 16, 1, 0, 2012))  # OP_COMPRESSED is not supported
        assert sock.recv(16) == b""
    assert client.admin.command("ping")["ok"] == 1.0


def test_runs_as_a_subprocess() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mongo_wire_server", "--port", "0"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "server did not print READY"
        line = proc.stdout.readline().split()
        assert line[0] == "READY"
        port = int(line[1])
        with MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true",
                         serverSelectionTimeoutMS=5000) as mongo:
            mongo.app.things.insert_one({"_id": 1, "name": "thing"})
            assert mongo.app.things.find_one({"_id": 1}) == {"_id": 1, "name": "thing"}
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
