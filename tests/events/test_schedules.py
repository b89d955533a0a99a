"""Schedules: the /schedules API (developers only, every 4xx), run now, the embedded clock firing on time,
paused schedules staying quiet, missed fire times firing once, one fire per fire time with several clocks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from core.storage import drop_embedded
from jobs.model import now_ms
from tests.conftest import Api, company, create, login, make_app, wait_for_job

H = "tests.events.handlers"
TICK = {"name": "tick", "cron": "*/5 * * * *", "handler": f"{H}:tick"}


@pytest.fixture
def app() -> Iterator[Flask]:
    app = make_app(app_modules=("examples.crm", H), schedule_seconds=True, clock_tick_seconds=0.1)
    yield app
    app.extensions["runtime"].clock.stop()
    app.extensions["runtime"].jobs.dispatcher.wait_idle(30)
    drop_embedded(app.config["RUNTIME"].mongodb_db)


def schedule_jobs(api: Api, schedule_id: str) -> list[dict[str, Any]]:
    items = api.get("/status/jobs?type=SCHEDULE&_size=1000").get_json()["items"]
    return [j for j in items if j["data"]["scheduleId"] == schedule_id]


def test_crud_pause_resume_and_run_now(app: Flask, api: Api):
    created = api.post("/schedules", json={**TICK, "timezone": "America/New_York"})
    assert created.status_code == 200, created.get_json()
    s = created.get_json()
    assert s["name"] == "tick" and s["cron"] == "*/5 * * * *" and s["timezone"] == "America/New_York"
    assert s["handler"] == f"{H}:tick" and s["action"] is None and s["enabled"] is True
    assert s["lastRunAt"] is None and s["lastJobId"] is None
    assert now_ms() < s["nextRunAt"] <= now_ms() + 5 * 60_000 and (s["nextRunAt"] // 1000) % 300 == 0
    assert api.get(f"/schedules/{s['id']}").get_json() == s
    assert api.get("/schedules").get_json() == {"total": 1, "offset": s["id"], "items": [s]}

    paused = api.put(f"/schedules/{s['id']}/pause").get_json()
    assert paused["enabled"] is False and paused["nextRunAt"] is None
    resumed = api.put(f"/schedules/{s['id']}/resume").get_json()
    assert resumed["enabled"] is True and resumed["nextRunAt"] == s["nextRunAt"]
    assert api.get("/schedules?enabled=false").get_json()["total"] == 0

    run = api.post(f"/schedules/{s['id']}/run")
    assert run.status_code == 200
    link = run.get_json()
    assert link == {"jobLink": f"/api/status/jobs/{link['jobId']}", "jobId": link["jobId"]}
    job = wait_for_job(api, link["jobId"])
    assert job["type"] == "SCHEDULE" and job["status"] == "FINISHED" and not job["hasErrors"]
    assert job["results"]["response"]["schedule"] == "tick" and job["data"]["manual"] is True
    assert api.get(f"/schedules/{s['id']}").get_json()["lastJobId"] == link["jobId"]

    updated = api.put(f"/schedules/{s['id']}", json={"cron": "0 3 * * *", "timezone": "UTC"})
    assert updated.status_code == 200
    assert updated.get_json()["cron"] == "0 3 * * *" and updated.get_json()["handler"] == f"{H}:tick"
    assert updated.get_json()["nextRunAt"] % 86_400_000 == 3 * 3_600_000
    never = api.put(f"/schedules/{s['id']}", json={"cron": "0 0 30 2 *"})
    assert never.status_code == 400 and never.get_json()["errors"][0]["field"] == "cron"
    assert api.get(f"/schedules/{s['id']}").get_json()["cron"] == "0 3 * * *"
    switched = api.put(f"/schedules/{s['id']}", json={"action": {"entity": "companies", "action": "countEmployees"}})
    assert switched.get_json()["handler"] is None and switched.get_json()["action"]["action"] == "countEmployees"

    deleted = api.delete(f"/schedules/{s['id']}")
    assert deleted.status_code == 200 and deleted.get_json()["id"] == s["id"]
    for method, path in (("GET", ""), ("PUT", "/pause"), ("PUT", "/resume"), ("POST", "/run"), ("DELETE", "")):
        assert api.request(method, f"/schedules/{s['id']}{path}").status_code == 404
    assert api.put(f"/schedules/{s['id']}", json={"cron": "* * * * *"}).status_code == 404


def test_a_schedule_can_run_an_entity_action_over_a_query(app: Flask, api: Api):
    create(api, "companies", company(name="big", numberOfEmployees=100, type="a"))
    create(api, "companies", company(name="small", numberOfEmployees=5, type="b"))
    many = api.post("/schedules", json={"name": "count", "cron": "0 0 * * *",
                                        "action": {"entity": "companies", "action": "countEmployees",
                                                   "query": {"type": "a"}}}).get_json()
    job = wait_for_job(api, api.post(f"/schedules/{many['id']}/run").get_json()["jobId"])
    assert job["results"]["response"] == {"numberOfEmployees": 100}
    one = api.post("/schedules", json={"name": "calm", "cron": "0 0 * * *",
                                       "action": {"entity": "companies", "action": "deactivate",
                                                  "query": {"state": "active"}, "params": {"reason": "nightly"}}})
    assert one.status_code == 200, one.get_json()
    create(api, "companies", company(name="on", state="active"))
    job = wait_for_job(api, api.post(f"/schedules/{one.get_json()['id']}/run").get_json()["jobId"])
    outcomes = job["results"]["results"]  # one record at a time: the per-record map of an EXECUTE_ACTION job
    assert [o["status"] for o in outcomes.values()] == ["ok"]
    assert (job["recordsCount"], job["recordsProcessed"], job["hasErrors"]) == (1, 1, False)
    assert api.get("/data/companies?name=on").get_json()["items"][0]["notes"] == "nightly"


def test_a_scheduled_one_record_action_reports_its_failed_records_as_an_action_job_does(app: Flask, api: Api):
    done = create(api, "companies", company(name="done", state="inactive"))
    left = create(api, "companies", company(name="left", state="active"))
    every = api.post("/schedules", json={"name": "again", "cron": "0 0 * * *",
                                         "action": {"entity": "companies", "action": "deactivate",
                                                    "params": {"reason": "nightly"}}}).get_json()
    job = wait_for_job(api, api.post(f"/schedules/{every['id']}/run").get_json()["jobId"])
    results = job["results"]["results"]
    assert results[left["id"]]["status"] == "ok" and results[done["id"]]["status"] == "error"
    assert (job["recordsCount"], job["recordsProcessed"], job["hasErrors"]) == (2, 2, True)
    errors = api.get(f"/status/jobs/{job['id']}/logs?level=ERROR").get_json()["items"]
    assert [e["message"] for e in errors] == [f"Record {done['id']}: {results[done['id']]['errorMessage']}"]
    assert [j["id"] for j in api.get("/status/jobs?type=SCHEDULE&hasErrors=true").get_json()["items"]] == [job["id"]]


@pytest.mark.parametrize("body, field", [
    ({**TICK, "cron": "* * * *"}, "cron"),
    ({**TICK, "cron": "61 * * * *"}, "cron"),
    ({**TICK, "cron": "0 0 31 2 *"}, "cron"),  # valid fields, but no date matches: it would never fire
    ({**TICK, "cron": "0 0 31 4 *"}, "cron"),
    ({**TICK, "timezone": "Mars/Olympus"}, "timezone"),
    ({**TICK, "timezone": "a" * 5000}, "timezone"),  # too long for a file name: OSError in zoneinfo
    ({**TICK, "timezone": "../../etc/passwd"}, "timezone"),
    ({**TICK, "handler": "os:system"}, "handler"),
    ({**TICK, "handler": f"{H}:missing"}, "handler"),
    ({"name": "x", "cron": "* * * * *"}, "handler"),
    ({**TICK, "action": {"entity": "companies", "action": "activate"}}, "handler"),
    ({"name": "x", "cron": "* * * * *", "action": {"entity": "nope", "action": "a"}}, "action.entity"),
    ({"name": "x", "cron": "* * * * *", "action": {"entity": "companies", "action": "nope"}}, "action.action"),
    ({"name": "x", "cron": "* * * * *", "action": {"entity": "companies", "action": "activate",
                                                   "query": {"nofield": "1"}}}, "action.query"),
    ({"name": "x", "cron": "* * * * *", "action": {"entity": "companies", "action": "deactivate"}}, "action.params"),
    ({"name": "x", "cron": "* * * * *", "action": {"entity": "companies"}}, "action.action"),
    ({"cron": "* * * * *", "handler": f"{H}:tick"}, "name"),
    ({**TICK, "enabled": "often"}, "enabled"),
    ({**TICK, "every": "day"}, "every"),
])
def test_invalid_schedules_are_refused_with_field_errors(api: Api, body: dict[str, Any], field: str):
    response = api.post("/schedules", json=body)
    assert response.status_code == 400, response.get_json()
    errors = response.get_json()["errors"]
    assert response.get_json()["code"] == "validationErrors" and field in [e["field"] for e in errors], errors
    assert api.get("/schedules").get_json()["total"] == 0


def test_seconds_and_other_bodies_are_refused_outside_test_mode():
    plain = make_app()  # SCHEDULE_SECONDS off, as in production
    try:
        _refusals(login(plain))
    finally:
        drop_embedded(plain.config["RUNTIME"].mongodb_db)


def _refusals(api: Api) -> None:
    report = {**TICK, "handler": "examples.crm:nightly_report"}
    assert api.post("/schedules", json={**report, "cron": "* * * * * *"}).get_json()["errors"][0]["field"] == "cron"
    assert api.post("/schedules", data="nope", content_type="application/json").status_code == 400
    assert api.post("/schedules", json=[report]).status_code == 400
    assert api.post("/schedules", json=report).status_code == 200
    duplicate = api.post("/schedules", json=report)
    assert duplicate.status_code == 400 and duplicate.get_json()["errors"][0]["code"] == "duplicate"
    assert api.get("/schedules?_size=x").status_code == 400


def test_bodies_are_read_as_on_every_route(api: Api):
    """Malformed JSON says so, and a JSON body sent without a JSON Content-Type (``curl -d``) is read."""
    for method, path in (("POST", "/schedules"), ("PUT", "/schedules/5f0000000000000000000000")):
        response = api.request(method, path, data='{"name": "x",', content_type="application/json")
        assert response.status_code == 400, (method, path)
        assert response.get_json()["message"].startswith("Malformed JSON in request body: "), (method, path)
    form = "application/x-www-form-urlencoded"
    created = api.post("/schedules", data=json.dumps(TICK), content_type=form)
    assert created.status_code == 200, created.get_json()
    updated = api.put(f"/schedules/{created.get_json()['id']}", data='{"cron": "0 3 * * *"}', content_type=form)
    assert updated.status_code == 200 and updated.get_json()["cron"] == "0 3 * * *"


def test_schedules_are_for_developers(app: Flask, api: Api, user_api: Api, anon: Api):
    s = api.post("/schedules", json=TICK).get_json()
    for client, status in ((user_api, 403), (anon, 401)):
        assert client.get("/schedules").status_code == status
        assert client.post("/schedules", json={**TICK, "name": "u"}).status_code == status
        assert client.get(f"/schedules/{s['id']}").status_code == status
        assert client.put(f"/schedules/{s['id']}", json={"cron": "* * * * *"}).status_code == status
        assert client.put(f"/schedules/{s['id']}/pause").status_code == status
        assert client.post(f"/schedules/{s['id']}/run").status_code == status
        assert client.delete(f"/schedules/{s['id']}").status_code == status
    assert api.get(f"/schedules/{s['id']}").get_json()["enabled"] is True


def test_the_list_pages_by_the_last_id_or_by_a_number_to_skip(api: Api):
    made = [api.post("/schedules", json={**TICK, "name": f"s{i}"}).get_json()["id"] for i in range(3)]
    first = api.get("/schedules?_size=2").get_json()
    assert [s["id"] for s in first["items"]] == made[:2] and first["total"] == 3
    assert [s["id"] for s in api.get(f"/schedules?_offset={first['offset']}").get_json()["items"]] == made[2:]
    assert [s["id"] for s in api.get("/schedules?_offset=1&_size=1").get_json()["items"]] == made[1:2]
    refused = api.get("/schedules?_offset=nope")
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["field"] == "_offset"


def test_run_now_runs_as_the_schedules_creator_whoever_asks(app: Flask, api: Api):
    s = api.post("/schedules", json=TICK).get_json()
    app.extensions["runtime"].auth.create_user("dev2@example.com", "dev2-password", "Dev", "Two", developer=True)
    other = login(app, "dev2@example.com", "dev2-password")
    job = wait_for_job(api, other.post(f"/schedules/{s['id']}/run").get_json()["jobId"])
    assert job["status"] == "FINISHED", job
    assert job["results"]["response"]["user"] == "admin@example.com"
    assert job["runBy"]["fullName"] != "Dev Two" and job["data"]["requestedBy"] == "dev2@example.com"


def test_the_embedded_clock_fires_each_second_once_and_a_paused_schedule_not_at_all(app: Flask, api: Api):
    every = api.post("/schedules", json={**TICK, "name": "every", "cron": "* * * * * *"}).get_json()
    quiet = api.post("/schedules", json={**TICK, "name": "quiet", "cron": "* * * * * *", "enabled": False}).get_json()
    paused_later = api.post("/schedules", json={**TICK, "name": "later", "cron": "* * * * * *"}).get_json()
    assert api.put(f"/schedules/{paused_later['id']}/pause").status_code == 200
    time.sleep(3.5)
    assert api.put(f"/schedules/{every['id']}/pause").status_code == 200
    app.extensions["runtime"].jobs.dispatcher.wait_idle(30)
    jobs = schedule_jobs(api, every["id"])
    fire_times = sorted(j["data"]["fireTime"] for j in jobs)
    assert len(fire_times) >= 2 and len(set(fire_times)) == len(fire_times)
    assert fire_times == list(range(fire_times[0], fire_times[-1] + 1, 1000))  # every second, none twice
    assert all(j["status"] == "FINISHED" and not j["hasErrors"] for j in jobs)
    assert schedule_jobs(api, quiet["id"]) == [] and schedule_jobs(api, paused_later["id"]) == []
    last = api.get(f"/schedules/{every['id']}").get_json()
    assert last["lastJobId"] in {j["id"] for j in jobs} and last["lastRunAt"] is not None


def test_missed_fire_times_fire_once_and_several_clocks_fire_each_once(app: Flask, api: Api):
    s = api.post("/schedules", json={**TICK, "name": "minutely", "cron": "* * * * *"}).get_json()
    svc = app.extensions["runtime"]
    schedules = svc.schedules
    app.extensions["runtime"].clock.stop()
    # The clock was down for ten minutes: ten fire times were missed.
    from bson import ObjectId
    now = now_ms()
    schedules.col.update_one({"_id": ObjectId(s["id"])}, {"$set": {"nextRunAt": now - 10 * 60_000}})
    fired = []
    clocks = [threading.Thread(target=lambda: fired.append(schedules.tick(now))) for _ in range(4)]
    for clock in clocks:
        clock.start()
    for clock in clocks:
        clock.join()
    assert sum(fired) == 1
    svc.jobs.dispatcher.wait_idle(30)
    jobs = schedule_jobs(api, s["id"])
    assert len(jobs) == 1 and jobs[0]["data"]["fireTime"] == now - now % 60_000
    after = api.get(f"/schedules/{s['id']}").get_json()
    assert after["nextRunAt"] == now - now % 60_000 + 60_000 and after["lastJobId"] == jobs[0]["id"]
    assert schedules.tick(now) == 0  # nothing more is due
