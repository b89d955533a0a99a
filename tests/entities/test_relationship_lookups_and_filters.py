"""§3.4 relationships: writing one by a lookup field (``{"code": "c3"}``, or the bare value of ``lookupField``)
and the ``filter`` rule a referenced record must meet; through HTTP, on create, update, nested groups and import."""

from __future__ import annotations

import io
from typing import Any

import pytest
from bson import ObjectId

from tests.conftest import Api, create, wait_for_job

KINDS = [{"name": "a", "label": "Alpha"}, {"name": "b", "label": "Beta"}]
FIRMS = {"name": "firms", "recordLabel": "#{name}",
         "fields": [{"name": "name", "type": "text", "required": True},
                    {"name": "kind", "type": "choice", "typeRules": {"possibleValues": KINDS}},
                    {"name": "size", "type": "integer"},
                    {"name": "code", "type": "text"},
                    {"name": "tags", "type": "text", "multiplicity": "many"},
                    {"name": "office", "type": "nestedFields", "nestedFields": [{"name": "city", "type": "text"}]}]}


def people(firm: dict[str, Any] | None = None, firms: dict[str, Any] | None = None) -> dict[str, Any]:
    """``firm`` and ``firms`` (multi-valued) point at firms, with these extra type rules."""
    return {"name": "people", "recordLabel": "#{name}",
            "fields": [{"name": "name", "type": "text", "required": True},
                       {"name": "firm", "type": "relationship", "typeRules": {"entity": "firms", **(firm or {})}},
                       {"name": "firms", "type": "relationship", "multiplicity": "many",
                        "typeRules": {"entity": "firms", **(firms or {})}},
                       {"name": "roles", "type": "nestedFields", "multiplicity": "many", "nestedFields": [
                           {"name": "title", "type": "text"},
                           {"name": "at", "type": "relationship", "typeRules": {"entity": "firms", **(firm or {})}}]}]}


@pytest.fixture
def firms(api: Api) -> dict[str, dict[str, Any]]:
    assert api.put("/metadata/entities/firms", json=FIRMS).status_code == 200
    return {"riff": create(api, "firms", {"name": "Riffwire", "kind": "a", "size": 10, "code": "r1", "tags": ["x"]}),
            "oak": create(api, "firms", {"name": "Oakbank", "kind": "b", "size": 3, "code": "Riffwire"}),
            "elm": create(api, "firms", {"name": "Elmco", "kind": "a", "size": 3, "code": "e1"})}


def define_people(api: Api, **rules: Any) -> None:
    response = api.put("/metadata/entities/people", json=people(**rules))
    assert response.status_code == 200, response.get_json()


def errors_of(response: Any) -> list[tuple[str, str, str, Any]]:
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["code"] == "validationErrors"
    return [(e["field"], e["code"], e["message"], (e.get("additionalInfo") or {}).get("rejectedValue"))
            for e in body["errors"]]


def firm_of(api: Api, body: dict[str, Any]) -> str:
    made = api.post("/data/people", json={"name": "P", **body})
    assert made.status_code == 200, made.get_json()
    return made.get_json()["firm"]["id"]


# --- writing by lookup fields --------------------------------------------------------------------------


def test_a_relationship_is_written_by_a_field_of_the_related_record(api: Api, firms):
    define_people(api)
    riff, oak, elm = (firms[k]["id"] for k in ("riff", "oak", "elm"))
    assert firm_of(api, {"firm": {"code": "r1"}}) == riff
    assert firm_of(api, {"firm": {"size": 10}}) == riff
    assert firm_of(api, {"firm": {"size": "10"}}) == riff  # converted by the field's type, as stored
    assert firm_of(api, {"firm": {"kind": "Beta"}}) == oak  # a choice by its label
    assert firm_of(api, {"firm": {"kind": "a", "size": 3}}) == elm  # every key must match
    made = create(api, "people", {"name": "Q", "firm": {"code": "e1"}, "firms": [{"code": "r1"}, "Oakbank"],
                                  "roles": [{"title": "t", "at": {"code": "r1"}}]})
    assert made["firm"] == {"id": elm, "label": "Elmco"}
    assert [f["id"] for f in made["firms"]] == [riff, oak]
    assert made["roles"][0]["at"] == {"id": riff, "label": "Riffwire"}
    changed = api.put(f"/data/people/{made['id']}", json={"firm": {"code": "Riffwire"}})
    assert changed.status_code == 200 and changed.get_json()["firm"]["id"] == oak


