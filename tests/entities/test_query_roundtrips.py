"""Against the MongoDB wire-protocol test server: round trips per list request, and index use."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from bson import ObjectId
from pymongo import monitoring

from core.config import Config
from core.storage import connect
from entities.history.publisher import THREAD_NAME as PUBLISHER_THREAD
from runtime.app import bootstrap, create_app
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, EXAMPLES, Api, login
from tests.support import mongo_wire_server as wire

ITEMS = {"name": "items", "label": "Items", "recordLabel": "#{code}",
         "fields": [{"name": "code", "type": "text", "unique": True},
                    {"name": "n", "type": "integer", "indexable": True},
                    {"name": "note", "type": "text"},
                    {"name": "owner", "type": "relationship", "typeRules": {"entity": "companies"}}]}


class Commands(monitoring.CommandListener):
    """Records every command the driver sends."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        # the listener runs on the thread that sends the command: background threads are told apart by name
        with self._lock:
            self.events.append({"name": event.command_name, "command": event.command,
                                "thread": threading.current_thread().name})

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def reset(self) -> None:
        with self._lock:
            self.events = []


@contextmanager
def monitored_app() -> Iterator[tuple[Any, Commands, Any]]:
    """The sample app on the wire test server, every command the driver sends recorded: (app, commands, store)."""
    server = wire.MongoWireServer().start()
    listener = Commands()
    db_name = f"test_{uuid.uuid4().hex}"
    store = connect(server.uri, db_name, event_listeners=[listener])
    config = Config.from_env(mongodb_uri=server.uri, mongodb_db=db_name, redis_url=None,
                             admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD)
    app = create_app(config, store=store)
    app.config["TESTING"] = True
    bootstrap(app, EXAMPLES)
    try:
        yield app, listener, store
    finally:
        store.client.close()
        server.stop()


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[Api, Commands, Any]]:
    with monitored_app() as (app, listener, store):
        yield from _with_items(app, listener, store)


def _with_items(app: Any, listener: Commands, store: Any) -> Iterator[tuple[Api, Commands, Any]]:
    api = login(app)
    assert api.post("/metadata/entities", json=ITEMS).status_code == 200
    col = store.collection("data.items")
    col.insert_many([{"_id": ObjectId(), "version": 1, "label": f"c{i:04d}", "code": f"c{i:04d}", "n": i % 50,
                      "note": "x" * 200} for i in range(600)])
    yield api, listener, store


def _data_commands(listener: Commands) -> list[dict[str, Any]]:
    return [e for e in listener.events if e["command"].get(e["name"]) == "data.items"
            or e["name"] in ("getMore", "killCursors")]


def test_a_list_request_costs_the_same_round_trips_whatever_the_page_size(setup):
    api, listener, _ = setup
    counts = {}
    for size in (5, 500):
        listener.reset()
        body = api.get(f"/data/items?_size={size}&_sortField=code&_sortType=asc").get_json()
        assert len(body["items"]) == size and body["total"] == 600
        counts[size] = sum(map(len, _split(listener)))  # the request's own commands
        data = _data_commands(listener)
        assert [e["name"] for e in data] == ["find", "aggregate"], data  # the page, then count_documents
    assert counts[5] == counts[500], counts
    assert counts[5] == 3, counts  # the token (with the metadata stamp), the page, its count


def test_projection_and_filter_reach_the_server_as_built(setup):
    api, listener, _ = setup
    listener.reset()
    body = api.get("/data/items?code=c0007&_fields=n").get_json()
    assert [i["n"] for i in body["items"]] == [7]
    find = next(e["command"] for e in _data_commands(listener) if e["name"] == "find")
    assert find["filter"] == {"code": "c0007"}  # plain equality on the indexed key: the unique index serves it
    assert find["projection"] == {"_id": 1, "label": 1, "n": 1, "version": 1}
    assert find["limit"] == 20 and find["batchSize"] >= 20 and "maxTimeMS" in find


