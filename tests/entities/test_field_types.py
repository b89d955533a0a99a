"""Every field type: what it accepts, how it is stored and rendered, what it rejects (400, nothing stored)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

ALL_TYPES = {
    "name": "things", "recordLabel": "#{title}",
    "fields": [
        {"name": "title", "type": "text", "typeRules": {"maxLength": 10, "minLength": 2}},
        {"name": "code", "type": "text", "typeRules": {"pattern": "[A-Z]{3}-\\d+"}},
        {"name": "body", "type": "longText"},
        {"name": "page", "type": "html"},
        {"name": "mail", "type": "email"},
        {"name": "site", "type": "url"},
        {"name": "phone", "type": "phone"},
        {"name": "count", "type": "integer", "typeRules": {"min": 0, "max": 10}},
        {"name": "ratio", "type": "decimal"},
        {"name": "price", "type": "money", "typeRules": {"decimals": 2}},
        {"name": "share", "type": "percentage"},
        {"name": "flag", "type": "boolean"},
        {"name": "day", "type": "date"},
        {"name": "moment", "type": "dateTime"},
        {"name": "clock", "type": "time"},
        {"name": "color", "type": "color"},
        {"name": "kind", "type": "choice",
         "typeRules": {"possibleValues": [{"name": "big", "label": "Big one"}, "small"]}},
        {"name": "tags", "type": "text", "multiplicity": "many"},
        {"name": "attachment", "type": "file"},
        {"name": "created", "type": "createdDate"},
    ],
}


@pytest.fixture
def things(api: Api) -> Api:
    assert api.put("/metadata/entities/things", json=ALL_TYPES).status_code == 200
    return api


GOOD = {
    "title": "Hello", "code": "ABC-12", "body": "x" * 5000, "mail": "a@b.io", "site": "https://example.com",
    "phone": "+1 (702) 845-9380", "count": 10, "ratio": 3.14159, "price": 19.999, "share": 12.345, "flag": True,
    "day": "2016-07-12", "moment": 1484578380000, "clock": "08:00", "color": "#F5A9A9", "kind": "Big one",
    "tags": ["a", "b"],
}


def test_good_values_round_trip(things: Api):
    response = things.post("/data/things", json=GOOD)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["label"] == "Hello"
    assert body["phone"] == "+1-702-845-9380"
    assert body["ratio"] == 3.1416 and body["price"] == 20.0 and body["share"] == 12.35
    assert body["color"] == "#f5a9a9" and body["kind"] == "big" and body["tags"] == ["a", "b"]
    assert body["moment"] == 1484578380000 and body["day"] == "2016-07-12" and body["clock"] == "08:00"
    assert isinstance(body["created"], int)


def test_html_is_sanitised(things: Api):
    body = things.post("/data/things", json={"page": '<p class="x" onclick="evil()">Hi<script>alert(1)</script>'
                                                     '<a href="javascript:x()">l</a></p>'}).get_json()
    assert "script" not in body["page"] and "onclick" not in body["page"] and "javascript" not in body["page"]
    assert body["page"].startswith('<p class="x">Hi')


def test_html_image_sources_are_http_or_https_and_links_keep_their_four_schemes(things: Api):
    """§3.2: img src http/https only; a href ftp/http/https/mailto."""
    images = ['<img src="https://x.io/a.png">', '<img src="http://x.io/a.png">', '<img src="ftp://x.io/a.png">',
              '<img src="mailto:a@b.io">', '<img src=" FTP://x.io/a.png">', '<img src="f\ttp://x.io/a.png">',
              '<img src="data:image/png;base64,AAAA">', '<img src="/a.png">']
    links = ['<a href="ftp://x.io/f">f</a>', '<a href="mailto:a@b.io">m</a>', '<a href="https://x.io">h</a>',
             '<a href="data:text/html,x">d</a>']
    page = things.post("/data/things", json={"page": "".join(images + links)}).get_json()["page"]
    sources = ("https://x.io/a.png", "http://x.io/a.png", "ftp://x.io/a.png", "mailto:a@b.io", "FTP://x.io/a.png",
               "data:image", "/a.png")
    kept = [src for src in sources if f'src="{src}' in page or f'src=" {src}' in page]
    assert kept == ["https://x.io/a.png", "http://x.io/a.png", "/a.png"]
    assert page.count("<img") == len(images)  # a refused source leaves the image without it
    assert all(f'href="{href}"' in page for href in ("ftp://x.io/f", "mailto:a@b.io", "https://x.io"))
    assert "data:text" not in page


BAD = [
    ("title", "x"), ("title", "x" * 11), ("title", 5), ("code", "abc"), ("mail", "not-an-email"),
    ("site", "ftp//nope"), ("phone", "12"), ("count", 11), ("count", -1), ("count", 1.5), ("count", "3"),
    ("count", True), ("ratio", "1.0"), ("flag", "yes"), ("day", "2016-13-01"), ("day", 20160101),
    ("moment", "yesterday"), ("moment", 1.5), ("clock", "25:00"), ("color", "red"), ("kind", "medium"),
    ("tags", "not-a-list"), ("attachment", "not-an-id"), ("created", 1), ("unknownField", 1),
]


@pytest.mark.parametrize(("field", "value"), BAD)
def test_bad_values_are_400_and_nothing_is_stored(app, things: Api, field: str, value: object):
    response = things.post("/data/things", json={"title": "Fine", field: value})
    assert response.status_code == 400, (field, value)
    body = response.get_json()
    assert body["code"] == "validationErrors"
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["code"] in ("invalid", "unknown", "readOnly")
    assert app.extensions["runtime"].records.collection("things").count_documents({}) == 0


def test_decimal_integers_past_64_bits_are_floats_and_past_a_float_refused(app, things: Api):
    """A decimal given as an integer is stored as one while the store can hold it; a larger one as the float it
    is, and one past the largest float is a field error (it would read as infinity)."""
    response = things.post("/data/things", json={"title": "Big", "ratio": 10**20, "price": 2**63 - 1, "share": 7})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ratio"] == 1e20 and body["price"] == 9.223372036854776e18 and body["share"] == 7
    response = things.post("/data/things", json={"title": "Huge", "ratio": 10**400})
    assert response.status_code == 400
    error = response.get_json()["errors"][0]
    assert (error["field"], error["code"], error["message"]) == ("ratio", "invalid", "Number out of range")
    assert app.extensions["runtime"].records.collection("things").count_documents({}) == 1


def test_date_times_hold_years_1_to_9999_and_export_as_written(things: Api):
    """A date-time is an instant a calendar holds: 0001-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z. One
    outside is a field error, so a stored value always exports (see the CSV tests) and reads back."""
    first, last = -62135596800000, 253402300799999
    for moment in (first - 1, last + 1, -(last + 1)):
        response = things.post("/data/things", json={"title": "Out", "moment": moment})
        assert response.status_code == 400, moment
        assert response.get_json()["errors"][0]["field"] == "moment"
    for moment in (first, last):
        response = things.post("/data/things", json={"title": "In", "moment": moment})
        assert response.status_code == 200 and response.get_json()["moment"] == moment


def test_a_multi_valued_boolean_reads_as_a_list_set_or_not(app, api: Api):
    """An unset boolean reads false; an unset list of booleans reads ``[]`` (top level and inside a nested
    group), on create, after clearing it with null, and when the field is added to records that exist."""
    body = {"name": "flagged", "fields": [{"name": "title", "type": "text"}]}
    assert api.put("/metadata/entities/flagged", json=body).status_code == 200
    old = api.post("/data/flagged", json={"title": "before"}).get_json()
    body["fields"] += [{"name": "flags", "type": "boolean", "multiplicity": "many"},
                       {"name": "flag", "type": "boolean"},
                       {"name": "group", "type": "nestedFields",
                        "nestedFields": [{"name": "checks", "type": "boolean", "multiplicity": "many"}]}]
    assert api.put("/metadata/entities/flagged", json=body).status_code == 200
    created = api.post("/data/flagged", json={"title": "a", "group": {}})
    assert created.status_code == 200, created.get_json()
    record = created.get_json()
    assert (record["flags"], record["flag"], record["group"]["checks"]) == ([], False, [])
    set_ = api.post("/data/flagged", json={"title": "b", "flags": [True, False]}).get_json()
    cleared = api.put(f"/data/flagged/{set_['id']}", json={"flags": None})
    assert cleared.status_code == 200, cleared.get_json()
    assert cleared.get_json()["flags"] == []
    assert api.get(f"/data/flagged/{set_['id']}").get_json()["flags"] == []
    assert api.get(f"/data/flagged/{old['id']}").get_json()["flags"] == []
    changed = api.put(f"/data/flagged/{old['id']}", json={"title": "after"})
    assert changed.status_code == 200 and changed.get_json()["flags"] == []
    listed = api.get("/data/flagged?_size=10").get_json()
    assert listed["total"] == 3 and all(item["flags"] == [] for item in listed["items"])
    assert "flags" not in app.extensions["runtime"].records.collection("flagged").find_one({"title": "a"})


def test_bad_update_leaves_the_record_untouched(app, things: Api):
    created = things.post("/data/things", json=GOOD).get_json()
    response = things.put(f"/data/things/{created['id']}", json={"count": 3, "day": "nope"})
    assert response.status_code == 400
    again = things.get(f"/data/things/{created['id']}").get_json()
    assert again["count"] == 10 and again["version"] == 0


def test_decimal_extra_decimals_round_truncate_or_refuse(api: Api):
    """§3.2: a decimal's extra-decimals action is Round (the default), Truncate (toward zero) or Throw error."""
    fields = [{"name": "rounded", "type": "decimal", "typeRules": {"decimals": 2, "extraDecimals": "round"}},
              {"name": "cut", "type": "decimal", "typeRules": {"decimals": 2, "extraDecimals": "truncate"}},
              {"name": "cash", "type": "money", "typeRules": {"decimals": 0, "extraDecimals": "truncate"}},
              {"name": "exact", "type": "decimal", "typeRules": {"decimals": 2, "extraDecimals": "error"}}]
    assert api.put("/metadata/entities/numbers", json={"name": "numbers", "fields": fields}).status_code == 200
    made = api.post("/data/numbers", json={"rounded": 1.239, "cut": 1.239, "cash": 19.99, "exact": 1.23})
    assert made.status_code == 200, made.get_json()
    assert {k: made.get_json()[k] for k in ("rounded", "cut", "cash", "exact")} == {
        "rounded": 1.24, "cut": 1.23, "cash": 19, "exact": 1.23}
    record = made.get_json()["id"]
    for sent, kept in ((-1.239, -1.23), (0.29, 0.29), (7, 7), (2.5e15, 2.5e15)):
        assert api.put(f"/data/numbers/{record}", json={"cut": sent}).get_json()["cut"] == kept
    refused = api.put(f"/data/numbers/{record}", json={"exact": 1.239})
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["field"] == "exact"
    fields[1]["typeRules"]["extraDecimals"] = "floor"
    bad = api.put("/metadata/entities/numbers", json={"name": "numbers", "fields": fields})
    assert bad.status_code == 400
    assert [(e["field"], e["additionalInfo"]) for e in bad.get_json()["errors"]] == [
        ("fields[1].typeRules.extraDecimals", {"rejectedValue": "floor"})]


