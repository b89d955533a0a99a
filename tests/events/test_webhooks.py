"""Webhooks: signed deliveries from a worker, retried with backoff until they succeed (exactly one success),
given up after the last step, the delivery log, URL checks and WEBHOOK_ALLOWED_HOSTS."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from bson import ObjectId

from core.storage import drop_embedded
from tests.conftest import Api, create, login, make_app
from tests.events.receiver import Receiver

SECRET = "s3cret"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([500, 503, 200]).start()
    yield r
    r.close()


@pytest.fixture
def app(request):
    retries = getattr(request, "param", (0.2, 0.2, 0.2))  # WEBHOOK_RETRY_SECONDS, or the test's own (indirect)
    app = make_app(webhook_retry_seconds=retries, clock_tick_seconds=0.05, webhook_timeout_seconds=5.0)
    yield app
    app.extensions["runtime"].clock.stop()
    app.extensions["runtime"].jobs.dispatcher.wait_idle(30)
    drop_embedded(app.config["RUNTIME"].mongodb_db)


def tickets(url: str, **webhook: Any) -> dict[str, Any]:
    return {"name": "tickets", "fields": [{"name": "title", "type": "text"}],
            "listeners": [{"name": "notify", "events": ["created", "changed"],
                           "webhook": {"url": url, "secret": SECRET, **webhook}}]}


def until(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def ended_webhook_jobs(api: Api, count: int) -> list[dict[str, Any]]:
    """The WEBHOOK jobs once there are ``count`` and all have ended (a delivery's status is written before its
    job ends)."""
    def ended() -> list[dict[str, Any]] | None:
        jobs = api.get("/status/jobs?type=WEBHOOK").get_json()["items"]
        return jobs if len(jobs) == count and all(j["endDate"] for j in jobs) else None
    return until(ended)


def deliveries(api: Api, query: str = "") -> dict[str, Any]:
    response = api.get(f"/status/webhooks/deliveries{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_receiver_failing_twice_gets_exactly_one_success_with_a_correct_signature(app, api: Api,
                                                                                    receiver: Receiver):
    assert api.post("/metadata/entities", json=tickets(receiver.url, headers={"X-App": "crm"})).status_code == 200
    record = create(api, "tickets", {"title": "printer on fire"})
    done = until(lambda: [d for d in deliveries(api)["items"] if d["status"] == "SUCCEEDED"])
    time.sleep(0.5)  # nothing more arrives after the success
    assert [r.status for r in receiver.received] == [500, 503, 200]
    assert len({r.body for r in receiver.received}) == 1  # every attempt sends the same body
    sent = receiver.received[-1]
    assert sent.headers["x-signature"] == hmac.new(SECRET.encode(), sent.body, hashlib.sha256).hexdigest()
    assert sent.headers["x-app"] == "crm" and sent.headers["content-type"] == "application/json"
    body = json.loads(sent.body)
    assert set(body) == {"event", "entity", "record", "oldRecord", "timestamp", "deliveryId"}
    assert body["event"] == "created" and body["entity"] == "tickets" and body["oldRecord"] is None
    assert body["record"]["id"] == record["id"] and body["record"]["title"] == "printer on fire"
    assert sent.headers["x-delivery-id"] == body["deliveryId"] == done[0]["deliveryId"]
    log = deliveries(api, "?entity=tickets")
    assert log["total"] == 1
    item = log["items"][0]
    assert item["status"] == "SUCCEEDED" and item["attempts"] == 3 and item["lastResponseCode"] == 200
    assert item["event"] == "created" and item["recordId"] == record["id"] and item["listener"] == "notify"
    jobs = api.get("/status/jobs?type=WEBHOOK").get_json()
    assert jobs["total"] == 3 and sum(j["hasErrors"] for j in jobs["items"]) == 2

    assert api.put(f"/data/tickets/{record['id']}", json={"title": "fixed"}).status_code == 200
    changed = until(lambda: [r for r in receiver.received[3:]])
    body = json.loads(changed[0].body)
    assert body["event"] == "changed" and body["oldRecord"]["title"] == "printer on fire"
    assert body["record"]["title"] == "fixed"


def test_a_delete_sends_the_deleted_record(app, api: Api):
    ok = Receiver([200]).start()
    try:
        definition = tickets(ok.url)
        definition["listeners"][0]["events"] = ["deleted"]
        assert api.post("/metadata/entities", json=definition).status_code == 200
        record = create(api, "tickets", {"title": "old news"})
        assert api.delete(f"/data/tickets/{record['id']}").status_code == 200
        sent = until(lambda: ok.received)
        body = json.loads(sent[0].body)
        assert body["event"] == "deleted" and body["record"]["id"] == record["id"]
        assert body["record"]["title"] == "old news" and body["oldRecord"] == body["record"]
        assert deliveries(api)["items"][0]["recordId"] == record["id"]
    finally:
        ok.close()


def test_a_receiver_that_never_succeeds_is_given_up_after_the_last_retry(app, api: Api):
    down = Receiver([500]).start()
    try:
        assert api.post("/metadata/entities", json=tickets(down.url)).status_code == 200
        create(api, "tickets", {"title": "x"})
        failed = until(lambda: deliveries(api, "?status=FAILED")["items"])
        time.sleep(0.5)
        assert len(down.received) == 4  # the first attempt and one per retry step
        assert failed[0]["attempts"] == 4 and failed[0]["lastResponseCode"] == 500
        assert deliveries(api, "?status=SUCCEEDED,RETRYING,PENDING")["total"] == 0
    finally:
        down.close()


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(app, api: Api):
    """A 3xx is the receiver's answer: following it would call another host (past WEBHOOK_ALLOWED_HOSTS) with
    a GET that drops the event, and count that as delivered."""
    moved = Receiver([302]).start()
    moved.location = moved.url.replace("/hook", "/landed")
    try:
        assert api.post("/metadata/entities", json=tickets(moved.url)).status_code == 200
        create(api, "tickets", {"title": "x"})
        failed = until(lambda: deliveries(api, "?status=FAILED")["items"])
        assert failed[0]["attempts"] == 4 and failed[0]["lastResponseCode"] == 302
        assert moved.gets == [] and len(moved.received) == 4
        assert deliveries(api, "?status=SUCCEEDED")["total"] == 0
    finally:
        moved.close()


@contextmanager
def paused_deliveries(app, api: Api) -> Iterator[Receiver]:
    """A receiver answering 200, ``tickets`` sending to it, and the job dispatcher paused until the block ends (so a
    test decides when the queued deliveries run)."""
    ok = Receiver([200]).start()
    dispatcher = app.extensions["runtime"].jobs.dispatcher
    try:
        assert api.post("/metadata/entities", json=tickets(ok.url)).status_code == 200
        dispatcher.pause()
        yield ok
    finally:
        dispatcher.unpause()
        ok.close()


def test_a_delivery_whose_job_was_canceled_is_sent_again(app, api: Api):
    """Canceling (or killing) the job that was to send a delivery leaves it PENDING: the clock queues it again,
    so it still ends SUCCEEDED or FAILED. A delivery whose job is only stopped waits for its resume."""
    svc = app.extensions["runtime"]
    with paused_deliveries(app, api) as ok:
        create(api, "tickets", {"title": "x"})
        pending = deliveries(api, "?status=PENDING")["items"]
        assert len(pending) == 1
        job_id = pending[0]["lastJobId"]
        later = int(time.time() * 1000) + 120_000  # past the grace period
        svc.jobs.repo.col.update_one({"_id": ObjectId(job_id)}, {"$set": {"status": "STOPPED"}})
        assert svc.webhooks.tick(later) == 0  # stopped: its resume sends it
        svc.jobs.repo.col.update_one({"_id": ObjectId(job_id)}, {"$set": {"status": "CANCELED"}})
        assert svc.webhooks.tick(later) == 1
        assert svc.webhooks.tick(later) == 0  # queued once
        svc.jobs.dispatcher.unpause()
        done = until(lambda: deliveries(api, "?status=SUCCEEDED")["items"])
        assert done[0]["lastJobId"] != job_id and len(ok.received) == 1


def test_an_unreachable_url_is_retried_with_its_error(app, api: Api):
    closed = Receiver([200]).start()
    url = closed.url
    closed.close()  # nothing listens there any more
    assert api.post("/metadata/entities", json=tickets(url)).status_code == 200
    create(api, "tickets", {"title": "x"})
    item = until(lambda: [d for d in deliveries(api)["items"] if d["attempts"] >= 1 and d["lastError"]])[0]
    assert item["lastResponseCode"] is None and "refused" in item["lastError"].lower()


def test_a_slow_receiver_times_out_after_the_listeners_own_timeout(app, api: Api):
    slow = Receiver([200], delay=3).start()
    try:
        assert api.post("/metadata/entities", json=tickets(slow.url, timeout=0.5)).status_code == 200
        create(api, "tickets", {"title": "x"})
        item = until(lambda: [d for d in deliveries(api)["items"] if d["lastError"]])[0]
        assert item["lastResponseCode"] is None and "timed out" in item["lastError"].lower()
        assert item["lastAttemptAt"] - item["createDate"] < 2500
    finally:
        slow.close()


@pytest.mark.parametrize("app", [(0.2,)], indirect=True)  # one retry
def test_a_receiver_trickling_its_answer_is_cut_at_the_timeout(app, api: Api):
    """``timeout`` is a deadline for the whole attempt, not for each read: a receiver that sends its status line
    at once and then one header byte a second has each attempt cut after ``timeout`` seconds, as a failed attempt
    that is retried and then given up — not a success after as long as it likes, holding a job thread."""
    slow = Receiver([200], trickle=15).start()
    try:
        assert api.post("/metadata/entities", json=tickets(slow.url, timeout=1.5)).status_code == 200
        started = time.monotonic()
        create(api, "tickets", {"title": "x"})
        failed = until(lambda: deliveries(api, "?status=FAILED")["items"], timeout=10)
        assert time.monotonic() - started < 6
        item = failed[0]
        assert item["attempts"] == 2 and len(slow.received) == 2 and item["lastResponseCode"] is None
        assert item["lastError"] == "TimeoutError: timed out after 1.5 s"
        jobs = ended_webhook_jobs(api, 2)
        assert all(j["hasErrors"] and j["endDate"] - j["startDate"] < 2500 for j in jobs), jobs
    finally:
        slow.close()


def test_a_malformed_answer_is_a_failed_attempt_and_is_given_up_after_the_last_retry(app, api: Api):
    """http.client raises no OSError on a bad status line: that attempt used to leave the delivery SENDING, taken
    back by the clock and sent again forever."""
    garbled = Receiver([200], raw=b"HELLO\r\n\r\n").start()
    try:
        assert api.post("/metadata/entities", json=tickets(garbled.url)).status_code == 200
        create(api, "tickets", {"title": "x"})
        failed = until(lambda: deliveries(api, "?status=FAILED")["items"], timeout=10)
        assert failed[0]["attempts"] == 4 and len(garbled.received) == 4 and failed[0]["lastResponseCode"] is None
        assert failed[0]["lastError"].startswith("BadStatusLine")
    finally:
        garbled.close()


def test_an_attempt_that_raises_is_a_failed_attempt_and_is_given_up_after_the_last_retry(app, api: Api,
                                                                                       monkeypatch):
    """Whatever goes wrong while sending is recorded as that attempt's error and counted: the delivery is retried
    on its schedule and ends FAILED, never left SENDING to be sent again beyond its attempts."""
    calls = []

    def broken(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
        calls.append(url)
        raise RuntimeError("the sender broke")

    monkeypatch.setattr("jobs.webhooks.service.post", broken)
    assert api.post("/metadata/entities", json=tickets("http://127.0.0.1:9/hook")).status_code == 200
    create(api, "tickets", {"title": "x"})
    failed = until(lambda: deliveries(api, "?status=FAILED")["items"], timeout=10)
    assert failed[0]["attempts"] == 4 and len(calls) == 4
    assert failed[0]["lastError"] == "RuntimeError: the sender broke"
    assert all(j["hasErrors"] for j in ended_webhook_jobs(api, 4))


def test_an_attempt_whose_worker_died_is_sent_again_unless_it_was_the_last(app, api: Api):
    """The clock takes back an attempt left SENDING past its timeout and a grace period (its worker died): sent
    again while attempts are left, FAILED after the last one."""
    svc = app.extensions["runtime"]
    with paused_deliveries(app, api) as ok:
        create(api, "tickets", {"title": "a"})
        create(api, "tickets", {"title": "b"})
        retried, spent = deliveries(api)["items"]
        for item, attempts in ((retried, 1), (spent, 4)):  # 4: the first attempt and one per retry step
            svc.webhooks.col.update_one({"_id": item["id"]}, {"$set": {"status": "SENDING", "attempts": attempts,
                                                                       "lastAttemptAt": 1}})
        assert svc.webhooks.tick() == 1
        gone = svc.webhooks.get(spent["id"])
        assert gone["status"] == "FAILED" and gone["lastError"].endswith("no retries left")
        svc.jobs.dispatcher.unpause()
        done = until(lambda: deliveries(api, "?status=SUCCEEDED")["items"])
        assert [d["id"] for d in done] == [retried["id"]] and done[0]["attempts"] == 2 and len(ok.received) == 1
        assert svc.webhooks.get(spent["id"])["status"] == "FAILED"


def test_the_delivery_log_is_for_developers_and_checks_its_parameters(app, api: Api, receiver: Receiver):
    app.extensions["runtime"].auth.create_user("user@example.com", "user-password", "Regular", "User")
    user = login(app, "user@example.com", "user-password")
    assert user.get("/status/webhooks/deliveries").status_code == 403
    bad = api.get("/status/webhooks/deliveries?status=LOST")
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["field"] == "status"
    assert api.get("/status/webhooks/deliveries?_size=5000").status_code == 400
    assert api.get("/status/webhooks/deliveries/nope").status_code == 404
    assert deliveries(api, "?entity=tickets") == {"total": 0, "offset": None, "items": []}


def test_the_delivery_log_pages_by_offset_or_by_a_number_to_skip(app, api: Api):
    ok = Receiver([200]).start()
    try:
        assert api.post("/metadata/entities", json=tickets(ok.url)).status_code == 200
        for title in "abc":
            create(api, "tickets", {"title": title})
        until(lambda: deliveries(api, "?status=SUCCEEDED")["total"] == 3)
        first = deliveries(api, "?_size=2")
        ids = [d["id"] for d in first["items"]]
        rest = deliveries(api, f"?_size=2&_offset={first['offset']}")
        assert rest["total"] == 3 and len(rest["items"]) == 1 and rest["items"][0]["id"] not in ids
        assert [d["id"] for d in deliveries(api, "?_offset=1")["items"]] == [*ids[1:], rest["items"][0]["id"]]
        for bad in ("abc", "-1"):
            response = api.get(f"/status/webhooks/deliveries?_offset={bad}")
            assert response.status_code == 400 and response.get_json()["errors"][0]["field"] == "_offset"
    finally:
        ok.close()


def test_webhook_headers_must_be_valid_http_headers(api: Api):
    for headers in ({"X-A": "a\r\nX-Injected: 1"}, {"X A": "b"}, {"X-B": "nul\x00"}, {"": "x"}):
        response = api.post("/metadata/entities", json=tickets("http://example.com/x", headers=headers))
        assert response.status_code == 400, headers
        assert response.get_json()["errors"][0]["field"] == "listeners[0].webhook.headers"
    fine = api.post("/metadata/entities", json=tickets("http://example.com/x", headers={"X-Api-Key": "k e y"}))
    assert fine.status_code == 200, fine.get_json()


def test_a_url_with_a_user_or_password_is_refused_and_credentials_go_in_the_headers(app, api: Api):
    """urllib would read ``user:pw@host`` as a host and a port and never send it (the delivery was left SENDING
    and re-sent forever): such a URL is a 400 naming the header to use instead, and a delivery queued with one
    anyway (an older definition) fails at once."""
    for url in ("https://user:pw@hooks.example.com/hook", "http://user@example.com/x",
                "http://127.0.0.1:18513@localhost/x"):
        response = api.post("/metadata/entities", json=tickets(url))
        assert response.status_code == 400, url
        error = response.get_json()["errors"][0]
        assert error["field"] == "listeners[0].webhook.url" and "Authorization" in error["message"], error
    for url in ("http://example.com/a b", "http://example.com/a\tb"):
        response = api.post("/metadata/entities", json=tickets(url))
        assert response.status_code == 400 and response.get_json()["errors"][0]["field"] == "listeners[0].webhook.url"

    ok = Receiver([200]).start()
    try:
        auth = {"Authorization": "Basic dXNlcjpwdw=="}
        assert api.post("/metadata/entities", json=tickets(ok.url, headers=auth)).status_code == 200
        create(api, "tickets", {"title": "x"})
        assert until(lambda: ok.received)[0].headers["authorization"] == "Basic dXNlcjpwdw=="
        svc = app.extensions["runtime"]
        old = svc.webhooks.enqueue({"url": ok.url.replace("//", "//user:pw@"), "secret": SECRET},
                                   {"event": "created", "entity": "tickets", "record": {"id": "r1"}},
                                   {"_id": "u1", "developer": True})
        failed = until(lambda: deliveries(api, "?status=FAILED")["items"])
        assert failed[0]["id"] == old["_id"] and failed[0]["attempts"] == 1 and len(ok.received) == 1
        assert "no user or password" in failed[0]["lastError"]
    finally:
        ok.close()


def test_webhook_urls_are_validated_and_limited_to_the_allowed_hosts(api: Api):
    for timeout in (0, 61, "5", True):
        response = api.post("/metadata/entities", json=tickets("http://example.com/x", timeout=timeout))
        assert response.status_code == 400
        assert response.get_json()["errors"][0]["field"] == "listeners[0].webhook.timeout"
    for url in ("ftp://example.com/x", "not a url", "http://", 42):
        response = api.post("/metadata/entities", json=tickets(url))  # type: ignore[arg-type]
        assert response.status_code == 400, url
        assert response.get_json()["errors"][0]["field"] == "listeners[0].webhook.url"
    restricted = make_app(webhook_allowed_hosts=("hooks.example.com", ".partner.net"))
    try:
        admin = login(restricted)
        refused = admin.post("/metadata/entities", json=tickets("http://127.0.0.1:9/hook"))
        assert refused.status_code == 400 and "WEBHOOK_ALLOWED_HOSTS" in refused.get_json()["errors"][0]["message"]
        assert admin.post("/metadata/entities", json=tickets("https://hooks.example.com/in")).status_code == 200
        other = tickets("https://eu.partner.net/in")
        other["name"] = "others"
        assert admin.post("/metadata/entities", json=other).status_code == 200
    finally:
        drop_embedded(restricted.config["RUNTIME"].mongodb_db)
