"""/status/jobs through the Flask client, with the embedded runner and a controllable test job type."""

from __future__ import annotations

import time

import pytest
from bson import ObjectId

from jobs.model import FINISHED, JOB_LOGS, RUNNING, STOPPED, STOPPING, new_job
from tests.jobs.conftest import STEPS, admin, wait_idle


def _submit(app, steps: int = 5, **data):
    return app.extensions["runtime"].jobs.submit(STEPS, "test steps", {"steps": steps, **data}, admin(app))


def _job(api, job_id) -> dict:
    response = api.get(f"/status/jobs/{job_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_job_runs_to_finish_with_every_field(app, api, jobs):
    doc = _submit(app, 3)
    wait_idle(jobs)
    job = _job(api, doc["_id"])
    assert set(job) == {"id", "label", "type", "runBy", "parentJob", "rootJob", "createDate", "startDate", "endDate",
                        "status", "hasErrors", "progress", "recordsCount", "recordsProcessed", "childrenJobsCount",
                        "childrenJobsProcessed", "stoppable", "lowPriority", "data", "results"}
    assert job["status"] == FINISHED and job["progress"] == 100 and not job["hasErrors"]
    assert job["recordsCount"] == job["recordsProcessed"] == 3
    assert job["runBy"] == {"id": str(admin(app)["_id"]), "fullName": "Admin"}
    assert job["createDate"] <= job["startDate"] <= job["endDate"]
    assert job["results"] == {"results": {"s0": {"status": "ok"}, "s1": {"status": "ok"}, "s2": {"status": "ok"}},
                              "done": True}


def test_failing_job_finishes_with_errors_and_an_error_log(app, api, jobs):
    doc = _submit(app, 3, failAt=1)
    wait_idle(jobs)
    job = _job(api, doc["_id"])
    assert job["status"] == FINISHED and job["hasErrors"] and job["recordsProcessed"] == 1
    logs = api.get(f"/status/jobs/{doc['_id']}/logs?level=ERROR").get_json()
    assert logs["total"] == 1 and "step 1 failed" in logs["items"][0]["message"]


def test_unknown_and_malformed_ids_are_404(api):
    for path in (f"/status/jobs/{ObjectId()}", "/status/jobs/nope", f"/status/jobs/{ObjectId()}/logs",
                 "/status/jobs/nope/logs"):
        assert api.get(path).status_code == 404, path
    for op in ("stop", "resume", "forceStop", "cancel", "kill"):
        assert api.put(f"/status/jobs/{ObjectId()}/{op}").status_code == 404
    assert api.put(f"/status/jobs/{ObjectId()}/explode").status_code == 404


def test_stop_running_then_resume_continues_from_checkpoint(app, api, jobs, control):
    control.block_at = 2
    doc = _submit(app, 5)
    assert control.entered.wait(10)
    response = api.put(f"/status/jobs/{doc['_id']}/stop")
    assert response.status_code == 200 and response.get_json()["status"] == "STOPPING"
    control.proceed.set()
    wait_idle(jobs)
    job = _job(api, doc["_id"])
    assert job["status"] == STOPPED and job["recordsProcessed"] == 3 and job["endDate"] is None
    response = api.put(f"/status/jobs/{doc['_id']}/resume")
    assert response.status_code == 200 and response.get_json()["status"] == RUNNING
    wait_idle(jobs)
    job = _job(api, doc["_id"])
    assert job["status"] == FINISHED and job["recordsProcessed"] == 5
    assert control.executed == [0, 1, 2, 3, 4]  # nothing done twice, nothing skipped
    assert sorted(job["results"]["results"]) == ["s0", "s1", "s2", "s3", "s4"]
    messages = [i["message"] for i in api.get(f"/status/jobs/{doc['_id']}/logs").get_json()["items"]]
    assert any(m.startswith("Stopped after 3 records") for m in messages)
    assert "Resuming from the last checkpoint" in messages


def test_stop_pending_then_resume_is_pending_again(app, api, jobs):
    jobs.dispatcher.pause()
    doc = _submit(app, 2)
    assert _job(api, doc["_id"])["status"] == "PENDING"
    assert api.put(f"/status/jobs/{doc['_id']}/stop").get_json()["status"] == STOPPED
    resumed = api.put(f"/status/jobs/{doc['_id']}/resume").get_json()
    assert resumed["status"] == "PENDING" and resumed["startDate"] is None
    jobs.dispatcher.unpause()
    wait_idle(jobs)
    assert _job(api, doc["_id"])["status"] == FINISHED


def test_a_job_that_cannot_be_interrupted_is_stopped_while_pending_and_refused_while_running(app, api, jobs,
                                                                                             control):
    svc = app.extensions["runtime"]
    jobs.dispatcher.pause()
    waiting = svc.jobs.submit(STEPS, "listener-like", {"steps": 1}, admin(app), stoppable=False)
    response = api.put(f"/status/jobs/{waiting['_id']}/stop")
    assert response.status_code == 200 and response.get_json()["status"] == STOPPED
    jobs.dispatcher.unpause()
    control.block_at = 0
    running = svc.jobs.submit(STEPS, "listener-like", {"steps": 2}, admin(app), stoppable=False)
    assert control.entered.wait(10)
    response = api.put(f"/status/jobs/{running['_id']}/stop")
    assert response.status_code == 400 and response.get_json()["jobStatus"] == RUNNING
    assert "cannot be stopped" in response.get_json()["message"]
    control.proceed.set()
    wait_idle(jobs)
    assert _job(api, running["_id"])["status"] == FINISHED
    assert _job(api, waiting["_id"])["status"] == STOPPED  # never ran


def test_force_stop_then_cancel(app, api, jobs, control):
    control.block_at = 1
    doc = _submit(app, 4)
    assert control.entered.wait(10)
    assert api.put(f"/status/jobs/{doc['_id']}/stop").get_json()["status"] == STOPPING
    response = api.put(f"/status/jobs/{doc['_id']}/forceStop")
    assert response.status_code == 200 and response.get_json()["status"] == STOPPED
    control.proceed.set()
    wait_idle(jobs)
    job = _job(api, doc["_id"])
    assert job["status"] == STOPPED and job["recordsProcessed"] == 1  # the killed step wrote nothing
    response = api.put(f"/status/jobs/{doc['_id']}/cancel")
    assert response.status_code == 200 and response.get_json()["status"] == "CANCELED"
    assert response.get_json()["endDate"] is not None
    response = api.put(f"/status/jobs/{doc['_id']}/resume")
    assert response.status_code == 400 and response.get_json()["jobStatus"] == "CANCELED"


def test_force_stop_then_resume_finishes(app, api, jobs, control):
    control.block_at = 1
    doc = _submit(app, 3)
    assert control.entered.wait(10)
    api.put(f"/status/jobs/{doc['_id']}/stop")
    assert api.put(f"/status/jobs/{doc['_id']}/forceStop").get_json()["status"] == STOPPED  # from STOPPING
    control.proceed.set()
    wait_idle(jobs)
    assert api.put(f"/status/jobs/{doc['_id']}/resume").status_code == 200
    wait_idle(jobs)
    job = _job(api, doc["_id"])
    assert job["status"] == FINISHED and job["recordsProcessed"] == 3


def _warnings(api, job_id) -> list[str]:
    return [i["message"] for i in api.get(f"/status/jobs/{job_id}/logs?level=WARN").get_json()["items"]]


def test_kill_a_running_job_ends_it_as_it_stands(app, api, jobs, control):
    control.block_at = 1
    doc = _submit(app, 4)
    assert control.entered.wait(10)
    response = api.put(f"/status/jobs/{doc['_id']}/kill")
    assert response.status_code == 200
    killed = response.get_json()
    assert killed["status"] == FINISHED and killed["endDate"] and killed["recordsProcessed"] == 1
    control.proceed.set()  # the killed step goes on in its thread: nothing it writes may land
    wait_idle(jobs)
    job = _job(api, doc["_id"])
    assert job == killed  # not finished again, nor stopped: status, dates, progress and results as killed
    assert job["results"] == {"results": {"s0": {"status": "ok"}}} and job["progress"] == 25
    assert control.executed == [0, 1]
    assert _warnings(api, doc["_id"]) == ["Killed by admin@example.com"]
    messages = [i["message"] for i in api.get(f"/status/jobs/{doc['_id']}/logs").get_json()["items"]]
    assert not any(m.startswith("Process completed") for m in messages)


def test_kill_a_pending_a_stopping_and_a_stopped_job(app, api, jobs, control):
    jobs.dispatcher.pause()
    pending, stopped = _submit(app, 1), _submit(app, 1)
    assert api.put(f"/status/jobs/{stopped['_id']}/stop").get_json()["status"] == STOPPED
    for doc in (pending, stopped):
        response = api.put(f"/status/jobs/{doc['_id']}/kill")
        assert response.status_code == 200 and response.get_json()["status"] == FINISHED
        assert response.get_json()["endDate"] and response.get_json()["startDate"] is None
    control.block_at = 0
    stopping = _submit(app, 2)
    jobs.dispatcher.unpause()
    assert control.entered.wait(10)
    assert api.put(f"/status/jobs/{stopping['_id']}/stop").get_json()["status"] == STOPPING
    assert api.put(f"/status/jobs/{stopping['_id']}/kill").get_json()["status"] == FINISHED
    control.proceed.set()
    wait_idle(jobs)
    assert [_job(api, d["_id"])["status"] for d in (pending, stopped, stopping)] == [FINISHED] * 3
    assert _job(api, pending["_id"])["startDate"] is None  # it never ran
    assert _job(api, stopping["_id"])["recordsProcessed"] == 0  # not stopped at its checkpoint either


def test_a_killed_job_is_reported_finished_to_job_hooks(app, api, jobs):
    heard: list[tuple[str, str]] = []
    jobs.job_events.append(lambda event, job: heard.append((event, str(job["_id"]))))
    jobs.dispatcher.pause()
    doc = _submit(app, 1)
    assert api.put(f"/status/jobs/{doc['_id']}/kill").status_code == 200
    assert heard == [("finished", str(doc["_id"]))]
    assert api.put(f"/status/jobs/{doc['_id']}/kill").status_code == 400
    assert heard == [("finished", str(doc["_id"]))]  # once


def test_kill_an_ended_job_is_400_with_its_status(app, api, jobs):
    done = _submit(app, 1)
    wait_idle(jobs)
    response = api.put(f"/status/jobs/{done['_id']}/kill")
    assert response.status_code == 400 and response.get_json()["jobStatus"] == FINISHED
    assert response.get_json()["code"] == "badRequest" and "killed" in response.get_json()["message"]
    canceled = _insert(app, status="CANCELED")
    response = api.put(f"/status/jobs/{canceled}/kill")
    assert response.status_code == 400 and response.get_json()["jobStatus"] == "CANCELED"


def _mine_and_theirs(app, jobs) -> tuple[dict, dict]:
    """Two waiting jobs: one run by the developer, one by the regular user ``user@example.com``."""
    jobs.dispatcher.pause()
    user = app.extensions["runtime"].auth.find_user("user@example.com")
    return _submit(app, 1), app.extensions["runtime"].jobs.submit(STEPS, "user steps", {"steps": 1}, user)


def test_a_non_developer_kills_only_their_own_jobs(app, api, user_api, jobs):
    mine, theirs = _mine_and_theirs(app, jobs)
    assert user_api.put(f"/status/jobs/{mine['_id']}/kill").status_code == 403
    assert _job(api, mine["_id"])["status"] == "PENDING"
    response = user_api.put(f"/status/jobs/{theirs['_id']}/kill")
    assert response.status_code == 200 and response.get_json()["status"] == FINISHED
    assert _warnings(api, theirs["_id"]) == ["Killed by user@example.com"]


def test_invalid_transitions_are_400_with_the_current_status(app, api, jobs, control):
    control.block_at = 0
    running = _submit(app, 2)
    assert control.entered.wait(10)
    for op in ("resume", "cancel", "forceStop"):  # forceStop only from STOPPING: a graceful stop comes first
        response = api.put(f"/status/jobs/{running['_id']}/{op}")
        assert response.status_code == 400 and response.get_json()["jobStatus"] == RUNNING, op
        assert "RUNNING" in response.get_json()["message"]
    assert _job(api, running["_id"])["status"] == RUNNING  # the refused forceStop changed nothing
    control.proceed.set()
    wait_idle(jobs)
    for op in ("stop", "resume", "forceStop", "cancel"):
        response = api.put(f"/status/jobs/{running['_id']}/{op}")
        assert response.status_code == 400 and response.get_json()["jobStatus"] == FINISHED, op
    jobs.dispatcher.pause()
    pending = _submit(app, 1)
    response = api.put(f"/status/jobs/{pending['_id']}/forceStop")
    assert response.status_code == 400 and response.get_json()["jobStatus"] == "PENDING"
    assert api.put(f"/status/jobs/{pending['_id']}/cancel").status_code == 400


def test_non_developer_sees_and_acts_only_on_own_jobs(app, api, user_api, jobs):
    mine, theirs = _mine_and_theirs(app, jobs)
    assert user_api.get(f"/status/jobs/{mine['_id']}").status_code == 403
    assert user_api.get(f"/status/jobs/{mine['_id']}/logs").status_code == 403
    for op in ("stop", "resume", "forceStop", "cancel", "kill"):
        assert user_api.put(f"/status/jobs/{mine['_id']}/{op}").status_code == 403
    listed = user_api.get("/status/jobs").get_json()
    assert listed["total"] == 1 and [j["id"] for j in listed["items"]] == [str(theirs["_id"])]
    assert user_api.put(f"/status/jobs/{theirs['_id']}/stop").get_json()["status"] == STOPPED
    assert api.get("/status/jobs").get_json()["total"] == 2  # a developer sees every job


def _insert(app, **fields):
    doc = new_job(fields.pop("type", "IMPORT_RECORDS"), "x", {}, admin(app))
    doc.update(fields)
    app.extensions["runtime"].jobs.repo.insert(doc)
    return str(doc["_id"])


def test_list_filters_and_paging(app, api):
    a = _insert(app, type="EXPORT_RECORDS", status=FINISHED, createDate=1000, startDate=1100, endDate=1200)
    b = _insert(app, type="IMPORT_RECORDS", status=FINISHED, hasErrors=True, createDate=2000, startDate=2100,
                endDate=2200)
    c = _insert(app, type="DELETE_RECORDS", status=STOPPED, createDate=3000, startDate=3100)
    d = _insert(app, type="IMPORT_RECORDS", status="CANCELED", createDate=4000)

    def ids(query: str) -> list[str]:
        response = api.get(f"/status/jobs{query}")
        assert response.status_code == 200, response.get_json()
        return [j["id"] for j in response.get_json()["items"]]

    assert ids("") == [d, c, b, a]  # newest first
    assert ids("?type=IMPORT_RECORDS") == [d, b]
    assert ids("?type=EXPORT_RECORDS,DELETE_RECORDS") == [c, a]
    assert ids("?type=import_records,Delete_Records") == [d, c, b]  # any case, as the statuses
    for platform_only in ("START_APP", "stop_app", "IMPORT_USERS", "DEPLOY_ENDPOINT,UNDEPLOY_ENDPOINT"):
        assert ids(f"?type={platform_only}") == []  # types the platform documents that no runner here has
    assert ids("?type=EXPORT_RECORDS,EXPORT_USERS") == [a]
    assert ids("?status=FINISHED,CANCELED") == [d, b, a]
    assert ids("?status=finished,Canceled") == [d, b, a]  # any case, as the levels of the logs
    assert ids("?hasErrors=true") == [b]
    assert ids("?hasErrors=false") == [d, c, a]
    assert ids("?createFrom=2000&createTo=3000") == [c, b]
    assert ids("?startFrom=2000") == [c, b]
    assert ids("?startTo=2100") == [b, a]
    assert ids("?endFrom=1200&endTo=1200") == [a]
    page = api.get("/status/jobs?_size=2").get_json()
    assert page["total"] == 4 and [j["id"] for j in page["items"]] == [d, c] and page["offset"] == c
    assert ids(f"?_size=2&_offset={page['offset']}") == [b, a]
    assert ids("?_size=2&_offset=1") == [c, b]  # a number skips, as in the other lists
    assert ids("?_offset=4") == []


def _names_the_parameter(response, param: str) -> None:
    """The 400 of every bad query parameter (as /status/logs gives it): the message and the one error name it."""
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["code"] == "badRequest" and body["message"].startswith(f"Invalid query parameter '{param}': ")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(param, "invalid")]


