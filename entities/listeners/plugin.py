"""Plugs listeners in: definition checks, the after-commit and job-event hooks, the LISTENER job runner."""

from __future__ import annotations

from typing import Any

import entities.listeners.definitions
import entities.listeners.jobs  # noqa: F401  (registers the LISTENER runner)
from entities.listeners.dispatcher import ListenerDispatcher
from jobs.service import jobs_of


def install(app: Any, api: Any, services: Any) -> None:
    dispatcher = ListenerDispatcher(services)
    services.extra["listeners"] = dispatcher
    services.records.after_commit.append(dispatcher.on_commit)
    services.records.observers.append(dispatcher.observed)
    jobs_of(services).job_events.append(dispatcher.on_job)
