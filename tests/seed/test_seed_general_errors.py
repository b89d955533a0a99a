"""Seed "General error codes": 200, 400, 401, 403, 404, 409 and 503, all in one JSON error shape."""

from __future__ import annotations

from bson import ObjectId

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api, grant_all, login, make_app
from tests.seed.samples import BROWSEZOOM, assert_error, create


def test_200_everything_went_fine(api: Api):
    response = api.get("/data/companies", headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.mimetype == "application/json"


def test_400_invalid_data_or_operation(api: Api):
    payload = assert_error(api.post("/data/companies", json={"name": "x", "numberOfEmployees": -1}), 400)
    assert payload["errors"][0]["field"] == "numberOfEmployees"
    assert_error(api.get("/data/companies?_size=-3"), 400)
    record = create(api, "companies", BROWSEZOOM)
    assert_error(api.put(f"/data/companies/{record['id']}/activate"), 400)  # the precondition is not met


def test_401_no_token_or_a_bad_one(anon: Api):
    for response in (anon.get("/data/companies"), anon.get("/data/companies", headers={"token": "nope"}),
                     anon.put("/data/contacts/aggregate", json=[{"count": "n"}]), anon.get("/status/jobs")):
        assert assert_error(response, 401)["code"] == "unauthorized"


def test_403_credentials_without_permission(app, api: Api, user_api: Api):
    record = create(api, "companies", BROWSEZOOM)
    job = api.delete(f"/data/companies/{record['id']}?_async=true").get_json()  # a developer's job
    assert assert_error(user_api.get(f"/status/jobs/{job['jobId']}"), 403)["code"] == "forbidden"
    assert_error(user_api.put(f"/status/jobs/{job['jobId']}/stop"), 403)
    assert_error(user_api.get("/metadata/entities/companies"), 403)


def test_404_resource_does_not_exist(api: Api):
    for response in (api.get(f"/data/companies/{ObjectId()}"), api.get("/data/ghosts"),
                     api.get(f"/status/jobs/{ObjectId()}"), api.get("/no/such/route")):
        assert assert_error(response, 404)["code"] == "notFound"


def test_409_optimistic_locking(api: Api):
    record = create(api, "companies", BROWSEZOOM)
    api.put(f"/data/companies/{record['id']}", json={"version": 0, "notes": "mine"})
    assert assert_error(api.put(f"/data/companies/{record['id']}", json={"version": 0, "notes": "theirs"}),
                        409)["code"] == "optimisticLocking"


def test_503_maintenance_mode_lets_only_developers_in():
    app = make_app(maintenance_mode=True)
    services = app.extensions["runtime"]
    services.auth.create_user("user@test.com", "user-password", "User", "Test")
    grant_all(app, "user@test.com")
    anon = Api(app.test_client(), None)
    refused = anon.post("/auth/login", json={"email": "user@test.com", "password": "user-password"})
    assert assert_error(refused, 503)["code"] == "serviceUnavailable"
    developer = login(app, ADMIN_EMAIL, ADMIN_PASSWORD)  # developers log in anyway
    assert developer.get("/data/companies").status_code == 200
    impersonating = anon.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                                   "emailImpersonatedUser": "user@test.com"}).get_json()
    assert anon.get("/data/companies", headers={"token": impersonating["token"]}).status_code == 200
    # A session opened before the maintenance started is refused too.
    user_token, _, _ = services.auth.login("user@test.com", "user-password", None, None)
    assert_error(anon.get("/data/companies", headers={"token": user_token}), 503)
