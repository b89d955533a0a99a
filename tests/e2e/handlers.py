"""Action handlers for the end-to-end tests (listed in the stack's ``APP_MODULES``)."""

from __future__ import annotations

from typing import Any


def tally(ctx: Any) -> None:
    """oneRecord: add one to the record's ``tally``; a record run twice shows 2."""
    ctx.record["tally"] = (ctx.record.get("tally") or 0) + 1


def tick(ctx: Any) -> dict[str, Any]:
    """A schedule handler: answers with its fire time (the SCHEDULE job's response)."""
    return {"fireTime": ctx.fire_time}
