"""Date-times without timezone, year-months and month-days, through HTTP: what they accept, store and read, how
they filter, sort, aggregate, import and export, and what a definition of them may say."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.conftest import Api, create, grant_all
from tests.entities.test_aggregate_support import IGNORE_MAX_TIME_WARNING, error
from tests.entities.test_aggregate_support import items as aggregated
from tests.entities.test_import_export import run_export, run_import

pytestmark = IGNORE_MAX_TIME_WARNING

EVENTS = {
    "name": "events", "recordLabel": "#{title}", "history": True,
    "fields": [
        {"name": "title", "type": "text"},
        {"name": "at", "type": "dateTimeNoTimezone"},
        {"name": "month", "type": "dateYearMonth"},
        {"name": "day", "type": "dateMonthDay"},
        {"name": "ats", "type": "dateTimeNoTimezone", "multiplicity": "many"},
    ],
}


@pytest.fixture
def events(api: Api) -> Api:
    response = api.put("/metadata/entities/events", json=EVENTS)
    assert response.status_code == 200, response.get_json()
    return api


def stored(app: Flask, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The documents the store holds, as written (not rendered)."""
    return list(app.extensions["runtime"].records.collection("events").find(query or {}))


def titles(api: Api, query: str) -> list[str]:
    response = api.get(f"/data/events?_size=100&{query}")
    assert response.status_code == 200, response.get_json()
    return [r["title"] for r in response.get_json()["items"]]


