"""CSV import (``POST /data/{entity}/import``) and export (``PUT /data/{entity}/export``), through HTTP."""

from __future__ import annotations

import copy
import csv
import io
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from flask import Flask

from core.storage import drop_embedded
from entities.transfer import exporter
from entities.transfer.importer import RowImporter
from tests.conftest import Api, company, create, login, make_app
from tests.conftest import wait_for_job as wait_for

GADGET_FIELDS = [
    {"name": "code", "label": "Code", "type": "text", "unique": True, "required": True},
    {"name": "notes", "label": "Notes", "type": "longText"},
    {"name": "body", "label": "Body", "type": "html"},
    {"name": "email", "label": "Email", "type": "email"},
    {"name": "site", "label": "Site", "type": "url"},
    {"name": "phone", "label": "Phone", "type": "phone"},
    {"name": "count", "label": "Count", "type": "integer"},
    {"name": "price", "label": "Price", "type": "money"},
    {"name": "ratio", "label": "Ratio", "type": "decimal"},
    {"name": "share", "label": "Share", "type": "percentage"},
    {"name": "active", "label": "Active", "type": "boolean"},
    {"name": "day", "label": "Day", "type": "date"},
    {"name": "at", "label": "At", "type": "dateTime"},
    {"name": "opens", "label": "Opens", "type": "time"},
    {"name": "size", "label": "Size", "type": "choice",
     "typeRules": {"possibleValues": [{"name": "s", "label": "Small"}, {"name": "l", "label": "Large"}]}},
    {"name": "color", "label": "Color", "type": "color"},
    {"name": "maker", "label": "Maker", "type": "relationship", "typeRules": {"entity": "companies"}},
    {"name": "tags", "label": "Tags", "type": "text", "multiplicity": "many"},
    {"name": "spec", "label": "Spec", "type": "nestedFields",
     "nestedFields": [{"name": "weight", "label": "Weight", "type": "decimal"},
                      {"name": "unit", "label": "Unit", "type": "text"}]},
    {"name": "parts", "label": "Parts", "type": "nestedFields", "multiplicity": "many",
     "nestedFields": [{"name": "partName", "label": "Part name", "type": "text"},
                      {"name": "qty", "label": "Qty", "type": "integer"}]},
    {"name": "manual", "label": "Manual", "type": "file"},
    {"name": "created", "label": "Created", "type": "createdDate"},
    {"name": "modified", "label": "Modified", "type": "modifiedDate"},
    {"name": "summary", "label": "Summary", "type": "text", "calculated": "#{code} x#{count}"},
]
SYSTEM = ("id", "version", "label")
AUTOMATIC = ("created", "modified")


def define(api: Api, name: str, fields: list[dict[str, Any]], history: bool = True) -> None:
    response = api.put(f"/metadata/entities/{name}", json={"name": name, "history": history, "fields": fields})
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def api(app: Flask) -> Api:
    api = login(app)
    define(api, "gadgets", GADGET_FIELDS)
    define(api, "copies", GADGET_FIELDS)
    return api


def upload(api: Api, entity: str, text: str | bytes, query: str = "", **form: str):
    raw = text.encode() if isinstance(text, str) else text
    data: dict[str, Any] = {"file": (io.BytesIO(raw), "data.csv"), **form}
    return api.post(f"/data/{entity}/import{query}", data=data, content_type="multipart/form-data")



def run_import(api: Api, entity: str, text: str, query: str = "", **form: str) -> dict:
    response = upload(api, entity, text, query, **form)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"jobLink", "jobId"} and body["jobLink"] == f"/api/status/jobs/{body['jobId']}"
    return wait_for(api, body["jobId"])


def run_export(api: Api, entity: str, query: str = "") -> tuple[dict, list[list[str]]]:
    response = api.put(f"/data/{entity}/export{'?' + query if query else ''}")
    assert response.status_code == 200, response.get_json()
    job = wait_for(api, response.get_json()["jobId"])
    assert job["status"] == "FINISHED" and job["type"] == "EXPORT_RECORDS", job
    link = job["results"]["fileLink"]
    assert link.endswith(f"/api/files/{job['results']['fileId']}")
    download = api.client.get(urlparse(link).path, headers={"token": api.token})
    assert download.status_code == 200
    return job, list(csv.reader(io.StringIO(download.get_data(as_text=True))))


def items(api: Api, entity: str, query: str = "") -> list[dict]:
    return api.get(f"/data/{entity}?_size=1000&_sortField=id&_sortType=asc{query}").get_json()["items"]


def jobs_total(api: Api) -> int:
    return api.get("/status/jobs").get_json()["total"]


# --- import ------------------------------------------------------------------------------------------

def uploads_kept(app: Flask) -> int:
    return app.extensions["runtime"].store.collection("files.files").count_documents({"metadata.importInto":
                                                                                      {"$exists": True}})


