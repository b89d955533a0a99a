"""``listeners`` in an entity definition, validated when the metadata is saved.

A listener is ``{name, events: [created|changed|deleted|actionPerformed|conditionMet|jobStarted|jobFinished|
jobFailed], actions?, condition?, jobTypes?, handler: "module:function" | null, webhook: {url, secret,
headers?, timeout?} | null, background: true}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.config import Config
from core.errors import ApiError, field_error
from core.handlers import check_handler
from entities.metadata import NAME_RE, Entity, HistorySettings, _parse_fields
from jobs.model import PLATFORM_TYPES, public_type
from jobs.webhooks.http import url_problem

DATA_EVENTS = ("created", "changed", "deleted", "actionPerformed", "conditionMet")
JOB_EVENTS = ("jobStarted", "jobFinished", "jobFailed")
EVENTS = DATA_EVENTS + JOB_EVENTS
KEYS = frozenset({"name", "label", "events", "actions", "condition", "jobTypes", "handler", "webhook", "background"})
WEBHOOK_KEYS = frozenset({"url", "secret", "headers", "timeout"})
MAX_TIMEOUT = 60
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP token (RFC 9110)
_HEADER_VALUE_BREAK = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True)
class Listener:
    name: str
    events: tuple[str, ...]
    actions: tuple[str, ...] | None = None
    condition: dict[str, Any] | None = None
    job_types: tuple[str, ...] | None = None
    handler: str | None = None
    webhook: dict[str, Any] | None = None
    background: bool = True


def _config() -> Config | None:
    """The app's settings when saving through the API; None elsewhere (a definition loaded in a worker thread
    was checked when it was saved)."""
    try:
        from flask import current_app
        return current_app.config["RUNTIME"]
    except (RuntimeError, KeyError):
        return None


def _job_types() -> set[str] | None:
    """The public types of the jobs this app runs, when saving through the API; None elsewhere."""
    try:
        from flask import current_app
        runners = current_app.extensions["runtime"].jobs.runners
    except (RuntimeError, KeyError, AttributeError):
        return None
    return {public_type(t) or t for t in runners} | set(PLATFORM_TYPES)


def _names(raw: Any) -> set[str]:
    return {x.get("name") for x in raw if isinstance(x, dict)} if isinstance(raw, list) else set()


def parse_listener(raw: Any, index: int, definition: dict[str, Any], errors: list[dict[str, Any]],
                   config: Config | None) -> Listener | None:
    """A listener, or None with ``errors`` saying why. ``config`` None skips the checks that depend on where it
    runs (handler modules, allowed webhook hosts): a saved definition was checked when it was saved."""
    path = f"listeners[{index}]"
    if not isinstance(raw, dict):
        errors.append(field_error(path, "invalid", "A listener is an object"))
        return None
    start = len(errors)
    for key in sorted(set(raw) - KEYS):
        errors.append(field_error(f"{path}.{key}", "invalid", f"Unknown listener setting '{key}'"))
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        errors.append(field_error(f"{path}.name", "invalid", "Listener names are letters and digits", rejected=name))
    events = raw.get("events")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        errors.append(field_error(f"{path}.events", "required" if not events else "invalid",
                                  f"events is a non-empty list of {', '.join(EVENTS)}"))
        events = []
    for event in events:
        if event not in EVENTS:
            errors.append(field_error(f"{path}.events", "invalid", f"Unknown event '{event}': events are "
                                      f"{', '.join(EVENTS)}", rejected=event))
    actions = raw.get("actions")
    if actions is not None:
        known = _names(definition.get("actions"))
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            errors.append(field_error(f"{path}.actions", "invalid", "actions is a list of action names"))
        elif "actionPerformed" not in events:
            errors.append(field_error(f"{path}.actions", "invalid", "actions only applies to actionPerformed"))
        else:
            for a in actions:
                if a not in known:
                    errors.append(field_error(f"{path}.actions", "invalid", f"Unknown action '{a}'", rejected=a))
    condition = raw.get("condition")
    if condition is not None:
        _check_condition(condition, definition, f"{path}.condition", errors)
    elif "conditionMet" in events:
        errors.append(field_error(f"{path}.condition", "required", "conditionMet needs a condition (a query map)"))
    job_types = raw.get("jobTypes")
    if job_types is not None:
        if not isinstance(job_types, list) or not all(isinstance(t, str) and t for t in job_types):
            errors.append(field_error(f"{path}.jobTypes", "invalid", "jobTypes is a list of job types"))
        elif not any(e in JOB_EVENTS for e in events):
            errors.append(field_error(f"{path}.jobTypes", "invalid", "jobTypes only applies to job events"))
        elif config is not None and (known := _job_types()) is not None:
            for t in job_types:
                if t not in known:  # the type a job is shown under, as its event gives it: exact
                    errors.append(field_error(f"{path}.jobTypes", "invalid", f"Unknown job type '{t}' (one of "
                                              f"{', '.join(sorted(known))})", rejected=t))
    handler, webhook = raw.get("handler"), raw.get("webhook")
    if handler is None and webhook is None:
        errors.append(field_error(f"{path}.handler", "required", "A listener needs a 'handler' or a 'webhook'"))
    if handler is not None and config is not None:
        problem = check_handler(handler, tuple(config.app_modules))
        if problem:
            errors.append(field_error(f"{path}.handler", "invalid", problem,
                                      rejected=handler if isinstance(handler, str) else None))
    if webhook is not None:
        _check_webhook(webhook, f"{path}.webhook", errors, config)
    background = raw.get("background", True)
    if not isinstance(background, bool):
        errors.append(field_error(f"{path}.background", "invalid", "background must be true or false"))
    if len(errors) > start:
        return None
    return Listener(name=name, events=tuple(events), actions=tuple(actions) if actions is not None else None,
                    condition=condition, job_types=tuple(job_types) if job_types is not None else None,
                    handler=handler, webhook=webhook, background=background)


def _check_condition(condition: Any, definition: dict[str, Any], path: str, errors: list[dict[str, Any]]) -> None:
    """A query map over the entity's own fields (the same syntax as action preconditions)."""
    from entities.query import map_filter

    if not isinstance(condition, dict) or not condition:
        errors.append(field_error(path, "invalid", "condition is a query map such as {\"state\": \"active\"}"))
        return
    raw_fields = definition.get("fields") if isinstance(definition.get("fields"), list) else []
    fields = _parse_fields(raw_fields, "fields", [], None)
    pseudo = Entity(name=str(definition.get("name") or ""), label="", fields=fields, record_label=None,
                    history=HistorySettings(), actions=[], version=0, id="", raw=definition)
    try:
        map_filter(pseudo, condition)
    except ApiError as exc:
        detail = "; ".join(e.get("message", "") for e in exc.errors) or exc.message
        errors.append(field_error(path, "invalid", f"Invalid condition: {detail}"))


