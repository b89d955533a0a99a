"""``PUT /data/{entity}/aggregate``: each stage alone and chained, rendering, tolerant forms, limits."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from core.storage import drop_embedded
from tests.conftest import Api, company, create, login, make_app
from tests.entities.test_aggregate_support import IGNORE_MAX_TIME_WARNING, Crm, agg, error, items, seed_crm

pytestmark = IGNORE_MAX_TIME_WARNING


@pytest.fixture
def crm(api: Api) -> Crm:
    return seed_crm(api)


def by_key(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {(r[key]["label"] if isinstance(r[key], dict) else r[key]): r for r in rows}


# --- the seed's sample ---------------------------------------------------------------------------

def test_seed_sample_skills_per_company(api: Api, crm: Crm):
    result = agg(api, "contacts", [{"project": "company,numberOfSkills"},
                                   {"group": {"by": "company", "totalSkills": "sum(numberOfSkills)"}}])
    assert result["total"] == 4 == len(result["items"])
    rows = {(r["company"] or {}).get("label"): r for r in result["items"]}
    assert rows["Flashset"] == {"company": {"id": crm.companies["Flashset"]["id"], "label": "Flashset"},
                                "totalSkills": 5}
    assert rows["Rooxo"]["totalSkills"] == 4 and rows["Trudoo"]["totalSkills"] == 0
    assert rows[None] == {"company": None, "totalSkills": 1}  # contacts without a company form one group


# --- match ---------------------------------------------------------------------------------------

def test_match_alone_returns_records_rendered(api: Api, crm: Crm):
    rows = items(api, "companies", [{"match": {"isCustomer": True}}])
    assert sorted(r["name"] for r in rows) == ["Flashset", "Trudoo"]
    flashset = next(r for r in rows if r["name"] == "Flashset")
    assert flashset == crm.companies["Flashset"]  # same JSON as a record read


def test_match_on_relationship_label_and_number(api: Api, crm: Crm):
    rows = items(api, "contacts", [{"match": {"company": "Flashset", "numberOfSkills": 3}}])
    assert [r["firstName"] for r in rows] == ["Bob"]


def test_match_with_operator_strings(api: Api, crm: Crm):
    rows = items(api, "companies", [{"match": {"numberOfEmployees": "greater(50)"}}, {"sort": {"name": "asc"}}])
    assert [r["name"] for r in rows] == ["Rooxo", "Trudoo"]
    rows = items(api, "companies", [{"match": {"id": f"notEquals({crm.companies['Rooxo']['id']})"}}])
    assert sorted(r["name"] for r in rows) == ["Flashset", "Trudoo"]


def test_match_operator_on_group_output(api: Api, crm: Crm):
    rows = items(api, "contacts", [{"group": {"by": "company", "totalSkills": "sum(numberOfSkills)"}},
                                   {"match": {"totalSkills": "greater(3)"}}])
    assert sorted(r["company"]["label"] for r in rows) == ["Flashset", "Rooxo"]


def test_match_on_group_output_and_group_key(api: Api, crm: Crm):
    rows = items(api, "contacts", [{"group": {"by": "company", "totalSkills": "sum(numberOfSkills)"}},
                                   {"match": {"totalSkills": 4}}])
    assert [r["company"]["label"] for r in rows] == ["Rooxo"]
    rows = items(api, "contacts", [{"group": {"by": "company", "n": "count()"}},
                                   {"match": {"company": "Flashset"}}])
    assert rows == [{"company": {"id": crm.companies["Flashset"]["id"], "label": "Flashset"}, "n": 2}]


def test_match_or_and_lists_on_records_and_on_group_outputs(api: Api, crm: Crm):
    rows = items(api, "companies", [{"match": {"_or": [{"type": "b"}, {"numberOfEmployees": "less(20)"}]}},
                                    {"sort": {"name": "asc"}}, {"project": "name"}])
    assert [r["name"] for r in rows] == ["Flashset", "Rooxo"]
    rows = items(api, "contacts", [{"group": {"by": "company", "t": "sum(numberOfSkills)"}},
                                   {"match": {"_or": {"t": "greater(4)", "company": "Trudoo"}}},
                                   {"sort": {"t": "asc"}}])
    assert [(r["company"]["label"], r["t"]) for r in rows] == [("Trudoo", 0), ("Flashset", 5)]
    rows = items(api, "contacts", [{"group": {"by": "company", "t": "sum(numberOfSkills)"}},
                                   {"match": {"t": [0, 4]}}, {"sort": {"t": "asc"}}])
    assert [r["t"] for r in rows] == [0, 4]
    message = error(api, "contacts", [{"count": "n"}, {"match": {"_query": "filter('n','1')"}}])
    assert message.startswith("stage 2 (match): _query only works on records")


def test_match_on_id_after_a_stage(api: Api, crm: Crm):
    bob = crm.contacts["Bob"]["id"]
    rows = items(api, "contacts", [{"project": "firstName"}, {"match": {"id": bob}}])
    assert rows == [{"id": bob, "firstName": "Bob"}]


def test_match_ignores_system_parameters(api: Api, crm: Crm):
    assert len(items(api, "companies", [{"match": {"_size": 1, "isCustomer": False}}])) == 1


def test_match_unknown_field_names_the_stage(api: Api, crm: Crm):
    assert error(api, "contacts", [{"sort": {"firstName": "asc"}}, {"match": {"nope": 1}}]).startswith(
        "stage 2 (match):")
    message = error(api, "contacts", [{"group": {"by": "company", "n": "count()"}}, {"match": {"firstName": "x"}}])
    assert message.startswith("stage 2 (match): unknown field 'firstName'")


# --- sort, skip, limit ---------------------------------------------------------------------------

def test_sort_several_keys_in_order(api: Api, crm: Crm):
    rows = items(api, "companies", [{"sort": {"type": "asc", "numberOfEmployees": "desc"}}, {"project": "name"}])
    assert [r["name"] for r in rows] == ["Trudoo", "Flashset", "Rooxo"]
    rows = items(api, "companies", [{"sort": {"type": "DESC", "numberOfEmployees": "asc"}}, {"project": "name"}])
    assert [r["name"] for r in rows] == ["Rooxo", "Flashset", "Trudoo"]


def test_sort_relationship_by_label_and_group_output(api: Api, crm: Crm):
    rows = items(api, "contacts", [{"match": {"company": "Flashset,Rooxo,Trudoo"}},
                                   {"sort": {"company": "desc", "firstName": "asc"}}, {"project": "firstName"}])
    assert [r["firstName"] for r in rows] == ["Dee", "Cid", "Ann", "Bob"]
    rows = items(api, "contacts", [{"group": {"by": "company", "totalSkills": "sum(numberOfSkills)"}},
                                   {"sort": {"totalSkills": "desc"}}])
    assert [r["totalSkills"] for r in rows] == [5, 4, 1, 0]


def test_sort_rejects_bad_directions_and_unsortable_fields(api: Api, crm: Crm):
    assert "asc" in error(api, "companies", [{"sort": {"name": "up"}}])
    assert "cannot be used for sorting" in error(api, "companies", [{"sort": {"addresses": "asc"}}])
    assert error(api, "companies", [{"sort": {}}]).startswith("stage 1 (sort):")


@pytest.mark.parametrize(("body", "field"), [
    ([{"sort": {"name": "up"}}], "stage 1 (sort)"),
    ([{"limit": 2}, {"match": {"numberOfEmployees": "abc"}}], "stage 2 (match)"),
    ([{"match": {"zzz": "1"}}], "stage 1 (match)"),
    ([{"limit": 2}, {"group": {"by": "nope"}}], "stage 2 (group)"),
    ([{"frobnicate": {}}], "stage 1 (frobnicate)"),
    ([{"geoNear": {}}], "stage 1 (geoNear)"),
    ([{"match": {"name": "$where"}}], "stage 1"),
])
def test_stage_errors_name_the_stage_in_errors(api: Api, crm: Crm, body: list[dict[str, Any]], field: str):
    result = agg(api, "companies", body, status=400)
    assert result["message"].startswith(f"{field}: ")
    assert [(e["field"], e["code"]) for e in result["errors"]] == [(field, "invalid")], result


def test_skip_and_limit(api: Api, crm: Crm):
    body = [{"sort": {"name": "asc"}}, {"skip": 1}, {"limit": 1}, {"project": "name"}]
    assert [r["name"] for r in items(api, "companies", body)] == ["Rooxo"]
    assert len(items(api, "companies", [{"limit": 2}])) == 2
    assert items(api, "companies", [{"skip": 5}]) == []


@pytest.mark.parametrize("stage", [{"limit": "5"}, {"limit": 0}, {"limit": -1}, {"limit": True}, {"limit": 1.5},
                                   {"skip": -1}, {"skip": "1"}, {"skip": None}])
def test_skip_and_limit_need_positive_integers(api: Api, stage: dict[str, Any]):
    name = next(iter(stage))
    assert error(api, "companies", [stage]).startswith(f"stage 1 ({name}): expected an integer")


# --- project -------------------------------------------------------------------------------------

def test_project_keeps_id_and_listed_fields(api: Api, crm: Crm):
    rows = items(api, "companies", [{"sort": {"name": "asc"}}, {"project": "name,numberOfEmployees"}])
    assert rows[0] == {"id": crm.companies["Flashset"]["id"], "name": "Flashset", "numberOfEmployees": 10}


def test_project_inner_fields_of_nested_groups(api: Api, crm: Crm):
    rows = items(api, "companies", [{"match": {"name": "Flashset"}},
                                    {"project": "addresses.state,contactInformation.phoneNumber"}])
    flashset = crm.companies["Flashset"]
    assert rows == [{
        "id": flashset["id"],
        "addresses": [{"id": a["id"], "label": a["label"], "state": a["state"]} for a in flashset["addresses"]],
        "contactInformation": {"id": flashset["contactInformation"]["id"], "label": "Contact Information",
                               "phoneNumber": "1-702-845-9380"},
    }]


def test_project_copied_fields_and_labels_of_relationships_as_fields_does(api: Api):
    """``company.label`` and a copied field (``org.kind``) project as ``_fields`` gives them: the link's id and
    label, and only the copied fields named."""
    assert api.put("/metadata/entities/orgs", json={"name": "orgs", "fields": [
        {"name": "name", "type": "text"}, {"name": "kind", "type": "text"}, {"name": "size", "type": "integer"}]}
    ).status_code == 200
    assert api.put("/metadata/entities/gear", json={"name": "gear", "fields": [
        {"name": "name", "type": "text"},
        {"name": "org", "type": "relationship", "typeRules": {"entity": "orgs", "copiedFields": ["kind", "size"]}}]}
    ).status_code == 200
    org = create(api, "orgs", {"name": "O", "kind": "k", "size": 3})
    create(api, "gear", {"name": "g", "org": org["id"]})
    listed = api.get("/data/gear?_fields=name,org.kind").get_json()["items"][0]
    projected = items(api, "gear", [{"project": "name,org.kind"}])[0]
    assert projected == {k: listed[k] for k in ("id", "name", "org")}
    assert projected["org"] == {"id": org["id"], "label": "O", "kind": "k"}
    assert items(api, "gear", [{"project": "org.label"}])[0]["org"] == {"id": org["id"], "label": "O"}


def test_nested_values_hold_every_inner_field_as_a_record_read_does(api: Api):
    """Unset inner fields come out as a record read gives them (null), in project, unwind and first()."""
    record = create(api, "companies", company(name="Sparse", addresses=[{"state": "CA"}],
                                              contactInformation={"email": "a@b.com"}))
    read = api.get(f"/data/companies/{record['id']}").get_json()
    assert read["addresses"][0]["city"] is None and read["contactInformation"]["phoneNumber"] is None
    match = {"match": {"name": "Sparse"}}
    projected = items(api, "companies", [match, {"project": "addresses,contactInformation"}])[0]
    assert projected["addresses"] == read["addresses"]
    assert projected["contactInformation"] == read["contactInformation"]
    unwound = items(api, "companies", [match, {"unwind": {"fieldPath": "addresses"}}, {"project": "addresses"}])
    assert unwound[0]["addresses"] == read["addresses"][0]
    first = items(api, "companies", [match, {"group": {"by": "name", "c": "first(contactInformation)"}}])
    assert first[0]["c"] == read["contactInformation"]


def test_first_and_last_give_the_edge_records_value_even_when_it_is_unset(api: Api):
    """first(f) / last(f): the value of the group's first / last record (after sort), null when it has none."""
    for name, employees in (("Edge A", 1), ("Edge B", 2), ("Edge C", None)):
        create(api, "companies", company(name=name, numberOfEmployees=employees))
    match = {"match": {"name": "like(Edge)"}}
    up = items(api, "companies", [match, {"sort": {"name": "asc"}},
                                  {"group": {"f": "first(numberOfEmployees)", "l": "last(numberOfEmployees)"}}])
    down = items(api, "companies", [match, {"sort": {"name": "desc"}},
                                    {"group": {"f": "first(numberOfEmployees)", "l": "last(numberOfEmployees)"}}])
    assert (up[0]["f"], up[0]["l"], down[0]["f"], down[0]["l"]) == (1, None, None, 1)


