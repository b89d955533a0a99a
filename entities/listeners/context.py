"""What a listener handler receives: ``handler(event, record, oldRecord, ctx)``.

``event`` is ``{type: "DATA", dataEvent: RECORD_CREATED|RECORD_CHANGED|RECORD_DELETED|ACTION_PERFORMED|
CONDITION_MET, event, entity, listener, action}`` (or ``{type: "JOB", jobType, jobEvent, jobId, ...}``);
``record`` / ``oldRecord`` are REST JSON or None (for data events, a delete's ``record`` is the deleted record:
``record`` is None only after an action on many records; ``oldRecord`` is None after a create; both are None
for job events); ``ctx.data`` reads and writes records
like action handlers do (those writes fire listeners too), ``ctx.log(level, message)`` writes the job log
(background) or the app logs (in-request), ``ctx.user`` is who made the change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.context import WriteContext
from entities.actions.context import DataAccess


class ListenerContext:
    def __init__(self, services: Any, entity: str, listener: str, write_ctx: WriteContext,
                 logger: Callable[[str, str], None]):
        self.entity = entity
        self.listener = listener
        self.user = {"id": write_ctx.user_id, "email": write_ctx.user_email, "fullName": write_ctx.user_name}
        ctx = write_ctx.with_path(f"entities.{entity}.listeners.{listener}")
        ctx.category = "SCRIPT"
        ctx.trigger_events = True
        self.data = DataAccess(services, ctx)
        self._logger = logger

    def log(self, level: str, message: str) -> None:
        level = level.upper() if isinstance(level, str) and level.upper() in ("INFO", "WARN", "ERROR") else "INFO"
        self._logger(level, str(message))
