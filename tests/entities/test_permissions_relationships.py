"""Permissions seen through relationships: copied fields hidden on the target entity stay hidden in the records
that copy them (reads, filters, sorts, aggregates, related records, history, export), and writing a
relationship by label, id or lookup field only finds records the caller can access (never by a field hidden
from them)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from tests.conftest import Api, create, wait_for_job
from tests.entities.permission_groups import KIDS, SECRET, add_named_group, define, lim_rules, user_in_group

CODE = "quokkacode"  # stored only in a field lim may not see


@pytest.fixture
def parents(api: Api) -> dict[str, dict[str, Any]]:
    define(api)
    return {"PA": create(api, "parents", {"name": "PA", "kind": "a", "secret": SECRET, "code": CODE}),
            "PA2": create(api, "parents", {"name": "PA2", "kind": "a", "secret": SECRET, "code": "another"}),
            "PB": create(api, "parents", {"name": "PB", "kind": "b", "secret": SECRET, "code": CODE}),
            "DupA": create(api, "parents", {"name": "Dup", "kind": "a"}),
            "DupB": create(api, "parents", {"name": "Dup", "kind": "b"})}


@pytest.fixture
def lim(app: Flask, api: Api, parents: dict[str, Any]) -> Api:
    """A user of ``lim`` with parents' ``secret`` and ``code`` hidden (``code`` is copied into kids.pNone)."""
    add_named_group(api, "lim", lim_rules({"secret": "none", "code": "none"}))
    return user_in_group(app, api, "lim@example.com", "lim")


@pytest.fixture
def kids(api: Api, parents: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"KA": create(api, "kids", {"name": "KA", "pNone": parents["PA"]["id"]}),
            "KA2": create(api, "kids", {"name": "KA2", "pNone": parents["PA2"]["id"]}),
            "KB": create(api, "kids", {"name": "KB", "pNone": parents["PB"]["id"]})}


def _no_code(response: Any) -> None:
    assert CODE not in response.get_data(as_text=True) and SECRET not in response.get_data(as_text=True)


# --- copied fields hidden on the target --------------------------------------------------------------------


def test_a_copied_field_hidden_on_the_target_is_not_shown(lim: Api, api: Api, kids, parents):
    one = lim.get(f"/data/kids/{kids['KA']['id']}")
    assert one.status_code == 200
    assert one.get_json()["pNone"] == {"id": parents["PA"]["id"], "label": "PA", "kind": "a"}  # kind is visible
    listed = lim.get("/data/kids?_sortField=name&_sortType=asc")
    assert listed.get_json()["items"][0]["pNone"] == {"id": parents["PA"]["id"], "label": "PA", "kind": "a"}
    _no_code(one)
    _no_code(listed)
    assert api.get(f"/data/kids/{kids['KA']['id']}").get_json()["pNone"]["code"] == CODE  # still stored


def test_writes_answer_without_the_hidden_copied_field(lim: Api, api: Api, parents):
    made = lim.post("/data/kids", json={"name": "New", "pNone": parents["PA"]["id"]})
    assert made.status_code == 200, made.get_json()
    assert "code" not in made.get_json()["pNone"]
    changed = lim.put(f"/data/kids/{made.get_json()['id']}", json={"name": "Renamed"})
    assert changed.status_code == 200 and "code" not in changed.get_json()["pNone"]
    assert api.get(f"/data/kids/{made.get_json()['id']}").get_json()["pNone"]["code"] == CODE


@pytest.mark.parametrize("query", [f"pNone.code={CODE}", "_sortField=pNone.code", "_fields=name,pNone.code",
                                   f"_query=filter('pNone.code','{CODE}')"])
def test_querying_by_a_hidden_copied_field_is_forbidden(lim: Api, api: Api, kids, query: str):
    response = lim.get(f"/data/kids?{query}")
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["code"] == "forbidden"
    assert api.get(f"/data/kids?{query}").status_code in (200, 400)  # a developer is not refused
    assert lim.get("/data/kids?pNone.kind=a").get_json()["total"] == 2  # a visible copied field is fine


