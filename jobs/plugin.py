"""Plugs the jobs package into the app: the ``/status/jobs`` routes, the job service, the dispatcher,
index creation, schedules, webhooks and the clock, and the embedded runner started by ``runtime serve``."""

from __future__ import annotations

from typing import Any

from flask import Flask

from core.services import Services
from jobs.clock import EmbeddedClock
from jobs.dispatch import EmbeddedDispatcher, RQDispatcher
from jobs.routes import blp
from jobs.schedules.routes import blp as schedules_blp
from jobs.schedules.runner import run_schedule_job
from jobs.schedules.service import SCHEDULE_JOB, ScheduleService
from jobs.service import JobService, JobSettings
from jobs.webhooks.routes import blp as webhooks_blp
from jobs.webhooks.runner import run_webhook_job
from jobs.webhooks.service import WEBHOOK_JOB, WebhookService


def install(app: Flask, api: Any, services: Services) -> None:
    jobs = JobService(services, JobSettings.from_config(services.config))
    services.jobs = jobs
    services.plugins.index_hooks.append(jobs.ensure_indexes)
    schedules = ScheduleService(services)
    services.schedules = schedules
    services.plugins.index_hooks.append(schedules.ensure_indexes)
    services.plugins.clock_tasks.append(schedules.tick)
    jobs.register_runner(SCHEDULE_JOB, run_schedule_job, internal=True)
    webhooks = WebhookService(services)
    services.webhooks = webhooks
    services.plugins.index_hooks.append(webhooks.ensure_indexes)
    services.plugins.clock_tasks.append(webhooks.tick)
    jobs.register_runner(WEBHOOK_JOB, run_webhook_job, internal=True)
    if services.config.redis_url:
        jobs.dispatcher = RQDispatcher(services.config.redis_url, jobs.settings.rq_job_timeout,
                                       services.config.redis_timeout_seconds)
    else:
        embedded = EmbeddedDispatcher(jobs, jobs.settings.embedded_threads, app)
        jobs.dispatcher = embedded
        clock = EmbeddedClock(services, services.config.clock_tick_seconds)
        services.clock = clock  # started by `runtime serve`, and when a schedule or a retry may be due
        services.plugins.start_hooks.append(lambda: _start_embedded(jobs, embedded, clock))
    for bp in (blp, schedules_blp, webhooks_blp):
        api.register_blueprint(bp, url_prefix=services.config.api_prefix)


def _start_embedded(jobs: JobService, dispatcher: EmbeddedDispatcher, clock: EmbeddedClock) -> None:
    """At ``serve`` start: jobs whose worker died are stopped (resumable), waiting ones are queued again;
    the clock thread fires due schedules (missed ones once) and webhook retries."""
    jobs.sweep_stale()
    jobs.enqueue_waiting()
    dispatcher.start()
    clock.start()
