"""A gunicorn worker SIGKILLed during a create sent with an ``Idempotency-Key``: the retry gives exactly one record."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from tests.e2e.stack import BIN, Client, Stack, descendants, free_port, wait_until

LEASE_SECONDS = 2


def post(base: str, path: str, token: str, body: Any, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"token": token, "Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc), dict(exc.headers)


def test_a_create_whose_worker_was_killed_is_retried_into_exactly_one_record(stack: Stack, api: Client):
    port = free_port()
    env = {**stack.env, "IDEMPOTENCY_LEASE_SECONDS": str(LEASE_SECONDS), "GUNICORN_CMD_ARGS": ""}
    web = stack.spawn([str(BIN / "gunicorn"), "--workers", "1", "--bind", f"127.0.0.1:{port}", "--timeout", "60",
                       "--no-control-socket", "tests.e2e.slow_wsgi:app"], "slow-web", env=env)
    base = f"http://127.0.0.1:{port}/api"
    wait_until(lambda: _healthy(base), 60, "the test gunicorn to answer")
    worker = wait_until(lambda: descendants(web.pid), 10, "the gunicorn worker")[0]

    name = f"Killed {uuid.uuid4().hex[:8]}"
    key = {"Idempotency-Key": f"create-{name}"}
    body = {"name": name, "state": "active"}
    outcome: list[Any] = []

    def first_attempt() -> None:
        try:
            outcome.append(post(base, "/data/companies", api.token, body, {**key, "X-Test-Pause-After-Write": "20"}))
        except OSError as exc:  # the connection is closed under the client: it cannot know what happened
            outcome.append(exc)
    attempt = threading.Thread(target=first_attempt)
    attempt.start()
    wait_until(lambda: api.get(f"/data/companies?name={urllib.request.quote(name)}")["total"] == 1, 20,
               "the first attempt to save its record")
    os.kill(worker, signal.SIGKILL)
    attempt.join(30)
    assert outcome and isinstance(outcome[0], OSError), outcome

    # The retry goes to the stack's own web workers, as a load balancer would send it anywhere.
    main_base = stack.base_url + "/api"
    status, reply, _ = post(main_base, "/data/companies", api.token, body, key)
    assert status == 409 and reply["code"] == "requestInProgress"  # the dead worker's lease still runs
    time.sleep(LEASE_SECONDS + 0.5)
    status, reply, _ = post(main_base, "/data/companies", api.token, body, key)
    assert status == 200 and reply["name"] == name
    status, replayed, headers = post(main_base, "/data/companies", api.token, body, key)
    assert status == 200 and replayed == reply and headers["Idempotent-Replayed"] == "true"
    assert api.get(f"/data/companies?name={urllib.request.quote(name)}")["total"] == 1


def _healthy(base: str) -> bool:
    try:
        return Client(base, timeout=2).call("GET", "/health").status == 200
    except OSError:
        return False