def test_id_wins_then_label_then_lookup_fields(api: Api, firms):
    define_people(api)
    riff, oak = firms["riff"]["id"], firms["oak"]["id"]
    assert firm_of(api, {"firm": {"id": oak, "label": "Riffwire", "code": "r1"}}) == oak
    assert firm_of(api, {"firm": {"label": "Oakbank", "code": "r1"}}) == oak
    assert firm_of(api, {"firm": {"id": None, "code": "r1"}}) == riff
    # without lookupField a bare value is an id or a label only: Oakbank's code "Riffwire" is not looked at
    assert firm_of(api, {"firm": "Riffwire"}) == riff
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": "r1"})) == [
        ("firm", "invalid", "No record in 'firms' has label 'r1'", "r1")]


def test_a_lookup_that_finds_no_record_or_several_is_refused(api: Api, firms):
    define_people(api)
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": {"code": "nope"}})) == [
        ("firm", "invalid", "No record in 'firms' has code 'nope'", "nope")]
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": {"kind": "a"}})) == [
        ("firm", "invalid", "More than one record in 'firms' has kind 'a'", "a")]
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": {"kind": "b", "size": 10}})) == [
        ("firm", "invalid", "No record in 'firms' has kind 'b' and size '10'", {"kind": "b", "size": 10})]
    assert errors_of(api.post("/data/people", json={"name": "P", "firms": [{"code": "r1"}, {"code": "zz"}]})) == [
        ("firms", "invalid", "No record in 'firms' has code 'zz'", "zz")]
    assert api.get("/data/people").get_json()["total"] == 0


def test_a_lookup_key_must_be_a_simple_field_of_the_related_entity(api: Api, firms):
    define_people(api)
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": {"ghost": "x", "code": "r1"}})) == [
        ("firm", "invalid", "'ghost' is not a field of 'firms'", "ghost")]
    for key, value in (("tags", "x"), ("office", {"city": "Oslo"})):
        ((field, code, message, rejected),) = errors_of(api.post("/data/people",
                                                                 json={"name": "P", "firm": {key: value}}))
        assert (field, code, rejected) == ("firm", "invalid", key)
        assert message.startswith(f"'{key}' of 'firms' cannot be used to find a record")
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": {"size": "ten"}})) == [
        ("firm", "invalid", "'size': 'ten' is not an integer", "ten")]
    assert errors_of(api.post("/data/people", json={"name": "P", "roles": [{"at": {"kind": "c"}}]})) == [
        ("roles[0].at", "invalid", "'kind': Not a valid choice", "c")]
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": {}})) == [
        ("firm", "invalid", "A relationship needs an id, a label or a field of the related record", {})]


def test_the_bare_value_of_lookup_field_is_tried_when_no_label_matches(api: Api, firms):
    define_people(api, firm={"lookupField": "code"})
    riff, oak = firms["riff"]["id"], firms["oak"]["id"]
    assert firm_of(api, {"firm": "r1"}) == riff  # no label r1: the code
    assert firm_of(api, {"firm": "Riffwire"}) == riff  # a label first, though Oakbank's code is Riffwire too
    assert firm_of(api, {"firm": {"code": "Riffwire"}}) == oak
    for explicit in ({"label": "r1"}, {"label": "r1", "code": "e1"}):  # an explicit label is only a label
        assert errors_of(api.post("/data/people", json={"name": "P", "firm": explicit})) == [
            ("firm", "invalid", "No record in 'firms' has label 'r1'", "r1")]
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": "zz"})) == [
        ("firm", "invalid", "No record in 'firms' has label or code 'zz'", "zz")]
    ghost = str(ObjectId())
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": ghost})) == [
        ("firm", "invalid", f"Record '{ghost}' does not exist in 'firms'", ghost)]