def test_filtered_fields_have_their_indexes(setup):
    api, listener, store = setup
    indexes = {ix["name"]: ix for ix in store.collection("data.items").list_indexes()}
    assert indexes["unique_code"]["key"] == {"code": 1} and indexes["unique_code"]["unique"]
    assert indexes["idx_n"]["key"] == {"n": 1}
    assert indexes["idx_owner"]["key"] == {"owner.id": 1}
    assert indexes["idx_owner_label"]["key"] == {"owner.label": 1}
    listener.reset()
    api.get("/data/items?n=between(3,4)&owner.id=6b0404aca7408a15fb0c93ee")
    find = next(e["command"] for e in _data_commands(listener) if e["name"] == "find")
    owner = ObjectId("6b0404aca7408a15fb0c93ee")
    assert find["filter"] == {"n": {"$gte": 3, "$lte": 4}, "owner.id": owner}  # conditions on different keys merge


AUTH_COLLECTIONS = ("sys.tokens", "sys.users")  # the guard's read


def _split(listener: Commands) -> tuple[list[str], list[str]]:
    """The commands of the last request: (auth reads, everything else), each as ``name collection``; those of
    background threads (the history publisher, the app-log flusher: off the request path) are left out."""
    auth, rest = [], []
    request_thread = threading.current_thread().name  # the test client runs the request on this thread
    for e in listener.events:
        if e["thread"] != request_thread:
            continue
        target = e["command"].get(e["name"])
        (auth if target in AUTH_COLLECTIONS else rest).append(f"{e['name']} {target}")
    return auth, rest


def test_get_one_record_costs_two_round_trips(setup):
    api, listener, _ = setup
    rid = api.post("/data/items", json={"code": "get-one", "n": 1}).get_json()["id"]
    for _ in range(2):  # the second request proves the stamp is read per request (not cached across requests)
        listener.reset()
        assert api.get(f"/data/items/{rid}").get_json()["code"] == "get-one"
        auth, rest = _split(listener)
        assert auth == ["aggregate sys.tokens"], auth  # the token, the metadata stamp and the groups in one read
        assert rest == ["find data.items"], rest


def test_put_with_history_costs_the_record_write_alone(setup):
    api, listener, store = setup
    publisher = api.client.application.extensions["runtime"].history.publisher
    assert api.post("/metadata/entities", json={**ITEMS, "name": "logged", "history": True}).status_code == 200
    rid = api.post("/data/logged", json={"code": "put-one", "n": 1}).get_json()["id"]
    for n in (2, 3):
        publisher.flush()
        listener.reset()
        assert api.put(f"/data/logged/{rid}", json={"n": n}).get_json()["n"] == n
        auth, rest = _split(listener)
        # the token (with the metadata stamp), the current record, the compare-and-set carrying the history entry
        # in the record's outbox; the publisher's thread copies it into sys.history off the request path
        assert auth == ["aggregate sys.tokens"], auth
        assert rest == ["find data.logged", "update data.logged"], rest
    history = api.get(f"/data/logged/{rid}/history").get_json()["items"]
    assert [e["eventType"] for e in history] == ["USER_RECORD_CHANGED"] * 2 + ["USER_RECORD_CREATED"]
    assert "_hist" not in store.collection("data.logged").find_one({})


def test_the_publisher_copies_a_batch_in_one_insert_and_pulls_it_in_one_update(setup):
    api, listener, store = setup
    publisher = api.client.application.extensions["runtime"].history.publisher
    assert api.post("/metadata/entities", json={**ITEMS, "name": "batched", "history": True}).status_code == 200
    ids = [api.post("/data/batched", json={"code": f"b{i}", "n": i}).get_json()["id"] for i in range(3)]
    publisher.paused = True
    try:
        for rid in ids:
            assert api.put(f"/data/batched/{rid}", json={"n": 9}).status_code == 200
    finally:
        publisher.paused = False
    listener.reset()
    assert publisher.flush() == 3
    published = [f"{e['name']} {e['command'].get(e['name'])}" for e in listener.events
                 if e["thread"] != PUBLISHER_THREAD]
    # one insert for the batch, one bulk update removing exactly those entries from their records
    assert published == ["insert sys.history", "update data.batched"], published
    assert store.collection("data.batched").count_documents({"_hist": {"$exists": True}}) == 0
    assert store.collection("sys.history").count_documents({"entityName": "batched"}) == 6
