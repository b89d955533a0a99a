"""What an action handler receives: ``handler(ctx)``.

``ctx.record`` the record as REST JSON (oneRecord; changes are saved after the handler returns, with
optimistic locking and history) · ``ctx.records`` / ``ctx.query`` the selection (manyRecords) ·
``ctx.params`` the validated parameters · ``ctx.user`` the caller · ``ctx.data`` other entities through the
same services as the API · ``ctx.log(level, message)`` (the job's log; the app logs for a synchronous run) ·
``ctx.progress(done, total)`` · ``ctx.stop_requested()``. The return value is the custom response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from core.context import WriteContext
from entities.records.render import render

log = logging.getLogger("runtime.actions")


class DataAccess:
    """Reads and writes of any entity, validated and recorded in history like API calls."""

    def __init__(self, services: Any, ctx: WriteContext):
        self._svc = services
        self._ctx = ctx

    def _entity(self, name: str) -> Any:
        return self._svc.registry.get(name)

    def get(self, entity: str, record_id: str) -> dict[str, Any]:
        e = self._entity(entity)
        return render(e, self._svc.records.get(e, record_id))

    def find(self, entity: str, query: dict[str, Any] | None = None, size: int = 1000) -> list[dict[str, Any]]:
        from entities.query import map_filter
        e = self._entity(entity)
        docs = self._svc.records.collection(e).find(map_filter(e, query or {}), {"_hist": 0}).sort("_id", 1)
        return [render(e, d) for d in docs.limit(size)]

    def create(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        e = self._entity(entity)
        return render(e, self._svc.records.create(e, body, self._ctx))

    def update(self, entity: str, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        e = self._entity(entity)
        return render(e, self._svc.records.update(e, record_id, body, self._ctx))

    def delete(self, entity: str, record_id: str) -> dict[str, Any]:
        e = self._entity(entity)
        return render(e, self._svc.records.delete(e, record_id, self._ctx))


class ActionContext:
    def __init__(self, *, services: Any, entity: Any, action: Any, params: dict[str, Any], user: dict[str, Any],
                 write_ctx: WriteContext, record: dict[str, Any] | None = None,
                 records: Callable[[], Iterator[dict[str, Any]]] | None = None, query: dict[str, Any] | None = None,
                 logger: Callable[[str, str], None] | None = None,
                 progress: Callable[[int, int], None] | None = None, stop: Callable[[], bool] | None = None):
        self.entity = entity.name
        self.action = action.name
        self.params = params
        self.user = user
        self.record = record
        self.query = query
        self._records = records
        self._logger = logger
        self._progress = progress
        self._stop = stop
        self._services = services
        self._write_ctx = write_ctx
        self.data = DataAccess(services, write_ctx.with_path(f"entities.{entity.name}.actions.{action.name}"))
        self.data._ctx.category = "SCRIPT"

    @property
    def records(self) -> Iterator[dict[str, Any]]:
        if self._records is None:
            return iter(())
        return self._records()

    def log(self, level: str, message: str) -> None:
        level = level.upper() if level.upper() in ("INFO", "WARN", "ERROR") else "INFO"
        if self._logger is not None:
            self._logger(level, message)
        elif self._services.app_logs is not None:  # a synchronous run has no job log: the app logs get it
            self._services.app_logs.write(level, message, {"entity": self.entity, "action": self.action},
                                           user=self.user.get("email"), sub_type="SCRIPT",
                                           admin_user=self._write_ctx.impersonator_email, ip=self._write_ctx.ip)
        log.log({"INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}[level],
                "[%s.%s] %s", self.entity, self.action, message)

    def progress(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(done, total)

    def stop_requested(self) -> bool:
        return bool(self._stop and self._stop())