def test_project_errors(api: Api):
    assert "unknown field 'nope'" in error(api, "companies", [{"project": "name,nope"}])
    lookup = {"lookup": {"localFieldPath": "id", "foreignFieldPath": "company.id", "foreignEntityName": "contacts",
                         "as": "people"}}
    assert "only whole fields" in error(api, "companies", [lookup, {"project": "people.firstName"}])
    assert error(api, "companies", [{"project": ""}]).startswith("stage 1 (project): expected")
    assert error(api, "companies", [{"project": 5}]).startswith("stage 1 (project): expected")


# --- group ---------------------------------------------------------------------------------------

def test_group_without_by_is_one_group(api: Api, crm: Crm):
    rows = items(api, "contacts", [{"group": {"totalNumberOfSkills": "sum(numberOfSkills)", "n": "count()",
                                              "avgSkills": "avg(numberOfSkills)"}}])
    assert rows == [{"totalNumberOfSkills": 10, "n": 5, "avgSkills": 2}]


def test_group_by_several_fields_and_nested_path(api: Api, crm: Crm):
    rows = items(api, "companies", [{"group": {"by": "type,isCustomer", "n": "count()"}},
                                    {"sort": {"type": "asc", "isCustomer": "asc"}}])
    assert rows == [{"type": "a", "isCustomer": True, "n": 2}, {"type": "b", "isCustomer": False, "n": 1}]
    rows = items(api, "companies", [{"unwind": {"fieldPath": "addresses"}},
                                    {"group": {"by": "addresses.state", "employees": "sum(numberOfEmployees)"}},
                                    {"sort": {"addresses.state": "asc"}}])
    # The nested key keeps its dotted path as the output name.
    assert rows == [{"addresses.state": "CA", "employees": 210}, {"addresses.state": "NV", "employees": 10}]
    assert items(api, "companies", [{"unwind": "addresses"}, {"group": {"by": "addresses.state", "n": "count()"}},
                                    {"match": {"addresses.state": "NV"}}]) == [{"addresses.state": "NV", "n": 1}]


