"""Identity providers of users (``identityProviders``, ``addIdentityProvider``, ``removeIdentityProvider``) and
users named by an external id (``?identityProvider=``), as a client sees them and as the store keeps them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from pymongo.errors import DuplicateKeyError

from core.storage import drop_embedded
from runtime.users.identity_providers import IdentityProviders
from tests.conftest import ADMIN_EMAIL, Api, login, make_app
from tests.runtime.test_users_api import new_group, new_user, stored_user

SLINGR = {"id": "__slingr__", "name": "slingr", "label": "Slingr", "externalId": None}


def google(external_id: str) -> dict[str, Any]:
    return {"id": "google", "name": "google", "label": "Google", "externalId": external_id}


@pytest.fixture
def app() -> Iterator[Flask]:
    """The app with two providers configured besides the built-in one (``IDENTITY_PROVIDERS``)."""
    app = make_app(identity_providers=("google:Google", "okta:Okta SSO"))
    yield app
    drop_embedded(app.config["RUNTIME"].mongodb_db)


@pytest.fixture
def manager(app: Flask, api: Api) -> Api:
    """A non-developer user whose group grants users management."""
    new_group(api, "managers", usersManagement=True)
    new_user(api, "boss@example.com", groups=["managers"])
    return login(app, "boss@example.com", "ann-password")


def errors_of(response: Any) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in response.get_json()["errors"]]


def test_new_users_get_the_built_in_provider(app: Flask, api: Api):
    user = new_user(api)
    assert user["identityProviders"] == [SLINGR]
    stored = stored_user(app, "ann@example.com")
    assert stored["identityProviders"] == [{"id": "__slingr__", "externalId": None}]
    assert "externalIds" not in stored
    assert api.get(f"/users/{user['id']}").get_json() == user


def test_a_user_stored_without_providers_reads_as_having_the_built_in_one(app: Flask, api: Api):
    assert "identityProviders" not in stored_user(app, ADMIN_EMAIL)  # the first developer, made at start
    assert api.get(f"/users/{ADMIN_EMAIL}").get_json()["identityProviders"] == [SLINGR]


def test_create_with_identity_providers(app: Flask, api: Api):
    user = new_user(api, identityProviders=[{"name": "google", "externalId": " g-1 "}, {"id": "__slingr__"},
                                            {"id": "okta", "name": "google", "externalId": "o-1"}])
    okta = {"id": "okta", "name": "okta", "label": "Okta SSO", "externalId": "o-1"}
    assert user["identityProviders"] == [google("g-1"), SLINGR, okta]  # id wins over name; outer blanks go
    stored = stored_user(app, "ann@example.com")
    assert stored["identityProviders"] == [{"id": "google", "externalId": "g-1"},
                                           {"id": "__slingr__", "externalId": None},
                                           {"id": "okta", "externalId": "o-1"}]
    assert stored["externalIds"] == ["google:g-1", "okta:o-1"]
    only = new_user(api, "bob@example.com", identityProviders=[{"name": "google", "externalId": "g-2"}])
    assert only["identityProviders"] == [google("g-2")]  # given: no built-in one added


@pytest.mark.parametrize("providers, field, code", [
    ([], "identityProviders", "invalid"),
    ("google", "identityProviders", "invalid"),
    (["google"], "identityProviders[0]", "invalid"),
    ([{}], "identityProviders[0].id", "required"),
    ([{"name": "nope", "externalId": "x"}], "identityProviders[0].name", "invalid"),
    ([{"id": "nope", "name": "google", "externalId": "x"}], "identityProviders[0].id", "invalid"),
    ([{"name": "google"}], "identityProviders[0].externalId", "required"),
    ([{"name": "google", "externalId": " "}], "identityProviders[0].externalId", "invalid"),
    ([{"name": "google", "externalId": "a/b"}], "identityProviders[0].externalId", "invalid"),
    ([{"name": "google", "externalId": "a,b"}], "identityProviders[0].externalId", "invalid"),
    ([{"name": "google", "externalId": "x" * 256}], "identityProviders[0].externalId", "invalid"),
    ([{"name": "google", "externalId": 5}], "identityProviders[0].externalId", "invalid"),
    ([{"name": "slingr", "externalId": "x"}], "identityProviders[0].externalId", "invalid"),
    ([{"name": "google", "externalId": "a"}, {"id": "google", "externalId": "b"}], "identityProviders[1]",
     "duplicate"),
    ([{"name": "google", "externalId": "taken"}], "identityProviders[0].externalId", "duplicate"),
])
def test_bad_identity_providers_are_400_and_nothing_is_stored(app: Flask, api: Api, providers: Any, field: str,
                                                              code: str):
    new_user(api, identityProviders=[{"name": "google", "externalId": "taken"}])
    bob = new_user(api, "bob@example.com")
    for method, path, body in [("POST", "/users", {"email": "cid@example.com", "password": "long-enough"}),
                               ("PUT", f"/users/{bob['id']}", {})]:
        response = api.request(method, path, json={**body, "identityProviders": providers})
        assert response.status_code == 400, (method, response.get_json())
        assert (field, code) in errors_of(response), (method, response.get_json())
    assert stored_user(app, "cid@example.com") is None
    assert stored_user(app, "bob@example.com")["version"] == 0


def test_put_replaces_the_identity_providers(app: Flask, api: Api):
    user = new_user(api)
    replaced = api.put(f"/users/{user['id']}", json={"identityProviders": [{"name": "google", "externalId": "g-1"}],
                                                     "version": 0})
    assert replaced.status_code == 200 and replaced.get_json()["identityProviders"] == [google("g-1")]
    assert stored_user(app, "ann@example.com")["externalIds"] == ["google:g-1"]
    sent_back = api.put(f"/users/{user['id']}", json={"identityProviders": [SLINGR]}).get_json()  # the JSON as read
    assert sent_back["identityProviders"] == [SLINGR]
    assert "externalIds" not in stored_user(app, "ann@example.com")
    assert api.put(f"/users/{user['id']}", json={"firstName": "Anna"}).get_json()["identityProviders"] == [SLINGR]
    assert api.put(f"/users/{user['id']}", json={"identityProviders": None}).status_code == 400


def test_add_identity_provider(app: Flask, api: Api):
    user = new_user(api)
    added = api.put(f"/users/{user['id']}/addIdentityProvider", json={"name": "google", "externalId": "g-1"})
    assert added.status_code == 200
    body = added.get_json()
    assert body["identityProviders"] == [SLINGR, google("g-1")] and body["version"] == 1
    assert stored_user(app, "ann@example.com")["externalIds"] == ["google:g-1"]
    again = api.put(f"/users/{user['id']}/addIdentityProvider", json={"id": "google", "externalId": "g-1"}).get_json()
    assert again == body  # nothing changed, nothing written
    moved = api.put(f"/users/{user['id']}/addIdentityProvider", json={"id": "google", "externalId": "g-9"}).get_json()
    assert moved["identityProviders"] == [SLINGR, google("g-9")] and moved["version"] == 2
    assert stored_user(app, "ann@example.com")["externalIds"] == ["google:g-9"]
    assert api.get("/users/g-1?identityProvider=google").status_code == 404  # the old external id is free again
    new_user(api, "bob@example.com", identityProviders=[{"name": "google", "externalId": "g-1"}])


def test_add_identity_provider_bad_bodies(app: Flask, api: Api):
    user = new_user(api)
    new_user(api, "bob@example.com", identityProviders=[{"name": "google", "externalId": "taken"}])
    cases = [({}, "id", "required"),
             ({"externalId": "x"}, "id", "required"),
             ({"name": "nope", "externalId": "x"}, "name", "invalid"),
             ({"id": "nope", "externalId": "x"}, "id", "invalid"),
             ({"name": "google"}, "externalId", "required"),
             ({"name": "google", "externalId": None}, "externalId", "required"),
             ({"name": "google", "externalId": "a/b"}, "externalId", "invalid"),
             ({"name": "google", "externalId": 7}, "externalId", "invalid"),
             ({"name": "slingr", "externalId": "x"}, "externalId", "invalid"),
             ({"name": "google", "externalId": "taken"}, "externalId", "duplicate")]
    for body, field, code in cases:
        response = api.put(f"/users/{user['id']}/addIdentityProvider", json=body)
        assert response.status_code == 400, (body, response.get_json())
        assert (field, code) in errors_of(response), (body, response.get_json())
    assert api.put(f"/users/{user['id']}/addIdentityProvider", data="{no", content_type="application/json"
                   ).status_code == 400
    assert stored_user(app, "ann@example.com")["version"] == 0
    assert api.put("/users/ghost@example.com/addIdentityProvider",
                   json={"name": "google", "externalId": "x"}).status_code == 404


def test_the_same_external_id_at_another_provider_is_another_identity(api: Api):
    new_user(api, identityProviders=[{"name": "google", "externalId": "same"}])
    bob = new_user(api, "bob@example.com", identityProviders=[{"name": "okta", "externalId": "same"}])
    assert api.get("/users/same?identityProvider=google").get_json()["email"] == "ann@example.com"
    assert api.get("/users/same?identityProvider=okta").get_json()["id"] == bob["id"]


def test_the_store_keeps_an_external_id_to_one_user(app: Flask, api: Api):
    """The check before a write has a unique index behind it, for two writes that race."""
    new_user(api, identityProviders=[{"name": "google", "externalId": "g-1"}])
    new_user(api, "bob@example.com")
    users = app.extensions["runtime"].store.collection("sys.users")
    with pytest.raises(DuplicateKeyError):
        users.update_one({"email": "bob@example.com"}, {"$set": {"externalIds": ["google:g-1"]}})
    users.update_one({"email": "bob@example.com"}, {"$set": {"externalIds": ["okta:g-1"]}})


def test_remove_identity_provider(app: Flask, api: Api):
    user = new_user(api, identityProviders=[{"name": "google", "externalId": "g-1"},
                                            {"name": "okta", "externalId": "o-1"}, {"name": "slingr"}])
    removed = api.put(f"/users/{user['id']}/removeIdentityProvider/google").get_json()
    assert [p["id"] for p in removed["identityProviders"]] == ["okta", "__slingr__"] and removed["version"] == 1
    assert stored_user(app, "ann@example.com")["externalIds"] == ["okta:o-1"]
    assert api.get("/users/g-1?identityProvider=google").status_code == 404
    same = api.put(f"/users/{user['id']}/removeIdentityProvider/google").get_json()
    assert same == removed  # not one of hers: unchanged
    by_id = api.put(f"/users/{user['id']}/removeIdentityProvider/okta").get_json()
    assert by_id["identityProviders"] == [SLINGR]
    assert "externalIds" not in stored_user(app, "ann@example.com")
    last = api.put(f"/users/{user['id']}/removeIdentityProvider/slingr")
    assert last.status_code == 400 and "at least one" in last.get_json()["message"]
    assert api.put(f"/users/{user['id']}/removeIdentityProvider/nope").status_code == 404
    assert stored_user(app, "ann@example.com")["version"] == 2


def test_a_provider_no_longer_configured_shows_its_id_and_can_be_removed(app: Flask, api: Api):
    user = new_user(api)
    users = app.extensions["runtime"].store.collection("sys.users")
    users.update_one({"email": "ann@example.com"},
                     {"$push": {"identityProviders": {"id": "gone", "externalId": "x-1"}},
                      "$set": {"externalIds": ["gone:x-1"]}})
    shown = api.get(f"/users/{user['id']}").get_json()["identityProviders"]
    assert shown == [SLINGR, {"id": "gone", "name": "gone", "label": "gone", "externalId": "x-1"}]
    removed = api.put(f"/users/{user['id']}/removeIdentityProvider/gone").get_json()
    assert removed["identityProviders"] == [SLINGR]
    assert "externalIds" not in stored_user(app, "ann@example.com")


def test_every_user_call_takes_an_external_id(app: Flask, api: Api):
    new_group(api, "support")
    ann = new_user(api, identityProviders=[{"name": "google", "externalId": "g-1"}])
    bob = new_user(api, "bob@example.com", identityProviders=[{"name": "okta", "externalId": "o-2"}])
    assert api.get("/users/g-1?identityProvider=google").get_json() == ann
    assert api.get("/users/g-1?identityProvider=Google").status_code == 400  # names are exact
    assert api.get("/users/o-2?identityProvider=okta").get_json() == bob
    put = api.put("/users/g-1?identityProvider=google", json={"firstName": "Anna", "version": 0})
    assert put.status_code == 200 and put.get_json()["fullName"] == "Anna Lee"
    assert api.put("/users/g-1/deactivate?identityProvider=google").get_json()["status"] == "INACTIVE"
    assert api.put("/users/g-1/reactivate?identityProvider=google").get_json()["status"] == "ACTIVE"
    assert api.put("/users/g-1/unblock?identityProvider=google").status_code == 200
    grouped = api.put("/users/g-1/addGroup?identityProvider=google", json={"name": "support"}).get_json()
    assert [g["name"] for g in grouped["groups"]] == ["support"]
    assert api.put("/users/g-1/removeGroup/support?identityProvider=google").get_json()["groups"] == []
    added = api.put("/users/g-1/addIdentityProvider?identityProvider=google",
                    json={"name": "okta", "externalId": "o-1"})
    assert [p["id"] for p in added.get_json()["identityProviders"]] == ["google", "okta"]
    assert api.put("/users/o-1/removeIdentityProvider/google?identityProvider=okta").status_code == 200
    deleted = api.delete("/users/o-1?identityProvider=okta")
    assert deleted.status_code == 200 and deleted.get_json()["email"] == "ann@example.com"
    assert stored_user(app, "ann@example.com") is None
    assert api.get("/users/o-1?identityProvider=okta").status_code == 404


def test_several_external_ids_answer_an_array(api: Api):
    new_user(api, identityProviders=[{"name": "google", "externalId": "g-1"}])
    new_user(api, "bob@example.com", identityProviders=[{"name": "google", "externalId": "g-2"}])
    both = api.put("/users/g-1,g-2/deactivate?identityProvider=google")
    assert [(u["email"], u["status"]) for u in both.get_json()] == [("ann@example.com", "INACTIVE"),
                                                                     ("bob@example.com", "INACTIVE")]
    assert api.put("/users/g-1,g-3/reactivate?identityProvider=google").status_code == 404
    assert api.get("/users/g-1?identityProvider=google").get_json()["status"] == "INACTIVE"  # nothing half-done


def test_unknown_external_ids_and_providers(api: Api):
    ann = new_user(api, identityProviders=[{"name": "google", "externalId": "g-1"}, {"name": "slingr"}])
    missing = api.get("/users/g-404?identityProvider=google")
    assert missing.status_code == 404 and missing.get_json()["code"] == "notFound"
    unknown = api.get("/users/g-1?identityProvider=nope")
    assert unknown.status_code == 400 and errors_of(unknown) == [("identityProvider", "invalid")]
    assert api.get("/users/g-1").status_code == 400  # an external id needs the provider
    assert api.get("/users/x1?identityProvider=slingr").status_code == 404  # the built-in one has no external ids
    assert api.get("/users/g-1?identityProvider=").status_code == 400  # empty: none given
    assert api.put("/users/g-404?identityProvider=google", json={"firstName": "X"}).status_code == 404
    assert api.delete("/users/g-404?identityProvider=google").status_code == 404
    assert api.put("/users/g-404/deactivate?identityProvider=nope").status_code == 400
    assert api.get(f"/users/{ann['id']}").get_json()["version"] == 0


def test_with_a_provider_the_path_is_only_an_external_id(api: Api):
    """An external id that looks like another user's id or email names its own user, never the other one."""
    bob = new_user(api, "bob@example.com")
    ann = new_user(api, identityProviders=[{"name": "google", "externalId": bob["id"]},
                                           {"name": "okta", "externalId": "bob@example.com"}])
    assert api.get(f"/users/{bob['id']}?identityProvider=google").get_json()["id"] == ann["id"]
    assert api.get(f"/users/{bob['id']}").get_json()["id"] == bob["id"]
    assert api.get("/users/bob@example.com?identityProvider=okta").get_json()["id"] == ann["id"]
    assert api.get(f"/users/{ann['id']}?identityProvider=google").status_code == 404
    assert api.get("/users/ann@example.com?identityProvider=okta").status_code == 404


