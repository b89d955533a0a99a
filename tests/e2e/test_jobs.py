"""Async jobs submitted to the gunicorn web processes and run by ``runtime worker`` processes through Redis."""

from __future__ import annotations

from collections import Counter

from tests.e2e.conftest import BATCH_SIZE, STALE_SECONDS, all_records, create_many, define, unique, wait_job
from tests.e2e.stack import Client, Stack, wait_until

NAME = {"name": "name", "label": "Name", "type": "text", "required": True}
TALLY = {"name": "tally", "label": "Tally", "type": "integer"}
ACTIONS = [{"name": "tally", "label": "Tally", "type": "oneRecord", "handler": "tests.e2e.handlers:tally"}]


def test_an_async_action_stops_at_a_checkpoint_and_resumes_to_exact_counts(stack: Stack, api: Client):
    entity = unique("tallies")
    define(api, entity, [NAME, TALLY], history=False, actions=ACTIONS)
    total = 300
    create_many(api, entity, [{"name": f"t{i}"} for i in range(total)])

    job_id = api.ok("PUT", f"/data/{entity}/tally?_async=true", {})["jobId"]
    wait_job(api, job_id, lambda j: j["recordsProcessed"] >= 2 * BATCH_SIZE, "the job to get going")
    assert api.ok("PUT", f"/status/jobs/{job_id}/stop")["status"] in ("STOPPING", "STOPPED")
    stopped = wait_job(api, job_id, lambda j: j["status"] == "STOPPED", "the stop")
    processed = stopped["recordsProcessed"]
    assert stopped["recordsCount"] == total
    assert 0 < processed < total and processed % BATCH_SIZE == 0, processed  # at a batch boundary
    assert Counter(r["tally"] for r in all_records(api, entity)) == {1: processed, None: total - processed}

    assert api.ok("PUT", f"/status/jobs/{job_id}/resume")["status"] == "RUNNING"
    done = wait_job(api, job_id, lambda j: j["status"] == "FINISHED", "the resumed job to finish")
    assert done["recordsProcessed"] == done["recordsCount"] == total and done["hasErrors"] is False
    assert Counter(r["tally"] for r in all_records(api, entity)) == {1: total}  # none twice, none missed
    assert len(done["results"]["results"]) == total


def test_a_job_whose_worker_is_killed_is_detected_and_resumed_by_another_worker(stack: Stack, api: Client):
    entity = unique("doomed")
    define(api, entity, [NAME], history=True)
    total = 240
    ids = {r["id"] for r in create_many(api, entity, [{"name": f"d{i}"} for i in range(total)])}
    worker = stack.start_worker()  # a second worker: it or the session's first one takes the job
    victims = [w for w in stack.workers if w.poll() is None]

    job_id = api.ok("DELETE", f"/data/{entity}?_async=true")["jobId"]

    def inside_a_batch() -> bool:  # records deleted past the checkpoint: a batch is half done
        deleted = total - remaining(api, entity)
        return BATCH_SIZE * 2 <= api.get(f"/status/jobs/{job_id}")["recordsProcessed"] < deleted
    wait_until(inside_a_batch, 60, "the delete to be inside a batch", interval=0.01)
    for proc in victims:  # whichever worker runs it: every worker dies, without a word
        stack.kill_worker(proc)
    killed = api.get(f"/status/jobs/{job_id}")
    assert killed["status"] == "RUNNING" and killed["recordsProcessed"] < total
    assert remaining(api, entity) < total - killed["recordsProcessed"], "the worker died between batches"
    assert worker.poll() is not None

    stack.start_worker()
    stopped = wait_job(api, job_id, lambda j: j["status"] == "STOPPED", "the dead worker's job to be detected",
                       timeout=STALE_SECONDS + 20)
    assert stopped["recordsProcessed"] == killed["recordsProcessed"]  # nothing ran it meanwhile
    warnings = api.get(f"/status/jobs/{job_id}/logs?level=WARN")["items"]
    assert any("stopped responding" in w["message"] for w in warnings)

    assert api.ok("PUT", f"/status/jobs/{job_id}/resume")["status"] == "RUNNING"
    done = wait_job(api, job_id, lambda j: j["status"] == "FINISHED", "the resumed delete to finish")
    assert done["recordsProcessed"] == done["recordsCount"] == total and done["hasErrors"] is False
    assert remaining(api, entity) == 0
    redone = api.get(f"/status/jobs/{job_id}/logs?message=Redoing")["items"]
    assert len(redone) == 1  # the resumed run redid the batch the killed one was in
    # Exactly one deletion in the history of every record: none deleted twice, none missed.
    deletions = "eventTypes=USER_RECORD_DELETED,SCRIPT_RECORD_DELETED&_size=1000"
    history = api.get(f"/data/{entity}/history?{deletions}")["items"]
    assert Counter(h["recordId"] for h in history) == dict.fromkeys(ids, 1)


def remaining(api: Client, entity: str) -> int:
    return api.get(f"/data/{entity}?_size=1")["total"]
