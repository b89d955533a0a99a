"""The clock: every ``CLOCK_TICK_SECONDS`` it runs the time-driven tasks (due schedules, webhook retries).

``runtime clock`` is the Procfile's ``clock`` process (any number may run: every task is safe to run from
several at once). Without ``REDIS_URL`` there is no clock process: the web process runs one in a thread.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask

from core.config import Config
from jobs.model import now_ms

log = logging.getLogger("jobs.clock")


def tick(services: Any) -> None:
    now = now_ms()
    for task in list(services.plugins.clock_tasks):
        try:
            task(now)
        except Exception:  # a store hiccup must not end the clock
            log.exception("clock task %s failed", getattr(task, "__qualname__", task))


class EmbeddedClock:
    """A daemon thread ticking for one app's services, started on first need (at most once)."""

    def __init__(self, services: Any, tick_seconds: float):
        self.services = services
        self.tick_seconds = tick_seconds
        self._started = False
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._loop, name="embedded-clock", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            tick(self.services)


def run_clock(app_factory: Callable[[Config], Flask], ticks: int | None = None) -> None:
    """``runtime clock``: tick until SIGTERM/SIGINT (or ``ticks`` times). ``app_factory`` is the composition
    root's ``create_app``."""
    config = Config.from_env()
    if not config.redis_url:
        raise SystemExit("runtime clock needs REDIS_URL (without it, `runtime serve` runs the clock itself)")
    app = app_factory(config)
    services = app.extensions["runtime"]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("clock started: ticking every %ss", config.clock_tick_seconds)
    print(f"clock: ticking every {config.clock_tick_seconds}s", flush=True)
    done = 0
    while not stop.is_set() and (ticks is None or done < ticks):
        with app.app_context():
            tick(services)
        done += 1
        stop.wait(config.clock_tick_seconds)
