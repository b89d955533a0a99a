"""Metadata changes that move stored data: rename, type change, one↔many, removed and new fields, unique,
record label, nested groups; dry run; conversion errors; the REFACTORING job and its history."""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import Api, create, wait_for_job

ITEMS = {"name": "items", "recordLabel": "#{code}", "history": True, "fields": [
    {"name": "code", "type": "text", "required": True},
    {"name": "taxId", "type": "text"},
    {"name": "rating", "type": "text"},
    {"name": "wood", "type": "text"},
    {"name": "sizes", "type": "integer", "multiplicity": "many"},
    {"name": "obsolete", "type": "text"},
    {"name": "info", "type": "nestedFields", "nestedFields": [{"name": "note", "type": "text"}]},
    {"name": "parts", "type": "nestedFields", "multiplicity": "many",
     "nestedFields": [{"name": "zip", "type": "text"}, {"name": "weight", "type": "text"}]},
]}


def setup(api: Api) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    assert api.put("/metadata/entities/items", json=ITEMS).status_code == 200
    records = [
        create(api, "items", {"code": "A", "taxId": "T-1", "rating": "2.8", "wood": "Oak", "sizes": [4],
                              "obsolete": "x", "info": {"note": "n1"},
                              "parts": [{"zip": "1", "weight": "1.5"}, {"zip": "2", "weight": "3"}]}),
        create(api, "items", {"code": "B", "taxId": "T-2", "rating": "1", "wood": "Elm", "sizes": [],
                              "parts": [{"zip": "3", "weight": "0.25"}]}),
    ]
    return api.get("/metadata/entities/items").get_json(), records


def field(defn: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in defn["fields"] if f["name"] == name)


def change(api: Api, defn: dict[str, Any], query: str = "") -> Any:
    response = api.put(f"/metadata/entities/items{query}", json=defn)
    if response.status_code == 200 and "refactoring" in response.get_json():
        job = wait_for_job(api, response.get_json()["refactoring"]["jobId"])
        assert job["status"] == "FINISHED" and not job["hasErrors"], job
    return response


def item(api: Api, code: str) -> dict[str, Any]:
    items = api.get(f"/data/items?code={code}").get_json()["items"]
    assert len(items) == 1
    return items[0]


def test_fields_get_stable_ids_kept_across_edits(api: Api):
    defn, _ = setup(api)
    ids = {f["name"]: f["id"] for f in defn["fields"]}
    assert all(ids.values()) and len(set(ids.values())) == len(ids)
    again = api.put("/metadata/entities/items", json=ITEMS).get_json()  # a body without ids keeps them
    assert {f["name"]: f["id"] for f in again["fields"]} == ids and again["version"] == defn["version"]
    nested = field(again, "parts")["nestedFields"]
    assert all(f["id"] for f in nested)


def test_rename_by_renamed_from_and_by_id_moves_values(api: Api):
    defn, _ = setup(api)
    body = copy.deepcopy(defn)
    f = field(body, "taxId")
    f.pop("id")
    f.update(name="taxNumber", renamedFrom="taxId")
    response = change(api, body)
    assert response.status_code == 200, response.get_json()
    assert [c["kind"] for c in response.get_json()["refactoring"]["changes"]] == ["rename"]
    assert "renamedFrom" not in field(response.get_json(), "taxNumber")
    a = item(api, "A")
    assert a["taxNumber"] == "T-1" and "taxId" not in a
    assert [i["code"] for i in api.get("/data/items?taxNumber=T-2").get_json()["items"]] == ["B"]
    body = copy.deepcopy(response.get_json())
    body.pop("refactoring")
    field(body, "taxNumber")["name"] = "vat"  # the id tells it is the same field
    assert change(api, body).status_code == 200
    assert item(api, "B")["vat"] == "T-2"


def test_type_changes_convert_with_the_new_type(api: Api):
    defn, _ = setup(api)
    field(defn, "rating").update(type="decimal")
    field(defn, "sizes").update(type="text")
    assert change(api, defn).status_code == 200
    a = item(api, "A")
    assert a["rating"] == 2.8 and a["sizes"] == ["4"]
    assert [i["code"] for i in api.get("/data/items?rating=greater(2)").get_json()["items"]] == ["A"]
    field(defn, "rating").update(type="text")
    assert change(api, defn).status_code == 200
    assert item(api, "A")["rating"] == "2.8" and item(api, "B")["rating"] == "1"


