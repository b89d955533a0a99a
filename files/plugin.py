"""Plugs the files package into the app: the file service, its indexes, the routes, the public shared link."""

from __future__ import annotations

from typing import Any

from flask import Flask

from core.services import Services
from files.routes import blp
from files.service import FileService, FileSettings


def install(app: Flask, api: Any, services: Services) -> None:
    files = FileService(services, FileSettings.from_config(services.config))
    services.files = files
    services.plugins.index_hooks.append(files.ensure_indexes)
    services.plugins.public_endpoints.add("files.fetch_shared")  # the link is the permission
    services.plugins.cookie_endpoints.update(("files.download", "files.record_file"))  # a job's fileLink, say
    api.register_blueprint(blp, url_prefix=services.config.api_prefix)
