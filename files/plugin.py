"""Plugs the files package into the app: the file service, its indexes, the routes, the public shared link."""

from __future__ import annotations

from typing import Any

from flask import Flask

from files.routes import blp
from files.service import FileService, FileSettings
from runtime.auth_routes import PUBLIC_ENDPOINTS
from runtime.services import Services


def install(app: Flask, api: Any, services: Services) -> None:
    services.extra["files"] = FileService(services, FileSettings.from_env())
    services.extra.setdefault("index_hooks", []).append(lambda svc: svc.extra["files"].ensure_indexes())
    PUBLIC_ENDPOINTS.add("files.fetch_shared")  # the link is the permission
    api.register_blueprint(blp, url_prefix=services.config.api_prefix)