def _check_webhook(webhook: Any, path: str, errors: list[dict[str, Any]], config: Config | None) -> None:
    if not isinstance(webhook, dict):
        errors.append(field_error(path, "invalid", "webhook is {url, secret, headers?}"))
        return
    for key in sorted(set(webhook) - WEBHOOK_KEYS):
        errors.append(field_error(f"{path}.{key}", "invalid", f"Unknown webhook setting '{key}'"))
    problem = url_problem(webhook.get("url"), config.webhook_allowed_hosts if config is not None else ())
    if problem:
        errors.append(field_error(f"{path}.url", "invalid", problem, rejected=webhook.get("url")))
    secret = webhook.get("secret")
    if not isinstance(secret, str) or not secret:
        errors.append(field_error(f"{path}.secret", "required", "webhook.secret signs every delivery (X-Signature)"))
    headers = webhook.get("headers")
    if headers is not None and (not isinstance(headers, dict)
                                or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())):
        errors.append(field_error(f"{path}.headers", "invalid", "headers is an object of header names to strings"))
    elif headers:
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name) or _HEADER_VALUE_BREAK.search(value):
                errors.append(field_error(f"{path}.headers", "invalid", f"Header '{name}' is not a valid HTTP header: "
                                          "a name of letters, digits and !#$%&'*+-.^_`|~, a value without line "
                                          "breaks or NUL", rejected=name))
    timeout = webhook.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or not 0 < timeout <= MAX_TIMEOUT):
        errors.append(field_error(f"{path}.timeout", "invalid",
                                  f"timeout is a number of seconds, more than 0 and at most {MAX_TIMEOUT}"))


def check_definition(raw: dict[str, Any], errors: list[dict[str, Any]]) -> None:
    listeners = raw.get("listeners")
    if listeners is None:
        return
    if not isinstance(listeners, list):
        errors.append(field_error("listeners", "invalid", "listeners must be a list"))
        return
    config = _config()
    seen: set[str] = set()
    for i, item in enumerate(listeners):
        listener = parse_listener(item, i, raw, errors, config)
        if listener is not None:
            if listener.name in seen:
                errors.append(field_error(f"listeners[{i}].name", "duplicate", f"Duplicate listener: {listener.name}"))
            seen.add(listener.name)


_CACHE: dict[tuple[str, str, int], tuple[Listener, ...]] = {}


def listeners_of(entity: Entity) -> tuple[Listener, ...]:
    """The entity's listeners (parsed once per entity version; validated when the definition was saved)."""
    raw = entity.raw.get("listeners")
    if not raw:
        return ()
    key = (entity.name, entity.id, entity.version)
    found = _CACHE.get(key)
    if found is None:
        parsed = [parse_listener(item, i, entity.raw, [], None) for i, item in enumerate(raw)]
        found = tuple(p for p in parsed if p is not None)
        if len(_CACHE) > 1000:
            _CACHE.clear()
        _CACHE[key] = found
    return found


