"""bigNumber fields over HTTP: writes and reads, bad values (400 field errors, nothing
stored), filters, sorts, aggregates, CSV import and export, plain text, definition errors."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.conftest import Api, create
from tests.entities.test_import_export import run_export, run_import

# --- bigNumber ---------------------------------------------------------------------------------

BIG = "8.997738199773819977381"
LEDGER = {"name": "ledger", "recordLabel": "#{title}", "history": True, "fields": [
    {"name": "title", "type": "text"},
    {"name": "amount", "type": "bigNumber"},
    {"name": "price", "type": "big-number", "typeRules": {"decimals": 2, "min": 0, "max": 1000}},
    {"name": "cut", "type": "Big number", "typeRules": {"decimals": 1, "extraDecimals": "truncate"}},
    {"name": "exact", "type": "bigNumber", "typeRules": {"decimals": 2, "extraDecimals": "error"}},
]}


@pytest.fixture
def ledger(api: Api) -> Api:
    response = api.put("/metadata/entities/ledger", json=LEDGER)
    assert response.status_code == 200, response.get_json()
    assert [f["type"] for f in response.get_json()["fields"]][1:] == ["bigNumber", "big-number", "Big number",
                                                                      "bigNumber"]  # kept as given
    return api


def post_raw(api: Api, entity: str, text: str) -> Any:
    """A body sent as written (a number with more digits than a float holds stays as it is on the wire)."""
    return api.post(f"/data/{entity}", data=text, content_type="application/json")


def stored_count(app: Flask, entity: str) -> int:
    return app.extensions["runtime"].records.collection(entity).count_documents({})


def test_big_numbers_are_written_as_text_or_numbers_and_read_as_exact_text(ledger: Api):
    body = create(ledger, "ledger", {"title": "a", "amount": BIG, "price": "10.505", "cut": "-2.99", "exact": "3.10"})
    assert (body["amount"], body["price"], body["cut"], body["exact"]) == (BIG, "10.51", "-2.9", "3.1")
    assert ledger.get(f"/data/ledger/{body['id']}").get_json()["amount"] == BIG
    # a JSON number is read by its text: every digit of one past a float's precision is kept
    response = post_raw(ledger, "ledger", '{"title": "b", "amount": 1234567890123456789.123456789, "price": 7}')
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["amount"], response.get_json()["price"]) == ("1234567890123456789.123456789", "7")
    # no exponent, no trailing zeros, whatever the form written
    made = [create(ledger, "ledger", {"title": t, "amount": a})["amount"]
            for t, a in (("c", "1.5e3"), ("d", "-0.000"), ("e", " 00042.500 "), ("f", "1E-7"), ("g", 10**33))]
    assert made == ["1500", "0", "42.5", "0.0000001", "1" + "0" * 33]
    updated = ledger.put(f"/data/ledger/{body['id']}", json={"amount": "-1" + "9" * 33})
    assert updated.status_code == 200 and updated.get_json()["amount"] == "-1" + "9" * 33
    history = ledger.get(f"/data/ledger/{body['id']}/history").get_json()["items"][0]
    assert history["newRecord"]["amount"]["json"] == "-1" + "9" * 33


BIG_BAD = [("amount", "abc"), ("amount", "1,5"), ("amount", "NaN"), ("amount", "Infinity"), ("amount", ""),
           ("amount", True), ("amount", {"v": 1}), ("amount", "1" * 35), ("amount", "1." + "1" * 34),
           ("amount", "1e99999"), ("price", "-0.01"), ("price", "1000.01"), ("exact", "3.105")]


@pytest.mark.parametrize(("field", "value"), BIG_BAD)
def test_bad_big_numbers_are_field_errors_and_nothing_is_stored(app: Flask, ledger: Api, field: str, value: Any):
    response = ledger.post("/data/ledger", json={"title": "x", field: value})
    assert response.status_code == 400, (field, value)
    body = response.get_json()
    assert body["code"] == "validationErrors"
    error = body["errors"][0]
    assert (error["field"], error["code"]) == (field, "invalid")
    assert error["additionalInfo"] == {"rejectedValue": value}
    assert stored_count(app, "ledger") == 0


def test_big_number_messages_say_what_is_wrong(ledger: Api):
    def message(field: str, value: Any) -> str:
        return ledger.post("/data/ledger", json={field: value}).get_json()["errors"][0]["message"]
    assert message("amount", "1" * 35) == "Must have at most 34 significant digits"
    assert message("price", "1000.01") == "Must be less than or equal to 1000"
    assert message("exact", "3.105") == "At most 2 decimals are allowed"
    assert message("amount", "abc") == "'abc' is not a number"


def test_big_numbers_filter_sort_and_aggregate_as_exact_numbers(ledger: Api):
    values = {"a": BIG, "b": "8.997738199773819977382", "c": "10.5", "d": "-3.25", "e": "100"}
    for title, amount in values.items():
        create(ledger, "ledger", {"title": title, "amount": amount})
    create(ledger, "ledger", {"title": "none"})

    def titles(query: str) -> list[str]:
        response = ledger.get(f"/data/ledger?{query}")
        assert response.status_code == 200, response.get_json()
        return [r["title"] for r in response.get_json()["items"]]
    assert titles(f"amount=greater({BIG})&_sortField=amount&_sortType=asc") == ["b", "c", "e"]
    assert titles("amount=greater(10.5)") == ["e"]
    assert titles("amount=equals(10.50)") == ["c"] == titles("amount=1.05e1")
    assert titles("amount=between(-4,9)&_sortField=amount&_sortType=asc") == ["d", "a", "b"]
    assert titles("amount=-3.25,100&_sortField=amount&_sortType=asc") == ["d", "e"]  # a list is equals: any of them
    assert titles("amount=empty()") == ["none"]
    assert titles("_sortField=amount&_sortType=desc") == ["e", "c", "b", "a", "d", "none"]
    first = ledger.get("/data/ledger?_sortField=amount&_sortType=asc&_size=2").get_json()
    assert [r["title"] for r in first["items"]] == ["none", "d"]
    rest = ledger.get(f"/data/ledger?_sortField=amount&_sortType=asc&_offset={first['offset']}").get_json()
    assert [r["title"] for r in rest["items"]] == ["a", "b", "c", "e"]  # the cursor walks on by the exact value
    refused = ledger.get("/data/ledger?amount=like(8.99)")
    assert refused.status_code == 400 and "not allowed" in refused.get_json()["message"]
    assert ledger.get("/data/ledger?amount=greater(abc)").status_code == 400

    stages = [{"match": {"amount": "notEmpty()"}},
              {"group": {"total": "sum(amount)", "mean": "avg(amount)", "low": "min(amount)", "high": "max(amount)",
                         "n": "count()"}}]
    response = ledger.put("/data/ledger/aggregate", json=stages)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["items"] == [{"total": "125.245476399547639954763", "mean": "25.0490952799095279909526",
                                             "low": "-3.25", "high": "100", "n": 5}]
    grouped = ledger.put("/data/ledger/aggregate", json=[{"match": {"amount": "greater(9)"}},
                                                         {"group": {"by": "amount", "n": "count()"}},
                                                         {"sort": {"amount": "desc"}}]).get_json()
    assert grouped["items"] == [{"amount": "100", "n": 1}, {"amount": "10.5", "n": 1}]
    ordered = ledger.put("/data/ledger/aggregate", json=[{"sort": {"amount": "asc"}}, {"project": "title,amount"},
                                                         {"match": {"amount": "less(9)"}}]).get_json()
    assert [(r["title"], r["amount"]) for r in ordered["items"]] == [("d", "-3.25"), ("a", BIG), ("b",
                                                                     "8.997738199773819977382")]
    like = ledger.put("/data/ledger/aggregate", json=[{"group": {"x": "sum(title)"}}])
    assert like.status_code == 400


def test_big_numbers_in_csv_and_plain_text(ledger: Api):
    job = run_import(ledger, "ledger", f"title,amount,price\nr1,{BIG},1.005\nr2,-1.50,\nr3,abc,1\n")
    assert job["results"]["rowsImported"] == 2 and job["results"]["rowsWithErrors"] == 1, job
    records = {r["title"]: r for r in ledger.get("/data/ledger").get_json()["items"]}
    assert (records["r1"]["amount"], records["r1"]["price"], records["r2"]["amount"]) == (BIG, "1.01", "-1.5")
    _, rows = run_export(ledger, "ledger", "_fields=title,amount&_sortField=title&_sortType=asc")
    assert rows[1:] == [["r1", BIG], ["r2", "-1.5"]]  # plain number text, a leading minus unguarded
    plain = ledger.get("/data/ledger?_format=plainText&title=r2").get_json()["items"][0]
    assert (plain["amount"], plain["price"]) == ("-1.5", "")


def test_big_number_definition_errors_are_400(api: Api):
    def errors(field: dict[str, Any]) -> list[dict[str, Any]]:
        response = api.put("/metadata/entities/bad", json={"name": "bad", "fields": [field]})
        assert response.status_code == 400, response.get_json()
        return response.get_json()["errors"]
    assert errors({"name": "a", "type": "bigNumber", "unique": True})[0]["field"] == "fields[0].unique"
    assert errors({"name": "a", "type": "bigNumber", "typeRules": {"extraDecimals": "floor"}})[0]["field"] == \
        "fields[0].typeRules.extraDecimals"
    assert errors({"name": "a", "type": "bigNumber", "defaultValue": "x"})[0]["field"] == "fields[0].defaultValue"
    made = api.put("/metadata/entities/good", json={"name": "good", "fields": [
        {"name": "a", "type": "bigNumber", "defaultValue": "1.50"}]})
    assert made.status_code == 200
    assert create(api, "good", {})["a"] == "1.5"