@pytest.mark.parametrize(("query", "param"), [
    ("status=DONE", "status"), ("status=FINISHED,later", "status"), ("type=FOO", "type"),
    ("type=IMPORT_RECORDS,nope", "type"), ("createFrom=yesterday", "createFrom"),
    ("_size=1001", "_size"), ("_offset=zzz", "_offset"), ("hasErrors=maybe", "hasErrors")])
def test_a_bad_list_parameter_is_a_400_naming_it(api, query: str, param: str):
    _names_the_parameter(api.get(f"/status/jobs?{query}"), param)


def test_logs_filters_period_and_paging(app, api):
    job_id = _insert(app)
    now = int(time.time() * 1000)
    col = app.extensions["runtime"].store.collection(JOB_LOGS)
    rows = [(now - 3 * 86400_000, "INFO", "Starting processing"), (now - 2 * 3600_000, "WARN", "Slow batch"),
            (now - 60_000, "ERROR", "Record 1 failed"), (now - 1000, "INFO", "Process completed")]
    col.insert_many([{"jobId": ObjectId(job_id), "timestamp": t, "level": lv, "message": m} for t, lv, m in rows])

    def messages(query: str) -> list[str]:
        response = api.get(f"/status/jobs/{job_id}/logs{query}")
        assert response.status_code == 200, response.get_json()
        return [i["message"] for i in response.get_json()["items"]]

    assert messages("") == [r[2] for r in rows]
    assert messages("?level=WARN,ERROR") == ["Slow batch", "Record 1 failed"]
    assert messages("?level=warn,Error") == ["Slow batch", "Record 1 failed"]  # any case, as in /status/logs
    assert messages("?message=PROCESS") == ["Starting processing", "Process completed"]
    assert messages("?message=" + "(" * 500) == []  # the longest text, taken literally
    assert messages("?period=5m") == ["Record 1 failed", "Process completed"]
    assert messages("?period=3h%2030m") == ["Slow batch", "Record 1 failed", "Process completed"]
    assert messages(f"?period=5m&from={now - 10 * 86400_000}") == ["Record 1 failed", "Process completed"]
    assert messages(f"?from={now - 4 * 86400_000}&to={now - 86400_000}") == ["Starting processing"]
    assert "Starting processing" not in messages("?period=2d")
    assert "Process completed" in messages("?period=today") or time.gmtime().tm_hour == 0
    assert messages("?period=yesterday") == [] or time.gmtime().tm_hour < 3
    page = api.get(f"/status/jobs/{job_id}/logs?_size=3").get_json()
    assert page["total"] == 4 and len(page["items"]) == 3
    assert messages(f"?_size=3&_offset={page['offset']}") == ["Process completed"]
    assert messages("?_offset=2") == ["Record 1 failed", "Process completed"]
    assert messages("?level=INFO&_offset=1&_size=1") == ["Process completed"]
    for bad, param in (("level=DEBUG", "level"), ("level=INFO,loud", "level"), ("period=soon", "period"),
                       ("period=lastHour", "period"), ("from=x", "from"), ("_offset=zzz", "_offset"),
                       ("message=" + "x" * 501, "message"), ("message=" + "(" * 5000, "message")):
        _names_the_parameter(api.get(f"/status/jobs/{job_id}/logs?{bad}"), param)


