"""Where jobs run: RQ queues on Redis, or (no ``REDIS_URL``) daemon threads of this process.

Both hand the job id to ``jobs.execution`` and nothing else: ``sys.jobs`` is the truth."""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
import uuid
from typing import TYPE_CHECKING, Any, Protocol

from bson import ObjectId

if TYPE_CHECKING:
    from flask import Flask

    from jobs.service import JobService

log = logging.getLogger("jobs.dispatch")
QUEUES = ("default", "low")
RQ_FUNCTION = "jobs.execution.run_job"


class Dispatcher(Protocol):
    def enqueue(self, job: dict[str, Any]) -> str | None:
        """Queue the job; returns the RQ job id (None when not on RQ)."""

    def force_stop(self, job: dict[str, Any]) -> None:
        """Kill the work of a job now (its status is already STOPPED, or FINISHED by a kill)."""


def new_rq_id(job: dict[str, Any]) -> str:
    return f"{job['_id']}-{uuid.uuid4().hex[:8]}"  # one RQ job per run (a resume enqueues again)


class RQDispatcher:
    def __init__(self, redis_url: str, job_timeout: int, timeout_seconds: int = 5):
        from redis import Redis

        self.connection = Redis.from_url(redis_url, socket_connect_timeout=timeout_seconds,
                                         socket_timeout=timeout_seconds)
        self.job_timeout = job_timeout

    def queue(self, low_priority: bool) -> Any:
        from rq import Queue

        return Queue(QUEUES[1] if low_priority else QUEUES[0], connection=self.connection)

    def enqueue(self, job: dict[str, Any], rq_id: str | None = None) -> str | None:
        rq_id = rq_id or new_rq_id(job)
        self.queue(bool(job.get("lowPriority"))).enqueue(
            RQ_FUNCTION, str(job["_id"]), job_id=rq_id, job_timeout=self.job_timeout, result_ttl=3600,
            failure_ttl=7 * 86400)
        return rq_id

    def exists(self, rq_id: str) -> bool:
        """Whether Redis still holds the RQ job (a Redis restarted without persistence has lost it)."""
        from rq.job import Job

        return Job.exists(rq_id, connection=self.connection)

    def force_stop(self, job: dict[str, Any]) -> None:
        from rq.command import send_stop_job_command

        if not job.get("rqJobId"):
            return
        try:
            send_stop_job_command(self.connection, job["rqJobId"])
        except Exception as exc:  # not running any more (finished, or its worker died): nothing to kill
            log.info("killing the work of job %s: %s", job["_id"], exc)


class EmbeddedDispatcher:
    """A small pool of daemon threads running jobs for one app's services (default queue before low).

    Threads start on first use. A thread cannot be killed, so ``force_stop`` sets a cancel flag that the
    running job sees at its next record (``ctx.check_cancelled``); its writes are fenced off anyway.
    """

    def __init__(self, jobs: JobService, threads: int, app: Flask | None = None):
        self.jobs = jobs
        self.app = app  # jobs run in its app context, as an RQ worker runs them (``execution.run_job``)
        self.threads = max(1, threads)
        self._queue: queue.PriorityQueue[tuple[int, int, ObjectId | None]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._cancelled: set[ObjectId] = set()
        self._lock = threading.Lock()
        self._started = False
        self._running = threading.Event()
        self._running.set()
        self._busy = 0
        self._idle = threading.Condition(self._lock)

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        for n in range(self.threads):
            threading.Thread(target=self._loop, name=f"jobs-embedded-{n}", daemon=True).start()

    def enqueue(self, job: dict[str, Any]) -> str | None:
        with self._lock:
            self._cancelled.discard(job["_id"])
            self._busy += 1
        self._queue.put((1 if job.get("lowPriority") else 0, next(self._seq), job["_id"]))
        self.start()
        return None

    def force_stop(self, job: dict[str, Any]) -> None:
        with self._lock:
            self._cancelled.add(job["_id"])

    def depth(self) -> int:
        """Jobs queued and not yet picked up by a thread."""
        return self._queue.qsize()

    def pause(self) -> None:
        """Hold queued jobs (they stay PENDING) until ``unpause``; jobs already running go on."""
        self._running.clear()

    def unpause(self) -> None:
        self._running.set()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued job has been executed; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def shutdown(self) -> None:
        for _ in range(self.threads):
            self._queue.put((9, next(self._seq), None))

    def _loop(self) -> None:
        from jobs.execution import execute

        while True:
            _, _, job_id = self._queue.get()
            if job_id is None:
                return
            self._running.wait()
            try:
                with self.app.app_context() if self.app is not None else contextlib.nullcontext():
                    execute(self.jobs, job_id, lambda jid=job_id: jid in self._cancelled)
            except Exception:
                log.exception("embedded job %s crashed", job_id)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()
