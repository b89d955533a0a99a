"""API keys: create (shown once, stored hashed), list, delete; the three ways to send one; access-log redaction."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
from flask import Flask

from runtime.log_redaction import REDACTED, RedactingLogger, install_werkzeug_filter, redact
from tests.conftest import Api, login


def new_key(api: Api, **body) -> dict:
    response = api.post("/auth/api-keys", json={"name": "ci", **body})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_create_list_delete(app: Flask, api: Api):
    key = new_key(api)
    assert set(key) == {"id", "name", "key", "createdAt", "expiresAt"}
    assert key["name"] == "ci" and key["expiresAt"] is None and key["key"]
    listed = api.get("/auth/api-keys").get_json()
    assert listed == [{k: v for k, v in key.items() if k != "key"}]
    tokens = app.extensions["runtime"].store.collection("sys.tokens")
    assert all(key["key"] not in str(doc) for doc in tokens.find({}))  # stored as a hash only
    assert api.delete(f"/auth/api-keys/{key['id']}").status_code == 200
    assert api.get("/auth/api-keys").get_json() == []
    assert Api(app.test_client(), key["key"]).get("/data/companies").status_code == 401
    assert api.delete(f"/auth/api-keys/{key['id']}").status_code == 404
    assert api.delete("/auth/api-keys/6b0404aca7408a15fb0c93ee").status_code == 404  # well formed, unknown
    malformed = api.delete("/auth/api-keys/not-an-id")
    assert malformed.status_code == 400 and malformed.get_json()["code"] == "badRequest"
    assert "not-an-id" in malformed.get_json()["message"]


def test_a_key_is_accepted_in_the_three_ways(api: Api, anon: Api):
    key = new_key(api)["key"]
    for headers, query in (({"Authorization": f"Token {key}"}, ""), ({"Authorization": f"Bearer {key}"}, ""),
                           ({"X-API-KEY": key}, ""), ({}, f"?api_key={key}")):
        response = anon.get(f"/auth/me{query}", headers=headers)
        assert response.status_code == 200, headers
        assert response.get_json()["email"] == "admin@example.com"


def test_keys_act_as_their_user_and_never_expire_by_idleness(app: Flask, user_api: Api, anon: Api):
    key = new_key(user_api)["key"]
    tokens = app.extensions["runtime"].store.collection("sys.tokens")
    tokens.update_many({"kind": "apiKey"}, {"$set": {"touchedAt": None}})
    app.extensions["runtime"].store.sweep_expired()
    assert anon.get("/auth/me", headers={"X-API-KEY": key}).get_json()["email"] == "user@example.com"
    assert anon.get("/metadata/entities", headers={"X-API-KEY": key}).status_code == 403  # not a developer


def test_expiring_key(api: Api, anon: Api):
    key = new_key(api, expiresAt=int(time.time() * 1000) + 1000)
    assert key["expiresAt"] is not None
    assert anon.get("/auth/me", headers={"X-API-KEY": key["key"]}).status_code == 200
    time.sleep(1.1)
    assert anon.get("/auth/me", headers={"X-API-KEY": key["key"]}).status_code == 401


def test_bad_bodies(api: Api):
    for body, field in (({}, "name"), ({"name": ""}, "name"), ({"name": "x", "expiresAt": "soon"}, "expiresAt"),
                        ({"name": "x", "expiresAt": 1000}, "expiresAt"),
                        ({"name": "x", "expiresAt": -2**62}, "expiresAt"),  # before the year 1
                        ({"name": "x", "expiresAt": 253402300800000}, "expiresAt"),  # after the year 9999
                        ({"name": "x", "expiresAt": 2**63 - 1}, "expiresAt")):
        response = api.post("/auth/api-keys", json=body)
        assert response.status_code == 400, body
        assert response.get_json()["errors"][0]["field"] == field
    assert new_key(api, expiresAt=253402300799999)["expiresAt"] == 253402300799999


def test_the_body_is_read_as_on_every_route(api: Api, anon: Api):
    """Malformed JSON says so; a JSON body sent without a JSON Content-Type (``curl -d '{...}'``) is read; the
    document lists the 400 it answers, not flask-smorest's 422."""
    response = api.post("/auth/api-keys", data='{"name": "ci",', content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("Malformed JSON in request body: ")
    form = "application/x-www-form-urlencoded"  # what ``curl -d`` sends
    response = api.post("/auth/api-keys", data='{"name": "from curl"}', content_type=form)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "from curl"
    paths = anon.get("/openapi.json").get_json()["paths"]
    assert set(paths["/api/auth/api-keys"]["post"]["responses"]) == {"200", "400", "401", "403", "404", "default"}
    assert set(paths["/api/auth/api-keys/{key_id}"]["delete"]["responses"]) == {"200", "400", "401", "404",
                                                                               "default"}


def test_keys_are_per_user(app: Flask, api: Api, user_api: Api):
    mine = new_key(user_api)
    assert api.get("/auth/api-keys").get_json() == []
    assert api.delete(f"/auth/api-keys/{mine['id']}").status_code == 404


def test_key_stops_when_its_user_is_deactivated_and_works_again_after(api: Api, anon: Api):
    api.post("/users", json={"email": "bot@example.com", "password": "long-enough"})
    key = new_key(login(api.client.application, "bot@example.com", "long-enough"))["key"]
    api.put("/users/bot@example.com/deactivate")
    refused = anon.get("/auth/me", headers={"X-API-KEY": key})
    assert refused.status_code == 401 and "inactive" in refused.get_json()["message"]
    api.put("/users/bot@example.com/reactivate")
    assert anon.get("/auth/me", headers={"X-API-KEY": key}).status_code == 200
    api.delete("/users/bot@example.com")
    assert anon.get("/auth/me", headers={"X-API-KEY": key}).status_code == 401


def test_impersonating_sessions_cannot_create_keys(app: Flask, api: Api, anon: Api):
    app.extensions["runtime"].auth.create_user("emp@example.com", "long-enough")
    token = anon.post("/auth/login", json={"email": "admin@example.com", "password": "admin-password",
                                           "emailImpersonatedUser": "emp@example.com"}).get_json()["token"]
    assert Api(app.test_client(), token).post("/auth/api-keys", json={"name": "x"}).status_code == 403


def test_gunicorn_access_log_redacts_keys():
    from gunicorn.config import Config

    logger = RedactingLogger(Config())
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/api/data/x?a=1&api_key=SECRET", "PATH_INFO": "/api/data/x",
               "QUERY_STRING": "a=1&api_key=SECRET", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "1.2.3.4"}
    req = SimpleNamespace(headers=[("X-API-KEY", "SECRET"), ("TOKEN", "SECRET"), ("AUTHORIZATION", "Token SECRET"),
                                   ("X-REQUEST-ID", "r1")])
    resp = SimpleNamespace(status="200 OK", response_length=2, sent=2, headers=[])
    atoms = logger.atoms(resp, req, environ, __import__("datetime").timedelta(seconds=0.1))
    assert "SECRET" not in str(dict(atoms))
    assert atoms["{x-request-id}i"] == "r1" and atoms["q"] == f"a=1&api_key={REDACTED}"


