"""Plugs the jobs package into the app: the ``/status/jobs`` routes, the job service, the dispatcher,
index creation, async deletes, and the embedded runner started by ``runtime serve``."""

from __future__ import annotations

from typing import Any

from flask import Flask

from jobs import deletes
from jobs.dispatch import EmbeddedDispatcher, RQDispatcher
from jobs.routes import blp
from jobs.service import JobService, JobSettings
from runtime.services import Services


def install(app: Flask, api: Any, services: Services) -> None:
    jobs = JobService(services, JobSettings.from_env())
    if services.config.redis_url:
        jobs.dispatcher = RQDispatcher(services.config.redis_url, jobs.settings.rq_job_timeout,
                                       services.config.redis_timeout_seconds)
    else:
        jobs.dispatcher = EmbeddedDispatcher(jobs, jobs.settings.embedded_threads)
    services.extra["jobs"] = jobs
    services.extra["submit_delete"] = deletes.submit_delete
    services.extra.setdefault("index_hooks", []).append(lambda svc: svc.extra["jobs"].ensure_indexes())
    if isinstance(jobs.dispatcher, EmbeddedDispatcher):
        services.extra["start_embedded_jobs"] = lambda _app: _start_embedded(jobs)
    api.register_blueprint(blp, url_prefix=services.config.api_prefix)


def _start_embedded(jobs: JobService) -> None:
    """At ``serve`` start: jobs whose worker died are stopped (resumable), waiting ones are queued again."""
    jobs.sweep_stale()
    jobs.enqueue_waiting()
    jobs.dispatcher.start()  # type: ignore[attr-defined]
