"""The import's per-column converters (``entities.transfer.converters``) give what the general path gives:
the same stored value for every cell of every field type, rows they refuse left to the general path, and an
import through them storing the same records and reporting the same row errors as one without them."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from flask import Flask

from entities.metadata import parse_entity
from entities.records.schema import load_fast
from entities.transfer import importer
from entities.transfer.cells import parse_cell, unguard_formula
from entities.transfer.converters import converter, row_converter
from entities.transfer.headers import plan_import
from entities.transfer.rows import build_body, prune
from entities.types import FieldInvalid
from tests.conftest import company, create, login
from tests.entities.test_import_export import define, items, run_import

FIELDS = [
    {"name": "code", "label": "Code", "type": "text", "unique": True},
    {"name": "short", "label": "Short", "type": "text", "typeRules": {"maxLength": 3, "minLength": 2}},
    {"name": "coded", "label": "Coded", "type": "text", "typeRules": {"pattern": "[A-Z]+", "hint": "Capitals"}},
    {"name": "notes", "label": "Notes", "type": "longText"},
    {"name": "body", "label": "Body", "type": "html"},
    {"name": "email", "label": "Email", "type": "email"},
    {"name": "site", "label": "Site", "type": "url"},
    {"name": "phone", "label": "Phone", "type": "phone"},
    {"name": "count", "label": "Count", "type": "integer"},
    {"name": "small", "label": "Small", "type": "integer", "typeRules": {"min": -5, "max": 5}},
    {"name": "price", "label": "Price", "type": "money"},
    {"name": "ratio", "label": "Ratio", "type": "decimal", "typeRules": {"decimals": 1, "min": 0}},
    {"name": "exact", "label": "Exact", "type": "decimal", "typeRules": {"decimals": 2, "extraDecimals": "error"}},
    {"name": "cut", "label": "Cut", "type": "decimal", "typeRules": {"decimals": 2, "extraDecimals": "truncate"}},
    {"name": "share", "label": "Share", "type": "percentage"},
    {"name": "capped", "label": "Capped", "type": "money", "typeRules": {"max": 12, "decimals": 0}},
    {"name": "active", "label": "Active", "type": "boolean"},
    {"name": "day", "label": "Day", "type": "date"},
    {"name": "at", "label": "At", "type": "dateTime"},
    {"name": "opens", "label": "Opens", "type": "time"},
    {"name": "size", "label": "Size", "type": "choice",
     "typeRules": {"possibleValues": [{"name": "s", "label": "Small"}, {"name": "l", "label": "Large"}, "XL"]}},
    {"name": "color", "label": "Color", "type": "color"},
    {"name": "tags", "label": "Tags", "type": "text", "multiplicity": "many"},
    {"name": "counts", "label": "Counts", "type": "integer", "multiplicity": "many"},
    {"name": "level", "label": "Level", "type": "integer", "defaultValue": 7},
    {"name": "needed", "label": "Needed", "type": "text", "required": True},
]
ENTITY = parse_entity({"name": "things", "fields": FIELDS}, version=1, entity_id="converter-things-id")

TEXTS = ["a", " a ", "abc", "abcd", "ab", "ABC", "aBc", "x" * 301, "é", "'=1+1", "=1+1", "'x", "\ttab", "a\nb"]
NUMBERS = ["0", "7", "-3", "+4", " 12 ", "5", "6", "-6", "1.5", "1.25", "1.249", "0.05", "-0.0", "3.0", "1e3", "1E-2",
           ".5", "5.", "1_000", "١٢", "nan", "inf", "-Infinity", "x", "12abc", "9223372036854775807",
           "9223372036854775808", "-9223372036854775808", "27810.0028", "76.255", "0001.2500", "1" * 400 + ".5"]
BOOLEANS = ["true", "TRUE", " Yes ", "1", "0", "no", "False", "y", "2", "truth"]
DATES = ["2024-03-01", " 2024-02-29 ", "2023-02-29", "2024-13-01", "2024-3-1", "0088-04-26", "2024-03-01T10:00Z",
         "01/03/2024", "２０２４-03-01", "08:30", "8:30", "25:00"]
DATE_TIMES = ["2017-01-16T14:53:00.000Z", "2017-01-16 14:53", "1484578380000", "2017-01-16", "yesterday", "-5"]
CHOICES = ["s", " l ", "S", "small", "LARGE", "XL", "xl", "m", "Small "]
OTHERS = ["a@b.io", " A@B.io ", "nope", "http://x.io", "ftp://y", "(http://x.io)<X>", "x.io", "1-702-845-9380",
          "+44 20 7946 0958", "12", "#F5A9A9", "#fff", "red", "<b>b</b><script>x()</script>"]
CELLS = {"text": TEXTS, "longText": TEXTS, "html": TEXTS + OTHERS, "email": OTHERS, "url": OTHERS, "phone": OTHERS,
         "integer": NUMBERS, "money": NUMBERS, "decimal": NUMBERS, "percentage": NUMBERS, "boolean": BOOLEANS,
         "date": DATES, "dateTime": DATE_TIMES + DATES + NUMBERS, "time": DATES, "choice": CHOICES, "color": OTHERS}


def _general(f: Any, text: str) -> Any:
    """What the general path stores for one cell of ``f`` (parse_cell, then the field type's load)."""
    try:
        value = parse_cell(f, text)
        return ("value", None if value is None else f.type.load(value, f))
    except FieldInvalid:
        return ("refused",)


def _fast(f: Any, text: str) -> Any:
    text = unguard_formula(text)
    if not text.strip():
        return ("value", None)
    try:
        return ("value", converter(f)(text))
    except Exception:  # any refusal: the row takes the general path
        return ("refused",)


@pytest.mark.parametrize("f", ENTITY.fields, ids=lambda f: f.name)
def test_each_cell_converts_to_what_the_general_path_stores(f: Any):
    for text in CELLS[f.type.name] + ["", "  ", "'", "''"]:
        fast, general = _fast(f, text), _general(f, text)
        assert fast == general and type(fast[-1]) is type(general[-1]), (f.name, text, fast, general)


HEADER = ["code", "short", "count", "small", "price", "ratio", "exact", "share", "active", "day", "at", "opens",
          "size", "color", "tags[1]", "tags[0]", "counts[0]", "level", "needed", "notes", "email", "phone"]


def _rows() -> list[list[str]]:
    """Rows mixing good and bad cells of each column."""
    columns = {"code": ["c", " c", ""], "short": ["ab", "abcd", ""], "count": ["3", "x", ""],
               "small": ["5", "6", ""], "price": ["1.25", "1e3", ""], "ratio": ["1.25", "-1", ""],
               "exact": ["1.25", "1.255", ""], "share": ["76.255", "nan", ""], "active": ["yes", "maybe", ""],
               "day": ["2024-03-01", "2023-02-29", ""], "at": ["2017-01-16 14:53", "then", ""],
               "opens": ["08:30", "25:00", ""], "size": ["Large", "m", ""], "color": ["#FFF", "red", ""],
               "tags[1]": ["b", "x" * 301, ""], "tags[0]": ["a", "", "'=x"], "counts[0]": ["1", "one", ""],
               "level": ["2", "", "x"], "needed": ["y", "", " "], "notes": ["n", "", "'+1"],
               "email": ["a@b.io", "nope", ""], "phone": ["1-702-845-9380", "12", ""]}
    out = []
    for i in range(60):  # mostly good cells; now and then a bad one (second) or the third
        row = [columns[h][1 if (i + 3 * n) % 37 == 0 else 2 if (i + n) % 7 == 0 else 0] for n, h in enumerate(HEADER)]
        row[0] = f"{row[0]}{i % 50}" if row[0] else ""  # rows 50 to 59 update records of earlier rows
        out.append(row)
    return out


def test_a_row_the_converters_take_loads_as_the_general_path_loads_it():
    from entities.registry import Registry

    plan = plan_import(Registry.__new__(Registry), ENTITY, HEADER)
    fast = row_converter(ENTITY, plan)
    assert fast is not None
    taken = 0
    for cells in _rows():
        errors: list[dict[str, Any]] = []
        body = prune(build_body(plan.own, cells, errors))
        general = None if errors else load_fast(ENTITY, body)
        loaded = fast.loaded(cells)
        if loaded is not None:
            taken += 1
            assert general is not None and loaded == general and list(loaded) == list(general), cells
        else:
            assert general is None, cells  # a row refused here is refused by the general path too
    assert 20 < taken < 60


def test_plans_the_converters_do_not_cover_get_none(app: Flask):
    svc = app.extensions["runtime"]
    gadgets = parse_entity({"name": "gadgets", "fields": [
        {"name": "code", "type": "text"},
        {"name": "maker", "type": "relationship", "typeRules": {"entity": "companies"}},
        {"name": "spec", "type": "nestedFields", "nestedFields": [{"name": "w", "type": "decimal"}]}]})
    assert row_converter(gadgets, plan_import(svc.registry, gadgets, ["code", "maker"])) is not None
    assert row_converter(gadgets, plan_import(svc.registry, gadgets, ["code", "spec.w"])) is None
    assert row_converter(gadgets, plan_import(svc.registry, gadgets, ["code", "maker.name"])) is None


def _import_both(app: Flask, monkeypatch: pytest.MonkeyPatch, text: str, query: str = "") -> tuple[Any, Any]:
    """The job and records of importing ``text`` with the converters (``fast``) and without (``general``)."""
    api = login(app)
    define(api, "fast", FIELDS)
    define(api, "general", FIELDS)
    out = []
    for entity in ("fast", "general"):
        if entity == "general":
            monkeypatch.setattr(importer, "row_converter", lambda *args: None)
        job = run_import(api, entity, text, query)
        records = [{k: v for k, v in r.items() if k not in ("id", "label")} for r in items(api, entity)]
        history = [{k: e[k] for k in ("eventType", "user", "newRecord", "oldRecord")}
                   for e in api.get(f"/data/{entity}/history?_size=1000").get_json()["items"]]
        out.append((job["results"], job["hasErrors"], records, sorted(history, key=repr)))
    return out[0], out[1]


def _csv(rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
    return "\n".join(",".join(cell(c) for c in row) for row in rows) + "\n"


def test_an_import_through_the_converters_stores_and_reports_what_the_general_path_does(
        app: Flask, monkeypatch: pytest.MonkeyPatch):
    rows = _rows()
    rows.insert(5, ["c1"] + [""] * (len(HEADER) - 1))  # an update of the record an earlier row created
    rows.insert(9, ["too", "few"])
    rows.insert(12, [""] * len(HEADER))  # blank: skipped
    fast, general = _import_both(app, monkeypatch, _csv([HEADER, *rows]))
    assert fast == general
    results, has_errors, records, history = fast
    assert has_errors and 20 < results["rowsImported"] < len(rows) - 1 and results["rowsWithErrors"] > 5
    assert any(r["version"] > 0 for r in records) and len(history) > len(records)


def test_a_relationship_column_and_defaults_through_the_converters(app: Flask, monkeypatch: pytest.MonkeyPatch):
    api = login(app)
    acme = create(api, "companies", company(name="Acme"))
    fields = [{"name": "code", "type": "text"}, {"name": "n", "type": "integer", "defaultValue": 3},
              {"name": "maker", "type": "relationship", "typeRules": {"entity": "companies"}}]
    text = "code,maker,n\na,Acme,\nb,Nobody,1\nc,,x\nd,Acme,2\n"
    seen = []
    for entity, convert in (("viaFast", True), ("viaGeneral", False)):
        define(api, entity, fields)
        if not convert:
            monkeypatch.setattr(importer, "row_converter", lambda *args: None)
        job = run_import(api, entity, text)
        seen.append((job["results"], [{k: v for k, v in r.items() if k not in ("id", "label")}
                                      for r in items(api, entity)]))
    assert seen[0] == seen[1]
    results, records = seen[0]
    assert results["rowsImported"] == 2 and set(results["results"]) == {"3", "4"}
    assert [(r["code"], r["n"], r["maker"]["id"]) for r in records] == [("a", 3, acme["id"]), ("d", 2, acme["id"])]


def test_every_combination_of_empty_and_guarded_cells_of_a_many_valued_field():
    from entities.registry import Registry

    plan = plan_import(Registry.__new__(Registry), ENTITY, ["needed", "tags[2]", "tags[0]", "counts[1]", "counts[0]"])
    fast = row_converter(ENTITY, plan)
    assert fast is not None
    for cells in itertools.product(["x"], ["", "b", "'=b", " "], ["", "a"], ["", "2", "two"], ["1", " "]):
        errors: list[dict[str, Any]] = []
        body = prune(build_body(plan.own, list(cells), errors))
        general = None if errors else load_fast(ENTITY, body)
        assert fast.loaded(list(cells)) == general, cells
