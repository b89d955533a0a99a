"""``GET /api/openapi.json``: every entity's concrete paths and schemas, valid OpenAPI 3, one entity with
``?entity=``, new metadata seen by every app on the store, and the per-caller filter hook. ``GET /api/docs``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate

from core.config import Config
from runtime.app import create_app
from runtime.openapi import ShowEverything, set_document_filter
from tests.conftest import Api

COMPANY_FIELDS = ["name", "state", "type", "numberOfEmployees", "isCustomer", "contactInformation", "addresses",
                  "homepage", "taxId", "rating", "notes", "lastMeeting", "lastUpdate"]


def document(client: Any, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/openapi.json{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_document_is_valid_openapi_3_and_lists_every_entity_with_its_fields(anon: Api):
    doc = document(anon.client)
    validate(doc)
    schemas = doc["components"]["schemas"]
    assert list(schemas["companies"]["properties"]) == ["id", "version", "label", *COMPANY_FIELDS]
    assert list(schemas["contacts"]["properties"]) == ["id", "version", "label", "firstName", "lastName", "email",
                                                      "company", "numberOfSkills", "birthDate", "fullName"]
    paths = doc["paths"]
    for entity in ("companies", "contacts"):
        base = f"/api/data/{entity}"
        assert set(paths[base]) == {"get", "post", "delete"}
        assert set(paths[base + "/{id}"]) == {"get", "put", "delete"}
        for tail, method in (("/aggregate", "put"), ("/history", "get"), ("/{id}/history", "get"),
                             ("/import", "post"), ("/export", "put")):
            assert method in paths[base + tail], base + tail
    for generic in ("/api/data/{entity_name}", "/api/data/{entity_name}/{record_id}/files/{file_id}"):
        assert paths[generic]["parameters"][0]["schema"] == {"type": "string", "enum": ["companies", "contacts"]}
    assert {t["name"] for t in doc["tags"]} >= {"companies", "contacts", "auth", "jobs"}


def test_field_schemas_carry_type_format_choices_nesting_relationships_and_read_only(anon: Api):
    schemas = document(anon.client)["components"]["schemas"]
    company = schemas["companies"]["properties"]
    assert company["state"]["enum"] == ["active", "inactive", "pending"]
    assert company["state"]["default"] == "active"
    assert company["numberOfEmployees"]["type"] == "integer" and company["numberOfEmployees"]["minimum"] == 0
    assert company["isCustomer"]["type"] == "boolean"
    assert company["homepage"]["format"] == "uri"
    assert company["lastMeeting"] == {**company["lastMeeting"], "type": "integer", "format": "int64"}
    assert company["lastUpdate"]["readOnly"] is True
    info = company["contactInformation"]
    assert info["type"] == "object" and info["properties"]["email"]["format"] == "email"
    addresses = company["addresses"]
    assert addresses["type"] == "array" and addresses["x-multiplicity"] == "many"
    assert set(addresses["items"]["properties"]) == {"id", "label", "addressLine", "zipCode", "city", "state"}
    contact = schemas["contacts"]["properties"]
    assert contact["company"]["properties"].keys() == {"id", "label"}
    assert contact["fullName"]["readOnly"] is True
    assert contact["birthDate"]["format"] == "date"
    assert contact["email"]["example"] == "ana.ray@example.com"

    new_contact = schemas["contacts.Input"]
    assert new_contact["required"] == ["firstName", "lastName"]
    assert "fullName" not in new_contact["properties"]  # calculated: never written
    assert new_contact["additionalProperties"] is False
    assert "lastUpdate" not in schemas["companies.Input"]["properties"]
    assert "version" in schemas["companies.Update"]["properties"]
    assert schemas["companies.List"]["properties"]["items"]["items"]["anyOf"][0] == \
        {"$ref": "#/components/schemas/companies"}


def test_list_operations_take_per_field_filters_with_their_operators(anon: Api):
    doc = document(anon.client)
    listing = doc["paths"]["/api/data/companies"]["get"]
    names = [p["$ref"].rsplit("/", 1)[1] if "$ref" in p else p["name"] for p in listing["parameters"]]
    assert {"_size", "_offset", "_sortField", "_sortType", "_fields", "_format"} <= set(names)
    assert {"companies.filter.name", "companies.filter.addresses.state", "companies._query"} <= set(names)
    params = doc["components"]["parameters"]
    employees = params["companies.filter.numberOfEmployees"]
    assert employees["name"] == "numberOfEmployees" and employees["in"] == "query"
    assert "between" in employees["x-operators"] and "like" not in employees["x-operators"]
    assert "numberOfEmployees=between(" in employees["description"]
    assert params["companies.filter.state"]["x-operators"] == ["empty", "equals", "notEmpty", "notEquals"]
    assert params["contacts.filter.company"]["x-operators"] == ["empty", "equals", "like", "notEmpty", "notEquals"]


def test_every_action_has_its_paths_and_parameter_schema(anon: Api):
    doc = document(anon.client)
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    for name in ("activate", "deactivate", "logSomething", "customResponse", "addContact", "countEmployees",
                 "markAsCustomers"):
        assert "put" in paths[f"/api/data/companies/{name}"]
        assert "put" in paths[f"/api/data/companies/{{id}}/{name}"]
    assert "/api/data/companies/{id}/createSample" not in paths  # a global action runs on no record
    assert "put" in paths["/api/data/companies/createSample"]
    deactivate = schemas["companies.actions.deactivate"]
    assert deactivate["required"] == ["reason"] and deactivate["properties"]["reason"]["type"] == "string"
    body = paths["/api/data/companies/{id}/deactivate"]["put"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/companies.actions.deactivate"}


def test_a_delete_by_id_takes_async_as_another_name_of__async(anon: Api):
    doc = document(anon.client)
    by_id = [p.get("name") for p in doc["paths"]["/api/data/companies/{id}"]["delete"]["parameters"]]
    by_query = [p.get("name") for p in doc["paths"]["/api/data/companies"]["delete"]["parameters"]]
    assert {"_async", "async"} <= set(by_id) and "async" not in by_query  # over a query it would be a filter


def test_each_entity_operation_lists_every_query_parameter_of_the_route_it_documents(anon: Api):
    """An entity's own paths take the query parameters the shared routes read (import options, paging and event
    switches of deletes and exports), under the names the server reads."""
    doc = document(anon.client)
    paths, shared_parameters = doc["paths"], doc["components"]["parameters"]

    def names(path: str, method: str) -> set[str]:
        return {(shared_parameters[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p)["name"]
                for p in paths[path][method]["parameters"]}
    for path, method, generic in (("/api/data/companies", "delete", "/api/data/{entity_name}"),
                                  ("/api/data/companies/{id}", "delete", "/api/data/{entity_name}/{record_id}"),
                                  ("/api/data/companies/import", "post", "/api/data/{entity_name}/import"),
                                  ("/api/data/companies/export", "put", "/api/data/{entity_name}/export"),
                                  ("/api/data/companies/{id}", "get", "/api/data/{entity_name}/{record_id}")):
        shared = {p["name"] for p in paths[generic][method]["parameters"] if p.get("in") == "query"}
        assert shared <= names(path, method), (path, shared - names(path, method))
    assert {"lowPriority", "skipRecordsWithInvalidFields"} <= names("/api/data/companies/import", "post")
    assert "_lowPriority" not in names("/api/data/companies/import", "post")  # the import reads lowPriority
    assert {"_size", "_triggerEvents", "_cascadeOperations"} <= names("/api/data/companies", "delete")


def test_one_entity_with_the_entity_parameter_and_404_for_an_unknown_one(anon: Api):
    doc = document(anon.client, "?entity=contacts")
    validate(doc)
    assert doc["paths"] and all(p.startswith("/api/data/contacts") for p in doc["paths"])
    assert "contacts" in doc["components"]["schemas"] and "companies" not in doc["components"]["schemas"]
    assert [t["name"] for t in doc["tags"]] == ["contacts"]
    response = anon.get("/openapi.json?entity=nothing")
    assert response.status_code == 404
    assert response.get_json()["code"] == "notFound" and "nothing" in response.get_json()["message"]


def test_a_metadata_change_reaches_the_document_of_every_app_on_the_store(app: Flask, api: Api):
    other = create_app(Config.from_env(mongodb_uri=None, mongodb_db=app.config["RUNTIME"].mongodb_db,
                                       redis_url=None))
    before = document(other.test_client())  # cached by the other app (another worker)
    assert "invoices" not in before["components"]["schemas"]
    definition = {"name": "invoices", "fields": [
        {"name": "number", "type": "integer", "required": True},
        {"name": "customer", "type": "relationship", "typeRules": {"entity": "companies"}},
        {"name": "lines", "type": "nestedFields", "multiplicity": "many",
         "nestedFields": [{"name": "amount", "type": "money"}]}]}
    assert api.post("/metadata/entities", json=definition).status_code == 200
    after = document(other.test_client())
    validate(after)
    assert list(after["components"]["schemas"]["invoices"]["properties"]) == \
        ["id", "version", "label", "number", "customer", "lines"]
    assert "/api/data/invoices/{id}" in after["paths"]
    assert "/api/data/invoices/history" not in after["paths"]  # no history on this entity

    people = {"name": "payers", "fields": [{"name": "firm", "type": "relationship",
                                            "typeRules": {"entity": "companies", "copiedFields": ["state"]}}]}
    assert api.post("/metadata/entities", json=people).status_code == 200
    firm = document(other.test_client())["components"]["schemas"]["payers"]["properties"]["firm"]
    assert list(firm["properties"]) == ["id", "label", "state"]  # the copied field of the related record
    assert firm["properties"]["state"]["enum"] == ["active", "inactive", "pending"]

    changed = {**definition, "fields": [*definition["fields"], {"name": "paid", "type": "boolean"}]}
    assert api.put("/metadata/entities/invoices", json=changed).status_code == 200
    assert "paid" in document(other.test_client())["components"]["schemas"]["invoices"]["properties"]
    assert api.delete("/metadata/entities/invoices").status_code == 200
    assert "/api/data/invoices" not in document(other.test_client())["paths"]


class OnlyContactsForUsers(ShowEverything):
    """What a permissions filter does: callers who are not developers see less."""

    def cache_key(self, user):
        return bool(user and user.get("developer"))

    def entity(self, user, entity):
        return bool(user and user.get("developer")) or entity.name == "contacts"

    def field(self, user, entity, field):
        return bool(user and user.get("developer")) or field.name != "email"

    def operation(self, user, path, method):
        return bool(user and user.get("developer")) or not path.startswith("/api/metadata")


def test_a_document_filter_decides_what_each_caller_sees(app: Flask, api: Api, user_api: Api, anon: Api):
    set_document_filter(app, OnlyContactsForUsers())
    mine = document(user_api.client, "")  # no token sent by the bare client: anonymous
    assert "/api/data/companies" not in mine["paths"] and "/api/metadata/entities" not in mine["paths"]
    as_user = user_api.get("/openapi.json").get_json()
    assert "/api/data/contacts" in as_user["paths"] and "/api/data/companies" not in as_user["paths"]
    assert "email" not in as_user["components"]["schemas"]["contacts"]["properties"]
    validate(as_user)
    as_developer = api.get("/openapi.json").get_json()
    assert "/api/data/companies" in as_developer["paths"] and "/api/metadata/entities" in as_developer["paths"]
    assert "email" in as_developer["components"]["schemas"]["contacts"]["properties"]
    assert anon.get("/openapi.json", headers={"token": "not-a-token"}).status_code == 401


def test_public_operations_need_no_token_and_the_others_list_every_way_to_send_one(anon: Api):
    doc = document(anon.client)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["token"] == {**schemes["token"], "type": "apiKey", "in": "header", "name": "token"}
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["authorization"]["name"] == "Authorization" and schemes["authorization"]["in"] == "header"
    assert schemes["apiKeyHeader"]["name"] == "X-API-KEY" and schemes["apiKeyQuery"]["in"] == "query"
    assert doc["paths"]["/api/auth/login"]["post"]["security"] == []
    assert doc["paths"]["/api/health"]["get"]["security"] == []
    assert doc["paths"]["/api/data/companies"]["get"]["security"] == doc["security"]  # every way to send one


def test_the_docs_page_is_served_from_the_package_without_a_cdn(anon: Api):
    page = anon.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/api/docs/assets/") for s in sources), sources
    assert '"/api/openapi.json"' in html and "persistAuthorization: true" in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = anon.get(f"/docs/assets/{asset}")
        assert response.status_code == 200 and len(response.data) > 10_000
    assert anon.get("/docs/assets/index.html").status_code == 404
    assert '"/api/openapi.json?entity=companies"' in anon.get("/docs?entity=companies").get_data(as_text=True)


@pytest.mark.parametrize("entity", ["companies", "contacts"])
def test_examples_in_the_document_are_accepted_by_the_api(api: Api, entity: str):
    schemas = document(api.client)["components"]["schemas"]
    body = dict(schemas[f"{entity}.Input"]["example"])
    body.pop("company", None)  # a relationship example names no existing record
    body.pop("name", None)
    if entity == "companies":
        body["name"] = "From the example"
    response = api.post(f"/data/{entity}", json=body)
    assert response.status_code == 200, response.get_json()


def test_job_operations_are_an_enum_with_their_400_documented(api: Api):
    path = document(api.client)["paths"]["/api/status/jobs/{job_id}/{operation}"]
    operation = next(p for p in path["parameters"] if p["name"] == "operation")
    assert operation["in"] == "path" and operation["schema"]["enum"] == ["stop", "resume", "forceStop", "cancel",
                                                                         "kill"]
    assert {"200", "400", "401", "403", "404"} <= set(path["put"]["responses"])
    assert api.put("/status/jobs/5f0000000000000000000000/explode").status_code == 404  # off the enum: still a 404


@pytest.mark.parametrize("path", ["/api/status/logs", "/api/status/jobs/{job_id}/logs"])
def test_the_period_examples_of_the_document_are_accepted(app: Flask, api: Api, path: str):
    """Every value the ``period`` description quotes is one the route takes (and it names no other syntax)."""
    period = next(p for p in document(api.client)["paths"][path]["get"]["parameters"] if p["name"] == "period")
    quoted = re.findall(r"`([^`]+)`", period["description"])
    examples = [q for q in quoted if q not in ("Xw Xd Xh Xm Xs", "from", "to")]
    assert {"5m", "3h 30m", "today", "yesterday"} <= set(examples) and "lastHour" not in period["description"]
    svc = app.extensions["runtime"]
    job = svc.jobs.submit("NO_RUNNER", "x", {}, svc.auth.find_user("admin@example.com"))
    for example in examples:
        response = api.get(path.removeprefix("/api").format(job_id=job["_id"]), query_string={"period": example})
        assert response.status_code == 200, (example, response.get_json())


TASKS = {"name": "tasks", "fields": [
    {"name": "title", "type": "text"}, {"name": "assignee", "type": "user"},
    {"name": "owner", "type": "user", "typeRules": {"setOn": "create"}},
    {"name": "editor", "type": "user", "typeRules": {"setOn": "write"}},
    {"name": "watchers", "type": "user", "multiplicity": "many"}]}


@pytest.fixture
def tasks(app: Flask, api: Api) -> Api:
    assert api.post("/metadata/entities", json=TASKS).status_code == 200
    app.extensions["runtime"].auth.create_user("ana.ray@example.com", "ana-password", "Ana", "Ray")
    return api


def test_user_fields_read_as_id_and_label_and_are_written_by_id_email_or_name(tasks: Api):
    doc = document(tasks.client, "?entity=tasks")
    validate(doc)
    schemas = doc["components"]["schemas"]
    read = schemas["tasks"]["properties"]
    reference = {"id": {"type": "string"}, "label": {"type": "string", "nullable": True}}
    assert read["assignee"]["type"] == "object" and read["assignee"]["properties"] == reference
    assert read["watchers"]["type"] == "array" and read["watchers"]["items"]["properties"] == reference
    assert read["owner"]["readOnly"] is True and read["editor"]["readOnly"] is True
    assert "readOnly" not in read["assignee"]
    for body in ("tasks.Input", "tasks.Update"):
        assert {"owner", "editor"}.isdisjoint(schemas[body]["properties"]), body
    written = schemas["tasks.Input"]["properties"]["assignee"]["anyOf"]
    assert [w.get("format") or w.get("pattern") or w.get("description") or w["required"] for w in written] == [
        "^[0-9a-fA-F]{24}$", "email", "full name", ["id"], ["email"], ["label"]]
    example = schemas["tasks.Input"]["example"]
    assert example["assignee"] == "ana.ray@example.com" and example["watchers"] == ["ana.ray@example.com"]
    created = tasks.post("/data/tasks", json=example)
    assert created.status_code == 200, created.get_json()
    assert created.get_json()["assignee"]["label"] == "Ana Ray"
    params = doc["components"]["parameters"]
    assert {"tasks.filter.owner.id", "tasks.filter.owner.label", "tasks.filter.watchers.label"} <= set(params)
    assert params["tasks.filter.owner"]["x-operators"] == ["empty", "equals", "notEmpty", "notEquals"]
    assert "like" in params["tasks.filter.owner.label"]["x-operators"]
    owner = tasks.get("/data/tasks", query_string={"owner": params["tasks.filter.owner"]["example"]})
    assert owner.status_code == 200, owner.get_json()


def filter_value(op: str, sample: str) -> str:
    return {"equals": sample, "between": f"between({sample},{sample})", "empty": "empty()",
            "notEmpty": "notEmpty()"}.get(op, f"{op}({sample})")


@pytest.mark.parametrize("entity", ["companies", "contacts", "tasks"])
def test_filter_parameters_advertise_exactly_the_operators_the_list_takes(tasks: Api, entity: str):
    """Every operator a filter parameter lists works with its example; every other one is refused as not allowed."""
    params = document(tasks.client, f"?entity={entity}")["components"]["parameters"]
    filters = {k: p for k, p in params.items() if ".filter." in k}
    assert filters
    for key, param in filters.items():
        sample = param.get("example")
        for op in ("equals", "notEquals", "like", "between", "greater", "greaterOrEquals", "less", "lessOrEquals",
                   "empty", "notEmpty"):
            if sample is None and op not in ("empty", "notEmpty"):
                continue  # a nested group is filtered by a JSON object
            response = tasks.get(f"/data/{entity}", query_string={param["name"]: filter_value(op, sample)})
            if op in param["x-operators"]:
                assert response.status_code == 200, (key, op, response.get_json())
            else:
                assert response.status_code == 400, (key, op)
                assert f"operator '{op}' is not allowed" in response.get_json()["message"], (key, op)
