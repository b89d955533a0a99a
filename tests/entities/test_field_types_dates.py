"""Date-times without timezone, year-months, month-days, masked text and ranks, through HTTP: what they accept,
store and read, how they filter, sort, aggregate, import and export, and what a definition of them may say."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask import Flask

from tests.conftest import Api, create, grant_all, wait_for_job
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
        {"name": "plate", "type": "maskedText", "unique": True, "typeRules": {"mask": "999-aaa"}},
        {"name": "position", "type": "rank"},
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


# --- masked text -------------------------------------------------------------------------------

def test_masked_text_is_written_with_or_without_the_fixed_characters_and_stored_without(app: Flask,
                                                                                          events: Api):
    first = create(events, "events", {"title": "One", "plate": "123-ABC"})
    second = create(events, "events", {"title": "Two", "plate": "456def"})
    assert (first["plate"], second["plate"]) == ("123-ABC", "456-def")
    assert sorted(d["plate"] for d in stored(app)) == ["123ABC", "456def"]
    changed = events.put(f"/data/events/{first['id']}", json={"plate": "789XYZ"})
    assert changed.status_code == 200 and changed.get_json()["plate"] == "789-XYZ"
    plain = events.get(f"/data/events/{first['id']}?_format=plainText").get_json()
    assert plain["plate"] == "789-XYZ"
    history = events.get(f"/data/events/{first['id']}/history").get_json()["items"][0]
    assert history["newRecord"]["plate"] == {"json": "789-XYZ", "text": "{plate:789-XYZ}"}


@pytest.mark.parametrize("value", ["12-ABC", "123-AB1", "123_ABC", "123ABCD", "1234ABC", "ABC-123", "123-ÄBC",
                                   "", 123])
def test_masked_text_that_does_not_fit_the_mask_is_a_field_error(app: Flask, events: Api, value: Any):
    response = events.post("/data/events", json={"title": "Bad", "plate": value})
    assert field_errors(response) == [("plate", "invalid")]
    if isinstance(value, str) and value:
        assert response.get_json()["errors"][0]["message"] == "Must fit the mask 999-aaa"
    assert stored(app) == []


def test_masked_text_is_unique_whichever_form_it_was_written_in(events: Api):
    create(events, "events", {"title": "One", "plate": "123-ABC"})
    assert field_errors(events.post("/data/events", json={"title": "Two", "plate": "123ABC"})) == \
        [("plate", "duplicate")]


@pytest.fixture
def plated(events: Api) -> Api:
    for title, plate in (("A", "123-ABC"), ("B", "456DEF"), ("C", "123-ABD")):
        create(events, "events", {"title": title, "plate": plate})
    create(events, "events", {"title": "D"})
    return events


@pytest.mark.parametrize(("query", "expected"), [
    ("plate=123-ABC", ["A"]), ("plate=123ABC", ["A"]), ("plate=equals(456-DEF)", ["B"]),
    ("plate=123-ABC,456DEF", ["A", "B"]), ("plate=notEquals(123ABC)", ["B", "C", "D"]),
    ("plate=like(3A)", ["A", "C"]), ("plate=like(3-A)", []), ("plate=like(/456)", ["B"]),
    ("plate=like(abd/)", ["C"]), ("plate=greater(123-ABC)", ["B", "C"]), ("plate=less(2)", ["A", "C"]),
    ("plate=between(123ABD,456-DEF)", ["B", "C"]), ("plate=empty()", ["D"]), ("plate=notEmpty()", ["A", "B", "C"]),
    ("_globalSearch=3AB", ["A", "C"]),
])
def test_masked_text_filters(plated: Api, query: str, expected: list[str]):
    """§1.4: like runs on the stored value (no fixed characters); equals takes the value with or without them."""
    assert titles(plated, f"{query}&_sortField=title&_sortType=asc") == expected


def test_masked_text_sorts_and_aggregates_in_its_read_form(plated: Api):
    assert titles(plated, "_sortField=plate&_sortType=desc&plate=notEmpty()") == ["B", "C", "A"]
    body = [{"match": {"plate": "notEmpty()"}}, {"sort": {"title": "asc"}},
            {"group": {op: f"{op}(plate)" for op in ("first", "last", "min", "max")}}]
    assert aggregated(plated, "events", body) == [{"first": "123-ABC", "last": "123-ABD", "min": "123-ABC",
                                                   "max": "456-DEF"}]
    assert aggregated(plated, "events", [{"match": {"plate": "456-DEF"}}, {"count": "n"}]) == [{"n": 1}]


@pytest.mark.parametrize(("rules", "rejected"), [(None, None), ({}, None), ({"mask": ""}, ""),
                                                 ({"mask": "---"}, "---"), ({"mask": 999}, 999)])
def test_a_masked_text_needs_a_mask_with_a_place_for_a_character(api: Api, rules: Any, rejected: Any):
    field: dict[str, Any] = {"name": "plate", "type": "maskedText"}
    if rules is not None:
        field["typeRules"] = rules
    response = api.put("/metadata/entities/cars", json={"name": "cars", "fields": [field]})
    assert field_errors(response) == [("fields[0].typeRules.mask", "invalid")]
    info = response.get_json()["errors"][0]["additionalInfo"]
    assert info == (None if rejected is None else {"rejectedValue": rejected})


def test_a_masked_text_default_must_fit_its_mask(api: Api):
    field = {"name": "plate", "type": "maskedText", "typeRules": {"mask": "(99) w"}, "defaultValue": "12X"}
    assert api.put("/metadata/entities/cars", json={"name": "cars", "fields": [field]}).status_code == 200
    assert create(api, "cars", {})["plate"] == "(12) X"
    field["defaultValue"] = "12"
    assert field_errors(api.put("/metadata/entities/cars", json={"name": "cars", "fields": [field]})) == \
        [("fields[0].defaultValue", "invalid")]


# --- rank --------------------------------------------------------------------------------------

def test_records_created_at_once_get_ranks_of_their_own(app: Flask, events: Api):
    """Writers creating at the same moment each get a rank no other record has (a claim on the field's
    counter), all after the ranks stored before."""
    import threading

    from tests.conftest import Api as Client
    first = create(events, "events", {"title": "first"})["position"]
    ranks: list[str] = []
    failures: list[Any] = []

    def creator(n: int) -> None:
        client = Client(app.test_client(), events.token)
        for i in range(6):
            response = client.post("/data/events", json={"title": f"w{n}-{i}"})
            if response.status_code != 200:
                failures.append(response.get_json())
            else:
                ranks.append(response.get_json()["position"])
    threads = [threading.Thread(target=creator, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and len(ranks) == 48
    assert len(set(ranks)) == 48 and min(ranks) > first


def test_records_created_without_a_rank_get_one_after_every_other(app: Flask, events: Api):
    ranks = [create(events, "events", {"title": t})["position"] for t in ("A", "B", "C")]
    assert ranks == ["i000000000", "i000010000", "i000020000"]
    moved = create(events, "events", {"title": "Top", "position": "zzzzzzzzzz"})
    assert moved["position"] == "zzzzzzzzzz"
    after = create(events, "events", {"title": "D"})["position"]
    assert after > "zzzzzzzzzz"
    assert titles(events, "_sortField=position&_sortType=asc") == ["A", "B", "C", "Top", "D"]


def test_a_new_rank_field_ranks_existing_records_in_creation_order(api: Api):
    """Ranks are auto-initialized: records stored before the field was added get one too, by the REFACTORING job,
    in the order they were created, as creates would have given them."""
    plain = {"name": "tasks", "recordLabel": "#{title}", "history": True, "fields": [
        {"name": "title", "type": "text"}, {"name": "note", "type": "text"}]}
    assert api.put("/metadata/entities/tasks", json=plain).status_code == 200
    for title, note in (("t1", "i0000000zz"), ("t2", "not a rank!"), ("t3", None)):
        create(api, "tasks", {"title": title, "note": note})
    body = copy.deepcopy(plain)
    body["fields"].append({"name": "position", "type": "rank"})
    preview = api.put("/metadata/entities/tasks?_dryRun=true", json=body).get_json()
    assert preview["changes"] == [{"kind": "rank", "field": "position", "recordsAffected": 3,
                                   "description": "records are ranked in the order they were created"}]
    response = api.put("/metadata/entities/tasks", json=body)
    assert response.status_code == 200, response.get_json()
    job = wait_for_job(api, response.get_json()["refactoring"]["jobId"])
    assert job["status"] == "FINISHED" and not job["hasErrors"], job
    records = api.get("/data/tasks?_sortField=position&_sortType=asc").get_json()["items"]
    assert [(r["title"], r["position"]) for r in records] == [
        ("t1", "i000000000"), ("t2", "i000010000"), ("t3", "i000020000")]
    assert create(api, "tasks", {"title": "t4"})["position"] == "i000030000"  # after every other
    history = api.get(f"/data/tasks/{records[0]['id']}/history").get_json()["items"][0]
    assert history["eventType"] == "SYSTEM_REFACTORING"

    # a text field that becomes a rank: a value that is a rank stays, the others (null on error) get one after
    body["fields"][1]["type"] = "rank"
    refused = api.put("/metadata/entities/tasks", json=body)
    assert refused.status_code == 400 and refused.get_json()["code"] == "conversionErrors"
    response = api.put("/metadata/entities/tasks?_onConversionError=null", json=body)
    assert response.status_code == 200, response.get_json()
    wait_for_job(api, response.get_json()["refactoring"]["jobId"])
    notes = {r["title"]: r["note"] for r in api.get("/data/tasks?_size=10").get_json()["items"]}
    assert notes == {"t1": "i0000000zz", "t2": "i0000100zz", "t3": "i0000200zz", "t4": "i0000300zz"}


def test_a_stored_value_that_is_not_a_rank_does_not_count_as_the_highest(app: Flask, events: Api):
    """As a record not yet converted by a text → rank refactoring holds: a create still gets a rank."""
    create(events, "events", {"title": "A"})
    app.extensions["runtime"].records.collection("events").insert_one({"title": "old", "position": "not a rank!"})
    assert create(events, "events", {"title": "B"})["position"] == "i000010000"


def test_a_client_moves_a_record_by_writing_a_rank(events: Api):
    a, b, c = (create(events, "events", {"title": t}) for t in ("A", "B", "C"))
    between = events.put(f"/data/events/{c['id']}", json={"position": "i00000g"})  # between A's and B's
    assert between.status_code == 200 and between.get_json()["position"] == "i00000g"
    assert titles(events, "_sortField=position") == ["B", "C", "A"]  # descending by default
    assert titles(events, "position=less(i000010000)&_sortField=position&_sortType=asc") == ["A", "C"]
    assert titles(events, "position=between(i00000,i00001)&_sortField=position&_sortType=asc") == ["A", "C"]
    assert titles(events, "position=like(/i00000g)") == ["C"]
    assert titles(events, "position=i000010000") == ["B"]
    cleared = events.put(f"/data/events/{a['id']}", json={"position": None})
    assert cleared.status_code == 200 and cleared.get_json()["position"] is None
    assert titles(events, "position=empty()") == ["A"]
    body = [{"group": {op: f"{op}(position)" for op in ("min", "max")}}]
    assert aggregated(events, "events", body) == [{"min": "i00000g", "max": "i000010000"}]
    assert b["position"] == "i000010000"


@pytest.mark.parametrize("value", ["ABC", "", "a-b", "a b", "ü", 5, "a" * 256])
def test_a_rank_is_lowercase_letters_and_digits(app: Flask, events: Api, value: Any):
    assert field_errors(events.post("/data/events", json={"title": "Bad", "position": value})) == \
        [("position", "invalid")]
    assert stored(app) == []


def test_a_unique_rank_refuses_a_rank_another_record_has(api: Api):
    definition = {"name": "steps", "fields": [{"name": "title", "type": "text"},
                                              {"name": "position", "type": "rank", "unique": True}]}
    assert api.put("/metadata/entities/steps", json=definition).status_code == 200
    first = create(api, "steps", {"title": "A"})
    second = create(api, "steps", {"title": "B"})
    assert first["position"] < second["position"]
    response = api.put(f"/data/steps/{second['id']}", json={"position": first["position"]})
    assert field_errors(response) == [("position", "duplicate")]


@pytest.mark.parametrize(("option", "value"), [("multiplicity", "many"), ("required", True),
                                               ("defaultValue", "i0"), ("calculated", "#{title}")])
def test_a_rank_is_single_valued_never_required_defaulted_or_calculated(api: Api, option: str, value: Any):
    field = {"name": "position", "type": "rank", option: value}
    response = api.put("/metadata/entities/steps", json={"name": "steps", "fields": [
        {"name": "title", "type": "text"}, field]})
    assert field_errors(response) == [(f"fields[1].{option}", "invalid")]


def test_a_rank_is_not_inside_a_nested_group(api: Api):
    group = {"name": "items", "type": "nestedFields", "nestedFields": [{"name": "position", "type": "rank"}]}
    response = api.put("/metadata/entities/steps", json={"name": "steps", "fields": [group]})
    assert field_errors(response) == [("fields[0].nestedFields[0].type", "invalid")]


# --- CSV, spellings, API document -------------------------------------------------------------

def test_csv_import_and_export(events: Api):
    create(events, "events", {"title": "Old"})  # i000000000
    text = ("title,at,month,day,plate,position,ats[0],ats[1]\n"
            "A,2016-11-05 19:00,2016-07,04-16,123-ABC,,2016-11-05 19:00,2017-01-02 08:30\n"
            "B, 2015-12-31 23:59 ,2015-12,02-29,456DEF,,,\n"
            "C,,,,,zzzzzzzzzz,,\n"
            "D,,,,,,,\n")
    job = run_import(events, "events", text)
    assert job["results"] == {"rowsImported": 4, "rowsWithErrors": 0}, job
    records = {r["title"]: r for r in events.get("/data/events?_size=10").get_json()["items"]}
    a, b = records["A"], records["B"]
    assert (a["at"], a["month"], a["day"], a["plate"], a["ats"]) == \
        ("2016-11-05 19:00", "2016-07", "04-16", "123-ABC", ["2016-11-05 19:00", "2017-01-02 08:30"])
    assert (b["at"], b["month"], b["day"], b["plate"]) == ("2015-12-31 23:59", "2015-12", "02-29", "456-DEF")
    # rows without a rank get one after every other, the rows before them in the same batch included
    assert "i000000000" < a["position"] < b["position"] < "zzzzzzzzzz" < records["D"]["position"]
    assert records["C"]["position"] == "zzzzzzzzzz"
    _, rows = run_export(events, "events", "_sortField=title&_sortType=asc&title=A,B,C&_fields=title,at,month,day,"
                                           "plate,position")
    header, *cells = rows
    assert header == ["Title", "At", "Month", "Day", "Plate", "Position"]
    assert cells == [["A", "2016-11-05 19:00", "2016-07", "04-16", "123-ABC", a["position"]],
                     ["B", "2015-12-31 23:59", "2015-12", "02-29", "456-DEF", b["position"]],
                     ["C", "", "", "", "", "zzzzzzzzzz"]]


def test_csv_cells_out_of_format_are_row_errors(events: Api):
    text = "title,at,month,day,plate,position\nA,2016-11-05,,,,\nB,,2016-13,,,\nC,,,02-30,,\nD,,,,12-ABC,\nE,,,,,Up\n"
    job = run_import(events, "events", text)
    assert job["results"]["rowsImported"] == 0 and job["results"]["rowsWithErrors"] == 5, job
    errors = job["results"]["results"]
    assert [errors[str(row)]["errors"][0]["field"] for row in range(2, 7)] == \
        ["at", "month", "day", "plate", "position"]


@pytest.mark.parametrize(("spelling", "value", "read"), [
    ("date-time-no-timezone", "2016-11-05 19:00", "2016-11-05 19:00"),
    ("yearMonth", "2016-07", "2016-07"), ("year-month", "2016-7", "2016-07"),
    ("monthDay", "2-29", "02-29"), ("Month day", "04-16", "04-16"),
    ("masked-text", "12", "1-2"), ("Masked text", "1-2", "1-2"),
    ("Rank", None, "i000000000"),
])
def test_the_types_are_found_by_their_documented_spellings(api: Api, spelling: str, value: Any, read: str):
    field = {"name": "value", "type": spelling, "typeRules": {"mask": "9-9"}}
    assert api.put("/metadata/entities/spelled", json={"name": "spelled", "fields": [field]}).status_code == 200
    assert create(api, "spelled", {} if value is None else {"value": value})["value"] == read


def test_the_api_document_describes_the_types(anon: Api, events: Api):
    doc = anon.client.get("/api/openapi.json?entity=events").get_json()
    props = doc["components"]["schemas"]["events"]["properties"]
    assert props["at"]["example"] == "2016-11-05 19:00" and props["at"]["type"] == "string"
    assert props["month"]["example"] == "2016-07" and props["day"]["example"] == "04-16"
    assert props["plate"]["example"] == "123-ABC" and "999-aaa" in props["plate"]["description"]
    assert props["position"]["example"] == "i000000000"
    assert props["ats"]["type"] == "array" and props["ats"]["items"]["type"] == "string"
    written = next(s for k, s in doc["components"]["schemas"].items() if k != "events" and "at" in s.get("properties",
                                                                                                      {}))
    assert written["properties"]["at"]["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$"
    assert written["properties"]["position"]["pattern"] == "^[0-9a-z]+$"
