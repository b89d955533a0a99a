"""One production-like stack for the whole end-to-end session: the Procfile's processes on a MongoDB wire test
server and a redis-server. Never skipped: a missing redis-server or gunicorn fails the tests and says so."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.stack import Client, Reply, Stack, StackError

# Short enough that a killed worker's job is detected within seconds; long enough for any batch here.
STALE_SECONDS = 5
BATCH_SIZE = 20
ENV = {"JOBS_STALE_SECONDS": str(STALE_SECONDS), "JOBS_BATCH_SIZE": str(BATCH_SIZE),
       "APP_MODULES": "examples.crm,tests.e2e.handlers", "SCHEDULE_SECONDS": "1"}  # 6-field crons: short tests


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    try:
        running = Stack(web_workers=2, extra_env=ENV).start()
    except StackError as exc:
        pytest.fail(f"the end-to-end stack could not start: {exc}")
    yield running
    errors = running.server_errors()
    running.close()
    if errors:
        pytest.fail("the web or worker processes failed during the session:\n" + "\n".join(errors[:10]))


@pytest.fixture(scope="session")
def api(stack: Stack) -> Client:
    """A developer logged in through ``POST /api/auth/login`` on the gunicorn web processes."""
    return stack.login()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def define(api: Client, name: str, fields: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body = {"name": name, "label": name, "fields": fields, **extra}
    return api.ok("POST", "/metadata/entities", body)


def create_many(api: Client, entity: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda b: api.ok("POST", f"/data/{entity}", b), bodies))


def across_workers(stack: Stack, call: Callable[[str], Reply], min_requests: int = 16,
                   max_requests: int = 400) -> list[Reply]:
    """Send concurrent requests (``call(request_id)``) until every gunicorn worker has served some.

    Returns every reply; fails if, after ``max_requests``, one web worker served them all."""
    replies: list[Reply] = []
    ids: list[str] = []
    workers = stack.web_pids()
    with ThreadPoolExecutor(8) as pool:
        while len(replies) < max_requests:
            batch = [uuid.uuid4().hex for _ in range(min_requests)]
            replies += pool.map(call, batch)
            ids += batch
            served = stack.served_by(set(ids))
            if set(served.values()) >= workers:
                assert len(workers) >= 2, f"gunicorn started {len(workers)} worker(s)"
                return replies
    pytest.fail(f"{max_requests} concurrent requests were all served by one of the web workers {workers}")


def wait_job(api: Client, job_id: str, done: Callable[[dict[str, Any]], bool], what: str,
             timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/status/jobs/{job_id}")
        if done(job):
            return job
        if time.monotonic() > deadline:
            brief = {k: v for k, v in job.items() if k not in ("results", "data")}
            pytest.fail(f"timed out after {timeout}s waiting for {what}: {brief}")
        time.sleep(0.05)


def all_records(api: Client, entity: str) -> list[dict[str, Any]]:
    """Every record of ``entity`` (keyset pages of 1,000)."""
    out: list[dict[str, Any]] = []
    offset = ""
    while True:
        page = api.get(f"/data/{entity}?_size=1000" + (f"&_offset={offset}" if offset else ""))
        out += page["items"]
        if len(page["items"]) < 1000:
            return out
        offset = page["offset"]