@pytest.mark.parametrize("body", [[{"group": {"by": "pNone.code", "n": "count()"}}],
                                  [{"match": {"pNone.code": CODE}}], [{"sort": {"pNone.code": "asc"}}],
                                  [{"group": {"by": "pNone.kind", "codes": "max(pNone.code)"}}]])
def test_aggregating_over_a_hidden_copied_field_is_forbidden(lim: Api, api: Api, kids, body: list[Any]):
    response = lim.put("/data/kids/aggregate", json=body)
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["code"] == "forbidden"
    assert api.put("/data/kids/aggregate", json=body).status_code == 200


def test_aggregates_over_visible_fields_do_not_show_the_hidden_copied_field(lim: Api, kids):
    grouped = lim.put("/data/kids/aggregate", json=[{"group": {"by": "pNone.kind", "n": "count()"}}])
    assert grouped.status_code == 200, grouped.get_json()
    assert sorted((r["pNone.kind"], r["n"]) for r in grouped.get_json()["items"]) == [("a", 2), ("b", 1)]
    rows = lim.put("/data/kids/aggregate", json=[{"match": {"name": "KA"}}])
    assert rows.status_code == 200, rows.get_json()
    _no_code(rows)
    by_relationship = lim.put("/data/kids/aggregate", json=[{"group": {"by": "pNone", "n": "count()"}}])
    assert by_relationship.status_code == 200, by_relationship.get_json()
    _no_code(by_relationship)


def test_fetched_related_records_show_neither_hidden_nor_copied_hidden_fields(lim: Api, kids, parents):
    listed = lim.get("/data/kids?_relationshipsToFetch=pNone&_sortField=name").get_json()["items"]
    by_name = {k["name"]: k["pNone"] for k in listed}
    assert by_name["KA"]["name"] == "PA" and by_name["KA"]["kind"] == "a"
    assert "code" not in by_name["KA"] and "secret" not in by_name["KA"]
    assert set(by_name["KB"]) == {"id", "label", "kind"}  # PB is not accessible: not fetched
    one = lim.get(f"/data/kids/{kids['KA']['id']}?_relationshipsToFetch=pNone")
    assert one.get_json()["pNone"]["name"] == "PA"
    _no_code(one)


def test_history_of_the_referring_records_hides_the_copied_field(lim: Api, api: Api, kids):
    api.put(f"/data/kids/{kids['KA']['id']}", json={"name": "KA renamed"})
    record = lim.get(f"/data/kids/{kids['KA']['id']}/history")
    assert record.status_code == 200, record.get_json()
    assert record.get_json()["items"] and all(
        "code" not in ((i.get("newRecord") or {}).get("pNone") or {}) for i in record.get_json()["items"])
    _no_code(record)
    listing = lim.get("/data/kids/history")
    assert listing.status_code == 200 and listing.get_json()["total"] >= 4
    _no_code(listing)
    assert CODE in api.get(f"/data/kids/{kids['KA']['id']}/history").get_data(as_text=True)


def test_a_change_of_the_relationship_hides_the_copied_field_in_json_and_text(lim: Api, api: Api, kids, parents):
    assert api.put(f"/data/kids/{kids['KA']['id']}", json={"pNone": parents["PA2"]["id"]}).status_code == 200
    entry = lim.get(f"/data/kids/{kids['KA']['id']}/history?_size=1").get_json()["items"][0]
    assert entry["eventType"] == "USER_RECORD_CHANGED"
    assert entry["oldRecord"]["pNone"]["json"] == {"id": parents["PA"]["id"], "label": "PA", "kind": "a"}
    assert entry["newRecord"]["pNone"]["json"] == {"id": parents["PA2"]["id"], "label": "PA2", "kind": "a"}
    assert "another" not in entry["newRecord"]["pNone"]["text"] and "PA2" in entry["newRecord"]["pNone"]["text"]
    _no_code(lim.get(f"/data/kids/{kids['KA']['id']}/history"))


