"""Records CRUD through HTTP, with the seed's sample shapes."""

from __future__ import annotations

import pytest
from bson import ObjectId

from tests.conftest import Api, as_listed, company, create


def stored(app, entity: str, record_id: str) -> dict | None:
    return app.extensions["runtime"].records.collection(entity).find_one({"_id": ObjectId(record_id)})


def test_create_returns_the_seed_shape(app, api: Api):
    body = create(api, "companies", company())
    assert list(body)[:4] == ["id", "version", "label", "name"]
    assert body["version"] == 0 and body["label"] == "Test 1"
    assert body["contactInformation"]["label"] == "Contact Information"
    assert len(body["contactInformation"]["id"]) == 24
    assert body["contactInformation"]["phoneNumber"] == "1-702-845-9380"
    address = body["addresses"][0]
    assert address["label"] == "NV - 89145" and len(address["id"]) == 24
    assert body["lastMeeting"] == 1429623180000 and isinstance(body["lastUpdate"], int)
    doc = stored(app, "companies", body["id"])
    assert doc["version"] == 0 and doc["label"] == "Test 1"
    assert doc["contactInformation"]["phoneNumber"] == "17028459380"


def test_read_one_and_read_options(api: Api):
    created = create(api, "companies", company())
    one = api.get(f"/data/companies/{created['id']}").get_json()
    assert one == created
    only = api.get(f"/data/companies/{created['id']}?_fields=name,addresses.state").get_json()
    assert only == {"id": created["id"], "version": 0, "label": "Test 1", "name": "Test 1",
                    "addresses": [{"id": created["addresses"][0]["id"], "label": "NV - 89145", "state": "NV"}]}
    text = api.get(f"/data/companies/{created['id']}?_format=plainText").get_json()
    assert text["numberOfEmployees"] == "95" and text["isCustomer"] == "false"
    assert text["lastMeeting"] == "2015-04-21T13:33:00.000Z"
    assert api.put("/metadata/entities/amounts", json={"name": "amounts", "fields": [
        {"name": "d", "type": "decimal"}, {"name": "m", "type": "money"}]}).status_code == 200
    big = create(api, "amounts", {"d": 1e16, "m": 123456789012345678.5})
    text = api.get(f"/data/amounts/{big['id']}?_format=plainText").get_json()
    assert (text["d"], text["m"]) == ("10000000000000000", "123456789012345680")  # as the CSV export writes them


def test_defaults_and_calculated_fields(api: Api):
    body = create(api, "companies", {"name": "Only name"})
    assert body["state"] == "active" and body["isCustomer"] is False and body["addresses"] == []
    contact = create(api, "contacts", {"firstName": "Ada", "lastName": "Lovelace"})
    assert contact["label"] == "Ada Lovelace" and contact["fullName"] == "Ada Lovelace"
    assert contact["numberOfSkills"] == 0


def test_a_calculated_value_is_of_its_fields_type(app, api: Api):
    """The template's text is read as the field's type reads a CSV cell: an integer filters, sorts and sums as
    one; text that is not a value of the type is null."""
    definition = {"name": "calcs", "fields": [
        {"name": "n", "type": "integer"}, {"name": "when", "type": "text"},
        {"name": "twice", "type": "integer", "calculated": "#{n}"},
        {"name": "at", "type": "dateTime", "calculated": "#{when}"},
        {"name": "yes", "type": "boolean", "calculated": "#{when}"},
        {"name": "tag", "type": "text", "typeRules": {"maxLength": 3}, "calculated": "n=#{n}"}]}
    assert api.put("/metadata/entities/calcs", json=definition).status_code == 200
    five = create(api, "calcs", {"n": 5, "when": "2024-05-01 10:00"})
    assert five["twice"] == 5 and five["at"] == 1714557600000 and five["yes"] is False and five["tag"] == "n=5"
    create(api, "calcs", {"n": 7, "when": "true"})
    words = create(api, "calcs", {"n": None, "when": "abc"})
    assert words["twice"] is None and words["at"] is None
    assert [r["twice"] for r in api.get("/data/calcs?twice=greater(4)&_sortField=twice&_sortType=asc"
                                        ).get_json()["items"]] == [5, 7]
    assert api.get("/data/calcs?yes=true").get_json()["total"] == 1
    summed = api.put("/data/calcs/aggregate", json=[{"group": {"s": "sum(twice)"}}]).get_json()["items"]
    assert summed == [{"s": 12}]
    plain = api.get(f"/data/calcs/{five['id']}?_format=plainText").get_json()
    assert plain["twice"] == "5" and plain["at"].startswith("2024-05-01")


