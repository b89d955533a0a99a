"""``EXECUTE_LISTENER`` jobs: a background listener handler, retried a few times before the job ends with errors."""

from __future__ import annotations

import time
from typing import Any

from core.handlers import resolve_handler
from entities.listeners.context import ListenerContext
from jobs import runners

ATTEMPTS = 3
BACKOFF_SECONDS = (1.0, 3.0)


def run_listener_job(jctx: runners.JobContext) -> dict[str, Any] | None:
    data = jctx.data
    fn = resolve_handler(data["handler"], tuple(jctx.services.config.app_modules))
    ctx = ListenerContext(jctx.services, data["entityName"], data["listenerName"], jctx.write_context(), jctx.log)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            result = fn(data["event"], data.get("record"), data.get("oldRecord"), ctx)
            return {"response": result} if result is not None else None
        except Exception as exc:
            if attempt == ATTEMPTS:
                raise
            wait = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
            jctx.log("WARN", f"Attempt {attempt} failed: {exc}; retrying in {wait:g}s")
            jctx.heartbeat()
            time.sleep(wait)
    return None

