"""Plugs actions into the records routes and the job runners."""

from __future__ import annotations

from typing import Any

import entities.actions.definitions
import entities.actions.jobs  # noqa: F401  (registers the EXECUTE_ACTION runner)
from entities.actions.routes import run_on_ids, run_on_query
from entities.actions.schedules import install_schedule_kinds
from entities.records.routes import ACTION_HANDLERS


def install(app: Any, api: Any, services: Any) -> None:
    ACTION_HANDLERS["ids"] = run_on_ids
    ACTION_HANDLERS["query"] = run_on_query
    install_schedule_kinds(services)