@pytest.mark.parametrize(("rules", "field", "message"), [
    ({"lookupField": "ghost"}, "firm.typeRules.lookupField", "'ghost' is not a field of 'firms'"),
    ({"lookupField": "tags"}, "firm.typeRules.lookupField", "'tags' of 'firms' cannot be used to find a record"),
    ({"lookupField": 3}, "fields[1].typeRules.lookupField", "lookupField is the name of a field"),
    ({"filter": "kind=a"}, "fields[1].typeRules.filter", "filter is a query map"),
    ({"filter": {}}, "fields[1].typeRules.filter", "filter is a query map"),
    ({"filter": {"ghost": "a"}}, "firm.typeRules.filter", "Not a valid filter of 'firms' records"),
    ({"filter": {"size": "greater(big)"}}, "firm.typeRules.filter", "Not a valid filter of 'firms' records"),
    ({"filter": {"_nope": 1}}, "firm.typeRules.filter", "Not a valid filter of 'firms' records"),
])
def test_lookup_field_and_filter_are_checked_when_the_definition_is_saved(api: Api, firms, rules, field, message):
    response = api.put("/metadata/entities/people", json=people(firm=rules))  # on firm and on roles.at
    assert response.status_code == 400, response.get_json()
    errors = response.get_json()["errors"]
    nested = field.replace("firm.", "roles.at.").replace("fields[1].", "fields[3].nestedFields[1].")
    assert [e["field"] for e in errors] == [field, nested]
    assert all(e["code"] == "invalid" and e["message"].startswith(message) for e in errors), errors
    assert api.get("/metadata/entities/people").status_code == 404


# --- the filter rule -----------------------------------------------------------------------------------


def test_a_written_record_must_meet_the_filter(api: Api, firms):
    define_people(api, firm={"filter": {"kind": "a", "size": "greater(5)"}})
    riff, oak, elm = (firms[k]["id"] for k in ("riff", "oak", "elm"))
    assert firm_of(api, {"firm": riff}) == riff
    not_met = [("firm", "invalid", f"Record '{oak}' in 'firms' does not meet the filter of this field", oak)]
    for ref in (oak, {"id": oak}, "Oakbank", {"label": "Oakbank"}, {"code": "Riffwire"}):
        assert errors_of(api.post("/data/people", json={"name": "P", "firm": ref})) == not_met
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": {"size": 3}})) == [
        ("firm", "invalid", "No record in 'firms' that has size '3' meets the filter of this field", 3)]
    ghost = str(ObjectId())
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": ghost})) == [
        ("firm", "invalid", f"Record '{ghost}' does not exist in 'firms'", ghost)]
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": "Nobody"})) == [
        ("firm", "invalid", "No record in 'firms' has label 'Nobody'", "Nobody")]
    assert firm_of(api, {"firm": {"kind": "a"}}) == riff  # looked up among the records that meet it: one
    assert errors_of(api.post("/data/people", json={"name": "P", "roles": [{"at": elm}]})) == [
        ("roles[0].at", "invalid", f"Record '{elm}' in 'firms' does not meet the filter of this field", elm)]
    assert api.get("/data/people?firm.id=" + oak).get_json()["total"] == 0


def test_a_label_resolves_among_the_records_that_meet_the_filter(api: Api, firms):
    define_people(api, firm={"filter": {"kind": "b"}})
    twin = create(api, "firms", {"name": "Riffwire", "kind": "b"})
    assert firm_of(api, {"firm": "Riffwire"}) == twin["id"]  # the other Riffwire does not meet it: no ambiguity
    create(api, "firms", {"name": "Riffwire", "kind": "b"})
    assert errors_of(api.post("/data/people", json={"name": "P", "firm": "Riffwire"})) == [
        ("firm", "invalid", "More than one record in 'firms' has label 'Riffwire'", "Riffwire")]


