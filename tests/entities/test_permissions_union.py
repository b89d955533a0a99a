"""Permissions of a user in several groups: the union of what each group allows on its own.

A field a group does not name is read-write in that group when it can create or edit the entity, read-only when
it can only access it; a group with no permission on the entity grants nothing on its fields."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.conftest import Api, company, create
from tests.entities.permission_groups import SECRET, add_named_group, define, lim_rules, user_in_group

CODE = "original-code"


@pytest.fixture
def world(app: Flask, api: Api) -> dict[str, Any]:
    define(api)
    pa = create(api, "parents", {"name": "PA", "kind": "a", "secret": SECRET, "code": CODE})
    pb = create(api, "parents", {"name": "PB", "kind": "b", "secret": SECRET, "code": CODE})
    add_named_group(api, "lim", lim_rules({"secret": "none", "code": "readOnly"}))
    add_named_group(api, "limB", {"api": {"data": True}, "entities": {"parents": {"access": "always"}}})
    user = user_in_group(app, api, "lim@example.com", "lim")
    return {"PA": pa, "PB": pb, "user": user}


def _add_limb(api: Api) -> None:
    added = api.put("/users/lim@example.com/addGroup", json={"name": "limB", "primary": False})
    assert added.status_code == 200, added.get_json()


def _stored(api: Api, record: dict[str, Any]) -> dict[str, Any]:
    return api.get(f"/data/parents/{record['id']}").get_json()


@pytest.mark.parametrize("with_limb", [False, True])
def test_an_access_only_second_group_makes_no_field_writable(api: Api, world: dict[str, Any], with_limb: bool):
    if with_limb:
        _add_limb(api)
    user: Api = world["user"]
    pa = world["PA"]
    for body in ({"code": "x"}, {"secret": "x"}, {"code": "x", "secret": "x"}):
        response = user.put(f"/data/parents/{pa['id']}", json=body)
        assert response.status_code == 200, response.get_json()  # read-only and hidden values are dropped
        assert response.get_json().get("code") == CODE
    stored = _stored(api, pa)
    assert (stored["code"], stored["secret"]) == (CODE, SECRET)
    renamed = user.put(f"/data/parents/{pa['id']}", json={"name": "PA renamed", "code": "y"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "PA renamed"  # lim edits unnamed fields
    assert _stored(api, pa)["code"] == CODE


def test_the_access_only_group_lets_its_members_read_what_it_does_not_name(api: Api, world: dict[str, Any]):
    """limB names no field, so its members read every field of parents: with lim's ``secret: none`` the union
    is read-only (the secret shows, and still cannot be written)."""
    user: Api = world["user"]
    assert "secret" not in user.get(f"/data/parents/{world['PA']['id']}").get_json()
    assert user.get(f"/data/parents?secret={SECRET}").status_code == 403
    _add_limb(api)
    shown = user.get(f"/data/parents/{world['PA']['id']}").get_json()
    assert shown["secret"] == SECRET and shown["code"] == CODE
    assert user.get(f"/data/parents?secret={SECRET}").get_json()["total"] == 2


def test_access_from_one_group_and_edit_from_another_do_not_add_up(api: Api, world: dict[str, Any]):
    """lim may edit the parents it may access (kind a); limB may access every parent but edit none: no group
    lets the user edit a parent of kind b."""
    _add_limb(api)
    user: Api = world["user"]
    pb = world["PB"]
    assert user.get(f"/data/parents/{pb['id']}").status_code == 200  # limB: access always
    refused = user.put(f"/data/parents/{pb['id']}", json={"name": "taken"})
    assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden"
    assert _stored(api, pb)["name"] == "PB"
    assert user.put(f"/data/parents/{world['PA']['id']}", json={"name": "mine"}).status_code == 200
    assert user.delete(f"/data/parents/{pb['id']}").status_code == 403


NESTED = {"api": {"data": True}, "entities": {"companies": {
    "access": "always", "create": "always", "edit": "always",
    "fields": {"contactInformation.email": "none", "notes": "none"}}}}
CONTACT = {"phoneNumber": "1-702-845-9380", "email": "hidden@example.com"}


@pytest.fixture
def nested(app: Flask, api: Api) -> dict[str, Any]:
    record = create(api, "companies", company(name="Nested", state="active", notes=SECRET, contactInformation=CONTACT))
    add_named_group(api, "nested", NESTED)
    add_named_group(api, "readers", {"api": {"data": True}, "entities": {"companies": {"access": "always"}}})
    add_named_group(api, "fieldsOnly", {"api": {"data": True}, "entities": {"companies": {
        "fields": {"notes": "readWrite", "contactInformation": "readWrite"}}}})
    return {"record": record, "user": user_in_group(app, api, "nested@example.com", "nested")}


def test_nested_fields_take_their_parents_level_in_each_group(api: Api, nested: dict[str, Any]):
    user: Api = nested["user"]
    rid = nested["record"]["id"]
    assert "email" not in user.get(f"/data/companies/{rid}").get_json()["contactInformation"]
    assert api.put("/users/nested@example.com/addGroup", json={"name": "readers"}).status_code == 200
    shown = user.get(f"/data/companies/{rid}").get_json()
    assert shown["contactInformation"]["email"] == CONTACT["email"]  # readers: read-only, like every field
    changed = user.put(f"/data/companies/{rid}", json={"contactInformation": {"phoneNumber": "1-555-000-0000",
                                                                              "email": "new@example.com"}})
    assert changed.status_code == 200, changed.get_json()
    stored = api.get(f"/data/companies/{rid}").get_json()["contactInformation"]
    assert (stored["phoneNumber"], stored["email"]) == ("1-555-000-0000", CONTACT["email"])


def test_a_group_without_permission_on_the_entity_opens_none_of_its_fields(api: Api, nested: dict[str, Any]):
    user: Api = nested["user"]
    rid = nested["record"]["id"]
    assert api.put("/users/nested@example.com/addGroup", json={"name": "fieldsOnly"}).status_code == 200
    shown = user.get(f"/data/companies/{rid}")
    assert "notes" not in shown.get_json() and "email" not in shown.get_json()["contactInformation"]
    assert SECRET not in shown.get_data(as_text=True)
    assert user.put(f"/data/companies/{rid}", json={"notes": "changed"}).status_code == 200
    assert api.get(f"/data/companies/{rid}").get_json()["notes"] == SECRET
