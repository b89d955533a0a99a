"""Actions and deletes over a query act on exactly the records ``GET /data/{entity}`` returns with the same
parameters: ``_size``, ``_offset``, ``_sortField`` and ``_sortType`` included (every match when the query does not
page)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, company, create, login, make_app, wait_for_job

CUSTOM = "This is a custom response"


@pytest.fixture
def companies(api: Api) -> list[dict[str, Any]]:
    """Four type b companies (names and sizes out of creation order) and one of type a."""
    made = [create(api, "companies", company(name=name, type="b", numberOfEmployees=n))
            for name, n in (("Delta", 40), ("Alpha", 10), ("Charlie", 30), ("Bravo", 20))]
    return [*made, create(api, "companies", company(name="Other", type="a", numberOfEmployees=1000))]


def _listed(api: Api, query: str) -> list[str]:
    response = api.get(f"/data/companies?{query}")
    assert response.status_code == 200, response.get_json()
    return [i["id"] for i in response.get_json()["items"]]


@pytest.mark.parametrize("query", [
    "type=b&_size=1",
    "type=b&_size=2&_sortField=name&_sortType=asc",
    "type=b&_size=3&_sortField=numberOfEmployees",
    "type=b&_size=2&_offset=1&_sortField=name&_sortType=asc",
    "type=b&_offset=2",
    "_size=0",
])
def test_a_one_record_action_runs_on_the_page_a_list_returns(api: Api, companies, query: str):
    response = api.put(f"/data/companies/customResponse?{query}")
    assert response.status_code == 200, response.get_json()
    listed = _listed(api, query)
    assert list(response.get_json()) == listed  # those records, in the list's order
    assert all(v == {"status": "ok", "response": CUSTOM} for v in response.get_json().values())


def test_a_record_id_offset_continues_after_that_record(api: Api, companies):
    first = api.get("/data/companies?type=b&_size=2&_sortField=name&_sortType=asc").get_json()
    query = f"type=b&_size=2&_sortField=name&_sortType=asc&_offset={first['offset']}"
    ran = api.put(f"/data/companies/logSomething?{query}").get_json()
    assert list(ran) == _listed(api, query) == [companies[2]["id"], companies[0]["id"]]  # Charlie, Delta


def test_without_paging_every_match_runs_in_the_lists_order(api: Api, companies):
    ran = api.put("/data/companies/customResponse?type=b&_sortField=name&_sortType=asc").get_json()
    assert list(ran) == [companies[i]["id"] for i in (1, 3, 2, 0)]  # all four, by name
    assert len(api.put("/data/companies/customResponse?type=b").get_json()) == 4


def test_a_many_records_action_sees_only_the_page(api: Api, companies):
    top_two = api.put("/data/companies/countEmployees?type=b&_size=2&_sortField=numberOfEmployees&_sortType=desc")
    assert top_two.get_json() == {"numberOfEmployees": 40 + 30}
    assert api.put("/data/companies/countEmployees?type=b").get_json() == {"numberOfEmployees": 100}
    marked = api.put("/data/companies/markAsCustomers?_size=1&_sortField=name&_sortType=asc").get_json()
    assert marked == {"recordsUpdated": 1}
    customers = api.get("/data/companies?isCustomer=true").get_json()["items"]
    assert [c["name"] for c in customers] == ["Alpha"]


def test_a_background_run_acts_on_the_same_page(api: Api, companies):
    query = "type=b&_size=2&_sortField=name&_sortType=desc"
    listed = _listed(api, query)
    job = wait_for_job(api, api.put(f"/data/companies/customResponse?{query}&_async=true").get_json()["jobId"])
    assert job["status"] == "FINISHED" and job["recordsProcessed"] == 2, job
    assert sorted(job["results"]["results"]) == sorted(listed)
    assert job["data"]["ids"] == listed and job["data"]["query"]["_size"] == ["2"]
    many = wait_for_job(api, api.put(
        "/data/companies/countEmployees?_size=2&_sortField=numberOfEmployees&_async=true").get_json()["jobId"])
    assert many["results"]["results"]["response"] == {"numberOfEmployees": 1000 + 40}
    for query in ("type=b", "type=b&_size=&_offset="):  # empty parameters count as absent: every match
        every = wait_for_job(api, api.put(f"/data/companies/customResponse?{query}&_async=true").get_json()["jobId"])
        assert len(every["results"]["results"]) == 4 and "ids" not in every["data"]


def test_paging_is_bounded_as_a_lists_is(api: Api, companies):
    assert api.put("/data/companies/customResponse?_size=1001").status_code == 400
    assert api.put("/data/companies/customResponse?_size=1001&_async=true").status_code == 400
    assert api.put("/data/companies/customResponse?_sortField=nope").status_code == 400
    assert api.get("/status/jobs").get_json()["total"] == 0


def test_the_sync_limit_counts_the_page_not_every_match():
    api = login(make_app(sync_max_records=3))
    for i in range(5):
        create(api, "companies", company(name=f"n{i}"))
    assert len(api.put("/data/companies/customResponse?_size=3").get_json()) == 3
    too_many = api.put("/data/companies/customResponse?_size=4")
    assert too_many.status_code == 400 and "_async" in too_many.get_json()["message"]
    assert api.put("/data/companies/customResponse").status_code == 400  # every match: five
    job = wait_for_job(api, api.put("/data/companies/customResponse?_size=4&_async=true").get_json()["jobId"])
    assert job["recordsProcessed"] == 4 and len(job["results"]["results"]) == 4


# --- deletes over a query --------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "type=b&_size=2&_sortField=name&_sortType=asc",
    "type=b&_size=1&_offset=1&_sortField=numberOfEmployees&_sortType=desc",
    "type=b&_offset=3",
])
def test_a_delete_over_a_query_deletes_the_page_a_list_returns(api: Api, companies, query: str):
    listed = _listed(api, query)
    response = api.delete(f"/data/companies?{query}")
    assert response.status_code == 200, response.get_json()
    assert list(response.get_json()) == listed
    assert all(v["status"] == "ok" and v["response"]["id"] == k for k, v in response.get_json().items())
    left = _listed(api, "type=b&_size=100")
    assert len(left) == 4 - len(listed) and not set(left) & set(listed)


def test_a_delete_over_a_query_without_paging_deletes_every_match(api: Api, companies):
    response = api.delete("/data/companies?type=b&_size=&_offset=")  # empty parameters count as absent
    assert sorted(response.get_json()) == sorted(c["id"] for c in companies[:4])
    assert _listed(api, "_size=100") == [companies[4]["id"]]


def test_a_background_delete_of_a_page_deletes_the_page_resolved_at_the_request(api: Api, companies):
    query = "type=b&_size=2&_sortField=numberOfEmployees&_sortType=desc"
    listed = _listed(api, query)
    assert listed == [companies[0]["id"], companies[2]["id"]]  # Delta, Charlie
    job = wait_for_job(api, api.delete(f"/data/companies?{query}&_async=true").get_json()["jobId"])
    assert job["status"] == "FINISHED" and job["recordsProcessed"] == 2, job
    assert sorted(job["results"]["results"]) == sorted(listed) and sorted(job["data"]["ids"]) == sorted(listed)
    assert sorted(_listed(api, "type=b")) == sorted([companies[1]["id"], companies[3]["id"]])


def test_a_delete_over_a_query_is_bounded_as_a_list_is(api: Api, companies):
    assert api.delete("/data/companies?_size=1001").status_code == 400
    assert api.delete("/data/companies?_size=1001&_async=true").status_code == 400
    assert api.delete("/data/companies?_sortField=nope").status_code == 400
    assert len(_listed(api, "_size=100")) == 5
    small = login(make_app(sync_max_records=3))
    for i in range(5):
        create(small, "companies", company(name=f"n{i}"))
    assert len(small.delete("/data/companies?_size=3").get_json()) == 3
    too_many = small.delete("/data/companies")  # every match: two left... then five again
    assert too_many.status_code == 200 and len(too_many.get_json()) == 2
    for i in range(5):
        create(small, "companies", company(name=f"m{i}"))
    refused = small.delete("/data/companies?_size=4")
    assert refused.status_code == 400 and "use _async=true to delete them" in refused.get_json()["message"]
    assert small.delete("/data/companies").status_code == 400
