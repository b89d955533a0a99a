"""Plugs application logs into the app: the service (``services.app_logs``), its indexes and routes."""

from __future__ import annotations

from typing import Any

from flask import Flask

from core.services import Services
from runtime.applogs.routes import blp
from runtime.applogs.service import AppLogs


def install(app: Flask, api: Any, services: Services) -> None:
    logs = AppLogs(services.store, services.config.app_log_retention_days, services.config.query_max_time_ms)
    services.app_logs = logs
    services.plugins.index_hooks.append(logs.ensure_indexes)
    api.register_blueprint(blp, url_prefix=services.config.api_prefix)