def test_first_of_a_relationship_hides_the_copied_field_and_filters_by_it_are_refused(lim: Api, kids, parents):
    picked = lim.put("/data/kids/aggregate", json=[{"match": {"name": "KA"}},
                                                   {"group": {"by": "name", "n": "first(pNone)"}},
                                                   {"group": {"by": "n", "again": "last(n)"}}])
    assert picked.status_code == 200, picked.get_json()
    assert picked.get_json()["items"][0]["again"] == {"id": parents["PA"]["id"], "label": "PA", "kind": "a"}
    _no_code(picked)
    for probe in ('{"code": "quokkacode"}', '{"kind": "a", "code": "quokkacode"}'):
        assert lim.get("/data/kids", query_string={"pNone": probe}).status_code == 403
        assert lim.get("/data/kids", query_string={"_query": f"filter('pNone','{probe}')"}).status_code == 403
    assert lim.put("/data/kids/aggregate", json=[{"match": {"pNone": {"code": CODE}}}]).status_code == 403
    assert lim.get("/data/kids", query_string={"pNone": '{"kind": "a"}'}).status_code == 200


def _export(user: Api, query: str = "") -> list[list[str]]:
    response = user.put(f"/data/kids/export{query}")
    assert response.status_code == 200, response.get_json()
    job = wait_for_job(user, response.get_json()["jobId"])
    assert job["status"] == "FINISHED", job
    return list(csv.reader(io.StringIO(user.get(f"/files/{job['results']['fileId']}").get_data(as_text=True))))


def test_export_hides_copied_and_related_fields_the_caller_may_not_see(lim: Api, api: Api, kids):
    rows = _export(lim)
    assert len(rows) == 4 and CODE not in str(rows)
    related = _export(lim, "?_fields=name,pNone.name")
    names = {r[0]: r[-1] for r in related[1:]}
    assert names["KA"] == "PA" and names["KB"] == ""  # PB is not accessible: its name is not exported
    for hidden in ("pNone.secret", "pNone.code"):
        assert lim.put(f"/data/kids/export?_fields=name,{hidden}").status_code == 403
    assert SECRET in str(_export(api, "?_fields=name,pNone.secret"))  # a developer exports everything


def test_a_target_entity_closed_to_the_caller_shows_none_of_its_copied_fields(app: Flask, api: Api, kids):
    """No group of the caller has any permission on parents: no field of parents is visible, copied ones neither."""
    rules = lim_rules({})
    del rules["entities"]["parents"]
    add_named_group(api, "kidsOnly", rules)
    user = user_in_group(app, api, "kidsonly@example.com", "kidsOnly")
    shown = user.get(f"/data/kids/{kids['KA']['id']}").get_json()["pNone"]
    assert set(shown) == {"id", "label"}
    assert user.get("/data/kids?pNone.kind=a").status_code == 403


# --- writing a relationship by label or id ----------------------------------------------------------------


def _errors(response: Any) -> list[tuple[str, str, Any]]:
    assert response.status_code == 400, response.get_json()
    return [(e["field"], e["message"], (e.get("additionalInfo") or {}).get("rejectedValue"))
            for e in response.get_json()["errors"]]


@pytest.mark.parametrize("ref", ["PB", {"label": "PB"}])
def test_a_label_of_an_inaccessible_record_is_answered_like_an_unknown_label(lim: Api, api: Api, parents, ref):
    refused = lim.post("/data/kids", json={"name": "x", "pNone": ref})
    assert _errors(refused) == [("pNone", "No record in 'parents' has label 'PB'", "PB")]
    assert parents["PB"]["id"] not in refused.get_data(as_text=True)
    unknown = lim.post("/data/kids", json={"name": "x", "pNone": {"label": "Nobody"}})
    assert _errors(unknown) == [("pNone", "No record in 'parents' has label 'Nobody'", "Nobody")]
    assert api.get("/data/kids").get_json()["total"] == 0  # nothing written


def test_an_id_of_an_inaccessible_record_is_answered_like_an_unknown_id(lim: Api, api: Api, parents):
    pb, ghost = parents["PB"]["id"], str(ObjectId())
    assert _errors(lim.post("/data/kids", json={"name": "x", "pNone": pb})) == [
        ("pNone", f"Record '{pb}' does not exist in 'parents'", pb)]
    assert _errors(lim.post("/data/kids", json={"name": "x", "pNone": {"id": ghost}})) == [
        ("pNone", f"Record '{ghost}' does not exist in 'parents'", ghost)]
    assert api.get("/data/kids").get_json()["total"] == 0


