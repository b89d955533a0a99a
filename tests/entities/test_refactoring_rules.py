"""A definition change and what else names its fields: groups' permission rules follow a rename and lose a
removed field's level; rules, relationship filters and unique rules that the change would break refuse it with
a 400 that changes nothing."""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask

from tests.conftest import Api, create, wait_for_job
from tests.entities.permission_groups import add_named_group, user_in_group

PE = {"name": "pe", "recordLabel": "#{name}", "fields": [
    {"name": "name", "type": "text"},
    {"name": "state", "type": "text"},
    {"name": "secret", "type": "text"},
    {"name": "ro", "type": "text"},
    {"name": "addr", "type": "nestedFields", "nestedFields": [{"name": "city", "type": "text"},
                                                             {"name": "zip", "type": "text"}]},
]}
RULES = {"api": {"data": True},
         "entities": {"pe": {"access": {"when": {"state": "open"}}, "edit": "always",
                             "fields": {"secret": "none", "ro": "readOnly", "addr.city": "none"}}}}


def _field(defn: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in defn["fields"] if f["name"] == name)


def _change(api: Api, defn: dict[str, Any]) -> Any:
    response = api.put("/metadata/entities/pe", json=defn)
    if response.status_code == 200 and "refactoring" in response.get_json():
        job = wait_for_job(api, response.get_json()["refactoring"]["jobId"])
        assert job["status"] == "FINISHED" and not job["hasErrors"], job
    return response


def _setup(app: Flask, api: Api) -> tuple[dict[str, Any], Api, str]:
    assert api.put("/metadata/entities/pe", json=PE).status_code == 200
    add_named_group(api, "pg", RULES)
    user = user_in_group(app, api, "pe-user@example.com", "pg")
    rid = create(api, "pe", {"name": "A", "state": "open", "secret": "s3cr3t", "ro": "fixed",
                             "addr": {"city": "Hidden City", "zip": "123"}})["id"]
    return api.get("/metadata/entities/pe").get_json(), user, rid


def test_renamed_fields_keep_their_levels_and_the_when_rule_follows(app: Flask, api: Api):
    defn, user, rid = _setup(app, api)
    body = copy.deepcopy(defn)
    _field(body, "secret")["name"] = "secret2"
    _field(body, "ro")["name"] = "ro2"
    _field(body, "state")["name"] = "status"
    addr = _field(body, "addr")
    addr["name"] = "address"
    next(f for f in addr["nestedFields"] if f["name"] == "city")["name"] = "town"
    assert _change(api, body).status_code == 200

    group = api.get("/groups/pg").get_json()
    assert group["permissions"]["entities"]["pe"] == {
        "access": {"when": {"status": "open"}}, "edit": "always",
        "fields": {"secret2": "none", "ro2": "readOnly", "address.town": "none"}}
    seen = user.get(f"/data/pe/{rid}")
    assert seen.status_code == 200, seen.get_json()
    record = seen.get_json()
    assert "secret2" not in record and "town" not in record["address"] and record["address"]["zip"] == "123"
    assert "s3cr3t" not in user.get("/data/pe").get_data(as_text=True)
    written = user.put(f"/data/pe/{rid}", json={"ro2": "changed", "name": "B"})
    assert written.status_code == 200 and written.get_json()["ro2"] == "fixed"
    stored = api.get(f"/data/pe/{rid}").get_json()
    assert stored["ro2"] == "fixed" and stored["name"] == "B" and stored["secret2"] == "s3cr3t"
    # the group as it now is can be saved again as it is
    assert api.put("/groups/pg", json={"permissions": group["permissions"]}).status_code == 200


def test_a_removed_field_loses_its_level_and_the_group_stays_valid(app: Flask, api: Api):
    defn, user, rid = _setup(app, api)
    body = copy.deepcopy(defn)
    body["fields"] = [f for f in body["fields"] if f["name"] != "ro"]
    assert _change(api, body).status_code == 200
    group = api.get("/groups/pg").get_json()
    assert group["permissions"]["entities"]["pe"]["fields"] == {"secret": "none", "addr.city": "none"}
    assert api.put("/groups/pg", json={"permissions": group["permissions"]}).status_code == 200
    assert "secret" not in user.get(f"/data/pe/{rid}").get_json()


def test_removing_a_field_a_when_rule_uses_is_refused_naming_the_group(app: Flask, api: Api):
    defn, user, rid = _setup(app, api)
    body = copy.deepcopy(defn)
    body["fields"] = [f for f in body["fields"] if f["name"] != "state"]
    for query in ("?_dryRun=true", ""):
        refused = api.put(f"/metadata/entities/pe{query}", json=body)
        assert refused.status_code == 400, refused.get_json()
        errors = refused.get_json()["errors"]
        assert [e["field"] for e in errors] == ["groups.pg.permissions.entities.pe.access.when"]
        assert "Group 'pg'" in errors[0]["message"] and "change the group first" in errors[0]["message"]
    assert api.get("/metadata/entities/pe").get_json()["version"] == defn["version"]
    assert api.get("/groups/pg").get_json()["permissions"] == RULES
    assert user.get(f"/data/pe/{rid}").get_json()["state"] == "open"


