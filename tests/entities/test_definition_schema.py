"""Entity definitions are checked by a marshmallow schema: strict at the top level and per field, free inside
``typeRules``, and JSON-safe everywhere; every problem is a 400 naming its path, and nothing is saved."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

BASE: dict[str, Any] = {"name": "projects", "fields": [{"name": "title", "type": "text"}]}


def with_(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


def field(**changes: Any) -> dict[str, Any]:
    return with_(fields=[{"name": "title", "type": "text", **changes}])


def raw_json(text: str) -> dict[str, Any]:
    return {"data": text.encode(), "headers": {"Content-Type": "application/json"}}


@pytest.mark.parametrize(("body", "path", "code"), [
    (with_(colour="red"), "colour", "unknown"),
    (field(maxLenght=3), "fields[0].maxLenght", "unknown"),
    (with_(fields=[{"name": "a", "type": "nestedFields",
                    "nestedFields": [{"name": "b", "type": "text", "oops": 1}]}]),
     "fields[0].nestedFields[0].oops", "unknown"),
    (field(typeRules={"$where": "1"}), "fields[0].typeRules.$where", "invalid"),
    (field(typeRules={"a.b": 1}), "fields[0].typeRules.a.b", "invalid"),
    (with_(history={"keepDays": 2**64}), "history.keepDays", "invalid"),
    (field(id=["f1"]), "fields[0].id", "invalid"),
    (field(renamedFrom={"name": "old"}), "fields[0].renamedFrom", "invalid"),
    (field(nestedFields=5), "fields[0].nestedFields", "invalid"),
], ids=["top-level", "field", "nested-field", "dollar-key", "dotted-key", "int-beyond-64-bits", "id-list",
        "renamed-from-object", "nested-fields-number"])
def test_bad_definitions_are_400_with_field_errors(api: Api, body: dict[str, Any], path: str, code: str):
    response = api.put("/metadata/entities/projects", json=body)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()
    assert error["code"] == "validationErrors"
    assert (path, code) in [(e["field"], e["code"]) for e in error["errors"]], error
    assert api.get("/metadata/entities/projects").status_code == 404


@pytest.mark.parametrize("change", [{"id": ["f1"]}, {"id": {"a": 1}}, {"renamedFrom": ["title"]},
                                    {"nestedFields": 5}, {"nestedFields": {"name": "x"}}])
def test_a_bad_field_id_rename_or_inner_list_on_an_existing_entity_is_400_and_changes_nothing(
        api: Api, change: dict[str, Any]):
    assert api.put("/metadata/entities/projects", json=BASE).status_code == 200
    before = api.get("/metadata/entities/projects").get_json()
    response = api.put("/metadata/entities/projects", json=field(**change))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["errors"][0]["field"] == f"fields[0].{next(iter(change))}"
    assert api.get("/metadata/entities/projects").get_json() == before


def test_an_infinite_default_value_is_malformed_json(api: Api):
    body = '{"name": "projects", "fields": [{"name": "title", "type": "text", "defaultValue": Infinity}]}'
    response = api.put("/metadata/entities/projects", **raw_json(body))
    assert response.status_code == 400 and response.get_json()["message"].startswith("Malformed JSON")
    assert api.get("/metadata/entities/projects").status_code == 404


def test_a_lone_surrogate_is_400(api: Api):
    body = '{"name": "projects", "label": "bad \\ud800", "fields": [{"name": "title", "type": "text"}]}'
    response = api.post("/metadata/entities", **raw_json(body))
    assert response.status_code == 400
    assert [e["field"] for e in response.get_json()["errors"]] == ["label"]


def test_an_integer_beyond_64_bits_in_raw_json_is_400(api: Api):
    body = ('{"name": "projects", "fields": [{"name": "n", "type": "integer", '
            '"typeRules": {"max": 18446744073709551616}}]}')
    response = api.post("/metadata/entities", **raw_json(body))
    assert response.status_code == 400
    assert "fields[0].typeRules.max" in [e["field"] for e in response.get_json()["errors"]]


def test_open_keys_stay_accepted(api: Api):
    body = with_(label="Projects", description="Work", globalSearch=False, listeners=[],
                 fields=[{"id": "f1", "name": "title", "type": "text", "label": "Title", "description": "d",
                          "renamedFrom": "name", "required": True, "indexable": True, "multiplicity": "one",
                          "typeRules": {"maxLength": 50, "somethingNew": {"deep": [1, 2]}}},
                         {"name": "client", "type": "relationship",
                          "typeRules": {"entity": "companies", "copiedFields": ["name"],
                                        "onDelete": "removeRelationship", "updateLabel": True}}])
    response = api.put("/metadata/entities/projects", json=body)
    assert response.status_code == 200, response.get_json()


def test_the_sample_definitions_still_load(api: Api):
    for name in ("companies", "contacts"):
        definition = api.get(f"/metadata/entities/{name}").get_json()
        assert api.put(f"/metadata/entities/{name}", json=definition).status_code == 200
