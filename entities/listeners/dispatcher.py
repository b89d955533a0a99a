"""Fires an entity's listeners after each committed write (``records.after_commit``) and job event.

Which listeners: ``created``/``changed``/``deleted`` on that kind of write; ``actionPerformed`` after an action
(limited to ``actions`` when given); ``conditionMet`` when a create or change makes the stored record match
``condition`` and it did not before. ``WriteContext.trigger_events = False`` fires none.

How: a webhook always becomes a delivery sent by a worker; a handler with ``background: true`` (the default)
runs in an ``EXECUTE_LISTENER`` job, with ``background: false`` right here, after the commit — its failure is logged
(app logs) and never undoes the write.
"""

from __future__ import annotations

import logging
from typing import Any

from mongomock_ng.filtering import filter_applies

from core.context import WriteContext
from core.handlers import resolve_handler
from entities.listeners.context import ListenerContext
from entities.listeners.definitions import Listener, listeners_of
from entities.metadata import Entity
from entities.query import map_filter
from entities.records.events import RecordEvent
from entities.records.render import render
from entities.types import type_rules

log = logging.getLogger("entities.listeners")

LISTENER_JOB = "EXECUTE_LISTENER"  # the platform's public type (jobs stored as "LISTENER" read as this)
DATA_EVENT_NAMES = {"created": "RECORD_CREATED", "changed": "RECORD_CHANGED", "deleted": "RECORD_DELETED",
                    "actionPerformed": "ACTION_PERFORMED", "conditionMet": "CONDITION_MET"}
JOB_EVENT_NAMES = {"started": "jobStarted", "finished": "jobFinished", "failed": "jobFailed"}
QUIET_JOB_TYPES = frozenset({LISTENER_JOB, "WEBHOOK"})  # their own events would loop


def matches(entity: Entity, condition: dict[str, Any], doc: dict[str, Any] | None) -> bool:
    """Whether a stored record matches a listener's condition (the query map, evaluated in Python)."""
    return doc is not None and filter_applies(map_filter(entity, condition), doc)


def fired_events(listener: Listener, event: RecordEvent) -> list[str]:
    """The listener's events that this write fires, in the order they are delivered. With a ``condition``,
    ``created``, ``changed`` and ``actionPerformed`` fire only for a record that matches it after the write, and
    ``deleted`` for a deleted record that matched it; ``conditionMet`` when the write makes the record match."""
    out = []
    subject = event.old_record if event.kind == "deleted" else event.record
    holds = listener.condition is None or matches(event.entity, listener.condition, subject)
    if event.kind in listener.events and event.kind != "actionPerformed" and holds:
        out.append(event.kind)
    if (event.kind == "actionPerformed" and "actionPerformed" in listener.events and holds
            and (listener.actions is None or event.action in listener.actions)):
        out.append("actionPerformed")
    if ("conditionMet" in listener.events and event.kind in ("created", "changed") and listener.condition
            and matches(event.entity, listener.condition, event.record)
            and not matches(event.entity, listener.condition, event.old_record)):
        out.append("conditionMet")
    return out