def test_a_multi_valued_relationship_checks_every_value(api: Api, firms):
    define_people(api, firms={"filter": {"kind": "a"}})
    riff, oak, elm = (firms[k]["id"] for k in ("riff", "oak", "elm"))
    made = create(api, "people", {"name": "P", "firms": [riff, {"code": "e1"}]})
    assert [f["id"] for f in made["firms"]] == [riff, elm]
    assert errors_of(api.put(f"/data/people/{made['id']}", json={"firms": [riff, oak]})) == [
        ("firms", "invalid", f"Record '{oak}' in 'firms' does not meet the filter of this field", oak)]


def test_values_an_update_does_not_change_are_not_checked_again(api: Api, firms):
    define_people(api, firm={"filter": {"kind": "a"}})
    riff, oak, elm = (firms[k]["id"] for k in ("riff", "oak", "elm"))
    ana = create(api, "people", {"name": "Ana", "firm": riff, "roles": [{"title": "t", "at": riff}]})
    assert api.put(f"/data/firms/{riff}", json={"kind": "b"}).status_code == 200  # no longer meets the filter
    assert api.put(f"/data/people/{ana['id']}", json={"name": "Ana B"}).status_code == 200
    shown = api.get(f"/data/people/{ana['id']}").get_json()
    resent = api.put(f"/data/people/{ana['id']}", json=shown)  # the record sent back as read: links kept
    assert resent.status_code == 200, resent.get_json()
    assert resent.get_json()["firm"]["id"] == riff and resent.get_json()["roles"][0]["at"]["id"] == riff
    assert errors_of(api.put(f"/data/people/{ana['id']}", json={"firm": oak})) == [
        ("firm", "invalid", f"Record '{oak}' in 'firms' does not meet the filter of this field", oak)]
    assert api.put(f"/data/people/{ana['id']}", json={"firm": elm}).status_code == 200
    assert errors_of(api.put(f"/data/people/{ana['id']}", json={"firm": riff})) == [  # no longer kept
        ("firm", "invalid", f"Record '{riff}' in 'firms' does not meet the filter of this field", riff)]


def test_removing_a_field_a_relationship_filter_uses_is_refused_until_the_filter_changes(api: Api, firms):
    define_people(api, firm={"filter": {"code": "r1"}})
    assert firm_of(api, {"firm": "Riffwire"}) == firms["riff"]["id"]
    slim = {**FIRMS, "fields": [f for f in FIRMS["fields"] if f["name"] != "code"]}
    errors = errors_of(api.put("/metadata/entities/firms", json=slim))
    assert [(field, code, message.split(" no longer fits")[0]) for field, code, message, _ in errors] == [
        ("fields", "invalid", "The filter of people.firm.typeRules"),
        ("fields", "invalid", "The filter of people.roles.at.typeRules")]
    assert all("'code': unknown field 'code'; change it there first" in e[2] for e in errors), errors
    assert firm_of(api, {"firm": "Riffwire"}) == firms["riff"]["id"]  # nothing changed
    define_people(api, firm={"filter": {"kind": "a"}})
    assert api.put("/metadata/entities/firms", json=slim).status_code == 200


def _import(api: Api, text: str) -> dict[str, Any]:
    response = api.post("/data/people/import", data={"file": (io.BytesIO(text.encode()), "people.csv")},
                        content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    return wait_for_job(api, response.get_json()["jobId"])


def test_imports_use_the_lookup_field_and_the_filter(api: Api, firms):
    define_people(api, firm={"lookupField": "code", "filter": {"kind": "a"}})
    job = _import(api, "name,firm\nAnn,r1\nBob,Riffwire\nCy,Oakbank\nDee,zz\n")
    assert job["status"] == "FINISHED" and job["results"]["rowsImported"] == 2, job
    results = job["results"]["results"]
    oak = firms["oak"]["id"]
    assert [(e["field"], e["message"]) for e in results["4"]["errors"]] == [
        ("firm", f"Record '{oak}' in 'firms' does not meet the filter of this field")]
    assert [(e["field"], e["message"]) for e in results["5"]["errors"]] == [
        ("firm", "No record in 'firms' has label or code 'zz'")]
    listed = api.get("/data/people?_sortField=name&_sortType=asc").get_json()["items"]
    assert [(p["name"], p["firm"]["id"]) for p in listed] == [("Ann", firms["riff"]["id"]),
                                                              ("Bob", firms["riff"]["id"])]
