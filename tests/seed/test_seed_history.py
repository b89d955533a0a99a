"""Seed "History": for one record and in an entity."""

from __future__ import annotations

import time

from bson import ObjectId

from tests.conftest import ADMIN_EMAIL, Api
from tests.seed.samples import HISTORY_KEYS, OBJECT_ID, assert_error, create


def _test1(api: Api) -> dict:
    """The sample's story: test1 created with type a, then changed to type b."""
    record = create(api, "companies", {"name": "test1", "state": "active", "type": "a"})
    assert api.put(f"/data/companies/{record['id']}", json={"type": "b"}).status_code == 200
    return record


def test_gets_the_history_of_a_company_record(api: Api):
    before = int(time.time() * 1000)
    record = _test1(api)
    response = api.get(f"/data/companies/{record['id']}/history", headers={"Accept": "application/json"})
    assert response.status_code == 200
    page = response.get_json()
    assert list(page) == ["total", "offset", "items"] and page["total"] == 2
    changed, created = page["items"]
    assert page["offset"] == created["id"]  # the last log returned
    entity_id = api.get("/metadata/entities/companies").get_json()["id"]
    for item in (changed, created):
        assert set(item) == HISTORY_KEYS and OBJECT_ID.match(item["id"])
        assert item["entityId"] == entity_id and item["entityName"] == "companies"
        assert isinstance(item["entityVersion"], int)
        assert item["recordId"] == record["id"] and item["recordName"] == "test1"
        assert item["user"] == ADMIN_EMAIL and item["timestamp"] >= before - 1000
        assert isinstance(item["ip"], str) and item["eventCategory"] == "USER"
        assert item["recordDeleted"] is None and item["deletionDate"] is None
    assert changed["timestamp"] >= created["timestamp"]
    assert changed["eventType"] == "USER_RECORD_CHANGED" and changed["contextPath"] == "entities.companies.update"
    # only the modified fields, as in the sample: not lastUpdate, the date every write sets
    assert changed["oldRecord"] == {"type": {"json": "a", "text": "{type:a}"}}
    assert changed["newRecord"] == {"type": {"json": "b", "text": "{type:b}"}}
    assert created["eventType"] == "USER_RECORD_CREATED" and created["contextPath"] == "entities.companies.create"
    assert created["oldRecord"] == {}
    new = created["newRecord"]
    assert {k: new[k] for k in ("name", "state", "type", "numberOfEmployees", "isCustomer", "homepage", "taxId",
                                "rating", "notes", "lastMeeting")} == {
        "name": "test1", "state": "active", "type": "a", "numberOfEmployees": None, "isCustomer": False,
        "homepage": None, "taxId": None, "rating": None, "notes": None, "lastMeeting": None}
    assert isinstance(new["lastUpdate"], int)


def test_record_history_size_offset_and_deleted_records(api: Api):
    record = _test1(api)
    first = api.get(f"/data/companies/{record['id']}/history?_size=1").get_json()
    assert first["total"] == 2 and [i["eventType"] for i in first["items"]] == ["USER_RECORD_CHANGED"]
    rest = api.get(f"/data/companies/{record['id']}/history?_size=1&_offset={first['offset']}").get_json()
    assert [i["eventType"] for i in rest["items"]] == ["USER_RECORD_CREATED"]
    api.delete(f"/data/companies/{record['id']}")
    after = api.get(f"/data/companies/{record['id']}/history").get_json()  # still readable once deleted
    assert after["total"] == 3 and after["items"][0]["eventType"] == "USER_RECORD_DELETED"
    assert after["items"][0]["recordDeleted"] is True and isinstance(after["items"][0]["deletionDate"], int)


def test_record_history_errors(api: Api, anon: Api):
    assert_error(api.get("/data/companies/not-an-id/history"), 400)
    assert_error(api.get(f"/data/ghosts/{ObjectId()}/history"), 404)
    unknown = api.get(f"/data/companies/{ObjectId()}/history")  # could be a deleted record: not a 404
    assert unknown.status_code == 200 and unknown.get_json()["total"] == 0
    assert_error(anon.get(f"/data/companies/{ObjectId()}/history"), 401)
    created = create(api, "companies", {"name": "Methods"})
    for method in ("PUT", "POST", "DELETE"):  # the record's history is read with GET only, as OPTIONS says
        refused = api.request(method, f"/data/companies/{created['id']}/history", json={})
        assert_error(refused, 405)
        assert "GET" in refused.headers["Allow"].split(", ")


def test_gets_the_last_two_history_logs_in_entity_companies(api: Api):
    _test1(api)
    test2 = create(api, "companies", {"name": "test2", "state": "active", "type": "c"})
    response = api.get("/data/companies/history?_size=2")
    assert response.status_code == 200
    page = response.get_json()
    assert list(page) == ["total", "offset", "items"] and page["total"] == 3
    newest, second = page["items"]
    assert set(newest) == HISTORY_KEYS and set(second) == HISTORY_KEYS
    assert (newest["recordName"], newest["eventType"]) == ("test2", "USER_RECORD_CREATED")
    assert newest["recordId"] == test2["id"] and newest["newRecord"]["type"] == "c"
    assert (second["recordName"], second["eventType"]) == ("test1", "USER_RECORD_CHANGED")
    assert page["offset"] == second["id"]
    rest = api.get(f"/data/companies/history?_size=2&_offset={page['offset']}").get_json()
    assert rest["total"] == 3 and [i["eventType"] for i in rest["items"]] == ["USER_RECORD_CREATED"]


def test_entity_history_filters(api: Api):
    record = _test1(api)
    created = api.get("/data/companies/history?eventTypes=USER_RECORD_CREATED").get_json()
    assert created["total"] == 1 and created["items"][0]["recordId"] == record["id"]
    both = api.get("/data/companies/history?eventTypes=USER_RECORD_CREATED,USER_RECORD_CHANGED").get_json()
    assert both["total"] == 2
    assert api.get("/data/companies/history?eventType=USER_RECORD_CHANGED").get_json()["total"] == 1
    for empty in ("", ",,,", " , "):  # no type named: every type, as without the parameter
        assert api.get(f"/data/companies/history?eventTypes={empty}").get_json()["total"] == 2
    stamp = both["items"][0]["timestamp"]
    assert api.get(f"/data/companies/history?from={stamp + 60_000}").get_json()["total"] == 0
    assert api.get(f"/data/companies/history?to={stamp + 60_000}").get_json()["total"] == 2
    assert api.get(f"/data/companies/history?from={stamp - 60_000}&to={stamp + 60_000}").get_json()["total"] == 2


def test_entity_history_errors(api: Api):
    assert_error(api.get("/data/companies/history?eventTypes=NOT_AN_EVENT"), 400)
    assert_error(api.get("/data/companies/history?from=yesterday"), 400)
    assert_error(api.get("/data/companies/history?_offset=nope"), 400)
    assert_error(api.get("/data/ghosts/history"), 404)
