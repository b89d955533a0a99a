"""Application logs: ``GET``/``POST /status/logs``, writing through action handlers and the service, retention."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from core.config import Config
from core.storage import drop_embedded
from runtime.applogs import AppLogs
from runtime.applogs.buffer import LogBuffer
from tests.conftest import ADMIN_EMAIL, Api, company, create, grant_all, login, make_app

LOG_KEYS = ["id", "type", "subType", "level", "message", "userEmail", "adminUserEmail", "timestamp", "ip"]


def logs_of(app: Flask) -> AppLogs:
    return app.extensions["runtime"].app_logs


def at(moment: dt.datetime):
    """A clock for the log service stuck at ``moment``."""
    return lambda: moment.timestamp()


def messages(api: Api, query: str = "") -> list[str]:
    response = api.get(f"/status/logs{query}")
    assert response.status_code == 200, response.get_json()
    return [item["message"] for item in response.get_json()["items"]]


def wait_for_job(api: Api, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = api.get(f"/status/jobs/{job_id}").get_json()
        if job["status"] in ("FINISHED", "STOPPED", "CANCELED"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def quiet_login(app: Flask) -> Api:
    """Log in, then forget the login's own app log: these tests count exactly the logs they write."""
    api = login(app)
    logs_of(app).flush()
    logs_of(app).col.delete_many({})
    return api


@pytest.fixture
def app():
    """Request lines off (``tests/runtime/test_automatic_logs.py`` covers them)."""
    app = make_app(app_logs_requests="off")
    yield app
    drop_embedded(app.config["RUNTIME"].mongodb_db)


@pytest.fixture
def api(app: Flask) -> Api:
    return quiet_login(app)


# --- writing ---------------------------------------------------------------------------------------------------


def test_post_creates_an_external_log_as_in_the_seed(api: Api):
    before = int(time.time() * 1000)
    response = api.post("/status/logs", json={"level": "INFO", "message": "This is a test log",
                                              "additionalInfo": {"test": "Additional info property"}})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == [*LOG_KEYS, "additionalInfo"]
    assert body["type"] == "EXTERNAL" and body["subType"] is None and body["level"] == "INFO"
    assert body["message"] == "This is a test log" and body["userEmail"] == ADMIN_EMAIL
    assert body["adminUserEmail"] is None and body["additionalInfo"] == {"test": "Additional info property"}
    assert before <= body["timestamp"] <= int(time.time() * 1000) and len(body["id"]) == 24

    listed = api.get("/status/logs").get_json()
    assert listed["total"] == 1 and listed["items"] == [body] and listed["offset"] == body["id"]


def test_post_defaults_the_level_and_keeps_any_additional_info_keys(api: Api):
    info = {"a.b": {"$set": 1}, "list": [1, "two", None], "nested": {"deep": {"x": True}}}
    body = api.post("/status/logs", json={"message": "odd keys", "additionalInfo": info}).get_json()
    assert body["level"] == "INFO" and body["additionalInfo"] == info
    assert api.get("/status/logs?message=odd").get_json()["items"][0]["additionalInfo"] == info
    warn = api.post("/status/logs", json={"message": "lower", "level": "warn"}).get_json()
    assert warn["level"] == "WARN" and "additionalInfo" not in warn


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"level": "INFO"}, "message", "required"),
    ({"level": "INFO", "message": ""}, "message", "required"),
    ({"level": "INFO", "message": 12}, "message", "invalid"),
    ({"level": "DEBUG", "message": "m"}, "level", "invalid"),
    ({"level": ["INFO"], "message": "m"}, "level", "invalid"),
    ({"message": "m", "additionalInfo": [1, 2]}, "additionalInfo", "invalid"),
    ({"message": "m", "additionalInfo": {"big": "x" * 70_000}}, "additionalInfo", "invalid"),
    ({"message": "x" * 10_001}, "message", "invalid"),
])
def test_post_validation_errors(api: Api, body: dict[str, Any], field: str, code: str):
    response = api.post("/status/logs", json=body)
    assert response.status_code == 400
    error = response.get_json()
    assert error["code"] == "validationErrors"
    assert [(e["field"], e["code"]) for e in error["errors"]] == [(field, code)]
    assert api.get("/status/logs").get_json()["total"] == 0


