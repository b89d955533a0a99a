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
