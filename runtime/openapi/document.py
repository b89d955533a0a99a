"""The OpenAPI document: flask-smorest's spec of the routes, plus every entity's concrete paths and schemas.

flask-smorest describes the generic routes (``/data/{entity_name}``...). This module adds one set of concrete
paths per entity (``entity_paths``) next to them, limits their ``entity_name`` to the existing entities, adds
the security schemes and the real error shape, and caches the result per metadata state (the entities' ids
and versions, which every worker re-reads on each request) and per ``DocumentFilter.cache_key``.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import threading
from collections.abc import Hashable
from typing import Any

from flask import Flask

from core.api import COOKIE_SCHEME, SECURITY, SECURITY_SCHEMES
from core.errors import NotFound
from core.http import dumps_finite
from entities.metadata import Entity, Field
from entities.records.schemas import record_outcomes
from runtime import idempotency
from runtime.openapi.entity_paths import EntityDocument, entity_actions
from runtime.openapi.fields import CallerReadOnly
from runtime.openapi.visibility import ENTITY_OPERATIONS, DocumentFilter, ShowEverything, User

PUBLIC_PATHS = ("/auth/login", "/health", "/health/ready", "/files/shared/{shared_id}")

SHARED_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object", "required": ["code", "message", "errors"],
        "properties": {
            "code": {"type": "string", "example": "validationErrors"},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string", "nullable": True}, "fieldLabel": {"type": "string", "nullable": True},
                "code": {"type": "string"}, "message": {"type": "string"},
                "additionalInfo": {"type": "object", "nullable": True}}}},
        },
        "description": "Every error: a code, a message and, for invalid input, one entry per field",
    },
    "JobLink": {"type": "object", "required": ["jobId", "jobLink"],
                "properties": {"jobId": {"type": "string"}, "jobLink": {"type": "string"}},
                "description": "A background job: poll `GET /status/jobs/{jobId}`"},
    "RecordOutcomes": record_outcomes(),
    "HistoryPage": {"type": "object", "required": ["total", "items"], "properties": {
        "total": {"type": "integer"}, "offset": {"type": "string", "nullable": True},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "recordId": {"type": "string", "nullable": True},
            "eventType": {"type": "string", "nullable": True}, "timestamp": {"type": "integer", "nullable": True},
            "oldRecord": {"type": "object", "nullable": True}, "newRecord": {"type": "object", "nullable": True}}}}}},
    "AggregateStage": {
        "type": "object", "minProperties": 1, "maxProperties": 1,
        "description": "One stage: match (a query map), sort, project, group (`by` plus accumulators such as "
                       "`sum(field)`), count, skip, limit, unwind, lookup or geoNear",
        "properties": {name: {} for name in ("match", "sort", "project", "group", "count", "skip", "limit",
                                             "unwind", "lookup", "geoNear")}},
    "AggregateResult": {"type": "object", "required": ["total", "items"], "properties": {
        "total": {"type": "integer"}, "items": {"type": "array", "items": {"type": "object"}}}},
}


class Documents:
    """Builds and caches documents for one app."""

    def __init__(self, api: Any, prefix: str):
        self.api = api
        self.prefix = prefix
        self.filter: DocumentFilter = ShowEverything()
        self._base: dict[str, Any] | None = None
        self._cache: dict[Hashable, bytes] = {}
        self._lock = threading.Lock()

    def base(self) -> dict[str, Any]:
        """flask-smorest's document of the routes (they do not change once the app is built)."""
        if self._base is None:
            self._base = self._prepare(copy.deepcopy(self.api.spec.to_dict()))
        return self._base

    def render(self, entities: dict[str, Entity], user: User, only: str | None) -> bytes:
        """The document as JSON bytes, from the cache when the metadata has not changed."""
        if only is not None and only not in entities:
            raise NotFound(f"Entity '{only}' does not exist")
        state = tuple(sorted((e.name, e.id, e.version) for e in entities.values()))
        key = (state, self.filter.cache_key(user), only)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        body = dumps_finite(self.build(entities, user, only), separators=(",", ":")).encode()
        with self._lock:
            if len(self._cache) > 64:  # old metadata states, other callers: start over
                self._cache.clear()
            self._cache[key] = body
        return body

    def build(self, entities: dict[str, Entity], user: User, only: str | None = None) -> dict[str, Any]:
        doc = copy.deepcopy(self.base())
        visible = [e for name, e in sorted(entities.items()) if self.filter.entity(user, e)]
        if only is not None:
            if not any(e.name == only for e in visible):
                raise NotFound(f"Entity '{only}' does not exist")
            doc["paths"], doc["tags"] = {}, []
            doc["info"]["title"] += f": {only}"
            visible = [e for e in visible if e.name == only]
        else:
            self._drop_hidden_operations(doc, user)
            self._limit_generic_entity_names(doc, [e.name for e in visible])
        for entity in visible:
            fields = self._shown_fields(user, entity, entity.fields)
            actions = [a for a in entity_actions(entity) if self.filter.action(user, entity, a.name)]
            allowed = {op for op in ENTITY_OPERATIONS if self.filter.entity_operation(user, entity, op)}
            part = EntityDocument(entity, fields, actions, self.prefix, allowed, generic=self.base()["paths"]).part()
            doc["paths"].update(part.paths)
            doc["components"]["schemas"].update(part.schemas)
            doc["components"].setdefault("parameters", {}).update(part.parameters)
            doc["tags"].append(part.tag)
        _complete(doc)
        _document_idempotency(doc, self.prefix)
        _merge_same_templates(doc)
        used = {tag for ops in doc["paths"].values() for op in ops.values() if isinstance(op, dict)
                for tag in op.get("tags", [])}
        doc["tags"] = [t for t in doc["tags"] if t["name"] in used]  # e.g. tags of operations a filter hid
        return doc

    def _shown_fields(self, user: User, entity: Entity, fields: list[Field]) -> list[Field]:
        """The fields the filter shows, at every depth: a nested group keeps the inner fields it shows, a
        relationship the copied fields (``Field.path`` is the dot path of each); a field read-only for the caller
        is marked so (documented ``readOnly``, in no request body). Copies: the entity is shared."""
        out = []
        for f in fields:
            if not self.filter.field(user, entity, f):
                continue
            if f.nested or f.copied:
                f = dataclasses.replace(f, nested=self._shown_fields(user, entity, f.nested),
                                        copied=self._shown_fields(user, entity, f.copied))
            if not f.read_only and self.filter.read_only(user, entity, f):
                f = CallerReadOnly.of(f)
            out.append(f)
        return out

    # --- the generic part ----------------------------------------------------------------------

    def _prepare(self, doc: dict[str, Any]) -> dict[str, Any]:
        components = doc.setdefault("components", {})
        components.setdefault("schemas", {}).update(copy.deepcopy(SHARED_SCHEMAS))
        components.setdefault("securitySchemes", {}).update({**SECURITY_SCHEMES, **COOKIE_SCHEME})
        doc["security"] = SECURITY
        doc["info"]["description"] = (
            "The REST API of the entity runtime. Log in with `POST /auth/login`, then send the token in a `token` "
            "header (or `Authorization: Bearer <token>`, `Authorization: <token>`, `X-API-KEY`, `?api_key=`); "
            "a download of a file (`GET /files/{id}`, a record's file) also takes it as a `token` cookie. "
            "Each entity has its own tag with its "
            "record schema, filters and actions. `?entity=<name>` gives the document of one entity.")
        for path in PUBLIC_PATHS:
            for method, operation in doc["paths"].get(self.prefix + path, {}).items():
                if isinstance(operation, dict) and method != "parameters":
                    operation["security"] = []
        return doc

    def _drop_hidden_operations(self, doc: dict[str, Any], user: User) -> None:
        for path in list(doc["paths"]):
            ops = doc["paths"][path]
            for method in [m for m in ops if m != "parameters"]:
                if not self.filter.operation(user, path, method):
                    del ops[method]
            if not [m for m in ops if m != "parameters"]:
                del doc["paths"][path]

    def _limit_generic_entity_names(self, doc: dict[str, Any], names: list[str]) -> None:
        """The generic ``/data/{entity_name}...`` paths take only the names of existing entities."""
        for ops in doc["paths"].values():
            for operation in [ops.get("parameters", []), *[o.get("parameters", []) for k, o in ops.items()
                                                          if k != "parameters"]]:
                for param in operation:
                    if param.get("name") == "entity_name" and param.get("in") == "path":
                        param["schema"] = {"type": "string", "enum": names} if names else {"type": "string"}


ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
ERROR_RESPONSE = {"description": "No or an invalid token", "content": ERROR_CONTENT}


