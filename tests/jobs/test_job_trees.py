"""stop, resume, forceStop, cancel and kill of a root job carry to its descendants (only kill takes a child)."""

from __future__ import annotations

import time

from jobs.model import CANCELED, FINISHED, PENDING, RUNNING, STOPPED, STOPPING, new_job
from tests.jobs.conftest import STEPS, admin, wait_idle


def _job(api, job_id) -> dict:
    response = api.get(f"/status/jobs/{job_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _messages(api, job_id) -> list[str]:
    return [item["message"] for item in api.get(f"/status/jobs/{job_id}/logs?_size=100").get_json()["items"]]


def _root_held(app, steps: int = 1) -> dict:
    """A root job that stays PENDING (never queued), to hang children on."""
    doc = new_job(STEPS, "root", {"steps": steps}, admin(app))
    app.extensions["runtime"].jobs.repo.insert(doc)
    return doc


def _paused_root(app, jobs) -> dict:
    """A root job the paused runner holds PENDING."""
    jobs.dispatcher.pause()
    return app.extensions["runtime"].jobs.submit(STEPS, "root", {"steps": 1}, admin(app))


def _child(app, parent: dict, label: str, stoppable: bool = True) -> dict:
    return app.extensions["runtime"].jobs.submit(STEPS, label, {"steps": 1}, admin(app), parent=parent,
                                                 stoppable=stoppable)


def _put(api, job_id, operation: str):
    return api.put(f"/status/jobs/{job_id}/{operation}")


def _wait_status(api, job_id, status: str) -> dict:
    deadline = time.time() + 10
    while (job := _job(api, job_id))["status"] != status:
        assert time.time() < deadline, job
        time.sleep(0.02)
    return job


def test_stopping_a_root_stops_its_waiting_descendants_and_resuming_it_runs_them(app, api, jobs):
    root = _paused_root(app, jobs)
    child = _child(app, root, "child")
    grandchild = _child(app, child, "grandchild")
    beside = app.extensions["runtime"].jobs.submit(STEPS, "another root", {"steps": 1}, admin(app))

    response = _put(api, root["_id"], "stop")
    assert response.status_code == 200 and response.get_json()["status"] == STOPPED
    assert [_job(api, j["_id"])["status"] for j in (child, grandchild, beside)] == [STOPPED, STOPPED, PENDING]
    assert any("Stop requested with its root job by admin@example.com" in m for m in _messages(api, grandchild["_id"]))
    assert _put(api, child["_id"], "resume").status_code == 400  # a child is never asked on its own

    response = _put(api, root["_id"], "resume")
    assert response.status_code == 200 and response.get_json()["status"] == PENDING
    assert [_job(api, j["_id"])["status"] for j in (child, grandchild)] == [PENDING, PENDING]
    jobs.dispatcher.unpause()
    wait_idle(jobs)
    assert [_job(api, j["_id"])["status"] for j in (root, child, grandchild, beside)] == [FINISHED] * 4


def test_canceling_a_stopped_root_cancels_its_stopped_descendants(app, api, jobs):
    root = _paused_root(app, jobs)
    child = _child(app, root, "child")
    assert _put(api, root["_id"], "stop").status_code == 200
    response = _put(api, root["_id"], "cancel")
    assert response.status_code == 200 and response.get_json()["status"] == CANCELED
    assert _job(api, child["_id"])["status"] == CANCELED and _job(api, child["_id"])["endDate"]
    jobs.dispatcher.unpause()
    wait_idle(jobs)
    assert _job(api, child["_id"])["status"] == CANCELED  # never ran


def test_a_running_child_stops_at_its_checkpoint_and_resumes_from_it_with_its_root(app, api, jobs, control):
    root = _root_held(app)
    control.block_at = 0
    child = app.extensions["runtime"].jobs.submit(STEPS, "child", {"steps": 2}, admin(app), parent=root)
    assert control.entered.wait(10)
    assert _put(api, root["_id"], "stop").get_json()["status"] == STOPPED
    assert _job(api, child["_id"])["status"] == STOPPING
    control.proceed.set()
    stopped = _wait_status(api, child["_id"], STOPPED)
    assert stopped["recordsProcessed"] == 1  # stopped after its first step's checkpoint
    assert _put(api, root["_id"], "resume").status_code == 200
    wait_idle(jobs)
    done = _job(api, child["_id"])
    assert done["status"] == FINISHED and done["recordsProcessed"] == 2
    assert sorted(control.executed) == [0, 0, 1]  # the child's steps 0 and 1 once each, and the root's step 0


def test_force_stop_and_cancel_reach_a_stopping_child_of_a_stopped_root(app, api, jobs, control):
    root = _root_held(app)
    control.block_at = 0
    child = app.extensions["runtime"].jobs.submit(STEPS, "child", {"steps": 2}, admin(app), parent=root)
    assert control.entered.wait(10)
    assert _put(api, root["_id"], "stop").status_code == 200  # the root: STOPPED, the child: STOPPING
    response = _put(api, root["_id"], "forceStop")
    assert response.status_code == 200 and response.get_json()["status"] == STOPPED
    assert _job(api, child["_id"])["status"] == STOPPED
    control.proceed.set()
    wait_idle(jobs)
    assert _job(api, child["_id"])["status"] == STOPPED  # the force-stopped run ended without finishing it
    assert _put(api, root["_id"], "cancel").status_code == 200
    assert [_job(api, j["_id"])["status"] for j in (root, child)] == [CANCELED, CANCELED]
    assert _put(api, root["_id"], "cancel").status_code == 400  # nothing in the tree is stopped any more


def test_a_finished_root_still_stops_what_it_left_waiting(app, api, jobs):
    svc = app.extensions["runtime"]
    jobs.dispatcher.pause()
    root = _root_held(app)
    svc.jobs.repo.transition(root["_id"], PENDING, {"status": FINISHED})
    child = _child(app, root, "child")
    response = _put(api, root["_id"], "stop")
    assert response.status_code == 200 and response.get_json()["status"] == FINISHED
    assert _job(api, child["_id"])["status"] == STOPPED
    again = _put(api, root["_id"], "stop")  # nothing left to stop: the usual 400 with the root's status
    assert again.status_code == 400 and again.get_json()["jobStatus"] == FINISHED
    assert _put(api, root["_id"], "resume").status_code == 200
    jobs.dispatcher.unpause()
    wait_idle(jobs)
    assert _job(api, child["_id"])["status"] == FINISHED


def test_a_waiting_child_that_cannot_be_interrupted_is_stopped_with_its_root(app, api, jobs):
    """"A pending job can always be stopped": an import's waiting listener jobs do not run after it stopped."""
    root = _paused_root(app, jobs)
    child = _child(app, root, "child", stoppable=False)
    assert _put(api, root["_id"], "stop").status_code == 200
    assert _job(api, child["_id"])["status"] == STOPPED
    jobs.dispatcher.unpause()
    wait_idle(jobs)
    assert [_job(api, j["_id"])["status"] for j in (root, child)] == [STOPPED, STOPPED]  # neither ran
    assert _put(api, root["_id"], "resume").status_code == 200
    wait_idle(jobs)
    assert [_job(api, j["_id"])["status"] for j in (root, child)] == [FINISHED, FINISHED]


def test_a_running_child_that_cannot_be_interrupted_completes_when_its_root_stops(app, api, jobs, control):
    root = _root_held(app)
    control.block_at = 0
    running = app.extensions["runtime"].jobs.submit(STEPS, "child", {"steps": 2}, admin(app), parent=root,
                                                    stoppable=False)
    assert control.entered.wait(10)
    jobs.dispatcher.pause()
    waiting = app.extensions["runtime"].jobs.submit(STEPS, "waiting child", {"steps": 1}, admin(app), parent=root,
                                                    stoppable=False)
    response = _put(api, root["_id"], "stop")
    assert response.status_code == 200 and response.get_json()["status"] == STOPPED
    assert [_job(api, j["_id"])["status"] for j in (running, waiting)] == [RUNNING, STOPPED]
    control.proceed.set()
    jobs.dispatcher.unpause()
    wait_idle(jobs)
    done = _job(api, running["_id"])
    assert done["status"] == FINISHED and done["recordsProcessed"] == 2  # it was not interrupted
    assert _job(api, waiting["_id"])["status"] == STOPPED


def test_kill_takes_a_child_alone_and_it_counts_as_processed_on_its_parent(app, api, jobs):
    root = _paused_root(app, jobs)
    child = _child(app, root, "child")
    sibling = _child(app, root, "sibling")
    response = _put(api, child["_id"], "kill")
    assert response.status_code == 200 and response.get_json()["status"] == FINISHED
    assert [_job(api, j["_id"])["status"] for j in (root, sibling)] == [PENDING, PENDING]
    assert (_job(api, root["_id"])["childrenJobsCount"], _job(api, root["_id"])["childrenJobsProcessed"]) == (2, 1)
    assert _put(api, child["_id"], "kill").status_code == 400  # ended
    jobs.dispatcher.unpause()
    wait_idle(jobs)
    assert [_job(api, j["_id"])["status"] for j in (root, child, sibling)] == [FINISHED] * 3
    assert _job(api, root["_id"])["childrenJobsProcessed"] == 2  # the killed child counted once


def test_killing_a_root_kills_every_descendant_that_has_not_ended(app, api, jobs, control):
    svc = app.extensions["runtime"]
    root = _root_held(app)
    control.block_at = 0
    running = svc.jobs.submit(STEPS, "running child", {"steps": 2}, admin(app), parent=root, stoppable=False)
    assert control.entered.wait(10)
    jobs.dispatcher.pause()
    waiting = _child(app, root, "waiting child")
    grandchild = _child(app, waiting, "grandchild")
    response = _put(api, root["_id"], "kill")
    assert response.status_code == 200 and response.get_json()["status"] == FINISHED
    control.proceed.set()
    jobs.dispatcher.unpause()
    wait_idle(jobs)
    tree = [_job(api, j["_id"]) for j in (root, running, waiting, grandchild)]
    assert [j["status"] for j in tree] == [FINISHED] * 4 and all(j["endDate"] for j in tree)
    assert tree[1]["recordsProcessed"] == 0  # killed inside its first step, which wrote nothing
    assert tree[0]["childrenJobsProcessed"] == 2 and tree[2]["childrenJobsProcessed"] == 1
    assert "Killed with its root job by admin@example.com" in _messages(api, grandchild["_id"])
