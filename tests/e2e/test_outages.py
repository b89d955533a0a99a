"""Outages on the real stack: the database or Redis goes away and comes back; answers stay fast and clear.

These tests stop and restart the stack's own wire test server and redis-server, so they run on a stack of their
own (the session's shared stack stays up for the other end-to-end tests)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import ENV, create_many, define, unique, wait_job
from tests.e2e.stack import Client, Reply, Stack, StackError

TIMEOUT_MS = 2000
NAME = {"name": "name", "label": "Name", "type": "text", "required": True}


@pytest.fixture(scope="module")
def outage_stack() -> Iterator[Stack]:
    env = {**ENV, "MONGODB_SERVER_SELECTION_TIMEOUT_MS": str(TIMEOUT_MS), "REDIS_TIMEOUT_SECONDS": "2"}
    try:
        running = Stack(web_workers=1, job_workers=1, extra_env=env).start()
    except StackError as exc:
        pytest.fail(f"the end-to-end stack could not start: {exc}")
    yield running
    running.close()


def timed(call: Any) -> tuple[Reply, float]:
    start = time.monotonic()
    reply = call()
    return reply, time.monotonic() - start


def post_csv(api: Client, path: str, text: str) -> Reply:
    request = urllib.request.Request(api.base_url + path, data=text.encode(), method="POST",
                                     headers={"token": api.token or "", "Content-Type": "text/csv"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Reply(response.status, None, dict(response.headers))
    except urllib.error.HTTPError as exc:
        import json
        with exc:
            return Reply(exc.code, json.loads(exc.read() or b"null"), dict(exc.headers))


def test_database_down_answers_503_fast_health_stays_up_and_it_recovers_by_itself(outage_stack: Stack):
    stack = outage_stack
    api = stack.login()
    assert api.call("GET", "/data/companies").status == 200
    web_pids = stack.web_pids()

    stack.stop_mongo()
    reply, took = timed(lambda: api.call("GET", "/data/companies"))
    assert reply.status == 503 and reply.body["code"] == "serviceUnavailable", reply
    assert "database" in reply.body["message"]
    assert took < TIMEOUT_MS / 1000 + 3, took
    reply, took = timed(lambda: api.call("PUT", "/data/companies/6b0404aca7408a15fb0c93ee", {"name": "x"}))
    assert reply.status == 503 and took < TIMEOUT_MS / 1000 + 3, (reply, took)
    health, took = timed(lambda: stack.client().call("GET", "/health"))
    assert health.status == 200 and took < 1, (health, took)  # liveness: the process is fine

    stack.start_mongo()  # an empty database on the same port: the release puts users and metadata back
    assert stack.run_release().returncode == 0
    again = stack.login()  # the old token lived in the database that went away
    assert again.call("GET", "/data/companies").status == 200
    assert stack.web_pids() == web_pids  # no web process was restarted


def test_redis_down_async_work_answers_503_and_crud_keeps_working(outage_stack: Stack):
    stack = outage_stack
    api = stack.login()
    entity = unique("queued")
    define(api, entity, [NAME], history=True,
           actions=[{"name": "tally", "label": "Tally", "type": "oneRecord", "handler": "tests.e2e.handlers:tally"}])
    record = api.ok("POST", f"/data/{entity}", {"name": "a"})

    stack.stop_redis()
    for method, path in (("DELETE", f"/data/{entity}/{record['id']}?_async=true"),
                         ("PUT", f"/data/{entity}/tally?_async=true"),
                         ("PUT", f"/data/{entity}/export")):
        reply, took = timed(lambda m=method, p=path: api.call(m, p, {} if m == "PUT" else None))
        assert reply.status == 503, (path, reply)
        assert reply.body["code"] == "serviceUnavailable" and "Redis" in reply.body["message"], reply
        assert took < 5, (path, took)
    imported = post_csv(api, f"/data/{entity}/import", "name\nb\n")
    assert imported.status == 503 and "Redis" in imported.body["message"], imported
    jobs = api.get("/status/jobs?_size=100")["items"]
    assert not [j for j in jobs if entity in j.get("label", "")]  # nothing was left to start later

    created = api.ok("POST", f"/data/{entity}", {"name": "c"})  # plain CRUD does not need Redis
    assert api.ok("PUT", f"/data/{entity}/{created['id']}", {"name": "d"})["name"] == "d"
    assert api.get(f"/data/{entity}")["total"] == 2
    assert api.ok("DELETE", f"/data/{entity}/{created['id']}")["id"] == created["id"]

    stack.start_redis()
    job_id = api.ok("DELETE", f"/data/{entity}/{record['id']}?_async=true")["jobId"]
    wait_job(api, job_id, lambda j: j["status"] == "FINISHED", "the async delete after Redis came back")
    assert api.get(f"/data/{entity}")["total"] == 0


def test_jobs_lost_by_a_restarted_redis_are_queued_again_exactly_once(outage_stack: Stack):
    stack = outage_stack
    api = stack.login()
    entity = unique("lost")
    define(api, entity, [NAME], history=False)
    records = create_many(api, entity, [{"name": f"r{i}"} for i in range(8)])
    for worker in list(stack.workers):  # nobody takes the jobs: they wait in Redis
        stack.kill_worker(worker)
        stack.workers.remove(worker)
    job_ids = [api.ok("DELETE", f"/data/{entity}/{r['id']},{s['id']}?_async=true")["jobId"]
               for r, s in zip(records[::2], records[1::2], strict=True)]
    stack.stop_redis()
    stack.start_redis()  # without persistence: the queued RQ jobs are gone, the jobs are PENDING in MongoDB
    assert all(api.get(f"/status/jobs/{j}")["status"] == "PENDING" for j in job_ids)

    stack.start_worker()  # its start-up sweep and the web's job reads race to queue them again
    for job_id in job_ids:
        done = wait_job(api, job_id, lambda j: j["status"] == "FINISHED", "a lost job to be queued again", 60)
        assert done["recordsProcessed"] == 2 and done["hasErrors"] is False
        logs = api.get(f"/status/jobs/{job_id}/logs?_size=1000")["items"]
        assert sum("queued again" in entry["message"] for entry in logs) == 1, logs
    assert api.get(f"/data/{entity}")["total"] == 0
