"""The published OpenAPI document describes every route: parameters, bodies, answers, the real error body and
the token's security schemes; request parsing errors answer in the project's error shape."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from openapi_schema_validator import OAS30Validator, validate

from tests.conftest import Api, company, create

PUBLIC = {("post", "/api/auth/login"), ("get", "/api/health"), ("get", "/api/health/ready"),
          ("get", "/api/files/shared/{shared_id}")}
COOKIE = {("get", "/api/files/{file_id}"), ("get", "/api/data/{entity_name}/{record_id}/files/{file_id}")}
BODIES = {("post", "/api/auth/login"), ("post", "/api/auth/change-password"), ("put", "/api/auth/change-password"),
          ("post", "/api/metadata/entities"), ("put", "/api/metadata/entities/{name}"), ("post", "/api/status/logs"),
          ("post", "/api/files"), ("post", "/api/data/{entity_name}"), ("put", "/api/data/{entity_name}/aggregate"),
          ("post", "/api/data/{entity_name}/import")}
QUERY = {("get", "/api/data/{entity_name}"): {"_size", "_offset", "_sortField", "_sortType", "_fields", "_format",
                                               "_query", "_relationshipsToFetch"},
         ("delete", "/api/data/{entity_name}"): {"_async", "_lowPriority", "_size"},
         ("delete", "/api/data/{entity_name}/{record_id}"): {"_async", "async", "_lowPriority"},
         ("get", "/api/data/{entity_name}/history"): {"_size", "_offset", "from", "to", "eventTypes"},
         ("get", "/api/status/jobs"): {"type", "status", "hasErrors", "_size", "_offset"},
         ("get", "/api/status/logs"): {"period", "from", "to", "level", "_size"},
         ("put", "/api/data/{entity_name}/export"): {"_useFieldNames", "_lowPriority", "_fields"},
         ("post", "/api/data/{entity_name}/import"): {"lowPriority", "skipRecordsWithInvalidFields"}}


@pytest.fixture
def doc(anon: Api) -> dict[str, Any]:
    response = anon.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def operations(doc: dict[str, Any]):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield method, path, op


def resolve(doc: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in ref:
        kind, name = ref["$ref"].split("/")[-2:]
        ref = doc["components"][kind][name]
    return ref


def shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_app_route_is_documented(app: Flask, doc: dict[str, Any]):
    """Under a path of its shape: OpenAPI allows no two paths that differ only in their parameters' names, so the
    record routes (``{record_id}``, ``{segment}``, ``{record_ids}`` in the app) share one."""
    documented = {(m, shape(p)) for m, p, _ in operations(doc)}
    shapes = [shape(p) for p in doc["paths"]]
    assert len(shapes) == len(set(shapes))
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint.startswith(("api-docs", "docs.")):  # the docs page
            continue
        path = re.sub(r"<(?:[^<>]*:)?(\w+)>", r"{\1}", rule.rule)  # <any(a, b):action> → {action}
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method.lower(), shape(path)) in documented, (method, path)


def test_every_operation_declares_its_answers_and_error_body(doc: dict[str, Any]):
    for method, path, op in operations(doc):
        responses = op["responses"]
        assert "200" in responses, (method, path)
        assert "content" in resolve(doc, responses["200"]), (method, path)
        errors = [s for s in responses if s.startswith("4") or s == "default"]
        assert errors, (method, path)
        for status in errors:
            schema = resolve(doc, responses[status])["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
        if (method, path) not in PUBLIC:
            assert "401" in responses, (method, path)


def test_error_schema_is_the_real_error_body(doc: dict[str, Any]):
    error = doc["components"]["schemas"]["Error"]
    assert error["properties"]["code"]["type"] == "string"
    assert {"code", "message", "errors"} <= set(error["required"])
    item = resolve(doc, error["properties"]["errors"]["items"])
    assert {"field", "code", "message"} <= set(item["properties"])
    assert all(item["properties"][k]["type"] == "string" for k in ("field", "code", "message"))


def test_security_schemes_cover_every_private_route(doc: dict[str, Any]):
    schemes = doc["components"]["securitySchemes"]
    kinds = [{k: v for k, v in scheme.items() if k != "description"} for scheme in schemes.values()]
    assert {"type": "apiKey", "in": "header", "name": "token"} in kinds
    assert {"type": "http", "scheme": "bearer"} in kinds
    assert {"type": "apiKey", "in": "header", "name": "X-API-KEY"} in kinds
    assert {"type": "apiKey", "in": "query", "name": "api_key"} in kinds
    assert {"type": "apiKey", "in": "cookie", "name": "token"} in kinds  # file downloads only
    cookie = next(name for name, scheme in schemes.items() if scheme.get("in") == "cookie")
    for method, path, op in operations(doc):
        if (method, path) in PUBLIC:
            assert op["security"] == [], (method, path)
        else:
            expected = set(schemes) if (method, path) in COOKIE else set(schemes) - {cookie}
            assert {name for req in op["security"] for name in req} == expected, (method, path)


def test_bodies_and_query_parameters_are_declared(doc: dict[str, Any]):
    ops = {(m, p): op for m, p, op in operations(doc)}
    for key in BODIES:
        content = ops[key]["requestBody"]["content"]
        schema = next(iter(content.values()))["schema"]
        assert resolve(doc, schema.get("items", schema)).get("properties"), key
    login = resolve(doc, ops[("post", "/api/auth/login")]["requestBody"]["content"]["application/json"]["schema"])
    assert {"email", "password"} <= set(login["properties"])
    for key, names in QUERY.items():
        params = [resolve(doc, p) for p in ops[key].get("parameters", [])]
        declared = {p["name"] for p in params if p["in"] == "query"}
        assert names <= declared, (key, names - declared)
    for method, path, op in operations(doc):
        params = [resolve(doc, p) for p in doc["paths"][path].get("parameters", []) + op.get("parameters", [])]
        path_params = {p["name"] for p in params if p["in"] == "path"}
        assert path_params == {s[1:-1] for s in path.split("/") if s.startswith("{")}, (method, path)


@pytest.mark.parametrize(("path", "param"), [
    ("/data/companies?_size=ten", "_size"),
    ("/data/companies?_size=-1", "_size"),
    ("/data/companies/history?from=yesterday", "from"),
    ("/status/jobs?hasErrors=maybe", "hasErrors"),
    ("/status/jobs?startFrom=today", "startFrom"),
    ("/data/companies/5f0000000000000000000000/history?_size=5000", "_size"),
])
def test_bad_query_parameters_are_our_400_with_field_errors(api: Api, path: str, param: str):
    response = api.get(path)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["code"] == "badRequest" and f"'{param}'" in body["message"]
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(param, "invalid")]


def test_a_bad_flag_is_a_400_before_anything_is_deleted(api: Api):
    response = api.delete("/data/companies/5f0000000000000000000000?_async=sometimes")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "_async"


def test_empty_parameters_count_as_absent(api: Api):
    assert api.get("/data/companies?_size=&_sortType=").status_code == 200
    assert api.get("/status/jobs?hasErrors=&_size=").status_code == 200


def answer_schema(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    declared = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    return {**declared, "components": doc["components"]}


def test_the_delete_and_action_answers_fit_the_documented_200_schemas(api: Api, doc: dict[str, Any]):
    """Each real answer of a delete (one id: the record; several: id → outcome; a query; in the background: the job)
    and of an action (a customResponse string, an outcome per record, a manyRecords answer) fits the 200 schema of
    the generic route and of the entity's own operation."""
    ids = [create(api, "companies", company(name=f"Gone {i}"))["id"] for i in range(5)]
    calls = [  # method, path, the generic path, the entity's path
        ("delete", f"/data/companies/{ids[0]}", "/api/data/{entity_name}/{record_id}", "/api/data/companies/{id}"),
        ("delete", f"/data/companies/{ids[1]},{ids[2]}", "/api/data/{entity_name}/{record_id}",
         "/api/data/companies/{id}"),
        ("delete", f"/data/companies/{ids[3]}?_async=true", "/api/data/{entity_name}/{record_id}",
         "/api/data/companies/{id}"),
        ("delete", "/data/companies?name=nothing", "/api/data/{entity_name}", "/api/data/companies"),
        ("delete", "/data/companies?name=Gone%201&_async=true", "/api/data/{entity_name}", "/api/data/companies"),
        ("put", f"/data/companies/{ids[4]}/customResponse", "/api/data/{entity_name}/{record_ids}/{action_name}",
         "/api/data/companies/{id}/customResponse"),
        ("put", f"/data/companies/{ids[4]}/logSomething", "/api/data/{entity_name}/{record_ids}/{action_name}",
         "/api/data/companies/{id}/logSomething"),
        ("put", "/data/companies/customResponse", "/api/data/{entity_name}/{record_id}",
         "/api/data/companies/customResponse"),
        ("put", "/data/companies/countEmployees", "/api/data/{entity_name}/{record_id}",
         "/api/data/companies/countEmployees"),
        ("put", f"/data/companies/{ids[4]}", "/api/data/{entity_name}/{record_id}", "/api/data/companies/{id}"),
    ]
    answers = []
    for method, path, generic, own in calls:
        response = api.request(method.upper(), path, json={})
        assert response.status_code == 200, (path, response.get_json())
        answer = response.get_json()
        answers.append(type(answer).__name__)
        for documented in (generic, own):
            validate(answer, answer_schema(doc, method, documented), cls=OAS30Validator)
    assert "str" in answers and "list" not in answers  # the customResponse action answers a string
    assert resolve(doc, {"$ref": "#/components/schemas/RecordOutcomes"})["type"] == "object"


