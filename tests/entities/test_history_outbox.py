"""The history outbox and its publisher: entries leave the request path without ever being lost or doubled.

The outbox is how writes keep their history on a MongoDB server; the embedded store writes entries with their
records instead (``HistoryRecorder.direct``, tests/entities/test_history_direct.py). These tests switch that
off, so the server's path runs here."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pytest
from bson import ObjectId

from entities.history.publisher import THREAD_NAME
from entities.records.lifecycle import MAX_OUTBOX
from entities.records.outbox import outbox_entries
from runtime.app import create_app
from tests.conftest import Api, company, create, login, wait_for_job


@pytest.fixture(autouse=True)
def through_the_outbox(app):
    app.extensions["runtime"].history.direct = False


def _raw(app, record_id: str) -> dict:
    return app.extensions["runtime"].records.collection("companies").find_one({"_id": ObjectId(record_id)})


def _changes(api: Api, record_id: str) -> list[dict]:
    body = api.get(f"/data/companies/{record_id}/history?_size=1000").get_json()
    return [e for e in body["items"] if e["eventType"] == "USER_RECORD_CHANGED"]


def _published_ids(app, record_id: str) -> list[ObjectId]:
    col = app.extensions["runtime"].history.col
    return [d["_id"] for d in col.find({"recordId": record_id}, {"_id": 1})]


def test_history_is_visible_right_after_a_put(app, api: Api):
    """Read-your-writes: a history read publishes what the publisher has not copied yet."""
    publisher = app.extensions["runtime"].history.publisher
    record = create(api, "companies", company())
    for paused, value in ((True, "b"), (False, "c")):  # not yet published, then maybe being published
        publisher.paused = paused
        assert api.put(f"/data/companies/{record['id']}", json={"type": value}).status_code == 200
        assert _changes(api, record["id"])[0]["newRecord"]["type"]["json"] == value
    assert len(_changes(api, record["id"])) == 2


def test_the_publisher_copies_entries_and_the_next_write_drops_them_from_the_outbox(app, api: Api):
    """On the embedded store a published entry stays in its outbox until the record's next write."""
    history = app.extensions["runtime"].history
    record = create(api, "companies", company())
    assert api.put(f"/data/companies/{record['id']}", json={"type": "b"}).status_code == 200
    history.publisher.flush()
    entries = list(history.col.find({"recordId": record["id"]}).sort("_id", 1))
    assert [e["eventType"] for e in entries] == ["USER_RECORD_CREATED", "USER_RECORD_CHANGED"]
    assert entries[1]["newRecord"]["type"]["json"] == "b" and "pending" not in entries[1]
    assert [e["_id"] for e in _raw(app, record["id"])["_hist"]] == [entries[1]["_id"]]
    assert api.put(f"/data/companies/{record['id']}", json={"type": "c"}).status_code == 200
    assert [e["newRecord"]["type"]["json"] for e in outbox_entries(_raw(app, record["id"])["_hist"])] == ["c"]


def test_with_clearing_on_the_publisher_pulls_what_it_published(app, api: Api):
    """On a server the publisher also removes the entries it published from their records (one bulk write)."""
    svc = app.extensions["runtime"]
    svc.history.publisher.clear_published = svc.records.clear_published
    records = [create(api, "companies", company(name=f"C{i}")) for i in range(3)]
    svc.history.publisher.paused = True
    for record in records:
        assert api.put(f"/data/companies/{record['id']}", json={"type": "b"}).status_code == 200
    assert api.put(f"/data/companies/{records[0]['id']}", json={"type": "c"}).status_code == 200
    svc.history.publisher.paused = False
    assert svc.history.publisher.flush() == 4
    assert all("_hist" not in _raw(app, r["id"]) for r in records)
    assert len(_published_ids(app, records[0]["id"])) == 3


def test_entries_of_a_process_that_died_stay_in_the_record_until_a_read_repairs_them(app, api: Api):
    history = app.extensions["runtime"].history
    record = create(api, "companies", company())
    history.publisher.paused = True  # the process dies after its writes, before its publisher ran
    for value in ("b", "c", "a"):
        assert api.put(f"/data/companies/{record['id']}", json={"type": value}).status_code == 200
    stored = _raw(app, record["id"])["_hist"]
    assert all(set(item) == {"_id", "bson"} for item in stored)  # one opaque value per entry, and its id
    outbox = outbox_entries(stored)
    assert [e["newRecord"]["type"]["json"] for e in outbox] == ["b", "c", "a"]
    assert len(_published_ids(app, record["id"])) == 1  # only the create's entry
    assert [e["newRecord"]["type"]["json"] for e in _changes(api, record["id"])] == ["a", "c", "b"]
    assert "_hist" not in _raw(app, record["id"])
    history.publisher.paused = False  # a queue that survived publishes the same ids again: no copies
    history.publisher.enqueue("data.companies", ObjectId(record["id"]), outbox)
    history.publisher.flush()
    ids = _published_ids(app, record["id"])
    assert len(ids) == len(set(ids)) == 4


