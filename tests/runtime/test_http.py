"""HTTP conventions: OPTIONS answers without a token, CORS only for configured origins, no HTML redirects."""

from core.storage import drop_embedded
from tests.conftest import make_app

ORIGIN = "https://builder.example.com"


def test_options_lists_the_allowed_methods_without_a_token(app):
    response = app.test_client().options("/api/data/companies")
    assert response.status_code == 200
    assert {"GET", "POST", "DELETE"} <= set(response.headers["Allow"].split(", "))
    assert "Access-Control-Allow-Origin" not in response.headers  # no CORS unless CORS_ORIGINS is set
    body = response.get_json()  # the same, as JSON: what the route takes and answers, and where it is described
    assert response.mimetype == "application/json"
    assert set(body["methods"]) == set(response.headers["Allow"].split(", "))
    assert body["schema"] == "/api/openapi.json?entity=companies" and "application/json" in body["parses"]
    assert app.test_client().get(body["schema"]).status_code == 200
    users = app.test_client().options("/api/users").get_json()
    assert users["schema"] == "/api/openapi.json" and "POST" in users["methods"]


def test_cors_preflight_and_responses_for_configured_origins_only():
    app = make_app(cors_origins=(ORIGIN,))
    try:
        client = app.test_client()
        preflight = client.options("/api/data/companies/abc", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "token"})
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "token" in preflight.headers["Access-Control-Allow-Headers"]
        assert "Access-Control-Allow-Credentials" not in preflight.headers

        refused = client.get("/api/data/companies", headers={"Origin": "https://elsewhere.example.com"})
        assert refused.status_code == 401 and "Access-Control-Allow-Origin" not in refused.headers
        error = client.get("/api/data/companies", headers={"Origin": ORIGIN})
        assert error.status_code == 401 and error.headers["Access-Control-Allow-Origin"] == ORIGIN
    finally:
        drop_embedded(app.config["RUNTIME"].mongodb_db)


def test_an_empty_path_segment_is_a_json_404_not_a_redirect(api):
    response = api.get("/data/companies//history")
    assert response.status_code == 404
    assert response.get_json()["code"] == "notFound"


def test_options_lists_what_the_route_of_the_path_serves(app, api):
    """A path with a literal segment (``aggregate``, ``import``, ``export``, ``history``) is served by its own route:
    OPTIONS lists that route's methods, as the 405 of another method does, not those of ``/data/{entity}/{id}``."""
    client = app.test_client()
    for path, methods in (("/api/data/companies/aggregate", "OPTIONS, PUT"),
                          ("/api/data/companies/import", "OPTIONS, POST"),
                          ("/api/data/companies/export", "OPTIONS, PUT"),
                          ("/api/data/companies/history", "GET, HEAD, OPTIONS"),
                          ("/api/data/companies/5f0000000000000000000000", "DELETE, GET, HEAD, OPTIONS, PUT")):
        response = client.options(path)
        assert response.status_code == 200 and response.headers["Allow"] == methods, path
        assert response.get_json()["methods"] == methods.split(", ")
        for method in {"GET", "POST", "PUT", "DELETE"} - set(methods.split(", ")):
            refused = api.request(method, path.removeprefix("/api"), json={})
            assert refused.status_code == 405, (path, method)


def test_options_says_which_bodies_the_route_reads(app):
    client = app.test_client()
    assert client.options("/api/users").get_json()["parses"] == ["application/json"]
    assert client.options("/api/data/companies/import").get_json()["parses"] == ["multipart/form-data"]
    assert client.options("/api/auth/login").get_json()["parses"] == [
        "application/json", "application/x-www-form-urlencoded", "multipart/form-data"]
    assert client.options("/api/data/companies/history").get_json()["parses"] == []


def test_options_on_an_entity_that_does_not_exist_is_404(app):
    response = app.test_client().options("/api/data/nosuch")
    assert response.status_code == 404 and response.get_json()["code"] == "notFound"
    assert app.test_client().options("/api/data/nosuch/5f0000000000000000000000").status_code == 404
