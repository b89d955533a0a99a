"""The Procfile's ``clock``: two ``runtime clock`` processes on the e2e stack fire a schedule exactly once per
fire time (no gap, no double) and never fire a paused one.

Test mode: ``SCHEDULE_SECONDS`` lets a cron have a seconds field, so "every 2 seconds" stands in for "every
minute", and ``CLOCK_TICK_SECONDS`` makes the clocks look often; the firing logic is the same."""

from __future__ import annotations

import time

from tests.e2e.conftest import unique, wait_job
from tests.e2e.stack import Client, Stack, wait_until

PERIOD_MS = 2000


def start_clock(stack: Stack, n: int):
    proc = stack.spawn(["sh", "-c", "exec " + stack.commands["clock"]], f"clock{n}",
                       env={**stack.env, "CLOCK_TICK_SECONDS": "0.2"})
    wait_until(lambda: "clock: ticking" in stack.log_tail(f"clock{n}"), 60, f"clock {n} to start",
               stack._alive(proc, f"clock{n}"))
    return proc


def test_two_clocks_fire_each_fire_time_exactly_once(stack: Stack, api: Client):
    assert stack.commands["clock"] == "runtime clock"
    clocks = [start_clock(stack, n) for n in range(2)]
    try:
        every = api.ok("POST", "/schedules", {"name": unique("every"), "cron": "*/2 * * * * *",
                                              "handler": "tests.e2e.handlers:tick"})
        quiet = api.ok("POST", "/schedules", {"name": unique("quiet"), "cron": "* * * * * *",
                                              "handler": "tests.e2e.handlers:tick"})
        api.ok("PUT", f"/schedules/{quiet['id']}/pause")
        time.sleep(9)
        api.ok("PUT", f"/schedules/{every['id']}/pause")
        time.sleep(0.5)  # a tick that read the schedule just before the pause has fired by now
    finally:
        for proc in clocks:
            proc.terminate()
    jobs = [j for j in api.get("/status/jobs?type=SCHEDULE&_size=1000")["items"]
            if j["data"]["scheduleId"] in (every["id"], quiet["id"])]
    assert all(j["data"]["scheduleId"] == every["id"] for j in jobs), "the paused schedule fired"
    fire_times = sorted(j["data"]["fireTime"] for j in jobs)
    assert len(fire_times) >= 3, fire_times
    assert fire_times == list(range(fire_times[0], fire_times[-1] + 1, PERIOD_MS)), fire_times  # none twice, no gap
    for job in jobs:
        done = wait_job(api, job["id"], lambda j: j["status"] == "FINISHED", "a SCHEDULE job to finish")
        assert not done["hasErrors"] and done["results"]["response"]["fireTime"] == job["data"]["fireTime"]
    last = api.get(f"/schedules/{every['id']}")
    assert last["lastJobId"] in {j["id"] for j in jobs}
