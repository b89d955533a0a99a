"""Seed "Authentication" and "Impersonating other users"; API keys passed three ways (seed 000); session
lifecycle: logout, refresh, authenticated, change password (seed 004)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.seed.samples import LOGIN_KEYS, OBJECT_ID, assert_error


@pytest.fixture
def employee(app) -> dict:
    return app.extensions["runtime"].auth.create_user("employee@test.com", "employee-password", "Employee", "Test")


def _login(anon: Api, **payload) -> dict:
    response = anon.post("/auth/login", json=payload)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- POST /auth/login ------------------------------------------------------------------------------

def test_login_returns_the_documented_body(anon: Api):
    session = _login(anon, email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    assert list(session) == LOGIN_KEYS
    assert session["app"] == "runtime" and session["adminUserEmail"] is None
    assert session["userEmail"] == ADMIN_EMAIL and session["userName"] == "Admin"
    assert OBJECT_ID.match(session["userId"]) and isinstance(session["ip"], str)
    assert isinstance(session["token"], str) and len(session["token"]) >= 32
    listed = anon.get("/data/companies", headers={"Accept": "application/json", "token": session["token"]})
    assert listed.status_code == 200


def test_login_is_case_insensitive_on_the_email(anon: Api):
    assert _login(anon, email=ADMIN_EMAIL.upper(), password=ADMIN_PASSWORD)["userEmail"] == ADMIN_EMAIL


def test_invalid_credentials_are_401(anon: Api):
    assert_error(anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": "abcdefgh"}), 401)
    assert_error(anon.post("/auth/login", json={"email": "user@test.com", "password": "abcdefgh"}), 401)


@pytest.mark.parametrize("payload", [{"email": ADMIN_EMAIL}, {"password": "abcdefgh"}, {},
                                     {"email": 5, "password": ["x"]}])
def test_malformed_login_is_400(anon: Api, payload: dict):
    assert_error(anon.post("/auth/login", json=payload), 400)


def test_login_field_errors_name_each_field_in_the_validation_shape(anon: Api):
    body = assert_error(anon.post("/auth/login", json={"password": 5, "emailImpersonatedUser": 7}), 400)
    assert body["code"] == "validationErrors"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("email", "required"), ("password", "invalid"), ("emailImpersonatedUser", "invalid")]
    assert all(set(e) == {"field", "fieldLabel", "code", "message", "additionalInfo"} for e in body["errors"])


def test_change_password_values_of_another_type_are_invalid_not_missing(api: Api):
    body = assert_error(api.post("/auth/change-password", json={"oldPassword": 1, "password": ["x"]}), 400)
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("oldPassword", "invalid"), ("password", "invalid"), ("password2", "required")]


def test_login_body_that_is_not_a_json_object_is_400(anon: Api):
    assert_error(anon.post("/auth/login", data="{email", content_type="application/json"), 400)
    assert_error(anon.post("/auth/login", json=["user@test.com", "abcdefgh"]), 400)


def test_form_encoded_login(anon: Api):
    response = anon.post("/auth/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200 and list(response.get_json()) == LOGIN_KEYS
    as_curl_sends_json_without_a_content_type = anon.post(
        "/auth/login", data=json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        content_type="application/x-www-form-urlencoded")
    assert as_curl_sends_json_without_a_content_type.status_code == 200
    assert_error(anon.post("/auth/login", data={"email": ADMIN_EMAIL}), 400)
    for malformed in ('{"email": NaN}', '{"email": "a@b.c", "password": "x"'):  # said so, not "required"
        body = assert_error(anon.post("/auth/login", data=malformed, content_type="application/x-www-form-urlencoded"),
                            400)
        assert body["message"].startswith("Malformed JSON in request body"), body


def test_expired_or_unknown_token_is_401(app, api: Api, anon: Api):
    assert_error(anon.get("/data/companies", headers={"token": "eLJjYSjLUPLlIEe8lfJUOmzsVNvSRpOv"}), 401)
    app.extensions["runtime"].store.collection("sys.tokens").delete_many({})  # as after 8 h of inactivity
    assert_error(api.get("/data/companies"), 401)


# --- Impersonating other users ------------------------------------------------------------------------

def test_developer_impersonates_an_employee(anon: Api, employee: dict):
    session = _login(anon, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, emailImpersonatedUser="employee@test.com")
    assert list(session) == LOGIN_KEYS
    assert session["adminUserEmail"] == ADMIN_EMAIL and session["userEmail"] == "employee@test.com"
    assert session["userName"] == "Employee Test" and session["userId"] == str(employee["_id"])
    me = anon.get("/auth/me", headers={"token": session["token"]}).get_json()
    assert me["email"] == "employee@test.com" and me["adminUserEmail"] == ADMIN_EMAIL


def test_impersonating_an_unknown_user_is_404(anon: Api):
    response = anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                              "emailImpersonatedUser": "ghost@test.com"})
    assert_error(response, 404)


@pytest.mark.parametrize("target", [123, ["ghost@test.com"], {"email": "x"}, True])
def test_an_impersonated_user_that_is_not_an_email_is_400(anon: Api, target):
    response = anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                              "emailImpersonatedUser": target})
    assert_error(response, 400)
    assert response.get_json()["errors"][0]["field"] == "emailImpersonatedUser"


def test_impersonating_without_permission_is_403(anon: Api, employee: dict):
    response = anon.post("/auth/login", json={"email": "employee@test.com", "password": "employee-password",
                                              "emailImpersonatedUser": ADMIN_EMAIL})
    assert_error(response, 403)


# --- API keys: AUTHORIZATION: token, X-API-KEY, api_key (seed 000) ---------------------------------------

def test_token_accepted_the_three_api_key_ways_and_as_bearer(api: Api, anon: Api):
    token = api.token
    for headers in ({"AUTHORIZATION": f"token {token}"}, {"X-API-KEY": token}, {"Authorization": f"Bearer {token}"},
                    {"token": token}):
        assert anon.get("/data/companies", headers=headers).status_code == 200, headers
    assert anon.get(f"/data/companies?api_key={token}").status_code == 200
    assert_error(anon.get("/data/companies", headers={"AUTHORIZATION": "token nope"}), 401)
    assert_error(anon.get("/data/companies?api_key=nope"), 401)


# --- Session lifecycle (seed 004) ---------------------------------------------------------------------

def test_authenticated_says_whether_the_token_is_valid(api: Api, anon: Api):
    response = api.get("/auth/authenticated")
    assert response.status_code == 200
    payload = response.get_json()
    assert payload["authenticated"] is True and payload["user"]["email"] == ADMIN_EMAIL
    assert_error(anon.get("/auth/authenticated"), 401)
    assert_error(anon.get("/auth/authenticated", headers={"token": "nope"}), 401)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_logout_revokes_the_token(api: Api, method: str):
    response = api.request(method, "/auth/logout")
    assert response.status_code == 200
    assert_error(api.get("/auth/authenticated"), 401)
    assert_error(api.get("/data/companies"), 401)


def test_logout_ends_only_that_session(app, api: Api):
    other = Api(app.test_client(), _login(Api(app.test_client(), None), email=ADMIN_EMAIL,
                                           password=ADMIN_PASSWORD)["token"])
    api.get("/auth/logout")
    assert other.get("/data/companies").status_code == 200


def test_refresh_token_gives_a_new_token_for_the_same_session(api: Api, anon: Api, employee: dict):
    response = api.get("/auth/refresh-token")
    assert response.status_code == 200
    session = response.get_json()
    assert list(session) == LOGIN_KEYS and session["userEmail"] == ADMIN_EMAIL and session["token"] != api.token
    assert anon.get("/data/companies", headers={"token": session["token"]}).status_code == 200
    assert_error(api.get("/data/companies"), 401)  # the refreshed token is replaced
    assert_error(anon.get("/auth/refresh-token"), 401)
    impersonating = _login(anon, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, emailImpersonatedUser="employee@test.com")
    refreshed = anon.post("/auth/refresh-token", headers={"token": impersonating["token"]}).get_json()
    assert refreshed["userEmail"] == "employee@test.com" and refreshed["adminUserEmail"] == ADMIN_EMAIL


def test_change_password(app, api: Api, anon: Api):
    other = Api(app.test_client(), _login(anon, email=ADMIN_EMAIL, password=ADMIN_PASSWORD)["token"])
    response = api.post("/auth/change-password", json={"oldPassword": ADMIN_PASSWORD, "password": "new-password-1",
                                                       "password2": "new-password-1"})
    assert response.status_code == 200 and response.get_json() == {"success": True}
    assert_error(anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}), 401)
    assert _login(anon, email=ADMIN_EMAIL, password="new-password-1")["userEmail"] == ADMIN_EMAIL
    assert api.get("/data/companies").status_code == 200  # the session that changed it goes on
    assert_error(other.get("/data/companies"), 401)  # every other session of the user ends


@pytest.mark.parametrize(("payload", "field"), [
    ({"oldPassword": "wrong-password", "password": "new-password-1", "password2": "new-password-1"}, "oldPassword"),
    ({"oldPassword": ADMIN_PASSWORD, "password": "new-password-1", "password2": "new-password-2"}, "password2"),
    ({"oldPassword": ADMIN_PASSWORD, "password": "short", "password2": "short"}, "password"),
    ({"oldPassword": ADMIN_PASSWORD, "password": "new-password-1"}, "password2"),
])
def test_change_password_errors_are_400_and_change_nothing(api: Api, anon: Api, payload: dict, field: str):
    errors = assert_error(api.post("/auth/change-password", json=payload), 400)["errors"]
    assert [e["field"] for e in errors] == [field]
    assert _login(anon, email=ADMIN_EMAIL, password=ADMIN_PASSWORD)["userEmail"] == ADMIN_EMAIL


def test_change_password_snake_case_form_and_impersonation(anon: Api, api: Api, employee: dict):
    response = api.post("/auth/change-password", data={"old_password": ADMIN_PASSWORD, "password": "new-password-1",
                                                       "password_2": "new-password-1"})
    assert response.status_code == 200
    impersonating = _login(anon, email=ADMIN_EMAIL, password="new-password-1",
                           emailImpersonatedUser="employee@test.com")
    refused = anon.post("/auth/change-password", headers={"token": impersonating["token"]},
                        json={"oldPassword": "employee-password", "password": "x" * 10, "password2": "x" * 10})
    assert_error(refused, 403)
    assert_error(anon.post("/auth/change-password", json={}), 401)