def test_import_the_seed_sample_creates_records(app: Flask, api: Api):
    job = run_import(api, "companies", "name,type\ntest1,a\ntest2,b\ntest3,c\n")
    assert uploads_kept(app) == 0  # the stored upload is removed once imported
    assert job["status"] == "FINISHED" and job["type"] == "IMPORT_RECORDS" and job["hasErrors"] is False
    assert job["results"] == {"rowsImported": 3, "rowsWithErrors": 0}
    assert job["data"]["entityName"] == "companies" and job["data"]["fileName"] == "data.csv"
    assert job["recordsCount"] == 3 and job["recordsProcessed"] == 3 and job["progress"] == 100
    made = items(api, "companies")
    assert [(r["name"], r["type"], r["state"]) for r in made] == [("test1", "a", "active"), ("test2", "b", "active"),
                                                                  ("test3", "c", "active")]


def test_rows_matching_the_first_unique_column_are_updated(api: Api):
    first = create(api, "companies", company(name="test1", type="a"))
    job = run_import(api, "companies", "type,name,numberOfEmployees\nc,test1,\nb,test9,12\n")
    assert job["results"] == {"rowsImported": 2, "rowsWithErrors": 0}
    records = {r["name"]: r for r in items(api, "companies")}
    assert set(records) == {"test1", "test9"}
    updated = records["test1"]
    assert updated["id"] == first["id"] and updated["version"] == 1 and updated["type"] == "c"
    assert updated["numberOfEmployees"] is None  # an empty cell clears the field
    assert updated["homepage"] == first["homepage"]  # columns not in the file are left alone
    assert records["test9"]["numberOfEmployees"] == 12


def test_every_cell_type_is_imported(api: Api):
    acme = create(api, "companies", company(name="Acme"))
    text = (
        "code,notes,body,email,site,phone,count,price,ratio,share,active,day,at,opens,size,color,maker,"
        "tags[0],tags[1],spec.weight,spec.unit,parts[0].partName,parts[0].qty,parts[1].partName,parts[1].qty,"
        "manual,created,summary\n"
        'g1,"line one\nline two",<b>bold</b><script>x()</script>,a@b.io,http://x.io,1-702-845-9380,-42,'
        "27810.0028,3.5,76.25,YES,2016-07-12,2017-01-16T14:53:00.000Z,08:30,large,#F5A9A9,Acme,red,blue,"
        "1.25,kg,bolt,4,,,ignored.txt,2020-01-01T00:00:00.000Z,whatever\n"
    )
    job = run_import(api, "gadgets", text)
    assert job["results"] == {"rowsImported": 1, "rowsWithErrors": 0}, job
    logs = [e["message"] for e in api.get(f"/status/jobs/{job['id']}/logs").get_json()["items"]]
    assert any("'manual'" in m and "'created'" in m and "'summary'" in m for m in logs)
    (record,) = items(api, "gadgets")
    assert record["notes"] == "line one\nline two"
    assert record["body"] == "<b>bold</b>"
    assert (record["email"], record["site"], record["phone"]) == ("a@b.io", "http://x.io", "1-702-845-9380")
    assert (record["count"], record["price"], record["ratio"], record["share"]) == (-42, 27810.0028, 3.5, 76.25)
    assert record["active"] is True
    assert (record["day"], record["at"], record["opens"]) == ("2016-07-12", 1484578380000, "08:30")
    assert (record["size"], record["color"]) == ("l", "#f5a9a9")
    assert record["maker"]["id"] == acme["id"] and record["maker"]["label"] == "Acme"
    assert record["tags"] == ["red", "blue"]
    assert record["spec"]["weight"] == 1.25 and record["spec"]["unit"] == "kg"
    assert [(p["partName"], p["qty"]) for p in record["parts"]] == [("bolt", 4)]  # the empty group is left out
    assert record["manual"] is None and record["summary"] == "g1 x-42"
    assert record["created"] > 1_600_000_000_000  # set by the runtime, not by the file


def test_headers_may_be_labels_and_cells_take_the_documented_variants(api: Api):
    text = "Code,Active,Size,Part name,Parts[0].Qty,At\nv1,no,S,,7,1484578380000\nv2,1,small,,,2017-01-16 14:53\n"
    bad = upload(api, "gadgets", text)
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "Part name"
    job = run_import(api, "gadgets", text.replace("Part name,", "Spec.Unit,"))
    assert job["results"] == {"rowsImported": 2, "rowsWithErrors": 0}, job
    v1, v2 = items(api, "gadgets")
    assert (v1["active"], v1["size"], v1["parts"][0]["qty"], v1["at"]) == (False, "s", 7, 1484578380000)
    assert (v2["active"], v2["size"], v2["parts"], v2["at"]) == (True, "s", [], 1484578380000)


