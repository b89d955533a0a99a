"""``DELETE /data/...?_async=true`` as DELETE_RECORDS jobs on the embedded runner."""

from __future__ import annotations

import threading

import pytest
from bson import ObjectId

import entities.records.delete_job as deletes
from jobs.model import RESULTS_MAX_BYTES
from tests.conftest import Api, as_listed, company, create
from tests.entities.test_permissions import add_group, user_in
from tests.jobs.conftest import wait_idle

ITEMS = {"name": "items", "label": "Items", "history": False,
         "fields": [{"name": "name", "label": "Name", "type": "text"}, {"name": "n", "label": "N", "type": "integer"}]}


def _job(api: Api, body: dict) -> dict:
    assert set(body) == {"jobLink", "jobId"} and body["jobLink"] == f"/api/status/jobs/{body['jobId']}"
    response = api.get(f"/status/jobs/{body['jobId']}")
    assert response.status_code == 200
    return response.get_json()


def _delete_history(app, record_id: str) -> list[dict]:
    col = app.extensions["runtime"].store.collection("sys.history")
    return list(col.find({"recordId": record_id, "eventType": "USER_RECORD_DELETED", "pending": {"$exists": False}}))


def _seed_items(app, n: int) -> list[ObjectId]:
    svc = app.extensions["runtime"]
    entity = svc.registry.get("items")
    docs = [svc.records.build_new(entity, {"name": f"item {i}", "n": i}) for i in range(n)]
    svc.records.collection(entity).insert_many(docs)
    return [d["_id"] for d in docs]


def test_async_delete_of_one_record_writes_history(app, api, jobs):
    record = create(api, "companies", company())
    rid = record["id"]
    response = api.delete(f"/data/companies/{rid}?_async=true")
    assert response.status_code == 200
    wait_idle(jobs)
    job = _job(api, response.get_json())
    assert job["type"] == "DELETE_RECORDS" and job["status"] == "FINISHED" and not job["hasErrors"]
    assert job["data"] == {"entityName": "companies", "ids": [rid]}
    assert job["results"] == {"results": {rid: {"status": "ok", "response": as_listed(record)}}}
    assert job["recordsCount"] == job["recordsProcessed"] == 1 and not job["lowPriority"]
    assert api.get(f"/data/companies/{rid}").status_code == 404
    [entry] = _delete_history(app, rid)
    assert entry["user"] == "admin@example.com" and entry["contextPath"] == "entities.companies.delete"


def test_async_is_another_name_of__async_on_a_delete_of_ids(app, api, jobs):
    a, b, c, d = (create(api, "companies", company(name=f"c{i}"))["id"] for i in range(4))
    one = api.delete(f"/data/companies/{a}?async=true")
    many = api.delete(f"/data/companies/{b},{c}?async=true&_async=true")
    wait_idle(jobs)
    for response, ids in ((one, [a]), (many, [b, c])):
        assert response.status_code == 200, response.get_json()
        job = _job(api, response.get_json())
        assert job["type"] == "DELETE_RECORDS" and job["status"] == "FINISHED" and job["data"]["ids"] == ids
    for query in ("async=true&_async=false", "async=false&_async=true", "async=maybe"):
        refused = api.delete(f"/data/companies/{d}?{query}")
        assert refused.status_code == 400, (query, refused.get_json())
        assert [e["field"] for e in refused.get_json()["errors"]] == ["async"], refused.get_json()
    assert api.get("/status/jobs").get_json()["total"] == 2
    assert api.delete(f"/data/companies/{d}?async=false").get_json()["id"] == d  # the record: deleted now
    assert api.get("/data/companies").get_json()["total"] == 0


def test_async_delete_of_many_ids_reports_missing_ones(app, api, jobs):
    records = [create(api, "companies", company(name=f"c{i}")) for i in range(3)]
    ids = [r["id"] for r in records]
    missing = str(ObjectId())
    response = api.delete(f"/data/companies/{','.join([*ids, missing])}?_async=true&_lowPriority=true")
    wait_idle(jobs)
    job = _job(api, response.get_json())
    assert job["status"] == "FINISHED" and job["hasErrors"] and job["lowPriority"]
    assert job["recordsCount"] == job["recordsProcessed"] == 4
    assert all(job["results"]["results"][r["id"]] == {"status": "ok", "response": as_listed(r)} for r in records)
    assert job["results"]["results"][missing]["status"] == "error"
    assert "does not exist" in job["results"]["results"][missing]["errorMessage"]
    assert all(len(_delete_history(app, i)) == 1 for i in ids)
    errors = api.get(f"/status/jobs/{job['id']}/logs?level=ERROR").get_json()["items"]
    assert [e["message"] for e in errors] == [f"Record {missing}: {job['results']['results'][missing]['errorMessage']}"]


