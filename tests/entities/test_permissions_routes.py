"""Every route of the API overview called by a user of a restricted group: permitted → 200, forbidden → 403,
hidden records and fields never shown (totals, paging, aggregate groups, export files, related records).
Plus imports row by row, lookups, relationships and a group flipped while requests run."""

from __future__ import annotations

import csv
import io
import json
import threading
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate

from tests.conftest import Api, company, create, login, wait_for_job
from tests.entities.test_permissions import SALES, SECRET, add_group, user_in

CONTACTS_RULES = {"access": "always", "create": "always", "edit": "always", "delete": "never", "history": "never",
                  "fields": {}, "actions": {}}
RESTRICTED = {**SALES, "entities": {**SALES["entities"], "contacts": CONTACTS_RULES}}


@pytest.fixture
def world(app: Flask, api: Api) -> dict[str, Any]:
    a = create(api, "companies", company(name="Active A", state="active", type="a", notes=SECRET))
    b = create(api, "companies", company(name="Active B", state="active", type="b", notes=SECRET))
    off = create(api, "companies", company(name="Inactive", state="inactive", type="a", notes=SECRET))
    contacts = {name: create(api, "contacts", {"firstName": name, "lastName": "X", "company": ref["id"]})
                for name, ref in (("OnA", a), ("OnOff", off))}
    gid = add_group(app, RESTRICTED, "sales")
    return {"a": a, "b": b, "off": off, "contacts": contacts, "gid": gid,
            "user": user_in(app, "sales@example.com", gid)}


def _shows_no_secret(response: Any) -> None:
    assert SECRET not in response.get_data(as_text=True)