@pytest.mark.parametrize("field", [
    {"name": "c", "type": "createdDate", "multiplicity": "many"},
    {"name": "m", "type": "modifiedDate", "multiplicity": "many"},
    {"name": "c", "type": "createdDate", "calculated": "#{t}"},
    {"name": "f", "type": "file", "calculated": "#{t}"},
    {"name": "r", "type": "relationship", "typeRules": {"entity": "companies"}, "calculated": "#{t}"},
    {"name": "g", "type": "nestedFields", "nestedFields": [{"name": "a", "type": "text"}], "calculated": "#{t}"},
    {"name": "p", "type": "geoPoint", "calculated": "#{t}"},
    {"name": "d", "type": "dynamicChoice", "calculated": "#{t}"},
    {"name": "u", "type": "user", "calculated": "#{t}"},
    {"name": "gr", "type": "group", "calculated": "#{t}"},
])
def test_options_a_type_cannot_have_are_refused_with_the_definition(api: Api, field: dict):
    response = api.put("/metadata/entities/bad", json={"name": "bad", "fields": [{"name": "t", "type": "text"}, field]})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["errors"][0]["field"] in ("fields[1].multiplicity", "fields[1].calculated")


def test_update_is_partial_and_bumps_version(app, api: Api):
    created = create(api, "companies", company())
    response = api.put(f"/data/companies/{created['id']}",
                       json={"version": 0, "state": "active", "type": "b", "numberOfEmployees": 100})
    assert response.status_code == 200
    body = response.get_json()
    assert body["version"] == 1 and body["state"] == "active" and body["type"] == "b"
    assert body["numberOfEmployees"] == 100 and body["notes"] == "test notes"
    assert stored(app, "companies", created["id"])["numberOfEmployees"] == 100


def test_null_clears_and_body_id_is_ignored(app, api: Api):
    created = create(api, "companies", company())
    other = "5f0000000000000000000000"
    body = api.put(f"/data/companies/{created['id']}", json={"id": other, "notes": None}).get_json()
    assert body["id"] == created["id"] and body["notes"] is None
    assert "notes" not in stored(app, "companies", created["id"])


def test_nested_items_are_matched_by_id(api: Api):
    created = create(api, "companies", company(addresses=[
        {"addressLine": "1 A St", "zipCode": "10001", "city": "NYC", "state": "NY"},
        {"addressLine": "2 B St", "zipCode": "89145", "city": "Las Vegas", "state": "NV"}]))
    first, second = created["addresses"]
    body = api.put(f"/data/companies/{created['id']}", json={"addresses": [
        {"id": first["id"], "city": "New York"},
        {"id": second["id"], "zipCode": "89000"},
        {"addressLine": "3 C St", "zipCode": "73157", "state": "OK"}]}).get_json()
    a, b, c = body["addresses"]
    assert a["id"] == first["id"] and a["city"] == "New York" and a["zipCode"] == "10001"
    assert b["id"] == second["id"] and b["zipCode"] == "89000" and b["label"] == "NV - 89000"
    assert len(c["id"]) == 24 and c["id"] not in (first["id"], second["id"]) and c["label"] == "OK - 73157"
    single = api.put(f"/data/companies/{created['id']}", json={"contactInformation": {"email": "x@y.io"}}).get_json()
    assert single["contactInformation"]["phoneNumber"] == "1-702-845-9380"
    assert single["contactInformation"]["email"] == "x@y.io"
    assert single["contactInformation"]["id"] == created["contactInformation"]["id"]


def test_nested_ids_sent_on_create_are_replaced_by_new_ones(api: Api):
    other = create(api, "companies", company(name="Other"))
    taken = other["addresses"][0]["id"]
    body = create(api, "companies", company(name="New", addresses=[
        {"id": taken, "state": "CA"}, {"id": taken, "state": "NV"}, {"id": "abc", "state": "OK"}]))
    ids = [item["id"] for item in body["addresses"]]
    assert [item["state"] for item in body["addresses"]] == ["CA", "NV", "OK"]
    assert len(set(ids)) == 3 and taken not in ids and all(len(i) == 24 for i in ids)


def test_an_item_id_repeated_in_an_update_is_a_400_and_changes_nothing(api: Api):
    created = create(api, "companies", company(addresses=[
        {"addressLine": "1 A St", "zipCode": "10001", "city": "NYC", "state": "NY"}]))
    item = created["addresses"][0]["id"]
    response = api.put(f"/data/companies/{created['id']}", json={"addresses": [
        {"id": item, "zipCode": "1"}, {"zipCode": "3"}, {"id": item, "zipCode": "2"}]})
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "validationErrors"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("addresses[2].id", "duplicate")]
    assert api.get(f"/data/companies/{created['id']}").get_json() == created