def test_post_with_a_body_that_is_not_an_object_is_400(api: Api):
    for data in ("not json", "[1, 2]"):
        response = api.post("/status/logs", data=data, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and response.get_json()["code"] == "badRequest"
    assert api.get("/status/logs").get_json()["total"] == 0


def test_a_synchronous_action_logs_to_the_app_logs(api: Api):
    record = create(api, "companies", company(name="Acme"))
    assert api.put(f"/data/companies/{record['id']}/logSomething", json={"param1": "a", "param2": "b"}).status_code \
        == 200
    items = api.get("/status/logs?message=logSomething").get_json()["items"]
    assert len(items) == 1
    log = items[0]
    assert log["message"] == "logSomething on Acme: a b"
    assert (log["type"], log["subType"], log["level"]) == ("APP", "SCRIPT", "INFO")
    assert log["userEmail"] == ADMIN_EMAIL and log["ip"] == "127.0.0.1"
    assert log["additionalInfo"] == {"entity": "companies", "action": "logSomething"}


def test_an_impersonated_call_names_the_admin(app: Flask, api: Api):
    app.extensions["runtime"].auth.create_user("user@example.com", "user-password", "Regular", "User")
    grant_all(app, "user@example.com")
    response = api.client.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": "admin-password",
                                                        "emailImpersonatedUser": "user@example.com"})
    as_user = Api(api.client, response.get_json()["token"])
    record = create(api, "companies", company(name="Imp"))
    as_user.put(f"/data/companies/{record['id']}/logSomething", json={"param1": "i"})
    log = api.get("/status/logs?message=logSomething%20on%20Imp").get_json()["items"][0]
    assert (log["userEmail"], log["adminUserEmail"]) == ("user@example.com", ADMIN_EMAIL)


def test_an_action_run_as_a_job_logs_to_the_job_not_the_app_logs(api: Api):
    create(api, "companies", company(name="Jobbed"))
    job = api.put("/data/companies/logSomething?_async=true", json={"param1": "j"}).get_json()
    assert wait_for_job(api, job["jobId"])["status"] == "FINISHED"
    job_logs = api.get(f"/status/jobs/{job['jobId']}/logs").get_json()["items"]
    assert any("logSomething on Jobbed" in line["message"] for line in job_logs)
    assert not [m for m in messages(api) if "logSomething on Jobbed" in m]  # only the job's start and end


def test_the_service_writes_for_other_packages(app: Flask, api: Api):
    logs = logs_of(app)
    with app.app_context():  # no request: the system user
        written = logs.write("warn", "cache rebuilt", {"entries": 3})
    assert written["userEmail"] == "system" and written["level"] == "WARN" and written["type"] == "APP"
    logs.write("ERROR", "for someone", user="someone@example.com", sub_type="EVENT_ARRIVED", ip="10.0.0.1")
    items = api.get("/status/logs").get_json()["items"]
    assert [(i["message"], i["userEmail"], i["subType"], i["ip"]) for i in items] == [
        ("cache rebuilt", "system", None, None), ("for someone", "someone@example.com", "EVENT_ARRIVED", "10.0.0.1")]
    assert items[0]["additionalInfo"] == {"entries": 3} and "additionalInfo" not in items[1]
    with pytest.raises(ValueError):
        logs.write("DEBUG", "no such level")
    with pytest.raises(ValueError):
        logs.write("INFO", "no such type", type="OTHER")


