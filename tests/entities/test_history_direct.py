"""On the embedded store a write stores its history entry with the record (``HistoryRecorder.direct``): no
outbox in the record, no publication to wait for, one entry per change, none for a write that failed."""

from __future__ import annotations

import io
import threading

import pytest
from bson import ObjectId

import entities.records.lifecycle as lifecycle
from core.context import WriteContext
from entities.records.render import fields_renderer, render_fields
from tests.conftest import Api, company, create, wait_for_job


def _raw(app, entity: str, record_id: str) -> dict:
    return app.extensions["runtime"].records.collection(entity).find_one({"_id": ObjectId(record_id)})


def _stored_entries(app, record_id: str) -> list[dict]:
    """What ``sys.history`` holds for the record, read directly: nothing publishes or repairs on the way."""
    return list(app.extensions["runtime"].history.col.find({"recordId": record_id}).sort("_id", 1))


def test_creates_and_updates_store_their_entry_with_the_record(app, api: Api):
    history = app.extensions["runtime"].history
    assert history.direct
    history.publisher.paused = True  # nothing is left for a publisher to do
    record = create(api, "companies", company())
    assert api.put(f"/data/companies/{record['id']}", json={"type": "b"}).status_code == 200
    assert "_hist" not in _raw(app, "companies", record["id"])
    entries = _stored_entries(app, record["id"])
    assert [e["eventType"] for e in entries] == ["USER_RECORD_CREATED", "USER_RECORD_CHANGED"]
    assert entries[1]["newRecord"]["type"] == {"json": "b", "text": "{type:b}"}
    assert not history.publisher._queued
    # nothing for the outbox index to serve here (a server has it: tests/entities/test_history_indexes.py)
    assert "history_outbox" not in app.extensions["runtime"].records.collection("companies").index_information()


def test_an_import_stores_one_entry_per_created_record(app, api: Api):
    csv = "name,type\n" + "".join(f"Imported {i},a\n" for i in range(25))
    response = api.post("/data/companies/import", data={"file": (io.BytesIO(csv.encode()), "c.csv")},
                        content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    assert wait_for_job(api, response.get_json()["jobId"])["status"] == "FINISHED"
    records = app.extensions["runtime"].records.collection("companies").find({"name": {"$regex": "^Imported"}})
    ids = [str(r["_id"]) for r in records if "_hist" not in r]
    assert len(ids) == 25
    entries = list(app.extensions["runtime"].history.col.find({"recordId": {"$in": ids}}))
    assert sorted(e["recordId"] for e in entries) == sorted(ids)
    assert {e["eventType"] for e in entries} == {"USER_RECORD_CREATED"}


def test_a_batch_cut_short_by_an_error_keeps_the_entries_of_the_records_it_inserted(app, api: Api, monkeypatch):
    svc = app.extensions["runtime"]
    entity = svc.registry.get("companies")

    def first_then_fail(col, docs):
        col.insert_one(docs[0])
        raise RuntimeError("the store went away")

    monkeypatch.setattr(lifecycle, "_insert_batch", first_then_fail)
    ids = [ObjectId(), ObjectId()]
    wctx = WriteContext(user_email="admin@example.com", user_id=str(ObjectId()), developer=True,
                        context_path="entities.companies.import")
    with pytest.raises(RuntimeError):
        svc.records.create_many(entity, [(ids[0], company(name="First")), (ids[1], company(name="Second"))], wctx)
    assert _raw(app, "companies", str(ids[0])) is not None and _raw(app, "companies", str(ids[1])) is None
    assert [e["recordId"] for e in svc.history.col.find({"entityName": "companies"})] == [str(ids[0])]


def test_a_write_that_fails_stores_no_entry(app, api: Api):
    record = create(api, "companies", company(name="Unique Co"))
    stale = api.put(f"/data/companies/{record['id']}", json={"type": "b", "version": 7})
    assert stale.status_code == 409
    assert api.post("/data/companies", json=company(name="Unique Co")).status_code == 400  # name is unique
    assert [e["eventType"] for e in _stored_entries(app, record["id"])] == ["USER_RECORD_CREATED"]
    assert app.extensions["runtime"].history.col.count_documents({"entityName": "companies"}) == 1


def test_concurrent_puts_store_every_entry_once(app, api: Api):
    record = create(api, "companies", company())
    errors: list = []

    def writer(t: int) -> None:
        for i in range(10):
            response = api.put(f"/data/companies/{record['id']}", json={"notes": f"{t}-{i}"})
            if response.status_code != 200:
                errors.append(response.get_json())

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    changes = [e for e in _stored_entries(app, record["id"]) if e["eventType"] == "USER_RECORD_CHANGED"]
    assert sorted(e["newRecord"]["notes"]["json"] for e in changes) == sorted(
        f"{t}-{i}" for t in range(4) for i in range(10))
    assert _raw(app, "companies", record["id"])["version"] == 40


def test_an_entry_stored_as_rendered_shares_nothing_with_the_record(app, api: Api):
    """``store_direct`` keeps entries as built: what ``render_fields`` gives must not alias the record's lists
    and dicts (a change to the record would change its history)."""
    svc = app.extensions["runtime"]
    entity = svc.registry.get("companies")
    record = create(api, "companies", company())
    doc = _raw(app, "companies", record["id"])
    rendered = render_fields(entity, doc)

    def containers(value, out):
        if isinstance(value, dict | list):
            out.add(id(value))
            for item in value.values() if isinstance(value, dict) else value:
                containers(item, out)
        return out

    assert any(isinstance(v, dict | list) for v in doc.values())  # the sample has nested and many fields
    assert containers(rendered, set()).isdisjoint(containers(doc, set()))


def test_a_batch_renders_its_entries_as_render_fields_does(app, api: Api):
    svc = app.extensions["runtime"]
    entity = svc.registry.get("companies")
    create(api, "companies", company(name="Full Co"))
    create(api, "companies", {"name": "Bare Co"})
    rendered = fields_renderer(entity)
    docs = list(svc.records.collection("companies").find({}))
    assert len(docs) == 2
    for doc in docs:
        assert list(rendered(doc).items()) == list(render_fields(entity, doc).items())