def test_every_route_for_a_restricted_user(app: Flask, api: Api, world: dict[str, Any]):
    user: Api = world["user"]
    a, b, off = world["a"]["id"], world["b"]["id"], world["off"]["id"]
    expect: list[tuple[str, str, Any, int]] = [
        # records
        ("GET", "/data/companies", None, 200), ("GET", f"/data/companies/{a}", None, 200),
        ("GET", f"/data/companies/{off}", None, 403), ("GET", f"/data/companies?notes={SECRET}", None, 403),
        ("GET", f"/data/companies/{a}?_fields=notes", None, 403),
        ("POST", "/data/companies", company(name="New", state="active"), 200),
        ("POST", "/data/companies", company(name="Nope", state="inactive"), 403),
        ("PUT", f"/data/companies/{a}", {"numberOfEmployees": 3}, 200),
        ("PUT", f"/data/companies/{b}", {"numberOfEmployees": 3}, 403),
        ("PUT", f"/data/companies/{off}", {"numberOfEmployees": 3}, 403),
        ("DELETE", f"/data/companies/{a}", None, 403), ("DELETE", "/data/companies?state=active", None, 403),
        # aggregate
        ("PUT", "/data/companies/aggregate", [{"group": {"by": "state", "n": "count()"}}], 200),
        ("PUT", "/data/companies/aggregate", [{"sort": {"notes": "asc"}}], 403),
        # actions: one, many, global, query
        ("PUT", f"/data/companies/{a}/logSomething", {}, 200), ("PUT", f"/data/companies/{off}/logSomething", {}, 403),
        ("PUT", f"/data/companies/{a}/activate", {}, 403), ("PUT", "/data/companies/markAsCustomers", {}, 200),
        ("PUT", "/data/companies/createSample", {"name": "x"}, 403), ("PUT", "/data/companies/countEmployees", {}, 403),
        # history
        ("GET", "/data/companies/history", None, 200), ("GET", f"/data/companies/{a}/history", None, 200),
        ("GET", f"/data/companies/{off}/history", None, 403), ("GET", "/data/contacts/history", None, 403),
        # import / export
        ("PUT", "/data/companies/export", None, 200),
        # jobs, logs, metadata, users and groups (developer-only writes)
        ("GET", "/status/jobs", None, 200), ("GET", "/status/logs", None, 403),
        ("POST", "/status/logs", {"level": "INFO", "message": "x"}, 403),
        ("GET", "/metadata/entities", None, 403), ("GET", "/metadata/entities/companies", None, 403),
        ("PUT", "/metadata/entities/companies", {"name": "companies", "fields": []}, 403),
        ("DELETE", "/metadata/entities/companies", None, 403),
    ]
    for method, path, body, status in expect:
        response = user.client.open(f"/api{path}", method=method, json=body,
                                    headers={"token": user.token, "Authorization": f"Token {user.token}"})
        assert response.status_code == status, (method, path, response.get_json())
        assert SECRET not in response.get_data(as_text=True), (method, path)
        if status == 403:
            assert response.get_json()["code"] == "forbidden"

    # lists: totals, paging cursors and groups never count or reveal a hidden record
    listed = user.get("/data/companies?_size=1&_sortField=name&_sortType=desc").get_json()
    assert listed["total"] == 3 and listed["items"][0]["name"] == "New"  # "Inactive" is never seen
    seen, offset = [], None
    while True:
        page = user.get("/data/companies?_size=1" + (f"&_offset={offset}" if offset else "")).get_json()
        seen += [i["name"] for i in page["items"]]
        if not page["items"] or "offset" not in page:
            break
        offset = page["offset"]
    assert sorted(seen) == ["Active A", "Active B", "New"]
    groups = user.put("/data/companies/aggregate", json=[{"group": {"by": "type", "n": "count()"}}]).get_json()
    assert sum(row["n"] for row in groups["items"]) == 3 and groups["total"] == len(groups["items"])
    # actions over ids / a query: forbidden records get an error entry, the others run
    many = user.put(f"/data/companies/{a},{off}/logSomething").get_json()
    assert many[a]["status"] == "ok" and many[off]["status"] == "error"
    over_query = user.put("/data/companies/logSomething?type=a").get_json()
    assert a in over_query and off not in over_query  # the query only sees permitted records
    # history and export
    history = user.get("/data/companies/history").get_json()
    assert off not in {i["recordId"] for i in history["items"]}
    job = wait_for_job(user, user.put("/data/companies/export").get_json()["jobId"])
    file_id = job["results"]["fileLink"].rsplit("/", 1)[-1]
    exported = user.get(f"/files/{file_id}").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(exported)))
    assert "Inactive" not in exported and SECRET not in exported and len(rows) == 4
    # import: flag off in SALES
    assert user.post("/data/companies/import", data={"file": (io.BytesIO(b"name\nx\n"), "c.csv")},
                     content_type="multipart/form-data").status_code == 403
    # jobs: only their own; another user's job is 403 to read and to stop
    dev_job = api.put("/data/companies/export").get_json()["jobId"]
    assert dev_job not in {j["id"] for j in user.get("/status/jobs").get_json()["items"]}
    assert user.get(f"/status/jobs/{dev_job}").status_code == 403
    assert user.put(f"/status/jobs/{dev_job}/stop").status_code == 403
    assert user.get(f"/status/jobs/{job['id']}").status_code == 200
    # files: upload, own download and share; another's file 403
    up = user.post("/files", data={"file": (io.BytesIO(b"mine"), "m.txt")}, content_type="multipart/form-data")
    assert up.status_code == 200
    mine = up.get_json()["fileId"]
    assert user.get(f"/files/{mine}").status_code == 200
    assert user.put(f"/files/{mine}/share").status_code == 200
    dev_file = api.post("/files", data={"file": (io.BytesIO(b"dev"), "d.txt")},
                        content_type="multipart/form-data").get_json()["fileId"]
    assert user.get(f"/files/{dev_file}").status_code == 403
    assert user.put(f"/files/{dev_file}/share").status_code == 403
    assert user.get(f"/data/companies/{off}/files/{dev_file}").status_code == 403
    # users and groups: developer-only writes
    assert user.post("/users", json={"email": "x@example.com"}).status_code in (403, 404)
    assert user.post("/groups", json={"name": "g"}).status_code in (403, 404)
    # nothing changed where it was forbidden
    assert api.get(f"/data/companies/{b}").get_json()["numberOfEmployees"] == world["b"]["numberOfEmployees"]
    assert api.get("/data/companies?name=Nope").get_json()["total"] == 0


