"""The app logs the runtime writes by itself about requests, in the platform's shapes.

* a line per REST write (``APP_LOGS_REQUESTS=writes``, the default; ``all`` adds reads; ``off`` none):
  ``"METHOD /api/path?query"`` with ``subType`` ``REST_API_RECORD_CREATED|_UPDATED|_DELETED``,
  ``REST_API_ACTION_EXECUTED`` or ``REST_API_RECORD_READ`` for record routes, null for the others;
* ``"Validation exceptions on record [label]. Error: [field: message, ...]"`` when a record write is refused
  for its fields, the errors in ``additionalInfo``;
* ``"Data record of type [entity] with label [label] was changed successfully"`` (created, deleted) after a
  record write through the API.

The request thread only copies what it needs (method, path, who and from where, status, the response bytes of
record writes, the label of a record whose write was refused) into the log queue; the messages are built and
written by the background writer.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, NamedTuple
from urllib.parse import urlencode

import orjson
from flask import Flask, Response, g, request

from core.identity import client_ip
from core.services import Services
from runtime.applogs.service import AppLogs

log = logging.getLogger("runtime.applogs")

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Routes that write their own log, or are reads sent as PUT.
SKIPPED = {"auth.login", "applogs.create_log", "applogs.list_logs", "health.health", "aggregate.aggregate"}
CREATE, UPDATE, DELETE_ONE, DELETE_QUERY = ("records.create_record", "records.update_record_or_run_action",
                                            "records.delete_records", "records.delete_over_query")
RECORD_CHANGES = {CREATE: "created", UPDATE: "changed", DELETE_ONE: "deleted", DELETE_QUERY: "deleted"}
HIDDEN_PARAMS = ("api_key", "token")
_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")


def install(app: Flask, svc: Services, logs: AppLogs, mode: str, prefix: str) -> None:
    """Register the request logging hook (``mode`` is APP_LOGS_REQUESTS)."""

    @app.after_request
    def _log_request(response: Response) -> Response:
        try:
            _capture(svc, logs, mode, prefix, response)
        except Exception:  # a log must never cost the request its response
            log.exception("could not queue the app log of a request")
        return response


def _capture(svc: Services, logs: AppLogs, mode: str, prefix: str, response: Response) -> None:
    req = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup, not ten
    write = req.method in WRITE_METHODS
    if not write and mode != "all":
        return  # a read leaves a log only when every request is logged
    endpoint = req.endpoint or ""
    ctx = g._get_current_object()  # type: ignore[attr-defined]
    if (not req.path.startswith(prefix) or req.method in ("OPTIONS", "HEAD") or endpoint in SKIPPED
            or endpoint.startswith("aggregate.") or ctx.get("idempotent_replay")):
        return
    user = ctx.get("user")
    if user is None:
        return  # unauthenticated: nothing happened in the app
    admin = ctx.get("admin_user")
    # the address as every other log and history entry has it: X-Forwarded-For counts only behind trusted proxies
    identity = {"user": user["email"], "admin_user": admin["email"] if admin else None, "ip": client_ip()}
    status = response.status_code
    view_args = req.view_args or {}
    line = None
    if mode == "all" or (mode == "writes" and write):
        line = (req.method, _path(req), status)
    body = None
    if write and endpoint in RECORD_CHANGES and status in (200, 400) and not response.direct_passthrough:
        body = response.get_data()
        if status == 400 and b"validationErrors" not in body:
            body = None
    if line is None and body is None:
        return
    refused = None
    if body is not None and status == 400:  # the label now: the record may change before the writer runs
        refused = Refused(_failed_label(svc, view_args, req.get_data(cache=True)))
    identity["timestamp"] = logs.clock()  # the logs are built later, but dated now
    logs.defer(lambda: _build(logs, identity, line, endpoint, view_args, body, refused))


Line = tuple[str, str, int]  # method, path and query, status


class Refused(NamedTuple):
    """A record write refused for its fields: the label of its record (stored, or the one the body would give)."""

    label: str | None


def _build(logs: AppLogs, identity: dict[str, Any], line: Line | None, endpoint: str,
           view_args: dict[str, Any], body: bytes | None, refused: Refused | None) -> list[dict[str, Any]]:
    docs = []
    if line is not None:
        method, path, status = line
        level = "INFO" if status < 400 else "WARN" if status < 500 else "ERROR"
        info = {"status": status} if status >= 400 else None
        docs.append(logs.build(level, f"{method} {path}", info, sub_type=_sub_type(endpoint, view_args), **identity))
    if body is not None:
        try:
            docs.extend(_record_logs(logs, identity, endpoint, view_args, body, refused))
        except Exception:  # an unexpected response shape: the request line is still written
            log.exception("could not build the record log of %s", endpoint)
    return docs


def _record_logs(logs: AppLogs, identity: dict[str, Any], endpoint: str, view_args: dict[str, Any],
                 body: bytes, refused: Refused | None) -> list[dict[str, Any]]:
    entity = view_args.get("entity_name", "")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:  # what only the standard parser reads (a lone surrogate's escape)
        payload = json.loads(body)
    if refused is not None:
        label = refused.label
        errors = [{"code": str(e.get("code", "")).upper(), "field": e.get("field"), "message": e.get("message")}
                  for e in payload.get("errors", [])]
        text = ", ".join(f"{e['field']}: {e['message']}" for e in errors)
        return [logs.build("INFO", f"Validation exceptions on record [{label or ''}]. Error: [{text}]",
                           {"recordLabel": label, "errors": errors}, **identity)]
    change = RECORD_CHANGES[endpoint]
    if endpoint == UPDATE and "version" not in payload:
        return []  # an action over a query answered with its own response
    if isinstance(payload, dict) and "id" in payload and "version" in payload:
        records = [payload]
    else:  # delete many: {id: {status, response}}
        records = [item["response"] for item in payload.values()
                   if isinstance(item, dict) and item.get("status") == "ok" and isinstance(item.get("response"), dict)]
    return [logs.build("INFO", f"Data record of type [{entity}] with label [{r.get('label')}] was {change} "
                               f"successfully", **identity) for r in records]


def _failed_label(svc: Services, view_args: dict[str, Any], raw_request: bytes) -> str | None:
    """The label of the record a refused write was about: the stored one, or the one the body would give."""
    from entities.records.values import compute_label
    from entities.types import parse_object_id

    entity = view_args.get("entity_name", "")
    try:
        segment = view_args.get("segment") or view_args.get("record_ids")
        oid = parse_object_id(segment) if segment else None
        if oid is not None:
            doc = svc.records.collection(entity).find_one({"_id": oid}, {"label": 1})
            return doc.get("label") if doc else None
        body = json.loads(raw_request or b"{}")
        return compute_label(svc.registry.get(entity), body) if isinstance(body, dict) else None
    except Exception:
        return None


def _sub_type(endpoint: str, view_args: dict[str, Any]) -> str | None:
    if endpoint == CREATE:
        return "REST_API_RECORD_CREATED"
    if endpoint == UPDATE:
        segment = view_args.get("segment", "")
        is_id = _OBJECT_ID.fullmatch(segment) is not None
        return "REST_API_RECORD_UPDATED" if is_id else "REST_API_ACTION_EXECUTED"
    if endpoint == "records.run_action_on_records":
        return "REST_API_ACTION_EXECUTED"
    if endpoint in (DELETE_ONE, DELETE_QUERY):
        return "REST_API_RECORD_DELETED"
    if endpoint == "records.read_record":
        return "REST_API_RECORD_READ"
    return None


def _path(req: Any) -> str:
    """The path and query as sent, without credentials passed as parameters."""
    if not req.query_string:
        return req.path
    every = list(req.args.items(multi=True))
    args = [(k, v) for k, v in every if k not in HIDDEN_PARAMS]
    if not args:
        return req.path
    if len(args) == len(every):
        return f"{req.path}?{req.query_string.decode('utf-8', 'replace')}"
    return f"{req.path}?{urlencode(args)}"