def test_async_delete_over_a_query(app, api, jobs):
    a = [create(api, "companies", company(name=f"a{i}", type="a"))["id"] for i in range(3)]
    b = [create(api, "companies", company(name=f"b{i}", type="b"))["id"] for i in range(2)]
    response = api.delete("/data/companies?type=a&_async=true")
    wait_idle(jobs)
    job = _job(api, response.get_json())
    assert job["status"] == "FINISHED" and job["recordsCount"] == job["recordsProcessed"] == 3
    assert job["data"] == {"entityName": "companies", "query": {"type": ["a"]}}
    assert sorted(job["results"]["results"]) == sorted(a)
    remaining = api.get("/data/companies?_size=100").get_json()
    assert sorted(i["id"] for i in remaining["items"]) == sorted(b)
    assert all(len(_delete_history(app, i)) == 1 for i in a)


def test_async_delete_reports_ids_that_cannot_be_records_as_the_sync_delete_does(app, api, jobs):
    records = [create(api, "companies", company(name=f"c{i}")) for i in range(3)]
    sync = api.delete(f"/data/companies/{records[0]['id']},nope")
    assert sync.status_code == 200
    response = api.delete(f"/data/companies/{records[1]['id']},nope,x-1?_async=true")
    assert response.status_code == 200
    wait_idle(jobs)
    job = _job(api, response.get_json())
    assert job["status"] == "FINISHED" and job["hasErrors"]
    assert job["data"]["invalid"] == ["nope", "x-1"] and job["data"]["ids"] == [records[1]["id"]]
    assert job["recordsCount"] == job["recordsProcessed"] == 3
    results = job["results"]["results"]
    assert results["nope"] == sync.get_json()["nope"] == {"status": "error",
                                                          "errorMessage": "Record 'nope' does not exist"}
    assert results["x-1"]["status"] == "error" and results[records[1]["id"]]["status"] == "ok"
    only_invalid = api.delete("/data/companies/zzz,yyy?_async=true")
    wait_idle(jobs)
    job = _job(api, only_invalid.get_json())
    assert job["status"] == "FINISHED" and sorted(job["results"]["results"]) == ["yyy", "zzz"]
    for bad in ("a.b", "$x"):  # cannot be a key of the stored results: refused before a job is made
        refused = api.delete(f"/data/companies/{records[2]['id']},{bad}?_async=true")
        assert refused.status_code == 400, refused.get_json()
        assert refused.get_json()["errors"][0]["additionalInfo"] == {"rejectedValue": bad}
    assert api.get(f"/data/companies/{records[2]['id']}").status_code == 200


@pytest.mark.parametrize("entity", ["companies", "items"])  # one delete per record (history) / one delete_many
def test_async_delete_results_are_the_map_a_sync_delete_answers(app, api, jobs, entity):
    if entity == "items":
        assert api.post("/metadata/entities", json=ITEMS).status_code == 200
    make = (lambda i: company(name=f"c{i}", type="ab"[i % 2])) if entity == "companies" else \
        (lambda i: {"name": f"item {i}", "n": i})
    records = [create(api, entity, make(i)) for i in range(6)]
    missing = str(ObjectId())
    sync = api.delete(f"/data/{entity}/{records[0]['id']},{records[1]['id']},{missing}").get_json()
    by_ids = api.delete(f"/data/{entity}/{records[2]['id']},{records[3]['id']},{missing}?_async=true")
    wait_idle(jobs)  # before the query's job, which would delete every record left: jobs may run side by side
    by_query = api.delete(f"/data/{entity}?_async=true")
    wait_idle(jobs)
    label = "Companies" if entity == "companies" else "Items"
    for first, body in ((0, sync), (2, _job(api, by_ids.get_json())["results"]["results"]),
                        (4, _job(api, by_query.get_json())["results"]["results"])):
        expected = {r["id"]: {"status": "ok", "response": as_listed(r, label)} for r in records[first:first + 2]}
        assert {k: v for k, v in body.items() if k != missing} == expected
    assert sync[missing]["status"] == "error"
    assert api.get(f"/data/{entity}").get_json()["total"] == 0