def test_text_to_choice_matches_option_names_in_any_case_then_labels(api: Api):
    """As CSV import reads a choice: "Oak" is the option named "oak", "Elm" the one labelled "Elm"."""
    defn, _ = setup(api)
    field(defn, "wood").update(type="choice", typeRules={"possibleValues": [
        {"name": "oak", "label": "Oak tree"}, {"name": "elmwood", "label": "Elm"}]})
    response = change(api, defn)
    assert response.status_code == 200, response.get_json()
    assert (item(api, "A")["wood"], item(api, "B")["wood"]) == ("oak", "elmwood")


def test_one_to_many_and_back(api: Api):
    defn, records = setup(api)
    field(defn, "wood")["multiplicity"] = "many"
    assert change(api, defn).status_code == 200
    assert item(api, "A")["wood"] == ["Oak"]
    field(defn, "wood")["multiplicity"] = "one"
    assert change(api, defn).status_code == 200
    assert item(api, "A")["wood"] == "Oak"
    field(defn, "parts")["multiplicity"] = "one"  # A has two parts: cannot become one
    refused = change(api, defn)
    assert refused.status_code == 400, refused.get_json()
    body = refused.get_json()
    assert body["code"] == "conversionErrors" and body["conversionErrorsCount"] == 1
    assert body["errors"][0]["field"] == "parts"
    assert body["errors"][0]["additionalInfo"]["recordId"] == records[0]["id"]
    assert len(body["errors"][0]["additionalInfo"]["oldValue"]) == 2
    assert isinstance(item(api, "A")["parts"], list)  # nothing changed
    forced = api.put("/metadata/entities/items?_onConversionError=null", json=defn)
    assert forced.status_code == 200
    job = wait_for_job(api, forced.get_json()["refactoring"]["jobId"])
    assert item(api, "A")["parts"] is None and item(api, "B")["parts"]["zip"] == "3"
    logs = api.get(f"/status/jobs/{job['id']}/logs").get_json()
    assert any("could not be converted" in entry["message"] for entry in logs["items"])


def test_conversion_errors_are_listed_and_refuse_the_change(api: Api):
    defn, records = setup(api)
    field(defn, "taxId")["type"] = "integer"
    before = api.get("/metadata/entities/items").get_json()["version"]
    response = change(api, defn)
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert {(e["additionalInfo"]["recordId"], e["field"], e["additionalInfo"]["oldValue"]) for e in errors} == {
        (records[0]["id"], "taxId", "T-1"), (records[1]["id"], "taxId", "T-2")}
    assert all(e["code"] == "conversion" and e["message"] for e in errors)
    assert api.get("/metadata/entities/items").get_json()["version"] == before
    assert item(api, "A")["taxId"] == "T-1"
    assert change(api, defn, "?_onConversionError=maybe").status_code == 400


def test_removed_field_is_unset_and_new_field_gets_its_default(api: Api):
    defn, _ = setup(api)
    defn["fields"] = [f for f in defn["fields"] if f["name"] != "obsolete"]
    defn["fields"].append({"name": "stock", "type": "integer", "defaultValue": 5})
    assert change(api, defn).status_code == 200
    assert item(api, "A")["stock"] == 5 and "obsolete" not in item(api, "A")
    defn["fields"].append({"name": "obsolete", "type": "text"})  # a new field with an old name starts empty
    assert change(api, defn).status_code == 200
    assert item(api, "A")["obsolete"] is None


def test_new_unique_rule_with_duplicates_is_refused(api: Api):
    defn, records = setup(api)
    create(api, "items", {"code": "C", "wood": "Oak"})
    field(defn, "wood")["unique"] = True
    response = change(api, defn)
    assert response.status_code == 400
    dup = response.get_json()["errors"][0]
    assert dup["field"] == "wood" and dup["code"] == "duplicate" and len(dup["additionalInfo"]["recordIds"]) == 2
    assert records[0]["id"] in dup["additionalInfo"]["recordIds"]
    field(defn, "code")["unique"] = True
    field(defn, "wood")["unique"] = False
    assert change(api, defn).status_code == 200


