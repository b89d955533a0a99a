"""The ``SCHEDULE`` job: one run of a schedule, by the kind it names (``handler`` or ``action``)."""

from __future__ import annotations

from typing import Any

from jobs import runners


def run_schedule_job(jctx: runners.JobContext) -> dict[str, Any] | None:
    data = jctx.data
    kind = jctx.services.schedules.kinds.get(data.get("kind", ""))
    if kind is None:
        raise LookupError(f"Schedules of kind '{data.get('kind')}' cannot run in this process")
    jctx.log("INFO", f"Schedule '{data['scheduleName']}' ({'run now' if data.get('manual') else 'fire time'} "
                     f"{data['fireTime']})")
    response = kind.run(jctx, data)
    return {"response": response} if response is not None else None