def test_async_delete_results_leave_out_the_callers_hidden_fields(app, api, jobs):
    rules = {"api": {"data": True, "jobs": True}, "entities": {"companies": {
        "access": "always", "delete": "always", "fields": {"notes": "none", "contactInformation.email": "none"}}}}
    user = user_in(app, "deleter@example.com", add_group(app, rules))
    ids = [create(api, "companies", company(name=f"c{i}", notes="secret"))["id"] for i in range(2)]
    body = user.delete(f"/data/companies/{','.join(ids)}?_async=true").get_json()
    wait_idle(jobs)
    results = _job(user, body)["results"]["results"]
    assert set(results) == set(ids)
    for rid in ids:
        shown = results[rid]["response"]
        assert shown["id"] == rid and "notes" not in shown and "email" not in shown["contactInformation"]
        assert shown["contactInformation"]["phoneNumber"] == "1-702-845-9380"


def test_only_the_records_the_results_keep_are_read(app, api, jobs, monkeypatch):
    """Past the results cap a big delete reads no record content: memory stays at one batch of ids."""
    assert api.post("/metadata/entities", json=ITEMS).status_code == 200
    _seed_items(app, 1100)
    records = app.extensions["runtime"].records
    calls: list[tuple[int, int, int]] = []
    real = records.delete_batch

    def watching(entity, batch, ctx, check=lambda: None, keep=0):
        outcomes, gone, kept = real(entity, batch, ctx, check, keep)
        calls.append((len(batch), keep, len(kept)))
        return outcomes, gone, kept

    monkeypatch.setattr(records, "delete_batch", watching)
    body = api.delete("/data/items?_async=true").get_json()
    wait_idle(jobs)
    assert _job(api, body)["recordsProcessed"] == 1100
    assert sum(n for n, _, _ in calls) == 1100 and sum(k for _, _, k in calls) == 1000
    assert all(kept <= keep for _, keep, kept in calls) and calls[-1][1] == 0


def test_results_keep_responses_within_a_byte_budget(app, api, jobs):
    """Records too big to all fit in a job document: every id keeps its status, the later ones no response."""
    assert api.post("/metadata/entities", json=ITEMS).status_code == 200
    svc = app.extensions["runtime"]
    entity = svc.registry.get("items")
    big = "x" * (512 * 1024)
    n = RESULTS_MAX_BYTES // len(big) + 4
    docs = [{**svc.records.build_new(entity, {"n": i}), "name": f"{i}{big}"} for i in range(n)]  # past text's limit
    svc.records.collection(entity).insert_many(docs)
    body = api.delete("/data/items?_async=true").get_json()
    wait_idle(jobs)
    job = _job(api, body)
    assert job["status"] == "FINISHED" and not job["hasErrors"] and job["recordsProcessed"] == n
    results = job["results"]["results"]
    assert set(results) == {str(d["_id"]) for d in docs} and all(o["status"] == "ok" for o in results.values())
    with_response = [k for k, o in results.items() if "response" in o]
    assert 0 < len(with_response) < n
    assert sum(len(results[k]["response"]["name"]) for k in with_response) <= RESULTS_MAX_BYTES
    logs = api.get(f"/status/jobs/{body['jobId']}/logs").get_json()["items"]
    assert any(i["level"] == "WARN" and "status only" in i["message"] for i in logs)


def test_async_delete_bad_query_is_400_and_no_job(app, api, jobs):
    assert api.delete("/data/companies?_bogus=1&_async=true").status_code == 400
    assert api.get("/status/jobs").get_json()["total"] == 0


def test_results_map_is_capped_at_1000(app, api, jobs):
    assert api.post("/metadata/entities", json=ITEMS).status_code == 200
    ids = _seed_items(app, 1200)
    response = api.delete("/data/items?_async=true")
    wait_idle(jobs)
    job = _job(api, response.get_json())
    assert job["status"] == "FINISHED" and job["recordsCount"] == job["recordsProcessed"] == 1200
    assert len(job["results"]["results"]) == 1000
    assert set(job["results"]["results"]) == {str(i) for i in ids[:1000]}
    assert all(o["status"] == "ok" and o["response"]["id"] == k for k, o in job["results"]["results"].items())
    assert api.get("/data/items").get_json()["total"] == 0


