"""Login throttling and revocation hold across gunicorn workers: the counters and the token snapshots live in
the shared store, so every web process sees a lock, a block or a deactivation on its very next request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import across_workers
from tests.e2e.stack import ADMIN_EMAIL, ADMIN_PASSWORD, Client, Stack, StackError

# three failures lock the email for a minute: long enough for any machine to send the next requests
ENV = {"LOGIN_THROTTLE_AFTER": "3", "LOGIN_DELAY_SECONDS": "60", "LOGIN_BLOCK_AFTER": "50"}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    try:
        running = Stack(web_workers=2, job_workers=0, extra_env=ENV).start()
    except StackError as exc:
        pytest.fail(f"the end-to-end stack could not start: {exc}")
    yield running
    errors = running.server_errors()
    running.close()
    assert not errors, errors


def test_an_email_locked_by_one_worker_is_locked_for_all(stack: Stack):
    anon = stack.client()
    admin = stack.login()
    admin.ok("POST", "/users", {"email": "ann@example.com", "password": "ann-password"})
    for _ in range(3):
        assert anon.call("POST", "/auth/login", {"email": "ann@example.com", "password": "wrong"}).status == 401
    replies = across_workers(stack, lambda rid: anon.call("POST", "/auth/login",
                                                          {"email": "ann@example.com", "password": "ann-password"},
                                                          request_id=rid))
    assert {r.status for r in replies} == {429}, [(r.status, r.body) for r in replies][:5]
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in replies)
    # another email is not affected
    assert anon.call("POST", "/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).status == 200


def test_a_deactivation_stops_the_users_token_in_every_worker(stack: Stack):
    admin = stack.login()
    admin.ok("POST", "/users", {"email": "bob@example.com", "password": "bob-password"})
    token = stack.client().ok("POST", "/auth/login", {"email": "bob@example.com", "password": "bob-password"})["token"]
    bob = Client(stack.base_url + "/api", token)
    assert {r.status for r in across_workers(stack, lambda rid: bob.call("GET", "/auth/me", request_id=rid))} == {200}
    admin.ok("PUT", "/users/bob@example.com/deactivate")
    replies = across_workers(stack, lambda rid: bob.call("GET", "/auth/me", request_id=rid))
    assert {r.status for r in replies} == {401}
    assert all("inactive" in r.body["message"] or "expired" in r.body["message"] for r in replies)
