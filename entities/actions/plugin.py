"""Plugs this package into the app (routes, services hooks)."""

from __future__ import annotations

from typing import Any


def install(app: Any, api: Any, services: Any) -> None:
    """Nothing to install yet."""