def test_queued_logs_are_stored_as_built_and_expire_after_the_retention(app: Flask):
    """The background writer stores each queued log as ``build`` made it (no copy): its values must be what BSON
    stores, its expiry the log's time plus the retention, naive UTC to the millisecond."""
    logs = logs_of(app)
    at = 1_767_225_600.1239  # 2026-01-01T00:00:00.1239Z
    logs.clock = lambda: at
    with app.app_context():
        logs.log("INFO", "queued", {"n": 1}, "someone@example.com")
    assert logs.flush() == 1
    stored = logs.col.find_one({"message": "queued"})
    assert stored["timestamp"] == 1_767_225_600_123
    assert stored["expiresAt"] == dt.datetime(2026, 1, 1, 0, 0, 0, 123_000) + logs.retention
    assert stored["additionalInfo"] == '{"n": 1}' and stored["userEmail"] == "someone@example.com"


# --- access ----------------------------------------------------------------------------------------------------


def test_logs_need_a_token(anon: Api):
    for method in ("GET", "POST"):
        response = anon.request(method, "/status/logs", json={"message": "m"})
        assert response.status_code == 401 and response.get_json()["code"] == "unauthorized"


def test_logs_are_for_developers_only(api: Api, user_api: Api):
    api.post("/status/logs", json={"message": "secret"})
    for method in ("GET", "POST"):
        response = user_api.request(method, "/status/logs", json={"message": "m"})
        assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
    external = [i["message"] for i in api.get("/status/logs").get_json()["items"] if i["type"] == "EXTERNAL"]
    assert external == ["secret"]


# --- filters ---------------------------------------------------------------------------------------------------


@pytest.fixture
def sample(app: Flask) -> dict[str, int]:
    """Five logs at known times; returns their timestamps by message."""
    logs = logs_of(app)
    now = dt.datetime.now(dt.UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = [
        ("old login", "INFO", "ann@example.com", midnight - dt.timedelta(days=3)),
        ("yesterday failure", "ERROR", "bob@example.com", midnight - dt.timedelta(hours=12)),
        # yesterday, and older than the last 2 hours even in the first hours after midnight (UTC)
        ("yesterday late warning", "WARN", "ann@example.com",
         min(midnight, now - dt.timedelta(hours=2)) - dt.timedelta(seconds=1)),
        ("hour ago info", "INFO", "bob@example.com", now - dt.timedelta(minutes=59)),
        ("just now ERROR", "ERROR", "carl@other.org", now - dt.timedelta(seconds=5)),
    ]
    stamps = {}
    for message, level, user, moment in rows:
        logs.clock = at(moment)
        stamps[message] = logs.write(level, message, user=user)["timestamp"]
    logs.clock = time.time
    return stamps


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["old login", "yesterday failure", "yesterday late warning", "hour ago info", "just now ERROR"]),
    ("?level=ERROR", ["yesterday failure", "just now ERROR"]),
    ("?level=warn,error", ["yesterday failure", "yesterday late warning", "just now ERROR"]),
    ("?level=INFO,,", ["old login", "hour ago info"]),
    ("?message=YESTERDAY", ["yesterday failure", "yesterday late warning"]),
    ("?message=error", ["just now ERROR"]),
    ("?message=.*", []),
    ("?userEmail=ann", ["old login", "yesterday late warning"]),
    ("?userEmail=EXAMPLE.COM&level=INFO", ["old login", "hour ago info"]),
    ("?userEmail=other.org", ["just now ERROR"]),
    ("?period=2h", ["hour ago info", "just now ERROR"]),
    ("?period=1m", ["just now ERROR"]),
    ("?period=1h%201m", ["hour ago info", "just now ERROR"]),
    ("?period=4d&level=INFO", ["old login", "hour ago info"]),
    ("?period=1m&from=0&to=1", ["just now ERROR"]),  # period wins over from/to
])
def test_filters(api: Api, sample: dict[str, int], query: str, expected: list[str]):
    assert messages(api, query) == expected
    assert api.get(f"/status/logs{query}").get_json()["total"] == len(expected)