def _complete(doc: dict[str, Any]) -> None:
    """Every operation says how it is secured, and a secured one documents its 401 (the error body)."""
    for ops in doc["paths"].values():
        for method, operation in ops.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            operation.setdefault("security", SECURITY)
            if operation["security"]:
                operation.setdefault("responses", {}).setdefault("401", copy.deepcopy(ERROR_RESPONSE))


IDEMPOTENCY_KEY = {
    "name": idempotency.HEADER, "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY},
    "description": "Any string the client picks (a UUID, say) to retry this request safely: for 24 hours, the same "
                   "request with the same key gets the first completed answer again, with `Idempotent-Replayed: "
                   "true`, and nothing runs twice; the same key on a different request is a 422."}
IDEMPOTENT_REPLAYED = {"description": "`true` when this is the stored answer of an earlier request with the same "
                                      "Idempotency-Key (nothing ran again)",
                       "schema": {"type": "string", "enum": ["true"]}}
_IN_PROGRESS, _REUSED = idempotency.RequestInProgress(), idempotency.KeyReused()
# The answers a retry never gets replayed: given before the key is read (401), or about the key itself (422).
_NEVER_REPLAYED = ("401", str(_REUSED.status), "default")


def _document_idempotency(doc: dict[str, Any], prefix: str) -> None:
    """The operations that take an ``Idempotency-Key`` (``idempotency.honours``, for a caller with a token) list the
    header, its 409 (the first request still running) and 422 (the key used for another request), and the
    ``Idempotent-Replayed`` header on the answers a retry may get again (any stored one: a success or an error)."""
    components = doc["components"]
    components.setdefault("parameters", {})["IdempotencyKey"] = copy.deepcopy(IDEMPOTENCY_KEY)
    components.setdefault("headers", {})["IdempotentReplayed"] = copy.deepcopy(IDEMPOTENT_REPLAYED)
    in_progress = f"`{_IN_PROGRESS.code}`: {_IN_PROGRESS.message}"
    for path, ops in doc["paths"].items():
        for method, operation in ops.items():
            if method == "parameters" or not isinstance(operation, dict) or not operation.get("security") \
                    or not idempotency.honours(method, path, prefix):
                continue
            operation.setdefault("parameters", []).append({"$ref": "#/components/parameters/IdempotencyKey"})
            responses = operation.setdefault("responses", {})
            conflict = _inline(doc, responses.get(str(_IN_PROGRESS.status)))
            responses[str(_IN_PROGRESS.status)] = (
                {**conflict, "description": f"{conflict['description']}; or {in_progress}"} if conflict
                else {"description": in_progress, "content": copy.deepcopy(ERROR_CONTENT)})
            responses[str(_REUSED.status)] = {"description": f"`{_REUSED.code}`: {_REUSED.message}",
                                              "content": copy.deepcopy(ERROR_CONTENT)}
            for status in list(responses):
                if status not in _NEVER_REPLAYED and not status.startswith("5"):
                    answer = _inline(doc, responses[status])  # a new dict: answers may be shared objects
                    responses[status] = {**answer, "headers": {**answer.get("headers", {}), idempotency.REPLAYED: {
                        "$ref": "#/components/headers/IdempotentReplayed"}}}


