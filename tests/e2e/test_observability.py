"""The Procfile's web process (gunicorn, two workers): /metrics adds up every worker's counts, readiness checks
the store and Redis, and the docs page loads Swagger UI and a document with the per-entity operations."""

from __future__ import annotations

import json
import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import across_workers, wait_job
from tests.e2e.stack import Client, Stack

HEALTH = ("runtime_http_requests_total", (("method", "GET"), ("route", "/api/health"), ("status", "200")))


def scrape(client: Client, request_id: str | None = None):
    reply = client.call("GET", "/metrics", request_id=request_id)
    assert reply.status == 200, reply.body
    return reply


def counts(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_the_requests_of_every_gunicorn_worker(stack: Stack):
    root = Client(stack.base_url)
    before = counts(scrape(root).body).get(HEALTH, 0.0)
    health = across_workers(stack, lambda rid: stack.client().call("GET", "/health", request_id=rid))
    assert {r.status for r in health} == {200}
    # Every worker's /metrics reports the requests served by both.
    pages = across_workers(stack, lambda rid: scrape(root, rid), min_requests=4)
    for page in pages:
        assert counts(page.body)[HEALTH] - before == len(health), page.body[:500]


def test_job_metrics_and_queue_depths_come_from_the_shared_store_and_redis(stack: Stack, api: Client):
    link = api.ok("PUT", "/data/companies/export?_size=1", None)
    wait_job(api, link["jobId"], lambda job: job["status"] == "FINISHED", "the export job")
    page = counts(scrape(Client(stack.base_url)).body)
    assert page[("runtime_jobs", (("status", "FINISHED"), ("type", "EXPORT_RECORDS")))] >= 1
    assert page[("runtime_job_duration_seconds_count", (("type", "EXPORT_RECORDS"),))] >= 1
    assert ("runtime_job_queue_depth", (("queue", "default"),)) in page
    assert ("runtime_job_queue_depth", (("queue", "low"),)) in page


def test_readiness_pings_the_store_and_redis(stack: Stack):
    reply = stack.client().call("GET", "/health/ready")
    assert reply.status == 200, reply.body
    assert reply.body == {"status": "ok", "checks": {"store": "ok", "redis": "ok"}}


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return reply.status, reply.headers.get_content_type(), reply.read()


def test_the_docs_page_loads_swagger_ui_and_the_companies_operations(stack: Stack):
    """What a browser opening /api/docs fetches, fetched the same way: the page, every asset it names, and the
    document its script hands Swagger UI, which must hold the operations the page lists under ``companies``."""
    status, kind, body = _get(f"{stack.base_url}/api/docs")
    page = body.decode()
    assert (status, kind) == (200, "text/html"), page[:500]
    assets = re.findall(r'(?:src|href)="(/api/docs/assets/[^"]+)"', page)
    assert {a.rsplit("/", 1)[1] for a in assets} == {"swagger-ui.css", "favicon-32x32.png", "swagger-ui-bundle.js"}
    for asset in assets:
        status, _, content = _get(f"{stack.base_url}{asset}")
        assert status == 200 and content, asset
        if asset.endswith(".js"):
            assert b"SwaggerUIBundle" in content
    spec_url = json.loads(re.search(r"url: (\"[^\"]+\")", page).group(1))
    assert "SwaggerUIBundle({" in page and 'dom_id: "#swagger-ui"' in page
    status, kind, raw = _get(f"{stack.base_url}{spec_url}")
    assert (status, kind) == (200, "application/json")
    spec = json.loads(raw)
    operations = {op["operationId"]: (path, op) for path, item in spec["paths"].items()
                  for op in item.values() if isinstance(op, dict) and "operationId" in op}
    for operation in ("list", "create", "get", "update", "delete", "aggregate", "import", "export",
                      "actions.deactivate.byId"):
        _, op = operations[f"companies.{operation}"]
        assert "companies" in op["tags"], operation
    assert operations["companies.actions.deactivate.byId"][0] == "/api/data/companies/{id}/deactivate"
    assert spec["components"]["securitySchemes"]  # the "Authorize" button gives "Try it out" a token
