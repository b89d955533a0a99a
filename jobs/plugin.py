"""Plugs the jobs package into the app: the ``/status/jobs`` routes, the job service, the dispatcher,
index creation, async deletes, schedules and the clock, and the embedded runner started by ``runtime serve``."""

from __future__ import annotations

from typing import Any

from flask import Flask

from jobs import deletes
from jobs.clock import EmbeddedClock, clock_tasks
from jobs.dispatch import EmbeddedDispatcher, RQDispatcher
from jobs.routes import blp
from jobs.schedules import runner as _schedule_runner  # noqa: F401  (registers the SCHEDULE runner)
from jobs.schedules.routes import blp as schedules_blp
from jobs.schedules.service import ScheduleService
from jobs.service import JobService, JobSettings
from jobs.webhooks import runner as _webhook_runner  # noqa: F401  (registers the WEBHOOK runner)
from jobs.webhooks.routes import blp as webhooks_blp
from jobs.webhooks.service import WebhookService
from runtime.services import Services


def install(app: Flask, api: Any, services: Services) -> None:
    jobs = JobService(services, JobSettings.from_env())
    if services.config.redis_url:
        jobs.dispatcher = RQDispatcher(services.config.redis_url, jobs.settings.rq_job_timeout)
    else:
        jobs.dispatcher = EmbeddedDispatcher(jobs, jobs.settings.embedded_threads)
    services.extra["jobs"] = jobs
    services.extra["submit_delete"] = deletes.submit_delete
    services.extra.setdefault("index_hooks", []).append(lambda svc: svc.extra["jobs"].ensure_indexes())
    schedules = ScheduleService(services)
    services.extra["schedules"] = schedules
    services.extra.setdefault("index_hooks", []).append(lambda svc: svc.extra["schedules"].ensure_indexes())
    clock_tasks(services).append(schedules.tick)
    webhooks = WebhookService(services)
    services.extra["webhooks"] = webhooks
    services.extra["index_hooks"].append(lambda svc: svc.extra["webhooks"].ensure_indexes())
    clock_tasks(services).append(webhooks.tick)
    if isinstance(jobs.dispatcher, EmbeddedDispatcher):
        clock = EmbeddedClock(services, services.config.clock_tick_seconds)
        services.extra["embedded_clock"] = clock
        services.extra["start_embedded_clock"] = clock.start
        services.extra["start_embedded_jobs"] = lambda _app: _start_embedded(jobs, clock)
    api.register_blueprint(blp, url_prefix=services.config.api_prefix)
    api.register_blueprint(schedules_blp, url_prefix=services.config.api_prefix)
    api.register_blueprint(webhooks_blp, url_prefix=services.config.api_prefix)


def _start_embedded(jobs: JobService, clock: EmbeddedClock) -> None:
    """At ``serve`` start: jobs whose worker died are stopped (resumable), waiting ones are queued again;
    the clock thread fires schedules (missed ones once) and webhook retries."""
    jobs.sweep_stale()
    jobs.enqueue_waiting()
    jobs.dispatcher.start()  # type: ignore[attr-defined]
    clock.start()
