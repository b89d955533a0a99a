"""Seed "Actions": over one record, over many records and over a query; sync, custom responses, jobs."""

from __future__ import annotations

import pytest

from tests.conftest import Api, as_listed
from tests.seed.samples import BLOGPAD, BROWSEZOOM, assert_error, assert_job_link, create, wait_for_job

PARAMS = {"param1": "a", "param2": "b"}
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
MISSING_ID = "57fd2d65e4b0ce322b0c8665"


@pytest.fixture
def pair(api: Api) -> tuple[dict, dict]:
    return create(api, "companies", BROWSEZOOM), create(api, "companies", BLOGPAD)


def _performed(api: Api, record_id: str) -> list[str]:
    items = api.get(f"/data/companies/{record_id}/history").get_json()["items"]
    return [i["contextPath"] for i in items if i["eventType"] == "USER_ACTION_PERFORMED"]


def _job_logs(api: Api, job_id: str) -> list[str]:
    return [i["message"] for i in api.get(f"/status/jobs/{job_id}/logs").get_json()["items"]]


# --- Execute action over one record ---------------------------------------------------------------

def test_simple_action_over_a_company_record_no_custom_response(api: Api, pair):
    browsezoom, _ = pair
    response = api.put(f"/data/companies/{browsezoom['id']}/logSomething", json=PARAMS, headers=HEADERS)
    assert response.status_code == 200
    assert response.get_json() == browsezoom  # the record, as GET returns it
    assert _performed(api, browsezoom["id"]) == ["entities.companies.actions.logSomething"]


def test_action_without_body_and_declarative_update(api: Api):
    record = create(api, "companies", {**BROWSEZOOM, "state": "inactive"})
    response = api.put(f"/data/companies/{record['id']}/activate")
    assert response.status_code == 200
    updated = response.get_json()
    assert updated["state"] == "active" and updated["version"] == record["version"] + 1
    assert updated == api.get(f"/data/companies/{record['id']}").get_json()


def test_simple_action_over_a_company_record_in_the_background(api: Api, pair):
    browsezoom, _ = pair
    job_id = assert_job_link(api.put(f"/data/companies/{browsezoom['id']}/logSomething?_async=true", json=PARAMS))
    job = wait_for_job(api, job_id)
    assert job["type"] == "EXECUTE_ACTION" and job["hasErrors"] is False and job["recordsProcessed"] == 1
    assert job["data"]["params"] == PARAMS
    assert job["results"]["results"][browsezoom["id"]] == {"status": "ok", "response": as_listed(browsezoom)}
    assert any("logSomething on Browsezoom: a b" in m for m in _job_logs(api, job_id))


def test_many_records_action_over_one_record_returns_a_custom_response(api: Api, pair):
    browsezoom, _ = pair
    response = api.put(f"/data/companies/{browsezoom['id']}/countEmployees", headers=HEADERS)
    assert response.status_code == 200 and response.get_json() == {"numberOfEmployees": 95}


def test_action_over_one_record_errors(api: Api, pair):
    browsezoom, _ = pair
    assert_error(api.put(f"/data/companies/{browsezoom['id']}/activate"), 400)  # precondition: state inactive
    payload = assert_error(api.put(f"/data/companies/{browsezoom['id']}/deactivate", json={}), 400)
    assert payload["errors"][0]["field"] == "reason"
    assert_error(api.put(f"/data/companies/{browsezoom['id']}/logSomething", json={"bogus": 1}), 400)
    assert_error(api.put(f"/data/companies/{browsezoom['id']}/noSuchAction"), 404)
    assert_error(api.put(f"/data/companies/{MISSING_ID}/logSomething"), 404)
    assert_error(api.put(f"/data/ghosts/{MISSING_ID}/logSomething"), 404)
    assert api.get(f"/data/companies/{browsezoom['id']}").get_json() == browsezoom


# --- Execute action over many records -------------------------------------------------------------

def test_simple_action_over_two_company_records_no_custom_response(api: Api, pair):
    a, b = pair
    response = api.put(f"/data/companies/{a['id']},{b['id']}/logSomething", json=PARAMS, headers=HEADERS)
    assert response.status_code == 200
    assert response.get_json() == {a["id"]: {"status": "ok", "response": as_listed(a)},
                                   b["id"]: {"status": "ok", "response": as_listed(b)}}


