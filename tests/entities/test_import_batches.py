"""The batch create path (``RecordLifecycle.create_many``) and the import that uses it: one write per batch,
with the per-record stages (validation, unique values, history, after-commit hooks) of one-by-one creates."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from core.context import WriteContext
from core.errors import ValidationFailed
from entities.records.events import AfterCommit, RecordEvent
from tests.conftest import Api, login
from tests.entities.test_import_export import define, items, run_import

FIELDS = [{"name": "code", "label": "Code", "type": "text", "unique": True},
          {"name": "n", "label": "N", "type": "integer"},
          {"name": "day", "label": "Day", "type": "date"},
          {"name": "ref", "label": "Ref", "type": "text", "unique": True}]


@pytest.fixture
def api(app: Flask) -> Api:
    api = login(app)
    define(api, "parts", FIELDS, history=True)
    return api


@pytest.fixture
def seen(app: Flask) -> list[RecordEvent]:
    """Every after-commit event on ``parts``."""
    events: list[RecordEvent] = []
    records = app.extensions["runtime"].records
    records.after_commit.append(AfterCommit("test-listener", events.append,
                                            wants=lambda entity, ctx: entity.name == "parts"))
    return events


def _ctx() -> WriteContext:
    return WriteContext(user_email="admin@example.com", context_path="entities.parts.import")


def _create_many(app: Flask, bodies: list[dict[str, Any]], ids: list[ObjectId] | None = None) -> list[Any]:
    svc = app.extensions["runtime"]
    ids = ids or [ObjectId() for _ in bodies]
    return svc.records.create_many(svc.registry.get("parts"), list(zip(ids, bodies, strict=True)), _ctx())


def _history(app: Flask) -> list[dict[str, Any]]:
    return list(app.extensions["runtime"].store.collection("sys.history").find({"entityName": "parts"}))


def test_a_duplicate_unique_value_is_that_items_error_and_the_others_are_stored(app: Flask, api: Api):
    assert isinstance(_create_many(app, [{"code": "a"}])[0], dict)
    results = _create_many(app, [{"code": "b", "n": 1}, {"code": "a"}, {"code": "c"}, {"code": "b", "n": 2}])
    assert [isinstance(r, dict) for r in results] == [True, False, True, False]
    for refused in (results[1], results[3]):  # against a stored record, and against one of the same batch
        assert isinstance(refused, ValidationFailed)
        (error,) = refused.errors
        assert (error["field"], error["code"], error["message"]) == ("code", "duplicate",
                                                                     "Another record already has this value")
    stored = items(api, "parts")
    assert sorted((r["code"], r["n"]) for r in stored) == [("a", None), ("b", 1), ("c", None)]


def test_an_invalid_item_is_reported_and_does_not_stop_the_batch(app: Flask, api: Api):
    results = _create_many(app, [{"code": "x", "day": "2024-02-30"}, {"code": "y", "day": "2024-02-29"}])
    assert isinstance(results[0], ValidationFailed) and results[0].errors[0]["field"] == "day"
    assert results[1]["day"] == "2024-02-29"
    assert [r["code"] for r in items(api, "parts")] == ["y"]


def test_a_resumed_batch_with_the_same_ids_creates_nothing_twice(app: Flask, api: Api, seen: list[RecordEvent]):
    ids = [ObjectId() for _ in range(3)]
    bodies = [{"code": f"r{i}"} for i in range(3)]
    first = _create_many(app, bodies[:2], ids[:2])  # the run that died after writing two of the three
    again = _create_many(app, bodies, ids)
    assert all(isinstance(r, dict) for r in first + again)
    assert sorted(r["code"] for r in items(api, "parts")) == ["r0", "r1", "r2"]
    assert [e.record["_id"] for e in seen] == ids  # each created record's hook ran once
    assert sorted(e["recordId"] for e in _history(app)) == sorted(str(i) for i in ids)


def test_an_import_reports_a_duplicate_row_and_imports_the_others(api: Api):
    """``code`` is the key column (rows matching it update); ``ref`` is unique too."""
    job = run_import(api, "parts", "code,ref\nk1,r1\nk2,r2\nk3,r1\nk4,r4\n")
    assert job["results"]["rowsImported"] == 3 and job["results"]["rowsWithErrors"] == 1
    row = job["results"]["results"]["4"]
    assert row["status"] == "error" and row["errorMessage"] == "ref: Another record already has this value"
    assert [(e["field"], e["code"], e["additionalInfo"]) for e in row["errors"]] == [
        ("ref", "duplicate", {"rejectedValue": "r1"})]
    assert sorted(r["code"] for r in items(api, "parts")) == ["k1", "k2", "k4"]


def test_a_later_row_updates_the_record_an_earlier_row_of_the_same_batch_created(app: Flask, api: Api):
    job = run_import(api, "parts", "code,n\nu1,1\nu2,2\nu1,3\n")
    assert job["results"] == {"rowsImported": 3, "rowsWithErrors": 0}
    assert sorted((r["code"], r["n"]) for r in items(api, "parts")) == [("u1", 3), ("u2", 2)]


def test_every_imported_row_has_its_history_entry_and_reaches_the_listeners(app: Flask, api: Api,
                                                                            seen: list[RecordEvent]):
    rows = 450  # more than two batches of the default size
    job = run_import(api, "parts", "code,n,day\n" + "".join(f"h{i},{i},2024-03-01\n" for i in range(rows)))
    assert job["results"] == {"rowsImported": rows, "rowsWithErrors": 0}
    stored = {r["id"] for r in items(api, "parts")}
    assert len(stored) == rows
    created = [e for e in _history(app) if e["eventType"] == "USER_RECORD_CREATED"]
    assert {e["recordId"] for e in created} == stored and len(created) == rows
    assert all(e["user"] == "admin@example.com" and e["newRecord"]["day"] == "2024-03-01" for e in created)
    assert [e.kind for e in seen] == ["created"] * rows
    assert {str(e.record["_id"]) for e in seen} == stored