def test_group_by_boolean_counts_unset_as_false(api: Api, crm: Crm):
    body = company(name="NoFlag")
    del body["isCustomer"]
    create(api, "companies", body)
    rows = items(api, "companies", [{"group": {"by": "isCustomer", "n": "count()"}}, {"sort": {"n": "asc"}}])
    assert rows == [{"isCustomer": False, "n": 2}, {"isCustomer": True, "n": 2}]


def test_group_key_of_a_multi_valued_path_is_the_array(api: Api, crm: Crm):
    rows = items(api, "companies", [{"match": {"name": "Flashset"}}, {"group": {"by": "addresses.state"}}])
    assert rows == [{"addresses.state": ["NV", "CA"]}]


def test_group_by_a_multi_valued_path_puts_unset_null_and_empty_in_one_group(api: Api, crm: Crm):
    """Trudoo has ``addresses: []``; the others below never set it, set it to null, or hold no state."""
    unset = company(name="NoAddresses")
    del unset["addresses"]
    for body in (unset, company(name="NullAddresses", addresses=None),
                 company(name="NoState", addresses=[{"zipCode": "1"}])):
        create(api, "companies", body)
    rows = items(api, "companies", [{"group": {"by": "addresses.state", "n": "count()"}}])
    assert sorted(rows, key=lambda r: r["n"]) == [{"addresses.state": ["CA"], "n": 1},
                                                  {"addresses.state": ["NV", "CA"], "n": 1},
                                                  {"addresses.state": [], "n": 4}]