def test_bad_rows_are_reported_with_their_row_number_and_the_others_are_imported(api: Api):
    text = ("firstName,lastName,email,numberOfSkills,birthDate\n"
            "Ann,Lee,ann@x.io,3,1990-01-02\n"
            "Bob,Ray,bob@x.io,many,1990-01-02\n"
            ",Day,day@x.io,1,\n"
            "\n"
            "Cy,Kay,not-an-email,1,31/12/1990\n"
            "Dee,Fox,dee@x.io,2\n"
            "Eve,Orr,eve@x.io,0,\n")
    job = run_import(api, "contacts", text)
    assert job["status"] == "FINISHED" and job["hasErrors"] is True
    assert job["results"]["rowsImported"] == 2 and job["results"]["rowsWithErrors"] == 4
    errors = {k: v for k, v in job["results"]["results"].items()}
    assert set(errors) == {"3", "4", "6", "7"}
    assert errors["3"]["status"] == "error" and errors["3"]["errors"][0]["field"] == "numberOfSkills"
    assert "'many' is not an integer" in errors["3"]["errorMessage"]
    assert errors["4"]["errors"][0] == {"field": "firstName", "fieldLabel": "First name", "code": "required",
                                        "message": "This field is required", "additionalInfo": None}
    assert {e["field"] for e in errors["6"]["errors"]} == {"email", "birthDate"}
    assert "4 cells" in errors["7"]["errorMessage"]
    assert [c["firstName"] for c in items(api, "contacts")] == ["Ann", "Eve"]
    logs = [e["message"] for e in api.get(f"/status/jobs/{job['id']}/logs?_size=100").get_json()["items"]]
    assert any(m.startswith("Row 3 not imported: numberOfSkills") for m in logs)
    assert any(m.startswith("Row 6 not imported") for m in logs)


def test_numbers_that_are_not_finite_or_too_large_are_row_errors(api: Api):
    """Cells no JSON body could carry (NaN, inf, 1e400) and numbers past what a field can store are that row's
    field errors naming the cell's text; the job finishes and imports the other rows."""
    cells = {"2": ("ratio", "NaN"), "3": ("price", "inf"), "4": ("share", "-Infinity"), "5": ("ratio", "1e400"),
             "6": ("ratio", "1" * 400), "7": ("count", "9223372036854775808"), "8": ("count", "1" * 5000)}
    columns = ["count", "ratio", "price", "share"]
    rows = [",".join([f"c{row}"] + [text if c == column else "" for c in columns])
            for row, (column, text) in cells.items()]
    text = "code," + ",".join(columns) + "\n" + "\n".join(rows) + "\nfine,3,1e20,2.5,12\n"
    job = run_import(api, "gadgets", text)
    assert job["status"] == "FINISHED" and job["results"]["rowsImported"] == 1, job
    errors = job["results"]["results"]
    assert set(errors) == set(cells)
    for row, (column, cell) in cells.items():
        error = errors[row]["errors"][0]
        assert error["field"] == column and error["additionalInfo"] == {"rejectedValue": cell}, error
        assert error["message"] in (f"'{cell}' is not a number", f"'{cell}' is out of range"), error
    fine = items(api, "gadgets")[0]
    assert (fine["count"], fine["ratio"], fine["price"], fine["share"]) == (3, 1e20, 2.5, 12)


def test_invalid_fields_are_dropped_when_asked_to_keep_invalid_records(api: Api):
    job = run_import(api, "contacts", "firstName,lastName,numberOfSkills,email\nAnn,Lee,-1,nope\n",
                     query="?skipRecordsWithInvalidFields=false")
    assert job["results"]["rowsImported"] == 1 and job["results"]["rowsWithErrors"] == 0
    assert job["data"]["options"] == {"skipRecordsWithInvalidFields": False}
    (ann,) = items(api, "contacts")
    assert ann["firstName"] == "Ann" and ann["email"] is None and ann["numberOfSkills"] == 0
    assert job["results"]["results"]["2"]["status"] == "ok"
    assert {e["field"] for e in job["results"]["results"]["2"]["errors"]} == {"email", "numberOfSkills"}


def test_import_writes_history_as_the_user_who_ran_it(api: Api):
    run_import(api, "companies", "name,type\nh1,a\n")
    run_import(api, "companies", "name,type\nh1,b\n")
    (record,) = items(api, "companies")
    entries = api.get(f"/data/companies/{record['id']}/history").get_json()["items"]
    assert [e["eventType"] for e in entries] == ["USER_RECORD_CHANGED", "USER_RECORD_CREATED"]
    assert all(e["user"] == "admin@example.com" and e["contextPath"] == "entities.companies.import" for e in entries)
    assert entries[0]["newRecord"]["type"]["json"] == "b"


def test_related_columns_find_update_or_create_the_related_record(api: Api):
    acme = create(api, "companies", company(name="Acme", type="a"))
    text = ("firstName,lastName,company.name,company.type\n"
            "Ann,Lee,Acme,b\n"
            "Bob,Ray,Newco,c\n"
            "Cy,Kay,Newco,c\n"
            "Dee,Fox,Acme,zzz\n")
    job = run_import(api, "contacts", text)
    assert job["results"]["rowsImported"] == 3 and job["results"]["rowsWithErrors"] == 1
    assert job["results"]["results"]["5"]["errors"][0]["field"] == "company.type"
    companies = {c["name"]: c for c in items(api, "companies")}
    assert set(companies) == {"Acme", "Newco"}
    assert companies["Acme"]["type"] == "b" and companies["Acme"]["version"] == 1
    assert companies["Newco"]["type"] == "c" and companies["Newco"]["version"] == 0  # created once, not re-saved
    links = {c["firstName"]: c["company"]["id"] for c in items(api, "contacts")}
    assert links == {"Ann": acme["id"], "Bob": companies["Newco"]["id"], "Cy": companies["Newco"]["id"]}