def test_an_outbox_of_an_older_write_is_carried_and_published(app, api: Api):
    """Before the outbox was a list, it held one entry: a write keeps it, a read publishes it once."""
    history = app.extensions["runtime"].history
    record = create(api, "companies", company())
    col = app.extensions["runtime"].records.collection("companies")
    created_entry = history.col.find_one({"recordId": record["id"]})
    old_entry = {**created_entry, "_id": ObjectId(), "eventType": "USER_RECORD_CHANGED"}
    col.update_one({"_id": ObjectId(record["id"])}, {"$set": {"_hist": old_entry}})
    history.publisher.paused = True
    assert api.put(f"/data/companies/{record['id']}", json={"type": "b"}).status_code == 200
    assert _raw(app, record["id"])["_hist"][0]["_id"] == old_entry["_id"]
    assert len(_changes(api, record["id"])) == 2
    col.update_one({"_id": ObjectId(record["id"])}, {"$set": {"_hist": old_entry}})  # a read clears it too
    assert len(_changes(api, record["id"])) == 2 and "_hist" not in _raw(app, record["id"])


def test_concurrent_puts_on_one_record_lose_no_entry(app, api: Api):
    """Writers race each other and the publisher's $pull: every entry is published exactly once."""
    svc = app.extensions["runtime"]
    svc.history.publisher.clear_published = svc.records.clear_published
    record = create(api, "companies", company())
    threads, writes = 4, 10

    def writer(t: int) -> None:
        client = login(app)
        for i in range(writes):
            response = client.put(f"/data/companies/{record['id']}", json={"notes": f"{t}-{i}"})
            assert response.status_code == 200, response.get_json()

    running = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(60)
    app.extensions["runtime"].history.publisher.flush()
    notes = [e["newRecord"]["notes"]["json"] for e in _changes(api, record["id"])]
    assert sorted(notes) == sorted(f"{t}-{i}" for t in range(threads) for i in range(writes))
    ids = _published_ids(app, record["id"])
    assert len(ids) == len(set(ids)) == threads * writes + 1
    assert "_hist" not in _raw(app, record["id"])


def test_the_outbox_stays_bounded_when_the_publisher_does_not_run(app, api: Api):
    """Past MAX_OUTBOX unpublished entries, a write publishes them itself (one insert) before carrying on;
    with the publisher running, the outbox holds what was written since its last pass."""
    record = create(api, "companies", company())
    app.extensions["runtime"].history.publisher.paused = True
    sizes = []
    for i in range(3 * MAX_OUTBOX):
        assert api.put(f"/data/companies/{record['id']}", json={"notes": f"n{i}"}).status_code == 200
        sizes.append(len(_raw(app, record["id"])["_hist"]))
    assert max(sizes) == MAX_OUTBOX and min(sizes[MAX_OUTBOX:]) == 1
    assert sorted(e["newRecord"]["notes"]["json"] for e in _changes(api, record["id"])) == sorted(
        f"n{i}" for i in range(3 * MAX_OUTBOX))
    ids = _published_ids(app, record["id"])
    assert len(ids) == len(set(ids)) == 3 * MAX_OUTBOX + 1


def test_a_delete_waits_for_a_publication_in_flight_before_its_history_policy(app, api: Api, monkeypatch):
    """A copy the publisher is making while the record is deleted must land before the delete's "delete the
    record's history" policy runs, or it would bring that history back."""
    definition = api.get("/metadata/entities/companies").get_json()
    definition["history"] = {"onRecordDeleted": "delete"}
    assert api.put("/metadata/entities/companies", json=definition).status_code == 200
    history = app.extensions["runtime"].history
    record = create(api, "companies", company())
    in_flight, go_on = threading.Event(), threading.Event()
    real = history.commit_many

    def slow_publication(entries):
        if threading.current_thread().name == THREAD_NAME:
            in_flight.set()
            go_on.wait(10)
        real(entries)

    monkeypatch.setattr(history, "commit_many", slow_publication)
    assert api.put(f"/data/companies/{record['id']}", json={"type": "b"}).status_code == 200
    assert in_flight.wait(10)
    outcome: dict = {}
    deleter = login(app)
    deleting = threading.Thread(target=lambda: outcome.update(
        status=deleter.delete(f"/data/companies/{record['id']}").status_code))
    deleting.start()
    deadline = time.monotonic() + 3  # a delete that does not wait for the publication is done well before
    while _raw(app, record["id"]) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    go_on.set()
    deleting.join(10)
    assert outcome == {"status": 200}
    history.publisher.flush()
    assert _published_ids(app, record["id"]) == []


