"""User regular expressions cannot freeze the runtime: linear-time evaluation, a time limit, no store lock held."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask

from core.storage import drop_embedded
from tests.conftest import Api, company, create, login, make_app

EVIL = ["(a|a)*b", ".*.*.*.*x", "(a+)+$", "(x+x+)+y"]
NOTES = {"name": "notes", "label": "Notes", "recordLabel": "#{title}",
         "fields": [{"name": "title", "type": "text", "typeRules": {"maxLength": 5000}}]}


def timed(call: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def seed(api: Api, count: int = 5) -> None:
    assert api.post("/metadata/entities", json=NOTES).status_code == 200
    for n in (23, 100, 1000):
        create(api, "notes", {"title": "a" * n})
    for i in range(count):
        create(api, "notes", {"title": f"plain {i}"})


@pytest.mark.parametrize("pattern", EVIL)
def test_catastrophic_like_patterns_answer_fast(api: Api, pattern: str):
    seed(api)
    response, took = timed(lambda: api.get(f"/data/notes?title={quote(f'like(/{pattern}/)')}"))
    assert response.status_code in (200, 400), response.get_json()
    assert took < 0.1 * 5 if response.status_code == 200 else True  # generous for a loaded machine
    if response.status_code == 200:
        # the same request again (patterns are cached) is within the 100 ms the issue asks for
        response, took = timed(lambda: api.get(f"/data/notes?title={quote(f'like(/{pattern}/)')}"))
        assert took < 0.1, took


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)b", "(?<!a)b"])
def test_what_a_linear_engine_cannot_run_is_400(api: Api, pattern: str):
    seed(api, 0)
    response = api.get(f"/data/notes?title={quote(f'like(/{pattern}/)')}")
    assert response.status_code == 400, response.get_json()
    message = response.get_json()["message"]
    assert "title" in message and "not supported" in message


def test_regex_still_matches(api: Api):
    seed(api, 3)
    response = api.get(f"/data/notes?title={quote('like(/^PLAIN [12]$/)')}")
    assert sorted(i["title"] for i in response.get_json()["items"]) == ["plain 1", "plain 2"]


def test_aggregate_match_and_global_search_answer_fast(api: Api):
    seed(api)
    body = [{"match": {"title": "like(/(a|a)*b/)"}}, {"count": "n"}]
    response, took = timed(lambda: api.put("/data/notes/aggregate", json=body))
    assert response.status_code == 200, response.get_json()
    assert took < 0.5
    response, took = timed(lambda: api.get(f"/data/notes?_globalSearch={quote('(a|a)*b ' + 'a' * 30)}"))
    assert response.status_code == 200 and took < 0.5


def test_type_rule_pattern_is_linear_or_refused(api: Api):
    bad = {**NOTES, "name": "coded", "fields": [{"name": "code", "type": "text",
                                                 "typeRules": {"pattern": r"(a)\1"}}]}
    response = api.post("/metadata/entities", json=bad)
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"].endswith("pattern")
    nested = {**NOTES, "name": "coded", "recordLabel": "#{code}", "fields": [{"name": "code", "type": "text",
                                                    "typeRules": {"pattern": "(a+)+$", "maxLength": 200}}]}
    assert api.post("/metadata/entities", json=nested).status_code == 200
    response, took = timed(lambda: api.post("/data/coded", json={"code": "a" * 60 + "!"}))
    assert response.status_code == 400 and took < 0.5
    assert api.post("/data/coded", json={"code": "aaa"}).status_code == 200


def test_query_time_limit_applies_on_the_embedded_store():
    app = make_app(query_max_time_ms=1)
    try:
        api = login(app)
        col = app.extensions["runtime"].store.db["data.companies"]
        col.insert_many([{**company(name=f"c{i}"), "version": 1} for i in range(3000)])
        response = api.get(f"/data/companies?name={quote('like(/c.*9/)')}")
        assert response.status_code == 400, response.get_json()
        assert "ms" in response.get_json()["message"]
    finally:
        drop_embedded(app.config["RUNTIME"].mongodb_db)


def test_a_regex_scan_does_not_hold_up_other_requests(app: Flask, api: Api):
    """While one request scans many long values with a pattern, ``/auth/me`` answers at its usual speed."""
    seed(api, 0)
    col = app.extensions["runtime"].store.db["data.notes"]
    col.insert_many([{"title": "a" * 2000 + str(i), "version": 1} for i in range(3000)])
    other = login(app)
    _, usual = timed(lambda: other.get("/auth/me"))
    stop = threading.Event()

    def scan() -> None:
        while not stop.is_set():
            api.get(f"/data/notes?title={quote('like(/(a|a)*b/)')}")

    worker = threading.Thread(target=scan)
    worker.start()
    try:
        time.sleep(0.05)
        slowest = 0.0
        for _ in range(10):
            response, took = timed(lambda: other.get("/auth/me"))
            assert response.status_code == 200
            slowest = max(slowest, took)
    finally:
        stop.set()
        worker.join()
    assert slowest < max(0.1, usual * 20), (slowest, usual)


def _refused_as_400(response: Any, param: str, reason: str) -> None:
    """A 400 in the error shape whose message names ``param`` and says ``reason``; its field errors, if any, are
    about ``param``."""
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["code"] == "badRequest" and f"'{param}'" in body["message"] and reason in body["message"], body
    assert all(e["field"] == param for e in body["errors"]), body


LONG_LIKES = [  # over 500 characters, or few characters that escaping doubles past what the store evaluates
    "like(" + "a" * 501 + ")", "like(/" + "a" * 501 + ")", "like(" + "a" * 501 + "/)", "like(" + "." * 1001 + ")"]


@pytest.mark.parametrize("value", LONG_LIKES)
def test_a_long_like_text_is_400_naming_the_parameter(api: Api, value: str):
    create(api, "companies", company())  # the store evaluates a pattern only against stored records
    _refused_as_400(api.get("/data/companies", query_string={"name": value}), "name", "at most 500 characters")


def test_a_long_like_text_is_400_on_every_route_that_takes_a_query(api: Api):
    create(api, "companies", company())
    dots = "like(" + "." * 1001 + ")"
    for response, field in (
            (api.get("/data/companies", query_string={"_query": f"filter('name','{dots}')"}), "_query"),
            (api.delete("/data/companies", query_string={"name": dots}), "name"),
            (api.put("/data/companies/countEmployees", query_string={"name": dots}, json={}), "name"),
            (api.put("/data/companies/aggregate", json=[{"match": {"name": dots}}, {"count": "n"}]),
             "stage 1 (match)")):
        assert response.status_code == 400, response.get_json()
        body = response.get_json()
        assert "'name'" in body["message"] and "at most 500 characters" in body["message"], body
        assert [e["field"] for e in body["errors"]] == [field], body
    assert api.get("/data/companies").get_json()["total"] == 1  # nothing was deleted


def test_a_like_of_500_characters_still_filters(api: Api):
    seed(api, 0)  # titles of 23, 100 and 1000 a's
    response = api.get("/data/notes", query_string={"title": "like(" + "a" * 500 + ")"})
    assert response.status_code == 200 and response.get_json()["total"] == 1


def test_many_like_values_making_a_too_long_pattern_are_400(api: Api):
    create(api, "companies", company())
    values = ",".join("." * 300)  # 300 characters, but each an escaped alternative of its own: (?:\.)|…
    _refused_as_400(api.get("/data/companies", query_string={"name": f"like({values})"}), "name", "too many values")


def test_a_pattern_the_store_refuses_is_400_on_list_delete_and_actions(api: Api, monkeypatch: pytest.MonkeyPatch):
    """Whatever the store's regex engine refuses (here: a pattern over a lowered size limit) is the query's
    fault, as in an aggregation: a 400, not a 500."""
    create(api, "companies", company())
    monkeypatch.setattr("core.regex.MAX_PATTERN", 10)
    like = {"name": "like(Test 1 and more)"}
    for response in (api.get("/data/companies", query_string=like),
                     api.delete("/data/companies", query_string=like),
                     api.put("/data/companies/countEmployees", query_string=like, json={})):
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["message"] == ("The database rejected the query: a regular expression is at most "
                                                  "10 characters")
    monkeypatch.undo()
    assert api.get("/data/companies").get_json()["total"] == 1
