"""Plugs refactorings and relationship cascades in: the job runners and the record after-commit hooks."""

from __future__ import annotations

from typing import Any

import entities.refactoring.jobs  # noqa: F401  (registers the REFACTORING runner)
from entities.refactoring.cascade import install_hooks  # registers the CASCADE_UPDATE runner


def install(app: Any, api: Any, services: Any) -> None:
    install_hooks(services)