def test_renaming_a_field_another_entitys_relationship_filter_uses_is_refused(api: Api):
    assert api.put("/metadata/entities/fe", json={"name": "fe", "fields": [
        {"name": "name", "type": "text"}, {"name": "state", "type": "text"}]}).status_code == 200
    assert api.put("/metadata/entities/fe2", json={"name": "fe2", "fields": [
        {"name": "p", "type": "relationship",
         "typeRules": {"entity": "fe", "filter": {"state": "open"}}}]}).status_code == 200
    target = create(api, "fe", {"name": "A", "state": "open"})
    linked = create(api, "fe2", {"p": target["id"]})
    defn = api.get("/metadata/entities/fe").get_json()
    renamed = copy.deepcopy(defn)
    _field(renamed, "state")["name"] = "status"
    removed = {**copy.deepcopy(defn), "fields": [f for f in defn["fields"] if f["name"] != "state"]}
    for body in (renamed, removed):
        refused = api.put("/metadata/entities/fe", json=body)
        assert refused.status_code == 400, refused.get_json()
        assert "fe2.p.typeRules" in refused.get_json()["errors"][0]["message"]
    assert api.get("/metadata/entities/fe").get_json()["version"] == defn["version"]
    again = api.put(f"/data/fe2/{linked['id']}", json={"p": linked["p"]})
    assert again.status_code == 200, again.get_json()


def test_a_conversion_that_makes_unique_values_equal_is_refused_and_changes_nothing(api: Api):
    assert api.put("/metadata/entities/ui", json={"name": "ui", "fields": [
        {"name": "name", "type": "text"}, {"name": "n", "type": "text", "unique": True}]}).status_code == 200
    a, b = create(api, "ui", {"name": "A", "n": "1"}), create(api, "ui", {"name": "B", "n": "01"})
    create(api, "ui", {"name": "C", "n": "2"})
    defn = api.get("/metadata/entities/ui").get_json()
    body = copy.deepcopy(defn)
    _field(body, "n")["type"] = "integer"
    dry = api.put("/metadata/entities/ui?_dryRun=true", json=body)
    assert dry.status_code == 200
    assert [(d["field"], d["value"], sorted(d["recordIds"])) for d in dry.get_json()["duplicates"]] == [
        ("n", "1", sorted([a["id"], b["id"]]))]
    refused = api.put("/metadata/entities/ui", json=body)
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["code"] == "duplicate"
    assert api.get("/metadata/entities/ui").get_json()["version"] == defn["version"]
    assert [r["n"] for r in api.get("/data/ui?_sortField=name&_sortType=asc").get_json()["items"]] == ["1", "01", "2"]


def test_unique_on_a_multi_valued_field_with_a_shared_value_is_refused_not_a_500(api: Api):
    assert api.put("/metadata/entities/ue", json={"name": "ue", "fields": [
        {"name": "name", "type": "text"},
        {"name": "tags", "type": "text", "multiplicity": "many"}]}).status_code == 200
    a = create(api, "ue", {"name": "A", "tags": ["t1", "t2", "t2"]})
    b = create(api, "ue", {"name": "B", "tags": ["t2"]})
    defn = api.get("/metadata/entities/ue").get_json()
    body = copy.deepcopy(defn)
    _field(body, "tags")["unique"] = True
    dry = api.put("/metadata/entities/ue?_dryRun=true", json=body).get_json()
    assert [(d["value"], sorted(d["recordIds"])) for d in dry["duplicates"]] == [("t2", sorted([a["id"], b["id"]]))]
    refused = api.put("/metadata/entities/ue", json=body)
    assert refused.status_code == 400, refused.get_json()
    assert api.get("/metadata/entities/ue").get_json()["version"] == defn["version"]
    api.put(f"/data/ue/{b['id']}", json={"tags": ["t3"]})
    assert api.put("/metadata/entities/ue", json=body).status_code == 200  # a list's own repeats are no duplicate
    assert api.post("/data/ue", json={"name": "C", "tags": ["t1"]}).status_code == 400


def test_two_fields_that_swap_names_keep_their_own_levels(app: Flask, api: Api):
    defn, user, rid = _setup(app, api)
    body = copy.deepcopy(defn)
    secret, ro = _field(body, "secret"), _field(body, "ro")
    secret["name"], ro["name"] = "ro", "secret"
    assert _change(api, body).status_code == 200
    levels = api.get("/groups/pg").get_json()["permissions"]["entities"]["pe"]["fields"]
    assert levels == {"ro": "none", "secret": "readOnly", "addr.city": "none"}
    record = user.get(f"/data/pe/{rid}").get_json()
    assert "ro" not in record and record["secret"] == "fixed"  # the hidden value moved to 'ro', still hidden
