"""Authentication costs one read per request (pymongo command monitoring against the MongoDB wire test server),
and a user change still reaches that read at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api, login
from tests.entities.test_query_roundtrips import Commands, monitored_app


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[Any, Api, Commands]]:
    with monitored_app() as (app, listener, _):
        yield app, login(app), listener


def _by_collection(listener: Commands) -> list[tuple[str, Any]]:
    return [(e["name"], e["command"].get(e["name"])) for e in listener.events]


def test_get_one_record_authenticates_with_one_read(setup):
    _, api, listener = setup
    record = api.post("/data/companies", json={"name": "Rt", "state": "active"}).get_json()
    api.get(f"/data/companies/{record['id']}")  # warm: the token's touch is at most once a minute
    listener.reset()
    response = api.get(f"/data/companies/{record['id']}")
    assert response.status_code == 200
    commands = _by_collection(listener)
    auth = [c for c in commands if c[1] in ("sys.tokens", "sys.users", "sys.groups", "sys.meta")]
    assert auth == [("aggregate", "sys.tokens")], commands  # the token, with the metadata stamp and the groups
    assert commands == [("aggregate", "sys.tokens"), ("find", "data.companies")], commands


def test_a_deactivation_is_seen_by_the_very_next_request(setup):
    app, api, listener = setup
    api.post("/users", json={"email": "rt@example.com", "password": "long-enough"})
    user = login(app, "rt@example.com", "long-enough")
    assert user.get("/auth/me").status_code == 200
    api.put("/users/rt@example.com/deactivate")
    listener.reset()
    assert user.get("/auth/me").status_code == 401
    assert [c for c in _by_collection(listener) if c[1] == "sys.users"] == []