def test_only_users_managers_change_identity_providers(app: Flask, api: Api, user_api: Api, manager: Api):
    user = new_user(api, "cid@example.com", identityProviders=[{"name": "google", "externalId": "g-1"}])
    assert user_api.get("/users/g-1?identityProvider=google").get_json() == user  # reads are for every user
    for method, path, body in [("PUT", f"/users/{user['id']}/addIdentityProvider", {"name": "okta",
                                                                                    "externalId": "o-1"}),
                               ("PUT", f"/users/{user['id']}/removeIdentityProvider/google", None),
                               ("PUT", f"/users/{user['id']}", {"identityProviders": [{"name": "slingr"}]}),
                               ("PUT", "/users/g-1?identityProvider=google", {"firstName": "X"}),
                               ("PUT", "/users/g-1/deactivate?identityProvider=google", None),
                               ("DELETE", "/users/g-1?identityProvider=google", None)]:
        response = user_api.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.get_json())
        assert response.get_json()["code"] == "forbidden"
    assert stored_user(app, "cid@example.com")["version"] == 0
    added = manager.put(f"/users/{user['id']}/addIdentityProvider", json={"name": "okta", "externalId": "o-1"})
    assert added.status_code == 200
    assert manager.put("/users/o-1/removeIdentityProvider/google?identityProvider=okta").status_code == 200
    assert stored_user(app, "cid@example.com")["externalIds"] == ["okta:o-1"]


