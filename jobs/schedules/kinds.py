"""What a schedule runs. A kind is validated when a schedule is saved and run inside its ``SCHEDULE`` job.

``jobs`` knows only ``handler`` (a ``module:function`` in ``APP_MODULES``); packages above it register
more at start-up (entities registers ``action``, and a ``handler`` whose context can read and write
records) with ``services.schedules.register_kind(name, ScheduleKind(...))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import field_error
from core.handlers import check_handler, resolve_handler

if TYPE_CHECKING:
    from core.services import Services
    from jobs.runners import JobContext

# validate(services, spec, errors): append field errors (field = the kind's name) for a bad spec.
Validate = Callable[["Services", Any, list[dict[str, Any]]], None]
# run(job context, schedule run data) → what the job's ``results.response`` shows.
Run = Callable[["JobContext", dict[str, Any]], Any]


@dataclass(frozen=True)
class ScheduleKind:
    validate: Validate
    run: Run


class ScheduleRun:
    """What a schedule handler gets: ``handler(ctx)``. Its return value is the job's ``results.response``."""

    def __init__(self, jctx: JobContext, data: dict[str, Any]):
        self.schedule = {"id": data["scheduleId"], "name": data["scheduleName"]}
        self.fire_time: int = data["fireTime"]
        self.user = {"id": jctx.job["runBy"]["id"], "email": jctx.job.get("runByEmail"),
                     "fullName": jctx.job["runBy"].get("fullName")}
        self.services = jctx.services
        self._jctx = jctx

    def log(self, level: str, message: str) -> None:
        level = level.upper() if level.upper() in ("INFO", "WARN", "ERROR") else "INFO"
        self._jctx.log(level, message)


def validate_handler(services: Services, spec: Any, errors: list[dict[str, Any]]) -> None:
    problem = check_handler(spec, tuple(services.config.app_modules))
    if problem:
        errors.append(field_error("handler", "invalid", problem, rejected=spec if isinstance(spec, str) else None))


def run_handler(jctx: JobContext, data: dict[str, Any], context: type[ScheduleRun] = ScheduleRun) -> Any:
    fn = resolve_handler(data["handler"], tuple(jctx.services.config.app_modules))
    return fn(context(jctx, data))


HANDLER = ScheduleKind(validate_handler, run_handler)
