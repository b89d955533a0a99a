"""``/api/health`` (liveness), ``/api/health/ready`` (store and Redis) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

import io
import re
import uuid

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from core.config import Config
from core.storage import drop_embedded
from jobs.model import new_job
from runtime.app import create_app
from tests.conftest import Api, company, create, make_app, wait_for_job


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of a Prometheus text page."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(page: dict, name: str, **labels: str) -> float:
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


def test_liveness_and_readiness_need_no_token(anon: Api):
    assert anon.get("/health").get_json() == {"status": "ok"}
    ready = anon.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ok", "checks": {"store": "ok", "redis": "not configured"}}


def test_readiness_is_503_naming_an_unreachable_redis():
    config = Config.from_env(mongodb_uri=None, mongodb_db=f"test_{uuid.uuid4().hex}",
                             redis_url="redis://127.0.0.1:1/0", ready_timeout_seconds=1)
    app = create_app(config)
    try:
        response = app.test_client().get("/api/health/ready")
        assert response.status_code == 503
        body = response.get_json()
        assert body["code"] == "serviceUnavailable" and "redis" in body["message"]
        assert body["checks"]["store"] == "ok" and body["checks"]["redis"].startswith("error: ")
        assert [e["field"] for e in body["errors"]] == ["redis"]
        assert app.test_client().get("/api/health").status_code == 200  # liveness does not depend on it
    finally:
        drop_embedded(app.config["RUNTIME"].mongodb_db)


def test_readiness_is_503_naming_a_store_that_does_not_answer(app: Flask, anon: Api, monkeypatch):
    db = app.extensions["runtime"].store.db

    def down(*args, **kwargs):
        raise ConnectionError("no server")

    monkeypatch.setattr(db, "command", down)
    response = anon.get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["checks"]["store"] == "error: ConnectionError: no server"
    assert response.get_json()["message"] == "Not ready: store did not answer"


def test_metrics_count_requests_by_route_template_and_status_and_login_failures(app: Flask, api: Api, anon: Api):
    before = samples(anon.client.get("/metrics").get_data(as_text=True))
    route = "/api/data/<entity_name>/<record_id>"
    record = create(api, "companies", company())
    for _ in range(3):
        assert api.get(f"/data/companies/{record['id']}").status_code == 200
    assert api.get("/data/companies/5506fc44c2eee3b1a702694c").status_code == 404
    assert anon.post("/auth/login", json={"email": "admin@example.com", "password": "wrong"}).status_code == 401
    page = anon.client.get("/metrics")
    assert page.status_code == 200 and page.mimetype == "text/plain"
    after = samples(page.get_data(as_text=True))

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("runtime_http_requests_total", method="GET", route=route, status="200") == 3
    assert delta("runtime_http_requests_total", method="GET", route=route, status="404") == 1
    assert delta("runtime_http_request_duration_seconds_count", method="GET", route=route, status="200") == 3
    assert delta("runtime_http_request_duration_seconds_bucket", method="GET", route=route, status="200",
                 le="+Inf") == 3
    assert delta("runtime_login_failures_total", status="401") == 1


def test_metrics_count_jobs_by_type_and_status_with_durations_and_queue_depth(app: Flask, api: Api, anon: Api):
    csv = b"name,state\nMetric 1,active\nMetric 2,active\n"
    link = api.post("/data/companies/import", data={"file": (io.BytesIO(csv), "m.csv")}).get_json()
    wait_for_job(api, link["jobId"])
    page = samples(anon.client.get("/metrics").get_data(as_text=True))
    assert value(page, "runtime_jobs", type="IMPORT_RECORDS", status="FINISHED") == 1
    assert value(page, "runtime_job_duration_seconds_count", type="IMPORT_RECORDS") == 1
    assert value(page, "runtime_job_duration_seconds_bucket", type="IMPORT_RECORDS", le="+Inf") == 1
    assert value(page, "runtime_job_duration_seconds_sum", type="IMPORT_RECORDS") >= 0
    assert ("runtime_job_queue_depth", (("queue", "embedded"),)) in page


def test_metrics_show_jobs_stored_under_a_former_type_name_with_its_public_one(app: Flask, anon: Api):
    svc = app.extensions["runtime"]
    admin = svc.auth.find_user("admin@example.com")
    for stored in ("LISTENER", "EXECUTE_LISTENER"):  # "LISTENER": what earlier versions stored
        doc = new_job(stored, "listener", {}, admin)
        doc.update(status="FINISHED", startDate=1000, endDate=1500)
        svc.jobs.repo.insert(doc)
    page = samples(anon.client.get("/metrics").get_data(as_text=True))
    assert value(page, "runtime_jobs", type="EXECUTE_LISTENER", status="FINISHED") == 2
    assert value(page, "runtime_job_duration_seconds_count", type="EXECUTE_LISTENER") == 2
    assert not [key for key in page if ("type", "LISTENER") in key[1]]


def test_metrics_need_the_metrics_token_when_one_is_set():
    app = make_app(metrics_token="scrape-secret")
    try:
        client = app.test_client()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"token": "scrape-secret"}):
            response = client.get("/metrics", headers=headers)
            assert response.status_code == 401, headers
            assert response.get_json()["code"] == "unauthorized"
        response = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert response.status_code == 200
        assert re.search(r"^# TYPE runtime_http_requests_total counter$", response.get_data(as_text=True), re.M)
    finally:
        drop_embedded(app.config["RUNTIME"].mongodb_db)
