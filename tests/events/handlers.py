"""Listener and schedule handlers for the event tests (listed in APP_MODULES by the tests' apps)."""

from __future__ import annotations

import threading
from typing import Any

CALLS: list[tuple[str, str, str | None, str | None]] = []
JOB_EVENTS: list[dict[str, Any]] = []
FAILURES: dict[str, int] = {}
_LOCK = threading.Lock()


def _name(record: dict[str, Any] | None) -> str | None:
    return record.get("name") if record else None


def remember(event: dict[str, Any], record: dict[str, Any] | None, old: dict[str, Any] | None, ctx: Any) -> None:
    """Notes (listener, event, new name, old name)."""
    with _LOCK:
        CALLS.append((event["listener"], event["event"], _name(record), _name(old)))


STAGES: list[tuple[str, str | None, str | None]] = []


def remember_stages(event: dict[str, Any], record: dict[str, Any] | None, old: dict[str, Any] | None,
                    ctx: Any) -> None:
    """Notes (event, new stage, old stage)."""
    with _LOCK:
        STAGES.append((event["event"], (record or {}).get("stage"), (old or {}).get("stage")))


def copy_name(event: dict[str, Any], record: dict[str, Any] | None, old: Any, ctx: Any) -> None:
    """Creates a ``copies`` record with the created record's name: refused when it breaks the copy's rules."""
    try:
        ctx.data.create("copies", {"name": (record or {}).get("name")})
        outcome = "created"
    except Exception as exc:
        outcome = type(exc).__name__
    with _LOCK:
        CALLS.append((event["listener"], event["event"], _name(record), outcome))


def remember_job(event: dict[str, Any], record: Any, old: Any, ctx: Any) -> None:
    with _LOCK:
        JOB_EVENTS.append(event)


def explode(event: dict[str, Any], record: Any, old: Any, ctx: Any) -> None:
    raise RuntimeError("listener exploded")


def flaky(event: dict[str, Any], record: dict[str, Any] | None, old: Any, ctx: Any) -> str:
    """Fails the first two calls for a record, then notes the call and answers."""
    key = (record or {}).get("id") or "none"
    with _LOCK:
        FAILURES[key] = FAILURES.get(key, 0) + 1
        if FAILURES[key] <= 2:
            raise RuntimeError(f"flaky failure {FAILURES[key]}")
        CALLS.append((event["listener"], event["event"], _name(record), _name(old)))
    return "done"


def write_back(event: dict[str, Any], record: dict[str, Any] | None, old: Any, ctx: Any) -> None:
    """Writes another record through ctx.data (which fires that entity's listeners in turn)."""
    ctx.data.create("auditEntries", {"name": f"{event['event']} {record['name']}"})


def tick(ctx: Any) -> dict[str, Any]:
    ctx.log("INFO", f"tick at {ctx.fire_time}")
    return {"fireTime": ctx.fire_time, "schedule": ctx.schedule["name"], "user": ctx.user.get("email")}


def clear() -> None:
    with _LOCK:
        CALLS.clear()
        JOB_EVENTS.clear()
        FAILURES.clear()