def test_related_columns_link_a_matched_record_that_had_no_related_record(api: Api):
    """A row matching a stored record by its unique column links the related record its related columns find,
    also when the record pointed at none (the link was taken for an empty group and dropped)."""
    acme = create(api, "companies", company(name="Acme"))
    assert api.put("/metadata/entities/tickets", json={"name": "tickets", "fields": [
        {"name": "key", "type": "text", "unique": True}, {"name": "txt", "type": "text"},
        {"name": "company", "type": "relationship", "typeRules": {"entity": "companies"}},
        {"name": "parent", "type": "relationship", "typeRules": {"entity": "tickets"}}]}).status_code == 200
    create(api, "tickets", {"key": "e1", "txt": "t"})
    job = run_import(api, "tickets", "key,txt,company.name\ne1,changed,Acme\n")
    assert job["results"] == {"rowsImported": 1, "rowsWithErrors": 0}
    (e1,) = items(api, "tickets")
    assert e1["company"] == {"id": acme["id"], "label": acme["label"]} and e1["txt"] == "changed"
    job = run_import(api, "tickets", "key,parent.key\nx,y\ny,x\n")  # y is created by x's row, then updated
    assert job["results"] == {"rowsImported": 2, "rowsWithErrors": 0}
    by_key = {t["key"]: t for t in items(api, "tickets")}
    assert by_key["x"]["parent"]["id"] == by_key["y"]["id"] and by_key["y"]["parent"]["id"] == by_key["x"]["id"]


def test_a_label_column_names_the_related_record_its_related_columns_update(api: Api):
    """``company`` (the label) with ``company.type``: the label finds the record, the related columns update it,
    so an export with both imports back (the related columns alone matched several companies)."""
    acme = create(api, "companies", company(name="Acme", type="c"))
    beta = create(api, "companies", company(name="Beta", type="b"))
    create(api, "companies", company(name="Gamma", type="b"))
    assert api.put("/metadata/entities/tickets", json={"name": "tickets", "fields": [
        {"name": "key", "type": "text", "unique": True},
        {"name": "company", "type": "relationship", "typeRules": {"entity": "companies"}}]}).status_code == 200
    job = run_import(api, "tickets", "key,company,company.type\nt1,Beta,c\nt2,Nobody,a\nt3,Gamma,b\n")
    assert job["results"]["rowsImported"] == 2 and job["results"]["rowsWithErrors"] == 1
    assert "No record in 'companies' has the label 'Nobody'" in job["results"]["results"]["3"]["errorMessage"]
    by_key = {t["key"]: t for t in items(api, "tickets")}
    assert by_key["t1"]["company"]["id"] == beta["id"]
    assert api.get(f"/data/companies/{beta['id']}").get_json()["type"] == "c"
    assert api.get(f"/data/companies/{acme['id']}").get_json()["version"] == 0  # untouched
    _, rows = run_export(api, "tickets", "_useFieldNames=true&_fields=key,company,company.type")
    text = "\n".join(",".join(row) for row in rows) + "\n"
    again = run_import(api, "tickets", text.replace("t1,", "u1,").replace("t3,", "u3,"))
    assert again["results"] == {"rowsImported": 2, "rowsWithErrors": 0}
    by_key = {t["key"]: t for t in items(api, "tickets")}
    assert by_key["u1"]["company"]["id"] == beta["id"] and by_key["u3"]["company"]["label"] == "Gamma"


def test_an_export_by_labels_names_the_columns_whose_label_would_be_read_as_another(api: Api):
    """An import reads field names before labels: a label that is another field's name, or that two columns
    share, is exported as the field's name, so the file imports back into the same fields."""
    assert api.put("/metadata/entities/labelled", json={"name": "labelled", "fields": [
        {"name": "k", "label": "Key", "type": "text", "unique": True}, {"name": "a", "label": "Same", "type": "text"},
        {"name": "b", "label": "same", "type": "text"}, {"name": "c", "label": "a", "type": "text"},
        {"name": "d", "label": "Plain", "type": "text"}]}).status_code == 200
    create(api, "labelled", {"k": "1", "a": "A", "b": "B", "c": "C", "d": "D"})
    _, rows = run_export(api, "labelled")
    assert rows == [["Key", "a", "b", "c", "Plain"], ["1", "A", "B", "C", "D"]]
    job = run_import(api, "labelled", "Key,a,b,c,Plain\n1,A2,B2,C2,D2\n")
    assert job["results"] == {"rowsImported": 1, "rowsWithErrors": 0}
    (record,) = items(api, "labelled")
    assert (record["a"], record["b"], record["c"], record["d"]) == ("A2", "B2", "C2", "D2")


