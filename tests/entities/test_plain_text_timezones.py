"""``_format=plainText`` writes date-times in a user's timezone: ``_formatForUser``'s (id or email), else the
caller's; a user in AUTO mode (or without localization) reads UTC, exactly as before."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api, company, create, grant_all

LAST_MEETING_UTC = "2015-04-21T13:33:00.000Z"
LAST_MEETING_NEW_YORK = "2015-04-21T09:33:00.000-04:00"
LAST_MEETING_BERLIN = "2015-04-21T15:33:00.000+02:00"


def _user(app: Flask, api: Api, email: str, timezone: str | None) -> str:
    """A regular user allowed everything (created unless there), set by ``PUT /users`` to MANUAL mode on
    ``timezone`` (None: AUTO); their id."""
    svc = app.extensions["runtime"]
    if svc.store.collection("sys.users").find_one({"email": email}) is None:
        svc.auth.create_user(email, "long-password", "Some", "One")
        grant_all(app, email)
    localization = {"timezoneMode": "MANUAL", "timezone": timezone} if timezone else {"timezoneMode": "AUTO"}
    response = api.put(f"/users/{email}", json={"localization": localization})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["id"]


def _listed(api: Api, query: str) -> dict[str, Any]:
    response = api.get(f"/data/companies?_format=plainText&{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"][0]


def _one(api: Api, record_id: str, query: str) -> dict[str, Any]:
    response = api.get(f"/data/companies/{record_id}?_format=plainText&{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_user_named_by_email_or_id_gets_date_times_in_their_timezone(app: Flask, api: Api):
    created = create(api, "companies", company())
    _user(app, api, "ny@example.com", "America/New_York")
    berlin = _user(app, api, "berlin@example.com", "Europe/Berlin")
    listed = _listed(api, "_formatForUser=NY@example.com")
    assert listed["lastMeeting"] == LAST_MEETING_NEW_YORK
    assert listed["lastUpdate"].endswith(("-04:00", "-05:00")) and "Z" not in listed["lastUpdate"]
    assert listed["numberOfEmployees"] == "95" and listed["addresses"] == "NV - 89145"  # the rest is unchanged
    assert _one(api, created["id"], "_formatForUser=ny@example.com")["lastMeeting"] == LAST_MEETING_NEW_YORK
    assert _listed(api, f"_formatForUser={berlin}")["lastMeeting"] == LAST_MEETING_BERLIN
    assert _one(api, created["id"], f"_formatForUser={berlin}")["lastMeeting"] == LAST_MEETING_BERLIN
    projected = _one(api, created["id"], f"_formatForUser={berlin}&_fields=lastMeeting")
    assert projected["lastMeeting"] == LAST_MEETING_BERLIN


def test_an_unknown_user_is_a_400_naming_the_parameter(app: Flask, api: Api, user_api: Api):
    created = create(api, "companies", company())
    for caller in (api, user_api):
        for ref in ("ghost@example.com", "0123456789abcdef01234567", "nobody"):
            for path in ("/data/companies", f"/data/companies/{created['id']}"):
                response = caller.get(f"{path}?_format=plainText&_formatForUser={ref}")
                assert response.status_code == 400, (path, ref)
                body = response.get_json()
                assert "'_formatForUser'" in body["message"] and body["errors"][0]["field"] == "_formatForUser"


def test_without_plain_text_the_parameter_reads_no_user(app: Flask, api: Api, monkeypatch: pytest.MonkeyPatch):
    created = create(api, "companies", company())

    def no_lookup(ref: str) -> None:
        raise AssertionError("a native read looked a user up")

    monkeypatch.setattr(app.extensions["runtime"].plugins, "user_timezone", no_lookup)
    assert api.get("/data/companies?_formatForUser=ghost@example.com").get_json()["items"][0]["lastMeeting"] \
        == 1429623180000
    assert api.get(f"/data/companies/{created['id']}?_formatForUser=ghost@example.com").status_code == 200


def test_the_caller_reads_their_own_timezone_and_a_regular_user_may_name_another(app: Flask, api: Api,
                                                                               user_api: Api):
    created = create(api, "companies", company())
    _user(app, api, "ny@example.com", "America/New_York")
    _user(app, api, "user@example.com", "Europe/Berlin")
    assert _listed(user_api, "")["lastMeeting"] == LAST_MEETING_BERLIN
    assert _one(user_api, created["id"], "")["lastMeeting"] == LAST_MEETING_BERLIN
    assert _listed(user_api, "_formatForUser=ny@example.com")["lastMeeting"] == LAST_MEETING_NEW_YORK
    assert _listed(api, "")["lastMeeting"] == LAST_MEETING_UTC  # the developer has no localization: UTC


def test_an_impersonated_session_reads_the_impersonated_users_timezone(app: Flask, api: Api):
    create(api, "companies", company())
    _user(app, api, "ny@example.com", "America/New_York")
    client = app.test_client()
    response = client.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
                                                    "emailImpersonatedUser": "ny@example.com"})
    assert response.status_code == 200, response.get_json()
    impersonating = Api(client, response.get_json()["token"])
    assert _listed(impersonating, "")["lastMeeting"] == LAST_MEETING_NEW_YORK


def test_auto_mode_and_utc_users_read_exactly_what_they_read_before(app: Flask, api: Api):
    created = create(api, "companies", company())
    auto = _user(app, api, "auto@example.com", None)
    _user(app, api, "utc@example.com", "UTC")
    before = _one(api, created["id"], "")
    assert before["lastMeeting"] == LAST_MEETING_UTC and before["lastUpdate"].endswith("Z")
    assert _one(api, created["id"], f"_formatForUser={auto}") == before
    assert _one(api, created["id"], "_formatForUser=utc@example.com") == before
    assert _listed(api, "_formatForUser=auto@example.com") == before


def test_every_value_of_a_multi_valued_date_time_and_the_record_stamps_follow_the_timezone(app: Flask, api: Api):
    assert api.post("/metadata/entities", json={
        "name": "meetings", "fields": [
            {"name": "title", "type": "text"},
            {"name": "slots", "type": "dateTime", "multiplicity": "many"},
            {"name": "day", "type": "date"}, {"name": "opens", "type": "time"},
            {"name": "created", "type": "createdDate"},
            {"name": "stops", "type": "nestedFields", "multiplicity": "many", "recordLabel": "#{city}",
             "nestedFields": [{"name": "city", "type": "text"}, {"name": "at", "type": "dateTime"}]}]},
    ).status_code == 200
    _user(app, api, "ny@example.com", "America/New_York")
    record = create(api, "meetings", {"title": "x", "slots": [1429623180000, 1420070400000], "day": "2015-04-21",
                                      "opens": "08:00", "stops": [{"city": "Reno", "at": 1429623180000}]})
    text = api.get(f"/data/meetings/{record['id']}?_format=plainText&_formatForUser=ny@example.com").get_json()
    assert text["slots"] == "2015-04-21T09:33:00.000-04:00, 2014-12-31T19:00:00.000-05:00"
    assert text["day"] == "2015-04-21" and text["opens"] == "08:00"  # dates and times have no timezone
    assert text["created"].endswith(("-04:00", "-05:00"))
    assert text["stops"] == "Reno"  # a nested group reads as its label, as in every plainText answer