def test_required_and_unique(api: Api):
    missing = api.post("/data/companies", json={"state": "active"})
    assert missing.status_code == 400
    assert missing.get_json()["errors"] == [{"field": "name", "fieldLabel": "Name", "code": "required",
                                             "message": "This field is required", "additionalInfo": None}]
    assert api.post("/data/companies", json={"name": "Acme"}).status_code == 200
    duplicate = api.post("/data/companies", json={"name": "Acme"})
    assert duplicate.status_code == 400 and duplicate.get_json()["errors"][0]["code"] == "duplicate"
    cleared = api.post("/data/companies", json={"name": "Other"}).get_json()
    assert api.put(f"/data/companies/{cleared['id']}", json={"name": None}).status_code == 400


def test_a_refused_value_is_echoed_as_the_rejected_value(api: Api):
    """The validation error body of the platform: a missing field has no additional info, a refused value is
    given back as ``additionalInfo.rejectedValue`` (nested items and list items too)."""
    response = api.post("/data/companies", json={"state": "sdfsdfsd"})
    assert response.status_code == 400
    assert response.get_json()["errors"] == [
        {"field": "name", "fieldLabel": "Name", "code": "required", "message": "This field is required",
         "additionalInfo": None},
        {"field": "state", "fieldLabel": "State", "code": "invalid", "message": "Not a valid choice",
         "additionalInfo": {"rejectedValue": "sdfsdfsd"}}]
    created = api.post("/data/companies", json={"name": "Echo"}).get_json()
    errors = api.put(f"/data/companies/{created['id']}",
                     json={"numberOfEmployees": "many", "addresses": [{"state": "NV"}, {"state": 7}],
                           "nope": 1}).get_json()["errors"]
    by_field = {e["field"]: e["additionalInfo"] for e in errors}
    assert by_field["numberOfEmployees"] == {"rejectedValue": "many"}
    assert by_field["nope"] is None  # an unknown field: nothing about a value
    assert [info for field, info in by_field.items() if field.startswith("addresses[1]")] == [{"rejectedValue": 7}]
    assert api.get(f"/data/companies/{created['id']}").get_json()["version"] == 0


