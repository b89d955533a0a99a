"""``/metadata/entities``: definitions as data, validated, versioned, indexed."""

from __future__ import annotations

import pytest

from tests.conftest import Api

PROJECTS = {"name": "projects", "label": "Projects", "recordLabel": "#{title}",
            "fields": [{"name": "title", "type": "text", "required": True, "unique": True},
                       {"name": "budget", "type": "money", "indexable": True},
                       {"name": "owner", "type": "relationship", "typeRules": {"entity": "contacts"}}]}


def test_list_and_read_definitions(api: Api):
    body = api.get("/metadata/entities").get_json()
    assert [e["name"] for e in body["items"]] == ["companies", "contacts"]
    companies = api.get("/metadata/entities/companies").get_json()
    assert companies["version"] == 1 and companies["fields"][0]["name"] == "name"


def test_create_update_delete_bumps_versions(app, api: Api):
    created = api.put("/metadata/entities/projects", json=PROJECTS)
    assert created.status_code == 200 and created.get_json()["version"] == 1
    assert api.post("/data/projects", json={"title": "Apollo", "budget": 12.5}).status_code == 200
    changed = dict(PROJECTS, fields=[*PROJECTS["fields"], {"name": "code", "type": "integer"}])
    updated = api.put("/metadata/entities/projects", json=changed)
    assert updated.get_json()["version"] == 2
    # the change is seen by the data API at once: the new field is accepted
    assert api.post("/data/projects", json={"title": "Gemini", "code": 7}).status_code == 200
    # re-applying the same definition is not a change
    assert api.put("/metadata/entities/projects", json=changed).get_json()["version"] == 2
    deleted = api.delete("/metadata/entities/projects")
    assert deleted.status_code == 200
    assert api.get("/data/projects").status_code == 404
    assert "data.projects" not in app.extensions["runtime"].store.db.list_collection_names()


def test_post_creates_an_entity(api: Api):
    response = api.post("/metadata/entities", json=PROJECTS)
    assert response.status_code == 200 and response.get_json()["name"] == "projects"


def test_post_of_an_existing_name_is_409_and_changes_nothing(api: Api):
    """Changing a definition is a PUT, which plans the refactoring its records need; a POST would replace it and
    leave the stored values behind."""
    ow = {"name": "ow", "fields": [{"name": "a", "type": "text"}]}
    assert api.post("/metadata/entities", json=ow).status_code == 200
    record = api.post("/data/ow", json={"a": "keep"}).get_json()
    for body in ({"name": "ow", "fields": [{"name": "b", "type": "integer"}]}, ow):
        response = api.post("/metadata/entities", json=body)
        assert response.status_code == 409, response.get_json()
        assert response.get_json() == {"code": "conflict", "errors": [], "message":
                                       "Entity 'ow' already exists: use PUT /metadata/entities/ow to change it"}
    assert api.get("/metadata/entities/ow").get_json()["version"] == 1
    assert api.get(f"/data/ow/{record['id']}").get_json()["a"] == "keep"
    assert api.post("/metadata/entities", json={"name": "companies", "fields": []}).status_code == 409
    assert api.get("/metadata/entities/companies").get_json()["version"] == 1


def test_unique_and_indexable_fields_get_indexes(app, api: Api):
    api.put("/metadata/entities/projects", json=PROJECTS)
    indexes = app.extensions["runtime"].records.collection("projects").index_information()
    assert indexes["unique_title"]["unique"] is True
    assert "idx_budget" in indexes and "idx_owner" in indexes


def test_invalid_definitions_are_400_with_field_errors(api: Api):
    cases = [
        ({"name": "bad name!", "fields": []}, "name"),
        ({"name": "x1", "fields": [{"name": "a", "type": "nope"}]}, "fields[0].type"),
        ({"name": "x2", "fields": [{"name": "a", "type": "text"}, {"name": "a", "type": "text"}]}, "fields[1].name"),
        ({"name": "x3", "fields": [{"name": "r", "type": "relationship", "typeRules": {"entity": "ghosts"}}]},
         "fields[0].typeRules.entity"),
        ({"name": "x4", "fields": [{"name": "t", "type": "text", "typeRules": {"pattern": "("}}]},
         "fields[0].typeRules.pattern"),
        ({"name": "x5", "fields": [{"name": "n", "type": "integer", "typeRules": {"min": "zero"}}]},
         "fields[0].typeRules.min"),
        ({"name": "x6", "fields": [{"name": "c", "type": "choice"}]}, "fields[0].typeRules.possibleValues"),
        ({"name": "x7", "fields": [{"name": "id", "type": "text"}]}, "fields[0].name"),
        ({"name": "x8", "recordLabel": "#{missing}", "fields": [{"name": "a", "type": "text"}]}, "recordLabel"),
        ({"name": "x9", "fields": [{"name": "d", "type": "decimal", "unique": True}]}, "fields[0].unique"),
    ]
    for definition, field in cases:
        response = api.post("/metadata/entities", json=definition)
        assert response.status_code == 400, definition
        body = response.get_json()
        assert body["code"] == "validationErrors"
        assert field in [e["field"] for e in body["errors"]], (field, body)
    assert [e["name"] for e in api.get("/metadata/entities").get_json()["items"]] == ["companies", "contacts"]