@pytest.mark.parametrize("policy", ["delete", "keep"])
def test_a_copy_published_after_another_process_deleted_the_record_does_not_bring_its_history_back(
        app, api: Api, policy: str):
    """Another process's delete cannot wait for this process's publisher: it copies the record's outbox, removes
    the record, then applies the history policy. A copy this publisher makes afterwards is taken back when the
    policy deleted the history (and is a duplicate of the delete's copy when it kept it)."""
    svc = app.extensions["runtime"]
    svc.history.publisher.clear_published = svc.records.clear_published  # as on a server
    definition = api.get("/metadata/entities/companies").get_json()
    definition["history"] = {"onRecordDeleted": policy}
    assert api.put("/metadata/entities/companies", json=definition).status_code == 200
    record, kept = create(api, "companies", company()), create(api, "companies", company(name="Kept"))
    svc.history.publisher.paused = True  # this process's publisher holds the entries: the delete cannot wait
    for target in (record, kept):
        assert api.put(f"/data/companies/{target['id']}", json={"type": "b"}).status_code == 200
    other = create_app(svc.config, store=svc.store)  # another process on the same database, its own publisher
    other.extensions["runtime"].history.direct = False
    assert login(other).delete(f"/data/companies/{record['id']}").status_code == 200
    after_delete = sorted(_published_ids(app, record["id"]))
    svc.history.publisher.paused = False
    assert svc.history.publisher.flush() == 2
    assert sorted(_published_ids(app, record["id"])) == after_delete
    assert (after_delete == []) == (policy == "delete")
    if policy == "keep":
        assert all(e["recordDeleted"] for e in svc.history.col.find({"recordId": record["id"]}))
    assert len(_changes(api, kept["id"])) == 1  # the other record's copy is there


def test_the_publisher_thread_starts_on_first_use_and_a_forked_child_starts_its_own(app, api: Api):
    publisher = app.extensions["runtime"].history.publisher
    assert publisher._pid is None  # building the app started nothing (gunicorn and RQ fork after that)
    record = create(api, "companies", company())
    publisher.paused = True
    assert api.put(f"/data/companies/{record['id']}", json={"type": "b"}).status_code == 200
    assert publisher._pid == os.getpid() and len(publisher._queued) == 1
    assert THREAD_NAME in [t.name for t in threading.enumerate()]
    child = os.fork()
    if child == 0:  # the child: nothing inherited is queued; a new entry starts the child's own thread
        ok = not publisher._queued and publisher._pid is None
        publisher.enqueue("data.companies", ObjectId(), [{"_id": ObjectId()}])
        ok = ok and publisher._pid == os.getpid() and len(publisher._queued) == 1
        ok = ok and THREAD_NAME in [t.name for t in threading.enumerate()]
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(publisher._queued) == 1


def test_concurrent_puts_by_many_records_publish_each_entry_once(app, api: Api):
    records = [create(api, "companies", company(name=f"C{i}")) for i in range(5)]
    for round_ in range(4):
        for record in records:
            assert api.put(f"/data/companies/{record['id']}", json={"notes": f"r{round_}"}).status_code == 200
    app.extensions["runtime"].history.publisher.flush()
    col = app.extensions["runtime"].history.col
    counts = Counter(d["recordId"] for d in col.find({"entityName": "companies"}, {"recordId": 1}))
    assert counts == {r["id"]: 5 for r in records}


def test_a_failed_publication_keeps_the_entries_queued_and_retries(app, api: Api, monkeypatch):
    history = app.extensions["runtime"].history
    record = create(api, "companies", company())
    history.publisher.paused = True
    assert api.put(f"/data/companies/{record['id']}", json={"type": "b"}).status_code == 200
    history.publisher.paused = False

    def unreachable(entries):
        raise ConnectionError("the store is unreachable")

    monkeypatch.setattr(history, "commit_many", unreachable)
    assert history.publisher.flush() == 0 and len(history.publisher._queued) == 1
    monkeypatch.undo()
    assert history.publisher.flush() == 1 and len(_published_ids(app, record["id"])) == 2


def test_the_memory_of_published_ids_is_bounded(app, monkeypatch):
    from entities.history import publisher as module

    monkeypatch.setattr(module, "REMEMBERED", 10)
    publisher = app.extensions["runtime"].history.publisher
    ids = [ObjectId() for _ in range(25)]
    for eid in ids:
        publisher.mark_published([eid])
    assert 9 <= len(publisher._published) <= 10
    forgotten = [e["_id"] for e in publisher.unpublished([{"_id": eid} for eid in ids])]
    assert forgotten == ids[:len(forgotten)] and len(forgotten) >= 15  # the oldest are forgotten first


def test_a_job_publishes_its_entries_before_it_is_reported_finished(app, api: Api, monkeypatch):
    """An RQ job process exits without atexit: the job end flushes the publisher (its thread is idle here)."""
    from entities.history import publisher as module

    monkeypatch.setattr(module, "FLUSH_SECONDS", 3600)  # the thread, started by the job's first write, sleeps
    records = [create(api, "companies", company(name=f"J{i}")) for i in range(3)]
    response = api.put("/data/companies/markAsCustomers?_async=true")
    assert response.status_code == 200, response.get_json()
    assert wait_for_job(api, response.get_json()["jobId"])["status"] == "FINISHED"
    col = app.extensions["runtime"].history.col
    changed = {d["recordId"] for d in col.find({"eventType": "USER_RECORD_CHANGED"}, {"recordId": 1})}
    assert changed == {r["id"] for r in records}