def field_errors(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 400, response.get_json()
    return [(e["field"], e["code"]) for e in response.get_json()["errors"]]


# --- date-time without timezone, year-month, month-day -------------------------------------------

def test_text_dates_round_trip_in_their_format(events: Api):
    body = {"title": "Launch", "at": "2016-11-05 19:00", "month": "2016-07", "day": "04-16",
            "ats": ["2016-11-05 19:00", "2017-01-02 08:30"]}
    created = create(events, "events", body)
    assert {k: created[k] for k in body} == body
    assert events.get(f"/data/events/{created['id']}").get_json()["at"] == "2016-11-05 19:00"
    changed = events.put(f"/data/events/{created['id']}", json={"at": "2016-11-5 9:05", "month": "0088-1",
                                                                 "day": "02-29"})
    assert changed.status_code == 200, changed.get_json()
    # shorter numbers are written as the format's zero-padded ones; 29 February is a month-day
    assert (changed.get_json()["at"], changed.get_json()["month"], changed.get_json()["day"]) == \
        ("2016-11-05 09:05", "0088-01", "02-29")


@pytest.mark.parametrize(("field", "value"), [
    ("at", "2016-11-05"), ("at", "2016-11-05T19:00"), ("at", "2016-11-05 19:00:00"), ("at", "2016-13-05 10:00"),
    ("at", "2016-11-05 24:00"), ("at", 1478372400000), ("at", " 2016-11-05 19:00"),
    ("month", "2016-13"), ("month", "2016"), ("month", "16-07"), ("month", "2016-07-01"), ("month", 201607),
    ("day", "02-30"), ("day", "13-01"), ("day", "00-10"), ("day", "04-31"), ("day", "2016-04-16"), ("day", 416),
    ("ats", ["2016-11-05 19:00", "tomorrow"]),
])
def test_text_dates_out_of_their_format_are_field_errors(app: Flask, events: Api, field: str, value: Any):
    response = events.post("/data/events", json={"title": "Bad", field: value})
    assert field_errors(response)[0] in ((field, "invalid"), (f"{field}[1]", "invalid"))
    assert stored(app) == []


def test_a_date_time_without_timezone_reads_the_same_for_every_reader(app: Flask, events: Api):
    """Wall-clock text: plainText and _formatForUser leave it as written (no timezone conversion)."""
    created = create(events, "events", {"title": "Gala", "at": "2016-11-05 19:00", "month": "2016-07",
                                        "day": "04-16"})
    app.extensions["runtime"].auth.create_user("ny@example.com", "long-password", "New", "York")
    grant_all(app, "ny@example.com")
    localization = {"timezoneMode": "MANUAL", "timezone": "America/New_York"}
    assert events.put("/users/ny@example.com", json={"localization": localization}).status_code == 200
    for query in ("_format=plainText", "_format=plainText&_formatForUser=ny@example.com"):
        one = events.get(f"/data/events/{created['id']}?{query}").get_json()
        listed = events.get(f"/data/events?{query}").get_json()["items"][0]
        for record in (one, listed):
            assert (record["at"], record["month"], record["day"]) == ("2016-11-05 19:00", "2016-07", "04-16")


@pytest.fixture
def dated(events: Api) -> Api:
    for title, at, month, day in (("A", "2016-11-05 19:00", "2016-07", "04-16"),
                                  ("B", "2015-12-31 23:59", "2015-12", "12-31"),
                                  ("C", "2016-01-01 00:00", "2016-01", "01-01"),
                                  ("D", "2016-11-05 11:00", "2016-11", "02-29")):
        create(events, "events", {"title": title, "at": at, "month": month, "day": day})
    create(events, "events", {"title": "E"})
    return events


@pytest.mark.parametrize(("query", "expected"), [
    ("at=greater(2016-11-05 11:00)", ["A"]),
    ("at=greaterOrEquals(2016-11-05 11:00)", ["A", "D"]),
    ("at=less(2016-1-1 0:00)", ["B"]),
    ("at=between(2016-01-01 00:00,2016-11-05 11:00)", ["C", "D"]),
    ("at=2016-11-05 19:00,2015-12-31 23:59", ["A", "B"]),
    ("at=notEquals(2016-11-05 19:00)", ["B", "C", "D", "E"]),
    ("at=empty()", ["E"]),
    ("month=greater(2016-01)", ["A", "D"]),
    ("month=lessOrEquals(2016-1)", ["B", "C"]),
    ("day=between(02-01,04-30)", ["A", "D"]),
    ("day=02-29", ["D"]),
    ("day=notEmpty()", ["A", "B", "C", "D"]),
])
def test_text_dates_filter_chronologically(dated: Api, query: str, expected: list[str]):
    assert titles(dated, f"{query}&_sortField=title&_sortType=asc") == expected


@pytest.mark.parametrize("query", ["at=like(2016)", "month=like(07)", "day=like(04)", "at=greater(2016-11-05)",
                                   "month=2016-13", "day=02-30"])
def test_text_dates_refuse_like_and_values_out_of_their_format(dated: Api, query: str):
    response = dated.get(f"/data/events?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "badRequest" and f"'{query.split('=')[0]}'" in body["message"], body


def test_text_dates_sort_chronologically(dated: Api):
    assert titles(dated, "_sortField=at&_sortType=asc&at=notEmpty()") == ["B", "C", "D", "A"]
    assert titles(dated, "_sortField=month&_sortType=desc&month=notEmpty()") == ["D", "A", "C", "B"]
    assert titles(dated, "_sortField=day&_sortType=asc&day=notEmpty()") == ["C", "D", "A", "B"]


def test_text_dates_aggregate_first_last_min_max_in_their_format(dated: Api):
    body = [{"match": {"at": "notEmpty()"}}, {"sort": {"title": "asc"}},
            {"group": {**{f"{op}At": f"{op}(at)" for op in ("first", "last", "min", "max")},
                       "minMonth": "min(month)", "maxMonth": "max(month)", "minDay": "min(day)",
                       "maxDay": "max(day)"}}]
    assert aggregated(dated, "events", body) == [{
        "firstAt": "2016-11-05 19:00", "lastAt": "2016-11-05 11:00", "minAt": "2015-12-31 23:59",
        "maxAt": "2016-11-05 19:00", "minMonth": "2015-12", "maxMonth": "2016-11", "minDay": "01-01",
        "maxDay": "12-31"}]
    assert aggregated(dated, "events", [{"match": {"at": "greater(2016-11-05 11:00)"}}, {"count": "n"}]) == [{"n": 1}]
    for op in ("sum", "avg"):
        assert "at" in error(dated, "events", [{"group": {"x": f"{op}(at)"}}])


# --- CSV, spellings, API document -------------------------------------------------------------

def test_csv_import_and_export(events: Api):
    text = ("title,at,month,day,ats[0],ats[1]\n"
            "A,2016-11-05 19:00,2016-07,04-16,2016-11-05 19:00,2017-01-02 08:30\n"
            "B, 2015-12-31 23:59 ,2015-12,02-29,,\n")
    job = run_import(events, "events", text)
    assert job["results"] == {"rowsImported": 2, "rowsWithErrors": 0}, job
    records = {r["title"]: r for r in events.get("/data/events?_size=10").get_json()["items"]}
    a, b = records["A"], records["B"]
    assert (a["at"], a["month"], a["day"], a["ats"]) == \
        ("2016-11-05 19:00", "2016-07", "04-16", ["2016-11-05 19:00", "2017-01-02 08:30"])
    assert (b["at"], b["month"], b["day"]) == ("2015-12-31 23:59", "2015-12", "02-29")
    _, rows = run_export(events, "events", "_sortField=title&_sortType=asc&_fields=title,at,month,day")
    header, *cells = rows
    assert header == ["Title", "At", "Month", "Day"]
    assert cells == [["A", "2016-11-05 19:00", "2016-07", "04-16"], ["B", "2015-12-31 23:59", "2015-12", "02-29"]]


def test_csv_cells_out_of_format_are_row_errors(events: Api):
    text = "title,at,month,day\nA,2016-11-05,,\nB,,2016-13,\nC,,,02-30\n"
    job = run_import(events, "events", text)
    assert job["results"]["rowsImported"] == 0 and job["results"]["rowsWithErrors"] == 3, job
    errors = job["results"]["results"]
    assert [errors[str(row)]["errors"][0]["field"] for row in range(2, 5)] == ["at", "month", "day"]


@pytest.mark.parametrize(("spelling", "value", "read"), [
    ("date-time-no-timezone", "2016-11-05 19:00", "2016-11-05 19:00"),
    ("yearMonth", "2016-07", "2016-07"), ("year-month", "2016-7", "2016-07"),
    ("monthDay", "2-29", "02-29"), ("Month day", "04-16", "04-16"),
])
def test_the_types_are_found_by_their_documented_spellings(api: Api, spelling: str, value: Any, read: str):
    field = {"name": "value", "type": spelling}
    assert api.put("/metadata/entities/spelled", json={"name": "spelled", "fields": [field]}).status_code == 200
    assert create(api, "spelled", {"value": value})["value"] == read


def test_the_api_document_describes_the_types(anon: Api, events: Api):
    doc = anon.client.get("/api/openapi.json?entity=events").get_json()
    props = doc["components"]["schemas"]["events"]["properties"]
    assert props["at"]["example"] == "2016-11-05 19:00" and props["at"]["type"] == "string"
    assert props["month"]["example"] == "2016-07" and props["day"]["example"] == "04-16"
    assert props["ats"]["type"] == "array" and props["ats"]["items"]["type"] == "string"
    written = next(s for k, s in doc["components"]["schemas"].items() if k != "events" and "at" in s.get("properties",
                                                                                                      {}))
    assert written["properties"]["at"]["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$"