def test_a_label_resolves_among_the_accessible_records_only(lim: Api, api: Api, parents):
    made = lim.post("/data/kids", json={"name": "x", "pNone": "Dup"})
    assert made.status_code == 200, made.get_json()
    assert made.get_json()["pNone"]["id"] == parents["DupA"]["id"]
    assert parents["DupB"]["id"] not in made.get_data(as_text=True)
    assert api.get(f"/data/kids/{made.get_json()['id']}").get_json()["pNone"]["id"] == parents["DupA"]["id"]
    ambiguous = api.post("/data/kids", json={"name": "y", "pNone": "Dup"})  # a developer sees both
    assert _errors(ambiguous) == [("pNone", "More than one record in 'parents' has label 'Dup'", "Dup")]


def test_an_update_by_label_follows_the_same_rule_and_a_kept_link_stays_writable(lim: Api, api: Api, kids, parents):
    ka, kb = kids["KA"]["id"], kids["KB"]["id"]
    refused = lim.put(f"/data/kids/{ka}", json={"pNone": "PB"})
    assert _errors(refused) == [("pNone", "No record in 'parents' has label 'PB'", "PB")]
    assert api.get(f"/data/kids/{ka}").get_json()["pNone"]["id"] == parents["PA"]["id"]
    moved = lim.put(f"/data/kids/{ka}", json={"pNone": "Dup"})
    assert moved.status_code == 200 and moved.get_json()["pNone"]["id"] == parents["DupA"]["id"]
    # KB already points at PB (set by a developer): sending the record back as read keeps working
    shown = lim.get(f"/data/kids/{kb}").get_json()
    kept = lim.put(f"/data/kids/{kb}", json={"name": "KB2", "pNone": shown["pNone"]})
    assert kept.status_code == 200, kept.get_json()
    assert api.get(f"/data/kids/{kb}").get_json()["pNone"]["id"] == parents["PB"]["id"]


def test_an_action_parameter_resolves_a_relationship_among_the_accessible_records_only(lim: Api, api: Api, kids,
                                                                                        parents):
    """An action's relationship parameter is resolved as a record field is: a hidden record is answered like an
    unknown one (by label and by id), and an accessible one is used."""
    relink = {**KIDS, "actions": [{"name": "relink", "label": "Relink", "type": "oneRecord",
                                   "parameters": [{"name": "to", "type": "relationship", "required": True,
                                                   "typeRules": {"entity": "parents"}}],
                                   "update": {"pNone": {"param": "to"}}}]}
    assert api.put("/metadata/entities/kids", json=relink).status_code == 200
    add_named_group(api, "limActions", {"entities": {"kids": {"access": "always", "actions": {"relink": "always"}}}})
    api.put("/users/lim@example.com/addGroup", json={"name": "limActions", "primary": False})
    ka, pb = kids["KA"]["id"], parents["PB"]["id"]
    assert _errors(lim.put(f"/data/kids/{ka}/relink", json={"to": "PB"})) == [
        ("to", "No record in 'parents' has label 'PB'", "PB")]
    assert _errors(lim.put(f"/data/kids/{ka}/relink", json={"to": pb})) == [
        ("to", f"Record '{pb}' does not exist in 'parents'", pb)]
    assert api.get(f"/data/kids/{ka}").get_json()["pNone"]["id"] == parents["PA"]["id"]  # unchanged
    moved = lim.put(f"/data/kids/{ka}/relink", json={"to": "PA2"})
    assert moved.status_code == 200, moved.get_json()
    assert api.get(f"/data/kids/{ka}").get_json()["pNone"]["id"] == parents["PA2"]["id"]
    assert api.put(f"/data/kids/{ka}/relink", json={"to": "PB"}).status_code == 200  # a developer sees all


# --- writing a relationship by lookup fields, and its filter ---------------------------------------------------