def test_job_of_a_dead_worker_is_stopped_on_read_and_resumes(app, api, jobs, control):
    jobs.dispatcher.pause()
    doc = _submit(app, 4)
    # What a worker killed after step 2 leaves behind: RUNNING, owned, checkpoint 2, an old heartbeat.
    jobs.repo.col.update_one({"_id": doc["_id"]}, {"$set": {
        "status": RUNNING, "runner": "dead-worker", "checkpoint": 2, "recordsCount": 4, "recordsProcessed": 2,
        "startDate": 1, "heartbeat": int(time.time() * 1000) - (jobs.settings.stale_seconds + 5) * 1000}})
    job = _job(api, doc["_id"])
    assert job["status"] == STOPPED
    warn = api.get(f"/status/jobs/{doc['_id']}/logs?level=WARN").get_json()["items"]
    assert "stopped responding" in warn[0]["message"]
    assert api.put(f"/status/jobs/{doc['_id']}/resume").get_json()["status"] == RUNNING
    jobs.dispatcher.unpause()
    wait_idle(jobs)
    job = _job(api, doc["_id"])
    assert job["status"] == FINISHED and job["recordsProcessed"] == 4
    assert 2 in control.executed and 3 in control.executed and 0 not in control.executed[1:]


def test_child_jobs_count_on_the_parent(app, api, jobs):
    svc = app.extensions["runtime"]
    jobs.dispatcher.pause()
    parent = _submit(app, 1)
    child = svc.jobs.submit(STEPS, "child", {"steps": 1}, admin(app), parent=parent)
    assert _job(api, child["_id"])["parentJob"] == {"id": str(parent["_id"]), "label": "test steps"}
    assert _job(api, child["_id"])["rootJob"] == {"id": str(parent["_id"]), "label": "test steps"}
    response = api.put(f"/status/jobs/{child['_id']}/stop")
    assert response.status_code == 400 and "root jobs" in response.get_json()["message"]
    jobs.dispatcher.unpause()
    wait_idle(jobs)
    assert _job(api, parent["_id"])["childrenJobsCount"] == 1
    assert _job(api, parent["_id"])["childrenJobsProcessed"] == 1