def test_related_records_follow_the_target_entitys_rules(world: dict[str, Any], api: Api):
    user: Api = world["user"]
    listed = user.get("/data/contacts?_relationshipsToFetch=company&_sortField=firstName").get_json()
    by_name = {c["firstName"]: c["company"] for c in listed["items"]}
    assert by_name["OnA"]["name"] == "Active A" and "notes" not in by_name["OnA"]
    assert set(by_name["OnOff"]) == {"id", "label"}  # the inactive company is not fetched
    one = user.get(f"/data/contacts/{world['contacts']['OnOff']['id']}?_relationshipsToFetch=company").get_json()
    assert set(one["company"]) == {"id", "label"}
    assert SECRET not in str(listed) + str(one)
    # a lookup joins whole records: into an entity the caller cannot wholly read → 403
    lookup = [{"lookup": {"localFieldPath": "company", "foreignFieldPath": "id", "foreignEntityName": "companies",
                          "as": "companies"}}]
    assert user.put("/data/contacts/aggregate", json=lookup).status_code == 403
    assert api.put("/data/contacts/aggregate", json=lookup).status_code == 200


def test_import_applies_create_rules_and_drops_read_only_values_per_row(app: Flask, api: Api):
    rules = {**SALES["entities"]["companies"], "import": True}
    importer = user_in(app, "importer@example.com", add_group(app, {**SALES, "entities": {"companies": rules}}))
    text = "name,state,type,rating,notes\nOk,active,a,9,hush\nRefused,inactive,a,9,hush\n"
    response = importer.post("/data/companies/import", data={"file": (io.BytesIO(text.encode()), "c.csv")},
                             content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    job = wait_for_job(importer, response.get_json()["jobId"])
    assert job["results"]["rowsImported"] == 1 and job["results"]["rowsWithErrors"] == 1, job
    stored = api.get("/data/companies").get_json()["items"]
    assert [(c["name"], c["rating"], c["notes"]) for c in stored] == [("Ok", None, None)]


def test_a_group_flipped_while_requests_run_is_never_half_applied(app: Flask, world: dict[str, Any]):
    """Rule set 1: access state=active, notes hidden. Rule set 2: access always, notes visible. Each
    response must be wholly one of them: 2 records without notes, or 3 records with notes."""
    store = app.extensions["runtime"].store.collection("sys.groups")
    open_rules = {**RESTRICTED["entities"]["companies"], "access": "always", "fields": {}}
    sets = [RESTRICTED["entities"]["companies"], open_rules]
    stop = threading.Event()
    seen: list[tuple[int, bool]] = []
    errors: list[Any] = []

    def reader() -> None:
        client = login(app, "sales@example.com", "user-password")
        for _ in range(40):
            response = client.get("/data/companies")
            if response.status_code != 200:
                errors.append(response.get_json())
                return
            body = response.get_json()
            seen.append((body["total"], any("notes" in i for i in body["items"])))
            if len(body["items"]) != body["total"]:
                errors.append(body)

    def flipper() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            store.update_one({"_id": world["gid"]},
                             {"$set": {"permissions.entities.companies": sets[i % 2]}, "$inc": {"version": 1}})

    readers = [threading.Thread(target=reader) for _ in range(3)]
    flip = threading.Thread(target=flipper)
    flip.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join(timeout=120)
    stop.set()
    flip.join(timeout=10)
    assert not errors
    assert set(seen) <= {(2, False), (3, True)}, set(seen)
    assert len(seen) == 120


def test_a_user_field_rule_with_current_user_shows_each_user_their_own_records(app: Flask, api: Api):
    tasks = {"name": "tasks", "fields": [{"name": "title", "type": "text"},
                                         {"name": "owner", "type": "user", "typeRules": {"setOn": "create"}}]}
    assert api.post("/metadata/entities", json=tasks).status_code == 200
    rule = {"api": {"data": True}, "entities": {"tasks": {
        "access": {"when": {"owner": "currentUser()"}}, "create": "always",
        "edit": {"when": {"owner": "currentUser()"}}}}}
    gid = add_group(app, rule)
    alice, bob = user_in(app, "alice@example.com", gid), user_in(app, "bob@example.com", gid)
    mine = alice.post("/data/tasks", json={"title": "alice's"})
    assert mine.status_code == 200, mine.get_json()
    assert bob.post("/data/tasks", json={"title": "bob's"}).status_code == 200
    assert [t["title"] for t in alice.get("/data/tasks").get_json()["items"]] == ["alice's"]
    assert [t["title"] for t in bob.get("/data/tasks").get_json()["items"]] == ["bob's"]
    assert bob.get(f"/data/tasks/{mine.get_json()['id']}").status_code == 403
    assert bob.put(f"/data/tasks/{mine.get_json()['id']}", json={"title": "taken"}).status_code == 403
    assert api.get("/data/tasks").get_json()["total"] == 2


def test_a_non_developers_openapi_document_lists_only_what_they_may_use(world: dict[str, Any], api: Api):
    user: Api = world["user"]
    mine = user.get("/openapi.json").get_json()
    full = api.get("/openapi.json").get_json()
    schemas = mine["components"]["schemas"]
    company_schema = next(s for name, s in schemas.items() if name.lower().startswith("compan")
                          and "properties" in s and "name" in s["properties"])
    assert "notes" not in company_schema["properties"] and "rating" in company_schema["properties"]
    paths = " ".join(mine["paths"])
    assert "logSomething" in paths and "activate" not in paths.replace("deactivate", "")
    assert "/metadata" not in paths and "/status/logs" not in paths
    full_paths = " ".join(full["paths"])
    assert "/metadata" in full_paths and "deactivate" in full_paths and "/data/contacts" in full_paths
    assert "notes" in json.dumps(full["components"]["schemas"])


def methods(path_item: dict[str, Any]) -> set[str]:
    return set(path_item) - {"parameters"}


def test_a_non_developers_openapi_document_leaves_out_what_their_groups_forbid(app: Flask, world: dict[str, Any],
                                                                              api: Api):
    """Per entity: no delete (never), import (false) or history (never) operations; read-only fields marked so and
    not in the bodies. No developer-only routes, and user and group changes only for users managers."""
    mine = world["user"].get("/openapi.json").get_json()
    validate(mine)
    paths, schemas = mine["paths"], mine["components"]["schemas"]
    assert methods(paths["/api/data/companies"]) == {"get", "post"}  # delete: never
    assert methods(paths["/api/data/companies/{id}"]) == {"get", "put"}
    assert "/api/data/companies/import" not in paths and "put" in paths["/api/data/companies/export"]
    assert "get" in paths["/api/data/companies/history"] and "/api/data/contacts/history" not in paths
    assert "/api/data/contacts/{id}/history" not in paths
    assert schemas["companies"]["properties"]["rating"]["readOnly"] is True
    assert "readOnly" not in schemas["companies"]["properties"]["name"]
    for body in ("companies.Input", "companies.Update"):
        assert "rating" not in schemas[body]["properties"] and "name" in schemas[body]["properties"], body
    for path, method, status in (("/data/companies/{id}", "delete", 403), ("/data/companies/import", "post", 403),
                                 ("/data/contacts/history", "get", 403)):
        response = world["user"].request(method.upper(), path.format(id=world["a"]["id"]))
        assert response.status_code == status, (path, response.get_json())
    hidden = [p for p in paths if p.startswith(("/api/groups", "/api/schedules", "/api/status/webhooks",
                                                 "/api/metadata", "/api/status/logs"))]
    assert hidden == []
    assert methods(paths["/api/users"]) == {"get"} and methods(paths["/api/users/{ref}"]) == {"get"}
    assert not [p for p in paths if p.startswith("/api/users/{ids}") or "IdentityProvider" in p]
    assert world["user"].post("/groups", json={"name": "x"}).status_code == 403
    assert world["user"].put("/users/sales@example.com/deactivate").status_code == 403

    managers = api.post("/groups", json={"name": "managers", "usersManagement": True}).get_json()["id"]
    assert api.put("/users/sales@example.com/addGroup", json={"id": managers}).status_code == 200
    managing = world["user"].get("/openapi.json").get_json()
    assert methods(managing["paths"]["/api/users"]) == {"get", "post"}
    assert methods(managing["paths"]["/api/users/{ref}"]) == {"get", "put", "delete"}
    assert "put" in managing["paths"]["/api/users/{ids}/addGroup"]
    assert methods(managing["paths"]["/api/groups"]) == methods(managing["paths"]["/api/groups/{ref}"]) == {"get"}
    assert "/api/schedules" not in managing["paths"]

    full = api.get("/openapi.json").get_json()["paths"]
    assert {"get", "post", "delete"} == methods(full["/api/data/companies"]) and "/api/data/companies/import" in full
    assert {"/api/schedules", "/api/status/webhooks/deliveries", "/api/metadata/entities"} <= set(full)
    assert methods(full["/api/groups"]) == {"get", "post"}


def test_a_non_developers_openapi_document_leaves_out_hidden_nested_and_copied_fields(app: Flask, api: Api):
    """A field the groups hide is in no schema, sort value or filter at any depth: an inner field of a nested
    group (``info.priv``) and a copied field of a relationship hidden on its own entity (``dept.budget``)."""
    assert api.post("/metadata/entities", json={"name": "depts", "fields": [
        {"name": "code", "type": "text"}, {"name": "budget", "type": "integer"}]}).status_code == 200
    assert api.post("/metadata/entities", json={"name": "items", "fields": [
        {"name": "title", "type": "text"}, {"name": "secret", "type": "text"},
        {"name": "info", "type": "nestedFields", "nestedFields": [{"name": "pub", "type": "text"},
                                                                  {"name": "priv", "type": "text"}]},
        {"name": "dept", "type": "relationship", "typeRules": {"entity": "depts", "copiedFields": ["budget", "code"]}},
    ]}).status_code == 200
    group = add_group(app, {"api": {"data": True}, "entities": {
        "items": {"access": "always", "create": "always", "edit": "always",
                  "fields": {"secret": "none", "info.priv": "none"}},
        "depts": {"access": "always", "fields": {"budget": "none"}}}})
    user = user_in(app, "nested@example.com", group)
    for query in ("?entity=items", ""):
        mine, full = (who.get(f"/openapi.json{query}").get_json() for who in (user, api))
        validate(mine)
        for doc, hidden in ((mine, True), (full, False)):
            schemas, parameters = doc["components"]["schemas"], doc["components"]["parameters"]
            record = schemas["items"]["properties"]
            assert ("secret" not in record) is hidden
            assert ("priv" not in record["info"]["properties"]) is hidden and "pub" in record["info"]["properties"]
            assert ("budget" not in record["dept"]["properties"]) is hidden and "code" in record["dept"]["properties"]
            for body in ("items.Input", "items.Update"):
                inner = schemas[body]["properties"]["info"]["properties"]
                assert ("priv" not in inner) is hidden and "pub" in inner, body
            assert ("priv" not in schemas["items"]["example"]["info"]) is hidden
            listing = {p["name"]: p for p in doc["paths"]["/api/data/items"]["get"]["parameters"] if "name" in p}
            assert ("info.priv" not in listing["_sortField"]["schema"]["enum"]) is hidden
            assert "info.pub" in listing["_sortField"]["schema"]["enum"]
            filters = {p["name"] for p in parameters.values() if p.get("in") == "query"}
            assert ("info.priv" not in filters) is hidden and "info.pub" in filters
            assert ("items.filter.info.priv" not in json.dumps(doc["paths"])) is hidden
    assert user.get("/data/items?_sortField=info.priv").status_code == 403  # what the document no longer offers


def test_a_non_developers_openapi_document_leaves_read_only_inner_fields_out_of_the_bodies(app: Flask, api: Api):
    """An inner field of a nested group the groups make read-only is in the record schema, marked so, and in
    no request body (its values would be dropped), as a read-only top-level field is."""
    assert api.post("/metadata/entities", json={"name": "boxes", "fields": [
        {"name": "title", "type": "text"},
        {"name": "info", "type": "nestedFields", "nestedFields": [{"name": "pub", "type": "text"},
                                                                  {"name": "fixed", "type": "text"}]},
    ]}).status_code == 200
    group = add_group(app, {"api": {"data": True}, "entities": {
        "boxes": {"access": "always", "create": "always", "edit": "always", "fields": {"info.fixed": "readOnly"}}}})
    user = user_in(app, "boxes@example.com", group)
    mine, full = (who.get("/openapi.json?entity=boxes").get_json() for who in (user, api))
    validate(mine)
    for doc, locked in ((mine, True), (full, False)):
        schemas = doc["components"]["schemas"]
        record = schemas["boxes"]["properties"]["info"]["properties"]
        assert "fixed" in record and (record["fixed"].get("readOnly") is True) is locked
        for body in ("boxes.Input", "boxes.Update"):
            inner = schemas[body]["properties"]["info"]["properties"]
            assert ("fixed" not in inner) is locked and "pub" in inner, body
    created = user.post("/data/boxes", json={"title": "t", "info": {"pub": "a", "fixed": "b"}})
    assert created.status_code == 200 and created.get_json()["info"].get("fixed") is None  # what the body said