def test_a_field_that_is_no_longer_unique_takes_equal_values(app, api: Api):
    defn, _ = setup(api)
    field(defn, "taxId")["unique"] = True
    assert change(api, defn).status_code == 200
    assert api.post("/data/items", json={"code": "C", "taxId": "T-1"}).status_code == 400  # the unique rule
    field(defn, "taxId")["unique"] = False
    assert change(api, defn).status_code == 200
    assert api.post("/data/items", json={"code": "C", "taxId": "T-1"}).status_code == 200
    names = app.extensions["runtime"].records.collection("items").index_information()
    assert "unique_taxId" not in names and "idx_taxId" not in names


def test_a_type_change_that_indexes_the_field_another_way_converts_it(api: Api):
    """An indexed text field that becomes a user field is indexed by the user's id under the same index name:
    the old index is replaced, the change is planned and run, and the records read in the new type."""
    defn, records = setup(api)
    field(defn, "wood")["indexable"] = True
    assert change(api, defn).status_code == 200
    field(defn, "wood")["type"] = "user"
    response = change(api, defn, "?_onConversionError=null")
    assert response.status_code == 200, response.get_json()
    assert "refactoring" in response.get_json()
    assert item(api, "A")["wood"] is None and item(api, "B")["wood"] is None
    assert api.get(f"/data/items/{records[0]['id']}").status_code == 200
    export = api.put("/data/items/export")
    assert wait_for_job(api, export.get_json()["jobId"])["status"] == "FINISHED"


def test_changed_record_label_recomputes_labels(api: Api):
    defn, _ = setup(api)
    defn["recordLabel"] = "#{code} (#{wood})"
    assert change(api, defn).status_code == 200
    assert item(api, "A")["label"] == "A (Oak)"
    assert [i["code"] for i in api.get("/data/items?label=B (Elm)").get_json()["items"]] == ["B"]


def test_nested_fields_rename_and_convert(api: Api):
    defn, _ = setup(api)
    inner = field(defn, "parts")["nestedFields"]
    inner[0]["name"] = "postcode"
    inner[1]["type"] = "decimal"
    field(defn, "info")["nestedFields"][0].update(name="remark")
    assert change(api, defn).status_code == 200
    a = item(api, "A")
    assert [(p["postcode"], p["weight"]) for p in a["parts"]] == [("1", 1.5), ("2", 3)]
    assert a["info"]["remark"] == "n1" and all(p["id"] and p["label"] for p in a["parts"])
    assert [i["code"] for i in api.get("/data/items?parts.weight=less(1)").get_json()["items"]] == ["B"]


def test_dry_run_returns_the_plan_and_changes_nothing(api: Api):
    defn, records = setup(api)
    body = copy.deepcopy(defn)
    f = field(body, "taxId")
    f.pop("id")
    f.update(name="taxNumber", renamedFrom="taxId")
    field(body, "rating")["type"] = "integer"
    response = api.put("/metadata/entities/items?_dryRun=true", json=body)
    assert response.status_code == 200
    plan = response.get_json()
    kinds = {(c["kind"], c["field"]): c["recordsAffected"] for c in plan["changes"]}
    assert kinds == {("rename", "taxNumber"): 2, ("convert", "rating"): 2}
    assert plan["conversionErrorsCount"] == 1
    error = plan["conversionErrors"][0]
    assert (error["recordId"], error["field"], error["oldValue"]) == (records[0]["id"], "rating", "2.8")
    assert "integer" in error["reason"]
    assert api.get("/metadata/entities/items").get_json()["version"] == defn["version"]
    assert item(api, "A")["taxId"] == "T-1"
    assert api.get("/status/jobs?type=REFACTORING").get_json()["total"] == 0


def test_unsupported_changes_are_400(api: Api):
    defn, _ = setup(api)
    field(defn, "wood")["type"] = "nestedFields"
    field(defn, "wood")["nestedFields"] = [{"name": "x", "type": "text"}]
    response = change(api, defn)
    assert response.status_code == 400 and response.get_json()["errors"][0]["field"] == "wood"


def test_each_converted_record_gets_one_refactoring_history_entry(api: Api):
    defn, records = setup(api)
    field(defn, "rating")["type"] = "decimal"
    assert change(api, defn).status_code == 200
    history = api.get(f"/data/items/{records[0]['id']}/history").get_json()["items"]
    assert [h["eventType"] for h in history].count("SYSTEM_REFACTORING") == 1


