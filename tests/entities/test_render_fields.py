"""Rendering a record's fields skips the serializer of fields stored as they render, and gives exactly what the
entity's schema dump gives: same values, same order, unset fields as null (booleans false, lists empty)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bson import ObjectId

from entities.metadata import parse_entity
from entities.records.render import render_fields
from entities.records.schema import schema_for

ENTITY = parse_entity({"name": "renderedThings", "fields": [
    {"name": "code", "type": "text"}, {"name": "n", "type": "integer"}, {"name": "price", "type": "money"},
    {"name": "on", "type": "boolean"}, {"name": "day", "type": "date"}, {"name": "at", "type": "dateTime"},
    {"name": "phone", "type": "phone"}, {"name": "color", "type": "color"},
    {"name": "kind", "type": "choice", "typeRules": {"possibleValues": [{"name": "a", "label": "Alpha"}]}},
    {"name": "tags", "type": "text", "multiplicity": "many"},
    {"name": "flags", "type": "boolean", "multiplicity": "many"},
    {"name": "doc", "type": "file"},
    {"name": "spec", "type": "nestedFields", "nestedFields": [{"name": "w", "type": "decimal"},
                                                              {"name": "ok", "type": "boolean"}]}]},
    version=1, entity_id="rendered-things-id")  # schemas are cached per (id, name, version)

STORED: dict[str, Any] = {
    "_id": ObjectId(), "version": 3, "code": "x", "n": 4, "price": 1.25, "on": True, "day": "2024-03-01",
    "at": dt.datetime(2024, 3, 1, 10, 0), "phone": "+15551234567", "color": "#ff0000", "kind": "a",
    "tags": ["a", "b"], "flags": [True, False], "doc": {"id": ObjectId(), "name": "a.pdf"},
    "spec": {"id": ObjectId(), "w": 2.5, "ok": True}, "_mv": 1}


def _schema_dump(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(schema_for(ENTITY).dump({f.name: doc.get(f.name) for f in ENTITY.fields}))


def test_a_full_record_renders_as_the_schema_dumps_it():
    rendered = render_fields(ENTITY, STORED)
    assert rendered == _schema_dump(STORED)
    assert list(rendered) == [f.name for f in ENTITY.fields]
    assert rendered["phone"] == "+1-555-123-4567" and rendered["spec"]["id"] == str(STORED["spec"]["id"])


def test_an_empty_record_renders_unset_values_as_the_schema_does():
    rendered = render_fields(ENTITY, {"_id": ObjectId()})
    assert rendered == _schema_dump({})
    assert rendered["on"] is False and rendered["tags"] == [] and rendered["code"] is None


def test_a_changed_definition_is_rendered_with_its_new_fields():
    entity = parse_entity({"name": "t", "fields": [{"name": "a", "type": "text"}]}, version=1, entity_id="t-id")
    assert render_fields(entity, {"a": "x", "b": True}) == {"a": "x"}
    entity.fields.extend(parse_entity({"name": "t", "fields": [{"name": "b", "type": "boolean"}]}).fields)
    assert render_fields(entity, {"a": "x"}) == {"a": "x", "b": False}