def test_group_by_a_multi_valued_field_puts_unset_null_and_empty_in_one_group(api: Api):
    definition = {"name": "tagged", "fields": [{"name": "code", "type": "text"},
                                               {"name": "tags", "type": "text", "multiplicity": "many"}]}
    assert api.put("/metadata/entities/tagged", json=definition).status_code == 200
    for body in ({"code": "unset"}, {"code": "null", "tags": None}, {"code": "empty", "tags": []},
                 {"code": "x1", "tags": ["x"]}, {"code": "x2", "tags": ["x"]}, {"code": "xy", "tags": ["x", "y"]}):
        create(api, "tagged", body)
    rows = items(api, "tagged", [{"group": {"by": "tags", "n": "count()"}}])
    assert sorted(rows, key=lambda r: r["tags"]) == [{"tags": [], "n": 3}, {"tags": ["x"], "n": 2},
                                                     {"tags": ["x", "y"], "n": 1}]
    two_keys = items(api, "tagged", [{"match": {"code": "unset,null,empty"}}, {"group": {"by": "tags,code"}},
                                     {"group": {"by": "tags", "n": "count()"}}])
    assert two_keys == [{"tags": [], "n": 3}]  # with several keys too


def test_group_errors(api: Api):
    assert "'t': an accumulator" in error(api, "contacts", [{"group": {"by": "company", "t": "push(firstName)"}}])
    assert "count() takes no field" in error(api, "contacts", [{"group": {"t": "count(firstName)"}}])
    assert "needs a field" in error(api, "contacts", [{"group": {"t": "sum()"}}])
    assert "unknown field 'nope'" in error(api, "contacts", [{"group": {"t": "sum(nope)"}}])
    assert "unknown group field 'nope'" in error(api, "contacts", [{"group": {"by": "nope"}}])
    assert "output names" in error(api, "contacts", [{"group": {"by": "company", "a.b": "count()"}}])
    assert "both a group field" in error(api, "contacts", [{"group": {"by": "company", "company": "count()"}}])
    assert "give" in error(api, "contacts", [{"group": {}}])
    assert "must be an object" in error(api, "contacts", [{"group": "company"}])


