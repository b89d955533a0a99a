"""``/groups``: shape, validation of the permissions document, versioning, deletion rules and who may call."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.conftest import Api, login

PERMISSIONS = {
    "api": {"data": True, "files": True, "uploadFiles": True, "jobs": True},
    "entities": {"companies": {
        "access": "always", "create": "always", "edit": {"when": {"state": "active"}},
        "delete": "never", "history": "always", "import": False, "export": True,
        "fields": {"notes": "none", "rating": "readOnly", "addresses.state": "readOnly"},
        "actions": {"logSomething": "always", "activate": {"when": {"numberOfEmployees": "greater(10)"}}}}},
}


def create(api: Api, body: dict[str, Any]):
    return api.post("/groups", json=body)


def test_create_and_read_a_group(api: Api):
    response = create(api, {"name": "sales_eu", "label": "Sales Europe", "permissions": PERMISSIONS})
    assert response.status_code == 200, response.get_json()
    group = response.get_json()
    assert list(group) == ["id", "name", "label", "usersManagement", "permissions", "version"]
    assert group["permissions"] == PERMISSIONS and group["version"] == 0 and group["usersManagement"] is False
    assert api.get(f"/groups/{group['id']}").get_json() == group
    assert api.get("/groups/sales_eu").get_json() == group
    listed = api.get("/groups?size=1").get_json()
    assert listed["total"] == 2 and len(listed["items"]) == 1
    rest = api.get(f"/groups?size=5&offset={listed['offset']}").get_json()["items"]
    assert {g["name"] for g in listed["items"] + rest} == {"sales", "sales_eu"}


def test_a_name_filter_over_500_characters_is_400_naming_it(api: Api):
    assert api.get("/groups", query_string={"name": "." * 500}).status_code == 200
    for text in ("a" * 501, "." * 2001):
        response = api.get("/groups", query_string={"name": text})
        assert response.status_code == 400, response.get_json()
        body = response.get_json()
        assert body["message"] == "Invalid query parameter 'name': must be at most 500 characters"
        assert [(e["field"], e["code"]) for e in body["errors"]] == [("name", "invalid")]


def test_a_new_group_has_no_permissions(api: Api):
    group = create(api, {"name": "empty"}).get_json()
    assert group["permissions"] == {} and group["label"] == "empty"


def test_placeholders_and_relationship_rules_are_accepted(api: Api):
    rules = {"entities": {"contacts": {"access": {"when": {"company.label": "Acme", "email": "currentUser().email"}},
                                       "edit": {"when": {"company": "currentUser()"}}}}}
    assert create(api, {"name": "own", "permissions": rules}).status_code == 200


def test_invalid_permission_documents_are_400_with_field_errors(api: Api):
    cases = [
        ({"entities": {"ghosts": {"access": "always"}}}, "permissions.entities.ghosts"),
        ({"entities": {"companies": {"fields": {"nope": "readOnly"}}}}, "permissions.entities.companies.fields.nope"),
        ({"entities": {"companies": {"fields": {"notes": "hidden"}}}}, "permissions.entities.companies.fields.notes"),
        ({"entities": {"companies": {"actions": {"nope": "always"}}}}, "permissions.entities.companies.actions.nope"),
        ({"entities": {"companies": {"access": "sometimes"}}}, "permissions.entities.companies.access"),
        ({"entities": {"companies": {"edit": {"when": {"nope": "x"}}}}}, "permissions.entities.companies.edit.when"),
        ({"entities": {"companies": {"edit": {"when": {"numberOfEmployees": "greater(x)"}}}}},
         "permissions.entities.companies.edit.when"),
        ({"entities": {"companies": {"export": "yes"}}}, "permissions.entities.companies.export"),
        ({"entities": {"companies": {"fly": "always"}}}, "permissions.entities.companies.fly"),
        ({"api": {"data": "yes"}}, "permissions.api.data"),
        ({"api": {"ui": True}}, "permissions.api.ui"),
        ({"other": {}}, "permissions.other"),
    ]
    for permissions, field in cases:
        response = create(api, {"name": "bad", "permissions": permissions})
        assert response.status_code == 400, (permissions, response.get_json())
        assert field in [e["field"] for e in response.get_json()["errors"]], (permissions, response.get_json())
    assert api.get("/groups/bad").status_code == 404


def test_names_are_unique_and_simple(api: Api):
    for name, code in (("sales", "duplicate"), ("has space", "invalid"), ("", "required"), (None, "required")):
        response = create(api, {"name": name})
        assert response.status_code == 400, name
        assert response.get_json()["errors"][0]["code"] == code
    assert create(api, {"name": "x", "usersManagement": "maybe"}).status_code == 400


def test_update_with_version_and_409(api: Api):
    group = create(api, {"name": "team"}).get_json()
    updated = api.put("/groups/team", json={"label": "The team", "version": 0})
    assert updated.status_code == 200 and updated.get_json()["version"] == 1
    assert updated.get_json()["label"] == "The team" and updated.get_json()["name"] == "team"
    stale = api.put(f"/groups/{group['id']}", json={"label": "Late", "version": 0})
    assert stale.status_code == 409
    assert api.put("/groups/team", json={"name": "sales"}).status_code == 400
    bad = api.put("/groups/team", json={"permissions": {"entities": {"ghosts": {}}}})
    assert bad.status_code == 400 and api.get("/groups/team").get_json()["label"] == "The team"
    assert api.put("/groups/team", json={"name": "crew"}).get_json()["name"] == "crew"
    assert api.put("/groups/nope", json={"label": "x"}).status_code == 404


def test_delete_rules(api: Api):
    create(api, {"name": "extra"})
    user = api.post("/users", json={"email": "ann@example.com", "password": "long-enough",
                                    "groups": [{"name": "sales", "primary": True}, "extra"]}).get_json()
    refused = api.delete("/groups/sales")
    assert refused.status_code == 400 and "primary" in refused.get_json()["message"]
    deleted = api.delete("/groups/extra")
    assert deleted.status_code == 200 and deleted.get_json()["name"] == "extra"
    assert [g["name"] for g in api.get(f"/users/{user['id']}").get_json()["groups"]] == ["sales"]
    assert api.delete("/groups/extra").status_code == 404


def test_malformed_group_refs_are_400_and_unknown_ones_404(api: Api):
    """A group is named by its id or its name (letters, digits, underscores): other text is malformed."""
    for method in ("GET", "PUT", "DELETE"):
        for ref in ("bad-name", "has space", "x" * 65):
            response = api.request(method, f"/groups/{ref}", json={"label": "x"})
            assert response.status_code == 400, (method, ref, response.get_json())
            assert response.get_json()["code"] == "badRequest" and ref in response.get_json()["message"]
        for ref in ("no_such_group", "6b0404aca7408a15fb0c93ee"):
            assert api.request(method, f"/groups/{ref}", json={"label": "x"}).status_code == 404, (method, ref)
    assert api.get("/groups/sales").status_code == 200
    assert api.put("/users/admin@example.com/removeGroup/bad-name").status_code == 400


def test_developers_only_for_writes(app: Flask, api: Api, user_api: Api):
    create(api, {"name": "managers", "usersManagement": True})
    api.post("/users", json={"email": "boss@example.com", "password": "long-enough", "groups": ["managers"]})
    manager = login(app, "boss@example.com", "long-enough")
    assert manager.get("/groups").status_code == 200
    assert manager.get("/groups/sales").status_code == 200
    for caller in (manager, user_api):
        assert caller.post("/groups", json={"name": "mine"}).status_code == 403
        assert caller.put("/groups/sales", json={"label": "x"}).status_code == 403
        assert caller.delete("/groups/managers").status_code == 403
    assert user_api.get("/groups").status_code == 403
    assert user_api.get("/groups/sales").status_code == 403


def test_users_management_change_reaches_sessions_at_once(app: Flask, api: Api):
    create(api, {"name": "managers", "usersManagement": True})
    api.post("/users", json={"email": "boss@example.com", "password": "long-enough", "groups": ["managers"]})
    manager = login(app, "boss@example.com", "long-enough")
    body = {"email": "n@example.com", "password": "long-enough"}
    assert manager.post("/users", json=body).status_code == 200
    api.put("/groups/managers", json={"usersManagement": False})
    assert manager.post("/users", json={**body, "email": "m@example.com"}).status_code == 403
