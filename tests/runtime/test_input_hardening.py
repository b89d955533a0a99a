"""No input makes a 500: deep JSON, lone surrogates, and generated requests over the main routes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api, company, create

SHAPE = {"code", "message", "errors"}
DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
SURROGATE = '{"name": "x\\ud800y", "message": "x\\udc00y", "level": "INFO", "email": "a\\ud800", "password": "p"}'


def error_logs(api: Api) -> list[dict[str, Any]]:
    return api.get("/status/logs?level=ERROR").get_json()["items"]


def bodies(api: Api) -> list[tuple[str, str, Api | None]]:
    record = create(api, "companies", company())["id"]
    return [("POST", "/data/companies", None), ("PUT", f"/data/companies/{record}", None),
            ("POST", "/metadata/entities", None), ("POST", "/status/logs", None),
            ("PUT", f"/data/companies/{record}/activate", None), ("PUT", "/data/companies/aggregate", None)]


@pytest.mark.parametrize("raw", [DEEP, DEEP_OBJECT, SURROGATE])
def test_deep_json_and_lone_surrogates_are_400(app: Flask, api: Api, anon: Api, raw: str):
    targets = [(m, p, api) for m, p, _ in bodies(api)] + [("POST", "/auth/login", anon)]
    for method, path, client in targets:
        response = client.request(method, path, data=raw, content_type="application/json")
        assert response.status_code == 400, (method, path, response.status_code, response.get_json())
        assert set(response.get_json()) >= SHAPE
    assert error_logs(api) == []


def strict_json(response: Any) -> Any:
    """The response body read as JSON has it: ``NaN``/``Infinity`` are not numbers there."""
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a response: {response.data[:300]!r}")
    return json.loads(response.data, parse_constant=refuse)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_numbers_json_does_not_have_are_malformed_json(api: Api, anon: Api, number: str):
    raw = (f'{{"message": "not finite", "name": "x", "email": "a@b.io", "password": "p", '
           f'"numberOfEmployees": {number}, "additionalInfo": {{"a": {number}}}}}')
    targets = [(m, p, api) for m, p, _ in bodies(api)] + [("POST", "/auth/login", anon)]
    for method, path, client in targets:
        response = client.request(method, path, data=raw, content_type="application/json")
        assert response.status_code == 400, (method, path, response.status_code, response.get_json())
        body = strict_json(response)
        assert body["code"] == "badRequest" and body["message"].startswith("Malformed JSON in request body: "), body
    assert api.get("/status/logs?message=not%20finite").get_json()["total"] == 0
    assert api.get("/data/companies?name=x").get_json()["total"] == 0


def test_a_stored_number_that_is_not_finite_is_answered_as_null(app: Flask, api: Api):
    """A value no body can send any more may still be in the store (written before, or by other means):
    every read answers it as null, never as NaN (not JSON) and never as a 500."""
    store = app.extensions["runtime"].store
    record = create(api, "companies", company())["id"]
    store.collection("data.companies").update_one({}, {"$set": {"numberOfEmployees": float("nan")}})
    api.post("/status/logs", json={"message": "stored", "additionalInfo": {"a": 1}})
    api.get("/status/logs")  # the queued log is written
    store.collection("sys.logs").update_one({"message": "stored"},
                                            {"$set": {"additionalInfo": '{"a": NaN, "b": [Infinity, 1.5]}'}})

    one = api.get(f"/data/companies/{record}")
    assert one.status_code == 200 and strict_json(one)["numberOfEmployees"] is None
    listed = api.get("/data/companies?_fields=numberOfEmployees")
    assert listed.status_code == 200 and strict_json(listed)["items"][0]["numberOfEmployees"] is None
    logs = api.get("/status/logs?message=stored")
    assert logs.status_code == 200
    assert strict_json(logs)["items"][0]["additionalInfo"] == {"a": None, "b": [None, 1.5]}


def test_nesting_within_the_limit_still_parses(api: Api):
    info = {"a": {"b": {"c": {"d": [1, [2, [3]]]}}}}
    response = api.post("/status/logs", json={"level": "INFO", "message": "nested", "additionalInfo": info})
    assert response.status_code == 200, response.get_json()
    response = api.post("/data/companies", json=company(name="Snow ☃ 😀"))
    assert response.status_code == 200 and response.get_json()["name"] == "Snow ☃ 😀"


def test_repeated_internal_errors_cannot_flood_the_app_log(app: Flask, api: Api, monkeypatch):
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.extensions["runtime"].records, "get", boom)
    for _ in range(40):
        assert api.get("/data/companies/5f0000000000000000000000").status_code == 500
    assert 1 <= len(error_logs(api)) <= 30


# --- a bounded fuzz over the main routes: whatever comes in, never a 5xx --------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(["name", "state", "type", "numberOfEmployees", "isCustomer", "addresses", "rating",
                          "contactInformation", "lastMeeting", "homepage", "_id", "id", "$where", "a.b", ""])
RECORD_BODY = st.dictionaries(FIELDS, JSONISH, max_size=6)
QUERY_VALUE = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["like(/(a|a)*b/)", "like(/(/)", "greater(x)", "between(1)", "notEmpty()", "equals()",
                     "like(/\\1/)", '{"state":"CA"}', "in(1,2", "empty(", "%00", "\ud7ff"]),
)
QUERY_KEY = st.sampled_from(["name", "numberOfEmployees", "addresses.state", "addresses", "lastMeeting", "_sortField",
                             "_sortDirection", "_offset", "_size", "_fields", "_globalSearch", "_format", "nope",
                             "_relationshipsToFetch", "rating", "isCustomer"])
RAW_BODY = st.one_of(st.binary(max_size=60), st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")))
FUZZ = settings(max_examples=80, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def no_5xx(response: Any, context: Any) -> None:
    assert response.status_code < 500, (context, response.status_code, response.get_data(as_text=True)[:300])
    if response.status_code >= 400:
        assert set(response.get_json()) >= SHAPE, context


@FUZZ
@given(st.lists(st.tuples(QUERY_KEY, QUERY_VALUE), min_size=1, max_size=4))
def test_fuzz_list_queries(api: Api, params: list[tuple[str, str]]):
    for route in ("/data/companies", "/data/companies/history"):
        response = api.request("GET", route, query_string=params)
        no_5xx(response, (route, params))


@FUZZ
@given(RECORD_BODY, st.sampled_from(["POST", "PUT"]))
def test_fuzz_record_writes(api: Api, body: dict[str, Any], method: str):
    path = "/data/companies" if method == "POST" else "/data/companies/5f0000000000000000000000"
    no_5xx(api.request(method, path, json=body), (method, body))


@settings(FUZZ, max_examples=50)
@given(st.sampled_from([("POST", "/auth/login"), ("POST", "/data/companies"), ("POST", "/metadata/entities"),
                        ("POST", "/status/logs"), ("PUT", "/data/companies/aggregate"),
                        ("PUT", "/data/companies/5f0000000000000000000000/activate"),
                        ("PUT", "/data/companies/markAsCustomers")]), RAW_BODY)
def test_fuzz_raw_bodies(api: Api, route: tuple[str, str], raw: bytes):
    method, path = route
    no_5xx(api.request(method, path, data=raw, content_type="application/json"), (route, raw))
