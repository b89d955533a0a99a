"""Plugs CSV import and export into the app: the routes and the IMPORT_RECORDS / EXPORT_RECORDS runners."""

from __future__ import annotations

from typing import Any

import entities.transfer.exporter
import entities.transfer.importer  # noqa: F401  (register the job runners)
from entities.transfer.routes import blp


def install(app: Any, api: Any, services: Any) -> None:
    api.register_blueprint(blp, url_prefix=services.config.api_prefix)