def test_inner_fields_without_a_value_read_null_as_top_level_ones_do(api: Api):
    """The contract's samples show a nested group with every inner field, unset ones as null."""
    record = create(api, "companies", {"name": "Partial", "contactInformation": {"email": "a@example.com"},
                                       "addresses": [{"city": "Reno"}]})
    for shown in (record, api.get(f"/data/companies/{record['id']}").get_json(),
                  api.get("/data/companies?name=Partial").get_json()["items"][0]):
        assert shown["contactInformation"] == {"id": record["contactInformation"]["id"], "label": "Contact Information",
                                               "phoneNumber": None, "email": "a@example.com"}
        assert {k: v for k, v in shown["addresses"][0].items() if k not in ("id", "label")} == {
            "addressLine": None, "zipCode": None, "city": "Reno", "state": None}
    created = api.get(f"/data/companies/{record['id']}/history").get_json()["items"][-1]["newRecord"]
    assert created["contactInformation"]["phoneNumber"] is None


def test_list_records(api: Api):
    for i in range(3):
        create(api, "companies", company(name=f"C{i}", state="pending" if i < 2 else "active"))
    body = api.get("/data/companies?state=pending&_fields=name,type&_size=1").get_json()
    assert body["total"] == 2 and len(body["items"]) == 1
    assert set(body["items"][0]) == {"id", "version", "label", "name", "type"}
    assert body["offset"] == body["items"][0]["id"]
    assert api.get("/data/companies?_size=1001").status_code == 400


def test_delete_one_returns_the_record(app, api: Api):
    created = create(api, "companies", company())
    response = api.delete(f"/data/companies/{created['id']}")
    assert response.status_code == 200 and response.get_json()["id"] == created["id"]
    assert stored(app, "companies", created["id"]) is None
    assert api.get(f"/data/companies/{created['id']}").status_code == 404
    assert api.delete(f"/data/companies/{created['id']}").status_code == 404


def test_delete_many_returns_the_result_map(api: Api):
    a = create(api, "companies", company(name="A"))
    b = create(api, "companies", company(name="B"))
    missing = "5f0000000000000000000000"
    body = api.delete(f"/data/companies/{a['id']},{b['id']},{missing}").get_json()
    assert body[a["id"]]["status"] == "ok" and body[a["id"]]["response"]["name"] == "A"
    assert body[b["id"]] == {"status": "ok", "response": as_listed(b | {"version": 0})}
    assert body[missing]["status"] == "error" and body[missing]["errorMessage"]
    assert api.get("/data/companies").get_json()["total"] == 0


def test_delete_many_with_a_repeated_id_deletes_it_once_and_reports_ok(api: Api):
    a = create(api, "companies", company(name="A"))
    b = create(api, "companies", company(name="B"))
    response = api.delete(f"/data/companies/{a['id']},{b['id']},{a['id']},{a['id'].upper()}")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == [a["id"], b["id"]]
    assert body[a["id"]] == {"status": "ok", "response": as_listed(a | {"version": 0})}
    assert api.get("/data/companies").get_json()["total"] == 0


def test_a_route_of_its_own_asked_with_another_method_is_a_405(api: Api):
    for method, path, allowed in (("GET", "aggregate", "PUT"), ("DELETE", "aggregate", "PUT"),
                                  ("GET", "export", "PUT"), ("GET", "import", "POST"), ("PUT", "history", "GET")):
        response = api.request(method, f"/data/companies/{path}")
        assert response.status_code == 405, (method, path, response.get_json())
        assert response.get_json()["code"] == "methodNotAllowed" and response.headers["Allow"] == allowed
    assert api.get("/data/companies/nothing").status_code == 404
    assert api.get("/data/nowhere/aggregate").status_code == 404


def test_relationships_by_id_label_and_fetch(api: Api):
    acme = create(api, "companies", company(name="Acme"))
    by_label = create(api, "contacts", {"firstName": "A", "lastName": "B", "company": "Acme"})
    assert by_label["company"] == {"id": acme["id"], "label": "Acme"}
    by_id = create(api, "contacts", {"firstName": "C", "lastName": "D", "company": {"id": acme["id"]}})
    assert by_id["company"]["label"] == "Acme"
    fetched = api.get(f"/data/contacts/{by_id['id']}?_relationshipsToFetch=company").get_json()
    assert fetched["company"]["id"] == acme["id"] and fetched["company"]["numberOfEmployees"] == 95
    listed = api.get("/data/contacts?_relationshipsToFetch=company").get_json()
    assert all(item["company"]["name"] == "Acme" for item in listed["items"])
    bad = api.post("/data/contacts", json={"firstName": "E", "lastName": "F", "company": "Nobody"})
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "company"


