"""flask-smorest wired to the project's conventions.

- ``Blueprint``: ``@blp.arguments`` errors answer with core.errors' shape (400, field errors), never
  flask-smorest's 422 body; ``location="body"`` reads a JSON body whatever its Content-Type (``curl -d``);
  ``location="query"`` treats an empty value (``?_size=``) as absent.
- ``Api``: the OpenAPI document's ``Error`` schema is the real error body, and it carries the token's
  security schemes.
- ``Flag``: the one boolean parser of request values (``true/false``, ``1/0``, ``yes/no``).
"""

from __future__ import annotations

import copy
from functools import wraps
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Flask, request
from flask_smorest.spec.plugins import FlaskPlugin
from webargs.flaskparser import FlaskParser
from werkzeug import Response

from core.errors import BadRequest, ValidationFailed, field_errors
from core.http import json_body, json_object, loads_safe, parse_bool


class Flag(ma.fields.Field):
    """A boolean request value, parsed by ``parse_bool``; rendered in the document as a boolean."""

    default_error_messages = {"invalid": "must be true or false"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            return parse_bool(value)
        except ValueError:
            raise self.make_error("invalid") from None


class QuerySchema(ma.Schema):
    """Base of query-string schemas: empty values count as absent; unknown keys (field filters) pass through."""

    class Meta:
        unknown = ma.INCLUDE

    @ma.pre_load
    def _drop_empty(self, data: Any, **_: Any) -> dict[str, Any]:
        out = {}
        for key in data:
            value = data[key]
            if value in ("", []) or (isinstance(value, list) and all(v == "" for v in value)):
                continue
            out[key] = value
        return out


_EMPTY = object()


class AnyBody(ma.Schema):
    """A free-form JSON body documented by its fields; it is handed to the service unchanged (the service
    validates it, with its own field errors)."""

    empty: Any = None  # what an empty body gives
    object_only = False  # True: a body that is not a JSON object is a 400

    class Meta:
        unknown = ma.INCLUDE

    def load(self, data: Any, **_: Any) -> Any:  # type: ignore[override]
        return self.empty if data is _EMPTY else data


class ErrorItemSchema(ma.Schema):
    field = ma.fields.String(metadata={"description": "The parameter or field path"})
    code = ma.fields.String(metadata={"description": "invalid, required, unknown, ..."})
    message = ma.fields.String()
    fieldLabel = ma.fields.String(allow_none=True)
    additionalInfo = ma.fields.Dict(allow_none=True)


class ErrorSchema(ma.Schema):
    """Every 4xx/5xx body (core.errors); some errors add context keys (e.g. a conflict's current version)."""

    class Meta:
        unknown = ma.INCLUDE

    code = ma.fields.String(required=True, metadata={"description": "badRequest, validationErrors, notFound, ..."})
    message = ma.fields.String(required=True)
    errors = ma.fields.List(ma.fields.Nested(ErrorItemSchema), required=True)


class ApiParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400
    # the schema's own ``Meta.unknown`` decides (query schemas let the per-entity field filters through)
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": None, "body": None}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._empty_queries: dict[Any, tuple[ma.Schema, Any]] = {}

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):  # type: ignore[override]
        location = next(iter(error.messages), None) if isinstance(error.messages, dict) else None
        messages = error.messages.get(location, error.messages) if location else error.messages
        errors = field_errors(messages)
        if location in ("query", "form", "headers"):
            first = errors[0] if errors else {"field": "?", "message": "invalid"}
            what = {"query": "query parameter", "form": "form field", "headers": "header"}[location]
            raise BadRequest(f"Invalid {what} '{first['field']}': {first['message']}", errors=errors)
        raise ValidationFailed(errors)

    def parse(self, argmap: Any, req: Any = None, *, location: str | None = None, **kwargs: Any) -> Any:
        """As webargs', but a query schema meets an empty query string once: most reads carry no parameters,
        and loading nothing gives the same answer every time (a copy of it is handed out)."""
        req = req or request
        if location == "body" and isinstance(argmap, AnyBody) and not kwargs.get("validate"):
            return argmap.load(_load_body(req, argmap))  # webargs would hand the body to the same load, unchanged
        if location != "query" or not isinstance(argmap, ma.Schema) or (req.query_string and req.args):
            return super().parse(argmap, req, location=location, **kwargs)
        key = (id(argmap), tuple(kwargs.items()))
        empty = self._empty_queries.get(key)
        if empty is None:  # the schema is kept with its answer, so its id is not reused while cached
            empty = self._empty_queries[key] = (argmap, super().parse(argmap, req, location=location, **kwargs))
        return copy.deepcopy(empty[1]) if empty[1] else {}