def test_today_and_yesterday_are_utc_days(api: Api, sample: dict[str, int]):
    midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000
    day = 86_400_000
    today = messages(api, "?period=today")
    assert today == [m for m, ts in sample.items() if ts >= midnight]  # "hour ago" is yesterday just after 0:00
    assert today and "yesterday late warning" not in today
    yesterday = messages(api, "?period=yesterday")
    assert yesterday == [m for m, ts in sample.items() if midnight - day <= ts < midnight]
    assert {"yesterday failure", "yesterday late warning"} <= set(yesterday) and "old login" not in yesterday


def test_from_and_to_are_inclusive_millis(api: Api, sample: dict[str, int]):
    failure, late = sample["yesterday failure"], sample["yesterday late warning"]
    assert messages(api, f"?from={failure}&to={late}") == ["yesterday failure", "yesterday late warning"]
    assert messages(api, f"?from={failure + 1}&to={late}") == ["yesterday late warning"]
    assert messages(api, f"?to={failure}") == ["old login", "yesterday failure"]
    assert messages(api, f"?from={sample['hour ago info']}") == ["hour ago info", "just now ERROR"]


# --- paging ----------------------------------------------------------------------------------------------------


def test_paging_with_the_returned_offset(api: Api, sample: dict[str, int]):
    seen, offset, pages = [], None, 0
    while True:
        query = "?_size=2" + (f"&_offset={offset}" if offset else "")
        page = api.get(f"/status/logs{query}").get_json()
        assert page["total"] == 5
        if not page["items"]:
            assert page["offset"] is None
            break
        assert page["offset"] == page["items"][-1]["id"]
        seen += [i["message"] for i in page["items"]]
        offset, pages = page["offset"], pages + 1
    assert seen == list(sample) and pages == 3


def test_paging_newest_first_and_with_filters(api: Api, sample: dict[str, int]):
    first = api.get("/status/logs?_sortType=desc&_size=2").get_json()
    assert [i["message"] for i in first["items"]] == ["just now ERROR", "hour ago info"]
    rest = messages(api, f"?_sortType=desc&_offset={first['offset']}")
    assert rest == ["yesterday late warning", "yesterday failure", "old login"]
    errors = api.get("/status/logs?level=ERROR&_size=1").get_json()
    assert errors["total"] == 2 and [i["message"] for i in errors["items"]] == ["yesterday failure"]
    assert messages(api, f"?level=ERROR&_offset={errors['offset']}") == ["just now ERROR"]


def test_a_numeric_offset_skips(api: Api, sample: dict[str, int]):
    assert messages(api, "?_offset=3") == ["hour ago info", "just now ERROR"]
    assert messages(api, "?_offset=1&_size=1") == ["yesterday failure"]
    assert messages(api, "?_offset=9") == []


def test_size_zero_gives_the_total_only(api: Api, sample: dict[str, int]):
    assert api.get("/status/logs?_size=0&level=ERROR").get_json() == {"total": 2, "offset": None, "items": []}


def test_logs_written_in_the_same_millisecond_page_without_gaps(app: Flask, api: Api):
    logs = logs_of(app)
    logs.clock = at(dt.datetime.now(dt.UTC))
    for n in range(7):
        logs.write("INFO", f"tick {n}")
    seen, offset = [], ""
    for _ in range(4):
        page = api.get(f"/status/logs?_size=3{offset}").get_json()
        seen += [i["message"] for i in page["items"]]
        offset = f"&_offset={page['offset']}" if page["offset"] else ""
    assert seen == [f"tick {n}" for n in range(7)]


def test_the_default_page_is_200_logs(app: Flask, api: Api):
    logs = logs_of(app)
    for n in range(205):
        logs.write("INFO", f"line {n}")
    page = api.get("/status/logs").get_json()
    assert page["total"] == 205 and len(page["items"]) == 200
    assert page["items"][-1]["message"] == "line 199"


