"""Plugs listeners in: the definition check, the after-commit and job-event hooks, the EXECUTE_LISTENER job runner."""

from __future__ import annotations

from core.services import Services
from entities.listeners.definitions import check_definition, listeners_of
from entities.listeners.dispatcher import LISTENER_JOB, ListenerDispatcher
from entities.listeners.jobs import run_listener_job
from entities.records.events import AfterCommit


def install_listeners(services: Services) -> None:
    dispatcher = ListenerDispatcher(services)
    services.registry.checks.append(check_definition)
    # ``wants``: only entities with listeners, and only writes that trigger events, need per-record events.
    services.records.after_commit.append(AfterCommit(
        "listeners", dispatcher.on_commit, lambda entity, ctx: ctx.trigger_events and bool(listeners_of(entity))))
    services.jobs.job_events.append(dispatcher.on_job)
    services.jobs.register_runner(LISTENER_JOB, run_listener_job, internal=True)