def test_unique_ignores_empty_values(api: Api):
    for first in ("A", "B", "C"):
        assert api.post("/data/contacts", json={"firstName": first, "lastName": "X"}).status_code == 200


def field_errors(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 400, response.get_json()
    return [(e["field"], e["code"]) for e in response.get_json()["errors"]]


UNIQUES = {"name": "uniques", "fields": [
    {"name": "i", "type": "integer", "unique": True}, {"name": "t", "type": "text", "unique": True},
    {"name": "h", "type": "html", "unique": True},
    {"name": "tm", "type": "text", "unique": True, "multiplicity": "many"}]}


def test_an_empty_text_is_no_value_for_a_unique_field(api: Api):
    """Facts §3.6: empty values are ignored by unique, and ``""`` is empty (as ``required`` takes it), whether sent
    so or left by cleaning HTML."""
    assert api.put("/metadata/entities/uniques", json=UNIQUES).status_code == 200
    for n in range(3):
        created = api.post("/data/uniques", json={"i": n, "t": "", "h": "<script>x</script>"})
        assert created.status_code == 200, created.get_json()
    again = api.post("/data/uniques", json={"t": "taken"})
    assert again.status_code == 200
    assert field_errors(api.post("/data/uniques", json={"t": "taken"})) == [("t", "duplicate")]
    assert field_errors(api.put(f"/data/uniques/{created.get_json()['id']}", json={"t": "taken"})) == \
        [("t", "duplicate")]


def test_a_multi_valued_unique_value_held_by_another_record_is_that_fields_duplicate(api: Api):
    assert api.put("/metadata/entities/uniques", json=UNIQUES).status_code == 200
    assert api.post("/data/uniques", json={"i": 1, "tm": ["p", "q"]}).status_code == 200
    refused = api.post("/data/uniques", json={"i": 2, "tm": ["q"]})
    assert refused.status_code == 400
    assert refused.get_json()["errors"][0]["field"] == "tm" and refused.get_json()["errors"][0]["code"] == "duplicate"
    assert api.post("/data/uniques", json={"i": 3, "tm": ["r", "s"]}).status_code == 200


@pytest.mark.parametrize(("details", "message", "field", "rejected"), [
    ({"keyPattern": {"t": 1}, "keyValue": {"t": "a"}}, "E11000 Duplicate Key Error", "t", {"rejectedValue": "a"}),
    (None, 'E11000 duplicate key error collection: db.data.uniques index: unique_t dup key: { t: "a" }', "t", None),
    ({"keyPattern": {"tm": 1}, "keyValue": {"tm": "q"}}, "E11000 Duplicate Key Error", "tm", {"rejectedValue": "q"}),
    (None, "E11000 something else", "", None),
])
def test_a_duplicate_the_database_refuses_names_the_field_of_its_index(app, api: Api, details, message, field,
                                                                       rejected):
    """Two writes at once both pass the check before the write; the index refuses one of them. The error names
    the index's field (the message of a field named ``i`` or ``t`` contains those letters anyway)."""
    from pymongo.errors import DuplicateKeyError

    from entities.records.lifecycle import _duplicate_error

    assert api.put("/metadata/entities/uniques", json=UNIQUES).status_code == 200
    entity = app.extensions["runtime"].registry.get("uniques")
    error = _duplicate_error(entity, DuplicateKeyError(message, 11000, details))
    assert (error["field"], error["code"], error["additionalInfo"]) == (field, "duplicate", rejected)


def test_unique_text_indexes_leave_empty_values_out_and_old_ones_are_remade(app, api: Api):
    import pymongo

    from entities.registry import ensure_data_indexes

    assert api.put("/metadata/entities/uniques", json=UNIQUES).status_code == 200
    svc = app.extensions["runtime"]
    col = svc.records.collection("uniques")
    indexes = col.index_information()
    assert indexes["unique_t"]["partialFilterExpression"] == {"t": {"$gt": ""}}
    assert indexes["unique_i"].get("sparse") and "partialFilterExpression" not in indexes["unique_i"]
    col.drop_index("unique_t")  # as an earlier version made it
    col.create_index([("t", pymongo.ASCENDING)], name="unique_t", unique=True, sparse=True)
    ensure_data_indexes(svc.store, svc.registry.get("uniques"))
    assert col.index_information()["unique_t"]["partialFilterExpression"] == {"t": {"$gt": ""}}


def test_nested_field_errors_name_the_path(api: Api):
    response = api.post("/data/companies", json={"name": "N", "addresses": [{"zipCode": "1"}, {"zipCode": 5}]})
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "addresses[1].zipCode"
    inner = api.post("/data/companies", json={"name": "N", "contactInformation": {"email": "bad"}})
    assert inner.get_json()["errors"][0]["field"] == "contactInformation.email"


def test_version_must_be_an_integer(api: Api):
    created = api.post("/data/companies", json={"name": "V"}).get_json()
    assert api.put(f"/data/companies/{created['id']}", json={"version": "1"}).status_code == 400


@pytest.mark.parametrize("spelling", ["date-record-created", "DateRecordCreated", "date_record_created",
                                      "Date record created", "createdDate"])
def test_a_type_is_found_by_any_spelling_of_its_documented_names(api: Api, spelling: str):
    definition = {"name": "stamped", "fields": [{"name": "title", "type": "text"},
                                                {"name": "made", "type": spelling}]}
    assert api.put("/metadata/entities/stamped", json=definition).status_code == 200
    record = api.post("/data/stamped", json={"title": "x"}).get_json()
    assert isinstance(record["made"], int)  # filled as a record-created date is
    # the definition keeps the name it was given
    assert api.get("/metadata/entities/stamped").get_json()["fields"][1]["type"] == spelling


def test_an_unknown_type_is_a_field_error(api: Api):
    response = api.put("/metadata/entities/odd", json={"name": "odd", "fields": [{"name": "a", "type": "texty"}]})
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"].endswith(".type")
