"""What a request reads besides its own data: on a server the token, the metadata stamp and the caller's groups
come in one round trip, yet a change made by another process is seen on the very next request; on the embedded
store a collection nobody wrote is not read again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from core.storage import connect, drop_embedded
from runtime.app import create_app
from tests.conftest import ADMIN_EMAIL, Api, login
from tests.entities.test_query_roundtrips import monitored_app

PEOPLE = {"name": "people", "label": "People", "recordLabel": "#{name}",
          "fields": [{"name": "name", "type": "text"}, {"name": "team", "type": "text"}]}
READERS = {"api": {"data": True}, "entities": {"people": {"access": "always", "create": "always"}}}


@pytest.fixture(scope="module")
def two_processes() -> Iterator[tuple[Any, Any, Any]]:
    """Two apps on one database of the wire test server, each with its own connection and caches (two
    processes): (monitored app, commands of its connection, the other app)."""
    with monitored_app() as (app, listener, _):
        config = app.extensions["runtime"].config
        other_store = connect(config.mongodb_uri, config.mongodb_db)
        other = create_app(config, store=other_store)
        other.config["TESTING"] = True
        try:
            yield app, listener, other
        finally:
            other_store.client.close()


def _commands(listener: Any) -> list[str]:
    return [f"{e['name']} {e['command'].get(e['name'])}" for e in listener.events]


def test_a_non_developer_reads_a_record_in_two_round_trips_and_sees_changes_made_elsewhere(two_processes):
    app, listener, other = two_processes
    admin_here, admin_there = login(app), login(other)
    assert admin_there.post("/metadata/entities", json=PEOPLE).status_code == 200
    assert admin_there.post("/groups", json={"name": "readers", "permissions": READERS}).status_code == 200
    assert admin_there.post("/users", json={"email": "reader@example.com", "password": "long-enough",
                                            "groups": ["readers"]}).status_code == 200
    rid = admin_here.post("/data/people", json={"name": "Ann"}).get_json()["id"]  # this process knows the entity
    reader = login(app, "reader@example.com", "long-enough")
    assert reader.get(f"/data/people/{rid}").status_code == 200

    listener.reset()
    assert reader.get(f"/data/people/{rid}").get_json()["name"] == "Ann"
    assert _commands(listener) == ["aggregate sys.tokens", "find data.people"]

    # another process adds a field: the next request here accepts it
    changed = {**PEOPLE, "fields": [*PEOPLE["fields"], {"name": "age", "type": "integer"}]}
    assert admin_there.put("/metadata/entities/people", json=changed).status_code == 200
    created = reader.post("/data/people", json={"name": "Bob", "age": 41})
    assert created.status_code == 200 and created.get_json()["age"] == 41

    # another process takes the group's access away: the next request here is refused
    denied = {"api": {"data": True}, "entities": {"people": {"access": "never"}}}
    assert admin_there.put("/groups/readers", json={"permissions": denied}).status_code == 200
    assert reader.get(f"/data/people/{rid}").status_code == 403

    # and deactivates the user: the next request here is 401
    assert admin_there.put("/users/reader@example.com/deactivate").status_code == 200
    assert reader.get(f"/data/people/{rid}").status_code == 401


@pytest.fixture
def embedded() -> Iterator[Any]:
    name = f"test_{uuid.uuid4().hex}"
    store = connect(None, name)
    try:
        yield store
    finally:
        drop_embedded(name)


def test_the_embedded_store_reads_a_collection_again_only_after_it_changed(embedded):
    store = embedded
    loads: list[str] = []

    def read() -> Any:
        loads.append("read")
        return store.collection("sys.things").find_one({"_id": "a"})

    store.collection("sys.things").insert_one({"_id": "a", "n": 1})
    assert store.read_cached("sys.things", "a", read) == {"_id": "a", "n": 1}
    assert store.read_cached("sys.things", "a", read) == {"_id": "a", "n": 1}
    assert len(loads) == 1
    store.collection("sys.other").insert_one({"_id": "x"})  # another collection: still unchanged
    store.read_cached("sys.things", "a", read)
    assert len(loads) == 1
    store.collection("sys.things").update_one({"_id": "a"}, {"$set": {"n": 2}})
    assert store.read_cached("sys.things", "a", read) == {"_id": "a", "n": 2}
    store.collection("sys.things").insert_one({"_id": "b"})  # any write of the collection counts
    store.read_cached("sys.things", "a", read)
    store.collection("sys.things").delete_one({"_id": "a"})
    assert store.read_cached("sys.things", "a", read) is None
    store.db.drop_collection("sys.things")
    store.collection("sys.things").insert_one({"_id": "a", "n": 3})
    assert store.read_cached("sys.things", "a", read) == {"_id": "a", "n": 3}
    assert len(loads) == 5


def test_on_the_embedded_store_a_logged_in_user_is_checked_against_every_change(app):
    api = login(app)
    api.post("/users", json={"email": "cache@example.com", "password": "long-enough", "groups": ["sales"]})
    user = login(app, "cache@example.com", "long-enough")
    assert user.get("/auth/me").status_code == 200
    assert user.get("/auth/me").status_code == 200  # served from the cached token
    api.put("/users/cache@example.com/deactivate")
    assert user.get("/auth/me").status_code == 401
    api.post("/users", json={"email": "cache2@example.com", "password": "long-enough", "groups": ["sales"]})
    user = login(app, "cache2@example.com", "long-enough")
    assert user.get("/auth/me").status_code == 200
    assert user.post("/auth/logout").status_code == 200
    assert user.get("/auth/me").status_code == 401


def test_a_caller_cannot_change_the_cached_token_user(app):
    """The guard hands each request copies of the token's user: a route that changes ``g.user`` cannot leak
    into the next request."""
    from flask import g

    seen = []

    @app.before_request
    def _scribble() -> None:  # runs after the guard
        if getattr(g, "user", None) is not None:
            seen.append(g.user.get("email"))
            g.user["email"] = "changed@example.com"

    api = login(app)
    for _ in range(3):
        assert api.get("/auth/me").status_code == 200
    assert seen == [ADMIN_EMAIL] * 3


def test_the_same_token_works_on_both_processes(two_processes):
    app, _, other = two_processes
    token = login(app).token
    assert Api(other.test_client(), token).get("/auth/me").get_json()["email"] == ADMIN_EMAIL