def test_nobody_changes_a_developers_identity_providers(app: Flask, api: Api, manager: Api):
    """Not by id, and not by an external id either (put on the developer behind the API's back)."""
    users = app.extensions["runtime"].store.collection("sys.users")
    users.update_one({"email": ADMIN_EMAIL}, {"$set": {
        "identityProviders": [{"id": "__slingr__", "externalId": None}, {"id": "google", "externalId": "dev-1"}],
        "externalIds": ["google:dev-1"]}})
    before = stored_user(app, ADMIN_EMAIL)
    for caller in (api, manager):
        for ref, query in ((ADMIN_EMAIL, ""), ("dev-1", "?identityProvider=google")):
            for method, path, body in [("PUT", f"/users/{ref}/addIdentityProvider{query}",
                                        {"name": "okta", "externalId": "o-1"}),
                                       ("PUT", f"/users/{ref}/removeIdentityProvider/google{query}", None),
                                       ("PUT", f"/users/{ref}{query}", {"identityProviders": [{"name": "slingr"}]}),
                                       ("PUT", f"/users/{ref}/deactivate{query}", None),
                                       ("PUT", f"/users/{ref}/addGroup{query}", {"name": "sales"}),
                                       ("DELETE", f"/users/{ref}{query}", None)]:
                response = caller.request(method, path, json=body)
                assert response.status_code == 403, (method, path, response.get_json())
        assert caller.get("/users/dev-1?identityProvider=google").get_json()["email"] == ADMIN_EMAIL
    assert stored_user(app, ADMIN_EMAIL) == before