def test_a_long_text_over_a_megabyte_exports_and_imports_back(api: Api):
    assert api.put("/metadata/entities/notes", json={"name": "notes", "fields": [
        {"name": "k", "type": "text", "unique": True}, {"name": "body", "type": "longText"}]}).status_code == 200
    create(api, "notes", {"k": "big", "body": "z" * 1_100_000})
    _, rows = run_export(api, "notes", "_useFieldNames=true")
    assert rows == [["k", "body"], ["big", "z" * 1_100_000]]
    job = run_import(api, "notes", f"k,body\nbig,{'y' * 1_100_000}\n")
    assert job["results"] == {"rowsImported": 1, "rowsWithErrors": 0}
    assert items(api, "notes")[0]["body"] == "y" * 1_100_000


def test_relationship_by_label_column(api: Api):
    acme = create(api, "companies", company(name="Acme"))
    job = run_import(api, "contacts", "firstName,lastName,company\nAnn,Lee,Acme\nBob,Ray,Nobody\n")
    assert job["results"]["rowsImported"] == 1 and job["results"]["rowsWithErrors"] == 1
    assert job["results"]["results"]["3"]["errors"][0]["field"] == "company"
    (ann,) = items(api, "contacts")
    assert ann["company"] == {"id": acme["id"], "label": "Acme"}


def test_updates_merge_nested_groups_by_position(api: Api):
    first = run_import(api, "gadgets", "code,parts[0].partName,parts[0].qty,parts[1].partName\nm1,bolt,4,nut\n")
    assert first["results"]["rowsImported"] == 1
    (before,) = items(api, "gadgets")
    job = run_import(api, "gadgets", "code,parts[0].qty,spec.unit\nm1,9,kg\n")
    assert job["results"] == {"rowsImported": 1, "rowsWithErrors": 0}
    (after,) = items(api, "gadgets")
    assert [(p["partName"], p["qty"]) for p in after["parts"]] == [("bolt", 9)]
    assert after["parts"][0]["id"] == before["parts"][0]["id"] and after["spec"]["unit"] == "kg"


# --- stop / resume -----------------------------------------------------------------------------------

@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setenv("TRANSFER_BATCH_SIZE", "5")
    app = make_app()
    yield app
    drop_embedded(app.config["RUNTIME"].mongodb_db)