def _inline(doc: dict[str, Any], response: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy of an answer given as a ``$ref`` to ``components/responses`` (to add to it), else the answer."""
    if response is None or "$ref" not in response:
        return response
    return copy.deepcopy(doc["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]])


_TEMPLATE = re.compile(r"\{([^}]+)\}")
# What a path parameter holds, for operations whose route names it differently from the path they are listed under
_HOLDS = {"segment": "A record id (update the record) or an action name (run it over the records the query "
                     "matches)",
          "record_ids": "A record id, or several comma-separated"}


def _merge_same_templates(doc: dict[str, Any]) -> None:
    """OpenAPI forbids paths that differ only in the names of their parameters (``/data/{entity_name}/{record_id}``
    for GET, ``.../{segment}`` for PUT, ``.../{record_ids}`` for DELETE, as the routes name them): their operations
    move to the first such path, each with its own description of the parameter under that path's name."""
    by_shape: dict[str, list[str]] = {}
    for path in doc["paths"]:
        by_shape.setdefault(_TEMPLATE.sub("{}", path), []).append(path)
    for target, *others in by_shape.values():
        names = _TEMPLATE.findall(target)
        for other in others:
            item = doc["paths"][other]
            if any(method in doc["paths"][target] for method in item if method != "parameters"):
                continue  # the same method under both: left as it is (no route of the runtime does this)
            rename = dict(zip(_TEMPLATE.findall(other), names, strict=True))
            del doc["paths"][other]
            renamed = [{**p, "name": rename[p["name"]], "description": _HOLDS.get(p["name"], p.get("description", ""))}
                       for p in item.get("parameters", [])
                       if p.get("in") == "path" and rename.get(p["name"]) != p["name"]]
            for method, operation in item.items():
                if method != "parameters":
                    operation["parameters"] = [*renamed, *operation.get("parameters", [])]
                    doc["paths"][target][method] = operation


def documents(app: Flask) -> Documents:
    return app.extensions["runtime.openapi"]


def set_document_filter(app: Flask, document_filter: DocumentFilter) -> None:
    """Install the filter that decides what each caller's document shows (see ``visibility``)."""
    docs = documents(app)
    docs.filter = document_filter
    docs._cache.clear()
