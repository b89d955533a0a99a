"""Plugs application logs into the app: the service (``services.app_logs``), its indexes and routes."""

from __future__ import annotations

from typing import Any

from flask import Flask

from core.services import Services
from runtime.applogs import requests
from runtime.applogs.jobs import log_job_events
from runtime.applogs.routes import blp
from runtime.applogs.service import AppLogs


def install(app: Flask, api: Any, services: Services) -> None:
    config = services.config
    logs = AppLogs(services.store, config.app_log_retention_days, config.query_max_time_ms,
                   config.app_log_max_entries)
    services.app_logs = logs
    services.plugins.index_hooks.append(logs.ensure_indexes)
    requests.install(app, services, logs, config.app_logs_requests, config.api_prefix)
    log_job_events(services, logs)
    api.register_blueprint(blp, url_prefix=services.config.api_prefix)
