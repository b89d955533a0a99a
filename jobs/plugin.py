"""Plugs the jobs package into the app: the ``/status/jobs`` routes, the job service, the dispatcher,
index creation, and the embedded runner started by ``runtime serve``."""

from __future__ import annotations

from typing import Any

from flask import Flask

from core.services import Services
from jobs.dispatch import EmbeddedDispatcher, RQDispatcher
from jobs.routes import blp
from jobs.service import JobService, JobSettings


def install(app: Flask, api: Any, services: Services) -> None:
    jobs = JobService(services, JobSettings.from_config(services.config))
    if services.config.redis_url:
        jobs.dispatcher = RQDispatcher(services.config.redis_url, jobs.settings.rq_job_timeout)
    else:
        embedded = EmbeddedDispatcher(jobs, jobs.settings.embedded_threads)
        jobs.dispatcher = embedded
        services.plugins.start_hooks.append(lambda: _start_embedded(jobs, embedded))
    services.jobs = jobs
    services.plugins.index_hooks.append(jobs.ensure_indexes)
    api.register_blueprint(blp, url_prefix=services.config.api_prefix)


def _start_embedded(jobs: JobService, dispatcher: EmbeddedDispatcher) -> None:
    """At ``serve`` start: jobs whose worker died are stopped (resumable), waiting ones are queued again."""
    jobs.sweep_stale()
    jobs.enqueue_waiting()
    dispatcher.start()