parser = ApiParser()


@parser.location_loader("body")
def _load_body(req: Any, schema: ma.Schema) -> Any:
    """The JSON body whatever its Content-Type; malformed is core.http's 400; empty is ``{}`` (or the
    ``AnyBody`` schema's ``empty``)."""
    body = json_body(_EMPTY)
    object_only = isinstance(schema, AnyBody) and schema.object_only
    if body is _EMPTY:
        if not isinstance(schema, AnyBody):
            return {}
        if not (object_only and schema.empty is None):
            return _EMPTY  # the schema's ``empty``
    if object_only and not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body


@parser.location_loader("raw")
def _load_raw(req: Any, schema: ma.Schema) -> bytes:
    """The body's bytes, for a schema whose ``load`` parses a format of its own (documented as JSON)."""
    return req.get_data(cache=True)


@parser.location_loader("upload")
def _load_nothing(req: Any, schema: ma.Schema) -> Any:
    """A multipart upload the route reads itself (it must raise the size limit first): documented only."""
    return _EMPTY


@parser.location_loader("json_or_form")
def _load_json_or_form(req: Any, schema: ma.Schema) -> dict[str, Any]:
    """A JSON object body whatever the Content-Type (``curl -d '{...}'`` sends it as a form), or a form-encoded
    one (``-d "email=...&password=..."``); empty is ``{}``; anything else is a 400."""
    json_like = req.get_data(cache=True).lstrip().startswith(b"{")  # curl -d '{...}' sends it as a form
    if req.mimetype == "multipart/form-data" or (req.mimetype == "application/x-www-form-urlencoded" and not json_like):
        try:
            parsed = loads_safe(req.get_data(cache=True) or b"null")
        except (ValueError, RecursionError):
            parsed = None
        return parsed if isinstance(parsed, dict) else req.form.to_dict()
    return json_object({})  # a malformed one is said to be malformed


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = parser
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {**flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
                                             "body": "application/json", "raw": "application/json",
                                             "upload": "multipart/form-data",
                                             "json_or_form": "application/json"}

    def arguments(self, schema: Any, **kwargs: Any) -> Any:
        """As flask-smorest's (same document, same parsed value appended to the view's arguments), in one call
        layer instead of webargs' wrapper around flask-smorest's pass-through; a schema class is made into an
        instance once (webargs would build a new schema object on every request)."""
        schema = schema() if isinstance(schema, type) else schema
        documented = super().arguments(schema, **kwargs)
        location = kwargs.get("location", "json")
        options = {name: kwargs.get(name) for name in _PARSE_OPTIONS}
        parse = self.ARGUMENTS_PARSER.parse

        def decorator(func: Any) -> Any:
            @wraps(func)
            def parsed(*args: Any, **view_args: Any) -> Any:
                return func(*args, parse(schema, location=location, **options), **view_args)
            parsed._apidoc = documented(func)._apidoc  # type: ignore[attr-defined]
            return parsed
        return decorator

    def response(self, status_code: int | str, schema: Any = None, **kwargs: Any) -> Any:
        """As flask-smorest's, but a view that answers with a finished Response (most do: ``jsonify``) skips
        flask-smorest's call layer; anything else is dumped and answered by flask-smorest exactly as before."""
        documented = super().response(status_code, schema, **kwargs)
        finish = documented(_answered)

        def decorator(func: Any) -> Any:
            @wraps(func)
            def answered(*args: Any, **view_args: Any) -> Any:
                result = func(*args, **view_args)
                return result if isinstance(result, Response) else finish(result)
            answered._apidoc = documented(func)._apidoc  # type: ignore[attr-defined]
            return answered
        return decorator