def test_without_configured_providers_only_the_built_in_one_exists(api: Api):
    plain = make_app()
    try:
        dev = login(plain)
        refused = dev.post("/users", json={"email": "a@example.com", "password": "long-enough",
                                           "identityProviders": [{"name": "google", "externalId": "g-1"}]})
        assert refused.status_code == 400 and errors_of(refused) == [("identityProviders[0].name", "invalid")]
        assert dev.get("/users/g-1?identityProvider=google").status_code == 400
        created = dev.post("/users", json={"email": "a@example.com", "password": "long-enough",
                                           "identityProviders": [{"name": "slingr"}]})
        assert created.get_json()["identityProviders"] == [SLINGR]
    finally:
        drop_embedded(plain.config["RUNTIME"].mongodb_db)


@pytest.mark.parametrize("setting", [("bad name",), ("slingr",), ("__slingr__:Mine",), ("google", "google:Again"),
                                     (":Label",)])
def test_a_bad_identity_providers_setting_stops_the_start(setting: tuple[str, ...]):
    with pytest.raises(SystemExit, match="IDENTITY_PROVIDERS"):
        IdentityProviders(setting)


def test_identity_providers_stay_out_of_token_snapshots(app: Flask, api: Api):
    user = new_user(api)
    session = login(app, "ann@example.com", "ann-password")
    api.put(f"/users/{user['id']}/addIdentityProvider", json={"name": "google", "externalId": "g-1"})
    me = session.get("/auth/me").get_json()
    assert me["identityProviders"] == [SLINGR, google("g-1")] and me["version"] == 1
    tokens = app.extensions["runtime"].store.collection("sys.tokens")
    snapshot = tokens.find_one({"userId": stored_user(app, "ann@example.com")["_id"]})["user"]
    assert snapshot["version"] == 1
    assert not {"identityProviders", "externalIds", "localization"} & set(snapshot)
    api.put("/users/g-1/deactivate?identityProvider=google")
    assert session.get("/auth/me").status_code == 401