def test_a_refactoring_history_entry_records_the_old_names_and_values_and_the_converted_ones(api: Api):
    """§4.3: a change entry holds the modified fields; a refactoring's holds what it changed in the record."""
    defn, records = setup(api)
    field(defn, "rating")["type"] = "decimal"
    field(defn, "sizes")["type"] = "text"
    field(defn, "wood")["multiplicity"] = "many"
    field(defn, "taxId").update(name="taxNumber")
    field(defn, "parts")["multiplicity"] = "one"  # A has two parts: nulled by _onConversionError=null
    defn["fields"] = [f for f in defn["fields"] if f["name"] != "obsolete"]
    assert change(api, defn, "?_onConversionError=null").status_code == 200
    history = api.get(f"/data/items/{records[0]['id']}/history").get_json()["items"]
    entry = next(h for h in history if h["eventType"] == "SYSTEM_REFACTORING")
    old = {name: value["json"] for name, value in entry["oldRecord"].items()}
    new = {name: value["json"] for name, value in entry["newRecord"].items()}
    assert old == {"rating": "2.8", "sizes": [4], "wood": "Oak", "taxId": "T-1", "taxNumber": None,
                   "obsolete": "x", "parts": records[0]["parts"]}
    assert new == {"rating": 2.8, "sizes": ["4"], "wood": ["Oak"], "taxId": None, "taxNumber": "T-1",
                   "obsolete": None, "parts": None}
    assert entry["oldRecord"]["taxId"]["text"] and entry["entityVersion"] == defn["version"] + 1


def test_writes_and_reads_during_a_refactoring(monkeypatch):
    """Reads never show unconverted values; user writes made while the job runs are all kept; each record is
    converted once (by the job, or by the user write that reached it first)."""
    from core.context import WriteContext
    from core.storage import drop_embedded
    from tests.conftest import login, make_app

    monkeypatch.setenv("JOBS_BATCH_SIZE", "10")
    app = make_app()
    try:
        api = login(app)
        defn, _ = setup(api)
        svc = app.extensions["runtime"]
        items = svc.registry.get("items")
        ids = [str(svc.records.create(items, {"code": f"C{i}", "rating": f"{i}.5", "taxId": "t"},
                                      WriteContext(user_email="seed"))["_id"]) for i in range(300)]
        f = field(defn, "taxId")
        f.update(name="taxNumber")
        field(defn, "rating")["type"] = "decimal"
        started = api.put("/metadata/entities/items", json=defn)
        assert started.status_code == 200, started.get_json()
        job_id = started.get_json()["refactoring"]["jobId"]
        for i, rid in enumerate(reversed(ids)):
            assert api.put(f"/data/items/{rid}", json={"taxNumber": f"user-{i}"}).status_code == 200
            if i % 50 == 0:
                for rec in api.get("/data/items?_size=1000").get_json()["items"]:
                    assert rec["rating"] is None or isinstance(rec["rating"], int | float), rec
                    assert "taxId" not in rec
        assert wait_for_job(api, job_id)["status"] == "FINISHED"
        by_id = {r["id"]: r for r in api.get("/data/items?_size=1000").get_json()["items"]}
        for i, rid in enumerate(reversed(ids)):
            assert by_id[rid]["taxNumber"] == f"user-{i}"
            assert by_id[rid]["rating"] == int(by_id[rid]["code"][1:]) + 0.5
        history = svc.history.col
        per_record = {}
        for h in history.find({"entityName": "items", "eventType": "SYSTEM_REFACTORING"}):
            per_record[h["recordId"]] = per_record.get(h["recordId"], 0) + 1
        assert all(n == 1 for n in per_record.values())
        assert len(per_record) == len(ids) + 2  # the job's entry, or the one of the write that converted it
        for rid in ids:  # whoever converted it, its trail reads in order and keeps the old name and value
            trail = list(history.find({"recordId": rid}).sort("_id", 1))
            assert [h["eventType"] for h in trail][1:] == ["SYSTEM_REFACTORING", "USER_RECORD_CHANGED"], trail
            assert trail[1]["oldRecord"]["taxId"]["json"] == "t" and trail[1]["newRecord"]["taxNumber"]["json"] == "t"
        assert svc.registry.get("items").pending == []
    finally:
        drop_embedded(app.config["RUNTIME"].mongodb_db)
