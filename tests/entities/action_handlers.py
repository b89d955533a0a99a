"""Handlers used by the action tests (listed in APP_MODULES by the tests' app)."""

from __future__ import annotations

import threading
from typing import Any

GATE = threading.Event()
REACHED = threading.Event()


def explode_on_b(ctx: Any) -> str:
    if ctx.record["name"] == "B":
        raise ValueError("cannot handle B")
    return "ok:" + ctx.record["name"]


def touch_slowly(ctx: Any) -> None:
    """Counts each visit in numberOfEmployees; blocks on GATE at record 'r250' so a test can stop the job."""
    if ctx.record["name"] == "r250":
        REACHED.set()
        GATE.wait(timeout=30)
    ctx.record["numberOfEmployees"] = (ctx.record.get("numberOfEmployees") or 0) + 1


def sum_slowly(ctx: Any) -> dict[str, int]:
    total = 0
    for record in ctx.records:
        if record["name"] == "r250":
            REACHED.set()
            GATE.wait(timeout=30)
        total += 1
    ctx.log("INFO", f"counted {total}")
    return {"counted": total}


def fail_many(ctx: Any) -> None:
    raise ValueError("cannot handle these")


def not_json(ctx: Any) -> set[int]:
    return {1, 2}


def params_echo(ctx: Any) -> dict[str, Any]:
    return {"params": ctx.params, "user": ctx.user["email"]}
