"""Seed 002 shapes that were off: history totals, id offsets with any sort, every field error, result maps."""

from __future__ import annotations

import time

from tests.conftest import Api, company, create


def test_entity_history_total_counts_every_match_whatever_the_page(api: Api):
    start = int(time.time() * 1000) - 1000
    for i in range(5):
        create(api, "companies", company(name=f"H{i}"))
    end = int(time.time() * 1000) + 1000
    first = api.get(f"/data/companies/history?from={start}&to={end}&_size=2").get_json()
    assert first["total"] == 5 and len(first["items"]) == 2
    second = api.get(f"/data/companies/history?from={start}&to={end}&_size=2&_offset={first['offset']}").get_json()
    assert second["total"] == 5 and len(second["items"]) == 2
    assert {i["id"] for i in first["items"]}.isdisjoint(i["id"] for i in second["items"])
    plain = api.get("/data/companies/history?_size=2").get_json()
    assert api.get(f"/data/companies/history?_size=2&_offset={plain['offset']}").get_json()["total"] == 5


def test_delete_many_and_action_over_many_name_the_entity_in_each_response(app, api: Api):
    entity_id = app.extensions["runtime"].registry.get("companies").id
    ids = [create(api, "companies", company(name=f"E{i}"))["id"] for i in range(2)]
    acted = api.put(f"/data/companies/{','.join(ids)}/logSomething", json={"param1": "a"}).get_json()
    deleted = api.delete(f"/data/companies/{','.join(ids)}").get_json()
    for results in (acted, deleted):
        assert set(results) == set(ids)
        for rid in ids:
            response = results[rid]["response"]
            assert results[rid]["status"] == "ok" and response["id"] == rid
            assert response["entity"] == {"id": entity_id, "name": "Companies"}
            assert list(response)[:4] == ["id", "version", "label", "entity"]


def test_every_field_error_of_a_body_comes_in_one_400(api: Api):
    """A bad choice, a bad integer and a missing required name: all three in the same answer."""
    response = api.post("/data/companies", json={"state": "nope", "numberOfEmployees": "many"})
    assert response.status_code == 400
    fields = {(e["field"], e["code"]) for e in response.get_json()["errors"]}
    assert {("state", "invalid"), ("numberOfEmployees", "invalid"), ("name", "required")} <= fields
    record = create(api, "companies", company(name="Errors"))
    update = api.put(f"/data/companies/{record['id']}", json={"name": "", "numberOfEmployees": "many"})
    assert {(e["field"], e["code"]) for e in update.get_json()["errors"]} >= {("name", "required"),
                                                                             ("numberOfEmployees", "invalid")}


def test_an_unknown_nested_item_id_is_a_field_error_not_a_new_item(api: Api):
    record = create(api, "companies", company(name="Nested ids"))
    before = record["addresses"]
    response = api.put(f"/data/companies/{record['id']}",
                       json={"addresses": [{"id": "zz", "city": "Nowhere"}, {"id": before[0]["id"], "city": "X"}]})
    assert response.status_code == 400
    assert [e["field"] for e in response.get_json()["errors"]] == ["addresses[0].id"]
    assert api.get(f"/data/companies/{record['id']}").get_json()["addresses"] == before  # nothing changed
    kept = api.put(f"/data/companies/{record['id']}", json={"addresses": [{"id": before[0]["id"], "city": "X"}]})
    assert kept.status_code == 200 and kept.get_json()["addresses"][0]["city"] == "X"


def _fields(response) -> list[tuple[str, str]]:
    assert response.status_code == 400, response.get_json()
    return [(e["field"], e["code"]) for e in response.get_json()["errors"]]


def test_a_type_error_does_not_hide_relationship_unique_or_file_errors(api: Api):
    """The values that loaded are resolved and checked for uniqueness too: every problem of the body in one 400,
    in the order of the entity's fields, and nothing is stored."""
    taken = create(api, "companies", company(name="Taken"))
    other = create(api, "companies", company(name="Other"))
    contact = {"firstName": "a", "lastName": "b", "company": "NoSuchCo", "numberOfSkills": "x"}
    assert _fields(api.post("/data/contacts", json=contact)) == [("company", "invalid"), ("numberOfSkills", "invalid")]
    assert _fields(api.post("/data/companies", json={"name": "Taken", "numberOfEmployees": "x"})) == [
        ("name", "duplicate"), ("numberOfEmployees", "invalid")]
    assert api.get("/data/contacts").get_json()["total"] == 0
    assert api.get("/data/companies").get_json()["total"] == 2

    record = create(api, "contacts", {"firstName": "a", "lastName": "b", "company": "Taken"})
    update = api.put(f"/data/contacts/{record['id']}", json={"company": "NoSuchCo", "numberOfSkills": "x"})
    assert _fields(update) == [("company", "invalid"), ("numberOfSkills", "invalid")]
    update = api.put(f"/data/companies/{other['id']}", json={"name": "Taken", "numberOfEmployees": "x"})
    assert _fields(update) == [("name", "duplicate"), ("numberOfEmployees", "invalid")]
    assert api.get(f"/data/contacts/{record['id']}").get_json()["company"]["id"] == taken["id"]
    assert api.get(f"/data/companies/{other['id']}").get_json()["name"] == "Other"


def test_a_type_error_does_not_hide_an_unknown_file_or_a_missing_field(api: Api):
    documents = {"name": "documents", "recordLabel": "#{title}", "fields": [
        {"name": "title", "type": "text", "required": True}, {"name": "attachment", "type": "file"},
        {"name": "n", "type": "integer"}]}
    assert api.put("/metadata/entities/documents", json=documents).status_code == 200
    response = api.post("/data/documents", json={"attachment": "000000000000000000000000", "n": "x"})
    assert _fields(response) == [("title", "required"), ("attachment", "invalid"), ("n", "invalid")]


def test_an_unknown_id_on_a_single_nested_group_is_a_field_error(api: Api):
    """As for a multi-valued group: the stored item's id or no id changes the item; another id is a 400."""
    record = create(api, "companies", company(name="Single nested"))
    stored, path = record["contactInformation"], f"/data/companies/{record['id']}"
    for sent in ("zz", "5f0000000000000000000000"):
        response = api.put(path, json={"contactInformation": {"id": sent, "email": "c@b.co"}})
        assert _fields(response) == [("contactInformation.id", "invalid")]
        assert response.get_json()["errors"][0]["additionalInfo"] == {"rejectedValue": sent}
    assert api.get(path).get_json()["contactInformation"] == stored  # nothing changed
    same = api.put(path, json={"contactInformation": {"id": stored["id"], "email": "c@b.co"}})
    assert same.status_code == 200 and same.get_json()["contactInformation"]["id"] == stored["id"]
    without = api.put(path, json={"contactInformation": {"email": "d@b.co"}})
    assert without.status_code == 200
    assert without.get_json()["contactInformation"] == {**stored, "email": "d@b.co"}
    bare = f"/data/companies/{create(api, 'companies', {'name': 'No contact'})['id']}"  # no item: no id is its
    response = api.put(bare, json={"contactInformation": {"id": stored["id"], "email": "e@b.co"}})
    assert _fields(response) == [("contactInformation.id", "invalid")]
    assert api.put(bare, json={"contactInformation": {"email": "e@b.co"}}).status_code == 200