def test_a_lookup_finds_only_accessible_records_and_never_by_a_hidden_field(lim: Api, api: Api, parents):
    for hidden in ("code", "secret"):  # answered exactly as a field that does not exist
        assert _errors(lim.post("/data/kids", json={"name": "x", "pNone": {hidden: CODE}})) == [
            ("pNone", f"'{hidden}' is not a field of 'parents'", hidden)]
    assert _errors(lim.post("/data/kids", json={"name": "x", "pNone": {"ghost": CODE}})) == [
        ("pNone", "'ghost' is not a field of 'parents'", "ghost")]
    assert _errors(lim.post("/data/kids", json={"name": "x", "pNone": {"kind": "b"}})) == [
        ("pNone", "No record in 'parents' has kind 'b'", "b")]  # PB and DupB are not accessible
    assert _errors(lim.post("/data/kids", json={"name": "x", "pNone": {"kind": "a"}})) == [
        ("pNone", "More than one record in 'parents' has kind 'a'", "a")]
    made = lim.post("/data/kids", json={"name": "x", "pNone": {"name": "Dup"}})
    assert made.status_code == 200, made.get_json()
    assert made.get_json()["pNone"]["id"] == parents["DupA"]["id"]
    assert api.get("/data/kids").get_json()["total"] == 1
    by_code = api.post("/data/kids", json={"name": "y", "pNone": {"code": "another"}})  # a developer sees code
    assert by_code.status_code == 200 and by_code.get_json()["pNone"]["id"] == parents["PA2"]["id"]


def test_a_filtered_relationship_answers_an_inaccessible_record_as_one_that_does_not_exist(lim: Api, api: Api,
                                                                                            parents):
    filtered = {**KIDS, "fields": [KIDS["fields"][0], {**KIDS["fields"][1], "typeRules": {
        **KIDS["fields"][1]["typeRules"], "filter": {"name": ["PA", "PB"]}}}]}
    assert api.put("/metadata/entities/kids", json=filtered).status_code == 200
    pa, pa2, pb = (parents[k]["id"] for k in ("PA", "PA2", "PB"))
    made = lim.post("/data/kids", json={"name": "x", "pNone": pa})
    assert made.status_code == 200, made.get_json()
    for ref in (pa2, "PA2"):  # accessible, but not within the filter
        assert _errors(lim.post("/data/kids", json={"name": "x", "pNone": ref})) == [
            ("pNone", f"Record '{pa2}' in 'parents' does not meet the filter of this field", pa2)]
    assert _errors(lim.post("/data/kids", json={"name": "x", "pNone": pb})) == [  # within it, but not accessible
        ("pNone", f"Record '{pb}' does not exist in 'parents'", pb)]
    assert _errors(lim.post("/data/kids", json={"name": "x", "pNone": "PB"})) == [
        ("pNone", "No record in 'parents' has label 'PB'", "PB")]
    assert api.post("/data/kids", json={"name": "y", "pNone": pb}).status_code == 200


def test_an_import_finds_related_records_among_the_accessible_ones_only(lim: Api, api: Api, parents):
    """A related column (``pNone.name``) finds the parent as a label written by the user would: a hidden
    parent is neither linked nor named in the row's error; an accessible one is linked."""
    from tests.entities.test_import_export import run_import

    add_named_group(api, "limImport", {"entities": {"kids": {"access": "always", "create": "always",
                                                             "import": True}}})
    api.put("/users/lim@example.com/addGroup", json={"name": "limImport", "primary": False})
    job = run_import(lim, "kids", "name,pNone.name\nk1,PB\nk2,PA\n")
    assert job["results"]["rowsImported"] == 1 and job["results"]["rowsWithErrors"] == 1, job
    assert parents["PB"]["id"] not in str(job["results"])
    kids = {k["name"]: k for k in api.get("/data/kids").get_json()["items"]}
    assert set(kids) == {"k2"} and kids["k2"]["pNone"]["id"] == parents["PA"]["id"]
    assert api.get("/data/parents?name=PB").get_json()["total"] == 1  # not touched, no second PB
