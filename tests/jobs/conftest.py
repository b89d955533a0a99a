"""Helpers for job tests: the app's job service, waiting for the embedded runner, a controllable job type."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from jobs.runners import JobContext
from jobs.service import JobService

STEPS = "TEST_STEPS"


class StepControl:
    """Lets a test hold a ``TEST_STEPS`` job inside step ``block_at`` until it says ``proceed``."""

    def __init__(self) -> None:
        self.block_at: int | None = None
        self.entered = threading.Event()
        self.proceed = threading.Event()
        self.executed: list[int] = []

    def before_step(self, step: int) -> None:
        self.executed.append(step)
        if step == self.block_at:
            self.block_at = None
            self.entered.set()
            assert self.proceed.wait(10), "the test never let the job proceed"


CONTROL = StepControl()


def run_steps(ctx: JobContext) -> dict[str, Any]:
    """One step per batch: checkpoint = next step; results ``s<i>``; fails on step ``failAt``; the first
    ``spawn`` steps each submit a one-step job (``spawned <step>``) from inside the run, after ``before_step``."""
    total = int(ctx.data["steps"])
    if ctx.checkpoint is None:
        ctx.set_total(total)
    for step in range(ctx.checkpoint or 0, total):
        CONTROL.before_step(step)
        if step < int(ctx.data.get("spawn") or 0):
            ctx.jobs.submit(STEPS, f"spawned {step}", {"steps": 1}, {"_id": ctx.job["runBy"]["id"]})
        if ctx.data.get("failAt") == step:
            raise RuntimeError(f"step {step} failed")
        ctx.log("INFO", f"step {step}")
        ctx.save_checkpoint(step + 1, 1, {f"s{step}": {"status": "ok"}})
    return {"done": True}



@pytest.fixture(autouse=True)
def _fresh_control() -> Iterator[StepControl]:
    global CONTROL
    CONTROL.__init__()  # type: ignore[misc]
    yield CONTROL
    CONTROL.proceed.set()


@pytest.fixture
def control() -> StepControl:
    return CONTROL


@pytest.fixture
def jobs(app: Flask) -> Iterator[JobService]:
    service: JobService = app.extensions["runtime"].jobs
    service.register_runner(STEPS, run_steps)
    yield service
    service.dispatcher.unpause()  # type: ignore[attr-defined]
    service.dispatcher.shutdown()  # type: ignore[attr-defined]


def admin(app: Flask) -> dict[str, Any]:
    return app.extensions["runtime"].auth.find_user("admin@example.com")


def wait_idle(jobs: JobService) -> None:
    assert jobs.dispatcher.wait_idle(20), "the embedded runner did not finish its jobs"  # type: ignore[attr-defined]