def test_later_stages_see_only_group_outputs(api: Api, crm: Crm):
    message = error(api, "contacts", [{"group": {"by": "company", "n": "count()"}}, {"sort": {"firstName": "asc"}}])
    assert message.startswith("stage 2 (sort): unknown field 'firstName'") and "company, n" in message
    rows = items(api, "contacts", [{"group": {"by": "company", "n": "count()"}}, {"group": {"most": "max(n)"}}])
    assert rows == [{"most": 2}]


# --- count ---------------------------------------------------------------------------------------

def test_count(api: Api, crm: Crm):
    assert items(api, "contacts", [{"match": {"company": "Flashset"}}, {"count": "counter"}]) == [{"counter": 2}]
    assert items(api, "contacts", [{"match": {"firstName": "Nobody"}}, {"count": "counter"}]) == [{"counter": 0}]
    assert items(api, "contacts", [{"count": "n1"}, {"match": {"n1": 5}}]) == [{"n1": 5}]


def test_count_name_of_the_platform_sample_may_hold_underscores(api: Api, crm: Crm):
    assert items(api, "contacts", [{"count": "counter_field"}]) == [{"counter_field": 5}]  # platform-facts §2.2
    assert items(api, "contacts", [{"count": "counter_field"}, {"match": {"counter_field": 5}},
                                   {"sort": {"counter_field": "desc"}}]) == [{"counter_field": 5}]
    assert items(api, "contacts", [{"count": "_n_2"}]) == [{"_n_2": 5}]
    assert "starting with '$'" in error(api, "contacts", [{"count": "$n"}])  # never a leading $ (nor a dot, below)


