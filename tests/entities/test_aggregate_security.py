"""Aggregate bodies cannot reach raw Mongo: ``$`` anywhere, unknown stages and malformed bodies are 400s
and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.conftest import Api
from tests.entities.test_aggregate_support import IGNORE_MAX_TIME_WARNING, error, seed_crm

pytestmark = IGNORE_MAX_TIME_WARNING

INJECTIONS: list[Any] = [
    [{"$out": "stolen"}],
    {"$out": "stolen"},
    [{"$merge": {"into": "stolen"}}],
    [{"match": {"$where": "1"}}],
    [{"match": {"name": {"$ne": 1}}}],
    [{"match": {"name": "$gt"}}],
    [{"match": {"_or": [{"$where": "sleep(1000)"}]}}],
    [{"match": {"name": "x"}}, {"$out": "stolen"}],
    [{"group": {"by": "company", "n": {"$sum": 1}}}],
    [{"group": {"by": "$company", "n": "count()"}}],
    [{"group": {"_id": "$company"}}],
    [{"group": {"n": {"$function": {"body": "function() {}", "args": [], "lang": "js"}}}}],
    [{"sort": {"$natural": "asc"}}],
    [{"project": "$where"}],
    [{"unwind": "$addresses"}],
    [{"unwind": {"fieldPath": "addresses", "$out": "stolen"}}],
    [{"lookup": {"localFieldPath": "id", "foreignFieldPath": "company.id", "foreignEntityName": "contacts",
                 "as": "x", "pipeline": [{"$out": "stolen"}]}}],
    [{"lookup": {"localFieldPath": "id", "foreignFieldPath": "_id", "foreignEntityName": "sys.users", "as": "x"}}],
    [{"lookup": {"localFieldPath": "id", "foreignFieldPath": "id", "foreignEntityName": "stolen", "as": "x"}}],
    [{"count": "$out"}],
    [{"limit": {"$literal": 5}}],
    [{"out": "stolen"}],
    [{"merge": "stolen"}],
    [{"function": "x"}],
    [{"where": "1"}],
    [{"addFields": {"x": 1}}],
    [{"match": {"name": {"ne": 1}}}],
    [{"match": {"name.$": 1}}],
    [{"match": {"addresses.state": {"state": {"$regex": ".*"}}}}],
]


@pytest.mark.parametrize("body", INJECTIONS)
def test_injection_attempts_are_400_and_write_nothing(app: Flask, api: Api, body: Any):
    seed_crm(api)
    db = app.extensions["runtime"].store.db
    before = sorted(db.list_collection_names())
    counts = {name: db[name].count_documents({}) for name in before}
    response = api.put("/data/companies/aggregate", json=body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["code"] == "badRequest"
    assert sorted(db.list_collection_names()) == before
    assert "stolen" not in db.list_collection_names()
    assert {name: db[name].count_documents({}) for name in before} == counts


def test_dollar_messages_name_the_stage(api: Api):
    message = error(api, "companies", [{"match": {"name": "x"}}, {"sort": {"$natural": "asc"}}])
    assert message.startswith("stage 2: '$natural' is not allowed")


def test_unknown_stage_names_the_stage_and_the_allowed_ones(api: Api):
    message = error(api, "companies", [{"limit": 1}, {"out": "x"}])
    assert message.startswith("stage 2 (out): unknown stage") and "match" in message and "lookup" in message


@pytest.mark.parametrize("body", [
    [], [{}], [1], ["match"], [[{"match": {}}]], "match", 5, True, None,
    [{"match": {"name": "x"}}, {}],
])
def test_malformed_bodies_are_400(api: Api, body: Any):
    response = api.put("/data/companies/aggregate", json=body)
    assert response.status_code == 400, response.get_json()


@pytest.mark.parametrize("raw", [b"", b"   ", b"[{", b"{\"match\": }", b"[1, 2", b"{\"a\":1},5", b"[" * 100000])
def test_unparsable_bodies_are_400(api: Api, raw: bytes):
    response = api.put("/data/companies/aggregate", data=raw, content_type="application/json")
    assert response.status_code == 400, response.get_json()


def test_too_many_stages_and_too_deep_bodies_are_400(api: Api):
    assert "at most 100" in error(api, "companies", [{"limit": 1}] * 101)
    deep: Any = {"name": "x"}
    for _ in range(900):
        deep = {"_or": deep}
    response = api.put("/data/companies/aggregate", json=[{"count": "n"}, {"match": deep}])
    assert response.status_code == 400, response.get_json()


def test_records_update_route_still_works_next_to_aggregate(api: Api):
    crm = seed_crm(api)
    rooxo = crm.companies["Rooxo"]
    response = api.put(f"/data/companies/{rooxo['id']}", json={"numberOfEmployees": 7})
    assert response.status_code == 200 and response.get_json()["numberOfEmployees"] == 7
