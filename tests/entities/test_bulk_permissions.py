"""Deletes and actions over one id, many ids or a query: a caller who can never do it on the entity gets 403
before anything runs (sync or ``_async``); a rule that depends on the record still answers per id."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from tests.conftest import Api, company, create, wait_for_job
from tests.entities.test_permissions import SALES, add_group, user_in

API = {"data": True, "files": True, "uploadFiles": True, "jobs": True}
# Deletes only type "a" companies: a rule that depends on the record.
CONDITIONAL = {"api": API, "entities": {"companies": {
    "access": "always", "create": "always", "edit": "always", "delete": {"when": {"type": "a"}},
    "actions": {"customResponse": {"when": {"type": "a"}}}}}}
# Nothing at all on companies (only contacts).
STRANGER = {"api": API, "entities": {"contacts": {"access": "always", "delete": "always"}}}
DELETE_ONE = "Provided token does not have permissions to delete this record"
DELETE_MANY = "Provided token does not have permissions to delete records on this entity"


@pytest.fixture
def world(app: Flask, api: Api) -> dict[str, Any]:
    """Two active companies (types a and b), an inactive one, and users of the three groups."""
    return {
        "a": create(api, "companies", company(name="A", state="active", type="a"))["id"],
        "b": create(api, "companies", company(name="B", state="active", type="b"))["id"],
        "off": create(api, "companies", company(name="Off", state="inactive", type="a"))["id"],
        "sales": user_in(app, "sales@example.com", add_group(app, SALES, "sales")),
        "stranger": user_in(app, "stranger@example.com", add_group(app, STRANGER, "stranger")),
        "conditional": user_in(app, "cond@example.com", add_group(app, CONDITIONAL, "conditional")),
    }


def _forbidden(response: Any, message: str) -> None:
    assert response.status_code == 403, response.get_json()
    body = response.get_json()
    assert body["code"] == "forbidden" and body["message"] == message, body


def _jobs(api: Api) -> int:
    return api.get("/status/jobs").get_json()["total"]


@pytest.mark.parametrize("who", ["sales", "stranger"])
def test_a_caller_who_can_never_delete_gets_403_for_every_form(world: dict[str, Any], api: Api, who: str):
    user: Api = world[who]
    a, b = world["a"], world["b"]
    missing = str(ObjectId())
    for suffix in ("", "?_async=true"):
        _forbidden(user.delete(f"/data/companies/{a}{suffix}"), DELETE_ONE)
        _forbidden(user.delete(f"/data/companies/{missing}{suffix}"), DELETE_ONE)  # existence is not revealed
        _forbidden(user.delete(f"/data/companies/{a},{b}{suffix}"), DELETE_MANY)
        _forbidden(user.delete(f"/data/companies/{a},{missing}{suffix}"), DELETE_MANY)
        _forbidden(user.delete(f"/data/companies?type=a{suffix}"), DELETE_MANY)
    assert _jobs(api) == 0
    assert api.get("/data/companies").get_json()["total"] == 3


def test_a_delete_rule_with_a_condition_answers_per_id(world: dict[str, Any], api: Api):
    user: Api = world["conditional"]
    a, b, off = world["a"], world["b"], world["off"]
    both = user.delete(f"/data/companies/{a},{b}")
    assert both.status_code == 200, both.get_json()
    body = both.get_json()
    assert body[a]["status"] == "ok" and body[a]["response"]["id"] == a
    assert body[b] == {"status": "error", "errorMessage": DELETE_ONE}
    job = wait_for_job(user, user.delete(f"/data/companies/{off},{b}?_async=true").get_json()["jobId"])
    assert job["status"] == "FINISHED" and job["hasErrors"] is True
    assert job["results"]["results"][off]["status"] == "ok"
    assert job["results"]["results"][b] == {"status": "error", "errorMessage": DELETE_ONE}
    assert [i["id"] for i in api.get("/data/companies").get_json()["items"]] == [b]


def test_a_background_delete_of_one_record_is_checked_up_front(world: dict[str, Any], api: Api):
    user: Api = world["conditional"]
    a, b = world["a"], world["b"]
    _forbidden(user.delete(f"/data/companies/{b}?_async=true"), DELETE_ONE)  # this record: type b
    missing = user.delete(f"/data/companies/{ObjectId()}?_async=true")
    assert missing.status_code == 404 and missing.get_json()["code"] == "notFound"
    assert user.delete("/data/companies/not-an-id?_async=true").status_code == 404
    assert api.delete(f"/data/companies/{ObjectId()}?_async=true").status_code == 404  # a developer too
    assert _jobs(api) == 0
    job = wait_for_job(user, user.delete(f"/data/companies/{a}?_async=true").get_json()["jobId"])
    assert job["status"] == "FINISHED" and job["hasErrors"] is False
    assert api.get(f"/data/companies/{a}").status_code == 404
    assert api.get(f"/data/companies/{b}").status_code == 200


ACTION_ONE = "You don't have permissions to execute the action or you don't have permissions for the record"
ACTION_MANY = "You don't have permissions to execute the action"


@pytest.mark.parametrize("who", ["sales", "stranger"])
def test_a_caller_who_can_never_run_an_action_gets_403_for_every_form(world: dict[str, Any], api: Api, who: str):
    """``customResponse`` (one record), ``countEmployees`` (many) and ``createSample`` (global) are not granted to
    sales; the stranger has nothing on companies, not even ``logSomething``."""
    user: Api = world[who]
    a, b = world["a"], world["b"]
    actions = ["customResponse", "countEmployees"] + (["logSomething"] if who == "stranger" else [])
    for suffix in ("", "?_async=true"):
        for action in actions:
            _forbidden(user.put(f"/data/companies/{a}/{action}{suffix}"), ACTION_ONE)
            _forbidden(user.put(f"/data/companies/{a},{b}/{action}{suffix}"), ACTION_MANY)
            _forbidden(user.put(f"/data/companies/{a},{ObjectId()}/{action}{suffix}"), ACTION_MANY)
            query = f"/data/companies/{action}?type=a" + suffix.replace("?", "&")
            _forbidden(user.put(query), ACTION_MANY)
        _forbidden(user.put(f"/data/companies/createSample{suffix}", json={"name": "x"}), ACTION_MANY)
    assert _jobs(api) == 0
    assert api.get("/data/companies").get_json()["total"] == 3


def test_a_background_action_on_one_record_is_checked_up_front(world: dict[str, Any], api: Api):
    """404 and 403 as the sync run answers them, before a job is queued; the precondition is the job's."""
    user, sales = world["conditional"], world["sales"]
    a, b, off = world["a"], world["b"], world["off"]
    for suffix in ("", "?_async=true"):
        _forbidden(user.put(f"/data/companies/{b}/customResponse{suffix}"), ACTION_ONE)  # this record: type b
        _forbidden(sales.put(f"/data/companies/{off}/logSomething{suffix}"), ACTION_ONE)  # one sales cannot access
        for who in (user, api):
            missing = who.put(f"/data/companies/{ObjectId()}/customResponse{suffix}")
            assert missing.status_code == 404 and missing.get_json()["code"] == "notFound", missing.get_json()
            assert who.put(f"/data/companies/not-an-id/customResponse{suffix}").status_code == 404
        assert api.put(f"/data/companies/not-an-id/countEmployees{suffix}").status_code == 404  # manyRecords
    assert _jobs(api) == 0
    job = wait_for_job(user, user.put(f"/data/companies/{a}/customResponse?_async=true").get_json()["jobId"])
    assert job["status"] == "FINISHED" and job["hasErrors"] is False
    assert job["results"]["results"][a] == {"status": "ok", "response": "This is a custom response"}
    unmet = wait_for_job(api, api.put(f"/data/companies/{a}/activate?_async=true").get_json()["jobId"])
    assert unmet["status"] == "FINISHED" and unmet["hasErrors"] is True  # A is active: checked when it runs
    assert "precondition" in unmet["results"]["results"][a]["errorMessage"]


def test_refused_before_the_parameters_are_read(world: dict[str, Any]):
    refused = world["stranger"].put(f"/data/companies/{world['a']},{world['b']}/logSomething", json={"param1": 5})
    _forbidden(refused, ACTION_MANY)  # not a 400 about param1


def test_an_action_rule_that_depends_on_the_record_answers_per_id(world: dict[str, Any], api: Api):
    a, b, off = world["a"], world["b"], world["off"]
    both = world["conditional"].put(f"/data/companies/{a},{b}/customResponse")
    assert both.status_code == 200, both.get_json()
    assert both.get_json() == {a: {"status": "ok", "response": "This is a custom response"},
                               b: {"status": "error", "errorMessage": ACTION_ONE}}
    job = wait_for_job(world["conditional"], world["conditional"].put(
        f"/data/companies/{a},{b}/customResponse?_async=true").get_json()["jobId"])
    assert job["results"]["results"][a]["status"] == "ok" and job["results"]["results"][b]["status"] == "error"
    sales = world["sales"].put(f"/data/companies/{a},{off}/logSomething")  # granted; access only to active ones
    assert sales.status_code == 200
    assert sales.get_json()[a]["status"] == "ok" and sales.get_json()[off]["status"] == "error"