@pytest.mark.parametrize("name", ["", "a.b", "a b", "x-y", "n$", ".n", "é", 3, None, {"name": "n"}])
def test_count_name_is_letters_digits_and_underscores(api: Api, name: Any):
    message = error(api, "contacts", [{"count": name}])
    assert message.startswith("stage 1 (count):") and "underscores" in message


# --- unwind --------------------------------------------------------------------------------------

def test_unwind(api: Api, crm: Crm):
    rows = items(api, "companies", [{"sort": {"name": "asc"}}, {"unwind": {"fieldPath": "addresses"}},
                                    {"project": "name,addresses"}])
    assert [(r["name"], r["addresses"]["state"]) for r in rows] == [("Flashset", "NV"), ("Flashset", "CA"),
                                                                    ("Rooxo", "CA")]
    assert len(rows[0]["addresses"]["id"]) == 24
    rows = items(api, "companies", [{"sort": {"name": "asc"}},
                                    {"unwind": {"fieldPath": "addresses", "includeEmpty": True}},
                                    {"project": "name,addresses"}])
    assert [r["name"] for r in rows] == ["Flashset", "Flashset", "Rooxo", "Trudoo"]
    assert rows[-1]["addresses"] is None


def test_unwind_errors(api: Api):
    assert "unknown fieldPath" in error(api, "companies", [{"unwind": {"fieldPath": "nope"}}])
    assert "top-level" in error(api, "companies", [{"unwind": {"fieldPath": "addresses.state"}}])
    assert "includeEmpty" in error(api, "companies", [{"unwind": {"fieldPath": "addresses", "includeEmpty": 1}}])
    assert error(api, "companies", [{"unwind": {"path": "addresses"}}]).startswith("stage 1 (unwind):")


# --- lookup --------------------------------------------------------------------------------------

CONTACTS_OF_COMPANY = {"localFieldPath": "id", "foreignFieldPath": "company.id", "foreignEntityName": "contacts",
                       "as": "relatedContacts"}


def test_lookup_joins_records_rendered_as_records(api: Api, crm: Crm):
    rows = items(api, "companies", [{"lookup": CONTACTS_OF_COMPANY}, {"project": "name,relatedContacts"}])
    by_name = {r["name"]: r for r in rows}
    assert sorted(c["firstName"] for c in by_name["Flashset"]["relatedContacts"]) == ["Ann", "Bob"]
    ann = next(c for c in by_name["Flashset"]["relatedContacts"] if c["firstName"] == "Ann")
    assert ann == crm.contacts["Ann"]
    assert by_name["Trudoo"]["relatedContacts"] == [crm.contacts["Dee"]]


