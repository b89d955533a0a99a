"""The paths a restricted caller's query names are checked as the record fields they stand for: an aggregate
output picked by ``first()``/``last()`` (through any chain of group stages) is its source field, so a hidden
field below it is refused exactly like the direct form; and a filter's value is never read as a path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from tests.conftest import Api, company, create
from tests.entities.permission_groups import add_named_group, define, lim_rules, user_in_group
from tests.entities.test_permissions import HIDDEN_CONTACT, SALES, SECRET, add_group, user_in

CODE = "quokkacode"  # parents.code, copied into kids.pNone; hidden from lim


@pytest.fixture
def sales(app: Flask, api: Api) -> Api:
    """Active A holds the hidden ``contactInformation.email`` and ``notes``."""
    create(api, "companies", company(name="Active A", state="active", type="a", notes=SECRET,
                                     contactInformation=HIDDEN_CONTACT))
    create(api, "companies", company(name="Active B", state="active", type="b", notes=SECRET,
                                     contactInformation={"phoneNumber": "1-800-000-0000"}))
    return user_in(app, "sales@example.com", add_group(app, SALES, "sales"))


# The first stages give ``pick`` the value of a whole field: directly, or through other stages.
PICKS = {
    "first": [{"group": {"by": "name", "pick": "first(FIELD)"}}],
    "first of a last": [{"group": {"by": "name", "y": "last(FIELD)"}}, {"group": {"by": "name", "pick": "first(y)"}}],
    "last after a project and a group": [{"group": {"by": "name", "y": "first(FIELD)"}}, {"project": "y"},
                                         {"group": {"by": "y.id", "pick": "last(y)"}}],
}
# A later stage naming the hidden inner field ``HIDDEN`` below ``pick``.
PROBES = [
    {"group": {"by": "pick.HIDDEN", "n": "count()"}},
    {"group": {"by": "pick.id", "m": "max(pick.HIDDEN)"}},
    {"group": {"by": "pick.id", "m": "first(pick.HIDDEN)"}},
    {"match": {"pick.HIDDEN": "like(a)"}},
    {"sort": {"pick.HIDDEN": "asc"}},
]
# Only a nested group's inner fields can be projected, or matched by a JSON object, after a group stage.
NESTED_PROBES = [{"project": "pick.HIDDEN"}, {"match": {"pick": {"HIDDEN": "x"}}}]


def _pipeline(pick: str, probe: dict[str, Any], field: str, hidden: str) -> list[dict[str, Any]]:
    return json.loads(json.dumps([*PICKS[pick], probe]).replace("FIELD", field).replace("HIDDEN", hidden))


@pytest.mark.parametrize("pick", list(PICKS))
def test_a_hidden_inner_field_below_a_picked_output_is_refused(sales: Api, api: Api, pick: str):
    for probe in [*PROBES, *NESTED_PROBES]:
        body = _pipeline(pick, probe, "contactInformation", "email")
        allowed = api.put("/data/companies/aggregate", json=body)
        assert allowed.status_code == 200, (body, allowed.get_json())  # a valid pipeline a developer may run
        refused = sales.put("/data/companies/aggregate", json=body)
        assert refused.status_code == 403, (body, refused.get_json())
        assert refused.get_json()["code"] == "forbidden"


def test_grouping_by_a_whole_group_holding_a_hidden_inner_field_is_refused(sales: Api, api: Api):
    """Its groups would split by the hidden value."""
    for body in ([{"group": {"by": "contactInformation", "n": "count()"}}],
                 [{"group": {"by": "name", "y": "first(contactInformation)"}}, {"group": {"by": "y", "n": "count()"}}]):
        assert api.put("/data/companies/aggregate", json=body).status_code == 200
        assert sales.put("/data/companies/aggregate", json=body).status_code == 403


def test_a_picked_value_is_shown_without_its_hidden_inner_field_under_any_name(sales: Api):
    rows = sales.put("/data/companies/aggregate", json=[
        {"match": {"name": "Active A"}}, {"group": {"by": "name", "y": "first(contactInformation)"}},
        {"group": {"by": "name", "z": "last(y)"}}, {"project": "z"}])
    assert rows.status_code == 200, rows.get_json()
    assert rows.get_json()["items"][0]["z"]["phoneNumber"] == HIDDEN_CONTACT["phoneNumber"]
    assert HIDDEN_CONTACT["email"] not in rows.get_data(as_text=True)


def test_an_output_named_like_a_hidden_field_is_not_that_field(sales: Api):
    """``notes`` here is a count, not the hidden field: it is shown and may be matched."""
    rows = sales.put("/data/companies/aggregate", json=[{"group": {"by": "state", "notes": "count()"}},
                                                        {"match": {"notes": "greater(1)"}}])
    assert rows.status_code == 200, rows.get_json()
    assert rows.get_json()["items"] == [{"state": "active", "notes": 2}]


def test_global_search_in_an_aggregate_match_skips_hidden_fields(sales: Api, api: Api):
    body = [{"match": {"_globalSearch": SECRET}}, {"count": "n"}]
    assert api.put("/data/companies/aggregate", json=body).get_json()["items"] == [{"n": 2}]
    assert sales.put("/data/companies/aggregate", json=body).get_json()["items"] == [{"n": 0}]
    nested = [{"match": {"_or": [{"_globalSearch": SECRET}, {"name": "nobody"}]}}, {"count": "n"}]
    assert sales.put("/data/companies/aggregate", json=nested).get_json()["items"] == [{"n": 0}]


# --- through a relationship: a copied field hidden on the target entity ------------------------------------


@pytest.fixture
def kids(api: Api) -> None:
    define(api)
    parent = create(api, "parents", {"name": "PA", "kind": "a", "secret": SECRET, "code": CODE})
    create(api, "kids", {"name": "KA", "pNone": parent["id"]})


@pytest.mark.parametrize("pick", list(PICKS))
def test_a_hidden_copied_field_below_a_picked_relationship_is_refused(app: Flask, api: Api, kids, pick: str):
    add_named_group(api, "lim", lim_rules({"code": "none"}))
    lim = user_in_group(app, api, "lim@example.com", "lim")
    for probe in PROBES:
        body = _pipeline(pick, probe, "pNone", "code")
        assert api.put("/data/kids/aggregate", json=body).status_code == 200, body
        refused = lim.put("/data/kids/aggregate", json=body)
        assert refused.status_code == 403, (body, refused.get_json())
    picked = lim.put("/data/kids/aggregate", json=_pipeline(pick, {"project": "pick"}, "pNone", "code"))
    assert picked.status_code == 200, picked.get_json()
    assert picked.get_json()["items"][0]["pick"]["kind"] == "a" and CODE not in picked.get_data(as_text=True)


def test_copied_fields_of_a_target_closed_to_the_caller_are_refused_below_a_pick(app: Flask, api: Api, kids):
    rules = lim_rules({})
    del rules["entities"]["parents"]
    add_named_group(api, "kidsOnly", rules)
    user = user_in_group(app, api, "kidsonly@example.com", "kidsOnly")
    for hidden in ("kind", "code"):
        body = [{"group": {"by": "name", "c": "first(pNone)"}}, {"group": {"by": f"c.{hidden}"}}]
        assert api.put("/data/kids/aggregate", json=body).status_code == 200
        assert user.put("/data/kids/aggregate", json=body).status_code == 403
    picked = user.put("/data/kids/aggregate", json=[{"group": {"by": "name", "c": "first(pNone)"}}])
    assert set(picked.get_json()["items"][0]["c"]) == {"id", "label"}


# --- values are not paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["_query=filter('name','notes')", "_query=filter('name','contactInformation.email')",
                                   "_query=or(filter('name','notes'),filter('type','a'))", "name=notes"])
def test_a_filter_value_that_names_a_hidden_field_is_not_refused(sales: Api, query: str):
    response = sales.get(f"/data/companies?{query}")
    assert response.status_code == 200, response.get_json()


def test_a_hidden_field_named_as_a_query_path_is_still_refused(sales: Api):
    for query in ("_query=filter('notes','x')", "_query=and(filter('name','x'),filter('contactInformation.email','y'))",
                  "_query=filter('contactInformation','{\"email\": \"x\"}')"):
        assert sales.get(f"/data/companies?{query}").status_code == 403, query


@pytest.mark.parametrize("match", [{"name": "notes"}, {"name": "contactInformation.email"},
                                   {"_query": "filter('name','notes')"}, {"_or": [{"name": "notes"}, {"type": "a"}]}])
def test_an_aggregate_match_value_that_names_a_hidden_field_is_not_refused(sales: Api, match: dict[str, Any]):
    response = sales.put("/data/companies/aggregate", json=[{"match": match}, {"count": "n"}])
    assert response.status_code == 200, response.get_json()
    refused = sales.put("/data/companies/aggregate", json=[{"match": {"_query": "filter('notes','x')"}}])
    assert refused.status_code == 403