# --- bad filters -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "param"), [
    ("period=5x", "period"),
    ("period=yesterdayish", "period"),
    ("period=3h%2030", "period"),
    ("from=abc", "from"),
    ("to=-5", "to"),
    ("from=10&to=5", "from"),
    ("level=DEBUG", "level"),
    ("level=INFO,LOUD", "level"),
    ("_size=-1", "_size"),
    ("_size=1001", "_size"),
    ("_size=ten", "_size"),
    ("_offset=not-an-id", "_offset"),
    ("_offset=5f0000000000000000000000", "_offset"),  # a well-formed id of no log
    ("_sortType=sideways", "_sortType"),
    ("message=" + "x" * 501, "message"),
])
def test_bad_filters_are_400(api: Api, query: str, param: str):
    response = api.get(f"/status/logs?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "badRequest" and f"'{param}'" in body["message"]
    assert [e["field"] for e in body["errors"]] == [param]


# --- retention -------------------------------------------------------------------------------------------------


def test_retention_is_a_ttl_on_expires_at(app: Flask, api: Api):
    indexes = app.extensions["runtime"].store.collection("sys.logs").index_information()
    assert indexes["expiry"]["key"] == [("expiresAt", 1)]
    assert indexes["by_time"]["key"] == [("timestamp", 1), ("_id", 1)]
    assert indexes["by_level_time"]["key"] == [("level", 1), ("timestamp", 1), ("_id", 1)]
    logged = api.post("/status/logs", json={"message": "kept"}).get_json()
    stored = app.extensions["runtime"].store.collection("sys.logs").find_one({"message": "kept"})
    expected = dt.datetime.fromtimestamp(logged["timestamp"] / 1000, dt.UTC).replace(tzinfo=None) \
        + dt.timedelta(days=30)
    assert abs(stored["expiresAt"] - expected) < dt.timedelta(seconds=1)


def test_logs_older_than_the_retention_are_removed(manual_sweeps: Callable[[], int]):
    app = make_app(app_log_retention_days=2, app_logs_requests="off")
    api = quiet_login(app)
    logs = logs_of(app)
    now = dt.datetime.now(dt.UTC)
    for days in (3, 1):
        logs.clock = at(now - dt.timedelta(days=days))
        logs.write("INFO", f"{days} days old")
    logs.clock = time.time
    assert messages(api) == ["3 days old", "1 days old"]
    assert manual_sweeps() >= 1
    assert messages(api) == ["1 days old"]


def test_a_shorter_retention_applies_to_logs_already_written(app: Flask, api: Api):
    logs = logs_of(app)
    now = dt.datetime.now(dt.UTC)
    for days in (10, 4):
        logs.clock = at(now - dt.timedelta(days=days))
        logs.write("INFO", f"{days} days old")
    AppLogs(app.extensions["runtime"].store, retention_days=5).ensure_indexes()  # the release step, new setting
    assert messages(api) == ["4 days old"]


def test_retention_days_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("APP_LOG_RETENTION_DAYS", "7")
    assert Config.from_env().app_log_retention_days == 7
    monkeypatch.delenv("APP_LOG_RETENTION_DAYS")
    assert Config.from_env().app_log_retention_days == 30
    with pytest.raises(ValueError):
        make_app(app_log_retention_days=0)


def test_a_forked_child_writes_its_logs_with_a_writer_of_its_own():
    """gunicorn forks its workers after the app is built: the parent's writer thread is not in the child, so
    the child's first log starts one there, and it writes what the child logs."""
    stored: list[dict[str, Any]] = []
    buffer = LogBuffer(stored.extend)
    buffer.add({"n": 1})
    assert buffer.flush() == 1 and stored == [{"n": 1}]
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        ok = False
        try:
            buffer.add({"n": 2})
            buffer._wake.set()  # no flush() here: the child's own writer thread must write it
            deadline = time.monotonic() + 10
            while stored != [{"n": 1}, {"n": 2}] and time.monotonic() < deadline:
                time.sleep(0.01)
            ok = stored == [{"n": 1}, {"n": 2}]
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 1) == b"1"