def test_lookup_from_relationship_side_and_match_on_joined_path(api: Api, crm: Crm):
    lookup = {"localFieldPath": "company", "foreignFieldPath": "id", "foreignEntityName": "companies",
              "as": "employer"}
    rows = items(api, "contacts", [{"lookup": lookup}, {"match": {"employer.isCustomer": True}},
                                   {"sort": {"firstName": "asc"}}, {"project": "firstName,employer"}])
    assert [r["firstName"] for r in rows] == ["Ann", "Bob", "Dee"]
    assert rows[0]["employer"] == [crm.companies["Flashset"]]


def test_lookup_then_unwind_and_group_on_joined_fields(api: Api, crm: Crm):
    rows = items(api, "companies", [{"lookup": CONTACTS_OF_COMPANY}, {"unwind": "relatedContacts"},
                                    {"group": {"by": "name", "skills": "sum(relatedContacts.numberOfSkills)",
                                               "firstContact": "first(relatedContacts)"}},
                                    {"sort": {"skills": "desc"}}])
    assert [(r["name"], r["skills"]) for r in rows] == [("Flashset", 5), ("Rooxo", 4), ("Trudoo", 0)]
    assert rows[1]["firstContact"] == crm.contacts["Cid"]


def test_lookup_match_on_joined_id(api: Api, crm: Crm):
    bob = crm.contacts["Bob"]["id"]
    rows = items(api, "companies", [{"lookup": CONTACTS_OF_COMPANY}, {"match": {"relatedContacts.id": bob}},
                                    {"project": "name"}])
    assert [r["name"] for r in rows] == ["Flashset"]


def test_lookup_errors(api: Api):
    assert "does not exist" in error(api, "companies", [{"lookup": {**CONTACTS_OF_COMPANY,
                                                                    "foreignEntityName": "nope"}}])
    assert "exactly" in error(api, "companies", [{"lookup": {**CONTACTS_OF_COMPANY, "pipeline": []}}])
    assert "different kinds" in error(api, "companies", [{"lookup": {**CONTACTS_OF_COMPANY,
                                                                     "localFieldPath": "name"}}])
    assert "unknown foreignFieldPath" in error(api, "companies", [{"lookup": {**CONTACTS_OF_COMPANY,
                                                                              "foreignFieldPath": "nope"}}])
    assert "as:" in error(api, "companies", [{"lookup": {**CONTACTS_OF_COMPANY, "as": "a.b"}}])


# --- geoNear, rendering, body forms, limits --------------------------------------------------------

def test_geo_near_needs_a_geo_point_field(api: Api):
    """geoNear itself: tests/entities/test_field_types_refs.py."""
    body = [{"geoNear": {"coordinates": {"longitude": 10, "latitude": 5}, "distanceField": "distance"}}]
    assert error(api, "companies", body) == "stage 1 (geoNear): 'companies' has no geo point field to search near"
    unknown = api.put("/data/companies/aggregate", json=[{"nope": {}}]).get_json()["message"]
    assert "geoNear" in unknown and "lookup" in unknown


def test_values_keep_their_type_format(api: Api, crm: Crm):
    rows = items(api, "companies", [{"group": {"by": "type", "last": "max(lastMeeting)", "firstId": "first(id)",
                                               "info": "first(contactInformation)"}},
                                    {"sort": {"type": "asc"}}])
    assert rows[0]["last"] == 2000 and rows[1]["last"] == 3000  # dateTime stays epoch millis
    assert rows[0]["firstId"] in {crm.companies["Flashset"]["id"], crm.companies["Trudoo"]["id"]}
    assert rows[0]["info"]["phoneNumber"] == "1-702-845-9380"  # phone digits re-formatted, nested id a string
    assert isinstance(rows[0]["info"]["id"], str) and rows[0]["info"]["label"] == "Contact Information"


def test_single_stage_object_and_several_keys_in_order(api: Api, crm: Crm):
    assert items(api, "companies", {"count": "n"}) == [{"n": 3}]
    assert items(api, "companies", {"match": {"isCustomer": True}, "count": "n"}) == [{"n": 2}]
    assert items(api, "companies", [{"sort": {"name": "asc"}, "limit": 1, "project": "name"}]) == [
        {"id": crm.companies["Flashset"]["id"], "name": "Flashset"}]


