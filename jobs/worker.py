"""``runtime worker``: an RQ worker on the ``default`` then ``low`` queues (needs ``REDIS_URL``).

It is the forking ``rq.Worker``: each job runs in a child process, which is what lets forceStop and kill
end it at once (``send_stop_job_command``). Before working it stops jobs left RUNNING by a dead worker."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask

from core.config import Config

log = logging.getLogger("jobs.worker")


def run_worker(app_factory: Callable[[Config | None], Flask], burst: bool = False) -> None:
    """``app_factory`` builds the app (the composition root's ``create_app``) in each job process."""
    from redis import Redis
    from rq import Queue, Worker

    from jobs.dispatch import QUEUES
    from jobs.execution import configure

    config = Config.from_env()
    if not config.redis_url:
        raise SystemExit("runtime worker needs REDIS_URL (without it, jobs run inside `runtime serve`)")
    _sweep_dead_jobs(app_factory(config))
    configure(lambda: app_factory(None))
    connection = Redis.from_url(config.redis_url)
    queues = [Queue(name, connection=connection) for name in QUEUES]
    Worker(queues, connection=connection).work(burst=burst, with_scheduler=False)


def _sweep_dead_jobs(app: Flask) -> None:
    """Runs on a throwaway app whose Mongo client is closed before the worker forks its job processes."""
    svc = app.extensions["runtime"]
    try:
        swept = svc.jobs.sweep_stale()
        if swept:
            log.warning("%d job(s) left running by a dead worker were stopped; resume them to finish", swept)
        requeued = svc.jobs.requeue_lost()
        if requeued:
            log.warning("%d waiting job(s) lost by the job queue were queued again", requeued)
    finally:
        svc.store.client.close()