def listener_records(event: RecordEvent) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``record`` and ``oldRecord`` as listeners get them (REST JSON).

    A delete's ``record`` is the deleted record (the platform leaves ``record`` empty only for an action on many
    records). Its ``oldRecord`` is the same record: the platform names ``oldRecord`` only for changes, actions and
    conditions, but earlier versions sent the deleted record there, and receivers may still read it."""
    old = render(event.entity, event.old_record) if event.old_record is not None else None
    if event.kind == "deleted":
        return old, old
    record = render(event.entity, event.record) if event.record is not None else None
    return record, old


class ListenerDispatcher:
    def __init__(self, services: Any):
        self.services = services

    # --- record events -------------------------------------------------------------------------

    def on_commit(self, event: RecordEvent) -> None:
        if not event.ctx.trigger_events:
            return
        listeners = listeners_of(event.entity)
        if not listeners:
            return
        record, old = listener_records(event)
        for listener in listeners:
            try:
                names = fired_events(listener, event)
            except Exception:  # a condition that no longer fits the fields
                log.exception("listener %s.%s: the condition could not be evaluated", event.entity.name,
                              listener.name)
                continue
            for name in names:
                described = {"type": "DATA", "dataEvent": DATA_EVENT_NAMES[name], "event": name,
                             "entity": event.entity.name, "listener": listener.name, "action": event.action}
                self.fire(event.entity.name, listener, described, record, old, event.ctx)

    # --- job events ----------------------------------------------------------------------------

    def on_job(self, job_event: str, job: dict[str, Any]) -> None:
        if job.get("type") in QUIET_JOB_TYPES:
            return
        entity_name = (job.get("data") or {}).get("entityName")
        if not entity_name:
            return
        entity = self.services.registry.all().get(entity_name)
        if entity is None:
            return
        name = JOB_EVENT_NAMES[job_event]
        ctx = WriteContext(user_email=job.get("runByEmail"), user_id=(job.get("runBy") or {}).get("id"),
                           user_name=(job.get("runBy") or {}).get("fullName"),
                           developer=bool(job.get("runByDeveloper")), category="SYSTEM")
        for listener in listeners_of(entity):
            if name not in listener.events:
                continue
            if listener.job_types is not None and job.get("type") not in listener.job_types:
                continue
            described = {"type": "JOB", "event": name, "jobEvent": job_event.upper(), "jobType": job.get("type"),
                         "jobId": str(job["_id"]), "status": job.get("status"), "hasErrors": bool(job.get("hasErrors")),
                         "entity": entity.name, "listener": listener.name}
            self.fire(entity.name, listener, described, None, None, ctx)

    # --- delivering ----------------------------------------------------------------------------

    def fire(self, entity: str, listener: Listener, event: dict[str, Any], record: dict[str, Any] | None,
             old: dict[str, Any] | None, ctx: WriteContext) -> None:
        user = {"_id": ctx.user_id, "email": ctx.user_email, "fullName": ctx.user_name, "developer": ctx.developer}
        if listener.webhook is not None:
            payload = {"event": event["event"], "entity": entity, "record": record, "oldRecord": old}
            if event.get("action"):
                payload["action"] = event["action"]
            if event["type"] == "JOB":
                payload["job"] = {k: event[k] for k in ("jobId", "jobType", "jobEvent", "status", "hasErrors")}
            try:
                self.services.webhooks.enqueue(listener.webhook, payload, user, listener=listener.name)
            except Exception:
                log.exception("listener %s.%s: the webhook delivery could not be queued", entity, listener.name)
        if listener.handler is None:
            return
        if listener.background:
            data = {"entityName": entity, "listenerName": listener.name, "event": event, "record": record,
                    "oldRecord": old, "handler": listener.handler}
            try:
                self.services.jobs.submit(LISTENER_JOB, f"Listener {listener.name} of {entity} "
                                              f"({event['event']})", data, user, stoppable=False)
            except Exception:
                log.exception("listener %s.%s: its job could not be queued", entity, listener.name)
            return
        self.run_inline(entity, listener, event, record, old, ctx)

    def run_inline(self, entity: str, listener: Listener, event: dict[str, Any], record: dict[str, Any] | None,
                   old: dict[str, Any] | None, ctx: WriteContext) -> None:
        """``background: false``: now, in the writer's thread; a failure is logged and the write stands."""
        def app_log(level: str, message: str) -> None:
            logs = self.services.app_logs
            if logs is not None:
                logs.write(level, message, {"entity": entity, "listener": listener.name}, user=ctx.user_email,
                           sub_type="SCRIPT", admin_user=ctx.impersonator_email, ip=ctx.ip)

        try:
            fn = resolve_handler(listener.handler or "", tuple(self.services.config.app_modules))
            with type_rules(True):  # the handler's own writes meet every rule, whatever the write that fired it
                fn(event, record, old, ListenerContext(self.services, entity, listener.name, ctx, app_log))
        except Exception as exc:
            log.exception("listener %s.%s failed", entity, listener.name)
            try:
                app_log("ERROR", f"Listener '{listener.name}' of '{entity}' failed on {event['event']}: {exc}")
            except Exception:
                log.exception("could not write the app log of a failed listener")
