"""Shared by the permission tests of several groups and of relationships: entities ``parents`` and ``kids``
(whose relationship ``pNone`` copies parents' ``code`` and ``kind``), group ``lim`` and users put in groups
through the API."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.conftest import Api, login

PARENTS = {"name": "parents", "recordLabel": "#{name}", "history": True,
           "fields": [{"name": "name", "type": "text", "required": True},
                      {"name": "kind", "type": "choice", "typeRules": {"possibleValues": ["a", "b"]}},
                      {"name": "secret", "type": "text"},
                      {"name": "code", "type": "text"}]}
KIDS = {"name": "kids", "recordLabel": "#{name}", "history": True,
        "fields": [{"name": "name", "type": "text", "required": True},
                   {"name": "pNone", "type": "relationship",
                    "typeRules": {"entity": "parents", "copiedFields": ["code", "kind"]}}]}
SECRET = "zebrasecret"  # stored only in fields the restricted user may not see


def define(api: Api) -> None:
    assert api.put("/metadata/entities/parents", json=PARENTS).status_code == 200
    assert api.put("/metadata/entities/kids", json=KIDS).status_code == 200


def lim_rules(fields: dict[str, str]) -> dict[str, Any]:
    """Group ``lim``: parents of kind a only, never create, always edit; kids wholly."""
    return {"api": {"data": True, "files": True, "jobs": True},
            "entities": {"parents": {"access": {"when": {"kind": "a"}}, "create": "never", "edit": "always",
                                     "fields": fields},
                         "kids": {"access": "always", "create": "always", "edit": "always", "history": "always",
                                  "export": True}}}


def add_named_group(api: Api, name: str, permissions: dict[str, Any]) -> str:
    """A group made by a developer through ``POST /groups``; its id."""
    response = api.post("/groups", json={"name": name, "label": name, "usersManagement": False,
                                         "permissions": permissions})
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()["id"]


def user_in_group(app: Flask, api: Api, email: str, group: str) -> Api:
    """A new regular user put in ``group`` (primary) through ``PUT /users/{email}/addGroup``, logged in."""
    app.extensions["runtime"].auth.create_user(email, "user-password", "Lim", "User")
    added = api.put(f"/users/{email}/addGroup", json={"name": group, "primary": True})
    assert added.status_code == 200, added.get_json()
    return login(app, email, "user-password")
