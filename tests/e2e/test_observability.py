"""The Procfile's web process (gunicorn, two workers): /metrics adds up every worker's counts, readiness checks
the store and Redis, and the docs page renders the per-entity operations in a real browser (headless
chromium, from the Debian package that ``.ci/run`` installs; never skipped)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
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


def test_the_docs_page_renders_the_companies_operations_in_headless_chromium(stack: Stack):
    browser = shutil.which("chromium")
    if browser is None:
        pytest.fail("chromium is not installed: the docs page test needs it (apt-get install chromium; .ci/run "
                    "installs it). It is never skipped.")
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--virtual-time-budget=20000", "--dump-dom", f"{stack.base_url}/api/docs"],
        capture_output=True, text=True, timeout=120, check=False)
    dom = result.stdout
    assert result.returncode == 0 and dom, result.stderr[-2000:]
    assert 'id="operations-tag-companies"' in dom, dom[:2000]
    for operation in ("list", "create", "get", "update", "delete", "aggregate", "import", "export",
                      "actions\\.deactivate\\.byId"):
        assert f'id="operations-companies-companies\\.{operation}"' in dom, operation
    assert "/api/data/companies/{id}/deactivate" in dom
    assert "Authorize" in dom  # the security schemes give "Try it out" a token
