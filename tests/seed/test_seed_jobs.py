"""Seed "Jobs": the job JSON, get one, list, logs, stop, forceStop, cancel and resume."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bson import ObjectId
from flask import Flask

from core.storage import drop_embedded
from tests.conftest import ADMIN_EMAIL, Api, login, make_app
from tests.seed import handlers
from tests.seed.samples import (
    BLOGPAD,
    BROWSEZOOM,
    JOB_KEYS,
    OBJECT_ID,
    assert_error,
    assert_job_link,
    create,
    wait_for_job,
)

GATE_ACTION = {"name": "gate", "type": "oneRecord", "handler": "tests.seed.handlers:wait_at_gate"}


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """One record per batch (so a stop lands between records) and a ``gate`` action that can hold a job."""
    monkeypatch.setenv("JOBS_BATCH_SIZE", "1")
    app = make_app(app_modules=("examples.crm", "tests.seed.handlers"))
    api = login(app)
    definition = {k: v for k, v in api.get("/metadata/entities/companies").get_json().items()
                  if k not in ("id", "version")}
    definition["actions"] = definition["actions"] + [GATE_ACTION]
    assert api.put("/metadata/entities/companies", json=definition).status_code == 200
    handlers.GATE.clear()
    handlers.REACHED.clear()
    yield app
    handlers.GATE.set()
    app.extensions["runtime"].jobs.dispatcher.wait_idle(20)
    drop_embedded(app.config["RUNTIME"].mongodb_db)


def _held_job(api: Api) -> str:
    """An EXECUTE_ACTION job over r0, r1, r2 that is RUNNING and held inside r0."""
    for i in range(3):
        create(api, "companies", {"name": f"r{i}"})
    job_id = assert_job_link(api.put("/data/companies/gate?_async=true"))
    assert handlers.REACHED.wait(20), "the job never reached the gate"
    assert api.get(f"/status/jobs/{job_id}").get_json()["status"] == "RUNNING"
    return job_id


def _count_employees_job(api: Api, suffix: str = "") -> str:
    a = create(api, "companies", {**BROWSEZOOM, "name": "Browsezoom" + suffix})
    b = create(api, "companies", {**BLOGPAD, "name": "Blogpad" + suffix})
    return assert_job_link(api.put(f"/data/companies/{a['id']},{b['id']}/countEmployees?_async=true"))


# --- Get one job ----------------------------------------------------------------------------------

def test_gets_a_job_by_id(app, api: Api):
    job_id = _count_employees_job(api)
    wait_for_job(api, job_id)
    response = api.get(f"/status/jobs/{job_id}", headers={"Accept": "application/json"})
    assert response.status_code == 200
    job = response.get_json()
    assert set(job) == JOB_KEYS and job["id"] == job_id
    assert job["type"] == "EXECUTE_ACTION" and "countEmployees" in job["label"] and "companies" in job["label"]
    admin = app.extensions["runtime"].auth.find_user(ADMIN_EMAIL)
    assert job["runBy"] == {"id": str(admin["_id"]), "fullName": "Admin"}
    assert job["parentJob"] is None and job["rootJob"] is None
    assert job["createDate"] <= job["startDate"] <= job["endDate"]
    assert (job["status"], job["hasErrors"], job["progress"]) == ("FINISHED", False, 100)
    assert job["childrenJobsCount"] == job["childrenJobsProcessed"] == 0
    assert job["stoppable"] is True and job["lowPriority"] is False
    assert job["results"]["results"]["response"] == {"numberOfEmployees": 629}


def test_get_job_errors(api: Api, user_api: Api, anon: Api):
    job_id = _count_employees_job(api)
    assert_error(api.get(f"/status/jobs/{ObjectId()}"), 404)
    assert_error(api.get("/status/jobs/not-a-job"), 404)
    assert_error(user_api.get(f"/status/jobs/{job_id}"), 403)  # not a developer, not their job
    assert_error(anon.get(f"/status/jobs/{job_id}"), 401)


# --- List jobs ------------------------------------------------------------------------------------

def test_finds_up_to_three_finished_jobs(api: Api):
    created = [_count_employees_job(api, str(i)) for i in range(4)]
    for job_id in created:
        wait_for_job(api, job_id)
    response = api.get("/status/jobs?status=FINISHED&_size=3")
    assert response.status_code == 200
    page = response.get_json()
    assert list(page) == ["total", "offset", "items"] and page["total"] == 4
    assert [j["id"] for j in page["items"]] == created[::-1][:3]  # newest first
    assert all(set(j) == JOB_KEYS and j["status"] == "FINISHED" for j in page["items"])
    assert page["offset"] == page["items"][-1]["id"]
    rest = api.get(f"/status/jobs?status=FINISHED&_size=3&_offset={page['offset']}").get_json()
    assert [j["id"] for j in rest["items"]] == [created[0]]
    assert api.get("/status/jobs?status=RUNNING").get_json()["total"] == 0
    assert api.get("/status/jobs?type=EXECUTE_ACTION,DELETE_RECORDS&hasErrors=false").get_json()["total"] == 4
    assert_error(api.get("/status/jobs?status=SLEEPING"), 400)
    assert_error(api.get("/status/jobs?startFrom=yesterday"), 400)


# --- Get logs of a job ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/status/jobs/{id}/logs", "/status/job/{id}/logs"])
def test_finds_logs_for_one_job(api: Api, path: str):
    job_id = _count_employees_job(api)
    wait_for_job(api, job_id)
    response = api.get(path.format(id=job_id))
    assert response.status_code == 200
    page = response.get_json()
    assert page["total"] == len(page["items"]) >= 2
    for item in page["items"]:
        assert set(item) == {"timestamp", "level", "message"}
        assert isinstance(item["timestamp"], int) and item["level"] in ("INFO", "WARN", "ERROR")
    assert [i["timestamp"] for i in page["items"]] == sorted(i["timestamp"] for i in page["items"])
    assert any("Starting processing" in i["message"] for i in page["items"])
    assert any("completed" in i["message"] for i in page["items"])
    assert api.get(f"/status/jobs/{job_id}/logs?level=ERROR").get_json()["total"] == 0
    assert api.get(f"/status/jobs/{job_id}/logs?message=starting").get_json()["total"] == 1
    assert_error(api.get(path.format(id=ObjectId())), 404)


# --- Stop, resume, force stop, cancel -------------------------------------------------------------

def test_stops_a_job_then_resumes_it(api: Api):
    job_id = _held_job(api)
    response = api.put(f"/status/jobs/{job_id}/stop", headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    stopping = response.get_json()
    assert set(stopping) == JOB_KEYS and stopping["id"] == job_id and stopping["status"] == "STOPPING"
    handlers.GATE.set()
    stopped = wait_for_job(api, job_id, ("STOPPED",))
    assert stopped["recordsProcessed"] == 1 and stopped["endDate"] is None
    response = api.put(f"/status/jobs/{job_id}/resume")
    assert response.status_code == 200 and response.get_json()["status"] == "RUNNING"
    done = wait_for_job(api, job_id)
    assert done["recordsProcessed"] == 3 and done["hasErrors"] is False
    passed = [i["message"] for i in api.get(f"/status/jobs/{job_id}/logs?message=passed").get_json()["items"]]
    assert passed == ["passed r0", "passed r1", "passed r2"]  # nothing done twice, nothing skipped


def test_force_stops_a_job_then_cancels_it(api: Api):
    job_id = _held_job(api)
    assert api.put(f"/status/jobs/{job_id}/stop").get_json()["status"] == "STOPPING"  # held: it cannot stop yet
    response = api.put(f"/status/jobs/{job_id}/forceStop")
    assert response.status_code == 200
    assert set(response.get_json()) == JOB_KEYS and response.get_json()["status"] == "STOPPED"
    handlers.GATE.set()
    response = api.put(f"/status/jobs/{job_id}/cancel")
    assert response.status_code == 200
    canceled = response.get_json()
    assert canceled["status"] == "CANCELED" and isinstance(canceled["endDate"], int)
    assert_error(api.put(f"/status/jobs/{job_id}/resume"), 400)  # canceled jobs cannot be resumed
    assert api.get(f"/status/jobs/{job_id}").get_json()["status"] == "CANCELED"


def test_job_operation_errors(api: Api, user_api: Api):
    job_id = _held_job(api)
    for operation in ("resume", "cancel"):  # only a STOPPED job can be resumed or canceled
        assert_error(api.put(f"/status/jobs/{job_id}/{operation}"), 400)
    assert_error(api.put(f"/status/jobs/{job_id}/forceStop"), 400)  # only a STOPPING job can be force-stopped
    assert api.get(f"/status/jobs/{job_id}").get_json()["status"] == "RUNNING"
    for operation in ("stop", "forceStop", "cancel", "resume"):
        assert_error(user_api.put(f"/status/jobs/{job_id}/{operation}"), 403)
        assert_error(api.put(f"/status/jobs/{ObjectId()}/{operation}"), 404)
    assert_error(api.put(f"/status/jobs/{job_id}/explode"), 404)
    handlers.GATE.set()
    wait_for_job(api, job_id)
    for operation in ("stop", "forceStop", "cancel", "resume"):  # a FINISHED job
        assert_error(api.put(f"/status/jobs/{job_id}/{operation}"), 400)
    assert OBJECT_ID.match(job_id)