# what webargs' ``use_args`` hands its ``parse`` besides the location
_PARSE_OPTIONS = ("unknown", "validate", "error_status_code", "error_headers")


def _answered(result: Any) -> Any:
    """The view's return value, already computed, for flask-smorest's response wrapper to dump."""
    return result


SECURITY_SCHEMES = {
    "token": {"type": "apiKey", "in": "header", "name": "token", "description": "the token from POST /auth/login"},
    "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <token>`"},
    "authorization": {"type": "apiKey", "in": "header", "name": "Authorization",
                      "description": "`Authorization: <token>` or `Authorization: Token <token>`"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
    "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
}
SECURITY = [{name: []} for name in SECURITY_SCHEMES]
# the token as a cookie: only GET downloads of files take it (Plugins.cookie_endpoints)
COOKIE_SCHEME = {"tokenCookie": {"type": "apiKey", "in": "cookie", "name": "token",
                                 "description": "the token in a `token` cookie: GET downloads of files only"}}
COOKIE_SECURITY = [*SECURITY, {"tokenCookie": []}]


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def __init__(self, app: Flask | None = None, **kwargs: Any):
        super().__init__(app, **kwargs)
        self.register_field(Flag, "boolean", None)
        for name, scheme in {**SECURITY_SCHEMES, **COOKIE_SCHEME}.items():
            self.spec.components.security_scheme(name, scheme)

    def secure(self, app: Flask, public_endpoints: set[str], cookie_endpoints: set[str]) -> None:
        """Put the token's schemes on every documented operation but the public ones (plus the cookie on those
        that take it)."""
        paths = self.spec._paths  # the operations flask-smorest registered
        for rule in app.url_map.iter_rules():
            path = FlaskPlugin.flaskpath2openapi(rule.rule)
            if path not in paths:
                continue
            for method in rule.methods or ():
                operation = paths[path].get(method.lower())
                if operation is None:
                    continue
                operation["security"] = [] if rule.endpoint in public_endpoints else \
                    COOKIE_SECURITY if rule.endpoint in cookie_endpoints else SECURITY


def errors(blp: flask_smorest.Blueprint, *statuses: int):
    """Document the error answers of a route (core.errors' body) in one decorator."""
    def decorator(func):
        for status in reversed(statuses):
            documented = blp.alt_response(status, schema=ErrorSchema, description=_ERROR_TEXT.get(status))(func)
            func._apidoc = documented._apidoc  # keep the document, not flask-smorest's pass-through call layer
        return func
    return decorator


_ERROR_TEXT = {400: "Invalid parameters or body, with field errors", 401: "No or an invalid token",
               403: "Not allowed for this user", 404: "No such entity, record, job or file",
               409: "The record changed since it was read (optimistic locking)", 413: "The body is too large",
               429: "Too many failed logins: retry after the Retry-After header's seconds", 503: "Maintenance mode"}


class Record(ma.Schema):
    """A record as REST JSON: ``id``, ``version``, ``label`` and the entity's fields."""

    class Meta:
        unknown = ma.INCLUDE

    id = ma.fields.String()
    version = ma.fields.Integer()
    label = ma.fields.String(allow_none=True)


class Page(ma.Schema):
    """A listing: ``total``, ``offset`` (send it back as ``_offset`` for the next page) and ``items``."""

    total = ma.fields.Integer()
    offset = ma.fields.String(allow_none=True)
    items = ma.fields.List(ma.fields.Dict())


def page_of(item: type[ma.Schema] | None, name: str) -> type[ma.Schema]:
    """The ``{total, offset, items}`` schema of a listing of ``item`` (any JSON objects when None)."""
    items = ma.fields.Nested(item) if item is not None else ma.fields.Dict()
    return ma.Schema.from_dict({"total": ma.fields.Integer(), "offset": ma.fields.String(allow_none=True),
                                "items": ma.fields.List(items)}, name=name)


class JobLink(ma.Schema):
    """The answer of anything that runs in a background job."""

    class Meta:
        unknown = ma.INCLUDE

    jobId = ma.fields.String()
    jobLink = ma.fields.String()
