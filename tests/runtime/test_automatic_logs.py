"""The app logs the runtime writes by itself: logins, REST writes, validation failures, record changes, jobs."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask import Flask

from core.storage import drop_embedded
from runtime.applogs import AppLogs
from runtime.auth import INVALID_CREDENTIALS
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api, company, create, login, make_app, wait_for_job


def logs_of(app: Flask) -> AppLogs:
    return app.extensions["runtime"].app_logs


def items(app: Flask, api: Api, query: str = "") -> list[dict[str, Any]]:
    logs_of(app).flush()
    response = api.get(f"/status/logs{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def shapes(found: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    return [(i["level"], i["subType"], i["message"]) for i in found]


@pytest.fixture
def app_all():
    app = make_app(app_logs_requests="all")
    yield app
    drop_embedded(app.config["RUNTIME"].mongodb_db)


# --- logins ----------------------------------------------------------------------------------------------------

def test_a_login_is_logged_as_in_the_seed(app: Flask, api: Api):
    found = items(app, api)
    assert shapes(found) == [("INFO", "LOGIN", "POST /login")]
    log = found[0]
    assert (log["type"], log["userEmail"], log["adminUserEmail"], log["ip"]) == ("APP", ADMIN_EMAIL, None,
                                                                                  "127.0.0.1")
    assert "additionalInfo" not in log


def test_a_failed_login_is_a_warning_without_the_password(app: Flask, api: Api, anon: Api):
    assert anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": "Wr0ng-Secret!"}).status_code == 401
    assert anon.post("/auth/login", json={"email": "nobody@example.com", "password": "x"}).status_code == 401
    failed = items(app, api, "?level=WARN")
    assert shapes(failed) == [("WARN", "LOGIN", f"POST /login failed: {INVALID_CREDENTIALS}")] * 2
    assert [f["userEmail"] for f in failed] == [ADMIN_EMAIL, "nobody@example.com"]
    assert failed[0]["additionalInfo"] == {"status": 401, "reason": INVALID_CREDENTIALS}
    assert "Wr0ng-Secret!" not in json.dumps(items(app, api))


def test_an_impersonated_login_names_both_users(app: Flask, api: Api):
    app.extensions["runtime"].auth.create_user("user@example.com", "user-password", "Regular", "User")
    response = api.client.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                                        "emailImpersonatedUser": "user@example.com"})
    assert response.status_code == 200
    last = items(app, api, "?userEmail=user@")
    assert [(i["subType"], i["userEmail"], i["adminUserEmail"]) for i in last] == [
        ("LOGIN", "user@example.com", ADMIN_EMAIL)]


# --- REST writes -----------------------------------------------------------------------------------------------

def test_every_rest_write_leaves_a_line_and_a_record_message(app: Flask, api: Api):
    record = create(api, "companies", company(name="Logged"))
    rid = record["id"]
    assert api.get(f"/data/companies/{rid}").status_code == 200  # a read: not logged by default
    assert api.put(f"/data/companies/{rid}", json={"numberOfEmployees": 7}).status_code == 200
    assert api.delete(f"/data/companies/{rid}").status_code == 200
    answered = int(time.time() * 1000)
    time.sleep(0.05)
    found = items(app, api)
    assert all(i["timestamp"] <= answered for i in found)  # dated when they happened, not when written
    assert shapes(found)[1:] == [
        ("INFO", "REST_API_RECORD_CREATED", "POST /api/data/companies"),
        ("INFO", None, "Data record of type [companies] with label [Logged] was created successfully"),
        ("INFO", "REST_API_RECORD_UPDATED", f"PUT /api/data/companies/{rid}"),
        ("INFO", None, "Data record of type [companies] with label [Logged] was changed successfully"),
        ("INFO", "REST_API_RECORD_DELETED", f"DELETE /api/data/companies/{rid}"),
        ("INFO", None, "Data record of type [companies] with label [Logged] was deleted successfully"),
    ]
    assert {(i["type"], i["userEmail"], i["adminUserEmail"], i["ip"]) for i in found} == {
        ("APP", ADMIN_EMAIL, None, "127.0.0.1")}


def test_actions_and_queries_keep_their_query_string_but_never_a_token(app: Flask, api: Api):
    record = create(api, "companies", company(name="Acted", state="active"))
    api.put(f"/data/companies/{record['id']}/logSomething?api_key={api.token}", json={"param1": "a"})
    assert api.put("/data/companies/countEmployees?state=active").status_code == 200
    lines = [i for i in items(app, api) if i["subType"] == "REST_API_ACTION_EXECUTED"]
    assert [i["message"] for i in lines] == [f"PUT /api/data/companies/{record['id']}/logSomething",
                                             "PUT /api/data/companies/countEmployees?state=active"]
    assert api.token not in json.dumps(items(app, api))


def test_a_refused_write_is_a_warning_with_its_status(app: Flask, api: Api):
    assert api.delete("/data/companies/5f0000000000000000000000").status_code == 404
    assert shapes(items(app, api, "?level=WARN")) == [
        ("WARN", "REST_API_RECORD_DELETED", "DELETE /api/data/companies/5f0000000000000000000000")]
    assert items(app, api, "?level=WARN")[0]["additionalInfo"] == {"status": 404}


def test_validation_failures_name_the_record_and_its_errors(app: Flask, api: Api):
    record = create(api, "companies", company(name="Valid"))
    assert api.put(f"/data/companies/{record['id']}", json={"numberOfEmployees": "many"}).status_code == 400
    assert api.post("/data/companies", json=company(name="Fresh", state="bogus")).status_code == 400
    found = items(app, api, "?message=Validation exceptions")
    assert [i["message"] for i in found] == [
        "Validation exceptions on record [Valid]. Error: [numberOfEmployees: Must be an integer]",
        "Validation exceptions on record [Fresh]. Error: [state: Not a valid choice]"]
    assert found[0]["additionalInfo"] == {"recordLabel": "Valid", "errors": [
        {"code": "INVALID", "field": "numberOfEmployees", "message": "Must be an integer"}]}
    assert (found[0]["type"], found[0]["subType"], found[0]["level"]) == ("APP", None, "INFO")


def test_a_validation_log_names_the_record_as_it_was_when_refused(app: Flask, api: Api):
    """The log is built later by the background writer: the label is the one the record had at request time,
    not after a rename or a delete that came in between."""
    renamed = create(api, "companies", company(name="RaceCo"))
    deleted = create(api, "companies", company(name="RaceDel"))
    assert api.put(f"/data/companies/{renamed['id']}", json={"numberOfEmployees": "abc"}).status_code == 400
    assert api.put(f"/data/companies/{renamed['id']}", json={"name": "RaceCoRenamed"}).status_code == 200
    assert api.put(f"/data/companies/{deleted['id']}", json={"numberOfEmployees": "abc"}).status_code == 400
    assert api.delete(f"/data/companies/{deleted['id']}").status_code == 200
    found = items(app, api, "?message=Validation exceptions")
    assert [(i["message"].split(".")[0], i["additionalInfo"]["recordLabel"]) for i in found] == [
        ("Validation exceptions on record [RaceCo]", "RaceCo"),
        ("Validation exceptions on record [RaceDel]", "RaceDel")]


@pytest.fixture
def proxied_app():
    app = make_app(trusted_proxies=1)
    yield app
    drop_embedded(app.config["RUNTIME"].mongodb_db)


def _write_ips(app: Flask, api: Api, forwarded: str) -> set[str | None]:
    """The addresses of the logs of a create sent with ``X-Forwarded-For: forwarded``."""
    response = api.post("/data/companies", json=company(name="Forwarded"), headers={"X-Forwarded-For": forwarded})
    assert response.status_code == 200, response.get_json()
    found = [i for i in items(app, api) if i["subType"] != "LOGIN"]
    assert len(found) == 2  # the request line and the record message
    return {i["ip"] for i in found}


def test_request_logs_ignore_x_forwarded_for_without_trusted_proxies(app: Flask, api: Api):
    assert _write_ips(app, api, "6.6.6.6") == {"127.0.0.1"}


def test_request_logs_take_the_address_a_trusted_proxy_saw(proxied_app: Flask):
    """Behind one trusted proxy the client is the last hop of the chain, the one that proxy added; what the client
    itself put before it is not believed."""
    assert _write_ips(proxied_app, login(proxied_app), "6.6.6.6, 10.0.0.7") == {"10.0.0.7"}


def test_reads_are_logged_with_all(app_all: Flask):
    api = login(app_all)
    record = create(api, "companies", company(name="Read"))
    api.get(f"/data/companies/{record['id']}")
    api.get("/data/companies?_size=1")
    found = shapes(items(app_all, api))
    assert ("INFO", "REST_API_RECORD_READ", f"GET /api/data/companies/{record['id']}") in found
    assert ("INFO", None, "GET /api/data/companies?_size=1") in found
    assert not [m for _, _, m in found if m.startswith("GET /api/status/logs")]  # reading logs is not logged


def test_off_keeps_logins_and_record_messages_but_no_request_lines():
    app = make_app(app_logs_requests="off")
    api = login(app)
    create(api, "companies", company(name="Quiet"))
    assert [m for _, _, m in shapes(items(app, api))] == [
        "POST /login", "Data record of type [companies] with label [Quiet] was created successfully"]


def test_a_bad_setting_stops_the_start(monkeypatch: pytest.MonkeyPatch):
    from core.config import Config

    monkeypatch.setenv("APP_LOGS_REQUESTS", "some")
    with pytest.raises(SystemExit, match="APP_LOGS_REQUESTS must be one of writes, all, off"):
        Config.from_env()


def test_job_starts_and_ends_are_logged(app: Flask, api: Api):
    create(api, "companies", company(name="Doomed", state="inactive"))
    job = api.delete("/data/companies?state=inactive&_async=true").get_json()
    assert wait_for_job(api, job["jobId"])["status"] == "FINISHED"
    deadline = time.time() + 10  # the end is logged just after the job shows FINISHED
    while True:
        found = [i for i in items(app, api) if job["jobId"] in i["message"]]
        if len(found) >= 2 or time.time() > deadline:
            break
        time.sleep(0.05)
    assert [(i["level"], i["message"].rsplit(" ", 1)[-1]) for i in found] == [("INFO", "started"),
                                                                              ("INFO", "finished")]
    assert found[1]["additionalInfo"]["recordsProcessed"] == 1 and found[1]["userEmail"] == ADMIN_EMAIL


# --- off the request path --------------------------------------------------------------------------------------

def test_a_failing_log_store_never_fails_a_request(app: Flask, api: Api, monkeypatch: pytest.MonkeyPatch):
    logs = logs_of(app)
    logs.flush()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("log store down")

    monkeypatch.setattr(logs, "_store_batch", broken)
    logs.buffer._store_batch = broken
    assert create(api, "companies", company(name="Still saved"))["label"] == "Still saved"
    assert logs.flush() == 0  # dropped, reported on the process log


def test_a_hanging_log_store_never_slows_a_request(app: Flask, api: Api):
    logs = logs_of(app)
    logs.flush()
    logs.buffer._store_batch = lambda docs: time.sleep(1.0)
    started = time.perf_counter()
    for i in range(5):
        create(api, "companies", company(name=f"Fast {i}"))
    assert time.perf_counter() - started < 1.0


def test_logs_are_capped_oldest_first():
    app = make_app(app_log_max_entries=5)
    api = login(app)
    for i in range(6):
        create(api, "companies", company(name=f"Capped {i}"))
    found = items(app, api)
    assert len(found) == 5
    assert found[-1]["message"] == "Data record of type [companies] with label [Capped 5] was created successfully"
    assert api.get("/status/logs?_size=0").get_json()["total"] == 5
