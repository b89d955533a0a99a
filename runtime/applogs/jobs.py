"""App logs of background jobs: one when a job starts, one when it ends (with or without errors)."""

from __future__ import annotations

from typing import Any

from core.services import Services
from runtime.applogs.service import AppLogs


def log_job_events(services: Services, logs: AppLogs) -> None:
    """Listen to the job service (installed before this plugin). Job logs are written at once, not queued:
    an RQ work horse ends with ``os._exit`` and would lose a queue."""
    jobs = services.jobs
    if jobs is None:
        return

    def on_event(event: str, job: dict[str, Any]) -> None:
        name = f"Job [{job.get('label') or job.get('type')}] ({job['_id']})"
        info = {"jobId": str(job["_id"]), "type": job.get("type"), "status": job.get("status")}
        user = job.get("runByEmail") or "system"
        origin = {"admin_user": job.get("impersonatorEmail"), "ip": job.get("ip")}  # of the submitting request
        if event == "started":
            logs.write("INFO", f"{name} started", info, user, **origin)
        else:  # "finished", or "failed" (finished with errors)
            info["recordsProcessed"] = job.get("recordsProcessed", 0)
            info["hasErrors"] = bool(job.get("hasErrors"))
            level = "WARN" if job.get("hasErrors") else "INFO"
            suffix = " with errors" if job.get("hasErrors") else ""
            logs.write(level, f"{name} finished{suffix}", info, user, **origin)

    jobs.job_events.append(on_event)
