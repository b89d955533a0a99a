"""Several gunicorn workers over one database: reads, metadata changes and concurrent writes across processes."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.conftest import across_workers, all_records, create_many, define, unique, wait_job
from tests.e2e.stack import Client, Stack

NOTE = {"name": "name", "label": "Name", "type": "text", "required": True}


def test_a_record_written_once_is_read_back_by_every_web_worker(stack: Stack, api: Client):
    entity = unique("notes")
    define(api, entity, [NOTE, {"name": "size", "label": "Size", "type": "integer"}], history=False)
    create_many(api, entity, [{"name": f"other {i}", "size": i} for i in range(25)])
    written = api.ok("POST", f"/data/{entity}", {"name": "written once", "size": 7})

    one = across_workers(stack, lambda rid: api.call("GET", f"/data/{entity}/{written['id']}", request_id=rid))
    assert {r.status for r in one} == {200}
    assert all(r.body == written for r in one)

    listed = across_workers(stack, lambda rid: api.call(
        "GET", f"/data/{entity}?size=greaterOrEquals(7)&_size=20&_sortField=size&_sortType=asc", request_id=rid))
    assert {r.status for r in listed} == {200}
    for reply in listed:
        assert reply.body["total"] == 19
        assert [i["size"] for i in reply.body["items"]] == [7, 7, *range(8, 25)][:20]
        assert written in reply.body["items"]


def test_a_metadata_change_is_enforced_by_every_web_worker_and_by_job_workers(stack: Stack, api: Client):
    entity = unique("rules")
    fields = [NOTE, {"name": "code", "label": "Code", "type": "text"},
              {"name": "tally", "label": "Tally", "type": "integer"}]
    actions = [{"name": "tally", "label": "Tally", "type": "oneRecord", "handler": "tests.e2e.handlers:tally"}]
    define(api, entity, fields, history=False, actions=actions)
    records = create_many(api, entity, [{"name": f"r{i}"} for i in range(5)])
    # Every web worker has the old definition cached, and accepts records without a code.
    before = across_workers(stack, lambda rid: api.call("POST", f"/data/{entity}", {"name": rid}, request_id=rid))
    assert {r.status for r in before} == {200}, [r.body for r in before if r.status != 200][:1]
    # A job worker runs the action under the old definition.
    job = _run_async_tally(api, entity)
    assert job["hasErrors"] is False and job["recordsProcessed"] == 5 + len(before)

    changed = [NOTE, {"name": "code", "label": "Code", "type": "text", "required": True},
               {"name": "tally", "label": "Tally", "type": "integer", "typeRules": {"max": 1}}]
    saved = api.ok("PUT", f"/metadata/entities/{entity}",
                   {"name": entity, "label": entity, "fields": changed, "history": False, "actions": actions})
    assert saved["version"] == 2

    after = across_workers(stack, lambda rid: api.call("POST", f"/data/{entity}", {"name": rid}, request_id=rid))
    assert {r.status for r in after} == {400}
    for reply in after:
        assert reply.body["code"] == "validationErrors"
        assert [(e["field"], e["code"]) for e in reply.body["errors"]] == [("code", "required")]
    seen = across_workers(stack, lambda rid: api.call("GET", f"/metadata/entities/{entity}", request_id=rid))
    assert {r.body["version"] for r in seen} == {2}

    # The job workers enforce it too: a second tally would exceed max 1 (and every record lacks a code).
    job = _run_async_tally(api, entity)
    assert job["hasErrors"] is True
    outcomes = job["results"]["results"]
    assert len(outcomes) == 5 + len(before) and {o["status"] for o in outcomes.values()} == {"error"}
    stored = all_records(api, entity)
    assert len(stored) == 5 + len(before) and {r["tally"] for r in stored} == {1}
    assert {r["id"] for r in records} <= {r["id"] for r in stored}


def _run_async_tally(api: Client, entity: str) -> dict[str, Any]:
    link = api.ok("PUT", f"/data/{entity}/tally?_async=true", {})
    return wait_job(api, link["jobId"], lambda j: j["status"] == "FINISHED", "the tally job")


def test_concurrent_read_modify_writes_from_many_clients_lose_no_increment(stack: Stack, api: Client):
    entity = unique("counters")
    define(api, entity, [NOTE, {"name": "count", "label": "Count", "type": "integer"}], history=True)
    counter = api.ok("POST", f"/data/{entity}", {"name": "the counter", "count": 0})
    clients, increments = 6, 8
    conflicts: list[int] = []
    writes: set[str] = set()
    lock = threading.Lock()

    def increment_many(_: int) -> None:
        for _n in range(increments):
            while True:
                current = api.get(f"/data/{entity}/{counter['id']}")
                rid = uuid.uuid4().hex
                reply = api.call("PUT", f"/data/{entity}/{counter['id']}",
                                 {"version": current["version"], "count": current["count"] + 1}, request_id=rid)
                if reply.status == 200:
                    with lock:
                        writes.add(rid)
                    break
                assert reply.status == 409, reply.body
                assert reply.body["currentVersion"] > current["version"]
                with lock:
                    conflicts.append(1)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(increment_many, range(clients)))

    final = api.get(f"/data/{entity}/{counter['id']}")
    assert final["count"] == clients * increments
    assert final["version"] == counter["version"] + clients * increments
    history = api.get(f"/data/{entity}/{counter['id']}/history?_size=1000")
    assert len(history["items"]) == 1 + clients * increments  # one creation, one entry per increment
    assert conflicts, "the clients never raced: the test proved nothing"
    assert set(stack.served_by(writes).values()) == stack.web_pids()  # every web process wrote increments