def test_stop_and_resume_an_async_delete_processes_each_record_once(app, api, jobs, monkeypatch):
    jobs.settings.batch_size = 2
    ids = [create(api, "companies", company(name=f"c{i}"))["id"] for i in range(7)]
    first_batch_done, proceed = threading.Event(), threading.Event()
    seen: list[str] = []
    real = deletes._delete_batch

    def pausing(ctx, entity, batch, missing):
        seen.extend(str(i) for i in batch)
        if len(seen) == 4:  # inside the second batch: let the test ask for a stop
            first_batch_done.set()
            assert proceed.wait(10)
        real(ctx, entity, batch, missing)

    monkeypatch.setattr(deletes, "_delete_batch", pausing)
    body = api.delete("/data/companies?_async=true").get_json()
    assert first_batch_done.wait(10)
    assert api.put(f"/status/jobs/{body['jobId']}/stop").get_json()["status"] == "STOPPING"
    proceed.set()
    wait_idle(jobs)
    job = _job(api, body)
    assert job["status"] == "STOPPED" and job["recordsProcessed"] == 4 and job["progress"] == 57
    assert api.get("/data/companies").get_json()["total"] == 3
    assert api.put(f"/status/jobs/{body['jobId']}/resume").get_json()["status"] == "RUNNING"
    wait_idle(jobs)
    job = _job(api, body)
    assert job["status"] == "FINISHED" and job["recordsProcessed"] == job["recordsCount"] == 7
    assert sorted(seen) == sorted(ids)  # each id handed to a batch exactly once
    assert sorted(job["results"]["results"]) == sorted(ids)
    assert all(len(_delete_history(app, i)) == 1 for i in ids)


def test_interrupted_batch_is_redone_without_double_counting(app, api, jobs):
    """A run killed mid-batch (inFlight set, some of its records gone) is finished exactly by the next run."""
    ids = sorted(create(api, "companies", company(name=f"c{i}"))["id"] for i in range(4))
    jobs.dispatcher.pause()
    body = api.delete("/data/companies?_async=true").get_json()
    svc = app.extensions["runtime"]
    # The killed run: claimed, counted 4, deleted ids[0] (with history) inside batch [0, 1], then died.
    from core.context import WriteContext

    ctx = WriteContext(user_email="admin@example.com", context_path="entities.companies.delete")
    svc.records.delete(svc.registry.get("companies"), ObjectId(ids[0]), ctx)
    jobs.repo.col.update_one({"_id": ObjectId(body["jobId"])}, {"$set": {
        "status": "STOPPED", "startDate": 1, "recordsCount": 4, "inFlight": ids[:2]}})
    jobs.dispatcher.unpause()
    assert api.put(f"/status/jobs/{body['jobId']}/resume").status_code == 200
    wait_idle(jobs)
    job = _job(api, body)
    assert job["status"] == "FINISHED" and not job["hasErrors"]
    assert job["recordsCount"] == job["recordsProcessed"] == 4
    assert sorted(job["results"]["results"]) == ids
    assert job["results"]["results"][ids[0]] == {"status": "ok"}  # deleted by the killed run: nothing to show
    assert all(job["results"]["results"][i]["response"]["id"] == i for i in ids[1:])
    assert api.get("/data/companies").get_json()["total"] == 0
    assert all(len(_delete_history(app, i)) == 1 for i in ids)


def test_job_link_uses_the_configured_api_prefix():
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, make_app

    app = make_app(api_prefix="/v2")
    client = app.test_client()
    token = client.post("/v2/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).get_json()["token"]
    rid = client.post("/v2/data/companies", json=company(), headers={"token": token}).get_json()["id"]
    body = client.delete(f"/v2/data/companies/{rid}?_async=true", headers={"token": token}).get_json()
    assert body["jobLink"] == f"/v2/status/jobs/{body['jobId']}"
    jobs = app.extensions["runtime"].jobs
    wait_idle(jobs)
    assert client.get(body["jobLink"], headers={"token": token}).get_json()["status"] == "FINISHED"
    jobs.dispatcher.shutdown()