def test_development_server_log_redacts_keys(caplog):
    install_werkzeug_filter()
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('%s - - "%s" %s', "127.0.0.1", "GET /api/x?api_key=SECRET HTTP/1.1", "200")
    assert "SECRET" not in caplog.text and REDACTED in caplog.text
    assert redact("/x?api_key=abc&b=1") == f"/x?api_key={REDACTED}&b=1"


ENCODED_NAMES = ["api%5Fkey", "%61pi_key", "%61%70%69%5f%6b%65%79", "api_key", "API_KEY"]


@pytest.mark.parametrize("name", ENCODED_NAMES)
def test_access_logs_redact_a_key_whatever_the_encoding_of_its_parameter_name(api: Api, anon: Api, caplog,
                                                                             name: str):
    """Flask decodes the name before reading ``api_key``, so an encoded name authenticates: its value is redacted
    in the gunicorn and the development server's access lines alike."""
    from gunicorn.config import Config

    key = new_key(api)["key"]
    if name != "API_KEY":  # not the key to Flask (names are case-sensitive), but redacted all the same
        assert anon.get(f"/auth/me?{name}={key}").status_code == 200  # the app reads it as the key
    query = f"a=1&{name}={key}&b=2"
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/api/auth/me?{query}", "PATH_INFO": "/api/auth/me",
               "QUERY_STRING": query, "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "1.2.3.4"}
    resp = SimpleNamespace(status="200 OK", response_length=2, sent=2, headers=[])
    atoms = RedactingLogger(Config()).atoms(resp, SimpleNamespace(headers=[]), environ,
                                            __import__("datetime").timedelta(seconds=0.1))
    assert key not in str(dict(atoms)) and atoms["q"] == f"a=1&{name}={REDACTED}&b=2"
    install_werkzeug_filter()
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('%s - - "%s" %s', "127.0.0.1", f"GET /api/auth/me?{query} HTTP/1.1", "200")
    assert key not in caplog.text and f"{name}={REDACTED}&b=2" in caplog.text


def test_logout_and_refresh_refuse_an_api_key_which_keeps_working(app: Flask, api: Api, anon: Api):
    """An API key is no session: logging out with it, or refreshing it, answers 400 instead of a success that
    leaves it working; a session's logout still ends the session."""
    key = new_key(api)["key"]
    for method in ("GET", "POST"):
        for path in ("/auth/logout", "/auth/refresh-token"):
            refused = anon.request(method, path, headers={"X-API-KEY": key})
            assert refused.status_code == 400, (method, path)
            assert refused.get_json()["code"] == "badRequest" and "API key" in refused.get_json()["message"]
    assert anon.get("/auth/me", headers={"X-API-KEY": key}).status_code == 200
    session = login(app)
    assert session.get("/auth/logout").get_json() == {"logout": True}
    assert session.get("/auth/me").status_code == 401
