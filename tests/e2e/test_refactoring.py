"""A REFACTORING job on the production-like stack: its worker is SIGKILLed mid-batch, the job is detected as
dead, resumed by another worker, and every record ends up converted exactly once."""

from __future__ import annotations

from collections import Counter

from tests.e2e.conftest import BATCH_SIZE, STALE_SECONDS, all_records, create_many, define, unique, wait_job
from tests.e2e.stack import Client, Stack, wait_until

REFACTORED = "eventTypes=SYSTEM_REFACTORING&_size=1000"


def test_a_refactoring_whose_worker_is_killed_resumes_and_converts_every_record_once(stack: Stack, api: Client):
    entity = unique("refactored")
    define(api, entity, [{"name": "name", "type": "text"}, {"name": "rating", "type": "text"}], history=True)
    total = 240
    ids = {r["id"] for r in create_many(api, entity, [{"name": f"r{i}", "rating": f"{i}.5"} for i in range(total)])}
    worker = stack.start_worker()
    victims = [w for w in stack.workers if w.poll() is None]

    definition = api.get(f"/metadata/entities/{entity}")
    definition["fields"][1]["type"] = "decimal"
    definition["fields"][0]["name"] = "title"
    job_id = api.ok("PUT", f"/metadata/entities/{entity}", definition)["refactoring"]["jobId"]

    def converted() -> int:
        return api.get(f"/data/{entity}/history?{REFACTORED}&_size=1")["total"]

    def inside_a_batch() -> bool:
        processed = api.get(f"/status/jobs/{job_id}")["recordsProcessed"]
        return BATCH_SIZE * 2 <= processed < converted()
    wait_until(inside_a_batch, 60, "the refactoring to be inside a batch", interval=0.01)
    for proc in victims:
        stack.kill_worker(proc)
    killed = api.get(f"/status/jobs/{job_id}")
    assert killed["status"] == "RUNNING" and killed["recordsProcessed"] < total
    assert worker.poll() is not None
    # reads while the job is dead still show the new definition with converted values only
    for record in all_records(api, entity):
        assert isinstance(record["rating"], float) and record["title"].startswith("r")

    stack.start_worker()
    wait_job(api, job_id, lambda j: j["status"] == "STOPPED", "the dead worker's job to be detected",
             timeout=STALE_SECONDS + 20)
    assert api.ok("PUT", f"/status/jobs/{job_id}/resume")["status"] == "RUNNING"
    done = wait_job(api, job_id, lambda j: j["status"] == "FINISHED", "the resumed refactoring to finish")
    assert done["hasErrors"] is False
    history = api.get(f"/data/{entity}/history?{REFACTORED}")["items"]
    assert Counter(h["recordId"] for h in history) == dict.fromkeys(ids, 1)  # none twice, none missed
    assert sorted(r["rating"] for r in all_records(api, entity)) == sorted(i + 0.5 for i in range(total))
