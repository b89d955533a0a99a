"""Plugs aggregate queries into the app: ``PUT /data/{entity}/aggregate``."""

from __future__ import annotations

from typing import Any

from entities.aggregate.routes import blp


def install(app: Any, api: Any, services: Any) -> None:
    api.register_blueprint(blp, url_prefix=services.config.api_prefix)