def test_only_jobs_submitted_from_inside_a_running_job_are_its_children(app, api, jobs, control):
    """A job submitted by a runner (in the runner's thread) is its child; one submitted meanwhile from another
    thread (a request) is a root job."""
    control.block_at = 0
    parent = _submit(app, 2, spawn=1)
    assert control.entered.wait(10)
    beside = _submit(app, 1)  # from this thread, while the parent runs
    control.proceed.set()
    wait_idle(jobs)
    assert _job(api, beside["_id"])["parentJob"] is None and _job(api, beside["_id"])["rootJob"] is None
    spawned = [j for j in api.get("/status/jobs").get_json()["items"] if j["label"] == "spawned 0"]
    ref = {"id": str(parent["_id"]), "label": "test steps"}
    assert len(spawned) == 1 and spawned[0]["parentJob"] == ref and spawned[0]["rootJob"] == ref
    assert spawned[0]["status"] == FINISHED
    done = _job(api, parent["_id"])
    assert (done["childrenJobsCount"], done["childrenJobsProcessed"]) == (1, 1)
    assert _job(api, beside["_id"])["childrenJobsCount"] == 0


def test_a_child_refused_by_a_queue_that_is_down_leaves_the_parents_count_as_it_was(app, api, jobs, monkeypatch):
    from redis.exceptions import ConnectionError as RedisDown

    jobs.dispatcher.pause()
    parent = _submit(app, 1)

    def down(job):
        raise RedisDown("the queue is down")

    monkeypatch.setattr(jobs.dispatcher, "enqueue", down)
    with pytest.raises(RedisDown):
        jobs.submit(STEPS, "child", {"steps": 1}, admin(app), parent=parent)
    assert _job(api, parent["_id"])["childrenJobsCount"] == 0
    assert api.get("/status/jobs").get_json()["total"] == 1  # the child is gone with its count


