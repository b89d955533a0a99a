"""Login, tokens and the guard on every route."""

from __future__ import annotations

import datetime as dt
import time

from core.storage import drop_embedded
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api, login, make_app


def test_login_returns_the_seed_body(anon: Api):
    response = anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["app", "adminUserEmail", "ip", "userEmail", "userName", "userId", "token"]
    assert body["userEmail"] == ADMIN_EMAIL
    assert body["adminUserEmail"] is None
    assert len(body["userId"]) == 24 and len(body["token"]) >= 32


def test_wrong_password_and_unknown_user_are_401(anon: Api):
    assert anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": "nope"}).status_code == 401
    assert anon.post("/auth/login", json={"email": "who@example.com", "password": "x"}).status_code == 401


def test_missing_credentials_is_400_with_field_errors(anon: Api):
    response = anon.post("/auth/login", json={"email": ADMIN_EMAIL})
    assert response.status_code == 400
    assert [e["field"] for e in response.get_json()["errors"]] == ["password"]


def test_every_route_needs_a_token(anon: Api):
    for method, path in [("GET", "/data/companies"), ("POST", "/data/companies"), ("GET", "/metadata/entities"),
                         ("GET", "/data/companies/history"), ("POST", "/auth/logout")]:
        response = anon.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.get_json()["code"] == "unauthorized"


def test_bad_token_is_401(anon: Api):
    response = anon.get("/data/companies", headers={"token": "not-a-token"})
    assert response.status_code == 401