def test_stages_separated_by_commas_without_brackets(api: Api, crm: Crm):
    raw = b'{"match": {"isCustomer": true}},\n{"count": "n"}'
    response = api.put("/data/companies/aggregate", data=raw, content_type="application/json")
    assert response.status_code == 200 and response.get_json()["items"] == [{"n": 2}]


def test_unknown_entity_is_404(api: Api):
    assert api.put("/data/nope/aggregate", json=[{"count": "n"}]).status_code == 404


def test_needs_a_token(anon: Api):
    assert anon.put("/data/contacts/aggregate", json=[{"count": "n"}]).status_code == 401


@pytest.fixture
def app_with(request: pytest.FixtureRequest) -> Any:
    """An app with the settings the test gives (``indirect`` parametrization)."""
    app = make_app(**request.param)
    yield app
    drop_embedded(app.config["RUNTIME"].mongodb_db)


@pytest.mark.parametrize("app_with", [{"aggregate_max_results": 2}], indirect=True)
def test_result_cap_is_a_400_not_a_silent_cut(app_with: Flask):
    api = login(app_with)
    seed_crm(api)
    message = error(api, "companies", [{"project": "name"}])
    assert "more than 2 results" in message
    assert len(items(api, "companies", [{"limit": 2}])) == 2


def test_one_aggregate_call_with_max_time(app: Flask, api: Api, crm: Crm, monkeypatch: pytest.MonkeyPatch):
    records = app.extensions["runtime"].records
    calls: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []
    original = records.collection

    class Spy:
        def __init__(self, inner: Any):
            self.inner = inner

        def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any) -> Any:
            calls.append((pipeline, kwargs))
            return self.inner.aggregate(pipeline, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    monkeypatch.setattr(records, "collection", lambda entity: Spy(original(entity)))
    items(api, "contacts", [{"project": "company,numberOfSkills"},
                            {"group": {"by": "company", "totalSkills": "sum(numberOfSkills)"}}])
    assert len(calls) == 1
    pipeline, kwargs = calls[0]
    assert kwargs == {"maxTimeMS": app.config["RUNTIME"].aggregate_max_time_ms}
    assert [next(iter(s)) for s in pipeline] == ["$project", "$group", "$project", "$limit"]
    assert pipeline[-1] == {"$limit": app.config["RUNTIME"].aggregate_max_results + 1}


@pytest.mark.parametrize("app_with", [{"aggregate_max_time_ms": 300}], indirect=True)
def test_a_pipeline_past_its_time_limit_is_a_400_whatever_stage_runs_long(app_with: Flask):
    """AGGREGATE_MAX_TIME_MS bounds every stage on the embedded store too, not only the scan of the first: lookups
    that multiply 30 records into ~100k answer a 400 soon after the limit, and free the store for others."""
    import time

    api = login(app_with)
    assert api.put("/metadata/entities/items", json={"name": "items", "fields": [
        {"name": "name", "type": "text"}, {"name": "active", "type": "boolean"}]}).status_code == 200
    for i in range(30):
        assert api.post("/data/items", json={"name": f"i{i}", "active": bool(i % 2)}).status_code == 200
    pipeline: list[dict[str, Any]] = []
    for n in range(3):
        pipeline += [{"lookup": {"localFieldPath": "active", "foreignFieldPath": "active",
                                 "foreignEntityName": "items", "as": f"x{n}"}},
                     {"unwind": {"fieldPath": f"x{n}"}},
                     {"project": ",".join(["name", "active", *(f"x{k}" for k in range(n + 1))])}]
    start = time.monotonic()
    response = api.put("/data/items/aggregate", json=[*pipeline, {"count": "n"}])
    took = time.monotonic() - start
    assert response.status_code == 400 and "took longer than 300 ms" in response.get_json()["message"]
    assert took < 5, took
    assert api.get("/data/items?_size=1").status_code == 200
