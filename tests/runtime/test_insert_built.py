"""``Store.insert_built``, ``Store.insert_encoded`` and ``Store.insert_owned``: documents the runtime built
(logs, history copies; already BSON-encoded; handed over) are stored as an insert would store them, a repeat of
one already stored is left alone, and a collection with another unique key is refused; the embedded store and a
MongoDB server (the wire test server) answer alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import bson
import pytest
from bson import ObjectId

from core.storage import Store, connect, drop_embedded
from tests.support.mongo_wire_server import MongoWireServer


@pytest.fixture(scope="module")
def server() -> Iterator[MongoWireServer]:
    with MongoWireServer() as srv:
        yield srv


@pytest.fixture(params=["embedded", "server"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "embedded":
        yield connect(None, "insert_built_test")
        drop_embedded("insert_built_test")
    else:
        srv = request.getfixturevalue("server")
        yield connect(srv.uri, f"insert_built_{ObjectId()}")


def _doc(**extra):
    return {"_id": ObjectId(), "when": dt.datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=dt.UTC),
            "items": [{"a": 1}, {"b": [2, 3]}], **extra}


def test_built_documents_are_stored_as_an_insert_stores_them(store: Store):
    built, inserted = _doc(kind="built"), _doc(kind="inserted")
    store.insert_built("logs", [built])
    store.collection("logs").insert_one(inserted)
    got = {d["kind"]: d for d in store.collection("logs").find({})}
    for name, source in (("built", built), ("inserted", inserted)):
        assert got[name]["when"] == dt.datetime(2026, 1, 2, 3, 4, 5, 678_000)  # naive UTC, milliseconds
        assert got[name]["items"] == source["items"] and got[name]["_id"] == source["_id"]
    built["items"][0]["a"] = 99  # the caller's document is not the stored one
    assert store.collection("logs").find_one({"_id": built["_id"]})["items"][0]["a"] == 1


def test_a_repeat_leaves_the_stored_document_as_it_is(store: Store):
    first = _doc(n=1)
    store.insert_built("history", [first, _doc(n=2)])
    store.insert_built("history", [{**first, "n": 100}, _doc(n=3)])
    assert sorted(d["n"] for d in store.collection("history").find({})) == [1, 2, 3]
    store.insert_built("history", [])  # nothing to do
    assert store.collection("history").count_documents({}) == 3


def test_encoded_documents_are_stored_as_their_decoded_insert(store: Store):
    first, second = _doc(n=1), _doc(n=2)
    store.insert_encoded("history", [(first["_id"], bson.encode(first)), (second["_id"], bson.encode(second))])
    store.insert_encoded("history", [(first["_id"], bson.encode({**first, "n": 100}))])  # a repeat: left alone
    store.insert_built("history", [second])  # the same id through insert_built: left alone too
    got = {d["n"]: d for d in store.collection("history").find({})}
    assert sorted(got) == [1, 2]
    assert got[1]["_id"] == first["_id"] and got[1]["items"] == first["items"]
    assert got[1]["when"] == dt.datetime(2026, 1, 2, 3, 4, 5, 678_000)
    assert store.collection("history").find_one({"n": 2, "items.b": 3})["_id"] == second["_id"]  # queryable


def test_the_embedded_store_refuses_a_collection_with_another_unique_key():
    store = connect(None, "insert_built_unique")
    try:
        store.collection("keyed").create_index("code", unique=True)
        with pytest.raises(ValueError, match="unique index"):
            store.insert_built("keyed", [_doc(code="a")])
        doc = _doc(code="b")
        with pytest.raises(ValueError, match="unique index"):
            store.insert_encoded("keyed", [(doc["_id"], bson.encode(doc))])
        with pytest.raises(ValueError, match="unique index"):
            store.insert_owned("keyed", [_doc(code="c")])
        assert store.collection("keyed").count_documents({}) == 0
    finally:
        drop_embedded("insert_built_unique")


def _owned(**extra):
    """A document as ``insert_owned`` takes it: BSON's values already (naive UTC, milliseconds)."""
    return {"_id": ObjectId(), "when": dt.datetime(2026, 1, 2, 3, 4, 5, 678_000), "items": [{"a": 1}], **extra}


def test_owned_documents_are_stored_once_each_and_found_by_their_indexed_fields(store: Store):
    store.collection("history").create_index("recordId")
    first, second = _owned(n=1, recordId="r1"), _owned(n=2, recordId="r2")
    store.insert_owned("history", [first, second, {**first, "n": 100}])  # an id given twice: the first kept
    store.insert_owned("history", [{**second, "n": 200}, _owned(n=3, recordId="r1")])  # a stored id: left alone
    assert sorted(d["n"] for d in store.collection("history").find({})) == [1, 2, 3]
    assert sorted(d["n"] for d in store.collection("history").find({"recordId": "r1"})) == [1, 3]
    assert [d["n"] for d in store.collection("history").find({"recordId": "r2"})] == [2]
    got = store.collection("history").find_one({"_id": first["_id"]})
    assert got == {**first, "n": 1}
    store.insert_owned("history", [])
    assert store.collection("history").count_documents({}) == 3