def test_the_operations_that_take_an_idempotency_key_declare_it_with_its_answers(api: Api, doc: dict[str, Any]):
    """POST, PUT and DELETE under /data and /files (with a token) take ``Idempotency-Key``: each lists the header,
    the 409 of a request still running, the 422 of a key used for another request and the ``Idempotent-Replayed``
    header of a replayed answer; no other operation lists the header. The answers are the ones the API gives."""
    keyed = []
    for method, path, op in operations(doc):
        params = [resolve(doc, p) for p in op.get("parameters", [])]
        header = [p for p in params if p["name"] == "Idempotency-Key"]
        takes = method in ("post", "put", "delete") and path.startswith(("/api/data/", "/api/files")) \
            and (method, path) not in PUBLIC
        assert len(header) == int(takes), (method, path)
        if not takes:
            continue
        keyed.append((method, path))
        assert header[0]["in"] == "header" and header[0]["required"] is False
        assert header[0]["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
        responses = {status: resolve(doc, answer) for status, answer in op["responses"].items()}
        assert "requestInProgress" in responses["409"]["description"], (method, path)
        assert "idempotencyKeyReused" in responses["422"]["description"], (method, path)
        for status in ("409", "422"):
            assert responses[status]["content"]["application/json"]["schema"] == \
                {"$ref": "#/components/schemas/Error"}, (method, path, status)
        replayed = resolve(doc, responses["200"]["headers"]["Idempotent-Replayed"])
        assert replayed["schema"] == {"type": "string", "enum": ["true"]}, (method, path)
    assert {("post", "/api/data/companies"), ("put", "/api/data/companies/{id}"), ("post", "/api/files"),
            ("delete", "/api/data/{entity_name}/{record_id}"), ("put", "/api/data/companies/{id}/logSomething"),
            ("post", "/api/data/companies/import")} <= set(keyed)

    first = api.post("/data/companies", json=company(name="Once"), headers={"Idempotency-Key": "k-1"})
    again = api.post("/data/companies", json=company(name="Once"), headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    other = api.post("/data/companies", json=company(name="Twice"), headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422 and other.get_json()["code"] == "idempotencyKeyReused"
    # an operation the document lists without the header ignores it
    for name in ("first", "second"):
        response = api.post("/groups", json={"name": name}, headers={"Idempotency-Key": "k-2"})
        assert response.status_code == 200 and "Idempotent-Replayed" not in response.headers
