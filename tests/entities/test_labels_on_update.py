"""A record's label after an update: kept when none of the values it is made of changed, made again when one
did, when it reads a calculated value, and when the definition that made it changed."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from flask import Flask

from tests.conftest import Api, create

ITEMS = {"name": "items", "recordLabel": "#{code} (#{kind})", "fields": [
    {"name": "code", "type": "text"}, {"name": "kind", "type": "text"}, {"name": "n", "type": "integer"},
    {"name": "full", "type": "text", "calculated": "#{code}-#{n}"}]}


def define(api: Api, definition: dict[str, Any]) -> None:
    response = api.post("/metadata/entities", json=definition)
    assert response.status_code == 200, response.get_json()


def put(api: Api, entity: str, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.put(f"/data/{entity}/{record_id}", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def stored_label(app: Flask, entity: str, record_id: str) -> str:
    return app.extensions["runtime"].store.collection(f"data.{entity}").find_one({"_id": ObjectId(record_id)})["label"]


def test_the_label_follows_the_values_it_is_made_of(app: Flask, api: Api):
    define(api, ITEMS)
    record = create(api, "items", {"code": "A1", "kind": "box", "n": 1})
    assert record["label"] == "A1 (box)"
    assert put(api, "items", record["id"], {"n": 2})["label"] == "A1 (box)"
    assert put(api, "items", record["id"], {"kind": "crate"})["label"] == "A1 (crate)"
    assert put(api, "items", record["id"], {"code": None})["label"] == " (crate)"
    assert stored_label(app, "items", record["id"]) == " (crate)"


def test_a_label_made_of_a_calculated_value_follows_its_inputs(app: Flask, api: Api):
    define(api, {**ITEMS, "recordLabel": "#{full}"})
    record = create(api, "items", {"code": "A1", "n": 1})
    assert record["label"] == "A1-1"
    assert put(api, "items", record["id"], {"n": 7})["label"] == "A1-7"
    assert stored_label(app, "items", record["id"]) == "A1-7"


def test_a_label_without_a_template_follows_the_field_it_comes_from(api: Api):
    define(api, {"name": "people", "fields": [{"name": "name", "type": "text"}, {"name": "age", "type": "integer"}]})
    record = create(api, "people", {"name": "Ann", "age": 30})
    assert record["label"] == "Ann"
    assert put(api, "people", record["id"], {"age": 31})["label"] == "Ann"
    assert put(api, "people", record["id"], {"name": "Bea"})["label"] == "Bea"


def test_an_update_after_the_template_changed_writes_the_new_label(app: Flask, api: Api):
    define(api, ITEMS)
    record = create(api, "items", {"code": "A1", "kind": "box", "n": 1})
    definition = api.get("/metadata/entities/items").get_json()
    response = api.put("/metadata/entities/items", json={**definition, "recordLabel": "#{kind}: #{code}"})
    assert response.status_code == 200, response.get_json()
    assert put(api, "items", record["id"], {"n": 2})["label"] == "box: A1"
    assert stored_label(app, "items", record["id"]) == "box: A1"


def test_a_label_written_under_an_older_definition_is_made_again(app: Flask, api: Api):
    """A record the relabelling has not reached (or one written by other means) has its label made again by
    any update, whatever the update changes."""
    define(api, ITEMS)
    record = create(api, "items", {"code": "A1", "kind": "box", "n": 1})
    store = app.extensions["runtime"].store
    store.collection("data.items").update_one({"_id": ObjectId(record["id"])},
                                              {"$set": {"label": "written before", "_mv": 0}})
    assert put(api, "items", record["id"], {"n": 2})["label"] == "A1 (box)"
    assert stored_label(app, "items", record["id"]) == "A1 (box)"


def test_a_label_made_of_who_wrote_last_is_made_again_by_every_write(app: Flask, api: Api):
    define(api, {"name": "notes", "recordLabel": "#{title} by #{editor}", "fields": [
        {"name": "title", "type": "text"}, {"name": "n", "type": "integer"},
        {"name": "editor", "type": "user", "typeRules": {"setOn": "write"}}]})
    record = create(api, "notes", {"title": "Plan", "n": 1})
    app.extensions["runtime"].store.collection("data.notes").update_one(
        {"_id": ObjectId(record["id"])}, {"$set": {"label": "Plan by someone else"}})
    assert put(api, "notes", record["id"], {"n": 2})["label"] != "Plan by someone else"
