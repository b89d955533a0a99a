"""The API's self-description: ``GET /api/openapi.json`` (per-entity, cached per metadata state) and the
Swagger UI page ``GET /api/docs`` served from the ``swagger-ui-bundle`` package (no CDN)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, request

from core.services import services
from runtime.auth import token_from_request
from runtime.openapi.docs_page import blueprint
from runtime.openapi.document import Documents, documents, set_document_filter
from runtime.openapi.visibility import DocumentFilter, ShowEverything

__all__ = ["DocumentFilter", "Documents", "ShowEverything", "documents", "install", "set_document_filter"]

SPEC_ENDPOINT = "api-docs.openapi_json"  # flask-smorest's route for OPENAPI_JSON_PATH


def install(app: Flask, api: Any, prefix: str) -> None:
    app.extensions["runtime.openapi"] = Documents(api, prefix)
    app.view_functions[SPEC_ENDPOINT] = openapi_json
    app.register_blueprint(blueprint(prefix))


def openapi_json() -> Response:
    """The whole document, or one entity's part with ``?entity=<name>``; a token (optional) picks the view."""
    svc = services()
    token = token_from_request()
    user = svc.auth.authenticate(token)[0] if token else None
    only = request.args.get("entity") or None
    body = documents(current_app).render(svc.registry.all(), user, only)
    return Response(body, mimetype="application/json")
