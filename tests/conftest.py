"""Shared fixtures: a fresh app on its own embedded database per test, and clients logged in through HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from bson import ObjectId
from flask import Flask
from flask.testing import FlaskClient

from core.config import Config
from core.storage import drop_embedded
from runtime.app import bootstrap, create_app

EXAMPLES = str(Path(__file__).resolve().parent.parent / "examples" / "entities")
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password"


class Api:
    """A test client that prefixes ``/api`` and sends a token."""

    def __init__(self, client: FlaskClient, token: str | None):
        self.client = client
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = {"token": self.token} if self.token else {}
        out.update(headers or {})
        return out

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any):
        return self.client.open(f"/api{path}", method=method, headers=self._headers(headers), **kwargs)

    def get(self, path: str, **kwargs: Any):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any):
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any):
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.request("DELETE", path, **kwargs)


def make_app(**overrides: Any) -> Flask:
    config = Config.from_env(mongodb_uri=None, mongodb_db=f"test_{uuid.uuid4().hex}", redis_url=None,
                             admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD, **overrides)
    app = create_app(config)
    app.config["TESTING"] = True
    bootstrap(app, EXAMPLES)
    return app


@pytest.fixture
def app() -> Iterator[Flask]:
    app = make_app()
    yield app
    drop_embedded(app.config["RUNTIME"].mongodb_db)


def login(app: Flask, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> Api:
    client = app.test_client()
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return Api(client, response.get_json()["token"])


@pytest.fixture
def api(app: Flask) -> Api:
    """A developer logged in through ``POST /api/auth/login``."""
    return login(app)


@pytest.fixture
def anon(app: Flask) -> Api:
    return Api(app.test_client(), None)


def grant_all(app: Flask, email: str) -> None:
    """Put a regular user in a group allowed everything on the sample app (so a test of something else is not
    refused by permissions)."""
    svc = app.extensions["runtime"]
    entities = {e.name: {"access": "always", "create": "always", "edit": "always", "delete": "always",
                         "history": "always", "import": True, "export": True,
                         "actions": {a["name"]: "always" for a in e.actions}}
                for e in svc.registry.all().values()}
    gid = ObjectId()
    svc.store.collection("sys.groups").insert_one(
        {"_id": gid, "name": f"all{gid}", "label": "Everything", "usersManagement": False, "version": 1,
         "permissions": {"api": {"data": True, "files": True, "uploadFiles": True, "jobs": True},
                         "entities": entities}})
    svc.store.collection("sys.users").update_one({"email": email.lower()},
                                                 {"$set": {"groups": [{"id": gid, "primary": True}]}})


@pytest.fixture
def user_api(app: Flask) -> Api:
    """A regular (non-developer) user, in a group allowed everything on the sample app."""
    app.extensions["runtime"].auth.create_user("user@example.com", "user-password", "Regular", "User")
    grant_all(app, "user@example.com")
    return login(app, "user@example.com", "user-password")


@pytest.fixture
def manual_sweeps(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """The embedded store's expiry sweep, run only when the test calls it: the background sweeper (one a process,
    every minute) skips its runs meanwhile, so what a test sees expire is what its own sweep removed. Returns
    the sweep, which answers how many documents it removed."""
    from core import storage

    sweep = storage._sweeper.sweep
    monkeypatch.setattr(storage._sweeper, "sweep", lambda: 0)
    return sweep


COMPANY = {
    "name": "Test 1", "state": "pending", "type": "a", "numberOfEmployees": 95, "isCustomer": False,
    "contactInformation": {"phoneNumber": "1-702-845-9380", "email": "jwoodsrq@spotify.com"},
    "addresses": [{"addressLine": "4 Magdeline Place", "zipCode": "89145", "city": "Las Vegas", "state": "NV"}],
    "homepage": "http://www.browsezoom.com", "taxId": "350-KWM", "rating": "2.8", "notes": "test notes",
    "lastMeeting": 1429623180000,
}


def company(**changes: Any) -> dict[str, Any]:
    body = {k: (v.copy() if isinstance(v, dict) else list(v) if isinstance(v, list) else v) for k, v in COMPANY.items()}
    body.update(changes)
    return body


def as_listed(record: dict[str, Any], entity_label: str = "Companies") -> dict[str, Any]:
    """A record as a response record of a many-records result (delete many, action over many): with its entity."""
    return {**record, "entity": {"id": ANY, "name": entity_label}}


def create(api: Api, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"/data/{entity}", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


ENDED = ("FINISHED", "STOPPED", "CANCELED")


def wait_for_job(api: Api, job_id: str, statuses: tuple[str, ...] = ENDED, timeout: float = 60,
                 until: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """Poll ``GET /status/jobs/{id}`` until the job reaches one of ``statuses`` (or ``until(job)`` holds)."""
    done = until or (lambda job: job["status"] in statuses)
    deadline = time.time() + timeout
    job: dict[str, Any] = {}
    while time.time() < deadline:
        job = api.get(f"/status/jobs/{job_id}").get_json()
        if done(job):
            return job
        time.sleep(0.02)
    brief = {k: v for k, v in job.items() if k not in ("results", "data")}
    raise AssertionError(f"job {job_id} did not get there in {timeout}s: {brief}")