def test_token_accepted_in_every_documented_place(api: Api, anon: Api):
    token = api.token
    assert anon.get("/data/companies", headers={"token": token}).status_code == 200
    assert anon.get("/data/companies", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert anon.get("/data/companies", headers={"Authorization": f"token {token}"}).status_code == 200
    assert anon.get("/data/companies", headers={"Authorization": token}).status_code == 200  # no scheme
    assert anon.get("/data/companies", headers={"X-API-KEY": token}).status_code == 200
    assert anon.get(f"/data/companies?api_key={token}").status_code == 200


def test_an_authorization_header_with_another_scheme_or_an_unknown_token_is_401(api: Api, anon: Api):
    for value in (f"Basic {api.token}", "not-a-token", f"Bearer{api.token}", " "):
        response = anon.get("/data/companies", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.get_json()["code"] == "unauthorized"


def test_a_scheme_name_alone_in_authorization_leaves_the_other_ways_to_send_the_token(api: Api, anon: Api):
    response = anon.get(f"/data/companies?api_key={api.token}", headers={"Authorization": "Bearer"})
    assert response.status_code == 200


def test_a_token_cookie_alone_is_401_outside_file_downloads(api: Api, anon: Api):
    anon.client.set_cookie("token", api.token)
    for method, path in [("GET", "/data/companies"), ("POST", "/data/companies"), ("GET", "/auth/me"),
                         ("GET", "/metadata/entities"), ("GET", "/status/jobs"), ("POST", "/files"),
                         ("POST", "/auth/logout")]:
        response = anon.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.get_json()["code"] == "unauthorized"
    assert anon.get("/data/companies", headers={"token": api.token}).status_code == 200  # the header still works


def test_logout_invalidates_the_token(api: Api):
    assert api.post("/auth/logout").status_code == 200
    assert api.get("/data/companies").status_code == 401


def test_a_head_of_logout_or_refresh_changes_nothing(api: Api, anon: Api):
    """HEAD is headers only (a link checker, a probe): it must neither end the session nor replace its token,
    which its answer could not carry."""
    for path in ("/auth/logout", "/auth/refresh-token"):
        response = api.request("HEAD", path)
        assert response.status_code == 200 and response.get_data() == b"", path
        assert api.get("/auth/authenticated").status_code == 200, path
        assert anon.request("HEAD", path).status_code == 401  # the token is still checked
    assert api.get("/auth/refresh-token").status_code == 200  # GET still refreshes: the old token ends
    assert api.get("/auth/authenticated").status_code == 401


def test_tokens_are_stored_hashed(app, api: Api):
    tokens = app.extensions["runtime"].store.collection("sys.tokens")
    stored = list(tokens.find({}))
    assert stored and all(doc["_id"] != api.token for doc in stored)
    users = app.extensions["runtime"].store.collection("sys.users")
    assert users.find_one({"email": ADMIN_EMAIL})["passwordHash"].startswith("$argon2")


def test_token_expires_after_idle_time(app, api: Api):
    tokens = app.extensions["runtime"].store.collection("sys.tokens")
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    tokens.update_many({}, {"$set": {"expiresAt": past}})
    assert api.get("/data/companies").status_code == 401


def test_use_extends_the_token(app, api: Api):
    tokens = app.extensions["runtime"].store.collection("sys.tokens")
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
    tokens.update_many({}, {"$set": {"touchedAt": old, "expiresAt": old + dt.timedelta(hours=8)}})
    assert api.get("/data/companies").status_code == 200
    doc = tokens.find_one({})
    assert doc["expiresAt"] > dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=7, minutes=59)


def test_a_short_idle_time_is_extended_by_use_too():
    """With TOKEN_IDLE_SECONDS=8 a session used every few seconds lives on: its expiry moves after a quarter of the
    idle time (at most a minute), not only once a minute."""
    app = make_app(token_idle_seconds=8, token_max_seconds=60)
    try:
        api = login(app)
        tokens = app.extensions["runtime"].store.collection("sys.tokens")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for used_ago, moved in ((1, False), (3, True)):
            touched = now - dt.timedelta(seconds=used_ago)
            tokens.update_many({}, {"$set": {"touchedAt": touched, "expiresAt": touched + dt.timedelta(seconds=8)}})
            assert api.get("/auth/me").status_code == 200
            expires = tokens.find_one({})["expiresAt"]
            assert (expires > now + dt.timedelta(seconds=7.5)) == moved, used_ago  # moved: now + 8 s
    finally:
        drop_embedded(app.config["RUNTIME"].mongodb_db)


def test_a_session_used_on_and_on_is_touched_when_due():
    """Requests in a row with the same token are checked once per token document, but a check is never kept
    past the moment the session is due to be touched: the idle expiry keeps moving with use."""
    app = make_app(token_idle_seconds=4, token_max_seconds=60)  # touched once a second (a quarter of 4 s)
    try:
        api = login(app)
        tokens = app.extensions["runtime"].store.collection("sys.tokens")
        assert api.get("/auth/me").status_code == 200
        first = tokens.find_one({})["expiresAt"]
        for _ in range(5):
            assert api.get("/auth/me").status_code == 200
        time.sleep(1.2)
        assert api.get("/auth/me").status_code == 200
        assert tokens.find_one({})["expiresAt"] >= first + dt.timedelta(seconds=1)
    finally:
        drop_embedded(app.config["RUNTIME"].mongodb_db)


def test_impersonation_by_a_developer(app, anon: Api):
    app.extensions["runtime"].auth.create_user("employee@example.com", "pw-employee", "Employee", "Test")
    response = anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                              "emailImpersonatedUser": "employee@example.com"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["adminUserEmail"] == ADMIN_EMAIL and body["userEmail"] == "employee@example.com"
    me = anon.get("/auth/me", headers={"token": body["token"]}).get_json()
    assert me["email"] == "employee@example.com" and me["adminUserEmail"] == ADMIN_EMAIL


def test_impersonation_rules(app, anon: Api, user_api: Api):
    denied = anon.post("/auth/login", json={"email": "user@example.com", "password": "user-password",
                                            "emailImpersonatedUser": ADMIN_EMAIL})
    assert denied.status_code == 403
    missing = anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                             "emailImpersonatedUser": "ghost@example.com"})
    assert missing.status_code == 404


def test_me_and_health(api: Api, anon: Api):
    assert api.get("/auth/me").get_json()["permissions"] == {"developer": True, "usersManagement": False}
    assert anon.get("/health").get_json() == {"status": "ok"}


def test_a_token_snapshot_is_never_replaced_by_an_older_read_of_its_user(app):
    """Two changes of one user synced at once: the sync that read the user before the later change must not
    write its older snapshot over the newer one (its version is lower)."""
    svc = app.extensions["runtime"]
    login(app)
    tokens = svc.store.collection("sys.tokens")
    admin = svc.store.collection("sys.users").find_one({"email": ADMIN_EMAIL})
    tokens.update_many({"userId": admin["_id"]}, {"$set": {"user.version": admin.get("version", 0) + 5,
                                                           "user.fullName": "Newer Name"}})
    svc.auth.sync_user(admin["_id"])  # reads the stored user, whose version is lower
    assert {t["user"]["fullName"] for t in tokens.find({"userId": admin["_id"]})} == {"Newer Name"}
    tokens.update_many({"userId": admin["_id"]}, {"$set": {"user.version": 0}})
    svc.auth.sync_user(admin["_id"])
    assert {t["user"]["fullName"] for t in tokens.find({"userId": admin["_id"]})} == {admin["fullName"]}