class Gate:
    """Holds the import inside row ``code`` until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, code: str):
        self.reached, self.released = threading.Event(), threading.Event()
        original = RowImporter.import_row

        def gated(importer: RowImporter, cells: list[str], new_id: Any, retried: bool = False) -> Any:
            if cells[0] == code and not self.released.is_set():
                self.reached.set()
                assert self.released.wait(20)
            return original(importer, cells, new_id, retried)
        monkeypatch.setattr(RowImporter, "import_row", gated)


NUMBERED = "code,note\n" + "".join(f"n{i},row {i}\n" for i in range(1, 31))


def codes(api: Api) -> list[str]:
    return [r["code"] for r in items(api, "plain")]


def test_stop_then_resume_continues_after_the_checkpoint(small_batches: Flask, monkeypatch: pytest.MonkeyPatch):
    api = login(small_batches)
    define(api, "plain", [{"name": "code", "type": "text"}, {"name": "note", "type": "text"}])
    gate = Gate(monkeypatch, "n12")
    job_id = upload(api, "plain", NUMBERED).get_json()["jobId"]
    assert gate.reached.wait(20)
    assert api.put(f"/status/jobs/{job_id}/stop").get_json()["status"] == "STOPPING"
    gate.released.set()
    stopped = wait_for(api, job_id, ("STOPPED",))
    assert stopped["recordsProcessed"] == 15 and codes(api) == [f"n{i}" for i in range(1, 16)]
    assert api.put(f"/status/jobs/{job_id}/resume").status_code == 200
    done = wait_for(api, job_id, ("FINISHED",))
    assert codes(api) == [f"n{i}" for i in range(1, 31)]  # every row once
    assert done["results"] == {"rowsImported": 30, "rowsWithErrors": 0} and done["recordsProcessed"] == 30


def test_force_stop_inside_a_batch_then_resume_imports_no_row_twice(small_batches: Flask,
                                                                    monkeypatch: pytest.MonkeyPatch):
    api = login(small_batches)
    define(api, "plain", [{"name": "code", "type": "text"}, {"name": "note", "type": "text"}])
    gate = Gate(monkeypatch, "n13")
    job_id = upload(api, "plain", NUMBERED).get_json()["jobId"]
    assert gate.reached.wait(20)
    assert api.put(f"/status/jobs/{job_id}/stop").get_json()["status"] == "STOPPING"
    assert api.put(f"/status/jobs/{job_id}/forceStop").get_json()["status"] == "STOPPED"
    gate.released.set()
    assert small_batches.extensions["runtime"].jobs.dispatcher.wait_idle(20)
    assert codes(api) == [f"n{i}" for i in range(1, 14)]  # the killed run stopped inside its third batch
    assert api.put(f"/status/jobs/{job_id}/resume").status_code == 200
    done = wait_for(api, job_id, ("FINISHED",))
    assert codes(api) == [f"n{i}" for i in range(1, 31)]
    assert done["results"] == {"rowsImported": 30, "rowsWithErrors": 0}


# --- export ------------------------------------------------------------------------------------------

def test_export_with_a_query_and_fields(api: Api):
    for i, kind in enumerate("abab"):
        create(api, "companies", company(name=f"c{i}", type=kind, addresses=[
            {"state": f"S{i}", "zipCode": "1"}, {"state": f"T{i}"}][: 1 + i % 2]))
    job, rows = run_export(api, "companies", "type=b&_size=50&_fields=name,addresses.state&_useFieldNames=true")
    assert job["results"]["recordsExported"] == 2 and job["data"]["entityName"] == "companies"
    assert rows == [["name", "addresses[0].state", "addresses[1].state"], ["c3", "S3", "T3"], ["c1", "S1", "T1"]]
    _, labelled = run_export(api, "companies", "type=a&_fields=name,numberOfEmployees,isCustomer")
    assert labelled == [["Name", "Number of employees", "Is customer"], ["c2", "95", "false"], ["c0", "95", "false"]]
    _, sized = run_export(api, "companies", "_size=1&_sortField=name&_sortType=desc&_fields=name")
    assert sized == [["Name"], ["c3"]]


def test_export_related_fields_and_relationship_labels(api: Api):
    acme = create(api, "companies", company(name="Acme", type="c"))
    create(api, "contacts", {"firstName": "Ann", "lastName": "Lee", "company": acme["id"]})
    create(api, "contacts", {"firstName": "Bob", "lastName": "Ray"})
    _, rows = run_export(api, "contacts", "_fields=firstName,company,company.type,id,version&_useFieldNames=true")
    assert rows == [["firstName", "company", "company.type"], ["Bob", "", ""], ["Ann", "Acme", "c"]]


def test_export_of_more_records_than_one_batch(small_batches: Flask):
    api = login(small_batches)
    define(api, "plain", [{"name": "code", "type": "text"}, {"name": "tags", "type": "text", "multiplicity": "many"}])
    for i in range(23):
        create(api, "plain", {"code": f"p{i:02d}", "tags": ["x"] * (i % 4)})
    job, rows = run_export(api, "plain", "_useFieldNames=true")
    assert job["results"]["recordsExported"] == 23 and job["recordsProcessed"] == 23 and job["recordsCount"] == 23
    assert rows[0] == ["code", "tags[0]", "tags[1]", "tags[2]"]
    assert [r[0] for r in rows[1:]] == [f"p{i:02d}" for i in reversed(range(23))]  # newest first, as listed
    assert rows[4] == ["p19", "x", "x", "x"] and rows[7] == ["p16", "", "", ""]
    _, offset = run_export(api, "plain", "_offset=20&_fields=code")
    assert offset == [["Code"], ["p02"], ["p01"], ["p00"]]
    _, ascending = run_export(api, "plain", "_sortType=asc&_offset=20&_fields=code")
    assert ascending == [["Code"], ["p20"], ["p21"], ["p22"]]


@pytest.mark.parametrize("query", ["type=b&_size=1", "type=b", "_size=2&_offset=1", "_offset=3&_size=2",
                                   "_sortField=name&_sortType=asc&_size=3", "_sortType=asc&_size=2",
                                   "_sortField=numberOfEmployees&_size=4"])
def test_an_export_holds_the_records_of_the_list_in_its_order(api: Api, query: str):
    for i, kind in enumerate("abbabb"):
        create(api, "companies", company(name=f"c{i}", type=kind, numberOfEmployees=10 * (i % 3)))
    listed = [r["name"] for r in api.get(f"/data/companies?{query}").get_json()["items"]]
    _, rows = run_export(api, "companies", f"{query}&_fields=name")
    assert [r[0] for r in rows[1:]] == listed and listed


def test_an_export_from_a_record_id_offset_continues_the_list(api: Api):
    for i in range(5):
        create(api, "companies", company(name=f"c{i}"))
    first = api.get("/data/companies?_size=2").get_json()
    rest = [r["name"] for r in api.get(f"/data/companies?_offset={first['offset']}").get_json()["items"]]
    _, rows = run_export(api, "companies", f"_offset={first['offset']}&_fields=name")
    assert [r[0] for r in rows[1:]] == rest == ["c2", "c1", "c0"]


@pytest.mark.parametrize("how", [("stop",), ("stop", "forceStop")])
def test_a_resumed_export_writes_every_record_once(small_batches: Flask, monkeypatch: pytest.MonkeyPatch,
                                                   how: tuple[str, ...]):
    api = login(small_batches)
    define(api, "plain", [{"name": "code", "type": "text"}])
    for i in range(23):
        create(api, "plain", {"code": f"p{i:02d}"})
    reached, released = threading.Event(), threading.Event()
    original = exporter.cells_of

    def gated(selected: Any, doc: dict[str, Any], *rest: Any) -> Any:
        if doc.get("code") == "p10" and not released.is_set():  # the third batch, newest first
            reached.set()
            assert released.wait(20)
        return original(selected, doc, *rest)
    monkeypatch.setattr(exporter, "cells_of", gated)
    walks: list[int] = []
    walk = exporter.iterate_ids
    monkeypatch.setattr(exporter, "iterate_ids", lambda *a, **kw: walks.append(kw["direction"]) or walk(*a, **kw))
    job_id = api.put("/data/plain/export?_useFieldNames=true").get_json()["jobId"]
    assert reached.wait(20)
    for action in how:
        assert api.put(f"/status/jobs/{job_id}/{action}").status_code == 200
    released.set()
    stopped = wait_for(api, job_id, ("STOPPED",))
    assert small_batches.extensions["runtime"].jobs.dispatcher.wait_idle(20)
    assert stopped["status"] == "STOPPED" and not stopped.get("results")
    assert api.put(f"/status/jobs/{job_id}/resume").status_code == 200
    done = wait_for(api, job_id, ("FINISHED",))
    download = api.client.get(urlparse(done["results"]["fileLink"]).path, headers={"token": api.token})
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert [r[0] for r in rows[1:]] == [f"p{i:02d}" for i in reversed(range(23))]  # each once, newest first
    assert done["results"]["recordsExported"] == 23 and done["recordsProcessed"] == 23
    assert walks == [-1, -1]  # both runs walked the ids newest first in keyset batches, never a cursor


def test_the_first_and_last_date_times_export_and_import_back(api: Api):
    """Years 1 and 9999 are the ends a date-time holds (one past them is refused on write), so both export."""
    first, last = -62135596800000, 253402300799999
    for code, at in (("first", first), ("last", last)):
        assert api.post("/data/gadgets", json={"code": code, "at": at}).status_code == 200
    job, rows = run_export(api, "gadgets", "_fields=code,at&_sortField=code&_sortType=asc")
    assert job["status"] == "FINISHED"
    assert rows[1:] == [["first", "0001-01-01T00:00:00.000Z"], ["last", "9999-12-31T23:59:59.999Z"]]
    csv_text = "Code,At\nfirst,0001-01-01T00:00:00.000Z\nlast,9999-12-31T23:59:59.999Z\n"
    assert run_import(api, "copies", csv_text)["status"] == "FINISHED"
    assert [item["at"] for item in items(api, "copies", "&_sortField=code")] == [first, last]


def test_a_header_that_is_a_field_name_means_that_field_whatever_other_labels_say(api: Api):
    """Names first, labels after: ``count`` is the field named count even when another field is labelled
    "Count", so an export with field names imports back."""
    define(api, "swaps", [{"name": "code", "label": "Code", "type": "text", "unique": True},
                          {"name": "size", "label": "Count", "type": "text"},
                          {"name": "count", "label": "Size", "type": "text"}])
    assert api.post("/data/swaps", json={"code": "S1", "size": "big", "count": "three"}).status_code == 200
    _, rows = run_export(api, "swaps", "_useFieldNames=true")
    assert rows == [["code", "size", "count"], ["S1", "big", "three"]]
    job = run_import(api, "swaps", "code,size,count\nS2,big,three\n")
    assert job["results"] == {"rowsImported": 1, "rowsWithErrors": 0}, job
    assert run_import(api, "swaps", "code,count\nS3,three\n")["results"]["rowsImported"] == 1
    stored = {i["code"]: (i["size"], i["count"]) for i in items(api, "swaps")}
    assert stored == {"S1": ("big", "three"), "S2": ("big", "three"), "S3": (None, "three")}
    assert run_import(api, "swaps", "Code,Count\nS4,big\n")["results"]["rowsImported"] == 1  # labels still work
    assert {i["code"]: i["size"] for i in items(api, "swaps")}["S4"] == "big"


def test_export_of_every_type_then_import_reproduces_the_records(api: Api):
    acme = create(api, "companies", company(name="Acme"))
    full = {"code": "r1", "notes": "a, \"quoted\"\nsecond line", "body": "<p>hi</p>", "email": "a@b.io",
            "site": "(http://x.io)<X>", "phone": "17028459380", "count": 7, "price": 80000.5, "ratio": 0.0001,
            "share": 50, "active": True, "day": "2016-07-12", "at": 1484578380123, "opens": "23:59",
            "size": "l", "color": "#abcdef", "maker": acme["id"], "tags": ["one", "two", "three"],
            "spec": {"weight": 2.5, "unit": "kg"},
            "parts": [{"partName": "bolt", "qty": 1}, {"partName": "nut", "qty": 2}]}
    sparse = {"code": "r2", "active": False, "tags": ["solo"], "parts": [{"qty": 5}]}
    originals = [create(api, "gadgets", full), create(api, "gadgets", sparse), create(api, "gadgets", {"code": "r3"})]
    for query in ("_useFieldNames=true", ""):  # names, then labels, as headers
        _, rows = run_export(api, "gadgets", query)
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        job = run_import(api, "copies", buffer.getvalue())
        assert job["results"] == {"rowsImported": 3, "rowsWithErrors": 0}, job
        copies = items(api, "copies")
        assert len(copies) == 3
        for original, imported in zip(reversed(originals), copies, strict=True):  # exported newest first
            assert _comparable(imported) == _comparable(original)


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy({k: v for k, v in record.items() if k not in SYSTEM + AUTOMATIC})
    for name in ("spec", "parts"):
        groups = out[name] if isinstance(out[name], list) else [out[name]] if out[name] else []
        for group in groups:
            group.pop("id")
    return out


# --- refused before any job ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("name,colour\nx,y\n", "colour"),
    ("name,contactInformation\nx,y\n", "group of fields"),
    ("name,addresses.state\nx,y\n", "multi-valued"),
    ("name,Name\nx,y\n", "same field"),
    ("name,type[0]\nx,a\n", "not multi-valued"),
    ("name,id\nx,y\n", "'id'"),
    ("", "empty"),
    ("name\n\"unterminated\n", "not valid CSV"),
    ("name,type\nx,\"a\"b\n", "not valid CSV (row 2)"),
    (b"name\n\xff\xfe\n", "not UTF-8"),
])
def test_bad_files_are_refused_before_a_job_starts(api: Api, text: str | bytes, message: str):
    response = upload(api, "companies", text)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["code"] == "badRequest"
    assert message in body["message"] + " ".join(e["message"] + e["field"] for e in body["errors"])
    assert jobs_total(api) == 0 and items(api, "companies") == []


def test_import_request_errors(api: Api, user_api: Api):
    assert api.post("/data/companies/import", data={"other": (io.BytesIO(b"name\nx\n"), "a.csv")},
                    content_type="multipart/form-data").status_code == 400
    no_file = api.post("/data/companies/import", json={"name": "x"})
    assert no_file.status_code == 400 and "multipart" in no_file.get_json()["message"]
    assert upload(api, "nothing", "name\nx\n").get_json()["code"] == "notFound"
    assert upload(api, "companies", "name\nx\n", query="?lowPriority=maybe").status_code == 400
    forbidden = upload(user_api, "companies", "name\nx\n", triggerEvents="false")
    assert forbidden.status_code == 403 and "triggerEvents" in forbidden.get_json()["message"]
    assert jobs_total(api) == 0
    job = run_import(user_api, "companies", "name\nfrom user\n", query="?lowPriority=true")
    assert job["lowPriority"] is True and job["results"]["rowsImported"] == 1


def test_a_file_that_no_longer_fits_the_entity_fails_the_job(app: Flask, api: Api):
    dispatcher = app.extensions["runtime"].jobs.dispatcher
    dispatcher.pause()
    try:
        job_id = upload(api, "gadgets", "code,count\nx,1\n").get_json()["jobId"]
        assert uploads_kept(app) == 1
        define(api, "gadgets", [f for f in GADGET_FIELDS if f["name"] != "count"])
    finally:
        dispatcher.unpause()
    job = wait_for(api, job_id)
    assert job["status"] == "FINISHED" and job["hasErrors"] is True and items(api, "gadgets") == []
    logs = [e["message"] for e in api.get(f"/status/jobs/{job_id}/logs").get_json()["items"]]
    assert any("column 'count'" in m for m in logs) and uploads_kept(app) == 0


def test_a_raw_csv_body_is_accepted_too(api: Api):
    response = api.post("/data/companies/import", data=b"name,type\nraw1,a\n", content_type="text/csv")
    assert response.status_code == 200
    wait_for(api, response.get_json()["jobId"])
    assert [c["name"] for c in items(api, "companies")] == ["raw1"]


def test_export_request_errors(api: Api):
    assert api.put("/data/nothing/export").status_code == 404
    for query in ("_fields=nope", "_fields=company.nope", "numberOfSkills=lots", "_size=2000000",
                  "_sortField=addresses", "_bogus=1"):
        response = api.put(f"/data/contacts/export?{query}")
        assert response.status_code == 400, (query, response.get_json())
    assert jobs_total(api) == 0


def test_exports_of_more_than_the_limit_are_refused(api: Api, monkeypatch: pytest.MonkeyPatch):
    for i in range(3):
        create(api, "companies", company(name=f"c{i}"))
    monkeypatch.setattr("entities.transfer.routes.MAX_EXPORT", 2)
    refused = api.put("/data/companies/export")
    assert refused.status_code == 400 and "more than 2" in refused.get_json()["message"]
    assert api.put("/data/companies/export?_size=2").status_code == 200