def test_a_step_slower_than_the_stale_limit_is_not_taken_for_a_dead_worker(app, api, jobs, control, monkeypatch):
    """The heartbeat comes from a background thread, not only between batches: a live job is never swept."""
    monkeypatch.setattr(jobs.settings, "stale_seconds", 1)
    control.block_at = 0
    doc = _submit(app, 2)
    assert control.entered.wait(10)
    deadline = time.time() + 2.5  # the first step takes 2.5 stale limits
    while time.time() < deadline:
        assert _job(api, doc["_id"])["status"] == RUNNING  # each read runs the stale sweep
        time.sleep(0.1)
    control.proceed.set()
    wait_idle(jobs)
    job = _job(api, doc["_id"])
    assert job["status"] == FINISHED and job["recordsProcessed"] == 2
    assert api.get(f"/status/jobs/{doc['_id']}/logs?level=WARN").get_json()["items"] == []


def test_jobs_of_an_impersonated_session_keep_the_developer_and_the_ip(app, anon, jobs):
    """Async deletes, async actions and imports write history (and their jobs app logs) as the request's own
    writes do: the impersonated user, the developer impersonating them, the client address."""
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api, company, create, grant_all, login

    app.extensions["runtime"].auth.create_user("employee@example.com", "pw-employee", "Employee", "Test")
    grant_all(app, "employee@example.com")
    session = anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                             "emailImpersonatedUser": "employee@example.com"}).get_json()
    api = Api(anon.client, session["token"])
    deleted = create(api, "companies", company(name="Deleted"))
    acted = create(api, "companies", company(name="Acted", state="inactive"))
    assert api.delete(f"/data/companies/{deleted['id']}?_async=true").status_code == 200
    assert api.put(f"/data/companies/{acted['id']}/activate?_async=true").status_code == 200
    imported = api.post("/data/companies/import", data=b"name\nImported\n", content_type="text/csv")
    assert imported.status_code == 200, imported.get_json()
    wait_idle(jobs)
    imported_id = api.get("/data/companies?name=Imported").get_json()["items"][0]["id"]
    for rid, event in ((deleted["id"], "USER_RECORD_DELETED"), (acted["id"], "USER_ACTION_PERFORMED"),
                       (imported_id, "USER_RECORD_CREATED")):
        entries = api.get(f"/data/companies/{rid}/history").get_json()["items"]
        assert entries[0]["eventType"] == event
        assert {(e["user"], e["adminUser"], e["ip"]) for e in entries} == {
            ("employee@example.com", ADMIN_EMAIL, "127.0.0.1")}, entries
    logs = [item for item in login(app).get("/status/logs?_size=100").get_json()["items"]
            if item["message"].startswith("Job [")]
    assert len(logs) == 6  # three jobs, started and finished
    assert {(item["userEmail"], item["adminUserEmail"], item["ip"]) for item in logs} == {
        ("employee@example.com", ADMIN_EMAIL, "127.0.0.1")}
