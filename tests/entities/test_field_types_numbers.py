"""bigNumber, timeDuration and autoIncrement fields over HTTP: writes and reads, bad values (400 field errors, nothing
stored), filters, sorts, aggregates, CSV import and export, plain text, definition errors."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest
from flask import Flask

from tests.conftest import Api, create, login, wait_for_job
from tests.entities.test_import_export import run_export, run_import, upload

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
           ("amount", "1e99999"), ("amount", "0." + "1" * 1000), ("price", "-0.01"), ("price", "1000.01"),
           ("exact", "3.105")]


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


def test_min_and_max_bound_as_the_numbers_the_definition_keeps(api: Api):
    """A bound written with more digits than a float holds is the float the stored definition keeps, in every
    process and on every store (not the text the request carried)."""
    body = ('{"name": "bounds", "fields": [{"name": "a", "type": "bigNumber", '
            '"typeRules": {"max": 0.10000000000000000001}}]}')
    assert api.put("/metadata/entities/bounds", data=body, content_type="application/json").status_code == 200
    refused = api.post("/data/bounds", json={"a": "0.10000000000000000001"})
    assert refused.status_code == 400
    assert refused.get_json()["errors"][0]["message"] == "Must be less than or equal to 0.1"
    assert create(api, "bounds", {"a": "0.1"})["a"] == "0.1"


# --- timeDuration ------------------------------------------------------------------------------

TASKS = {"name": "tasks", "recordLabel": "#{title}", "fields": [
    {"name": "title", "type": "text"},
    {"name": "spent", "type": "timeDuration"},
    {"name": "planned", "type": "duration", "defaultValue": "1h"},
    {"name": "echo", "type": "timeDuration", "calculated": "#{spent}"},  # a calculated value is stored as its text
]}


@pytest.fixture
def tasks(api: Api) -> Api:
    response = api.put("/metadata/entities/tasks", json=TASKS)
    assert response.status_code == 200, response.get_json()
    return api


def test_durations_are_millis_written_as_millis_or_as_text(tasks: Api):
    spent = {"a": "4h 30m", "b": "1d 2h 3m 4s", "c": "3d", "d": 10800000, "e": 0, "f": "16200000", "g": "90s 250ms"}
    made = {t: create(tasks, "tasks", {"title": t, "spent": s}) for t, s in spent.items()}
    assert {t: r["spent"] for t, r in made.items()} == {"a": 16200000, "b": 93784000, "c": 259200000,
                                                        "d": 10800000, "e": 0, "f": 16200000, "g": 90250}
    assert made["a"]["planned"] == 3600000  # the default, written as text
    plain = tasks.get(f"/data/tasks/{made['b']['id']}?_format=plainText").get_json()
    assert (plain["spent"], plain["planned"]) == ("1d 2h 3m 4s", "1h")
    texts = {r["title"]: r["spent"] for r in tasks.get("/data/tasks?_format=plainText").get_json()["items"]}
    assert (texts["a"], texts["e"], texts["g"]) == ("4h 30m", "0s", "1m 30s 250ms")
    assert tasks.put(f"/data/tasks/{made['e']['id']}", json={"spent": "2m"}).get_json()["spent"] == 120000


@pytest.mark.parametrize("value", [-1, "-5m", "4x", "h", "1.5h", 1.5, True, "", [1], "1h 2d", "1" * 5000,
                                   "9" * 30 + "d"])
def test_bad_durations_are_field_errors_and_nothing_is_stored(app: Flask, tasks: Api, value: Any):
    response = tasks.post("/data/tasks", json={"title": "x", "spent": value})
    assert response.status_code == 400, value
    error = response.get_json()["errors"][0]
    assert (error["field"], error["code"]) == ("spent", "invalid")
    assert stored_count(app, "tasks") == 0
    negative = tasks.post("/data/tasks", json={"spent": -1}).get_json()["errors"][0]["message"]
    assert negative == "A duration cannot be negative"


def test_durations_filter_sort_and_aggregate_in_millis(tasks: Api):
    for title, spent in (("a", "4h 30m"), ("b", "2h"), ("c", "1d"), ("d", 0)):
        create(tasks, "tasks", {"title": title, "spent": spent})

    def titles(query: str) -> list[str]:
        response = tasks.get(f"/data/tasks?{query}&_sortField=spent&_sortType=asc")
        assert response.status_code == 200, response.get_json()
        return [r["title"] for r in response.get_json()["items"]]
    assert titles("spent=greater(10800000)") == ["a", "c"]
    assert titles("spent=between(0,7200000)") == ["d", "b"]
    assert titles("spent=16200000") == ["a"] == titles("spent=4h%2030m")
    assert titles("") == ["d", "b", "a", "c"]
    assert tasks.get("/data/tasks?spent=like(4h)").status_code == 400
    assert tasks.get("/data/tasks?spent=greater(soon)").status_code == 400
    items = tasks.put("/data/tasks/aggregate", json=[{"group": {
        "total": "sum(spent)", "mean": "avg(spent)", "low": "min(spent)", "high": "max(spent)",
        "first": "first(spent)"}}]).get_json()["items"]
    assert items == [{"total": 109800000, "mean": 27450000, "low": 0, "high": 86400000, "first": 16200000}]


def test_durations_in_csv(tasks: Api):
    job = run_import(tasks, "tasks", "title,spent\nr1,4h 30m\nr2,5000\nr3,0s\nr4,soon\n")
    assert job["results"]["rowsImported"] == 3 and job["results"]["rowsWithErrors"] == 1, job
    records = {r["title"]: r["spent"] for r in tasks.get("/data/tasks").get_json()["items"]}
    assert records == {"r1": 16200000, "r2": 5000, "r3": 0}
    _, rows = run_export(tasks, "tasks", "_fields=title,spent,echo&_sortField=title&_sortType=asc")
    assert rows[1:] == [["r1", "4h 30m", "4h 30m"], ["r2", "5s", "5s"], ["r3", "0s", "0s"]]
    plain = tasks.get("/data/tasks?title=r1&_format=plainText").get_json()["items"][0]
    assert (plain["spent"], plain["echo"]) == ("4h 30m", "4h 30m")


def test_duration_definition_errors_are_400(api: Api):
    for field in ({"name": "a", "type": "timeDuration", "unique": True},
                  {"name": "a", "type": "time-duration", "defaultValue": "soon"}):
        response = api.put("/metadata/entities/bad", json={"name": "bad", "fields": [field]})
        assert response.status_code == 400, field


# --- autoIncrement -----------------------------------------------------------------------------

TICKETS = {"name": "tickets", "recordLabel": "#{title} ##{number}", "history": True, "fields": [
    {"name": "title", "type": "text"},
    {"name": "number", "type": "autoIncrement"},
]}


@pytest.fixture
def tickets(api: Api) -> Api:
    response = api.put("/metadata/entities/tickets", json=TICKETS)
    assert response.status_code == 200, response.get_json()
    return api


def numbers(api: Api, entity: str = "tickets") -> dict[str, int]:
    return {r["title"]: r["number"] for r in api.get(f"/data/{entity}?_size=1000").get_json()["items"]}


def test_records_get_the_next_number_and_clients_cannot_write_it(app: Flask, tickets: Api):
    first = create(tickets, "tickets", {"title": "a"})
    second = create(tickets, "tickets", {"title": "b"})
    assert (first["number"], second["number"]) == (1, 2)
    assert second["label"] == "b #2"  # the label shows it
    refused = tickets.post("/data/tickets", json={"title": "c", "number": 7})
    assert refused.status_code == 400
    error = refused.get_json()["errors"][0]
    assert (error["field"], error["code"]) == ("number", "readOnly")
    assert stored_count(app, "tickets") == 2
    back = tickets.put(f"/data/tickets/{first['id']}", json={**first, "title": "a2"})  # sent back as read
    assert back.status_code == 200 and back.get_json()["number"] == 1
    changed = tickets.put(f"/data/tickets/{first['id']}", json={"number": 5})
    assert changed.status_code == 400 and changed.get_json()["errors"][0]["code"] == "readOnly"
    tickets.delete(f"/data/tickets/{second['id']}")
    assert create(tickets, "tickets", {"title": "c"})["number"] == 3  # never given again


def test_numbers_never_repeat_under_concurrent_creates_from_two_app_instances(app: Flask, tickets: Api):
    """Threads of this app and of a second app on the same store (as two gunicorn workers): every number once."""
    from core.config import Config
    from runtime.app import create_app

    config = app.config["RUNTIME"]
    other = create_app(Config.from_env(mongodb_uri=None, mongodb_db=config.mongodb_db, redis_url=None,
                                       admin_email=config.admin_email, admin_password=config.admin_password))
    clients = [login(app) for _ in range(3)] + [login(other) for _ in range(3)]
    made: list[int] = []
    lock = threading.Lock()

    def work(client: Api, n: int) -> None:
        for i in range(10):
            body = client.post("/data/tickets", json={"title": f"{n}-{i}"}).get_json()
            with lock:
                made.append(body["number"])
    threads = [threading.Thread(target=work, args=(c, n)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(made) == list(range(1, 61))
    by_id = sorted(tickets.get("/data/tickets?_size=100").get_json()["items"], key=lambda r: r["id"])
    assert len({r["number"] for r in by_id}) == 60


def test_min_moves_the_counter_up_and_never_back(tickets: Api):
    assert create(tickets, "tickets", {"title": "a"})["number"] == 1
    defn = tickets.get("/metadata/entities/tickets").get_json()

    def set_min(value: int) -> None:
        body = copy.deepcopy(defn)
        body["fields"][1]["typeRules"] = {"min": value}
        assert tickets.put("/metadata/entities/tickets", json=body).status_code == 200
    set_min(1000)
    assert create(tickets, "tickets", {"title": "b"})["number"] == 1000
    assert create(tickets, "tickets", {"title": "c"})["number"] == 1001
    set_min(10)
    assert create(tickets, "tickets", {"title": "d"})["number"] == 1002


def test_numbers_filter_sort_aggregate_and_export(tickets: Api):
    for title in "abcd":
        create(tickets, "tickets", {"title": title})

    def titles(query: str) -> list[str]:
        response = tickets.get(f"/data/tickets?{query}")
        assert response.status_code == 200, response.get_json()
        return [r["title"] for r in response.get_json()["items"]]
    assert titles("number=greater(2)&_sortField=number&_sortType=asc") == ["c", "d"]
    assert titles("number=between(2,3)&_sortField=number&_sortType=desc") == ["c", "b"]
    assert titles("number=1") == ["a"]
    assert tickets.get("/data/tickets?number=like(1)").status_code == 400
    items = tickets.put("/data/tickets/aggregate", json=[{"group": {
        "total": "sum(number)", "mean": "avg(number)", "high": "max(number)", "low": "min(number)"}}]).get_json()
    assert items["items"] == [{"total": 10, "mean": 2.5, "high": 4, "low": 1}]
    _, rows = run_export(tickets, "tickets", "_fields=title,number&_sortField=number&_sortType=asc")
    assert rows == [["Title", "Number"], ["a", "1"], ["b", "2"], ["c", "3"], ["d", "4"]]
    plain = tickets.get("/data/tickets?number=4&_format=plainText").get_json()["items"][0]
    assert plain["number"] == "4"


def test_an_import_ignores_the_number_column_and_takes_its_numbers_in_one_step(tickets: Api,
                                                                                monkeypatch: pytest.MonkeyPatch):
    from entities.records.counters import Counters

    create(tickets, "tickets", {"title": "before"})
    takes: list[int] = []
    upstream = Counters.take

    def counted(self: Counters, entity: Any, f: Any, count: int = 1) -> int:
        takes.append(count)
        return upstream(self, entity, f, count)
    monkeypatch.setattr(Counters, "take", counted)
    job = run_import(tickets, "tickets", "title,number\nr1,99\nr2,98\nr3,\n")
    assert job["results"] == {"rowsImported": 3, "rowsWithErrors": 0}, job
    logs = [e["message"] for e in tickets.get(f"/status/jobs/{job['id']}/logs").get_json()["items"]]
    assert any("not imported" in m and "'number'" in m for m in logs)
    assert numbers(tickets) == {"before": 1, "r1": 2, "r2": 3, "r3": 4}
    assert takes == [3]  # one $inc for the batch
    only = upload(tickets, "tickets", "number\n5\n")
    assert only.status_code == 400  # no column that can be imported


AUTO_BAD = [{"multiplicity": "many"}, {"required": True}, {"defaultValue": 1}, {"calculated": "#{title}"},
            {"typeRules": {"min": 1.5}}, {"typeRules": {"min": "1"}}]


@pytest.mark.parametrize("flags", AUTO_BAD)
def test_auto_increment_definition_errors_are_400(api: Api, flags: dict[str, Any]):
    field = {"name": "number", "type": "autoIncrement", **flags}
    response = api.put("/metadata/entities/bad", json={"name": "bad", "fields": [{"name": "title", "type": "text"},
                                                                                   field]})
    assert response.status_code == 400, flags
    assert response.get_json()["errors"][0]["field"].startswith("fields[1].")


def test_auto_increment_is_unique_by_nature(tickets: Api):
    """``unique`` is accepted and changes nothing: no duplicates check, no refactoring of the stored records."""
    create(tickets, "tickets", {"title": "a"})
    body = copy.deepcopy(tickets.get("/metadata/entities/tickets").get_json())
    body["fields"][1]["unique"] = True
    response = tickets.put("/metadata/entities/tickets", json=body)
    assert response.status_code == 200, response.get_json()
    assert "refactoring" not in response.get_json()
    assert create(tickets, "tickets", {"title": "b"})["number"] == 2


def test_auto_increment_is_not_allowed_inside_a_nested_group(api: Api):
    response = api.put("/metadata/entities/bad", json={"name": "bad", "fields": [
        {"name": "lines", "type": "nestedFields", "nestedFields": [{"name": "n", "type": "auto-increment"}]}]})
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "fields[0].nestedFields[0].type"


def test_a_new_auto_increment_field_numbers_existing_records_in_creation_order(tickets: Api):
    plain = {"name": "orders", "history": True, "fields": [{"name": "title", "type": "text"},
                                                            {"name": "qty", "type": "integer"}]}
    assert tickets.put("/metadata/entities/orders", json=plain).status_code == 200
    for i, title in enumerate(["o1", "o2", "o3"]):
        create(tickets, "orders", {"title": title, "qty": 7 - i})
    defn = tickets.get("/metadata/entities/orders").get_json()
    body = copy.deepcopy(defn)
    body["fields"].append({"name": "number", "type": "autoIncrement", "typeRules": {"min": 100}})
    body["recordLabel"] = "#{title}/#{number}"
    preview = tickets.put("/metadata/entities/orders?_dryRun=true", json=body).get_json()
    assert preview["changes"][0] == {"kind": "number", "field": "number", "recordsAffected": 3,
                                     "description": "records are numbered in the order they were created"}
    response = tickets.put("/metadata/entities/orders", json=body)
    assert response.status_code == 200, response.get_json()
    late = create(tickets, "orders", {"title": "o4"})  # created after the change: numbered after the others
    job = wait_for_job(tickets, response.get_json()["refactoring"]["jobId"])
    assert job["status"] == "FINISHED" and not job["hasErrors"], job
    assert late["number"] == 103
    records = tickets.get("/data/orders?_sortField=id&_sortType=asc").get_json()["items"]
    assert [(r["title"], r["number"], r["label"]) for r in records] == [
        ("o1", 100, "o1/100"), ("o2", 101, "o2/101"), ("o3", 102, "o3/102"), ("o4", 103, "o4/103")]
    history = tickets.get(f"/data/orders/{records[0]['id']}/history").get_json()["items"][0]
    assert history["eventType"] == "SYSTEM_REFACTORING" and history["newRecord"]["number"]["json"] == 100

    # a field that becomes autoIncrement: its values give way to numbers, in creation order
    body = copy.deepcopy(tickets.get("/metadata/entities/orders").get_json())
    next(f for f in body["fields"] if f["name"] == "qty")["type"] = "autoIncrement"
    response = tickets.put("/metadata/entities/orders", json=body)
    assert response.status_code == 200, response.get_json()
    assert [c["kind"] for c in response.get_json()["refactoring"]["changes"]] == ["number"]
    wait_for_job(tickets, response.get_json()["refactoring"]["jobId"])
    records = tickets.get("/data/orders?_sortField=id&_sortType=asc").get_json()["items"]
    assert [r["qty"] for r in records] == [1, 2, 3, 4]
    assert create(tickets, "orders", {"title": "o5"})["qty"] == 5


def test_numbering_resumes_after_a_stop_and_reaches_records_written_before_it(monkeypatch: pytest.MonkeyPatch):
    """A stopped and resumed numbering goes on after the highest number it gave; a record a user updates before the
    job reaches it (converted, but without a number) still gets its number in creation order; a record created in
    between is numbered after all of them."""
    from core.context import WriteContext
    from core.storage import drop_embedded
    from entities.records.lifecycle import RecordLifecycle
    from tests.conftest import make_app

    monkeypatch.setenv("JOBS_BATCH_SIZE", "10")
    app = make_app()
    try:
        api = login(app)
        plain = {"name": "orders", "fields": [{"name": "title", "type": "text"}]}
        assert api.put("/metadata/entities/orders", json=plain).status_code == 200
        svc = app.extensions["runtime"]
        orders = svc.registry.get("orders")
        ids = [str(svc.records.create(orders, {"title": f"o{i}"}, WriteContext(user_email="seed"))["_id"])
               for i in range(40)]
        reached, released = threading.Event(), threading.Event()
        upstream = RecordLifecycle.refactor
        calls = []

        def gated(self: RecordLifecycle, *args: Any, **kwargs: Any) -> bool:
            calls.append(1)
            if len(calls) == 15:  # inside the second batch
                reached.set()
                released.wait(20)
            return upstream(self, *args, **kwargs)
        monkeypatch.setattr(RecordLifecycle, "refactor", gated)
        body = copy.deepcopy(api.get("/metadata/entities/orders").get_json())
        body["fields"].append({"name": "number", "type": "autoIncrement"})
        job_id = api.put("/metadata/entities/orders", json=body).get_json()["refactoring"]["jobId"]
        assert reached.wait(20)
        assert api.put(f"/status/jobs/{job_id}/stop").get_json()["status"] == "STOPPING"
        released.set()
        assert wait_for_job(api, job_id, ("STOPPED",))["recordsProcessed"] == 20
        assert api.put(f"/data/orders/{ids[30]}", json={"title": "updated"}).get_json()["number"] is None
        assert create(api, "orders", {"title": "late"})["number"] == 41
        assert api.put(f"/status/jobs/{job_id}/resume").status_code == 200
        assert wait_for_job(api, job_id, ("FINISHED",))["hasErrors"] is False
        records = api.get("/data/orders?_size=100&_sortField=id&_sortType=asc").get_json()["items"]
        assert [r["number"] for r in records] == list(range(1, 42))
        assert records[30]["title"] == "updated"
    finally:
        drop_embedded(app.config["RUNTIME"].mongodb_db)


def test_openapi_describes_the_number_types(api: Api):
    fields = [{"name": "amount", "type": "bigNumber"}, {"name": "spent", "type": "timeDuration"},
              {"name": "number", "type": "autoIncrement"}]
    assert api.put("/metadata/entities/kinds", json={"name": "kinds", "fields": fields}).status_code == 200
    schemas = json.loads(api.get("/openapi.json?entity=kinds").get_data())["components"]["schemas"]
    read, write = schemas["kinds"]["properties"], schemas["kinds.Input"]["properties"]
    assert (read["amount"]["type"], read["amount"]["example"]) == ("string", "8.997738199773819977381")
    assert (read["spent"]["type"], read["number"]["type"], read["number"]["readOnly"]) == ("integer", "integer", True)
    assert "number" not in write and {"type": "number"} in write["amount"]["anyOf"]
    assert [s["type"] for s in write["spent"]["anyOf"]] == ["integer", "string"]
