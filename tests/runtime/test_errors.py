"""One error shape for every failure."""

from __future__ import annotations

from tests.conftest import Api, login, make_app

SHAPE = {"code", "message", "errors"}


def test_malformed_json_says_so(api: Api):
    response = api.post("/data/companies", data="{not json", content_type="application/json")
    assert response.status_code == 400
    body = response.get_json()
    assert set(body) >= SHAPE and "Malformed JSON" in body["message"]


def test_json_that_is_not_an_object(api: Api):
    for body in ("[1, 2]", "\"text\"", "42", "null"):
        response = api.post("/data/companies", data=body, content_type="application/json")
        assert response.status_code == 400, body
        assert set(response.get_json()) >= SHAPE


def test_unknown_route_and_entity_are_404(api: Api):
    for path in ("/nothing/here", "/data/unknownEntity", "/data/unknownEntity/5f0000000000000000000000"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["code"] == "notFound"


def test_wrong_method_is_405(api: Api):
    response = api.request("PATCH", "/data/companies")
    assert response.status_code == 405
    assert response.get_json()["code"] == "methodNotAllowed"


def test_body_over_the_limit_is_413():
    app = make_app(max_content_length=1024)
    api = login(app)
    response = api.post("/data/companies", data="{" + " " * 4096 + "}", content_type="application/json")
    assert response.status_code == 413
    assert set(response.get_json()) >= SHAPE
    assert app.extensions["runtime"].records.collection("companies").count_documents({}) == 0


def test_unhandled_exception_is_500_without_traceback(app, api: Api, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(app.extensions["runtime"].records, "get", boom)
    response = api.get("/data/companies/5f0000000000000000000000")
    assert response.status_code == 500
    body = response.get_json()
    assert body["code"] == "internalError"
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert any("secret internal detail" in r.getMessage() or r.exc_info for r in caplog.records)
    logs = api.get("/status/logs?level=ERROR").get_json()["items"]
    path = "/api/data/companies/5f0000000000000000000000"
    assert [entry["message"] for entry in logs] == [f"Internal error on GET {path}: RuntimeError"]
    assert logs[0]["additionalInfo"] == {"error": "secret internal detail"}  # developers only: /status/logs is 403


def test_openapi_document_is_published(api: Api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    paths = response.get_json()["paths"]
    assert "/api/data/{entity_name}" in paths and "/api/auth/login" in paths