@pytest.mark.parametrize(("field", "path"), [
    ({"name": "b", "type": "boolean", "required": True}, "fields[0].required"),
    ({"name": "c", "type": "createdDate", "required": True}, "fields[0].required"),
    ({"name": "m", "type": "modifiedDate", "required": True}, "fields[0].required"),
    ({"name": "f", "type": "file", "defaultValue": "000000000000000000000000"}, "fields[0].defaultValue"),
    ({"name": "g", "type": "nestedFields", "defaultValue": {"x": "a"}, "nestedFields": [{"name": "x", "type": "text"}]},
     "fields[0].defaultValue"),
    ({"name": "d", "type": "decimal", "typeRules": {"decimals": 5}}, "fields[0].typeRules.decimals"),
    ({"name": "d", "type": "money", "typeRules": {"decimals": 6}}, "fields[0].typeRules.decimals"),
    ({"name": "p", "type": "percentage", "typeRules": {"decimals": 3}}, "fields[0].typeRules.decimals"),
])
def test_flags_and_rules_a_type_does_not_take_are_400(api: Api, field: dict, path: str):
    """Facts §3.2/§3.6: booleans and the record's dates are never required, files and nested groups have no default,
    decimals are limited (0–4, percentages 0–2): a definition asking otherwise is refused, not silently changed."""
    response = api.put("/metadata/entities/flags", json={"name": "flags", "fields": [field]})
    assert response.status_code == 400, response.get_json()
    assert [e["field"] for e in response.get_json()["errors"]] == [path]
    assert api.get("/metadata/entities/flags").status_code == 404
    at_limit = {"decimal": 4, "money": 4, "percentage": 2}.get(field["type"])
    if at_limit is not None:
        ok = api.put("/metadata/entities/flags", json={"name": "flags", "fields": [
            {**field, "typeRules": {"decimals": at_limit}}]})
        assert ok.status_code == 200, ok.get_json()


def test_a_stored_definition_the_checks_now_refuse_still_loads():
    """Definitions are checked when saved; one saved before a check existed keeps loading (the app starts)."""
    from core.errors import ValidationFailed
    from entities.metadata import parse_entity

    raw = {"name": "legacy", "fields": [{"name": "b", "type": "boolean", "required": True},
                                        {"name": "d", "type": "decimal", "typeRules": {"decimals": 6}},
                                        {"name": "f", "type": "file", "defaultValue": "000000000000000000000000"}]}
    assert [f.name for f in parse_entity(raw, None).fields] == ["b", "d", "f"]
    with pytest.raises(ValidationFailed):
        parse_entity(raw, set())


def test_rules_no_value_can_meet_and_unknown_history_settings_are_400(api: Api):
    fields = [{"name": "n", "type": "integer"}, {"name": "t", "type": "text"},
              {"name": "g", "type": "nestedFields", "nestedFields": [{"name": "d", "type": "decimal"}]}]

    def errors(**changes) -> list[tuple[str, str]]:
        response = api.put("/metadata/entities/ranges", json={"name": "ranges", "fields": fields, **changes})
        assert response.status_code == 400, (changes, response.get_json())
        return [(e["field"], e["code"]) for e in response.get_json()["errors"]]

    fields[0]["typeRules"] = {"min": 5, "max": 1}
    fields[1]["typeRules"] = {"minLength": 10, "maxLength": 2}
    fields[2]["nestedFields"][0]["typeRules"] = {"min": 0.5, "max": 0.25}
    assert errors() == [("fields[0].typeRules.max", "invalid"), ("fields[1].typeRules.maxLength", "invalid"),
                        ("fields[2].nestedFields[0].typeRules.max", "invalid")]
    fields[0]["typeRules"] = {"min": 1, "max": 1}
    fields[1]["typeRules"] = {"minLength": 2, "maxLength": 2}
    fields[2]["nestedFields"][0]["typeRules"] = {"min": 0}
    assert errors(history={"foo": 1, "ignoreFields": ["n"], "ignoredFields": ["n", "zzz", "d"]}) == [
        ("history.foo", "unknown"), ("history.ignoreFields", "unknown"), ("history.ignoredFields[1]", "invalid"),
        ("history.ignoredFields[2]", "invalid")]
    assert api.get("/metadata/entities/ranges").status_code == 404
    saved = api.put("/metadata/entities/ranges", json={"name": "ranges", "fields": fields, "history": {
        "enabled": True, "events": ["USER_RECORD_CREATED"], "ignoredFields": ["t"], "keepDays": 5,
        "keepDeletedDays": 5, "onRecordDeleted": "delete"}})
    assert saved.status_code == 200, saved.get_json()


def test_name_in_body_must_match_url(api: Api):
    response = api.put("/metadata/entities/other", json=PROJECTS)
    assert response.status_code == 400


def test_cannot_delete_an_entity_others_point_to(api: Api):
    response = api.delete("/metadata/entities/companies")
    assert response.status_code == 400 and "contacts" in response.get_json()["message"]


def test_developers_only(user_api: Api):
    assert user_api.get("/metadata/entities").status_code == 403
    assert user_api.put("/metadata/entities/projects", json=PROJECTS).status_code == 403


def test_unknown_entity_is_404(api: Api):
    assert api.get("/metadata/entities/ghosts").status_code == 404
    assert api.delete("/metadata/entities/ghosts").status_code == 404
