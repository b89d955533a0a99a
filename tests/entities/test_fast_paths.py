"""The import's fast paths give what the general paths give: ``load_fast`` vs the marshmallow schema, and
date / date-time cells without strptime vs the strptime formats."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from entities.metadata import parse_entity
from entities.records.schema import load_fast, schema_for
from entities.types import _CELL_DATE_TIMES, _EPOCH, TYPES, FieldInvalid

ENTITY = parse_entity({"name": "things", "fields": [
    {"name": "code", "type": "text"}, {"name": "n", "type": "integer"}, {"name": "price", "type": "money"},
    {"name": "on", "type": "boolean"}, {"name": "day", "type": "date"}, {"name": "at", "type": "dateTime"},
    {"name": "kind", "type": "choice", "typeRules": {"possibleValues": [{"name": "a", "label": "Alpha"}]}},
    {"name": "tags", "type": "text", "multiplicity": "many"},
    {"name": "spec", "type": "nestedFields", "nestedFields": [{"name": "w", "type": "decimal"}]}]},
    version=1, entity_id="things-id")


@pytest.mark.parametrize("body", [
    {"code": "x", "n": 3, "price": 1.255, "on": True, "day": "2024-03-01", "at": 5, "kind": "Alpha",
     "tags": ["a", None, "b"], "spec": {"w": 1.5}},
    {"code": None, "tags": None}, {}, {"n": 2.0, "day": "0088-04-26"},
])
def test_load_fast_gives_what_the_schema_gives(body: dict[str, Any]):
    fast = load_fast(ENTITY, body)
    expected = schema_for(ENTITY).load(body, partial=True)
    assert fast is not None
    if "spec" in body:  # a nested item gets a fresh id on each load
        assert fast.pop("spec")["w"] == expected.pop("spec")["w"]
    assert fast == dict(expected) and list(fast) == list(expected)


@pytest.mark.parametrize("body", [{"nope": 1}, {"n": "x"}, {"day": "2024-02-30"}, {"tags": "x"}, {"kind": "z"}])
def test_load_fast_leaves_refused_bodies_to_the_schema(body: dict[str, Any]):
    assert load_fast(ENTITY, body) is None


def _strptime_cell(raw: str) -> Any:
    if raw.isascii() and raw.isdigit():
        return int(raw)  # plain millis
    for fmt in _CELL_DATE_TIMES:
        try:
            return (dt.datetime.strptime(raw, fmt).replace(tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(milliseconds=1)
        except ValueError:
            continue
    return "refused"


DAYS = ["2024-03-01", "2024-02-29", "2023-02-29", "2024-13-01", "2024-1-5", "0099-01-01", "2024-03-01x", "2024-W10-1",
        "20240301"]
TIMES = ["", "T10:00Z", "T10:00:59Z", "T23:59:59.999Z", "T24:00Z", "T10:60Z", "T10:00:00.1Z", " 10:00", " 23:59:59",
         " 10:00:61", "T10:00", "T10:00:00.000+01:00", " 10:00Z"]


@pytest.mark.parametrize("raw", [d + t for d, t in itertools.product(DAYS, TIMES)])
def test_date_time_cells_read_as_with_strptime(raw: str):
    f = parse_entity({"name": "t", "fields": [{"name": "at", "type": "dateTime"}]}).fields[0]
    try:
        got = TYPES["dateTime"].cell_in(raw, f)
    except FieldInvalid:
        got = "refused"
    assert got == _strptime_cell(raw)


@pytest.mark.parametrize("raw", [*DAYS, " 2024-03-01", "２０２４-03-01", "2024-03-1"])
def test_dates_load_as_with_strptime(raw: str):
    f = parse_entity({"name": "t", "fields": [{"name": "day", "type": "date"}]}).fields[0]
    try:
        expected = dt.datetime.strptime(raw, "%Y-%m-%d").date().isoformat()
    except ValueError:
        expected = "refused"
    try:
        got = TYPES["date"].load(raw, f)
    except FieldInvalid:
        got = "refused"
    assert got == expected


def test_dump_fast_gives_what_the_schema_gives():
    from bson import ObjectId

    from entities.records.schema import dump_fast
    stored = schema_for(ENTITY).load({"code": "x", "n": 3, "price": 2.5, "day": "2024-03-01", "at": 5, "kind": "a",
                                      "tags": ["a", "b"], "spec": {"w": 1.5}}, partial=True)
    for data in (dict(stored), {f.name: stored.get(f.name) for f in ENTITY.fields}, {"n": None, "nope": 1},
                 {"spec": {"id": ObjectId(), "w": 2}}):
        assert dump_fast(ENTITY, data) == schema_for(ENTITY).dump(data)
        assert list(dump_fast(ENTITY, data)) == list(schema_for(ENTITY).dump(data))


def test_dump_fast_of_every_type_gives_what_the_schema_gives():
    from bson import ObjectId

    from entities.records.schema import dump_fast
    entity = parse_entity({"name": "dumped", "fields": [
        {"name": "t", "type": "text"}, {"name": "p", "type": "phone"}, {"name": "b", "type": "boolean"},
        {"name": "at", "type": "dateTime"}, {"name": "c", "type": "color"}, {"name": "h", "type": "time"},
        {"name": "pc", "type": "percentage"}, {"name": "r", "type": "relationship", "typeRules": {"entity": "x"}},
        {"name": "u", "type": "user"}, {"name": "f", "type": "file"}, {"name": "e", "type": "email"},
        {"name": "ns", "type": "integer", "multiplicity": "many"},
        {"name": "g", "type": "nestedFields", "multiplicity": "many",
         "nestedFields": [{"name": "w", "type": "text"}]}]},
        version=1, entity_id="dumped-id")
    ref = {"id": ObjectId(), "label": "L"}
    full = {"t": "x", "p": "17028459380", "b": True, "at": 5, "c": "#fff", "h": "08:30", "pc": 1.5, "r": ref,
            "u": ref, "f": {"id": ObjectId(), "name": "n.txt"}, "e": "a@b.io", "ns": [1, 2],
            "g": [{"id": ObjectId(), "label": "G", "w": "v"}]}
    for data in (full, dict.fromkeys(full), {"b": False, "ns": [], "t": ""}, {}):
        assert dump_fast(entity, data) == schema_for(entity).dump(data)
        assert list(dump_fast(entity, data)) == list(schema_for(entity).dump(data))
