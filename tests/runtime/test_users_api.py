"""``/users``: listing, reading, creating, updating, deleting, status changes and groups, as a client sees them."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from openapi_schema_validator import OAS30Validator, validate

from tests.conftest import ADMIN_EMAIL, Api, login

USER_KEYS = ["id", "email", "firstName", "lastName", "fullName", "status", "groups", "permissions", "localization",
             "identityProviders", "version"]


def new_user(api: Api, email: str = "ann@example.com", **extra: Any) -> dict[str, Any]:
    body = {"firstName": "Ann", "lastName": "Lee", "email": email, "password": "ann-password", **extra}
    response = api.post("/users", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def new_group(api: Api, name: str, **extra: Any) -> dict[str, Any]:
    response = api.post("/groups", json={"name": name, **extra})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def manager(app: Flask, api: Api) -> Api:
    """A non-developer user whose group grants users management."""
    new_group(api, "managers", usersManagement=True)
    new_user(api, "boss@example.com", groups=["managers"])
    return login(app, "boss@example.com", "ann-password")


def test_create_returns_the_user_json_with_version_0(api: Api):
    user = new_user(api, "Ann@Example.com", groups=["sales"])
    assert list(user) == USER_KEYS
    assert user["email"] == "ann@example.com" and user["fullName"] == "Ann Lee"
    assert user["status"] == "ACTIVE" and user["version"] == 0
    assert user["permissions"] == {"developer": False, "usersManagement": False}
    assert [(g["name"], g["primary"]) for g in user["groups"]] == [("sales", True)]
    assert api.get(f"/users/{user['id']}").get_json() == user
    assert api.get("/users/ANN@example.com").get_json() == user


def test_created_user_can_log_in(app: Flask, api: Api):
    new_user(api)
    assert login(app, "ann@example.com", "ann-password").get("/auth/me").get_json()["email"] == "ann@example.com"


def test_generated_password_is_shown_once(app: Flask, api: Api):
    created = api.post("/users", json={"email": "gen@example.com", "options": {"generatePassword": True}})
    assert created.status_code == 200
    password = created.get_json()["generatedPassword"]
    login(app, "gen@example.com", password)
    assert "generatedPassword" not in api.get("/users/gen@example.com").get_json()


def test_create_bad_input_is_400_with_field_errors(api: Api):
    new_user(api)
    cases = [
        ({"email": "ANN@example.com", "password": "ann-password"}, "email", "duplicate"),
        ({"email": "not-an-email", "password": "ann-password"}, "email", "invalid"),
        ({"password": "ann-password"}, "email", "required"),
        ({"email": "b@example.com", "password": "short"}, "password", "invalid"),
        ({"email": "b@example.com"}, "password", "required"),
        ({"email": "b@example.com", "password": "long-enough", "groups": ["nope"]}, "groups[0]", "invalid"),
        ({"email": "b@example.com", "password": "long-enough",
          "groups": [{"name": "sales", "primary": True}, {"name": "other", "primary": True}]}, "groups[1]", "invalid"),
        ({"email": "b@example.com", "password": "long-enough", "groups": "sales"}, "groups", "invalid"),
        ({"email": 5, "password": "long-enough"}, "email", "invalid"),
    ]
    for body, field, code in cases:
        response = api.post("/users", json=body)
        assert response.status_code == 400, (body, response.get_json())
        errors = response.get_json()["errors"]
        assert (field, code) in [(e["field"], e["code"]) for e in errors], (body, errors)
    assert api.get("/users?email=b@example").get_json()["total"] == 0  # nothing half-written


def test_two_primary_groups_is_a_field_error(api: Api):
    new_group(api, "other")
    response = api.post("/users", json={"email": "b@example.com", "password": "long-enough",
                                        "groups": [{"name": "sales", "primary": True},
                                                   {"name": "other", "primary": True}]})
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "groups"


def test_list_filters_and_paging(api: Api):
    new_group(api, "support", label="Customer support")
    new_user(api, "ann@example.com", groups=["sales"])
    new_user(api, "bob@example.com", firstName="Bob", lastName="Stone", groups=["support"])
    new_user(api, "cid@example.com", firstName="Cid", lastName="Stone")
    api.put("/users/cid@example.com/deactivate")

    def emails(query: str) -> list[str]:
        response = api.get(f"/users?{query}")
        assert response.status_code == 200, response.get_json()
        return [u["email"] for u in response.get_json()["items"]]

    assert emails("lastName=sto") == ["bob@example.com", "cid@example.com"]
    assert emails("fullName=bob%20st") == ["bob@example.com"]
    assert emails("email=ANN") == ["ann@example.com"]
    assert emails("firstName=ci") == ["cid@example.com"]
    assert emails("developer=true") == [ADMIN_EMAIL]
    assert ADMIN_EMAIL not in emails("developer=false")
    assert emails("status=INACTIVE") == ["cid@example.com"]
    assert len(emails("status=active,inactive")) == 4
    assert emails("groups=custom") == ["bob@example.com"]
    assert emails("groups=sales,support") == ["ann@example.com", "bob@example.com"]
    first = api.get("/users?size=2").get_json()
    assert first["total"] == 4 and len(first["items"]) == 2 and first["offset"] == first["items"][-1]["id"]
    second = api.get(f"/users?size=2&offset={first['offset']}").get_json()
    assert [u["email"] for u in second["items"]] == ["bob@example.com", "cid@example.com"]
    assert [u["email"] for u in api.get("/users?size=1&offset=3").get_json()["items"]] == ["cid@example.com"]
    for bad in ("size=0", "size=x", "status=GONE", "offset=zz", "developer=maybe"):
        response = api.get(f"/users?{bad}")
        assert response.status_code == 400, bad
        name = bad.split("=")[0]  # the 400 of every route's query parameters: it names the parameter
        body = response.get_json()
        assert body["code"] == "badRequest" and body["message"].startswith(f"Invalid query parameter '{name}': ")
        assert body["errors"][0]["field"] == name


@pytest.mark.parametrize("name", ["email", "firstName", "lastName", "fullName", "groups"])
def test_a_filter_text_over_500_characters_is_400_naming_it(api: Api, name: str):
    """As ``_globalSearch``: a longer text (2,001 dots would make a pattern the store refuses) is the caller's
    error, not a 500."""
    assert api.get("/users", query_string={name: "." * 500}).status_code == 200
    for text in ("a" * 501, "." * 2001):
        response = api.get("/users", query_string={name: text})
        assert response.status_code == 400, response.get_json()
        body = response.get_json()
        assert body["message"] == f"Invalid query parameter '{name}': must be at most 500 characters"
        assert [(e["field"], e["code"]) for e in body["errors"]] == [(name, "invalid")]


FORM = "application/x-www-form-urlencoded"  # what ``curl -d '{...}'`` sends without -H 'Content-Type: ...'


def test_bodies_are_read_as_on_every_route(api: Api, anon: Api):
    """Malformed JSON says so; a JSON body is read whatever its Content-Type; the document lists the statuses the
    routes answer (400, not flask-smorest's 422)."""
    user = new_user(api)
    group = new_group(api, "curled")
    writes = [("POST", "/users"), ("PUT", f"/users/{user['id']}"), ("PUT", f"/users/{user['id']}/addGroup"),
              ("PUT", f"/users/{user['id']}/addIdentityProvider"), ("POST", "/groups"),
              ("PUT", f"/groups/{group['id']}")]
    for method, path in writes:
        response = api.request(method, path, data='{"name": "x",', content_type="application/json")
        assert response.status_code == 400, (method, path)
        assert response.get_json()["message"].startswith("Malformed JSON in request body: "), (method, path)

    made = api.post("/users", data='{"firstName": "Cy", "lastName": "Ray", "email": "cy@example.com", '
                                   '"password": "cy-password"}', content_type=FORM)
    assert made.status_code == 200, made.get_json()
    updated = api.put(f"/users/{user['id']}", data='{"firstName": "Annie"}', content_type=FORM)
    assert updated.status_code == 200 and updated.get_json()["firstName"] == "Annie"
    added = api.put(f"/users/{user['id']}/addGroup", data='{"name": "curled"}', content_type=FORM)
    assert added.status_code == 200 and "curled" in [g["name"] for g in added.get_json()["groups"]]
    renamed = api.put(f"/groups/{group['id']}", data='{"label": "Curled"}', content_type=FORM)
    assert renamed.status_code == 200 and renamed.get_json()["label"] == "Curled"
    assert api.post("/groups", data='{"name": "formed"}', content_type=FORM).status_code == 200

    paths = anon.get("/openapi.json").get_json()["paths"]
    answers = {(m, p): set(op["responses"]) - {"200", "default"} for p, item in paths.items()
               for m, op in item.items() if p.startswith(("/api/users", "/api/groups")) and m != "parameters"}
    assert answers[("post", "/api/users")] == {"400", "401", "403"}
    assert answers[("put", "/api/users/{ref}")] == {"400", "401", "403", "404", "409"}
    assert answers[("put", "/api/groups/{ref}")] == {"400", "401", "403", "404", "409"}
    assert answers[("get", "/api/groups/{ref}")] == {"400", "401", "403", "404"}
    assert all("422" not in statuses for statuses in answers.values())


def test_unknown_and_malformed_users(api: Api):
    assert api.get("/users/ghost@example.com").status_code == 404
    assert api.get("/users/6b0404aca7408a15fb0c93ee").status_code == 404
    assert api.get("/users/not-an-id").status_code == 400
    assert api.put("/users/ghost@example.com", json={"firstName": "X"}).status_code == 404
    assert api.delete("/users/6b0404aca7408a15fb0c93ee").status_code == 404
    assert api.put("/users/ghost@example.com/deactivate").status_code == 404


def test_update_with_version_and_409(api: Api):
    user = new_user(api)
    updated = api.put(f"/users/{user['id']}", json={"firstName": "Anna", "version": 0})
    assert updated.status_code == 200
    body = updated.get_json()
    assert body["fullName"] == "Anna Lee" and body["version"] == 1
    stale = api.put(f"/users/{user['id']}", json={"lastName": "X", "version": 0})
    assert stale.status_code == 409 and stale.get_json()["code"] == "optimisticLocking"
    assert api.get(f"/users/{user['id']}").get_json()["lastName"] == "Lee"
    assert api.put(f"/users/{user['id']}", json={"version": "1"}).status_code == 400
    assert api.put(f"/users/{user['id']}", json={"lastName": "Long"}).get_json()["version"] == 2


def _racing(monkeypatch: pytest.MonkeyPatch, cls: type, method: str, race: Any) -> None:
    """Run ``race`` once, between the service's read of the document and its write (a concurrent writer)."""
    original = getattr(cls, method)
    done: list[bool] = []

    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not done:
            done.append(True)
            race()
        return original(self, *args, **kwargs)
    monkeypatch.setattr(cls, method, wrapped)


def test_an_update_without_version_applies_over_a_concurrent_change(app: Flask, api: Api,
                                                                    monkeypatch: pytest.MonkeyPatch):
    """Without ``version`` there is no conflict check: a change that lands between the read and the write is
    read again and kept; a user or group deleted meanwhile is a 404. With ``version`` it is a 409."""
    from runtime.users.service import GroupsService, UsersService
    store = app.extensions["runtime"].store
    user = new_user(api)
    _racing(monkeypatch, UsersService, "_changes",
            lambda: store.collection("sys.users").update_one({"email": user["email"]},
                                                             {"$set": {"lastName": "Ray"}, "$inc": {"version": 1}}))
    updated = api.put(f"/users/{user['id']}", json={"firstName": "Anna"})
    assert updated.status_code == 200, updated.get_json()
    assert (updated.get_json()["fullName"], updated.get_json()["version"]) == ("Anna Ray", 2)
    other = new_user(api, "other@example.com")
    monkeypatch.undo()
    _racing(monkeypatch, UsersService, "_changes",
            lambda: store.collection("sys.users").update_one({"email": "other@example.com"}, {"$inc": {"version": 1}}))
    stale = api.put(f"/users/{other['id']}", json={"firstName": "Anna", "version": 0})
    assert stale.status_code == 409 and stale.get_json()["currentVersion"] == 1
    monkeypatch.undo()
    _racing(monkeypatch, UsersService, "_changes",
            lambda: store.collection("sys.users").delete_one({"email": "other@example.com"}))
    assert api.put(f"/users/{other['id']}", json={"firstName": "Gone"}).status_code == 404
    monkeypatch.undo()

    group = new_group(api, "racers")
    _racing(monkeypatch, GroupsService, "_validated",
            lambda: store.collection("sys.groups").update_one({"name": "racers"}, {"$inc": {"version": 1}}))
    relabelled = api.put(f"/groups/{group['id']}", json={"label": "Racers"})
    assert relabelled.status_code == 200, relabelled.get_json()
    assert (relabelled.get_json()["label"], relabelled.get_json()["version"]) == ("Racers", 2)


def test_update_email_rules(api: Api):
    new_user(api, "ann@example.com")
    bob = new_user(api, "bob@example.com")
    dup = api.put(f"/users/{bob['id']}", json={"email": "ANN@example.com"})
    assert dup.status_code == 400 and dup.get_json()["errors"][0]["code"] == "duplicate"
    assert api.put(f"/users/{bob['id']}", json={"email": "Robert@example.com"}).get_json()["email"] == \
        "robert@example.com"


def test_password_change_ends_sessions_and_checks_length(app: Flask, api: Api):
    user = new_user(api)
    session = login(app, "ann@example.com", "ann-password")
    short = api.put(f"/users/{user['id']}", json={"password": "short"})
    assert short.status_code == 400 and short.get_json()["errors"][0]["field"] == "password"
    assert api.put(f"/users/{user['id']}", json={"password": "a-new-password"}).status_code == 200
    assert session.get("/auth/me").status_code == 401
    login(app, "ann@example.com", "a-new-password")


def test_developers_cannot_be_changed_through_the_api(api: Api, manager: Api):
    for caller in (api, manager):
        assert caller.put(f"/users/{ADMIN_EMAIL}", json={"firstName": "X"}).status_code == 403
        assert caller.delete(f"/users/{ADMIN_EMAIL}").status_code == 403
        assert caller.put(f"/users/{ADMIN_EMAIL}/deactivate").status_code == 403
        assert caller.put(f"/users/{ADMIN_EMAIL}/addGroup", json={"name": "sales"}).status_code == 403
    assert api.get(f"/users/{ADMIN_EMAIL}").get_json()["status"] == "ACTIVE"


def test_regular_users_may_read_but_not_write(api: Api, user_api: Api):
    ann = new_user(api)
    assert user_api.get("/users").status_code == 200
    assert user_api.get(f"/users/{ann['id']}").status_code == 200
    for method, path, body in [("POST", "/users", {"email": "x@example.com", "password": "long-enough"}),
                               ("PUT", f"/users/{ann['id']}", {"firstName": "X"}),
                               ("DELETE", f"/users/{ann['id']}", None),
                               ("PUT", f"/users/{ann['id']}/deactivate", None),
                               ("PUT", f"/users/{ann['id']}/reactivate", None),
                               ("PUT", f"/users/{ann['id']}/unblock", None),
                               ("PUT", f"/users/{ann['id']}/addGroup", {"name": "sales"}),
                               ("PUT", f"/users/{ann['id']}/removeGroup/sales", None)]:
        response = user_api.request(method, path, json=body)
        assert response.status_code == 403, (method, path)
        assert response.get_json()["code"] == "forbidden"
    assert api.get(f"/users/{ann['id']}").get_json()["version"] == 0


def test_users_manager_can_manage_users(manager: Api):
    created = manager.post("/users", json={"email": "new@example.com", "password": "long-enough",
                                           "groups": ["sales"]})
    assert created.status_code == 200
    me = manager.get("/users/boss@example.com").get_json()
    assert me["permissions"] == {"developer": False, "usersManagement": True}
    assert manager.put("/users/new@example.com/deactivate").get_json()["status"] == "INACTIVE"
    assert manager.delete("/users/new@example.com").status_code == 200


def test_users_manager_cannot_hand_out_users_management(manager: Api):
    manager.post("/users", json={"email": "new@example.com", "password": "long-enough"})
    assert manager.put("/users/new@example.com/addGroup", json={"name": "managers"}).status_code == 403
    assert manager.post("/users", json={"email": "n2@example.com", "password": "long-enough",
                                        "groups": ["managers"]}).status_code == 403
    assert manager.get("/users/new@example.com").get_json()["groups"] == []


def test_deactivate_reactivate_take_effect_at_once(app: Flask, api: Api, anon: Api):
    user = new_user(api)
    session = login(app, "ann@example.com", "ann-password")
    deactivated = api.put(f"/users/{user['id']}/deactivate")
    assert deactivated.status_code == 200 and deactivated.get_json()["status"] == "INACTIVE"
    assert session.get("/auth/me").status_code == 401
    refused = anon.post("/auth/login", json={"email": "ann@example.com", "password": "ann-password"})
    assert refused.status_code == 401 and "inactive" in refused.get_json()["message"]  # says why
    wrong = anon.post("/auth/login", json={"email": "ann@example.com", "password": "not-her-password"})
    assert wrong.status_code == 401 and "inactive" not in wrong.get_json()["message"]
    assert api.put(f"/users/{user['id']}/reactivate").get_json()["status"] == "ACTIVE"
    login(app, "ann@example.com", "ann-password")


def test_several_ids_answer_an_array(api: Api):
    a, b = new_user(api, "a@example.com"), new_user(api, "b@example.com")
    both = api.put(f"/users/{a['id']},b@example.com/deactivate")
    assert both.status_code == 200
    assert [(u["email"], u["status"]) for u in both.get_json()] == [("a@example.com", "INACTIVE"),
                                                                     ("b@example.com", "INACTIVE")]
    assert api.put(f"/users/{b['id']},ghost@example.com/reactivate").status_code == 404
    assert api.get(f"/users/{b['id']}").get_json()["status"] == "INACTIVE"  # nothing half-done


@pytest.mark.parametrize("call", ["{ids}/deactivate", "{ids}/addGroup", "{ids}/removeGroup/support"])
def test_calls_on_several_ids_are_documented_as_one_user_or_an_array(api: Api, anon: Api, call: str):
    """The document's 200 answer of each call on ``{ids}`` is a user or an array of users, and both answers fit it."""
    doc = anon.get("/openapi.json").get_json()
    template, body = "/api/users/" + call.replace("deactivate", "{action}").replace("support", "{group}"), None
    declared = doc["paths"][template]["put"]["responses"]["200"]["content"]["application/json"]["schema"]
    user = {"$ref": "#/components/schemas/UserOut"}
    assert declared == {"oneOf": [user, {"type": "array", "items": user}]}
    new_group(api, "support")
    a, b = new_user(api, "a@example.com"), new_user(api, "b@example.com")
    if "Group" in call:
        body = {"name": "support"}
        api.put(f"/users/{a['id']},{b['id']}/addGroup", json=body)
    for ids in (a["id"], f"{a['id']},{b['id']}"):
        response = api.put("/users/" + call.format(ids=ids), json=body)
        assert response.status_code == 200, response.get_json()
        assert isinstance(response.get_json(), list) == ("," in ids)
        validate(response.get_json(), {**declared, "components": doc["components"]}, cls=OAS30Validator)


def test_add_and_remove_groups_keep_one_primary(api: Api):
    new_group(api, "support")
    user = new_user(api, groups=["sales"])
    added = api.put(f"/users/{user['id']}/addGroup", json={"name": "support"}).get_json()
    assert [(g["name"], g["primary"]) for g in added["groups"]] == [("sales", True), ("support", False)]
    support_id = added["groups"][1]["id"]
    primary = api.put(f"/users/{user['id']}/addGroup", json={"id": support_id, "name": "sales", "primary": True})
    assert [(g["name"], g["primary"]) for g in primary.get_json()["groups"]] == [("sales", False), ("support", True)]
    removed = api.put(f"/users/{user['id']}/removeGroup/support").get_json()
    assert [(g["name"], g["primary"]) for g in removed["groups"]] == [("sales", True)]
    assert api.put(f"/users/{user['id']}/removeGroup/sales").get_json()["groups"] == []
    assert api.put(f"/users/{user['id']}/addGroup", json={"name": "nope"}).status_code == 404
    assert api.put(f"/users/{user['id']}/addGroup", json={}).status_code == 400
    assert api.put(f"/users/{user['id']}/removeGroup/nope").status_code == 404
    assert api.put(f"/users/{user['id']}/addGroup", json={"name": "sales", "primary": "x"}).status_code == 400


def test_delete_ends_sessions_and_returns_the_user(app: Flask, api: Api, anon: Api):
    user = new_user(api)
    session = login(app, "ann@example.com", "ann-password")
    deleted = api.delete(f"/users/{user['id']}")
    assert deleted.status_code == 200 and deleted.get_json()["email"] == "ann@example.com"
    assert session.get("/auth/me").status_code == 401
    assert api.get(f"/users/{user['id']}").status_code == 404
    assert anon.post("/auth/login", json={"email": "ann@example.com", "password": "ann-password"}).status_code == 401


def test_malformed_json_body_is_400(api: Api):
    response = api.post("/users", data="{not json", content_type="application/json")
    assert response.status_code == 400


def stored_user(app: Flask, email: str) -> dict[str, Any]:
    """The ``sys.users`` document of ``email``, as the store holds it."""
    return app.extensions["runtime"].store.collection("sys.users").find_one({"email": email})


def test_groups_say_whether_an_identity_provider_added_them(app: Flask, api: Api, user_api: Api):
    new_group(api, "support")
    user = new_user(api, groups=["sales"])
    assert user["groups"] == [{"id": user["groups"][0]["id"], "name": "sales", "primary": True, "external": False}]
    added = api.put(f"/users/{user['id']}/addGroup", json={"name": "support", "external": True}).get_json()
    assert [(g["name"], g["primary"], g["external"]) for g in added["groups"]] == [("sales", True, False),
                                                                                  ("support", False, True)]
    assert [g.get("external") for g in stored_user(app, "ann@example.com")["groups"]] == [False, True]
    assert api.get(f"/users/{user['id']}").get_json() == added
    same = api.put(f"/users/{user['id']}/addGroup", json={"name": "support"}).get_json()
    assert same == added  # not given: the membership keeps its flag, and nothing is written
    cleared = api.put(f"/users/{user['id']}/addGroup", json={"name": "support", "external": False}).get_json()
    assert [g["external"] for g in cleared["groups"]] == [False, False] and cleared["version"] == added["version"] + 1
    bad = api.put(f"/users/{user['id']}/addGroup", json={"name": "support", "external": "maybe"})
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "external"
    refused = user_api.put(f"/users/{user['id']}/addGroup", json={"name": "support", "external": True})
    assert refused.status_code == 403
    assert api.get(f"/users/{user['id']}").get_json() == cleared


def test_groups_given_on_create_may_be_external(app: Flask, api: Api):
    created = new_user(api, groups=[{"name": "sales", "external": True}])
    assert [(g["name"], g["primary"], g["external"]) for g in created["groups"]] == [("sales", True, True)]
    bad = api.post("/users", json={"email": "b@example.com", "password": "long-enough",
                                   "groups": [{"name": "sales", "external": "yes"}]})
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "groups[0].external"
    assert stored_user(app, "b@example.com") is None


def test_a_membership_stored_without_the_flag_reads_as_not_external(app: Flask, api: Api):
    user = new_user(api, groups=["sales"])
    users = app.extensions["runtime"].store.collection("sys.users")
    users.update_one({"email": "ann@example.com"}, {"$unset": {"groups.0.external": ""}})
    assert "external" not in stored_user(app, "ann@example.com")["groups"][0]
    assert api.get(f"/users/{user['id']}").get_json()["groups"][0]["external"] is False


BERLIN = {"timezoneMode": "MANUAL", "timezone": "Europe/Berlin"}


def test_localization_is_stored_and_shown(app: Flask, api: Api):
    plain = new_user(api)
    assert plain["localization"] == {"timezoneMode": "AUTO"}
    assert stored_user(app, "ann@example.com")["localization"] == {"timezoneMode": "AUTO"}
    berlin = new_user(api, "bob@example.com", localization=BERLIN)
    assert berlin["localization"] == BERLIN
    assert stored_user(app, "bob@example.com")["localization"] == BERLIN
    assert api.get("/users/bob@example.com").get_json() == berlin
    auto = new_user(api, "cid@example.com", localization={"timezoneMode": "AUTO", "timezone": None})
    assert auto["localization"] == {"timezoneMode": "AUTO"}


def test_put_changes_the_localization(app: Flask, api: Api):
    user = new_user(api)
    ny = {"timezoneMode": "MANUAL", "timezone": "America/New_York"}
    updated = api.put(f"/users/{user['id']}", json={"localization": ny, "version": 0}).get_json()
    assert updated["localization"] == ny and updated["version"] == 1
    assert api.get(f"/users/{user['id']}").get_json()["localization"] == ny
    unchanged = api.put(f"/users/{user['id']}", json={"firstName": "Anna"}).get_json()
    assert unchanged["localization"] == ny  # a PUT without it keeps it
    auto = api.put(f"/users/{user['id']}", json={"localization": {"timezoneMode": "AUTO"}}).get_json()
    assert auto["localization"] == {"timezoneMode": "AUTO"}
    assert stored_user(app, "ann@example.com")["localization"] == {"timezoneMode": "AUTO"}
    api.put(f"/users/{user['id']}", json={"localization": BERLIN})
    reset = api.put(f"/users/{user['id']}", json={"localization": None}).get_json()
    assert reset["localization"] == {"timezoneMode": "AUTO"}


@pytest.mark.parametrize("localization, field, code", [
    ({"timezoneMode": "MANUAL"}, "localization.timezone", "required"),
    ({"timezoneMode": "MANUAL", "timezone": ""}, "localization.timezone", "required"),
    ({"timezoneMode": "MANUAL", "timezone": "Mars/Olympus"}, "localization.timezone", "invalid"),
    ({"timezoneMode": "MANUAL", "timezone": "europe/berlin"}, "localization.timezone", "invalid"),
    ({"timezoneMode": "MANUAL", "timezone": "../../etc/passwd"}, "localization.timezone", "invalid"),
    ({"timezoneMode": "MANUAL", "timezone": "/etc/localtime"}, "localization.timezone", "invalid"),
    ({"timezoneMode": "MANUAL", "timezone": "A" * 5000}, "localization.timezone", "invalid"),
    ({"timezoneMode": "MANUAL", "timezone": 5}, "localization.timezone", "invalid"),
    ({"timezoneMode": "AUTO", "timezone": "Europe/Berlin"}, "localization.timezone", "invalid"),
    ({"timezoneMode": "SOMETIMES"}, "localization.timezoneMode", "invalid"),
    ({"timezoneMode": "manual", "timezone": "Europe/Berlin"}, "localization.timezoneMode", "invalid"),
    ({"timezone": "Europe/Berlin"}, "localization.timezoneMode", "required"),
    ("Europe/Berlin", "localization", "invalid"),
])
def test_a_bad_localization_is_400_and_nothing_is_stored(app: Flask, api: Api, localization: Any, field: str,
                                                         code: str):
    user = new_user(api)
    for method, path, body in [("POST", "/users", {"email": "b@example.com", "password": "long-enough"}),
                               ("PUT", f"/users/{user['id']}", {})]:
        response = api.request(method, path, json={**body, "localization": localization})
        assert response.status_code == 400, (method, response.get_json())
        assert (field, code) in [(e["field"], e["code"]) for e in response.get_json()["errors"]], response.get_json()
    assert stored_user(app, "b@example.com") is None
    assert stored_user(app, "ann@example.com")["version"] == 0


def test_a_user_stored_without_localization_reads_as_auto(app: Flask, api: Api):
    assert "localization" not in stored_user(app, ADMIN_EMAIL)  # the first developer, made at start
    assert api.get(f"/users/{ADMIN_EMAIL}").get_json()["localization"] == {"timezoneMode": "AUTO"}


def test_only_users_managers_change_a_localization_and_never_a_developers(app: Flask, api: Api, manager: Api,
                                                                         user_api: Api):
    user = new_user(api)
    assert user_api.put(f"/users/{user['id']}", json={"localization": BERLIN}).status_code == 403
    for caller in (api, manager):
        refused = caller.put(f"/users/{ADMIN_EMAIL}", json={"localization": BERLIN})
        assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden"
    assert "localization" not in stored_user(app, ADMIN_EMAIL)
    assert stored_user(app, "ann@example.com")["localization"] == {"timezoneMode": "AUTO"}
    assert manager.put(f"/users/{user['id']}", json={"localization": BERLIN}).get_json()["localization"] == BERLIN


def test_me_and_current_show_the_user_json(app: Flask, api: Api, anon: Api):
    new_group(api, "support")
    user = new_user(api, groups=["sales"], localization=BERLIN)
    api.put(f"/users/{user['id']}/addGroup", json={"name": "support", "external": True})
    session = login(app, "ann@example.com", "ann-password")
    expected = {**api.get(f"/users/{user['id']}").get_json(), "adminUserEmail": None}
    assert session.get("/auth/me").get_json() == expected
    assert session.get("/users/current").get_json() == expected
    assert list(session.get("/auth/me").get_json()) == [*USER_KEYS, "adminUserEmail"]
    changed = api.put(f"/users/{user['id']}", json={"localization": {"timezoneMode": "AUTO"}}).get_json()
    assert session.get("/auth/me").get_json() == {**changed, "adminUserEmail": None}  # at once
    assert api.get("/auth/me").get_json() == {**api.get(f"/users/{ADMIN_EMAIL}").get_json(), "adminUserEmail": None}
    impersonating = anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": "admin-password",
                                                   "emailImpersonatedUser": "ann@example.com"}).get_json()["token"]
    me = anon.get("/users/current", headers={"token": impersonating}).get_json()
    assert me == {**changed, "adminUserEmail": ADMIN_EMAIL}


def test_token_snapshots_carry_only_what_the_guard_needs(app: Flask, api: Api):
    user = new_user(api, groups=["sales"])
    session = login(app, "ann@example.com", "ann-password")
    api.put(f"/users/{user['id']}", json={"localization": BERLIN})
    api.put(f"/users/{user['id']}/addGroup", json={"name": "sales", "external": True})
    assert session.get("/auth/me").status_code == 200
    tokens = app.extensions["runtime"].store.collection("sys.tokens")
    snapshot = tokens.find_one({"userId": stored_user(app, "ann@example.com")["_id"]})["user"]
    assert set(snapshot) == {"_id", "email", "firstName", "lastName", "fullName", "developer", "status", "groups",
                             "usersManagement", "version"}
    assert snapshot["version"] == 2 and snapshot["groups"][0]["external"] is True  # kept current by every change
    api.put(f"/users/{user['id']}/deactivate")
    assert session.get("/auth/me").status_code == 401