def test_simple_action_over_two_company_records_with_custom_response(api: Api, pair):
    a, b = pair
    response = api.put(f"/data/companies/{a['id']},{b['id']}/customResponse", headers=HEADERS)
    assert response.status_code == 200
    assert response.get_json() == {a["id"]: {"status": "ok", "response": "This is a custom response"},
                                   b["id"]: {"status": "ok", "response": "This is a custom response"}}


def test_simple_action_over_two_company_records_in_the_background(api: Api, pair):
    a, b = pair
    job_id = assert_job_link(api.put(f"/data/companies/{a['id']},{b['id']}/logSomething?_async=true", json=PARAMS))
    job = wait_for_job(api, job_id)
    assert job["recordsCount"] == job["recordsProcessed"] == 2
    assert job["results"]["results"] == {a["id"]: {"status": "ok", "response": as_listed(a)},
                                         b["id"]: {"status": "ok", "response": as_listed(b)}}


def test_many_records_action_over_two_records_returns_a_custom_response(api: Api, pair):
    a, b = pair
    response = api.put(f"/data/companies/{a['id']},{b['id']}/countEmployees", headers=HEADERS)
    assert response.status_code == 200 and response.get_json() == {"numberOfEmployees": 629}


def test_action_over_many_records_reports_each_failure(api: Api, pair):
    a, _ = pair
    result = api.put(f"/data/companies/{a['id']},{MISSING_ID}/logSomething", json=PARAMS).get_json()
    assert result[a["id"]] == {"status": "ok", "response": as_listed(a)}
    assert result[MISSING_ID]["status"] == "error" and result[MISSING_ID]["errorMessage"]
    assert_error(api.put(f"/data/companies/{a['id']},{MISSING_ID}/noSuchAction"), 404)
    assert_error(api.put(f"/data/ghosts/{a['id']},{MISSING_ID}/logSomething"), 404)


# --- Execute action over query --------------------------------------------------------------------

def test_simple_action_over_query_no_custom_response(api: Api, pair):
    a, b = pair
    create(api, "companies", {"name": "Not selected"})
    response = api.put(f"/data/companies/logSomething?id={a['id']},{b['id']}", json=PARAMS, headers=HEADERS)
    assert response.status_code == 200
    assert response.get_json() == {a["id"]: {"status": "ok", "response": as_listed(a)},
                                   b["id"]: {"status": "ok", "response": as_listed(b)}}


def test_simple_action_over_query_with_custom_response(api: Api, pair):
    a, b = pair
    response = api.put(f"/data/companies/customResponse?id={a['id']},{b['id']}", headers=HEADERS)
    assert response.get_json() == {a["id"]: {"status": "ok", "response": "This is a custom response"},
                                   b["id"]: {"status": "ok", "response": "This is a custom response"}}


def test_simple_action_over_query_in_the_background(api: Api, pair):
    a, b = pair
    job_id = assert_job_link(api.put(f"/data/companies/logSomething?_async=true&id={a['id']},{b['id']}",
                                     json=PARAMS))
    job = wait_for_job(api, job_id)
    assert set(job["results"]["results"]) == {a["id"], b["id"]} and job["recordsProcessed"] == 2


def test_many_records_action_over_query_returns_a_custom_response(api: Api, pair):
    a, b = pair
    create(api, "companies", {"name": "Not selected", "numberOfEmployees": 1000})
    response = api.put(f"/data/companies/countEmployees?id={a['id']},{b['id']}", headers=HEADERS)
    assert response.status_code == 200 and response.get_json() == {"numberOfEmployees": 629}
    assert api.put("/data/companies/countEmployees?type=b").get_json() == {"numberOfEmployees": 534}


def test_action_over_query_errors(api: Api, pair):
    assert_error(api.put("/data/companies/noSuchAction?type=a"), 404)
    assert_error(api.put("/data/ghosts/logSomething?type=a"), 404)
    assert_error(api.put("/data/companies/logSomething?noSuchField=1"), 400)