def test_invalid_ids_are_404(api: Api):
    assert api.get("/data/companies/not-an-id").status_code == 404
    assert api.delete("/data/companies/not-an-id").status_code == 404


def test_a_record_sent_back_as_read_is_accepted(api: Api):
    """GET then PUT the same body (seed 002 "Update record"): values of fields the caller cannot write (a modified
    date, a calculated value) are ignored when they are what the record holds; ``version`` still guards it."""
    created = create(api, "companies", company())
    contact = create(api, "contacts", {"firstName": "Ada", "lastName": "Lovelace", "company": created["id"]})
    for entity, record in (("companies", created), ("contacts", contact)):
        read = api.get(f"/data/{entity}/{record['id']}").get_json()
        again = api.put(f"/data/{entity}/{record['id']}", json=read)
        assert again.status_code == 200, again.get_json()
        assert again.get_json()["version"] == 1
        stale = api.put(f"/data/{entity}/{record['id']}", json=read)  # version 0 is stale now
        assert stale.status_code == 409
    read = api.get(f"/data/contacts/{contact['id']}").get_json()
    renamed = api.put(f"/data/contacts/{contact['id']}", json={**read, "lastName": "King"})
    assert renamed.status_code == 200 and renamed.get_json()["fullName"] == "Ada King"


def test_changing_a_read_only_value_is_refused(api: Api):
    created = create(api, "companies", company())
    contact = create(api, "contacts", {"firstName": "Ada", "lastName": "Lovelace"})
    for entity, record, field, value in (("companies", created, "lastUpdate", created["lastUpdate"] + 1),
                                         ("companies", created, "lastUpdate", str(created["lastUpdate"])),
                                         ("contacts", contact, "fullName", "Someone Else")):
        refused = api.put(f"/data/{entity}/{record['id']}", json={field: value})
        assert refused.status_code == 400, (field, value)
        assert [(e["field"], e["code"]) for e in refused.get_json()["errors"]] == [(field, "readOnly")]
    assert api.get(f"/data/contacts/{contact['id']}").get_json()["version"] == 0


def test_read_only_values_on_create_are_refused_unless_null(api: Api):
    made = api.post("/data/contacts", json={"firstName": "Ada", "lastName": "L", "fullName": None})
    assert made.status_code == 200 and made.get_json()["fullName"] == "Ada L"
    made = api.post("/data/companies", json={"name": "Dated", "lastUpdate": None})
    assert made.status_code == 200 and isinstance(made.get_json()["lastUpdate"], int)
    refused = api.post("/data/contacts", json={"firstName": "Bo", "lastName": "L", "fullName": "Bo L"})
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["code"] == "readOnly"


def test_nested_read_only_values_sent_back_as_read_are_accepted(api: Api):
    lines = {"name": "orders", "fields": [
        {"name": "code", "type": "text"},
        {"name": "lines", "type": "nestedFields", "multiplicity": "many", "nestedFields": [
            {"name": "item", "type": "text"}, {"name": "qty", "type": "integer"},
            {"name": "summary", "type": "text", "calculated": "#{qty} x #{item}"}]},
        {"name": "main", "type": "nestedFields", "nestedFields": [
            {"name": "item", "type": "text"}, {"name": "summary", "type": "text", "calculated": "main #{item}"}]}]}
    assert api.put("/metadata/entities/orders", json=lines).status_code == 200
    order = create(api, "orders", {"code": "O1", "lines": [{"item": "nut", "qty": 2}], "main": {"item": "bolt"}})
    assert order["lines"][0]["summary"] == "2 x nut" and order["main"]["summary"] == "main bolt"
    read = api.get(f"/data/orders/{order['id']}").get_json()
    read["lines"][0]["qty"] = 3
    saved = api.put(f"/data/orders/{order['id']}", json=read)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["lines"][0]["summary"] == "3 x nut"
    partial = api.put(f"/data/orders/{order['id']}", json={"lines": [{"id": read["lines"][0]["id"], "qty": 4}]})
    assert partial.status_code == 200, partial.get_json()
    assert partial.get_json()["lines"][0]["summary"] == "4 x nut"
    read = partial.get_json()
    read["lines"][0]["summary"] = "changed"
    refused = api.put(f"/data/orders/{order['id']}", json=read)
    assert refused.status_code == 400
    assert [(e["field"], e["code"]) for e in refused.get_json()["errors"]] == [("lines[0].summary", "readOnly")]
    added = api.put(f"/data/orders/{order['id']}", json={"lines": [{"item": "new", "qty": 1, "summary": "x"}]})
    assert added.status_code == 400  # a new item has no stored value to match
