"""Seed "App data" → "Basic operations" and "Optimistic locking", sample by sample."""

from __future__ import annotations

import time

from tests.conftest import Api, as_listed
from tests.seed.samples import (
    BLOGPAD,
    BROWSEZOOM,
    OBJECT_ID,
    RECORD_KEYS,
    TEST_1,
    assert_company,
    assert_error,
    assert_job_link,
    body,
    create,
    wait_for_job,
)

MISSING_ID = "57fd2d65e4b0ce322b0c8665"


# --- Read one record ------------------------------------------------------------------------------

def test_fetches_one_company_record(api: Api):
    created = create(api, "companies", BROWSEZOOM)
    response = api.get(f"/data/companies/{created['id']}", headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    record = response.get_json()
    assert_company(record, BROWSEZOOM)
    assert record == created


def test_read_one_with_fields_keeps_system_fields(api: Api):
    created = create(api, "companies", BROWSEZOOM)
    record = api.get(f"/data/companies/{created['id']}?_fields=name,contactInformation.email").get_json()
    assert list(record) == ["id", "version", "label", "name", "contactInformation"]
    assert record["contactInformation"] == {"id": created["contactInformation"]["id"], "label": "Contact Information",
                                            "email": "jwoodsrq@spotify.com"}


def test_read_one_plain_text_format(api: Api):
    created = create(api, "companies", BROWSEZOOM)
    record = api.get(f"/data/companies/{created['id']}?_format=plainText").get_json()
    assert record["numberOfEmployees"] == "95" and record["isCustomer"] in ("false", "No", "no", "False")
    assert all(isinstance(v, str) for k, v in record.items() if k not in ("version",))


def test_read_one_with_relationships_to_fetch(api: Api):
    company = create(api, "companies", BROWSEZOOM)
    contact = create(api, "contacts", {"firstName": "Ada", "lastName": "L", "company": {"id": company["id"]}})
    assert contact["company"] == {"id": company["id"], "label": "Browsezoom"}
    fetched = api.get(f"/data/contacts/{contact['id']}?_relationshipsToFetch=company").get_json()
    assert fetched["company"]["name"] == "Browsezoom" and fetched["company"]["numberOfEmployees"] == 95


def test_read_one_errors(api: Api):
    assert_error(api.get(f"/data/companies/{MISSING_ID}"), 404)
    assert_error(api.get("/data/companies/not-an-id"), 404)
    assert_error(api.get(f"/data/ghosts/{MISSING_ID}"), 404)
    assert_error(Api(api.client, None).get(f"/data/companies/{MISSING_ID}"), 401)


# --- List records ---------------------------------------------------------------------------------

def test_fetches_fields_name_and_type_of_two_companies_in_pending_status(api: Api):
    create(api, "companies", BROWSEZOOM)
    create(api, "companies", BLOGPAD)
    create(api, "companies", body(BROWSEZOOM, name="Third", type="c"))
    create(api, "companies", body(BROWSEZOOM, name="Active one", state="active"))
    response = api.get("/data/companies?state=pending&_fields=name,type&_size=2")
    assert response.status_code == 200
    page = response.get_json()
    assert list(page) == ["total", "offset", "items"]
    assert page["total"] == 3 and len(page["items"]) == 2
    for item in page["items"]:
        assert list(item) == ["id", "version", "label", "name", "type"]
        assert item["label"] == item["name"]
    assert [(i["name"], i["type"]) for i in page["items"]] == [("Third", "c"), ("Blogpad", "b")]  # newest first
    assert page["offset"] == page["items"][-1]["id"]
    rest = api.get(f"/data/companies?state=pending&_fields=name,type&_size=2&_offset={page['offset']}").get_json()
    assert rest["total"] == 3 and [i["name"] for i in rest["items"]] == ["Browsezoom"]


def test_list_errors(api: Api):
    assert_error(api.get("/data/companies?notAField=1"), 400)
    assert_error(api.get("/data/companies?numberOfEmployees=many"), 400)
    assert_error(api.get("/data/ghosts"), 404)
    assert_error(Api(api.client, None).get("/data/companies"), 401)


# --- Create record --------------------------------------------------------------------------------

def test_creates_a_new_company(api: Api):
    before = int(time.time() * 1000)
    response = api.post("/data/companies", json=TEST_1,
                        headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert response.status_code == 200
    record = response.get_json()
    assert_company(record, TEST_1)
    assert record["version"] == 0 and record["label"] == "Test 1"
    assert record["lastUpdate"] >= before - 1000  # a calculated field the body did not send
    assert api.get(f"/data/companies/{record['id']}").get_json() == record


def test_create_validation_errors(api: Api):
    response = api.post("/data/companies", json=body(TEST_1, state="bogus", numberOfEmployees="many"))
    payload = assert_error(response, 400)
    fields = {e["field"] for e in payload["errors"]}
    assert fields == {"state", "numberOfEmployees"}
    assert all({"field", "code", "message"} <= set(e) for e in payload["errors"])
    missing = assert_error(api.post("/data/companies", json={"type": "a"}), 400)
    assert [e["field"] for e in missing["errors"]] == ["name"] and missing["errors"][0]["code"] == "required"
    unknown = assert_error(api.post("/data/companies", json={"name": "x", "color": "red"}), 400)
    assert unknown["errors"][0]["field"] == "color"
    assert_error(api.post("/data/companies", data="{not json", content_type="application/json"), 400)
    assert_error(api.post("/data/ghosts", json={"name": "x"}), 404)
    assert api.get("/data/companies").get_json()["total"] == 0  # nothing half-written


# --- Update record --------------------------------------------------------------------------------

def test_updates_a_few_fields_in_a_company_record(api: Api):
    created = create(api, "companies", TEST_1)
    changes = {"version": created["version"], "state": "active", "type": "b", "numberOfEmployees": 100}
    response = api.put(f"/data/companies/{created['id']}", json=changes)
    assert response.status_code == 200
    record = response.get_json()
    assert_company(record, body(TEST_1, state="active", type="b", numberOfEmployees=100))
    assert record["version"] == created["version"] + 1
    assert record["contactInformation"] == created["contactInformation"]
    assert record["addresses"] == created["addresses"]
    assert api.get(f"/data/companies/{created['id']}").get_json() == record


def test_update_nested_items_by_id_and_ignore_body_id(api: Api):
    created = create(api, "companies", body(TEST_1, addresses=[
        {"addressLine": "1 A St", "zipCode": "10001", "city": "New York", "state": "NY"},
        {"addressLine": "2 B St", "zipCode": "89145", "city": "Las Vegas", "state": "NV"}]))
    first, second = created["addresses"]
    record = api.put(f"/data/companies/{created['id']}", json={
        "id": MISSING_ID, "version": 0,
        "addresses": [{"id": first["id"], "city": "Albany"}, {"id": second["id"], "zipCode": "89101"}]}).get_json()
    assert record["id"] == created["id"]
    assert record["addresses"] == [{**first, "city": "Albany"}, {**second, "zipCode": "89101", "label": "NV - 89101"}]


def test_update_clears_with_null_and_without_version_always_writes(api: Api):
    created = create(api, "companies", TEST_1)
    api.put(f"/data/companies/{created['id']}", json={"notes": "someone else"})
    record = api.put(f"/data/companies/{created['id']}", json={"taxId": None, "rating": "4.0"}).get_json()
    assert record["taxId"] is None and record["rating"] == "4.0" and record["notes"] == "someone else"
    assert record["version"] == 2


def test_a_record_read_and_sent_back_with_a_change_updates_it(api: Api):
    """The body "is a record in JSON format based on the entity structure": the record as GET answers it, read-only
    values (``lastUpdate``, a modified date) included, with one field changed and its ``version``."""
    created = create(api, "companies", TEST_1)
    read = api.get(f"/data/companies/{created['id']}").get_json()
    response = api.put(f"/data/companies/{created['id']}", json={**read, "numberOfEmployees": 120})
    assert response.status_code == 200, response.get_json()
    record = response.get_json()
    assert record["version"] == 1 and record["numberOfEmployees"] == 120
    assert record["addresses"] == created["addresses"] and record["contactInformation"] == created["contactInformation"]
    assert_error(api.put(f"/data/companies/{created['id']}", json=read), 409)


def test_update_errors(api: Api):
    created = create(api, "companies", TEST_1)
    payload = assert_error(api.put(f"/data/companies/{created['id']}", json={"type": "z"}), 400)
    assert payload["errors"][0]["field"] == "type"
    assert_error(api.put(f"/data/companies/{MISSING_ID}", json={"type": "a"}), 404)
    assert_error(api.put(f"/data/ghosts/{MISSING_ID}", json={"type": "a"}), 404)
    # a segment that is no record id and no action: the message says both
    for segment in ("not-an-id", f"{created['id']},{MISSING_ID}"):
        message = assert_error(api.put(f"/data/companies/{segment}", json={"type": "a"}), 404)["message"]
        assert message == f"'{segment}' is neither a record id nor an action of entity 'companies'"
    assert api.get(f"/data/companies/{created['id']}").get_json() == created


# --- Optimistic locking ---------------------------------------------------------------------------

def test_optimistic_locking(api: Api):
    created = create(api, "companies", TEST_1)
    first = api.put(f"/data/companies/{created['id']}", json={"version": 0, "notes": "first"})
    assert first.status_code == 200 and first.get_json()["version"] == 1
    stale = api.put(f"/data/companies/{created['id']}", json={"version": 0, "notes": "second"})
    assert_error(stale, 409)
    assert api.get(f"/data/companies/{created['id']}").get_json()["notes"] == "first"
    forced = api.put(f"/data/companies/{created['id']}", json={"notes": "second"})
    assert forced.status_code == 200 and forced.get_json()["version"] == 2


# --- Delete one record ----------------------------------------------------------------------------

def test_deletes_one_company(api: Api):
    created = create(api, "companies", TEST_1)
    updated = api.put(f"/data/companies/{created['id']}", json={"state": "active", "type": "b"}).get_json()
    response = api.delete(f"/data/companies/{created['id']}")
    assert response.status_code == 200
    assert response.get_json() == updated
    assert_error(api.get(f"/data/companies/{created['id']}"), 404)
    assert_error(api.delete(f"/data/companies/{created['id']}"), 404)


def test_deletes_one_company_in_the_background(api: Api):
    created = create(api, "companies", TEST_1)
    job_id = assert_job_link(api.delete(f"/data/companies/{created['id']}?_async=true"))
    job = wait_for_job(api, job_id)
    assert job["type"] == "DELETE_RECORDS" and job["hasErrors"] is False and job["recordsProcessed"] == 1
    assert_error(api.get(f"/data/companies/{created['id']}"), 404)


# --- Delete many records --------------------------------------------------------------------------

def test_deletes_two_companies(api: Api):
    a = create(api, "companies", BROWSEZOOM)
    b = create(api, "companies", BLOGPAD)
    keep = create(api, "companies", TEST_1)
    response = api.delete(f"/data/companies/{a['id']},{b['id']}")
    assert response.status_code == 200
    assert response.get_json() == {a["id"]: {"status": "ok", "response": as_listed(a)},
                                   b["id"]: {"status": "ok", "response": as_listed(b)}}
    assert [i["id"] for i in api.get("/data/companies").get_json()["items"]] == [keep["id"]]


def test_delete_many_reports_a_missing_record_and_deletes_the_others(api: Api):
    a = create(api, "companies", BROWSEZOOM)
    result = api.delete(f"/data/companies/{a['id']},{MISSING_ID}").get_json()
    assert result[a["id"]] == {"status": "ok", "response": as_listed(a)}
    assert set(result[MISSING_ID]) == {"status", "errorMessage"} and result[MISSING_ID]["status"] == "error"
    assert_error(api.delete(f"/data/ghosts/{a['id']},{MISSING_ID}"), 404)


def test_deletes_two_companies_in_the_background(api: Api):
    a = create(api, "companies", BROWSEZOOM)
    b = create(api, "companies", BLOGPAD)
    job_id = assert_job_link(api.delete(f"/data/companies/{a['id']},{b['id']}?_async=true"))
    job = wait_for_job(api, job_id)
    assert job["recordsProcessed"] == 2 and set(job["results"]["results"]) == {a["id"], b["id"]}
    assert api.get("/data/companies").get_json()["total"] == 0


# --- Delete records over query --------------------------------------------------------------------

def test_deletes_companies_with_type_a(api: Api):
    a = create(api, "companies", BROWSEZOOM)
    b = create(api, "companies", BLOGPAD)
    response = api.delete("/data/companies?type=a")
    assert response.status_code == 200
    assert response.get_json() == {a["id"]: {"status": "ok", "response": as_listed(a)}}
    assert [i["id"] for i in api.get("/data/companies").get_json()["items"]] == [b["id"]]
    assert api.delete("/data/companies?type=c").get_json() == {}
    assert_error(api.delete("/data/companies?bogus=1"), 400)
    assert_error(api.delete("/data/ghosts?type=a"), 404)


def test_deletes_companies_with_type_a_in_the_background(api: Api):
    create(api, "companies", BROWSEZOOM)
    create(api, "companies", body(BROWSEZOOM, name="Another a"))
    b = create(api, "companies", BLOGPAD)
    job_id = assert_job_link(api.delete("/data/companies?_async=true&type=a"))
    job = wait_for_job(api, job_id)
    assert job["type"] == "DELETE_RECORDS" and job["recordsProcessed"] == 2 and job["hasErrors"] is False
    assert [i["id"] for i in api.get("/data/companies").get_json()["items"]] == [b["id"]]


def test_record_keys_are_those_of_the_reference(api: Api):
    record = create(api, "companies", {"name": "Bare"})
    assert list(record) == RECORD_KEYS and OBJECT_ID.match(record["id"])
    assert record["state"] == "active" and record["isCustomer"] is False and record["addresses"] == []


def test_nested_items_list_their_inner_fields_in_definition_order(api: Api):
    """Items of a multi-valued group (and a single group) read like the seed's samples whatever order the body
    gave: ``id``, ``label``, then the inner fields as the definition lists them, unset ones null."""
    created = create(api, "companies", body(TEST_1, addresses=[{"state": "TX", "zipCode": "1"}],
                                            contactInformation={"email": "a@example.com"}))
    for record in (created, api.get(f"/data/companies/{created['id']}").get_json()):
        assert list(record["addresses"][0]) == ["id", "label", "addressLine", "zipCode", "city", "state"]
        assert record["addresses"][0]["city"] is None and record["addresses"][0]["state"] == "TX"
        assert list(record["contactInformation"]) == ["id", "label", "phoneNumber", "email"]
