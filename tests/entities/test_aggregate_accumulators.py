"""Group accumulators per type family: what each returns (in the field's JSON form) and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, company, create
from tests.entities.test_aggregate_support import IGNORE_MAX_TIME_WARNING, error, items

pytestmark = IGNORE_MAX_TIME_WARNING

DEALS = {
    "name": "deals",
    "recordLabel": "#{title}",
    "fields": [
        {"name": "title", "type": "text", "required": True},
        {"name": "email", "type": "email"},
        {"name": "phone", "type": "phone"},
        {"name": "amount", "type": "integer"},
        {"name": "price", "type": "decimal"},
        {"name": "fee", "type": "money"},
        {"name": "rate", "type": "percentage"},
        {"name": "closedAt", "type": "dateTime"},
        {"name": "day", "type": "date"},
        {"name": "hour", "type": "time"},
        {"name": "modified", "type": "modifiedDate"},
        {"name": "won", "type": "boolean"},
        {"name": "stage", "type": "choice", "typeRules": {"possibleValues": ["open", "won", "lost"]}},
        {"name": "color", "type": "color"},
        {"name": "company", "type": "relationship", "typeRules": {"entity": "companies"}},
        {"name": "attachment", "type": "file"},
        {"name": "lines", "type": "nestedFields", "multiplicity": "many",
         "nestedFields": [{"name": "product", "type": "text"}, {"name": "qty", "type": "integer"}]},
        {"name": "scores", "type": "integer", "multiplicity": "many"},
    ],
}


@pytest.fixture
def deals(api: Api) -> dict[str, Any]:
    assert api.put("/metadata/entities/deals", json=DEALS).status_code == 200
    flashset = create(api, "companies", company(name="Flashset"))
    rooxo = create(api, "companies", company(name="Rooxo"))
    rows = [
        dict(title="Alpha", email="a@x.io", phone="17028459380", amount=10, price=1.5, fee=100.25, rate=10.5,
             closedAt=3000, day="2024-01-02", hour="08:00", won=True, stage="open", color="#aaaaaa",
             company={"id": flashset["id"]}, lines=[{"product": "pen", "qty": 2}], scores=[1, 2]),
        dict(title="Beta", email="b@x.io", phone="3039514211", amount=20, price=2.25, fee=50, rate=20,
             closedAt=1000, day="2023-05-06", hour="17:30", won=False, stage="won", color="#bbbbbb",
             company={"id": rooxo["id"]}, lines=[], scores=[3]),
        dict(title="Gamma", email="c@x.io", phone="12125550100", amount=30, price=3, fee=25, rate=30,
             closedAt=2000, day="2025-12-31", hour="12:00", won=True, stage="lost", color="#cccccc",
             company={"id": flashset["id"]}, scores=[]),
    ]
    return {"records": [create(api, "deals", r) for r in rows], "flashset": flashset, "rooxo": rooxo}


def accumulate(api: Api, field: str, ops: tuple[str, ...] = ("first", "last", "min", "max")) -> dict[str, Any]:
    """One group over all deals (sorted by title first) with one output per accumulator."""
    body = [{"sort": {"title": "asc"}}, {"group": {op: f"{op}({field})" for op in ops}}]
    rows = items(api, "deals", body)
    assert len(rows) == 1
    return rows[0]


ALL = ("count", "sum", "avg", "first", "last", "min", "max")


@pytest.mark.parametrize(("field", "expected"), [
    ("amount", {"sum": 60, "avg": 20, "first": 10, "last": 30, "min": 10, "max": 30}),
    ("price", {"sum": 6.75, "avg": 2.25, "first": 1.5, "last": 3, "min": 1.5, "max": 3}),
    ("fee", {"sum": 175.25, "first": 100.25, "last": 25, "min": 25, "max": 100.25}),
    ("rate", {"sum": 60.5, "first": 10.5, "last": 30, "min": 10.5, "max": 30}),
])
def test_numbers_take_every_accumulator(api: Api, deals: dict[str, Any], field: str, expected: dict[str, Any]):
    body = [{"sort": {"title": "asc"}},
            {"group": {"n": "count()", **{op: f"{op}({field})" for op in ALL if op != "count"}}}]
    row = items(api, "deals", body)[0]
    assert row["n"] == 3
    for op, value in expected.items():
        assert row[op] == pytest.approx(value), op
    assert isinstance(row["avg"], int | float)


def test_sums_and_averages_have_no_float_noise(api: Api):
    fields = [{"name": "r", "type": "text"}, {"name": "m", "type": "money"}, {"name": "d", "type": "decimal"},
              {"name": "p", "type": "percentage"}, {"name": "i", "type": "integer"}]
    assert api.put("/metadata/entities/ag", json={"name": "ag", "fields": fields}).status_code == 200
    for m, d, p, i in ((1.1, 0.1, 0.1, 1), (2.1, 0.2, 0.2, 2), (3.1, 0.0001, 0.01, 2)):
        create(api, "ag", {"r": "x", "m": m, "d": d, "p": p, "i": i})
    body = [{"group": {"by": "r", **{f"{op}{f.upper()}": f"{op}({f})" for op in ("sum", "avg") for f in "mdpi"}}}]
    row = items(api, "ag", body)[0]
    assert {k: v for k, v in row.items() if k != "r"} == {
        "sumM": 6.3, "avgM": 2.1, "sumD": 0.3001, "avgD": 0.1, "sumP": 0.31, "avgP": 0.1,
        "sumI": 5, "avgI": 1.6667}
    assert isinstance(row["sumI"], int)


def test_text_family_keeps_its_format(api: Api, deals: dict[str, Any]):
    assert accumulate(api, "title") == {"first": "Alpha", "last": "Gamma", "min": "Alpha", "max": "Gamma"}
    assert accumulate(api, "email") == {"first": "a@x.io", "last": "c@x.io", "min": "a@x.io", "max": "c@x.io"}
    # phone: digits are stored, the formatted form comes out
    assert accumulate(api, "phone") == {"first": "1-702-845-9380", "last": "1-212-555-0100",
                                        "min": "1-212-555-0100", "max": "303-951-4211"}


def test_dates_keep_their_format(api: Api, deals: dict[str, Any]):
    assert accumulate(api, "closedAt") == {"first": 3000, "last": 2000, "min": 1000, "max": 3000}
    assert accumulate(api, "day") == {"first": "2024-01-02", "last": "2025-12-31", "min": "2023-05-06",
                                      "max": "2025-12-31"}
    assert accumulate(api, "hour", ("min", "max")) == {"min": "08:00", "max": "17:30"}
    modified = accumulate(api, "modified", ("min", "max"))
    assert isinstance(modified["min"], int) and modified["min"] <= modified["max"]


def test_boolean_and_choice(api: Api, deals: dict[str, Any]):
    assert accumulate(api, "won") == {"first": True, "last": True, "min": False, "max": True}
    assert accumulate(api, "stage") == {"first": "open", "last": "lost", "min": "lost", "max": "won"}
    assert accumulate(api, "color", ("min", "max")) == {"min": "#aaaaaa", "max": "#cccccc"}


def test_relationship_first_last_render_id_and_label(api: Api, deals: dict[str, Any]):
    flashset = {"id": deals["flashset"]["id"], "label": "Flashset"}
    assert accumulate(api, "company", ("first", "last")) == {"first": flashset, "last": flashset}
    rows = items(api, "deals", [{"group": {"by": "company", "n": "count()", "total": "sum(amount)"}},
                                {"sort": {"total": "asc"}}])
    assert rows == [{"company": {"id": deals["rooxo"]["id"], "label": "Rooxo"}, "n": 1, "total": 20},
                    {"company": flashset, "n": 2, "total": 40}]


def test_nested_first_renders_items_with_string_ids(api: Api, deals: dict[str, Any]):
    first = accumulate(api, "lines", ("first",))["first"]
    line = deals["records"][0]["lines"][0]
    assert first == [{"id": line["id"], "label": line["label"], "product": "pen", "qty": 2}]


def test_group_keys_of_each_family(api: Api, deals: dict[str, Any]):
    rows = items(api, "deals", [{"group": {"by": "won", "n": "count()"}}, {"sort": {"won": "asc"}}])
    assert rows == [{"won": False, "n": 1}, {"won": True, "n": 2}]
    rows = items(api, "deals", [{"group": {"by": "stage,day", "amount": "max(amount)"}}, {"sort": {"day": "asc"}}])
    assert rows[0] == {"stage": "won", "day": "2023-05-06", "amount": 20}
    rows = items(api, "deals", [{"group": {"by": "closedAt"}}, {"sort": {"closedAt": "desc"}}])
    assert rows == [{"closedAt": 3000}, {"closedAt": 2000}, {"closedAt": 1000}]


@pytest.mark.parametrize(("field", "op"), [
    (f, op) for f in ("title", "email", "phone", "closedAt", "day", "hour", "modified", "won", "stage", "color")
    for op in ("sum", "avg")
] + [
    (f, op) for f in ("company", "attachment", "lines") for op in ("sum", "avg", "min", "max")
] + [("company.label", "sum"), ("lines.qty", "sum"), ("scores", "sum"), ("scores", "max")])
def test_disallowed_combinations_are_400(api: Api, deals: dict[str, Any], field: str, op: str):
    message = error(api, "deals", [{"match": {"title": "Alpha"}}, {"group": {"out": f"{op}({field})"}}])
    assert message.startswith(f"stage 2 (group): 'out': {op}() is not allowed on '{field}'")


def test_multi_valued_numbers_need_an_unwind(api: Api, deals: dict[str, Any]):
    assert "unwind it first" in error(api, "deals", [{"group": {"total": "sum(scores)"}}])
    rows = items(api, "deals", [{"unwind": "scores"}, {"group": {"total": "sum(scores)", "top": "max(scores)"}}])
    assert rows == [{"total": 6, "top": 3}]
    rows = items(api, "deals", [{"unwind": "lines"}, {"group": {"qty": "sum(lines.qty)"}}])
    assert rows == [{"qty": 2}]


def test_accumulator_outputs_can_be_accumulated_again(api: Api, deals: dict[str, Any]):
    rows = items(api, "deals", [{"group": {"by": "company", "total": "sum(amount)", "latest": "max(day)"}},
                                {"group": {"best": "max(total)", "avgTotal": "avg(total)", "last": "max(latest)"}}])
    assert rows == [{"best": 40, "avgTotal": 30, "last": "2025-12-31"}]
    assert "not allowed on 'latest'" in error(api, "deals", [{"group": {"by": "company", "latest": "max(day)"}},
                                                             {"group": {"x": "sum(latest)"}}])
