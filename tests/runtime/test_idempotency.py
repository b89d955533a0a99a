"""``Idempotency-Key``: replay, reuse, in-progress and takeover, per user, on records, actions and files."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.conftest import Api, company, create

KEY = {"Idempotency-Key": "create-acme-1"}


def total(api: Api, query: str = "") -> int:
    return api.get(f"/data/companies{query}").get_json()["total"]


def test_a_retried_create_is_replayed_not_repeated(api: Api):
    first = api.post("/data/companies", json=company(name="Acme"), headers=KEY)
    again = api.post("/data/companies", json=company(name="Acme"), headers=KEY)
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert total(api) == 1
    history = api.get(f"/data/companies/{first.get_json()['id']}/history").get_json()
    assert len(history["items"]) == 1  # nothing else happened


def test_a_key_reused_for_another_request_is_422(api: Api):
    record = api.post("/data/companies", json=company(name="Acme"), headers=KEY).get_json()
    for method, path, body in (("POST", "/data/companies", company(name="Other")),
                               ("POST", "/data/companies?x=1", company(name="Acme")),
                               ("PUT", f"/data/companies/{record['id']}", {"numberOfEmployees": 1})):
        response = api.request(method, path, json=body, headers=KEY)
        assert response.status_code == 422
        assert response.get_json() == {
            "code": "idempotencyKeyReused", "errors": [],
            "message": "This Idempotency-Key was already used for a different request (method, path, query or "
                       "body); send a new key for a new request"}
    assert total(api) == 1


@pytest.mark.parametrize("key", ["k" * 256, ""])
def test_a_key_must_have_1_to_255_characters(api: Api, key: str):
    response = api.post("/data/companies", json=company(), headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.get_json()["errors"] == [
        {"field": "Idempotency-Key", "code": "invalid", "message": "must have 1 to 255 characters"}]
    assert total(api) == 0
    assert api.post("/data/companies", json=company(), headers={"Idempotency-Key": "k" * 255}).status_code == 200


def test_keys_belong_to_their_user(api: Api, user_api: Api, app: Flask):
    assert api.post("/data/companies", json=company(name="Mine"), headers=KEY).status_code == 200
    theirs = user_api.post("/data/companies", json=company(name="Theirs"), headers=KEY)
    assert theirs.status_code == 200 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["name"] == "Theirs" and total(api) == 2


def test_updates_deletes_and_refusals_are_replayed(api: Api):
    record = create(api, "companies", company(name="Acme"))
    path = f"/data/companies/{record['id']}"
    update = {"Idempotency-Key": "u1"}
    assert api.put(path, json={"numberOfEmployees": 5}, headers=update).get_json()["version"] == 1
    assert api.put(path, json={"numberOfEmployees": 5}, headers=update).get_json()["version"] == 1
    bad = {"Idempotency-Key": "bad"}
    refused = api.put(path, json={"numberOfEmployees": "x"}, headers=bad)
    replayed = api.put(path, json={"numberOfEmployees": "x"}, headers=bad)
    assert refused.status_code == replayed.status_code == 400 and replayed.get_json() == refused.get_json()
    delete = {"Idempotency-Key": "d1"}
    assert api.delete(path, headers=delete).status_code == 200
    again = api.delete(path, headers=delete)  # without the key: 404
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert api.delete(path).status_code == 404


def test_actions_and_uploads_accept_keys(api: Api):
    record = create(api, "companies", company(name="Acme"))
    action = {"Idempotency-Key": "a1"}
    path = f"/data/companies/{record['id']}/logSomething"
    assert api.put(path, json={"param1": "a"}, headers=action).status_code == 200
    assert api.put(path, json={"param1": "a"}, headers=action).headers["Idempotent-Replayed"] == "true"
    upload = {"Idempotency-Key": "f1"}
    first = api.post("/files", data={"file": (io.BytesIO(b"hello"), "a.txt")}, headers=upload)
    again = api.post("/files", data={"file": (io.BytesIO(b"hello"), "a.txt")}, headers=upload)
    assert first.status_code == 200 and again.get_json() == first.get_json()
    other = api.post("/files", data={"file": (io.BytesIO(b"other"), "a.txt")}, headers=upload)
    assert other.status_code == 422


def test_an_upload_with_a_part_whose_name_cannot_be_read_is_replayed(api: Api):
    """``name="x\\"`` reads as no name (None) beside the named parts: the key still works, no 500."""
    body = (b'--XX\r\nContent-Disposition: form-data; name="a"\r\n\r\n{}\r\n'
            b'--XX\r\nContent-Disposition: form-data; name="x\\"\r\n\r\n{}\r\n'
            b'--XX\r\nContent-Disposition: form-data; name="y\\"; filename="y.txt"\r\n\r\nother\r\n'
            b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello\r\n--XX--\r\n')
    headers = {"Idempotency-Key": "f2", "Content-Type": "multipart/form-data; boundary=XX"}
    first = api.post("/files", data=body, headers=headers)
    again = api.post("/files", data=body, headers=headers)
    assert first.status_code == again.status_code == 200, first.get_json()
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"


def test_reads_and_other_routes_ignore_the_header(api: Api):
    assert api.get("/data/companies", headers=KEY).status_code == 200
    assert api.post("/status/logs", json={"message": "m"}, headers=KEY).status_code == 200
    assert api.post("/status/logs", json={"message": "m"}, headers=KEY).headers.get("Idempotent-Replayed") is None


def slow_creates(app: Flask, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    records = app.extensions["runtime"].records
    original = records.create

    def slow(*args: Any, **kwargs: Any) -> Any:
        doc = original(*args, **kwargs)
        time.sleep(seconds)
        return doc
    monkeypatch.setattr(records, "create", slow)


def test_concurrent_requests_with_one_key_run_once(app: Flask, api: Api, monkeypatch: pytest.MonkeyPatch):
    slow_creates(app, monkeypatch, 0.5)
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(
        api.post("/data/companies", json=company(name="Once"), headers=KEY)))
    first.start()
    time.sleep(0.2)
    second = api.post("/data/companies", json=company(name="Once"), headers=KEY)
    first.join()
    assert results[0].status_code == 200
    assert second.status_code == 409
    assert second.get_json()["code"] == "requestInProgress"
    assert "still running" in second.get_json()["message"]
    retry = api.post("/data/companies", json=company(name="Once"), headers=KEY)
    assert retry.status_code == 200 and retry.get_json() == results[0].get_json()
    assert total(api) == 1


def test_a_create_that_failed_after_saving_is_answered_with_its_record(app: Flask, api: Api,
                                                                       monkeypatch: pytest.MonkeyPatch):
    records = app.extensions["runtime"].records
    original = records.create

    def save_then_fail(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise RuntimeError("the process fell over after the insert")
    monkeypatch.setattr(records, "create", save_then_fail)
    assert api.post("/data/companies", json=company(name="Half"), headers=KEY).status_code == 500
    monkeypatch.setattr(records, "create", original)
    retry = api.post("/data/companies", json=company(name="Half"), headers=KEY)
    assert retry.status_code == 200 and retry.get_json()["name"] == "Half"
    assert total(api) == 1
    assert api.post("/data/companies", json=company(name="Half"), headers=KEY).headers["Idempotent-Replayed"] == \
        "true"


def test_a_claim_whose_worker_died_is_taken_over_after_the_lease(app: Flask, api: Api):
    col = app.extensions["runtime"].store.collection("sys.idempotency")
    slow = api.post("/data/companies", json=company(name="Died"), headers=KEY)
    record_id = slow.get_json()["id"]
    # As if the worker had died after saving, before storing the response: the claim is left running.
    col.update_many({}, {"$set": {"state": "running"}, "$unset": {"status": "", "body": ""}})
    assert api.post("/data/companies", json=company(name="Died"), headers=KEY).status_code == 409
    col.update_many({}, {"$set": {"leaseUntil": dt.datetime(2000, 1, 1)}})  # the lease (60 s) is over
    retry = api.post("/data/companies", json=company(name="Died"), headers=KEY)
    assert retry.status_code == 200 and retry.get_json()["id"] == record_id
    assert total(api) == 1


def test_stored_responses_expire_after_24_hours(app: Flask, api: Api, manual_sweeps: Callable[[], int]):
    col = app.extensions["runtime"].store.collection("sys.idempotency")
    api.post("/data/companies", json=company(name="Old"), headers=KEY)
    claim = col.find_one({})
    assert dt.timedelta(hours=23) < claim["expiresAt"] - claim["claimedAt"] <= dt.timedelta(hours=24, seconds=5)
    assert "expiry" in col.index_information()
    col.update_many({}, {"$set": {"expiresAt": dt.datetime(2000, 1, 1)}})
    assert manual_sweeps() >= 1
    again = api.post("/data/companies", json=company(name="Old 2"), headers=KEY)  # the key is free again
    assert again.status_code == 200 and total(api) == 2
